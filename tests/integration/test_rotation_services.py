"""Rotation use cases on SQLite and PostgreSQL: pools, absences, swaps and configuration.

The team clock stands at Monday 2026-03-02 10:00 Berlin, the start of that week's meeting,
so with the default config the next meetings are Monday 2026-03-09 (engineering, erin),
2026-03-16 (science, alice), 2026-03-23 (engineering) and 2026-03-30 (science, bob).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.domain.errors import NotFound, PermissionDenied, ValidationError
from bot.domain.model import Project, Role
from bot.domain.rotation import Absence, RotationConfig, Slot, Topic
from bot.services import rotation, swaps
from bot.services import team as team_service
from bot.slack.dispatch import Dispatcher, Origin
from storage.models import AbsenceRow, AuditRow, RotationRow, SwapRow
from tests.integration.conftest import TEAM, Team

TZ = "Europe/Berlin"
TODAY = date(2026, 3, 2)
SCIENCE_1, SCIENCE_2 = date(2026, 3, 16), date(2026, 3, 30)


def churn(team: Team) -> Project:
    return team.read(lambda uow: uow.projects.require(TEAM, "churn"))


def upcoming(team: Team, weeks: int = 6) -> list[Slot]:
    """What `/rotation show churn` would list now."""
    project = churn(team)
    return team.read(
        lambda uow: rotation.upcoming(uow, team.ctx("admin"), project, TZ, weeks).slots
    )


def presenters(team: Team, weeks: int = 6) -> list[tuple[date, str, str | None]]:
    return [(s.week, s.topic.value, s.presenter) for s in upcoming(team, weeks)]


def pool(team: Team) -> list[tuple[str, str]]:
    project = churn(team)
    return team.read(
        lambda uow: [(m.user_id, m.role.value) for m in uow.rotations.pool(project.id)]
    )


def count(team: Team, row: Any) -> int:
    return team.read(
        lambda uow: int(uow.session.scalar(select(func.count()).select_from(row)) or 0)
    )


def snapshot(team: Team) -> tuple[Any, ...]:
    """Everything a refused rotation request must leave as it was."""
    project = churn(team)
    config = team.read(lambda uow: uow.rotations.config(project.id, RotationConfig()))
    return (
        count(team, AuditRow),
        count(team, AbsenceRow),
        count(team, SwapRow),
        count(team, RotationRow),
        pool(team),
        config,
        presenters(team),
    )


def last_audit(team: Team) -> tuple[str, str, dict[str, Any]]:
    row = team.read(
        lambda uow: uow.session.execute(
            select(AuditRow.action, AuditRow.actor_id, AuditRow.detail)
            .order_by(AuditRow.id.desc())
            .limit(1)
        ).one()
    )
    return row[0], row[1], dict(row[2])


# --- pools ----------------------------------------------------------------------------


def test_project_scientists_and_engineers_present_from_the_day_they_are_added(
    team: Team,
) -> None:
    assert pool(team) == [("UALICE", "scientist"), ("UBOB", "scientist"), ("UERIN", "engineer")]
    assert presenters(team, 4) == [
        (date(2026, 3, 9), "engineering", "UERIN"),
        (SCIENCE_1, "science", "UALICE"),
        (date(2026, 3, 23), "engineering", "UERIN"),
        (SCIENCE_2, "science", "UBOB"),
    ]


def test_joining_twice_is_refused_clearly_and_records_nothing(team: Team) -> None:
    before = snapshot(team)
    with pytest.raises(ValidationError, match="You are in the churn rotation already"):
        team.run("alice", rotation.join, churn(team), False)
    assert snapshot(team) == before


def test_only_scientists_and_engineers_of_the_project_join_or_leave(team: Team) -> None:
    team.run("admin", team_service.add_project, "fraud", "C-FRAUD")
    team.run("admin", team_service.add_member, "UFRED", Role.SCIENTIST, "fraud")
    with team.db.read() as uow:
        fred = team_service.resolve_actor(uow, TEAM, "UFRED")
    before = snapshot(team)
    for who in ("manager", "boss", "admin", "zoe", fred):
        for leave in (False, True):
            with pytest.raises(PermissionDenied, match="Only scientists and engineers of churn"):
                team.run(who, rotation.join, churn(team), leave)
    assert snapshot(team) == before


def test_leaving_and_rejoining_keeps_the_joining_order(team: Team) -> None:
    audit = count(team, AuditRow)
    assert team.run("alice", rotation.join, churn(team), True) == [Role.SCIENTIST]
    assert pool(team) == [("UBOB", "scientist"), ("UERIN", "engineer")]
    assert last_audit(team) == ("rotation_leave", "UALICE", {"roles": ["scientist"]})
    assert [s.presenter for s in upcoming(team, 4) if s.topic is Topic.SCIENCE] == ["UBOB"] * 2

    with pytest.raises(NotFound, match="You are not in the churn rotation"):
        team.run("alice", rotation.join, churn(team), True)
    assert count(team, AuditRow) == audit + 1

    assert team.run("alice", rotation.join, churn(team), False) == [Role.SCIENTIST]
    assert last_audit(team) == ("rotation_join", "UALICE", {"roles": ["scientist"]})
    assert pool(team) == [("UALICE", "scientist"), ("UBOB", "scientist"), ("UERIN", "engineer")]
    assert presenters(team, 2)[1] == (SCIENCE_1, "science", "UALICE")


def test_member_add_and_remove_commands_move_people_in_and_out_of_the_pool(team: Team) -> None:
    dispatcher = Dispatcher(team.db, team.clock, team.notices, {"UADMIN"}, TZ)
    manager = Origin(TEAM, "UMGR")

    def run(line: str) -> str:
        reply = dispatcher.command(manager, "/mlgov", line)
        assert not reply.failed, reply.text
        return reply.text

    run("member add <@UCAROL|carol> scientist churn")
    run("member add <@UDAN|dan> engineer churn")
    assert pool(team)[-2:] == [("UCAROL", "scientist"), ("UDAN", "engineer")]
    shown = dispatcher.command(Origin(TEAM, "UCAROL"), "/rotation", "show churn 6").text
    assert "2026-04-13 science UCAROL" in shown and "2026-03-23 engineering UDAN" in shown

    run("member add <@UDAN> scientist churn")
    # Removing one role leaves that pool only; removing the person leaves them all.
    run("member remove <@UDAN> engineer churn")
    assert ("UDAN", "engineer") not in pool(team) and ("UDAN", "scientist") in pool(team)
    run("member remove <@UCAROL> churn")
    run("member remove <@UDAN> churn")
    assert [user for user, _ in pool(team)] == ["UALICE", "UBOB", "UERIN"]
    shown = dispatcher.command(manager, "/rotation", "show churn 8").text
    assert "UCAROL" not in shown and "UDAN" not in shown


def test_someone_in_both_pools_still_gets_their_science_turns(team: Team) -> None:
    team.run("manager", team_service.add_member, "UCAROL", Role.ENGINEER, "churn")
    team.run("manager", team_service.add_member, "UCAROL", Role.SCIENTIST, "churn")
    science = [str(s.presenter) for s in upcoming(team, 12) if s.topic is Topic.SCIENCE]
    # Each of the three scientists presents once before anyone presents twice.
    assert sorted(science[:3]) == ["UALICE", "UBOB", "UCAROL"], science


# --- absences -------------------------------------------------------------------------


def test_a_bad_absence_is_refused_and_writes_nothing(team: Team) -> None:
    day = timedelta(days=1)
    before = snapshot(team)
    for start, end, message in (
        (TODAY + 5 * day, TODAY + 4 * day, "The last day is before the first"),
        (TODAY, TODAY + 400 * day, "An absence can be at most a year"),
        (TODAY - 10 * day, TODAY - day, "That absence is over already"),
    ):
        with pytest.raises(ValidationError, match=message):
            team.run("alice", rotation.record_absence, start, end)
    assert snapshot(team) == before


def test_an_absence_skips_the_person_who_keeps_their_place(team: Team) -> None:
    audit = count(team, AuditRow)
    # Started last week, ends on the first science meeting: still worth recording.
    team.run("alice", rotation.record_absence, TODAY - timedelta(days=3), SCIENCE_1)
    assert count(team, AuditRow) == audit + 1
    assert last_audit(team) == (
        "out_of_office",
        "UALICE",
        {"from": "2026-02-27", "to": "2026-03-16"},
    )
    science = [s for s in upcoming(team) if s.topic is Topic.SCIENCE]
    assert (science[0].presenter, science[0].skipped) == ("UBOB", (("UALICE", "out of office"),))
    # Alice was passed over, not moved to the back: she presents next.
    assert [s.presenter for s in science[1:]] == ["UALICE", "UBOB"]


def absences_listed(team: Team, who: str, project: Project | None = None) -> list[tuple[Any, ...]]:
    found = team.run(who, rotation.list_absences, project)
    return [(a.user_id, a.start, a.end) for a in found.absences]


def test_ooo_list_shows_mine_and_a_manager_sees_everyone_on_the_project(team: Team) -> None:
    team.run("alice", rotation.record_absence, SCIENCE_1, SCIENCE_1 + timedelta(days=4))
    team.run("bob", rotation.record_absence, TODAY + timedelta(days=7), TODAY + timedelta(days=7))
    team.run("zoe", rotation.record_absence, TODAY, TODAY)  # on no project
    audit = count(team, AuditRow)
    assert absences_listed(team, "alice") == [("UALICE", SCIENCE_1, date(2026, 3, 20))]
    assert absences_listed(team, "erin") == []
    for who in ("manager", "boss", "admin"):
        assert absences_listed(team, who, churn(team)) == [
            ("UBOB", date(2026, 3, 9), date(2026, 3, 9)),
            ("UALICE", SCIENCE_1, date(2026, 3, 20)),
        ]
    # Listing reads only.
    assert count(team, AuditRow) == audit


def test_only_managers_and_admins_list_a_projects_absences(team: Team) -> None:
    team.run("alice", rotation.record_absence, SCIENCE_1, SCIENCE_1)
    for who in ("alice", "erin", "zoe"):
        with pytest.raises(PermissionDenied, match="`/rotation ooo list` shows yours"):
            team.run(who, rotation.list_absences, churn(team))


def test_ooo_cancel_withdraws_an_absence_and_show_follows(team: Team) -> None:
    team.run("alice", rotation.record_absence, SCIENCE_1, SCIENCE_1)
    assert [s.presenter for s in upcoming(team) if s.week == SCIENCE_1] == ["UBOB"]
    audit = count(team, AuditRow)
    cancelled = team.run("alice", rotation.cancel_absence, SCIENCE_1)
    assert [(a.start, a.end) for a in cancelled] == [(SCIENCE_1, SCIENCE_1)]
    assert count(team, AbsenceRow) == 0 and absences_listed(team, "alice") == []
    assert [s.presenter for s in upcoming(team) if s.week == SCIENCE_1] == ["UALICE"]
    assert count(team, AuditRow) == audit + 1
    assert last_audit(team) == (
        "out_of_office_cancelled",
        "UALICE",
        {"from": "2026-03-16", "to": "2026-03-16"},
    )


def test_cancelling_an_absence_under_way_keeps_the_days_past(team: Team) -> None:
    started = TODAY - timedelta(days=3)
    team.run("alice", rotation.record_absence, started, SCIENCE_1)
    team.clock.advance(days=7)  # Monday 9 March
    team.run("alice", rotation.cancel_absence, started)
    assert team.read(lambda uow: uow.rotations.absences(TEAM, started)) == [
        Absence("UALICE", started, date(2026, 3, 8))
    ]
    assert last_audit(team)[2] == {
        "from": "2026-02-27",
        "to": "2026-03-16",
        "kept_until": "2026-03-08",
    }
    assert [s.presenter for s in upcoming(team) if s.week == SCIENCE_1] == ["UALICE"]


def test_cancelling_an_absence_that_is_not_there_is_refused_and_changes_nothing(
    team: Team,
) -> None:
    team.run("alice", rotation.record_absence, SCIENCE_1, SCIENCE_1)
    team.run("bob", rotation.record_absence, SCIENCE_2, SCIENCE_2)
    team.run("alice", rotation.record_absence, TODAY - timedelta(days=3), TODAY)
    team.clock.advance(days=1)  # the last one is over now
    before = snapshot(team)
    for start, message in (
        (
            SCIENCE_2,
            r"You have no absence from 2026-03-30 that is not over"
            r" \(yours: 2026-03-16 to 2026-03-16\)",
        ),  # bob's, not alice's
        (TODAY - timedelta(days=3), "You have no absence from 2026-02-27 that is not over"),
        (SCIENCE_1 + timedelta(days=1), "You have no absence from 2026-03-17"),
    ):
        with pytest.raises(NotFound, match=message):
            team.run("alice", rotation.cancel_absence, start)
    assert snapshot(team) == before


# --- swaps ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "boss"])
def test_one_of_the_two_or_a_manager_swaps_and_show_follows(team: Team, who: str) -> None:
    audit = count(team, AuditRow)
    done = team.run(who, swaps.swap, churn(team), TZ, "UALICE", "UBOB", SCIENCE_1)
    slot = done.slot
    assert (slot.week, slot.presenter, slot.swapped_from) == (SCIENCE_1, "UBOB", "UALICE")
    # A trade: alice presents bob's next week in exchange (two swaps recorded).
    assert done.traded is not None
    assert (done.traded.week, done.traded.presenter) == (SCIENCE_2, "UALICE")
    assert count(team, SwapRow) == 2 and count(team, AuditRow) == audit + 1
    assert last_audit(team)[:2] == ("rotation_swap", team.actors[who].user_id)
    assert last_audit(team)[2] == {
        "week": "2026-03-16",
        "from": "UALICE",
        "to": "UBOB",
        "traded": "2026-03-30",
    }
    science = [s for s in upcoming(team) if s.topic is Topic.SCIENCE]
    assert (science[0].presenter, science[0].swapped_from) == ("UBOB", "UALICE")
    assert (science[1].presenter, science[1].swapped_from) == ("UALICE", "UBOB")
    assert science[2].presenter == "UALICE"  # her own turn after that, as before


def test_a_swap_without_a_date_takes_the_next_meeting_of_either(team: Team) -> None:
    slot = team.run("bob", swaps.swap, churn(team), TZ, "UBOB", "UALICE", None).slot
    assert (slot.week, slot.presenter) == (SCIENCE_1, "UBOB")


def test_a_swap_on_a_later_meeting_hands_it_over(team: Team) -> None:
    assert presenters(team, 4)[3] == (SCIENCE_2, "science", "UBOB")
    slot = team.run("bob", swaps.swap, churn(team), TZ, "UALICE", "UBOB", SCIENCE_2).slot
    assert (slot.presenter, slot.swapped_from) == ("UALICE", "UBOB")
    assert presenters(team, 4)[3] == (SCIENCE_2, "science", "UALICE")


def _add_carol(team: Team) -> None:
    team.run("manager", team_service.add_member, "UCAROL", Role.SCIENTIST, "churn")


SWAP_REFUSALS: list[tuple[str, str, str, date, type[Exception], str]] = [
    ("erin", "UALICE", "UBOB", SCIENCE_1, PermissionDenied, "Only one of the two, or a"),
    ("zoe", "UALICE", "UBOB", SCIENCE_1, PermissionDenied, "Only one of the two, or a"),
    # Not a meeting: a Tuesday, and a meeting that has started already.
    (
        "alice",
        "UALICE",
        "UBOB",
        date(2026, 3, 17),
        ValidationError,
        "2026-03-17 is not one of the next meetings of churn",
    ),
    ("alice", "UALICE", "UBOB", TODAY, ValidationError, "2026-03-02 is not one of the next"),
    ("alice", "UALICE", "UERIN", SCIENCE_1, ValidationError, "<@UERIN> is not in the science"),
    ("alice", "UALICE", "UZOE", SCIENCE_1, ValidationError, "<@UZOE> is not in the science"),
    (
        "erin",
        "UERIN",
        "UALICE",
        date(2026, 3, 9),
        ValidationError,
        "<@UALICE> is not in the engineering pool of churn",
    ),
    (
        "bob",
        "UBOB",
        "UCAROL",
        SCIENCE_1,
        ValidationError,
        r"Neither presents on 2026-03-16 \(<@UALICE> does\)",
    ),
]


def test_a_bad_swap_is_refused_clearly_and_writes_nothing(team: Team) -> None:
    _add_carol(team)
    before = snapshot(team)
    for who, a, b, week, error, message in SWAP_REFUSALS:
        with pytest.raises(error, match=message):
            team.run(who, swaps.swap, churn(team), TZ, a, b, week)
    assert snapshot(team) == before


def test_a_swap_to_someone_away_that_week_is_refused_and_writes_nothing(team: Team) -> None:
    team.run("bob", rotation.record_absence, SCIENCE_1, SCIENCE_1)
    before = snapshot(team)
    with pytest.raises(
        ValidationError, match=r"<@UBOB> is away on 2026-03-16 \(out of office\); nothing swapped"
    ):
        team.run("alice", swaps.swap, churn(team), TZ, "UALICE", "UBOB", SCIENCE_1)
    assert snapshot(team) == before


def test_a_swap_when_neither_presents_soon_is_refused(team: Team) -> None:
    _add_carol(team)
    team.run("manager", team_service.add_member, "UDAN", Role.SCIENTIST, "churn")
    with team.db.write() as uow:  # both leave the pool: neither presents in the horizon
        project = churn(team)
        uow.rotations.leave(project.id, "UCAROL")
        uow.rotations.leave(project.id, "UDAN")
        uow.commit()
    before = snapshot(team)
    with pytest.raises(ValidationError, match="Neither <@UCAROL> nor <@UDAN> presents"):
        team.run("manager", swaps.swap, churn(team), TZ, "UCAROL", "UDAN", None)
    assert snapshot(team) == before


# --- configuration --------------------------------------------------------------------


def test_only_a_manager_or_admin_configures_the_rotation(team: Team) -> None:
    before = snapshot(team)
    for who in ("alice", "erin", "zoe"):
        with pytest.raises(PermissionDenied, match="Only a manager of churn or an admin"):
            team.run(who, rotation.configure, churn(team), TZ, {"weekday": "tue"})
    assert snapshot(team) == before


def test_every_bad_key_is_reported_at_once_and_nothing_changes(team: Team) -> None:
    before = snapshot(team)
    changes = {
        "weekday": "tue",  # fine on its own, yet not applied with the others
        "time": "25:00",
        "announce": "soon",
        "timezone": "Mars/Olympus",
        "pattern": "science,cooking",
        "colour": "red",
    }
    with pytest.raises(ValidationError) as refused:
        team.run("manager", rotation.configure, churn(team), TZ, changes)
    message = str(refused.value)
    assert message.startswith("Rotation not changed:")
    for part in ("'25:00'", "'soon'", "'Mars/Olympus'", "'science,cooking'", "'colour'"):
        assert part in message, message
    assert "weekday must" not in message
    assert snapshot(team) == before


def test_an_announcement_after_the_meeting_is_refused(team: Team) -> None:
    before = snapshot(team)
    with pytest.raises(ValidationError, match="must not be after the meeting"):
        team.run("manager", rotation.configure, churn(team), TZ, {"announce": "11:00"})
    assert snapshot(team) == before


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_a_configuration_change_is_applied_and_audited_before_and_after(
    team: Team, who: str
) -> None:
    audit = count(team, AuditRow)
    changes = {"weekday": "wed", "time": "14:30", "announce": "08:15", "pattern": "science"}
    new = team.run(who, rotation.configure, churn(team), TZ, changes)
    assert new.describe() == (
        "weekday=wed time=14:30 announce=08:15 timezone=Europe/Berlin pattern=science"
    )
    assert count(team, AuditRow) == audit + 1
    action, actor, detail = last_audit(team)
    assert (action, actor) == ("rotation_config", team.actors[who].user_id)
    assert detail == {
        "before": "weekday=mon time=10:00 announce=09:00 timezone=Europe/Berlin"
        " pattern=science,engineering",
        "after": new.describe(),
    }
    assert [(s.week, s.topic.value) for s in upcoming(team, 2)] == [
        (date(2026, 3, 4), "science"),
        (date(2026, 3, 11), "science"),
    ]
    # Reading the configuration is open to the team and changes nothing.
    assert team.run("alice", rotation.configure, churn(team), TZ, {}) == new
    assert count(team, AuditRow) == audit + 1
