"""Skip dates, swap requests (the Take it button) and calendar keys, on SQLite and
PostgreSQL, through the dispatcher as every surface runs them.

The team clock stands at Monday 2026-03-02 10:00 Berlin, the start of that week's meeting,
so with the default config the next meetings are Monday 2026-03-09 (engineering, erin),
2026-03-16 (science, alice), 2026-03-23 (engineering, erin) and 2026-03-30 (science, bob).
"""

from __future__ import annotations

import hashlib
import threading
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.domain.model import Role
from bot.services import team as team_service
from bot.services.swap_requests import follow_up_offers
from bot.slack.blocks.swaps import TAKE
from bot.slack.dispatch import Dispatcher, Origin
from storage.models import (
    AuditRow,
    CalendarKeyRow,
    SkipRow,
    SwapRequestRow,
    SwapRow,
)
from storage.swap_requests import SwapRequests
from tests.integration.conftest import TEAM, Team
from tests.integration.test_concurrency import WAIT, run_together
from tests.integration.test_rotation_services import TZ, presenters, upcoming

ENGINEERING_1, SCIENCE_1 = date(2026, 3, 9), date(2026, 3, 16)
ENGINEERING_2, SCIENCE_2 = date(2026, 3, 23), date(2026, 3, 30)
PUBLIC_URL = "https://mlgov.example.com"


@pytest.fixture
def dispatcher(team: Team) -> Dispatcher:
    """The dispatcher of a team in Berlin that knows its public URL; carol joins churn as
    a third scientist, so that two people can take alice's week."""
    team.run("admin", team_service.add_member, "UCAROL", Role.SCIENTIST, "churn")
    return Dispatcher(team.db, team.clock, team.notices, {"UADMIN"}, TZ, public_url=PUBLIC_URL)


def rotation(dispatcher: Dispatcher, user: str, line: str) -> str:
    reply = dispatcher.command(Origin(TEAM, user), "/rotation", line)
    assert not reply.failed, reply.text
    return reply.text


def refused(dispatcher: Dispatcher, user: str, line: str) -> str:
    reply = dispatcher.command(Origin(TEAM, user), "/rotation", line)
    assert reply.failed, reply.text
    return reply.text


def count(team: Team, row: Any) -> int:
    return team.read(
        lambda uow: int(uow.session.scalar(select(func.count()).select_from(row)) or 0)
    )


def state(team: Team) -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    tables = (AuditRow, SkipRow, SwapRequestRow, SwapRow, CalendarKeyRow)
    return (*(count(team, t) for t in tables), presenters(team, 6), len(team.notices.calls))


def calls(team: Team, name: str) -> list[Any]:
    return [what for called, what in team.notices.calls if called == name]


# --- skip -----------------------------------------------------------------------------


