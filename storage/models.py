"""Database rows (SQLAlchemy 2.x typed ORM). Rows are not domain objects: repositories convert."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    column,
    exists,
    false,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column

from bot.domain.editing import CRITERION_CHANGED
from bot.domain.model import Direction, Outcome, Role, Status, Workstream

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, values: Any) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class WorkspaceRow(Base):
    __tablename__ = "workspaces"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # Experiments are numbered per workspace; incremented under the row lock.
    next_experiment_number: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Set while Slack refuses us this workspace (uninstalled, token revoked): its jobs
    # skip it and its outbox waits; every other row of it is kept.
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    paused_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Workspace-wide rules (bot.domain.workspace_rules); None: the defaults.
    rules: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)


class MemberRow(Base):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"), index=True)
    user_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RoleRow(Base):
    """A role of a member, workspace-wide (project_id NULL) or on one project."""

    __tablename__ = "member_roles"
    __table_args__ = (
        CheckConstraint(_in("role", Role), name="role_known"),
        Index(
            "uq_member_roles_project",
            "member_id",
            "role",
            "project_id",
            unique=True,
            sqlite_where=text("project_id IS NOT NULL"),
            postgresql_where=text("project_id IS NOT NULL"),
        ),
        Index(
            "uq_member_roles_workspace",
            "member_id",
            "role",
            unique=True,
            sqlite_where=text("project_id IS NULL"),
            postgresql_where=text("project_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ProjectRow(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("team_id", "slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"), index=True)
    slug: Mapped[str] = mapped_column(String(40))
    channel_id: Mapped[str] = mapped_column(String(32))
    rules: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


# The audit table by name, for the derived column below (AuditRow is declared later).
_AUDIT = table("audit_log", column("experiment_id"), column("action"))


class ExperimentRow(Base):
    __tablename__ = "experiments"
    __table_args__ = (
        UniqueConstraint("team_id", "number"),
        CheckConstraint(_in("status", Status), name="status_known"),
        CheckConstraint(f"outcome IS NULL OR {_in('outcome', Outcome)}", name="outcome_known"),
        CheckConstraint(_in("workstream", Workstream), name="workstream_known"),
        CheckConstraint(
            f"direction IS NULL OR {_in('direction', Direction)}", name="direction_known"
        ),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_experiments_team_status", "team_id", "status"),
        Index("ix_experiments_owner", "team_id", "owner_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"))
    number: Mapped[int] = mapped_column(Integer)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    hypothesis: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[str] = mapped_column(String(32))
    workstream: Mapped[str] = mapped_column(String(8))
    metric: Mapped[str | None] = mapped_column(String(32), nullable=True)
    direction: Mapped[str | None] = mapped_column(String(8), nullable=True)
    min_delta: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    learnings: Mapped[str] = mapped_column(Text, default="")
    thread_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # How many times the experiment was concluded: approvals name the one they saw.
    conclusions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Read from the audit trail, which is kept forever: no column can drift from it.
    criterion_changed_after_start: Mapped[bool] = column_property(
        exists().where(_AUDIT.c.experiment_id == id, _AUDIT.c.action == CRITERION_CHANGED)
    )


class LinkRow(Base):
    __tablename__ = "links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    label: Mapped[str] = mapped_column(String(200), default="")
    added_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditRow(Base):
    """Every change, forever. Never updated, never deleted."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_team_time", "team_id", "created_at"),
        Index("ix_audit_log_experiment", "experiment_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), nullable=True)
    experiment_id: Mapped[int | None] = mapped_column(ForeignKey("experiments.id"), nullable=True)
    actor_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ProcessedEventRow(Base):
    """Slack event ids already acted on (one effect per event_id, across replicas)."""

    __tablename__ = "processed_events"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class OutboxRow(Base):
    """A Slack Web API call caused by a change, committed with it, delivered afterwards."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "channel",
            "id",
            sqlite_where=text("sent_at IS NULL AND dead = 0"),
            postgresql_where=text("sent_at IS NULL AND NOT dead"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # The experiment whose thread this message belongs to; the root records thread_ts.
    experiment_id: Mapped[int | None] = mapped_column(ForeignKey("experiments.id"), nullable=True)
    thread_root: Mapped[bool] = mapped_column(Boolean, default=False)
    # A name for a message that is later updated (chat.update with the same ref).
    ref: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    result_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    dead: Mapped[bool] = mapped_column(Boolean, default=False)


class OutboxHoldRow(Base):
    """Slack rate-limited ``method`` in ``team_id``: none of its calls go out before ``until``."""

    __tablename__ = "outbox_holds"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    method: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[datetime] = mapped_column(UtcDateTime)


class BlockedChannelRow(Base):
    """A channel Slack will not let us post in; its managers were told once, at ``since``."""

    __tablename__ = "blocked_channels"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(64))
    since: Mapped[datetime] = mapped_column(UtcDateTime)


INBOX_STATUSES = ("pending", "done", "parked")


class InboxRow(Base):
    """A Slack request stored before its ack; a worker runs it and marks it done with its
    effect, so an acknowledged request survives a crash (storage/inbox.py)."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("team_id", "key"),
        CheckConstraint(_in("status", INBOX_STATUSES), name="status_known"),
        # The pending rows, forms first (InboxStore.claim's order): serves a claim of any
        # row and one of urgent rows only alike.
        Index(
            "ix_inbox_pending",
            column("urgent").desc(),
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    # event_id for events; a hash of team, user, trigger and body for the rest.
    key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Answered by opening a form: its trigger_id is good for 3 s, so it runs first.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class JobRunRow(Base):
    """The run ledger: a (job, scope, period) is claimed once, with the work it does."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "scope", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(80))
    period: Mapped[str] = mapped_column(String(40))
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class RotationRow(Base):
    """A project's weekly review: when it meets and the topic pattern."""

    __tablename__ = "rotations"
    __table_args__ = (CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),)

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    weekday: Mapped[int] = mapped_column(Integer)
    meeting: Mapped[str] = mapped_column(String(5))  # HH:MM team time
    announce: Mapped[str] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64))
    pattern: Mapped[list[str]] = mapped_column(JsonType)
    anchor: Mapped[date] = mapped_column(Date)


