"""The rotation's week-to-week changes in the shell, as a person tries them: a swap offered
and taken with its button, a skipped meeting, and the calendar a subscribed app would see."""

from __future__ import annotations

import re

from bot.config import Settings
from bot.runtime import Runtime
from tests.e2e.test_shell import NOW, answers, shell

PUBLIC_URL = "https://mlgov.example.com"


def runtime(url: str) -> Runtime:
    settings = Settings(database_url=url, timezone="Europe/Berlin", public_url=PUBLIC_URL)
    return Runtime.create(settings, clock=lambda: NOW)


def one_session(url: str, *lines: str) -> dict[str, str]:
    """What the shell answered to each of ``lines``, typed in one session."""
    app = runtime(url)
    try:
        return answers(shell(url, *lines, runtime=app)[1])
    finally:
        app.close()


def test_a_week_offered_is_taken_by_button_and_the_calendar_follows(demo_url: str) -> None:
    app = runtime(demo_url)
    try:
        _, out = shell(demo_url, ":as mia", "/rotation calendar churn", runtime=app)
        url = re.search(rf"{PUBLIC_URL}/calendar/churn\.ics\?key=\S+", out)
        assert url is not None, out
        _, out = shell(
            demo_url,
            ":as bob",
            "/rotation swap request --project churn",
            ":as erin",
            ":buttons",
            "1",
            ":as carol",
            ":buttons",
            "1",
            "1",
            f":calendar {url.group(0)}",
            ":calendar https://mlgov.example.com/calendar/churn.ics?key=wrong",
            runtime=app,
        )
    finally:
        app.close()
    said = answers(out)
    offer = said["bob> /rotation swap request --project churn"]
    week = re.search(r"can't present on (\d+ \w+)", offer)
    assert week is not None and "[1] Take it" in offer, offer
    assert "Only someone in the science pool of churn" in said["erin> 1"]
    taken = said["carol> 1"]
    assert f"You present on {week.group(1)} instead of @bob" in taken
    assert f"(edited) ✅ @carol took @bob's {week.group(1)} presentation" in taken
    # The post was edited: its Take it is gone, as in Slack (the service's refusal of a
    # second press is tested in tests/integration/test_rotation_swaps.py).
    assert "[1] Take it is gone: its post in #churn was edited since" in said["carol> 1 #2"]
    feed = said[f"carol> :calendar {url.group(0)}"]
    assert "→ 200 text/calendar" in feed and "12 event(s)" in feed
    assert "churn science review: carol" in feed
    assert (
        "→ 404 No such calendar."
        in said["carol> :calendar https://mlgov.example.com/calendar/churn.ics?key=wrong"]
    )


def test_a_skip_moves_everyone_by_one_meeting_and_tells_them(demo_url: str) -> None:
    """QA: alice is away 14-18 Dec, so carol presents on the 14th; skipping it gave the
    21st to alice (carol told 11 Jan) and told nobody else, nor anyone on a cancel."""
    said = one_session(
        demo_url,
        ":as mia",
        "/rotation show churn 6",
        "/rotation skip 2026-12-14 company holiday --project churn",
        "/rotation show churn 7",
        "/rotation skip cancel 2026-12-14 --project churn",
    )
    planned = said["mia> /rotation show churn 6"]
    assert "Mon 2026-12-14 🔬 science: @carol · skipped: @alice" in planned
    skipped = said["mia> /rotation skip 2026-12-14 company holiday --project churn"]
    assert (
        "[DM → @carol] 🗓️ The churn science review of Mon 14 Dec, which you were to present,"
        " is skipped (company holiday): no meeting that week. You keep your place:"
        " you present next on Mon 2026-12-21."
    ) in skipped
    moved = "is skipped (company holiday), so the meetings after it move by one"
    for who, topic, now, was in (
        ("erin", "engineering", "2026-12-28", "2026-12-21"),
        ("alice", "science", "2027-01-04", "2026-12-28"),
        ("bob", "science", "2027-01-18", "2027-01-11"),
    ):
        assert (
            f"[DM → @{who}] 🗓️ The churn meeting of Mon 14 Dec {moved}: you present the"
            f" {topic} review on Mon {now} instead of Mon {was}."
        ) in skipped, who
    shown = said["mia> /rotation show churn 7"]
    assert [line for line in shown.splitlines() if line.startswith("Mon ")][2:] == [
        "Mon 2026-12-14 ⏭️ science skipped (company holiday): no meeting",
        "Mon 2026-12-21 🔬 science: @carol",
        "Mon 2026-12-28 🛠️ engineering: @erin",
        "Mon 2027-01-04 🔬 science: @alice",
        "Mon 2027-01-11 🛠️ engineering: @erin",
    ]
    held = said["mia> /rotation skip cancel 2026-12-14 --project churn"]
    back = "is held after all, so the meetings after it move back by one"
    assert (
        f"[DM → @carol] 🗓️ The churn meeting of Mon 14 Dec {back}: you present the science"
        " review on Mon 2026-12-14 instead of Mon 2026-12-21."
    ) in held
    assert held.count("[DM → @") == 4, held


