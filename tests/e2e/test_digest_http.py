"""The weekly digest over the real HTTP app (SPEC §6): the job DMs managers once a week,
details and the velocity chart in the DM's thread; /digest preview, subscribe, unsubscribe.

churn in #CCHURN: alice and bob scientists, mia the manager, erin the engineer. The team's
zone is UTC; the job runs "as of" the Monday 08:00 after now, so this week's changes are in
the week the digest covers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.services.digest import run_digest
from tests.e2e.harness import AppUnderTest
from tests.e2e.test_review_http import ok, refused, settle
from tests.fakes.slack_api import Call


def next_monday_8(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    monday = (now + timedelta(days=7 - now.weekday())).date()
    return datetime(monday.year, monday.month, monday.day, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["app", pytest.param("pg_app", marks=pytest.mark.postgres)])
def churn(request: pytest.FixtureRequest) -> AppUnderTest:
    """The team; alice's EXP-1 concluded a success, bob's EXP-2 running, EXP-3 proposed."""
    app: AppUnderTest = request.getfixturevalue(request.param)
    app.setup_team()
    ok(app, "UALICE", "/exp", "new churn Tenure features --hypothesis tenure helps --metric auc")
    ok(app, "UALICE", "/exp", "start EXP-1")
    ok(app, "UALICE", "/exp", "conclude EXP-1 success tenure lifts AUC")
    ok(app, "UBOB", "/exp", "new churn Calibration --hypothesis isotonic helps --metric brier")
    ok(app, "UBOB", "/exp", "start EXP-2")
    ok(app, "UBOB", "/exp", "new churn Survival model")
    settle(app)
    return app


def run_job(app: AppUnderTest, at: datetime) -> list[str]:
    runtime = app.runtime
    done = run_digest(runtime.db, runtime.dispatcher.notices, at, "UTC")
    settle(app)
    return done


def posts_to(app: AppUnderTest, channel: str) -> list[Call]:
    return [c for c in app.fake.calls("chat.postMessage") if c.params["channel"] == channel]


def test_managers_get_the_digest_once_with_details_and_a_chart_in_its_thread(
    churn: AppUnderTest,
) -> None:
    app = churn
    monday = next_monday_8()
    assert run_job(app, monday - timedelta(minutes=1)) == []  # last week's ran long ago
    done = run_job(app, monday)
    assert done and done[0].startswith("churn: digest of the week of")
    # Mia was told before that EXP-1's review needs a reviewer; then the digest, in blocks.
    (summary, *replies) = [c for c in posts_to(app, "UMIA") if "blocks" in c.params]
    blocks = json.dumps(summary.params["blocks"], ensure_ascii=False)
    assert "Weekly digest · churn" in blocks
    assert "proposed 1" in blocks and "running 1" in blocks and "in_review 1" in blocks
    assert "new 3" in blocks and "started 2" in blocks and "concluded ✅ success 1" in blocks
    # conclude asked bob itself (auto_review): in review means a review waiting.
    assert "Reviews waiting:* 1" in blocks and "Stale* (no activity for 14 days): 0" in blocks
    root = summary.response["ts"]
    assert replies and all(r.params.get("thread_ts") == root for r in replies)
    assert any("EXP-1" in json.dumps(r.params["blocks"]) for r in replies)
    upload = app.fake.wait_for("files.completeUploadExternal")[-1]
    assert upload.params.get("thread_ts") == root
    assert upload.params["channel_id"].startswith("D")
    file_id = upload.params["files"][0]["id"]
    assert app.fake.uploaded(file_id)[:8] == b"\x89PNG\r\n\x1a\n"
    # Nobody else, and never twice: not again, not from another look a minute later.
    assert not posts_to(app, "UALICE") and not posts_to(app, "UERIN")
    before = len(app.fake.calls("chat.postMessage"))
    assert run_job(app, monday) == [] and run_job(app, monday + timedelta(minutes=1)) == []
    assert len(app.fake.calls("chat.postMessage")) == before


def test_preview_shows_the_digest_now_to_people_on_the_project(churn: AppUnderTest) -> None:
    app = churn
    shown = app.command_reply("UBOB", "/digest", "preview churn")
    assert shown["response_type"] == "ephemeral"
    blocks = json.dumps(shown["blocks"], ensure_ascii=False)
    assert "Weekly digest · churn" in blocks and "Board:" in blocks
    # The week in progress, so far: what the team did today shows.
    assert "this week so far:* new 3 · started 2 · concluded ✅ success 1" in blocks
    assert "(the last: this week so far)" in blocks
    # --last: the last complete week, as the weekly DM sent it (churn began this week).
    last = json.dumps(app.command_reply("UBOB", "/digest", "preview churn --last")["blocks"])
    assert "nothing moved" in last and "so far" not in last
    assert "--last" in refused(app, "UBOB", "/digest", "preview churn --lats")
    assert "not on project" in refused(app, "UOUTSIDER", "/digest", "preview churn")
    assert "nosuch" in refused(app, "UBOB", "/digest", "preview nosuch")


def test_subscribers_and_the_digest_channel_get_it_too(churn: AppUnderTest) -> None:
    app = churn
    ok(app, "UALICE", "/digest", "subscribe churn")
    assert "already" in refused(app, "UALICE", "/digest", "subscribe churn")
    ok(app, "UERIN", "/digest", "subscribe")
    ok(app, "UERIN", "/digest", "unsubscribe")
    assert "no digest subscription" in refused(app, "UERIN", "/digest", "unsubscribe")
    ok(app, "UMIA", "/mlgov", "rules churn digest_channel=<#CLEADS|leads> digest_time=mon 09:30")
    monday = next_monday_8()
    assert run_job(app, monday) == []  # now due at 09:30
    run_job(app, monday.replace(hour=9, minute=30))
    for reader in ("UMIA", "UALICE", "CLEADS"):
        assert posts_to(app, reader), reader
    assert not posts_to(app, "UERIN")
    # The bot joins the digest channel before it posts there.
    calls = app.fake.calls()
    joined = [
        i
        for i, c in enumerate(calls)
        if c.method == "conversations.join" and c.params.get("channel") == "CLEADS"
    ]
    first_post = next(
        i
        for i, c in enumerate(calls)
        if c.method == "chat.postMessage" and c.params.get("channel") == "CLEADS"
    )
    assert joined and joined[0] < first_post


def test_an_admin_by_settings_alone_cannot_subscribe_to_nothing(churn: AppUnderTest) -> None:
    """MLGOV_ADMINS may read every project, but the job sends to people with a role."""
    from tests.e2e.harness import ADMIN

    # The admin who added churn became its manager; without that role, settings alone.
    ok(churn, "UMIA", "/mlgov", f"member remove <@{ADMIN}> manager churn")
    assert "role on the project" in refused(churn, ADMIN, "/digest", "subscribe churn")


def test_a_digest_missed_for_days_is_made_up_and_a_new_project_waits(
    churn: AppUnderTest,
) -> None:
    app = churn
    # churn was made just now, after the latest Monday 08:00: its first digest is next week.
    assert run_job(app, datetime.now(UTC)) == []
    monday = next_monday_8()
    done = run_job(app, monday + timedelta(days=3, hours=5))  # down from Monday to Thursday
    assert [line.split(":")[0] for line in done] == ["churn"]
    assert run_job(app, monday + timedelta(days=6)) == []


def test_a_bad_digest_command_says_what_is_wrong(churn: AppUnderTest) -> None:
    app = churn
    assert "Unknown subcommand" in refused(app, "UMIA", "/digest", "send")
    assert "Unexpected" in refused(app, "UMIA", "/digest", "preview churn extra")
    assert "digest_time must be like" in refused(
        app, "UMIA", "/mlgov", "rules churn digest_time=monday"
    )
