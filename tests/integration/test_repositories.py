"""Repositories on SQLite and PostgreSQL: numbering, members, projects, experiments, audit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from bot.domain.errors import ConcurrentUpdate, NotFound
from bot.domain.model import (
    Direction,
    Experiment,
    Link,
    Outcome,
    ProjectRules,
    Role,
    Status,
    SuccessCriterion,
    Workstream,
)
from storage.unit_of_work import Database, UnitOfWork
from tests.integration.conftest import T0, TEAM, open_database

OTHER_TEAM = "T0002"


def _draft(number: int, project: str = "churn", **changes: Any) -> Experiment:
    base = Experiment(
        id=0,
        team_id=TEAM,
        number=number,
        project=project,
        title=f"Experiment {number}",
        hypothesis="Recency features lift AUC",
        owner_id="UALICE",
        workstream=Workstream.MAIN,
        criterion=None,
        status=Status.PROPOSED,
        outcome=None,
        learnings="",
        version=1,
        created_at=T0,
        updated_at=T0,
    )
    return replace(base, **changes)


def _setup(db: Database, *projects: str) -> dict[str, int]:
    """Workspace TEAM with the given projects; returns their ids."""
    with db.write() as uow:
        uow.workspaces.ensure(TEAM, T0, "Acme")
        ids = {}
        for slug in projects:
            project = uow.projects.add(TEAM, slug, f"C-{slug.upper()}", T0)
            assert project is not None
            ids[slug] = project.id
        uow.commit()
    return ids


def _add_experiments(db: Database, project_ids: dict[str, int], *drafts: Experiment) -> None:
    with db.write() as uow:
        for draft in drafts:
            number = uow.workspaces.allocate_experiment_number(TEAM)
            uow.experiments.add(replace(draft, number=number), project_ids[draft.project])
        uow.commit()


def _allocate(db: Database, team_id: str) -> int:
    with db.write() as uow:
        number = uow.workspaces.allocate_experiment_number(team_id)
        uow.commit()
    return number


# --- experiment numbers ------------------------------------------------------------------


def test_experiment_numbers_are_sequential_per_workspace(db: Database) -> None:
    with db.write() as uow:
        uow.workspaces.ensure(TEAM, T0)
        uow.workspaces.ensure(OTHER_TEAM, T0)
        uow.workspaces.ensure(TEAM, T0)  # seeing a workspace again does not reset it
        uow.commit()
    assert [_allocate(db, TEAM) for _ in range(3)] == [1, 2, 3]
    assert [_allocate(db, OTHER_TEAM) for _ in range(2)] == [1, 2]
    with db.write() as uow:
        uow.workspaces.ensure(TEAM, T0)
        uow.commit()
    assert _allocate(db, TEAM) == 4


def test_a_rolled_back_creation_leaves_no_gap_in_numbers(db: Database) -> None:
    _setup(db)
    assert _allocate(db, TEAM) == 1
    with db.write() as uow:
        assert uow.workspaces.allocate_experiment_number(TEAM) == 2
        # left without commit: rolled back
    assert _allocate(db, TEAM) == 2


# --- members and roles -------------------------------------------------------------------


def test_roles_workspace_wide_and_per_project(db: Database) -> None:
    ids = _setup(db, "churn", "fraud")
    with db.write() as uow:
        assert uow.members.add_role(TEAM, "UALICE", Role.SCIENTIST, None, T0, name="Alice")
        assert uow.members.add_role(TEAM, "UALICE", Role.MANAGER, ids["churn"], T0)
        assert uow.members.add_role(TEAM, "UALICE", Role.MANAGER, ids["fraud"], T0)
        assert uow.members.add_role(TEAM, "UBOB", Role.ENGINEER, ids["fraud"], T0, name="Bob")
        uow.commit()
    with db.read() as uow:
        alice = uow.members.get(TEAM, "UALICE")
        assert alice is not None
        assert alice.name == "Alice"
        assert alice.roles == {Role.SCIENTIST}
        assert alice.project_roles == {"churn": {Role.MANAGER}, "fraud": {Role.MANAGER}}
        actor = alice.as_actor()
        assert actor.has(Role.MANAGER, "churn") and not actor.has(Role.MANAGER)
        assert [m.user_id for m in uow.members.all_in(TEAM)] == ["UALICE", "UBOB"]
        found = uow.members.find_by_name(TEAM, "bob")
        assert found is not None and found.user_id == "UBOB"
        assert uow.members.get(TEAM, "UNOBODY") is None
        assert uow.members.get(OTHER_TEAM, "UALICE") is None


def test_granting_a_role_held_already_is_ignored(db: Database) -> None:
    ids = _setup(db, "churn")
    with db.write() as uow:
        assert uow.members.add_role(TEAM, "UALICE", Role.SCIENTIST, None, T0, name="Alice")
        assert uow.members.add_role(TEAM, "UALICE", Role.MANAGER, ids["churn"], T0)
        uow.commit()
    with db.write() as uow:
        assert not uow.members.add_role(TEAM, "UALICE", Role.SCIENTIST, None, T0, name="Al")
        assert not uow.members.add_role(TEAM, "UALICE", Role.MANAGER, ids["churn"], T0)
        uow.commit()
    with db.read() as uow:
        alice = uow.members.get(TEAM, "UALICE")
    assert alice is not None
    assert (alice.name, alice.roles, alice.project_roles) == (
        "Al",
        frozenset({Role.SCIENTIST}),
        {"churn": frozenset({Role.MANAGER})},
    )


def test_removing_roles_one_per_project_or_all(db: Database) -> None:
    ids = _setup(db, "churn", "fraud")
    with db.write() as uow:
        uow.members.add_role(TEAM, "UALICE", Role.SCIENTIST, None, T0)
        uow.members.add_role(TEAM, "UALICE", Role.MANAGER, ids["churn"], T0)
        uow.members.add_role(TEAM, "UALICE", Role.MANAGER, ids["fraud"], T0)
        uow.members.add_role(TEAM, "UALICE", Role.ENGINEER, ids["fraud"], T0)
        uow.commit()
    with db.write() as uow:
        assert uow.members.remove_roles(TEAM, "UALICE", Role.MANAGER, ids["churn"]) == 1
        assert uow.members.remove_roles(TEAM, "UALICE", Role.MANAGER, ids["churn"]) == 0
        assert uow.members.remove_roles(TEAM, "UNOBODY", None, None) == 0
        uow.commit()
    with db.read() as uow:
        alice = uow.members.get(TEAM, "UALICE")
        assert alice is not None
        assert alice.roles == {Role.SCIENTIST}
        assert alice.project_roles == {"fraud": {Role.MANAGER, Role.ENGINEER}}
    with db.write() as uow:
        assert uow.members.remove_roles(TEAM, "UALICE", None, None) == 3
        uow.commit()
    with db.read() as uow:
        alice = uow.members.get(TEAM, "UALICE")
        assert alice is not None
        assert alice.roles == frozenset() and alice.project_roles == {}


# --- projects ----------------------------------------------------------------------------


def test_project_slugs_are_unique_per_workspace(db: Database) -> None:
    _setup(db, "churn")
    with db.write() as uow:
        assert uow.projects.add(TEAM, "churn", "C-OTHER", T0) is None
        uow.commit()
    with db.read() as uow:
        churn = uow.projects.require(TEAM, "churn")
        assert churn.channel_id == "C-CHURN"  # the duplicate did not overwrite it
        assert [p.slug for p in uow.projects.all_in(TEAM)] == ["churn"]


def test_the_same_slug_may_exist_in_another_workspace(db: Database) -> None:
    _setup(db, "churn")
    with db.write() as uow:
        uow.workspaces.ensure(OTHER_TEAM, T0)
        other = uow.projects.add(OTHER_TEAM, "churn", "C-ELSEWHERE", T0)
        uow.commit()
    assert other is not None and other.team_id == OTHER_TEAM
    with db.read() as uow:
        assert uow.projects.require(TEAM, "churn").channel_id == "C-CHURN"
        assert uow.projects.require(TEAM, "churn").rules == ProjectRules()
        assert uow.projects.require(OTHER_TEAM, "churn").channel_id == "C-ELSEWHERE"


def test_projects_are_found_by_slug_and_channel_and_keep_their_rules(db: Database) -> None:
    ids = _setup(db, "zeta", "alpha")
    with db.write() as uow:
        uow.projects.set_rules(ids["zeta"], ProjectRules(wip_main=2, design_review="required"))
        uow.commit()
    with db.read() as uow:
        assert [p.slug for p in uow.projects.all_in(TEAM)] == ["alpha", "zeta"]
        zeta = uow.projects.by_channel(TEAM, "C-ZETA")
        assert zeta is not None and zeta.slug == "zeta"
        assert zeta.rules == ProjectRules(wip_main=2, design_review="required")
        assert uow.projects.by_channel(TEAM, "C-NOWHERE") is None
        assert uow.projects.get(OTHER_TEAM, "zeta") is None
        with pytest.raises(NotFound, match="No project 'fraud'.*alpha, zeta"):
            uow.projects.require(TEAM, "fraud")


# --- experiments -------------------------------------------------------------------------


def test_experiments_round_trip_with_criterion_and_links(db: Database) -> None:
    ids = _setup(db, "churn")
    criterion = SuccessCriterion("log_loss", Direction.LOWER, 0.02)
    _add_experiments(db, ids, _draft(0, criterion=criterion, workstream=Workstream.SIDE))
    with db.write() as uow:
        stored = uow.experiments.require(TEAM, 1)
        uow.experiments.add_link(stored, Link("https://nb/1", "notebook", "UBOB", T0))
        uow.experiments.add_link(stored, Link("https://runs/9", "", "UALICE", T0))
        uow.commit()
    with db.read() as uow:
        got = uow.experiments.require(TEAM, 1)
        assert got.key == "EXP-1" and got.project == "churn"
        assert got.criterion == criterion
        assert got.workstream is Workstream.SIDE
        assert got.status is Status.PROPOSED and got.version == 1
        assert [(x.url, x.label, x.added_by) for x in got.links] == [
            ("https://nb/1", "notebook", "UBOB"),
            ("https://runs/9", "", "UALICE"),
        ]
        assert uow.experiments.get(TEAM, 2) is None
        assert uow.experiments.get(OTHER_TEAM, 1) is None
        with pytest.raises(NotFound, match="No experiment EXP-7"):
            uow.experiments.require(TEAM, 7)


def test_find_filters_by_project_owner_status_and_stream(db: Database) -> None:
    ids = _setup(db, "churn", "fraud")
    _add_experiments(
        db,
        ids,
        _draft(0),
        _draft(0, owner_id="UBOB"),
        _draft(0, project="fraud", workstream=Workstream.SIDE),
        _draft(0, status=Status.RUNNING),
        _draft(0, project="fraud", owner_id="UBOB", status=Status.RUNNING),
    )

    def numbers(uow: UnitOfWork, **filters: Any) -> list[int]:
        return [e.number for e in uow.experiments.find(TEAM, **filters)]

    with db.read() as uow:
        assert numbers(uow) == [5, 4, 3, 2, 1]
        assert numbers(uow, project="churn") == [4, 2, 1]
        assert numbers(uow, owner_id="UBOB") == [5, 2]
        assert numbers(uow, statuses=[Status.RUNNING]) == [5, 4]
        assert numbers(uow, statuses=[]) == []
        assert numbers(uow, workstream=Workstream.SIDE) == [3]
        assert numbers(uow, project="fraud", owner_id="UBOB", statuses=[Status.RUNNING]) == [5]
        assert numbers(uow, project="nope") == []
        assert numbers(uow, limit=2) == [5, 4]
        assert uow.experiments.find(OTHER_TEAM) == []


def test_save_with_a_stale_version_is_refused_and_changes_nothing(db: Database) -> None:
    ids = _setup(db, "churn")
    _add_experiments(db, ids, _draft(0))
    with db.read() as uow:
        stale = uow.experiments.require(TEAM, 1)
    later = T0 + timedelta(hours=1)
    with db.write() as uow:
        saved = uow.experiments.save(replace(stale, status=Status.RUNNING, updated_at=later))
        uow.commit()
    assert (saved.status, saved.version, saved.updated_at) == (Status.RUNNING, 2, later)
    abandoned = replace(
        stale,
        status=Status.ABANDONED,
        outcome=Outcome.FAILURE,
        updated_at=later + timedelta(minutes=1),
    )
    with pytest.raises(ConcurrentUpdate, match="EXP-1 was changed by someone else meanwhile"):
        with db.write() as uow:
            uow.experiments.save(abandoned)
            uow.commit()
    with db.read() as uow:
        now = uow.experiments.require(TEAM, 1)
    assert (now.status, now.outcome, now.version, now.updated_at) == (
        Status.RUNNING,
        None,
        2,
        later,
    )


def test_saving_a_fresh_read_bumps_the_version_each_time(db: Database) -> None:
    ids = _setup(db, "churn")
    _add_experiments(db, ids, _draft(0))
    for expected in (2, 3, 4):
        with db.write() as uow:
            current = uow.experiments.require(TEAM, 1)
            assert uow.experiments.save(current).version == expected
            uow.commit()


# --- audit -------------------------------------------------------------------------------


def test_audit_entries_come_back_in_order_with_their_detail(db: Database) -> None:
    ids = _setup(db, "churn")
    _add_experiments(db, ids, _draft(0), _draft(0))
    steps: list[tuple[str, str | None, str, dict[str, Any]]] = [
        ("created", None, "proposed", {"title": "Experiment 1"}),
        ("start", "proposed", "running", {"forced_past_wip_limit": True}),
        ("conclude", "running", "in_review", {"outcome": "success", "nested": {"auc": 0.81}}),
    ]
    with db.write() as uow:
        first = uow.experiments.require(TEAM, 1)
        second = uow.experiments.require(TEAM, 2)
        uow.audit.record(TEAM, "UBOB", "created", T0, experiment=second, to_status="proposed")
        # The same instant for every entry: order must come from insertion, not time.
        for action, before, after, detail in steps:
            uow.audit.record(
                TEAM,
                "UALICE",
                action,
                T0,
                experiment=first,
                project_id=ids["churn"],
                from_status=before,
                to_status=after,
                detail=detail,
            )
        uow.commit()
    with db.read() as uow:
        entries = uow.audit.for_experiment(uow.experiments.require(TEAM, 1))
        other = uow.audit.for_experiment(uow.experiments.require(TEAM, 2))
    assert [(e.action, e.from_status, e.to_status, e.detail) for e in entries] == steps
    assert {(e.actor_id, e.experiment_key, e.at) for e in entries} == {("UALICE", "EXP-1", T0)}
    assert [(e.actor_id, e.action, e.detail) for e in other] == [("UBOB", "created", {})]


# --- processed events --------------------------------------------------------------------


def test_an_event_is_claimed_once(db: Database) -> None:
    with db.write() as uow:
        assert uow.events.claim(TEAM, "Ev1", T0)
        assert not uow.events.claim(TEAM, "Ev1", T0)
        uow.commit()
    with db.write() as uow:
        assert not uow.events.claim(TEAM, "Ev1", T0 + timedelta(minutes=5))
        assert uow.events.claim(OTHER_TEAM, "Ev1", T0)
        assert uow.events.claim(TEAM, "Ev2", T0)
        uow.commit()


def test_a_claim_rolled_back_with_its_effect_lets_the_retry_claim_again(db: Database) -> None:
    with pytest.raises(RuntimeError, match="handler failed"), db.write() as uow:
        assert uow.events.claim(TEAM, "Ev1", T0)
        raise RuntimeError("handler failed")
    with db.write() as uow:
        assert uow.events.claim(TEAM, "Ev1", T0)
        uow.commit()
    with db.write() as uow:
        assert not uow.events.claim(TEAM, "Ev1", T0)


def test_old_claims_are_forgotten(db: Database) -> None:
    with db.write() as uow:
        uow.events.claim(TEAM, "old", T0)
        uow.events.claim(TEAM, "new", T0 + timedelta(days=3))
        uow.commit()
    with db.write() as uow:
        assert uow.events.forget_before(T0 + timedelta(days=1)) == 1
        uow.commit()
    with db.write() as uow:
        assert uow.events.claim(TEAM, "old", T0)
        assert not uow.events.claim(TEAM, "new", T0)


# --- timestamps --------------------------------------------------------------------------


def test_timestamps_come_back_as_the_same_instant_in_utc(db: Database) -> None:
    berlin_summer = timezone(timedelta(hours=2))
    written = T0.astimezone(berlin_summer) + timedelta(microseconds=123456)
    with db.write() as uow:
        uow.workspaces.ensure(TEAM, written)
        project = uow.projects.add(TEAM, "churn", "C1", written)
        assert project is not None
        uow.experiments.add(_draft(1, created_at=written, updated_at=written), project.id)
        uow.commit()
    with db.read() as uow:
        project = uow.projects.require(TEAM, "churn")
        experiment = uow.experiments.require(TEAM, 1)
    for value in (project.created_at, experiment.created_at, experiment.updated_at):
        assert value.utcoffset() == timedelta(0)
        assert value.tzinfo == UTC
        assert value == written
        assert value.microsecond == 123456


def test_naive_timestamps_are_refused(db: Database) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), db.write() as uow:
        uow.workspaces.ensure(TEAM, T0.replace(tzinfo=None))
    with db.read() as uow:
        assert uow.projects.all_in(TEAM) == []


@pytest.mark.postgres
def test_timestamps_are_utc_whatever_the_server_session_time_zone(migrated_pg_url: str) -> None:
    separator = "&" if "?" in migrated_pg_url else "?"
    db = open_database(f"{migrated_pg_url}{separator}options=-ctimezone%3DAsia%2FTokyo")
    try:
        with db.write() as uow:
            assert uow.session.execute(sa.text("SHOW TIME ZONE")).scalar() == "Asia/Tokyo"
            uow.workspaces.ensure(TEAM, T0)
            assert uow.projects.add(TEAM, "churn", "C1", T0) is not None
            uow.commit()
        with db.read() as uow:
            created = uow.projects.require(TEAM, "churn").created_at
        assert (created, created.tzinfo) == (T0, UTC)
    finally:
        db.engine.dispose()


def test_a_status_reading_arriving_late_does_not_replace_a_newer_one(db: Database) -> None:
    """Readings are stored from several threads and processes: the newest one stays."""
    from bot.domain.availability import SlackStatus

    def save(status: SlackStatus, read_at: Any) -> None:
        with db.write() as uow:
            uow.slack_statuses.save(TEAM, {"UBOB": status}, read_at)
            uow.commit()

    def stored() -> SlackStatus:
        with db.read() as uow:
            return uow.slack_statuses.of(TEAM, ["UBOB"])["UBOB"]

    save(SlackStatus(emoji=":palm_tree:", text="away"), T0 + timedelta(minutes=5))
    save(SlackStatus(), T0)  # an older reading (a cleared status) comes in late
    assert stored().emoji == ":palm_tree:"
    save(SlackStatus(), T0 + timedelta(minutes=6))  # a newer one replaces it
    assert stored().emoji == ""