def test_a_manager_skips_a_meeting_and_the_weeks_after_it_shift(
    team: Team, dispatcher: Dispatcher
) -> None:
    text = rotation(dispatcher, "UMGR", f"skip {SCIENCE_1} team offsite")
    assert text.startswith(f"Skipped the churn meeting of Mon {SCIENCE_1} (team offsite)")
    assert presenters(team, 4) == [
        (ENGINEERING_1, "engineering", "UERIN"),
        (SCIENCE_1, "science", None),
        (ENGINEERING_2, "science", "UALICE"),  # alice keeps her turn, a week later
        (SCIENCE_2, "engineering", "UERIN"),
    ]
    assert calls(team, "meeting_skipped") == [
        ("churn", SCIENCE_1, "team offsite", "UALICE", ENGINEERING_2)
    ]
    shown = rotation(dispatcher, "UBOB", "show churn 3")
    assert f"{SCIENCE_1} skipped" in shown
    detail = team.read(
        lambda uow: uow.session.scalars(
            select(AuditRow.detail).where(AuditRow.action == "rotation_skip")
        ).one()
    )
    assert detail == {
        "week": str(SCIENCE_1),
        "reason": "team offsite",
        "presenter": "UALICE",
        "swaps_moved": [],
    }
    # Everyone else whose next presentation moved is told where it went.
    later = date(2026, 4, 6), date(2026, 4, 13), date(2026, 4, 20)
    assert calls(team, "presentation_moved") == [
        ("churn", SCIENCE_1, "UERIN", ENGINEERING_2, SCIENCE_2),
        ("churn", SCIENCE_1, "UBOB", SCIENCE_2, later[0]),
        ("churn", SCIENCE_1, "UCAROL", later[1], later[2]),
    ]
    team.notices.calls.clear()

    text = rotation(dispatcher, "UMGR", f"skip cancel {SCIENCE_1}")
    assert text.startswith(f"The churn meeting of Mon {SCIENCE_1} is held after all.")
    assert presenters(team, 2)[1] == (SCIENCE_1, "science", "UALICE")
    assert count(team, SkipRow) == 0
    # Held after all: everyone moves back, and is told so.
    assert sorted(calls(team, "presentation_moved")) == [
        ("churn", SCIENCE_1, "UALICE", ENGINEERING_2, SCIENCE_1),
        ("churn", SCIENCE_1, "UBOB", later[0], SCIENCE_2),
        ("churn", SCIENCE_1, "UCAROL", later[2], later[1]),
        ("churn", SCIENCE_1, "UERIN", SCIENCE_2, ENGINEERING_2),
    ]
    assert calls(team, "meeting_skipped") == []


def test_a_swap_moves_with_its_meeting_when_a_skip_shifts_it_or_is_withdrawn(
    team: Team, dispatcher: Dispatcher
) -> None:
    """QA: a swap made while a skip was in place was lost when the skip was cancelled."""
    rotation(dispatcher, "UMGR", f"skip {SCIENCE_1}")
    assert presenters(team, 3)[2] == (ENGINEERING_2, "science", "UALICE")
    rotation(dispatcher, "UMGR", f"swap <@UALICE> <@UCAROL> {ENGINEERING_2}")
    team.notices.calls.clear()

    rotation(dispatcher, "UMGR", f"skip cancel {SCIENCE_1}")
    # The science meeting carol took from alice moves back to 16 Mar, the swap with it.
    assert presenters(team, 3)[1:] == [
        (SCIENCE_1, "science", "UCAROL"),
        (ENGINEERING_2, "engineering", "UERIN"),
    ]
    moved = {user: (was, now) for _, _, user, was, now in calls(team, "presentation_moved")}
    assert moved["UCAROL"] == (ENGINEERING_2, SCIENCE_1)
    assert moved["UERIN"] == (SCIENCE_2, ENGINEERING_2)

    # And forwards: a swap made before a skip follows its meeting a week later.
    rotation(dispatcher, "UMGR", f"skip {SCIENCE_1}")
    assert presenters(team, 3)[2] == (ENGINEERING_2, "science", "UCAROL")
    detail = team.read(
        lambda uow: uow.session.scalars(
            select(AuditRow.detail)
            .where(AuditRow.action == "rotation_skip")
            .order_by(AuditRow.id.desc())
        ).first()
    )
    # Both halves of the trade move a meeting later: carol's 16 Mar, and alice's return.
    assert detail is not None and [str(SCIENCE_1), str(ENGINEERING_2)] in detail["swaps_moved"]
    assert all(
        date.fromisoformat(new) - date.fromisoformat(old) == timedelta(weeks=1)
        for old, new in detail["swaps_moved"]
    ), detail


