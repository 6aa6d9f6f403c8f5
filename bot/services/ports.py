"""What services need from the outside, as Protocols (implemented in storage/ and slack/)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.domain.availability import StatusReading
from bot.domain.evaluation import Baseline, EvaluationRecord
from bot.domain.model import Actor, Experiment, OutgoingMessage, Project
from bot.domain.nudges import IdleExperiment
from bot.domain.parity import Parity
from bot.domain.review import Decision, Review
from bot.domain.rotation import Agenda, Moved, Offer, RotationConfig, Slot, SwapRequest, Topic
from bot.domain.summary import Summary
from bot.mlflow.entities import ArtifactFile, ModelVersion, RegisteredModel, Run

if TYPE_CHECKING:
    from bot.services.digest import Digest
    from bot.services.home import Home


class Notices(Protocol):
    """Renders the Slack messages a change causes (they go to the outbox)."""

    def project_added(self, project: Project, actor_id: str) -> list[OutgoingMessage]: ...

    def experiment_created(
        self, experiment: Experiment, project: Project
    ) -> list[OutgoingMessage]: ...

    def experiment_changed(
        self,
        experiment: Experiment,
        project: Project,
        actor_id: str,
        action: str,
        detail: dict[str, Any],
    ) -> list[OutgoingMessage]: ...

    def rotation_announced(
        self,
        project: Project,
        slot: Slot,
        agenda: Agenda,
        meeting: datetime,
        config: RotationConfig,
        *,
        unchecked: str = "",
    ) -> list[OutgoingMessage]: ...

    def presenter_reminder(
        self, project: Project, slot: Slot, meeting: datetime, config: RotationConfig
    ) -> list[OutgoingMessage]: ...

    def rotation_pool_empty(
        self, project: Project, topics: list[Topic], slot: Slot, managers: list[str]
    ) -> list[OutgoingMessage]: ...

    def meeting_skipped(
        self, project: Project, slot: Slot, reason: str, presenter: str, again: date | None
    ) -> list[OutgoingMessage]: ...

    def presentation_moved(
        self, project: Project, change: Slot, user: str, was: date | None, now: Slot | None
    ) -> list[OutgoingMessage]:
        """``change``: the week skipped (``cancelled`` set) or held after all; ``was`` and
        ``now``: ``user``'s next presentation before and after it (None: none planned)."""
        ...

    def swap_offered(self, offer: Offer) -> list[OutgoingMessage]: ...

    def swap_taken(self, offer: Offer) -> list[OutgoingMessage]: ...

    def swap_closed(
        self, project: Project, request: SwapRequest, why: str
    ) -> list[OutgoingMessage]: ...

    def presentations_moved(
        self, project: Project, config: RotationConfig, moved: Moved
    ) -> list[OutgoingMessage]: ...

    def swap_unanswered(self, offer: Offer, managers: list[str]) -> list[OutgoingMessage]: ...

    def calendar_subscription(
        self, team_id: str, user_id: str, feed: str, url: str
    ) -> list[OutgoingMessage]: ...

    def stale_nudge(
        self, team_id: str, user_id: str, stale: list[IdleExperiment]
    ) -> list[OutgoingMessage]: ...

    def review_requested(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        reviewers: list[str],
        quorum: int,
        *,
        evaluation: EvaluationRecord | None = None,
        unchecked: str = "",
    ) -> list[OutgoingMessage]: ...

    def review_decided(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        decision: Decision,
        approvals: int,
        quorum: int,
        moved: Experiment | None,
        *,
        evaluation: EvaluationRecord | None = None,
    ) -> list[OutgoingMessage]: ...

    def review_reminder(
        self, experiment: Experiment, reviewer: str, days: int, *, review_id: int | None = None
    ) -> list[OutgoingMessage]: ...

    def review_overdue(
        self, experiment: Experiment, reviewer: str, days: int, managers: list[str]
    ) -> list[OutgoingMessage]: ...

    def reviewer_changed(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        leaving: str,
        successor: str | None,
        why: str,
        reason: str,
        *,
        unchecked: str = "",
    ) -> list[OutgoingMessage]: ...

    def review_reopened(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        reviewers: list[str],
        quorum: int,
        evaluation_id: int,
        dismissed: int,
        moved: Experiment | None,
        *,
        evaluation: EvaluationRecord | None = None,
        unchecked: str = "",
    ) -> list[OutgoingMessage]: ...

    def review_needs_reviewer(
        self,
        experiment: Experiment,
        project: Project,
        review: Review,
        managers: list[str],
        reason: str,
    ) -> list[OutgoingMessage]: ...

    def model_blocked(
        self,
        experiment: Experiment,
        project: Project,
        model: str,
        version: str,
        aliases: tuple[str, ...],
        unmet: list[str],
        managers: list[str],
        link: str | None,
    ) -> list[OutgoingMessage]: ...

    def evaluation_recorded(
        self,
        experiment: Experiment,
        project: Project,
        summary: Summary,
        baseline: Baseline | None,
        chart: bytes | None,
        dismissed: int,
        progress_ref: str | None,
        *,
        submitted_by: str = "",
        filename: str = "",
        logged: Mapping[str, float] | None = None,
    ) -> list[OutgoingMessage]: ...

    def mlflow_run_started(
        self, experiment: Experiment, project: Project, run: Run, url: str
    ) -> list[OutgoingMessage]: ...

    def mlflow_run_ended(
        self, experiment: Experiment, project: Project, run: Run, url: str, problem: str = ""
    ) -> list[OutgoingMessage]: ...

    def evaluation_computing(
        self, experiment: Experiment, project: Project, rows: int, ref: str
    ) -> list[OutgoingMessage]: ...

    def evaluation_failed(
        self, experiment: Experiment, project: Project, why: str, ref: str
    ) -> list[OutgoingMessage]: ...

    def baseline_set(
        self,
        project: Project,
        experiment: Experiment,
        baseline: Baseline,
        previous: Baseline | None,
    ) -> list[OutgoingMessage]: ...

    def parity_checked(
        self, experiment: Experiment, project: Project, parity: Parity
    ) -> list[OutgoingMessage]: ...

    def digest_ready(
        self, digest: Digest, recipients: list[str], channel: str | None, chart: bytes | None
    ) -> list[OutgoingMessage]: ...

    def home_published(self, team_id: str, user_id: str, home: Home) -> list[OutgoingMessage]: ...