class RotationMemberRow(Base):
    """A member in a project's presenter pool for one role; joining order is the id."""

    __tablename__ = "rotation_members"
    __table_args__ = (
        UniqueConstraint("project_id", "user_id", "role"),
        CheckConstraint(_in("role", (Role.SCIENTIST, Role.ENGINEER)), name="role_presenting"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))
    joined_on: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AbsenceRow(Base):
    __tablename__ = "absences"
    __table_args__ = (
        CheckConstraint("start_day <= end_day", name="ordered"),
        Index("ix_absences_user", "team_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"))
    user_id: Mapped[str] = mapped_column(String(32))
    start_day: Mapped[date] = mapped_column(Date)
    end_day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SwapRow(Base):
    __tablename__ = "rotation_swaps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    week: Mapped[date] = mapped_column(Date)
    user_a: Mapped[str] = mapped_column(String(32))
    user_b: Mapped[str] = mapped_column(String(32))
    # A trade credits the week to the one due; false: a hand-over recorded before trades
    # existed (migration 0015), credited to whoever presented, as it was planned then.
    trade: Mapped[bool] = mapped_column(Boolean, default=True, server_default=false())
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SkipRow(Base):
    """A meeting a manager cancelled (``/rotation skip``); withdrawn by deleting it."""

    __tablename__ = "rotation_skips"
    __table_args__ = (UniqueConstraint("project_id", "week"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    week: Mapped[date] = mapped_column(Date)  # the meeting date
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SwapRequestRow(Base):
    """A presenter's week offered in the project channel with a **Take it** button."""

    __tablename__ = "rotation_swap_requests"
    __table_args__ = (
        # One open offer per meeting: the second is refused, a taker closes it.
        Index(
            "uq_rotation_swap_requests_open",
            "project_id",
            "week",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    week: Mapped[date] = mapped_column(Date)  # the meeting date
    presenter: Mapped[str] = mapped_column(String(32))  # who offers the week
    requested_by: Mapped[str] = mapped_column(String(32))  # the presenter, or a manager
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    taken_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Set when the offer ends: taken, or no longer valid (announced, presenter changed).
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)


class CalendarKeyRow(Base):
    """A calendar subscription key, stored hashed: a person's personal feed (project_id
    NULL) or their feed of one project. Revoked by deleting it."""

    __tablename__ = "calendar_keys"
    __table_args__ = (Index("ix_calendar_keys_user", "team_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256, hex
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"))
    user_id: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PresentationRow(Base):
    """A meeting as announced: the rotation's history."""

    __tablename__ = "presentations"
    __table_args__ = (UniqueConstraint("project_id", "week"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    week: Mapped[date] = mapped_column(Date)
    topic: Mapped[str] = mapped_column(String(16))
    presenter: Mapped[str | None] = mapped_column(String(32), nullable=True)
    swapped_from: Mapped[str | None] = mapped_column(String(32), nullable=True)
    skipped: Mapped[list[list[str]]] = mapped_column(JsonType, default=list)
    announced_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ReviewRow(Base):
    """A request for peer review of an experiment's design or results."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("kind IN ('design', 'results')", name="kind_known"),
        Index("ix_reviews_experiment", "experiment_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"))
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    kind: Mapped[str] = mapped_column(String(8))
    requested_by: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    # The experiment's conclusion number when requested (results reviews).
    conclusion: Mapped[int] = mapped_column(Integer, default=0)
    # Since when nobody eligible could take the review (managers told; NULL: staffed).
    needs_reviewer_since: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ReviewAssignmentRow(Base):
    __tablename__ = "review_assignments"
    __table_args__ = (
        UniqueConstraint("review_id", "reviewer"),
        CheckConstraint(
            "verdict IN ('pending', 'approved', 'changes_requested', 'declined', 'replaced')",
            name="verdict_known",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    reviewer: Mapped[str] = mapped_column(String(32), index=True)
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime)
    verdict: Mapped[str] = mapped_column(String(20), default="pending")
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ReviewDecisionRow(Base):
    """An approval or change request, with the results it was about. Never deleted."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    reviewer: Mapped[str] = mapped_column(String(32))
    approve: Mapped[bool] = mapped_column(Boolean)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)
    conclusion: Mapped[int] = mapped_column(Integer)
    evaluation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    dismissed: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(Text, default="")


class EvaluationRow(Base):
    """One model's predictions on a held-out set (or scalar metrics), with its summary."""

    __tablename__ = "evaluations"
    __table_args__ = (
        CheckConstraint("kind IN ('classification', 'regression')", name="kind_known"),
        Index("ix_evaluations_experiment", "experiment_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"))
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # upload, cli, api, demo
    filename: Mapped[str] = mapped_column(String(200), default="")
    submitted_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: scalar metrics
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The rows themselves (compressed .npz), loaded only to pair a later evaluation with them.
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    # The baseline evaluation this one was compared with, and the summary as computed then.
    baseline_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class BaselineRow(Base):
    """A project's baseline from ``set_at`` on; the latest row is current, all are history."""

    __tablename__ = "baselines"
    __table_args__ = (Index("ix_baselines_project", "project_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"))
    set_by: Mapped[str] = mapped_column(String(32))
    set_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ParityRow(Base):
    """A parity check of an experiment's prototype against its production scores."""

    __tablename__ = "parity_checks"
    __table_args__ = (Index("ix_parity_checks_experiment", "experiment_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"))
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    submitted_by: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    result: Mapped[dict[str, Any]] = mapped_column(JsonType)


class DigestSubscriptionRow(Base):
    """Someone who asked for the weekly digest (managers get it without asking)."""

    __tablename__ = "digest_subscriptions"
    __table_args__ = (Index("ix_digest_subscriptions_user", "team_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"))
    user_id: Mapped[str] = mapped_column(String(32))
    # None: every project the subscriber may read, now and later.
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class HomeViewRow(Base):
    """Who has opened mlgov's Home tab, and when it was last published for them."""

    __tablename__ = "home_views"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SnoozeRow(Base):
    """A reminder someone snoozed: it comes back once, at ``until``."""

    __tablename__ = "snoozes"
    __table_args__ = (
        UniqueConstraint("team_id", "user_id", "kind", "subject"),
        CheckConstraint(_in("kind", ("review", "stale")), name="kind"),
        Index("ix_snoozes_due", "sent_at", "until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"))
    user_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    # A review's id (kind review) or an experiment's key (kind stale).
    subject: Mapped[str] = mapped_column(String(40))
    until: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


# Rows kept in modules of their own register on Base.metadata here (migrations, drift test).
from storage import mlflow_rows as _mlflow_rows  # noqa: E402, F401
from storage import registry_rows as _registry_rows  # noqa: E402, F401
from storage import status_rows as _status_rows  # noqa: E402, F401