def test_both_halves_of_a_trade_keep_applying_when_a_skip_lets_someone_back_first(
    team: Team, dispatcher: Dispatcher
) -> None:
    """QA: bob is away on 30 Mar, so carol presents it; alice's trade with carol gives carol
    16 Mar and alice carol's 30 Mar. Skipping 16 Mar brings bob (back by then) to the
    science meeting after carol's: the return half went to bob's meeting, where it did
    nothing, and alice lost a turn. It follows carol's meeting instead, and back on cancel."""
    rotation(dispatcher, "UBOB", f"ooo {SCIENCE_2} {SCIENCE_2}")
    science = [SCIENCE_1 + timedelta(weeks=2 * i) for i in range(4)]  # 16 Mar .. 27 Apr

    def science_meetings() -> list[tuple[date, str | None, str | None]]:
        held = [s for s in upcoming(team, 12) if s.cancelled is None]
        slots = [s for s in held if s.topic.value == "science"]
        return [(s.week, s.presenter, s.swapped_from) for s in slots][:4]

    assert [p for _, p, _ in science_meetings()] == ["UALICE", "UCAROL", "UBOB", "UALICE"]
    text = rotation(dispatcher, "UALICE", f"swap <@UALICE> <@UCAROL> {SCIENCE_1}")
    assert f"In exchange <@UALICE> presents on Mon {SCIENCE_2}" in text
    traded = science_meetings()
    assert traded == [
        (science[0], "UCAROL", "UALICE"),
        (science[1], "UALICE", "UCAROL"),
        (science[2], "UBOB", None),
        (science[3], "UALICE", None),
    ]
    team.notices.calls.clear()

    rotation(dispatcher, "UMGR", f"skip {SCIENCE_1} holiday")
    a_week_on = [w + timedelta(weeks=1) for w in science]
    assert science_meetings() == [
        (a_week_on[0], "UCAROL", "UALICE"),  # carol still presents alice's meeting
        (a_week_on[1], "UBOB", None),  # bob, back, is the one least recently up
        (a_week_on[2], "UALICE", "UCAROL"),  # and alice still presents carol's
        (a_week_on[3], "UALICE", None),
    ]
    moved = {user: (was, now) for _, _, user, was, now in calls(team, "presentation_moved")}
    assert moved["UALICE"] == (SCIENCE_2, a_week_on[2])
    assert "UCAROL" not in moved  # told by the skip's own message: hers is a week later

    rotation(dispatcher, "UMGR", f"skip cancel {SCIENCE_1}")
    assert science_meetings() == traded


def test_bad_skips_are_refused_clearly_and_change_nothing(
    team: Team, dispatcher: Dispatcher
) -> None:
    rotation(dispatcher, "UMGR", f"skip {SCIENCE_2}")
    before = state(team)
    cases = [
        ("UALICE", f"skip {SCIENCE_1}", "Only a manager of churn or an admin skips"),
        ("UMGR", f"skip {SCIENCE_1 + timedelta(days=1)}", "is not a meeting day of churn"),
        ("UMGR", "skip 2026-03-02", "is in the past (or has begun); the next one is Mon"),
        ("UMGR", "skip 2026-02-23", "is in the past"),
        ("UMGR", "skip 2027-06-07", "more than a year ahead"),
        ("UMGR", f"skip {SCIENCE_2}", "is skipped already"),
        ("UMGR", "skip 2026-03-40", "is not a date like"),
        ("UMGR", "skip", "skip needs the meeting's date"),
        (
            "UMGR",
            f"skip cancel {SCIENCE_1}",
            f"of {SCIENCE_1} is not skipped (skipped: {SCIENCE_2})",
        ),
        ("UALICE", f"skip cancel {SCIENCE_2}", "Only a manager of churn"),
        ("UZOE", f"skip {SCIENCE_1} --project churn", "You are not on project churn"),
    ]
    for user, line, message in cases:
        assert message in refused(dispatcher, user, line), line
    assert state(team) == before


def test_an_announced_meeting_cannot_be_skipped(team: Team, dispatcher: Dispatcher) -> None:
    from bot.services.rotation import run_rotation

    team.clock.now = team.clock.now + timedelta(days=7, minutes=-60)  # 2026-03-09 09:00 Berlin
    assert run_rotation(team.db, team.notices, team.clock(), TZ) == [
        f"churn: announced the engineering review of {ENGINEERING_1}"
    ]
    before = state(team)
    assert "was announced already" in refused(dispatcher, "UMGR", f"skip {ENGINEERING_1}")
    assert state(team) == before


