"""Domain values: members, projects, experiments and audit entries (plain data, no I/O)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.domain.errors import ValidationError


class Role(StrEnum):
    SCIENTIST = "scientist"
    ENGINEER = "engineer"
    MANAGER = "manager"
    ADMIN = "admin"


class Status(StrEnum):
    PROPOSED = "proposed"
    RUNNING = "running"
    ANALYZING = "analyzing"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    SHIPPED = "shipped"
    CLOSED = "closed"
    ABANDONED = "abandoned"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    INCONCLUSIVE = "inconclusive"


class Workstream(StrEnum):
    MAIN = "main"
    SIDE = "side"


class Direction(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


# Each metric has one meaning: which way is better is the metric's, never a choice. The
# names are the evaluation summary's (bot/domain/point_metrics.py, bot/domain/stats.py), so
# a success criterion can always be checked against an evaluation.
METRIC_DIRECTION: dict[str, Direction] = {
    "auc": Direction.HIGHER,
    "ap": Direction.HIGHER,
    "accuracy": Direction.HIGHER,
    "f1": Direction.HIGHER,
    "r2": Direction.HIGHER,
    "log_loss": Direction.LOWER,
    "brier": Direction.LOWER,
    "rmse": Direction.LOWER,
    "mae": Direction.LOWER,
}
LOWER_IS_BETTER = frozenset(m for m, d in METRIC_DIRECTION.items() if d is Direction.LOWER)
KNOWN_METRICS = frozenset(METRIC_DIRECTION)
# What people type for a metric the table names otherwise.
METRIC_ALIASES = {"logloss": "log_loss", "r²": "r2", "roc_auc": "auc"}

KEY_PATTERN = re.compile(r"^EXP-([1-9][0-9]{0,8})$", re.IGNORECASE)
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


def plain_number(text: str) -> float:
    """A number as people type it: Python's float() without ``1_0`` or non-ASCII digits."""
    if "_" in text or not text.isascii():
        raise ValueError(text)
    return float(text)


def metric_name(text: str) -> str:
    """``text`` as the metric table names it (``Log-Loss`` -> ``log_loss``)."""
    name = text.strip().lower().replace("-", "_")
    name = METRIC_ALIASES.get(name, name)
    if name not in METRIC_DIRECTION:
        known = ", ".join(sorted(KNOWN_METRICS))
        raise ValidationError(f"Unknown metric '{text[:40]}' (known: {known}).")
    return name


def direction_rule() -> str:
    """The metric table in a sentence, for messages."""
    lower = ", ".join(m for m, d in METRIC_DIRECTION.items() if d is Direction.LOWER)
    higher = ", ".join(m for m, d in METRIC_DIRECTION.items() if d is Direction.HIGHER)
    return f"lower is better for {lower}; higher is better for {higher}"


def success_criterion(
    metric: str, direction: Direction | None = None, min_delta: float | None = None
) -> SuccessCriterion:
    """The criterion on ``metric``, in the metric's own direction; refused when
    ``direction`` contradicts the metric or ``min_delta`` is not a finite number ≥ 0."""
    name = metric_name(metric)
    right = METRIC_DIRECTION[name]
    if direction is not None and direction is not right:
        raise ValidationError(
            f"{name} is better when {right.value}, so --direction {direction.value} would"
            f" contradict it ({direction_rule()}). Leave out --direction to get the right one."
        )
    delta = 0.0 if min_delta is None else min_delta
    if not math.isfinite(delta) or delta < 0:
        raise ValidationError("--min-delta must be a finite number ≥ 0.")
    return SuccessCriterion(name, right, delta)


def experiment_key(number: int) -> str:
    """The user-facing key of experiment ``number``."""
    return f"EXP-{number}"


# The actor ids of pipelines (`mlgov eval push`, the HTTP API, runs imported from MLflow):
# shown as such, never as a Slack user. Slack user ids are capitals (U…, W…), so they
# cannot collide.
PIPELINE_ACTORS = frozenset({"cli", "api", "mlflow"})


