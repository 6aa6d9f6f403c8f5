"""The App Home over signed HTTP, as Slack sends it (SPEC §7), on SQLite and PostgreSQL.

churn in #CCHURN: alice owns EXP-1 (concluded, its results review waits on bob and carol)
and EXP-2 (proposed); mia manages, erin engineers. Home views go out through the outbox as
views.publish with the user's id; buttons pressed on the Home bring no response_url.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.jobs import JOBS
from tests.e2e.harness import ADMIN, TEAM, AppUnderTest, HttpResult
from tests.fakes.slack_api import Call


@pytest.fixture(params=["app", pytest.param("pg_app", marks=pytest.mark.postgres)])
def team(request: pytest.FixtureRequest) -> AppUnderTest:
    app: AppUnderTest = request.getfixturevalue(request.param)
    app.setup_team()
    ok(app, ADMIN, "/mlgov", "member add <@UCAROL> scientist churn")
    proposal = "new churn Tenure features --hypothesis tenure predicts churn --metric auc"
    ok(app, "UALICE", "/exp", proposal)
    ok(app, "UALICE", "/exp", "start EXP-1")
    # Concluding opens the results review itself: bob and carol are churn's other scientists.
    ok(app, "UALICE", "/exp", "conclude EXP-1 success tenure lifts AUC by 0.02")
    ok(app, "UALICE", "/exp", "new churn Calibration --hypothesis isotonic helps --metric brier")
    return app


# --- helpers ---------------------------------------------------------------------------


def ok(app: AppUnderTest, user: str, command: str, text: str) -> str:
    reply = app.command_reply(user, command, text)
    assert not reply["text"].startswith(":warning:"), reply["text"]
    return str(reply["text"])


def open_home(app: AppUnderTest, user: str, tab: str = "home") -> HttpResult:
    event = {"type": "app_home_opened", "user": user, "channel": "D" + user, "tab": tab}
    result = app.event(event, f"Ev{user}{tab}{time.monotonic_ns()}")
    assert result.status == 200
    return result


def published(app: AppUnderTest, user: str, count: int = 1) -> list[dict[str, Any]]:
    """The views published for ``user``, oldest first (waits for ``count`` of them)."""
    calls = app.fake.wait_for(
        "views.publish", count, predicate=lambda c: c.params.get("user_id") == user
    )
    views = [c.params["view"] for c in calls]
    assert all(v["type"] == "home" for v in views)
    return views


def shown(view: dict[str, Any]) -> str:
    """The view's section texts, as the person reads them."""
    return "\n".join(b["text"]["text"] for b in view["blocks"] if b["type"] == "section")


def buttons(view: dict[str, Any]) -> list[tuple[str, str]]:
    """(action_id, value) of every button on the view."""
    return [
        (e["action_id"], e["value"])
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def review_id(app: AppUnderTest) -> str:
    """The id the review request's buttons carry."""
    request: Call = app.fake.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.params["text"].startswith("Review of the results of EXP-1"),
    )[0]
    return str(next(v for a, v in buttons(request.params) if a == "review_approve"))


def press_on_home(app: AppUnderTest, user: str, action_id: str, value: str) -> None:
    """Press a button on the Home tab: a view container, and no response_url."""
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "test"},
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A1",
        "trigger_id": f"trigger-home-{time.monotonic_ns()}",
        "container": {"type": "view", "view_id": "VHOME"},
        "view": {"id": "VHOME", "type": "home", "team_id": TEAM, "blocks": [], "hash": "1"},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "home",
                "value": value,
                "action_ts": str(time.time()),
            }
        ],
    }
    assert app.interaction(payload).status == 200


def later(app: AppUnderTest, monkeypatch: pytest.MonkeyPatch) -> Callable[[float], datetime]:
    """Stop the app's clock a minute ahead of now; ``move(s)`` sets it ``s`` seconds further
    on and returns it (the setup's changes lie safely before it)."""
    start = datetime.now(UTC) + timedelta(minutes=1)
    now = [start]
    monkeypatch.setattr(app.runtime.dispatcher, "clock", lambda: now[0])

    def move(seconds: float) -> datetime:
        now[0] = start + timedelta(seconds=seconds)
        return now[0]

    return move


def run_home_job(app: AppUnderTest, at: datetime) -> list[str]:
    return JOBS["home"].run(app.runtime.job_env(), at)