def test_stats_list_a_past_skipped_meeting_with_its_reason(
    team: Team, dispatcher: Dispatcher
) -> None:
    """Once a skipped week is past, `/rotation stats` of its period names it, and the
    meetings announced around it are those planned: alice's a week later."""
    from bot.services.rotation import run_rotation

    rotation(dispatcher, "UMGR", f"skip {SCIENCE_1} team offsite")
    announced, start = [], team.clock.now
    for n, week in enumerate((ENGINEERING_1, SCIENCE_1, ENGINEERING_2), 1):
        team.clock.now = start + timedelta(weeks=n, minutes=-60)  # that Monday, 09:00 Berlin
        assert team.clock.now.date() == week
        announced += run_rotation(team.db, team.notices, team.clock(), TZ)
    team.clock.now = start + timedelta(weeks=3, days=1)
    assert announced == [
        f"churn: announced the engineering review of {ENGINEERING_1}",
        f"churn: announced the science review of {ENGINEERING_2}",
    ]
    reply = dispatcher.command(Origin(TEAM, "UBOB"), "/rotation", "stats churn 4")
    assert not reply.failed and reply.text == (
        "Rotation stats of churn: UERIN presented 1; UALICE presented 1"
    )
    shown = str(reply.blocks)
    assert f"`Mon {SCIENCE_1}` skipped (team offsite)" in shown
    assert "2 meeting(s) announced in the period, 1 skipped." in shown


# --- swap requests --------------------------------------------------------------------


def offer_id(team: Team) -> int:
    return team.read(lambda uow: uow.swap_requests.all_open()[0].id)


def take(dispatcher: Dispatcher, user: str, request_id: int) -> Any:
    return dispatcher.action(Origin(TEAM, user), TAKE, str(request_id))


def test_the_presenter_offers_a_week_and_the_first_to_take_it_presents(
    team: Team, dispatcher: Dispatcher
) -> None:
    text = rotation(dispatcher, "UALICE", "swap request")  # her next: the 16th
    assert "Offered your 16 Mar presentation in the churn channel" in text
    assert calls(team, "swap_offered") == [(SCIENCE_1, "UALICE")]
    assert "offered already" in refused(dispatcher, "UALICE", f"swap request {SCIENCE_1}")
    request = offer_id(team)

    reply = take(dispatcher, "UBOB", request)
    assert not reply.failed and reply.text.startswith("You present on 16 Mar instead of <@UALICE>")
    assert presenters(team, 2)[1] == (SCIENCE_1, "science", "UBOB")
    assert calls(team, "swap_taken") == [(SCIENCE_1, "UBOB")]
    stored = team.read(lambda uow: uow.swap_requests.get(request))
    assert stored is not None and (stored.taken_by, stored.closed_reason) == ("UBOB", "taken")
    # A trade: alice presents bob's next week in exchange; carol's weeks do not move.
    swap = team.read(lambda uow: uow.rotations.swaps(1, SCIENCE_1))
    assert [(s.week, s.a, s.b) for s in swap] == [
        (SCIENCE_1, "UALICE", "UBOB"),
        (SCIENCE_2, "UBOB", "UALICE"),
    ]
    assert presenters(team, 4)[3] == (SCIENCE_2, "science", "UALICE")

    before = state(team)
    late = take(dispatcher, "UCAROL", request)
    assert late.failed and "<@UBOB> took this week already." in late.text
    assert state(team) == before
    shown = rotation(dispatcher, "UCAROL", "show churn 2")
    assert f"{SCIENCE_1} science UBOB" in shown