def test_a_taken_week_moves_nobody_else_and_can_be_taken_again(demo_url: str) -> None:
    """QA's steps on fraud, whose science weeks are 30 Nov bob, 14 Dec carol (alice away),
    28 Dec alice, 11 Jan bob, 25 Jan carol, 8 Feb alice."""
    app = runtime(demo_url)
    try:
        _, out = shell(
            demo_url,
            ":as bob",
            "/rotation swap request 2026-11-30 --project fraud",
            ":as alice",
            ":buttons",
            "1",
            ":as carol",
            "/rotation swap request 2027-01-25 --project fraud",
            ":as alice",
            ":buttons",
            "1",
            "/rotation swap request 2027-01-25 --project fraud",
            ":as bob",
            ":buttons",
            "1",
            "/rotation show fraud 12",
            runtime=app,
        )
    finally:
        app.close()
    said = answers(out)
    # alice takes bob's 30 Nov and gives him her 28 Dec; carol keeps her 14 Dec.
    assert "In exchange @bob presents your Mon 28 Dec meeting" in said["alice> 1"]
    # carol's 25 Jan: alice takes it (carol gets alice's 8 Feb), then bob takes it from her.
    assert "In exchange @carol presents your Mon 8 Feb meeting" in said["alice> 1 #2"]
    assert (
        "Offered your 25 Jan presentation"
        in said["alice> /rotation swap request 2027-01-25 --project fraud"]
    )
    taken = said["bob> 1"]
    assert "You present on 25 Jan instead of @alice" in taken and "away" not in taken
    science = [
        line for line in said["bob> /rotation show fraud 12"].splitlines() if "🔬 science:" in line
    ]
    assert [line.split(": ", 1)[1].split(" ")[0] for line in science] == [
        "@alice",  # 30 Nov, bob's before
        "@carol",  # 14 Dec: unmoved
        "@bob",  # 28 Dec, alice's before
        "@bob",  # 11 Jan: his own
        "@bob",  # 25 Jan, carol's, then alice's
        "@carol",  # 8 Feb, alice's before
    ]


def test_a_taken_offer_has_no_take_it_for_anyone_after(demo_url: str) -> None:
    """QA's steps: alice takes bob's 30 Nov and offers it again, carol takes it; erin, later
    in the same session, is shown no Take it on the edited post."""
    said = one_session(
        demo_url,
        ":as bob",
        "/rotation swap request 2026-11-30 --project fraud",
        ":as alice",
        ":buttons",
        "1",
        "/rotation swap request 2026-11-30 --project fraud",
        ":as carol",
        ":buttons",
        "1",
        ":as erin",
        ":buttons",
        "1",
    )
    assert "(edited) ✅ @carol took @alice's 30 Nov presentation" in said["carol> 1"]
    assert "No buttons you can press now" in said["erin> :buttons"]
    assert "Take it" not in said["erin> :buttons"]
    assert "[1] Take it is gone: its post in #fraud was edited since" in said["erin> 1"]