@dataclass(frozen=True)
class Actor:
    """Who is acting: a Slack user in a workspace, with the roles mlgov knows of."""

    team_id: str
    user_id: str
    # Workspace-wide roles, and roles per project slug.
    roles: frozenset[Role] = frozenset()
    project_roles: dict[str, frozenset[Role]] = field(default_factory=dict)
    # A pipeline (the HTTP API's bearer token, the CLI on the server) submits evaluations
    # for any experiment of the workspace, and does nothing else.
    pipeline: bool = False

    def has(self, role: Role, project: str | None = None) -> bool:
        """Whether the actor holds ``role`` workspace-wide or on ``project``."""
        if role in self.roles:
            return True
        return project is not None and role in self.project_roles.get(project, frozenset())

    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    def may_read(self, project: str) -> bool:
        """Whether the actor may see ``project``'s experiments and figures."""
        return self.pipeline or self.is_admin() or self.on_project(project)

    def on_project(self, project: str) -> bool:
        """Whether the actor has any role on ``project`` (workspace-wide roles count)."""
        return bool(self.roles) or bool(self.project_roles.get(project))


@dataclass(frozen=True)
class SuccessCriterion:
    """What counts as success: ``metric`` moves in ``direction`` by at least ``min_delta``."""

    metric: str
    direction: Direction
    min_delta: float

    def describe(self) -> str:
        sign = "+" if self.direction is Direction.HIGHER else "−"
        return f"{self.metric} {sign}{self.min_delta:g} vs baseline ({self.direction} is better)"


@dataclass(frozen=True)
class ProjectRules:
    """Per-project rules a manager or admin sets with ``/mlgov rules``."""

    wip_main: int = 1
    wip_side: int = 3
    wip_project: int = 0  # 0: no project-wide limit
    design_review: str = "optional"  # required | optional | off
    quorum: int = 2
    # on: conclude asks reviewers itself; off: the owner names them (managers are told).
    auto_review: str = "on"
    digest_channel: str = ""  # a channel id that also gets the weekly digest ("" = none)
    digest_time: str = "mon 08:00"  # weekday and wall-clock time, in the project's zone
    # A registered model in MLflow that mlflow-sync polls for the gate ("" = none; SPEC §12).
    mlflow_model: str = ""

    def limit_for(self, stream: Workstream) -> int:
        return self.wip_main if stream is Workstream.MAIN else self.wip_side


@dataclass(frozen=True)
class Project:
    id: int
    team_id: str
    slug: str
    channel_id: str
    rules: ProjectRules
    created_at: datetime


@dataclass(frozen=True)
class Member:
    team_id: str
    user_id: str
    name: str
    roles: frozenset[Role]
    project_roles: dict[str, frozenset[Role]]

    def as_actor(self) -> Actor:
        return Actor(self.team_id, self.user_id, self.roles, self.project_roles)


@dataclass(frozen=True)
class Link:
    url: str
    label: str
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class Experiment:
    """One experiment; ``version`` guards against lost updates."""

    id: int
    team_id: str
    number: int
    project: str
    title: str
    hypothesis: str
    owner_id: str
    workstream: Workstream
    criterion: SuccessCriterion | None
    status: Status
    outcome: Outcome | None
    learnings: str
    version: int
    created_at: datetime
    updated_at: datetime
    thread_ts: str | None = None
    links: tuple[Link, ...] = ()
    conclusions: int = 0  # times concluded; a review names the conclusion it saw
    # The success criterion was edited after start: reviewers must see it (SPEC §2).
    criterion_changed_after_start: bool = False

    @property
    def key(self) -> str:
        return experiment_key(self.number)


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit trail: who did what, when, from which state to which."""

    at: datetime
    actor_id: str
    action: str
    experiment_key: str | None
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any]


# The outbox method of a reply to a slash command's or a button's response_url: the
# payload is {"url": ..., **body}, POSTed as JSON (the URL takes 5 posts in 30 minutes).
# It needs no bot token, so a workspace paused for its token still gets these replies.
RESPONSE_URL = "response_url"
# A payload key: what the stored message keeps once Slack has it, in place of a text that
# holds a secret (a calendar URL's key); never sent to Slack.
SCRUB_AFTER_DELIVERY = "scrub_after_delivery"


@dataclass(frozen=True)
class OutgoingMessage:
    """A Slack Web API call a change causes; written with the change, delivered later.

    ``experiment_id`` puts the message in that experiment's thread; the message with
    ``thread_root`` starts the thread, and its delivery records the thread's ``ts``.
    """

    team_id: str
    channel: str
    method: str
    payload: dict[str, Any]
    experiment_id: int | None = None
    thread_root: bool = False
    # Names a message to update later: a chat.update with the same ref edits it.
    ref: str | None = None