def test_bad_swap_requests_and_presses_are_refused_and_change_nothing(
    team: Team, dispatcher: Dispatcher
) -> None:
    rotation(dispatcher, "UMGR", f"skip {SCIENCE_2}")
    before = state(team)
    cases = [
        ("UBOB", f"swap request {SCIENCE_1}", "<@UALICE> presents on 2026-03-16: only they"),
        ("UBOB", f"swap request {SCIENCE_1 + timedelta(days=2)}", "is not a meeting day"),
        ("UALICE", f"swap request {SCIENCE_2}", f"meeting of {SCIENCE_2} is skipped"),
        ("UZOE", "swap request --project churn", "You are not on project churn"),
        ("UMGR", "swap request", "You present at none of the next 26 churn meetings"),
        ("UALICE", "swap request 2026-03-02", "is in the past"),
        ("UALICE", "swap request 2026-10-05", "is more than 26 weeks ahead"),
        ("UALICE", "swap request tomorrow", "is not a date like"),
    ]
    for user, line, message in cases:
        assert message in refused(dispatcher, user, line), line
    assert state(team) == before

    rotation(dispatcher, "UALICE", f"swap request {SCIENCE_1}")
    request = offer_id(team)
    team.run("bob", _away_on, SCIENCE_1)
    before = state(team)
    for user, message in (
        ("UALICE", "It is your own week"),
        ("UERIN", "Only someone in the science pool of churn who is not away"),
        ("UBOB", "Only someone in the science pool of churn who is not away"),  # away
        ("UZOE", "Only someone in the science pool of churn"),
    ):
        reply = take(dispatcher, user, request)
        assert reply.failed and message in reply.text, (user, reply.text)
    for value in ("999", "x1", ""):
        reply = dispatcher.action(Origin(TEAM, "UCAROL"), TAKE, value)
        assert reply.failed and "That offer no longer exists." in reply.text
    assert state(team) == before


def _away_on(uow: Any, ctx: Any, day: date) -> None:
    from bot.services.rotation import record_absence

    record_absence(uow, ctx, day, day)


def test_a_manager_offers_someone_elses_week(team: Team, dispatcher: Dispatcher) -> None:
    text = rotation(dispatcher, "UMGR", f"swap request {SCIENCE_2}")
    assert "Offered your 30 Mar presentation" in text
    stored = team.read(lambda uow: uow.swap_requests.all_open())
    assert [(r.presenter, r.requested_by) for r in stored] == [("UBOB", "UMGR")]