# --- opening the tab -------------------------------------------------------------------


def test_opening_the_home_tab_publishes_what_waits_on_that_user_only(team: AppUnderTest) -> None:
    review = review_id(team)
    open_home(team, "UCAROL", tab="messages")  # answered 200 (above), nothing published
    open_home(team, "UBOB")
    bob = published(team, "UBOB")[0]
    assert "*My experiments* (0 open)" in shown(bob)
    assert "*Reviews waiting on me* (1)" in shown(bob)
    assert "*EXP-1* Tenure features · results review · churn · owner <@UALICE>" in shown(bob)
    assert buttons(bob) == [
        ("review_approve", review),
        ("review_changes", review),
        ("review_decline", review),
    ]
    assert "*churn* — 📝 proposed 1 · 👀 in_review 1" in shown(bob)
    # The next meeting is the one `/rotation show` plans.
    plan = ok(team, "UBOB", "/rotation", "show churn 1")
    week, topic, presenter = plan.removeprefix("Rotation of churn: ").split()
    day = datetime.strptime(week, "%Y-%m-%d")
    assert f"*churn* · {day:%a %Y-%m-%d} 10:00 (UTC) · " in shown(bob)
    assert f" {topic} · <@{presenter}>" in shown(bob)

    open_home(team, "UALICE")
    alice = published(team, "UALICE")[0]
    assert "*My experiments* (2 open)" in shown(alice)
    assert "*Reviews waiting on me* (0)" in shown(alice)
    # Newest first; EXP-1 waits on its reviewers, so only Abandon is the owner's to press.
    assert buttons(alice) == [
        ("exp_start", "EXP-2"),
        ("exp_abandon", "EXP-2"),
        ("exp_abandon", "EXP-1"),
    ]

    # Someone on no project is told how to get on one.
    open_home(team, "UNEW")
    newcomer = published(team, "UNEW")[0]
    assert "/mlgov member add" in shown(newcomer)
    assert buttons(newcomer) == []

    # Carol's Messages tab was handled long before: she got no Home and no record.
    assert not [c for c in team.fake.calls("views.publish") if c.params["user_id"] == "UCAROL"]
    assert team.count("home_views") == 3


# --- buttons on the Home -----------------------------------------------------------------


def test_a_button_on_the_home_starts_the_experiment_and_republishes_it(
    team: AppUnderTest,
) -> None:
    open_home(team, "UALICE")
    published(team, "UALICE")
    answered = len(team.fake.calls("response_url"))
    press_on_home(team, "UALICE", "exp_start", "EXP-2")
    team.fake.wait_for(
        "chat.postMessage", predicate=lambda c: "started *EXP-2*" in c.params["text"]
    )
    after = published(team, "UALICE", 2)[1]
    assert "*EXP-2* Calibration — 🏃 running" in shown(after)
    assert ("exp_analyze", "EXP-2") in buttons(after)
    assert "🏃 running 1" in shown(after)  # the board moved too
    assert len(team.fake.calls("response_url")) == answered  # there is none to answer

    # Pressed again on a Home not yet redrawn: the refusal comes as a DM.
    press_on_home(team, "UALICE", "exp_start", "EXP-2")
    refusal = team.fake.wait_for(
        "chat.postMessage", predicate=lambda c: c.params["channel"] == "UALICE"
    )[0]
    assert refusal.params["text"].startswith(":warning:")
    assert "running" in refusal.params["text"]
    published(team, "UALICE", 3)


def test_approving_on_the_home_takes_the_review_off_the_list(team: AppUnderTest) -> None:
    review = review_id(team)
    # Request changes… opens its form, as from the thread.
    press_on_home(team, "UCAROL", "review_changes", review)
    form = team.fake.wait_for("views.open")[0].params["view"]
    assert form["type"] == "modal" and "EXP-1" in str(form)

    open_home(team, "UBOB")
    published(team, "UBOB")
    press_on_home(team, "UBOB", "review_approve", review)
    team.fake.wait_for(
        "chat.postMessage", predicate=lambda c: "approved *EXP-1* (1 of 2" in c.params["text"]
    )
    after = published(team, "UBOB", 2)[1]
    assert "*Reviews waiting on me* (0)" in shown(after)
    assert buttons(after) == []


