"""Integration fixtures: a migrated database per backend, a clock, notices and a seeded team."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import Row, func, select

from bot.domain.model import Actor, Experiment, OutgoingMessage, Project, Role
from bot.services import team as team_service
from bot.services.ports import Context
from storage import migrate
from storage.db import SessionFactories, create_db_engine
from storage.models import AuditRow, OutboxRow
from storage.unit_of_work import Database, UnitOfWork

TEAM = "T0001"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
R = TypeVar("R")


def open_database(url: str) -> Database:
    """A Database over ``url`` with the schema at head."""
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    return Database(SessionFactories(engine))


@pytest.fixture
def db(migrated_database_url: str) -> Iterator[Database]:
    """A migrated database, on SQLite and on PostgreSQL."""
    database = open_database(migrated_database_url)
    yield database
    database.close()


@pytest.fixture
def pg_db(migrated_pg_url: str) -> Iterator[Database]:
    """A migrated PostgreSQL database (for behaviour only PostgreSQL has)."""
    database = open_database(migrated_pg_url)
    yield database
    database.close()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    """A migrated SQLite file (for behaviour only SQLite has)."""
    database = open_database(sqlite_url)
    yield database
    database.close()


class Clock:
    """A clock tests move by hand instead of sleeping."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    """Time stands at T0 until the test advances it."""
    return Clock()


class RecordingNotices:
    """A Notices double: records each call and queues one Slack message per change."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def _record(self, name: str, what: Any) -> None:
        with self._lock:
            self.calls.append((name, what))

    def project_added(self, project: Project, actor_id: str) -> list[OutgoingMessage]:
        self._record("project_added", project.slug)
        payload = {"channel": project.channel_id, "text": f"{project.slug} added by {actor_id}"}
        return [OutgoingMessage(project.team_id, project.channel_id, "chat.postMessage", payload)]

    def experiment_created(self, experiment: Experiment, project: Project) -> list[OutgoingMessage]:
        self._record("experiment_created", experiment.key)
        payload = {"channel": project.channel_id, "text": f"{experiment.key} proposed"}
        return [
            OutgoingMessage(
                project.team_id,
                project.channel_id,
                "chat.postMessage",
                payload,
                experiment_id=experiment.id,
                thread_root=True,
            )
        ]

    def experiment_changed(
        self,
        experiment: Experiment,
        project: Project,
        actor_id: str,
        action: str,
        detail: dict[str, Any],
    ) -> list[OutgoingMessage]:
        self._record("experiment_changed", (experiment.key, actor_id, action, dict(detail)))
        payload = {"channel": project.channel_id, "text": f"{experiment.key}: {action}"}
        return [
            OutgoingMessage(
                project.team_id,
                project.channel_id,
                "chat.postMessage",
                payload,
                experiment_id=experiment.id,
            )
        ]

    # Scheduled announcements are not under test here: recorded, nothing queued.
    def rotation_announced(
        self,
        project: Project,
        slot: Any,
        agenda: Any,
        meeting: datetime,
        config: Any,
        **extra: Any,
    ) -> list[OutgoingMessage]:
        self._record("rotation_announced", project.slug)
        return []

    def presenter_reminder(
        self, project: Project, slot: Any, meeting: datetime, config: Any
    ) -> list[OutgoingMessage]:
        self._record("presenter_reminder", project.slug)
        return []

    def rotation_pool_empty(
        self, project: Project, topics: list[Any], slot: Any, managers: list[str]
    ) -> list[OutgoingMessage]:
        self._record("rotation_pool_empty", (project.slug, [str(t) for t in topics], managers))
        return []

    # Skips, swap offers and calendar URLs: recorded, nothing queued (end-to-end tests see
    # the messages themselves).
    def meeting_skipped(
        self, project: Project, slot: Any, reason: str, presenter: str, again: Any
    ) -> list[OutgoingMessage]:
        self._record("meeting_skipped", (project.slug, slot.week, reason, presenter, again))
        return []

    def presentation_moved(
        self, project: Project, change: Any, user: str, was: Any, now: Any
    ) -> list[OutgoingMessage]:
        moved = (project.slug, change.week, user, was, now.week if now else None)
        self._record("presentation_moved", moved)
        return []

    def swap_offered(self, offer: Any) -> list[OutgoingMessage]:
        self._record("swap_offered", (offer.request.week, offer.request.presenter))
        return []

    def swap_taken(self, offer: Any) -> list[OutgoingMessage]:
        self._record("swap_taken", (offer.request.week, offer.request.taken_by))
        return []

    def swap_closed(self, project: Project, request: Any, why: str) -> list[OutgoingMessage]:
        self._record("swap_closed", (request.week, why))
        return []

    def presentations_moved(
        self, project: Project, config: Any, moved: Any
    ) -> list[OutgoingMessage]:
        self._record("presentations_moved", (moved.user, moved.lost, moved.gained))
        return []

    def swap_unanswered(self, offer: Any, managers: list[str]) -> list[OutgoingMessage]:
        self._record("swap_unanswered", (offer.request.week, sorted(managers)))
        return []

    def calendar_subscription(
        self, team_id: str, user_id: str, feed: str, url: str
    ) -> list[OutgoingMessage]:
        self._record("calendar_subscription", (user_id, feed, url))
        return []

    def stale_nudge(self, team_id: str, user_id: str, stale: list[Any]) -> list[OutgoingMessage]:
        self._record("stale_nudge", (user_id, [i.experiment.key for i in stale]))
        return []

    # Evaluations: what was announced is recorded; one thread message queued per event.
    def evaluation_recorded(
        self,
        experiment: Experiment,
        project: Project,
        summary: Any,
        baseline: Any,
        chart: bytes | None,
        dismissed: int,
        progress_ref: str | None,
        *,
        submitted_by: str = "",
        filename: str = "",
        logged: Any = None,
    ) -> list[OutgoingMessage]:
        self._record("evaluation_recorded", (experiment.key, summary, baseline, chart, dismissed))
        return [self._thread(experiment, project, f"{experiment.key} evaluated")]

    # MLflow runs: recorded, one thread message each.
    def mlflow_run_started(
        self, experiment: Experiment, project: Project, run: Any, url: str
    ) -> list[OutgoingMessage]:
        self._record("mlflow_run_started", (experiment.key, run.run_id))
        return [self._thread(experiment, project, f"{experiment.key} run {run.run_id} started")]

    def mlflow_run_ended(
        self, experiment: Experiment, project: Project, run: Any, url: str, problem: str = ""
    ) -> list[OutgoingMessage]:
        self._record("mlflow_run_ended", (experiment.key, run.run_id, problem))
        return [self._thread(experiment, project, f"{experiment.key} run {run.run_id} ended")]

    def evaluation_computing(
        self, experiment: Experiment, project: Project, rows: int, ref: str
    ) -> list[OutgoingMessage]:
        self._record("evaluation_computing", (experiment.key, rows))
        return []

    def evaluation_failed(
        self, experiment: Experiment, project: Project, why: str, ref: str
    ) -> list[OutgoingMessage]:
        self._record("evaluation_failed", (experiment.key, why))
        return []

    def baseline_set(
        self, project: Project, experiment: Experiment, baseline: Any, previous: Any
    ) -> list[OutgoingMessage]:
        self._record("baseline_set", (project.slug, experiment.key, previous))
        return []

    def parity_checked(
        self, experiment: Experiment, project: Project, parity: Any
    ) -> list[OutgoingMessage]:
        self._record("parity_checked", (experiment.key, parity))
        return [self._thread(experiment, project, f"{experiment.key} parity")]

    def _thread(self, experiment: Experiment, project: Project, text: str) -> OutgoingMessage:
        payload = {"channel": project.channel_id, "text": text}
        return OutgoingMessage(
            project.team_id, project.channel_id, "chat.postMessage", payload, experiment.id
        )

    # Peer review (conclude opens a review itself): recorded, nothing queued.
    def review_requested(
        self,
        experiment: Experiment,
        project: Project,
        review: Any,
        reviewers: list[str],
        quorum: int,
        **extra: Any,
    ) -> list[OutgoingMessage]:
        self._record("review_requested", (experiment.key, list(reviewers)))
        return []

    def review_decided(
        self,
        experiment: Experiment,
        project: Project,
        review: Any,
        decision: Any,
        approvals: int,
        quorum: int,
        moved: Experiment | None,
        **extra: Any,
    ) -> list[OutgoingMessage]:
        self._record("review_decided", (experiment.key, decision.reviewer, decision.approve))
        return []

    def review_reminder(
        self, experiment: Experiment, reviewer: str, days: int, **extra: Any
    ) -> list[OutgoingMessage]:
        self._record("review_reminder", (experiment.key, reviewer, days))
        return []

    def review_overdue(
        self, experiment: Experiment, reviewer: str, days: int, managers: list[str]
    ) -> list[OutgoingMessage]:
        self._record("review_overdue", (experiment.key, reviewer, days, sorted(managers)))
        return []

    def reviewer_changed(
        self,
        experiment: Experiment,
        project: Project,
        review: Any,
        leaving: str,
        successor: str | None,
        why: str,
        reason: str,
        **extra: Any,
    ) -> list[OutgoingMessage]:
        self._record("reviewer_changed", (experiment.key, leaving, successor, why))
        return []

    def review_reopened(
        self,
        experiment: Experiment,
        project: Project,
        review: Any,
        reviewers: list[str],
        quorum: int,
        evaluation_id: int,
        dismissed: int,
        moved: Experiment | None,
        **extra: Any,
    ) -> list[OutgoingMessage]:
        self._record("review_reopened", (experiment.key, list(reviewers), dismissed))
        return []

    def review_needs_reviewer(
        self,
        experiment: Experiment,
        project: Project,
        review: Any,
        managers: list[str],
        reason: str,
    ) -> list[OutgoingMessage]:
        self._record("review_needs_reviewer", (experiment.key, sorted(managers), reason))
        return []

    def home_published(self, team_id: str, user_id: str, home: Any) -> list[OutgoingMessage]:
        """The Home is recorded as built; one views.publish queued, as Slack would get it."""
        self._record("home_published", (user_id, home))
        payload = {"user_id": user_id, "view": {"type": "home", "blocks": []}}
        return [OutgoingMessage(team_id, f"home:{user_id}", "views.publish", payload)]