def test_two_people_pressing_take_at_once_give_one_taker(
    team: Team, dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both presses read the offer open and pass every check; the claims then race.

    On PostgreSQL the barrier is inside both transactions, right before each claims the
    offer: the second UPDATE waits for the first to commit and finds the offer closed.
    SQLite serialises writers from BEGIN IMMEDIATE, so two transactions cannot both be
    open: there the two presses are held at a barrier just before their transactions
    begin, and the second sees the first's commit.
    """
    rotation(dispatcher, "UALICE", f"swap request {SCIENCE_1}")
    request = offer_id(team)
    barrier = threading.Barrier(2, timeout=WAIT)
    postgres = team.db.engine.dialect.name == "postgresql"
    if postgres:
        close = SwapRequests.close

        def close_together(self: SwapRequests, *args: Any, **kwargs: Any) -> bool:
            barrier.wait()
            return close(self, *args, **kwargs)

        monkeypatch.setattr(SwapRequests, "close", close_together)

    def press(user: str) -> Any:
        if not postgres:
            barrier.wait()
        return take(dispatcher, user, request)

    results = run_together(lambda: press("UBOB"), lambda: press("UCAROL"))

    won = [r for r in results if not r.failed]
    lost = [r for r in results if r.failed]
    assert len(won) == 1 and len(lost) == 1, [r.text for r in results]
    taker = "UBOB" if won[0] is results[0] else "UCAROL"
    assert f"<@{taker}> took this week already." in lost[0].text
    assert presenters(team, 2)[1] == (SCIENCE_1, "science", taker)
    assert count(team, SwapRow) == 2  # the week taken, and the taker's traded back
    assert calls(team, "swap_taken") == [(SCIENCE_1, taker)]


# --- the rotation job's follow-up -----------------------------------------------------


def test_nobody_takes_it_in_two_working_days_and_the_managers_are_told_once(
    team: Team, dispatcher: Dispatcher
) -> None:
    rotation(dispatcher, "UALICE", f"swap request {SCIENCE_1}")  # Monday 2 March
    team.clock.advance(days=1)  # Tuesday: one working day
    assert follow_up_offers(team.db, team.notices, team.clock(), TZ) == []
    team.clock.advance(days=1)  # Wednesday: two
    assert follow_up_offers(team.db, team.notices, team.clock(), TZ) == [
        f"churn: told 3 manager(s) nobody took the week of {SCIENCE_1}"
    ]
    # churn's two managers (the admin who added it became one) and the workspace-wide one.
    assert calls(team, "swap_unanswered") == [(SCIENCE_1, ["UADMIN", "UBOSS", "UMGR"])]
    assert follow_up_offers(team.db, team.notices, team.clock(), TZ) == []
    # Still open: someone may take it yet.
    assert not take(dispatcher, "UBOB", offer_id(team)).failed


def test_an_offer_closes_when_its_meeting_is_skipped_or_its_presenter_changes(
    team: Team, dispatcher: Dispatcher
) -> None:
    rotation(dispatcher, "UALICE", f"swap request {SCIENCE_1}")
    rotation(dispatcher, "UBOB", f"swap request {SCIENCE_2}")
    # A manager hands bob's week to carol by hand: the offer ends at once, post edited.
    rotation(dispatcher, "UMGR", f"swap <@UBOB> <@UCAROL> {SCIENCE_2}")
    assert calls(team, "swap_closed") == [(SCIENCE_2, "<@UCAROL> presents now")]
    assert follow_up_offers(team.db, team.notices, team.clock(), TZ) == []
    rotation(dispatcher, "UMGR", f"skip {SCIENCE_1}")  # closes the other at once
    assert calls(team, "swap_closed") == [
        (SCIENCE_2, "<@UCAROL> presents now"),
        (SCIENCE_1, "the meeting was skipped"),
    ]
    assert team.read(lambda uow: uow.swap_requests.all_open()) == []


# --- calendar keys --------------------------------------------------------------------


def test_a_calendar_url_is_sent_by_dm_and_only_its_hash_is_kept(
    team: Team, dispatcher: Dispatcher
) -> None:
    text = rotation(dispatcher, "UALICE", "calendar")
    assert "Sent you the URL of the churn calendar by direct message" in text
    ((user, feed, url),) = calls(team, "calendar_subscription")
    assert (user, feed) == ("UALICE", "churn")
    assert url.startswith(f"{PUBLIC_URL}/calendar/churn.ics?key=")
    key = url.partition("?key=")[2]
    assert len(key) >= 43  # 32 random bytes
    stored = team.read(lambda uow: uow.session.scalars(select(CalendarKeyRow.key_hash)).all())
    assert stored == [hashlib.sha256(key.encode()).hexdigest()]

    rotation(dispatcher, "UALICE", "calendar me")
    assert count(team, CalendarKeyRow) == 2
    assert "Revoked your churn calendar URLs (1)" in rotation(
        dispatcher, "UALICE", "calendar reset churn"
    )
    assert "Revoked all your calendar URLs (1)" in rotation(dispatcher, "UALICE", "calendar reset")
    assert "Nothing to revoke" in rotation(dispatcher, "UALICE", "calendar reset")
    assert count(team, CalendarKeyRow) == 0


def test_calendar_urls_are_refused_without_a_public_url_or_a_project(team: Team) -> None:
    off = Dispatcher(team.db, team.clock, team.notices, {"UADMIN"}, TZ)
    before = state(team)
    assert "Ask your mlgov admin to set MLGOV_PUBLIC_URL" in refused(off, "UALICE", "calendar")
    on = Dispatcher(team.db, team.clock, team.notices, {"UADMIN"}, TZ, public_url=PUBLIC_URL)
    assert "You are not on project churn" in refused(on, "UZOE", "calendar churn")
    assert "You have no role in mlgov yet" in refused(on, "UZOE", "calendar me")
    assert "No project 'nosuch'" in refused(on, "UALICE", "calendar nosuch")
    assert state(team) == before


# --- swaps are trades; a week can change hands again (QA of issue 13) -----------------


def test_a_week_taken_once_can_be_offered_and_taken_again(
    team: Team, dispatcher: Dispatcher
) -> None:
    rotation(dispatcher, "UALICE", f"swap request {SCIENCE_1}")
    assert not take(dispatcher, "UBOB", offer_id(team)).failed
    # bob now presents the 16th (alice presents his 30th in exchange) and offers it on.
    assert "Offered your 16 Mar presentation" in rotation(
        dispatcher, "UBOB", f"swap request {SCIENCE_1}"
    )
    reply = take(dispatcher, "UCAROL", offer_id(team))
    assert not reply.failed, reply.text
    assert "away" not in reply.text
    assert reply.text.startswith("You present on 16 Mar instead of <@UBOB>")
    science = [p for p in presenters(team, 8) if p[1] == "science"]
    assert science[:3] == [
        (SCIENCE_1, "science", "UCAROL"),
        (SCIENCE_2, "science", "UALICE"),
        (date(2026, 4, 13), "science", "UBOB"),  # carol's week, bob's in exchange
    ]
    assert calls(team, "swap_taken") == [(SCIENCE_1, "UBOB"), (SCIENCE_1, "UCAROL")]
    assert team.read(lambda uow: uow.swap_requests.all_open()) == []

    # And a manager swaps the twice-swapped week by hand.
    text = rotation(dispatcher, "UMGR", f"swap <@UCAROL> <@UALICE> {SCIENCE_1}")
    assert text.startswith("Swapped:") and "UALICE" in text
    assert presenters(team, 2)[1] == (SCIENCE_1, "science", "UALICE")


def test_a_direct_swap_of_a_taken_week_names_exactly_who_was_told(
    team: Team, dispatcher: Dispatcher
) -> None:
    """QA: bob took alice's 16 Mar, then a manager swapped bob and carol that week. The reply
    said "Also moved, and told by DM: bob" (the week is still alice's due, so bob looked
    like a third party) and left out carol, who was told too."""
    rotation(dispatcher, "UALICE", f"swap request {SCIENCE_1}")
    assert not take(dispatcher, "UBOB", offer_id(team)).failed
    team.notices.calls.clear()

    text = rotation(dispatcher, "UMGR", f"swap <@UBOB> <@UCAROL> {SCIENCE_1}")
    dms = [user for user, _, _ in calls(team, "presentations_moved")]
    assert sorted(dms) == ["UBOB", "UCAROL"]
    assert "Also moved" not in text
    assert text.endswith(" Nobody else's meetings move. Told by DM: <@UBOB>, <@UCAROL>.")

    # Whoever asks is not DMed, and the reply says so by naming only the other.
    team.notices.calls.clear()
    text = rotation(dispatcher, "UCAROL", f"swap <@UCAROL> <@UBOB> {SCIENCE_1}")
    assert [user for user, _, _ in calls(team, "presentations_moved")] == ["UBOB"]
    assert text.endswith(" Nobody else's meetings move. Told by DM: <@UBOB>.")


def test_a_swap_that_cannot_happen_names_the_real_reason(
    team: Team, dispatcher: Dispatcher
) -> None:
    rotation(dispatcher, "UALICE", f"swap request {SCIENCE_1}")
    assert not take(dispatcher, "UBOB", offer_id(team)).failed
    rotation(dispatcher, "UCAROL", f"ooo {SCIENCE_1} {SCIENCE_1}")
    before = state(team)
    text = refused(dispatcher, "UMGR", f"swap <@UBOB> <@UCAROL> {SCIENCE_1}")
    assert text.endswith(f"<@UCAROL> is away on {SCIENCE_1} (out of office); nothing swapped.")
    text = refused(dispatcher, "UMGR", f"swap <@UALICE> <@UCAROL> {SCIENCE_1}")
    assert text.endswith(f"Neither presents on {SCIENCE_1} (<@UBOB> does).")
    assert state(team) == before


def test_a_swap_moves_nobody_but_the_two_who_trade(team: Team, dispatcher: Dispatcher) -> None:
    """alice's 16th, bob's 30th, carol's 13 April: carol takes alice's week. Before the fix
    bob's week moved to carol's and carol's to alice's; now the two trade and bob stays."""
    before = [p for p in presenters(team, 8) if p[1] == "science"]
    assert [p[2] for p in before] == ["UALICE", "UBOB", "UCAROL", "UALICE"]
    rotation(dispatcher, "UALICE", f"swap request {SCIENCE_1}")
    reply = take(dispatcher, "UCAROL", offer_id(team))
    assert "In exchange <@UALICE> presents your Mon 13 Apr meeting" in reply.text
    after = [p for p in presenters(team, 8) if p[1] == "science"]
    assert [p[2] for p in after] == ["UCAROL", "UBOB", "UALICE", "UALICE"]
    assert calls(team, "presentations_moved") == []  # the two are told by swap_taken

    # A manager's direct swap: both are told by DM, nobody else.
    rotation(dispatcher, "UMGR", f"swap <@UBOB> <@UALICE> {SCIENCE_2}")
    assert [p[2] for p in presenters(team, 8) if p[1] == "science"] == [
        "UCAROL",
        "UALICE",  # bob's 30th, alice's now
        "UBOB",  # alice's 13th (carol's before the first trade), bob's in exchange
        "UALICE",
    ]
    assert calls(team, "presentations_moved") == [
        ("UALICE", (date(2026, 4, 13),), (SCIENCE_2,)),
        ("UBOB", (SCIENCE_2,), (date(2026, 4, 13),)),
    ]


@pytest.mark.parametrize(
    "user, change, now_presenting",
    [
        ("UMGR", f"swap <@UBOB> <@UALICE> {SCIENCE_2}", "UALICE"),  # a manager's direct swap
        ("UBOB", f"ooo {SCIENCE_2} {SCIENCE_2}", "UCAROL"),  # an absence (bob keeps his place)
    ],
)
def test_a_change_of_presenter_ends_the_weeks_offer_at_once(
    team: Team, dispatcher: Dispatcher, user: str, change: str, now_presenting: str
) -> None:
    """The post is edited at once, and the new presenter may offer the week in turn."""
    rotation(dispatcher, "UBOB", f"swap request {SCIENCE_2}")
    rotation(dispatcher, user, change)
    assert calls(team, "swap_closed") == [(SCIENCE_2, f"<@{now_presenting}> presents now")]
    assert team.read(lambda uow: uow.swap_requests.all_open()) == []
    assert "Offered your 30 Mar presentation" in rotation(
        dispatcher, now_presenting, f"swap request {SCIENCE_2}"
    )


def test_an_offer_unanswered_for_two_working_days_counts_working_hours(
    team: Team, dispatcher: Dispatcher
) -> None:
    """Offered Thursday 14:42 (working hours 09:00-17:00, Berlin): two working days of time
    end Monday 14:42 (Friday is one), not at Monday's first run, 09:00."""
    team.clock.advance(days=3, hours=4, minutes=42)  # Thu 2026-03-05 14:42 Berlin
    rotation(dispatcher, "UBOB", f"swap request {SCIENCE_2}")
    team.clock.advance(days=3, hours=18, minutes=18)  # Mon 09:00
    assert follow_up_offers(team.db, team.notices, team.clock(), TZ) == []
    team.clock.advance(hours=5, minutes=41)  # Mon 14:41
    assert follow_up_offers(team.db, team.notices, team.clock(), TZ) == []
    team.clock.advance(minutes=1)  # Mon 14:42
    assert follow_up_offers(team.db, team.notices, team.clock(), TZ) == [
        f"churn: told 3 manager(s) nobody took the week of {SCIENCE_2}"
    ]


def test_an_admin_may_swap_for_others_as_they_may_skip_and_offer(
    team: Team, dispatcher: Dispatcher
) -> None:
    """A workspace admin holds a manager's rights in every project: they swap for others."""
    assert presenters(team, 3)[1] == (SCIENCE_1, "science", "UALICE")
    said = rotation(dispatcher, "UADMIN", f"swap <@UALICE> <@UBOB> {SCIENCE_1} --project churn")
    assert "Swapped" in said
    assert presenters(team, 3)[1] == (SCIENCE_1, "science", "UBOB")