# --- the home job ------------------------------------------------------------------------


def test_the_home_job_republishes_after_a_change_and_not_again_without_one(
    team: AppUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    move = later(team, monkeypatch)
    move(0)
    open_home(team, "UBOB")
    open_home(team, "UERIN")
    published(team, "UBOB")
    published(team, "UERIN")

    assert run_home_job(team, move(30)) == []  # nothing changed since they opened it

    # A link on EXP-1 concerns its owner and reviewers (bob), not erin.
    move(60)
    ok(team, "UALICE", "/exp", "link EXP-1 https://example.com/notebook notebook")
    assert run_home_job(team, move(70)) == ["republished 1 Home tab(s) after changes"]
    published(team, "UBOB", 2)

    # A new experiment moves churn's board: everyone on churn who has the Home sees it.
    move(100)
    ok(team, "UALICE", "/exp", "new churn Survival model --hypothesis timing matters")
    assert run_home_job(team, move(110)) == ["republished 2 Home tab(s) after changes"]
    assert "📝 proposed 2" in shown(published(team, "UBOB", 3)[2])
    assert "📝 proposed 2" in shown(published(team, "UERIN", 2)[1])

    assert run_home_job(team, move(140)) == []
    time.sleep(0.3)
    homes = [c.params["user_id"] for c in team.fake.calls("views.publish")]
    assert homes.count("UBOB") == 3 and homes.count("UERIN") == 2


# --- cost ----------------------------------------------------------------------------------


def test_a_home_costs_the_same_few_queries_however_much_it_shows(app: AppUnderTest) -> None:
    """No query per experiment or review; per project only the next meeting's plan, for at
    most ROTATION_LIMIT projects."""
    from sqlalchemy import event

    from bot.services.home import ROTATION_LIMIT, build_home

    app.setup_team()
    runtime = app.runtime

    def cost(user: str) -> tuple[int, int, int, int]:
        """Statements one Home costs (this thread's only: the outbox worker runs too)."""
        me = threading.get_ident()
        statements: list[str] = []

        def count(*args: Any) -> None:
            if threading.get_ident() == me:
                statements.append(str(args[2]))

        event.listen(runtime.db.engine, "before_cursor_execute", count)
        try:
            with runtime.db.read() as uow:
                home = build_home(uow, runtime.dispatcher.notices, TEAM, user, _now(), "UTC")
        finally:
            event.remove(runtime.db.engine, "before_cursor_execute", count)
        return len(statements), home.experiments_total, home.reviews_total, len(home.boards)

    def grow(start: int, stop: int) -> None:
        for n in range(start, stop):
            ok(app, ADMIN, "/mlgov", f"project add p{n} <#CP{n}|p{n}>")
            ok(app, ADMIN, "/mlgov", f"member add <@UALICE> scientist p{n}")
            ok(app, "UALICE", "/exp", f"new churn Idea {n} --hypothesis h --stream side")
            ok(app, "UALICE", "/review", f"request EXP-{n + 1} design <@UBOB>")

    ok(app, ADMIN, "/mlgov", "rules churn quorum=1")  # bob alone can review alice's ideas
    grow(0, 1)
    alice, bob = cost("UALICE"), cost("UBOB")
    grow(1, ROTATION_LIMIT + 4)
    alice_more, bob_more = cost("UALICE"), cost("UBOB")
    grow(ROTATION_LIMIT + 4, ROTATION_LIMIT + 10)
    alice_most, bob_most = cost("UALICE"), cost("UBOB")

    # The lists did grow: reviews waiting on bob; alice's experiments and projects.
    assert bob[2] < bob_more[2] < bob_most[2]
    assert alice[1] < alice_more[1] < alice_most[1]
    assert ROTATION_LIMIT < alice_more[3] < alice_most[3]
    assert bob[0] == bob_more[0] == bob_most[0] <= 20
    assert alice_more[0] == alice_most[0]  # projects past the rotation limit cost nothing
    per_plan = (alice_more[0] - alice[0]) / (ROTATION_LIMIT - 2)  # she was on churn and p0
    # Six for the plan, two for its Slack statuses (the workspace's rules, the stored ones).
    assert per_plan == int(per_plan) <= 8


def _now() -> datetime:
    return datetime.now(UTC)
