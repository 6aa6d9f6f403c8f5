"""Typed commands: what a user asked for, independent of the surface that asked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from bot.domain.evaluation import Kind
from bot.domain.model import Direction, Outcome, Role, Status, Workstream
from bot.domain.snooze import SnoozeFor, SnoozeKind


@dataclass(frozen=True)
class Help:
    command: str


@dataclass(frozen=True)
class NewExperiment:
    project: str
    title: str
    hypothesis: str = ""
    metric: str | None = None
    min_delta: float | None = None
    direction: Direction | None = None
    stream: Workstream = Workstream.MAIN


@dataclass(frozen=True)
class OpenNewExperimentForm:
    pass


@dataclass(frozen=True)
class ListExperiments:
    mine: bool = False
    everything: bool = False
    status: Status | None = None
    user_id: str | None = None
    project: str | None = None


@dataclass(frozen=True)
class ShowExperiment:
    number: int


@dataclass(frozen=True)
class History:
    number: int


@dataclass(frozen=True)
class Step:
    """start / analyze / conclude / abandon."""

    step: str
    number: int
    force: bool = False
    outcome: Outcome | None = None
    text: str = ""


@dataclass(frozen=True)
class EditExperiment:
    """``/exp edit EXP-7 [--title …] [--hypothesis …] [--metric m] [--direction d]
    [--min-delta x] [--stream s]``: None leaves a field as it is."""

    number: int
    title: str | None = None
    hypothesis: str | None = None
    metric: str | None = None
    direction: Direction | None = None
    min_delta: float | None = None
    stream: Workstream | None = None


@dataclass(frozen=True)
class AddLink:
    number: int
    url: str
    label: str = ""


@dataclass(frozen=True)
class LinkMlflowRun:
    """``/exp link EXP-7 mlflow:<run id>`` (or the run's pasted URL): follow the run.

    The run is looked up (and tagged) in MLflow before the transaction
    (bot.services.mlflow_links.prepare_link), which fills in what MLflow said of it.
    """

    number: int
    run_id: str
    pasted: str = ""  # the URL as pasted: kept as a plain link when MLflow is off
    status: str = ""
    name: str = ""
    url: str = ""
    started_ms: int | None = None


@dataclass(frozen=True)
class AddProject:
    slug: str
    channel_id: str


@dataclass(frozen=True)
class ShowProject:
    slug: str


@dataclass(frozen=True)
class AddMember:
    user_id: str
    role: Role
    project: str | None = None
    name: str = ""  # the display name Slack sent along with the mention


@dataclass(frozen=True)
class RemoveMember:
    user_id: str
    role: Role | None = None
    project: str | None = None


@dataclass(frozen=True)
class SetRules:
    project: str
    changes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SetWorkspaceRules:
    """``/mlgov rules [key=value ...]`` without a project: the workspace's own rules."""

    changes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ShowRotation:
    project: str | None = None
    weeks: int = 6


@dataclass(frozen=True)
class RotationStats:
    project: str | None = None
    weeks: int = 12


@dataclass(frozen=True)
class JoinRotation:
    project: str | None = None
    leave: bool = False


@dataclass(frozen=True)
class RecordAbsence:
    start: date
    end: date


@dataclass(frozen=True)
class ListAbsences:
    project: str | None = None  # None: the actor's own; a project: its people's (managers)


@dataclass(frozen=True)
class CancelAbsence:
    start: date


@dataclass(frozen=True)
class SwapPresenters:
    a: str
    b: str
    week: date | None = None
    project: str | None = None


@dataclass(frozen=True)
class SkipMeeting:
    """``/rotation skip <date> [reason]``: cancel a meeting (managers)."""

    week: date
    reason: str = ""
    project: str | None = None


@dataclass(frozen=True)
class CancelSkip:
    """``/rotation skip cancel <date>``: hold a skipped meeting after all."""

    week: date
    project: str | None = None


@dataclass(frozen=True)
class RequestSwap:
    """``/rotation swap request [date]``: offer a week with a **Take it** button."""

    week: date | None = None  # None: the actor's next presentation
    project: str | None = None


@dataclass(frozen=True)
class TakeSwap:
    """The **Take it** button of a swap request."""

    request_id: int


@dataclass(frozen=True)
class CalendarLink:
    """``/rotation calendar [project|me]``: DM a calendar subscription URL."""

    project: str | None = None
    personal: bool = False  # ``me``: the meetings one presents and the reviews one owes


@dataclass(frozen=True)
class ResetCalendar:
    """``/rotation calendar reset [project|me]``: revoke the keys of one feed, or all."""

    project: str | None = None
    personal: bool = False
    every: bool = True  # no feed named: every calendar URL one was given


@dataclass(frozen=True)
class ConfigureRotation:
    project: str
    changes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestReview:
    number: int
    kind: str | None = None  # design | results; None: by the experiment's status
    reviewers: tuple[str, ...] = ()


@dataclass(frozen=True)
class DecideReview:
    number: int
    approve: bool
    text: str = ""
    review_id: int | None = None  # from a button: the request it was pressed on


@dataclass(frozen=True)
class DeclineReview:
    number: int
    reason: str = ""
    review_id: int | None = None


@dataclass(frozen=True)
class ListReviews:
    which: str = "pending"  # mine | pending | overdue


@dataclass(frozen=True)
class ScheduleEngineering:
    number: int
    note: str = ""


@dataclass(frozen=True)
class Ship:
    number: int


@dataclass(frozen=True)
class EvaluateUpload:
    """``@mlgov eval EXP-7`` with a predictions file attached."""

    number: int
    kind: Kind | None = None
    new_holdout: bool = False  # recorded without comparison with the baseline
    mlflow_run: str | None = None  # ``mlflow:<run id>``: the run's predictions, no file


@dataclass(frozen=True)
class ParityUpload:
    """``@mlgov parity EXP-7`` with the prototype's and production's files attached."""

    number: int
    tolerance: float = 1e-6
    threshold: float = 0.5


@dataclass(frozen=True)
class PreviewDigest:
    project: str | None = None
    last: bool = False  # the last complete week (as the job sends it), not the week so far


@dataclass(frozen=True)
class SubscribeDigest:
    project: str | None = None
    on: bool = True


@dataclass(frozen=True)
class ShowMetrics:
    number: int


@dataclass(frozen=True)
class SetBaseline:
    project: str
    number: int


@dataclass(frozen=True)
class BaselineHistory:
    project: str


@dataclass(frozen=True)
class SnoozeReminder:
    """A Remind me in 2 h / tomorrow / Monday button under a reminder."""

    kind: SnoozeKind
    subject: str  # the review's id, or the nudge's experiment keys (comma-separated)
    choice: SnoozeFor


Command = (
    Help
    | NewExperiment
    | OpenNewExperimentForm
    | ListExperiments
    | ShowExperiment
    | History
    | Step
    | EditExperiment
    | AddLink
    | LinkMlflowRun
    | AddProject
    | ShowProject
    | AddMember
    | RemoveMember
    | SetRules
    | SetWorkspaceRules
    | ShowRotation
    | RotationStats
    | JoinRotation
    | RecordAbsence
    | ListAbsences
    | CancelAbsence
    | SwapPresenters
    | SkipMeeting
    | CancelSkip
    | RequestSwap
    | TakeSwap
    | CalendarLink
    | ResetCalendar
    | ConfigureRotation
    | RequestReview
    | DecideReview
    | DeclineReview
    | ListReviews
    | ScheduleEngineering
    | Ship
    | ShowMetrics
    | SetBaseline
    | BaselineHistory
    | PreviewDigest
    | SubscribeDigest
    | SnoozeReminder
)


READ_ONLY = (
    Help,
    ListExperiments,
    ShowExperiment,
    History,
    OpenNewExperimentForm,
    ShowRotation,
    RotationStats,
    ListAbsences,
    ListReviews,
    ShowMetrics,
    BaselineHistory,
    PreviewDigest,
    ShowProject,
)