@pytest.fixture
def notices() -> RecordingNotices:
    """Notices that record what they were asked to announce."""
    return RecordingNotices()


@dataclass
class Team:
    """A workspace with project ``churn`` (#C-CHURN) and people in every role.

    ``admin`` is a workspace admin; ``manager`` manages churn only; ``boss`` is a
    workspace-wide manager; ``alice`` and ``bob`` are churn scientists; ``erin`` a
    churn engineer; ``zoe`` is in the workspace but on no project.
    """

    db: Database
    clock: Clock
    notices: RecordingNotices
    actors: dict[str, Actor] = field(default_factory=dict)

    def ctx(self, who: str | Actor) -> Context:
        actor = self.actors[who] if isinstance(who, str) else who
        return Context(actor, self.clock(), self.notices)

    def run(self, who: str | Actor, use_case: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run one use case as ``who`` in its own committed unit of work."""
        with self.db.write() as uow:
            result = use_case(uow, self.ctx(who), *args, **kwargs)
            uow.commit()
        return result

    def read(self, query: Callable[[UnitOfWork], R]) -> R:
        with self.db.read() as uow:
            return query(uow)

    def experiment(self, number: int) -> Experiment:
        return self.read(lambda uow: uow.experiments.require(TEAM, number))

    def audit_count(self) -> int:
        return self.read(
            lambda uow: int(uow.session.scalar(select(func.count()).select_from(AuditRow)) or 0)
        )

    def outbox_rows(self) -> list[Row[Any]]:
        """The outbox as plain rows, oldest first."""
        columns = OutboxRow.__table__.columns
        return self.read(
            lambda uow: list(uow.session.execute(select(*columns).order_by(OutboxRow.id)).all())
        )


def seed_team(db: Database, clock: Clock, notices: RecordingNotices) -> Team:
    """Create the workspace, project churn and its people through the services."""
    team = Team(db, clock, notices)
    admin = Actor(TEAM, "UADMIN", frozenset({Role.ADMIN}))
    team.run(admin, team_service.add_member, "UADMIN", Role.ADMIN, None)
    team.run(admin, team_service.add_project, "churn", "C-CHURN")
    team.run(admin, team_service.add_member, "UBOSS", Role.MANAGER, None)
    team.run(admin, team_service.add_member, "UMGR", Role.MANAGER, "churn")
    team.run(admin, team_service.add_member, "UALICE", Role.SCIENTIST, "churn")
    team.run(admin, team_service.add_member, "UBOB", Role.SCIENTIST, "churn")
    team.run(admin, team_service.add_member, "UERIN", Role.ENGINEER, "churn")
    with db.write() as uow:
        # Someone the workspace knows of who holds no role yet.
        uow.members.add_role(TEAM, "UZOE", Role.SCIENTIST, None, clock())
        uow.members.remove_roles(TEAM, "UZOE", None, None)
        uow.commit()
    names = {"admin": "UADMIN", "boss": "UBOSS", "manager": "UMGR", "alice": "UALICE"}
    names |= {"bob": "UBOB", "erin": "UERIN", "zoe": "UZOE"}
    with db.read() as uow:
        team.actors = {k: team_service.resolve_actor(uow, TEAM, v) for k, v in names.items()}
    notices.calls.clear()
    return team


@pytest.fixture
def team(db: Database, clock: Clock, notices: RecordingNotices) -> Team:
    """A seeded team on each backend."""
    return seed_team(db, clock, notices)
