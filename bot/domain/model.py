"""Domain values: members, projects, experiments and audit entries (plain data, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


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


# Metrics where smaller is better; everything else defaults to "higher is better".
LOWER_IS_BETTER = frozenset({"log_loss", "logloss", "brier", "rmse", "mae", "mse"})
KNOWN_METRICS = frozenset({"auc", "ap", "log_loss", "brier", "accuracy", "f1", "rmse", "mae", "r2"})

KEY_PATTERN = re.compile(r"^EXP-([1-9][0-9]{0,8})$", re.IGNORECASE)
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


def plain_number(text: str) -> float:
    """A number as people type it: Python's float() without ``1_0`` or non-ASCII digits."""
    if "_" in text or not text.isascii():
        raise ValueError(text)
    return float(text)


def experiment_key(number: int) -> str:
    """The user-facing key of experiment ``number``."""
    return f"EXP-{number}"


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
    digest_channel: str = ""  # a channel id that also gets the weekly digest ("" = none)
    digest_time: str = "mon 08:00"  # weekday and wall-clock time, in the project's zone

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