class StatusesNeeded(Exception):  # noqa: N818 (a request, not a failure)
    """Slack statuses a use case needs in a write transaction that no cache holds: the
    caller fetches them once the transaction is rolled back, and runs the use case again
    (bot.services.availability.fetching_statuses), so that no Slack call holds the writer."""

    def __init__(self, team_id: str, users: Sequence[str]) -> None:
        super().__init__(f"Slack statuses of {len(users)} people of {team_id} are needed")
        self.team_id = team_id
        self.users = list(users)


class Statuses(Protocol):
    """People's Slack statuses, kept for a few minutes and stored as read
    (bot.slack.statuses)."""

    def read(self, team_id: str, users: Sequence[str]) -> StatusReading:
        """The statuses held (never asks Slack); ``missing`` lists those not held."""
        ...

    def fetch(self, team_id: str, users: Sequence[str], deadline: float | None = None) -> None:
        """Ask Slack for the statuses of ``users`` and store the answers (a failure is held
        as such, briefly); outside any transaction. ``deadline`` (``time.monotonic()``):
        wait until then at most, holding those not answered as not answered in time."""
        ...

    def close(self) -> None:
        """Stop asking Slack (the process is stopping; what is under way is not waited
        for)."""
        ...

    def prefetch(self, team_id: str, users: Sequence[str]) -> None:
        """Start reading the statuses of ``users`` not held, in the background (returns at
        once), so that a use case about to need them finds them."""
        ...


class MlflowTracking(Protocol):
    """MLflow's REST API, as far as following runs needs it (bot.mlflow.client)."""

    def search_experiment_ids(self) -> list[str]: ...

    def iter_runs(
        self, experiment_ids: Sequence[str], filter_string: str = "", order_by: Sequence[str] = ()
    ) -> Iterator[Run]: ...

    def get_run(self, run_id: str) -> Run: ...

    def set_run_tag(self, run_id: str, key: str, value: str) -> None: ...

    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactFile]: ...

    def download_artifact(self, run_id: str, path: str) -> bytes: ...

    def run_url(self, run: Run) -> str: ...


class MlflowRegistry(Protocol):
    """MLflow's model registry, as far as the gate needs it (bot.mlflow.client)."""

    base_url: str

    def get_model_version(self, name: str, version: str) -> ModelVersion: ...

    def get_registered_model(self, name: str) -> RegisteredModel: ...

    def search_model_versions(
        self, filter_string: str = "", order_by: Sequence[str] = (), page_token: str = ""
    ) -> tuple[list[ModelVersion], str]: ...

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None: ...


class MlflowApi(MlflowTracking, MlflowRegistry, Protocol):
    """The whole of MLflow's REST API that mlgov uses."""


@dataclass(frozen=True)
class MlflowSource:
    """The MLflow server mlgov follows, and where runs keep their predictions."""

    client: MlflowApi
    artifact: str = "mlgov/predictions"  # MLGOV_MLFLOW_ARTIFACT


@dataclass(frozen=True)
class Context:
    """Who acts, when, and how changes are announced: passed to every use case."""

    actor: Actor
    now: datetime
    notices: Notices
    timezone: str = "UTC"  # the team's default (MLGOV_TIMEZONE)
    channel: str = ""  # where the command was typed, when it came from a channel
    _: KW_ONLY  # the rest by name only: their order means nothing
    mlflow: MlflowSource | None = None  # None: MLFLOW_TRACKING_URI is not set
    public_url: str = ""  # MLGOV_PUBLIC_URL ("": unset), for the URLs mlgov hands out
    # Slack statuses (who is away); None where Slack is not at hand (the shell, the CLI).
    statuses: Statuses | None = None
