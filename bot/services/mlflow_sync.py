"""Job ``mlflow-sync``: follow the MLflow runs that belong to experiments (SPEC §12).

Each run searches MLflow for runs tagged ``mlgov.experiment`` that started at or after the
cursor (less a margin for the training machines' clocks), and fetches the linked runs the
search cannot see (linked by hand long ago). What each run does, once across replicas
(guarded updates in the transaction that queues the messages):

- it runs while its experiment is proposed: the thread says so, the owner gets Start
  (once per experiment);
- it finished: its predictions file becomes an evaluation (the upload's own path);
- it failed or was killed, or its file was refused: one line in the thread.

The cursor moves only past runs that are done with, after their work committed: MLflow
down (or a run that could not be fetched) delays the sync and loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.errors import MlflowError, MlflowUnavailable, MlgovError, NotFound, StorageError
from bot.domain.mlflow_runs import BY_TAG, MLFLOW_OFF, TAG, LinkedRun, Outcome, tagged_number
from bot.domain.model import Actor, Status
from bot.mlflow.entities import Run
from bot.services.mlflow_import import MLFLOW_ACTOR, NoPredictions, import_run
from bot.services.ports import Context, MlflowSource, MlflowTracking, Notices
from storage.unit_of_work import Database

log = logging.getLogger(__name__)

# Runs' start times come from the training machines' clocks: look back this far too.
MARGIN_MS = 60 * 60 * 1000
TAG_FILTER = f"tags.`{TAG}` ILIKE '%'"
EXPERIMENTS_PER_SEARCH = 100
ACTIVE = frozenset({"RUNNING", "SCHEDULED"})
GONE = "RESOURCE_DOES_NOT_EXIST"  # MLflow's error code for a run deleted for good
JOB = "mlflow-sync"


def run_mlflow_sync(
    db: Database, notices: Notices, mlflow: MlflowSource | None, now: datetime, timezone: str
) -> list[str]:
    """One sync: what it did, a line per change (nothing when nothing changed)."""
    if mlflow is None:
        return [MLFLOW_OFF]
    with db.read() as uow:
        cursor = uow.mlflow_runs.cursor()
        pending = uow.mlflow_runs.pending()
        paused = uow.pauses.paused()
        teams = [t for t in uow.workspaces.team_ids() if t not in paused]
    try:
        runs = _changed_runs(mlflow.client, cursor, pending)
    except MlflowUnavailable as exc:
        log.warning("mlflow-sync: %s", exc)
        return [f"MLflow is unreachable; nothing changed, the next run tries again. {exc}"]
    followed: dict[str, list[LinkedRun]] = {}
    with db.read() as uow:
        for row in uow.mlflow_runs.known([r.run_id for r in runs]).values():
            followed.setdefault(row.run_id, []).append(row)
    sync = _Sync(db, notices, mlflow, now, timezone)
    new = [run for run in runs if run.run_id not in followed]
    for row in sync.link_from_tags(new, teams):
        followed.setdefault(row.run_id, []).append(row)
    due = [
        (run, row)
        for run in runs
        for row in followed.get(run.run_id, [])
        if not row.done and row.experiment_number is not None
    ]
    waiting = sync.take_steps(due)
    open_starts = [r.start_time_ms for r in runs if r.run_id in waiting and r.start_time_ms]
    starts = [r.start_time_ms for r in runs if r.start_time_ms is not None]
    if starts:
        with db.write() as uow:
            uow.mlflow_runs.advance_cursor(min(open_starts) if open_starts else max(starts), now)
            uow.commit()
    return sync.done


def _changed_runs(
    client: MlflowTracking, cursor: int | None, pending: Sequence[LinkedRun]
) -> list[Run]:
    """Tagged runs from the cursor on, and the pending runs the search does not reach."""
    query = TAG_FILTER
    if cursor is not None:
        query += f" AND attributes.start_time >= {max(0, cursor - MARGIN_MS)}"
    ids = client.search_experiment_ids()
    runs: list[Run] = []
    for start in range(0, len(ids), EXPERIMENTS_PER_SEARCH):
        chunk = ids[start : start + EXPERIMENTS_PER_SEARCH]
        runs += client.iter_runs(chunk, query, ("attributes.start_time ASC",))
    seen = {r.run_id for r in runs}
    for linked in pending:
        if linked.run_id not in seen:
            seen.add(linked.run_id)
            try:
                runs.append(client.get_run(linked.run_id))
            except MlflowError as exc:
                if isinstance(exc, MlflowUnavailable) or exc.error_code != GONE:
                    raise
                runs.append(Run(linked.run_id, "", "DELETED", lifecycle_stage="deleted"))
    return runs


@dataclass(frozen=True)
class _End:
    """What to record of a run that ended (or was deleted), and whether to tell the thread."""

    run: Run
    row: LinkedRun
    outcome: Outcome
    note: str = ""
    tell: bool = False


class _Sync:
    """One sync: where it writes, what it tells, when it is, and what it did (``done``).

    Writes are batched (one transaction for the new links, one for the running runs, one
    for the ended runs); only an import has a transaction of its own (the upload's).
    """

    def __init__(
        self, db: Database, notices: Notices, mlflow: MlflowSource, now: datetime, timezone: str
    ) -> None:
        self.db, self.notices, self.mlflow, self.now = db, notices, mlflow, now
        self.timezone = timezone
        self.done: list[str] = []

    def link_from_tags(self, runs: list[Run], teams: list[str]) -> list[LinkedRun]:
        """Follow the new tagged runs; a tag naming no experiment is logged and skipped."""
        if not runs:
            return []
        if len(teams) != 1:
            for run in runs:
                log.warning(
                    "mlflow-sync: run %s is tagged %s=%r, but this mlgov serves %d workspaces:"
                    " link it by hand (/exp link) in the right one",
                    run.run_id, TAG, run.tags.get(TAG, "")[:64], len(teams),
                )
            return []
        team = teams[0]
        linked: list[LinkedRun] = []
        with self.db.write() as uow:
            for run in runs:
                tag = run.tags.get(TAG, "")
                number = tagged_number(tag)
                experiment = uow.experiments.get(team, number) if number is not None else None
                uow.mlflow_runs.link(
                    team,
                    run.run_id,
                    experiment.id if experiment else None,
                    tag=tag,
                    status=run.status,
                    url=self.mlflow.client.run_url(run),
                    name=run.name,
                    linked_by=BY_TAG,
                    started_at=_when(run.start_time_ms),
                    now=self.now,
                )
                row = uow.mlflow_runs.get(team, run.run_id)
                if row is not None:
                    linked.append(row)
                if experiment is None:
                    log.warning(
                        "mlflow-sync: run %s is tagged %s=%r, which names no experiment of"
                        " workspace %s: skipped",
                        run.run_id, TAG, tag[:64], team,
                    )
                    self.done.append(
                        f"run {run.run_id}: tagged {tag[:64]!r}, no such experiment; skipped"
                    )
            uow.commit()
        return linked

    def take_steps(self, due: list[tuple[Run, LinkedRun]]) -> set[str]:
        """Do what each run is due; the ids of the runs not done with (to look at again)."""
        waiting: set[str] = set()
        running: list[tuple[Run, LinkedRun]] = []
        ends: list[_End] = []
        for run, row in due:
            if run.lifecycle_stage == "deleted":
                ends.append(_End(run, row, Outcome.SKIPPED, "deleted in MLflow"))
            elif run.status in ACTIVE:
                running.append((run, row))
                waiting.add(run.run_id)
            elif run.status != "FINISHED":
                ends.append(_End(run, row, Outcome.FAILED, tell=True))
            else:
                try:
                    end = self._import(run, row)
                except MlflowUnavailable as exc:
                    log.warning("mlflow-sync: run %s waits: %s", run.run_id, exc)
                    self.done.append(f"run {run.run_id}: MLflow is unreachable; tried again later")
                    waiting.add(run.run_id)
                    continue
                if end is not None:
                    ends.append(end)
        self._keep_running(running)
        self._record_ends(ends)
        return waiting

    def _keep_running(self, running: list[tuple[Run, LinkedRun]]) -> None:
        """Keep the runs' status; offer Start once when a run goes while its experiment is
        proposed (once per experiment: the run ledger)."""
        changed = [
            (run, row)
            for run, row in running
            if run.status != row.status or run.metrics != row.metrics or not row.start_checked
        ]
        if not changed:
            return  # the every-minute case: nothing to write
        with self.db.write() as uow:
            for run, row in changed:
                team = row.team_id
                uow.mlflow_runs.refresh(
                    team, run.run_id, run.status, run.name, run.metrics, self.now
                )
                experiment = uow.experiments.get(team, row.experiment_number or 0)
                if (
                    uow.mlflow_runs.check_start(team, run.run_id, self.now)
                    and experiment is not None
                    and experiment.status is Status.PROPOSED
                    and uow.ledger.claim(JOB, f"{team}:{experiment.key}", "start-offer", self.now)
                ):
                    project = uow.projects.require(team, experiment.project)
                    messages = self.notices.mlflow_run_started(experiment, project, run, row.url)
                    for message in messages:
                        uow.outbox.add(message, self.now)
                    self.done.append(f"{experiment.key}: run {run.run_id} started; Start offered")
            uow.commit()

    def _import(self, run: Run, row: LinkedRun) -> _End | None:
        """Import the finished run's predictions; what to record instead when there is
        nothing to import or the file was refused (None: imported, or by another)."""
        actor = Actor(row.team_id, MLFLOW_ACTOR, pipeline=True)
        ctx = Context(actor, self.now, self.notices, self.timezone, mlflow=self.mlflow)
        number = row.experiment_number or 0
        try:
            recorded = import_run(
                self.db, ctx, self.mlflow, run, number, event_id=f"mlflow-run:{run.run_id}"
            )
        except (MlflowUnavailable, StorageError):
            raise
        except NoPredictions:
            return _End(run, row, Outcome.NO_PREDICTIONS)
        except NotFound as exc:  # the experiment went away meanwhile
            return _End(run, row, Outcome.SKIPPED, str(exc))
        except MlgovError as exc:
            return _End(run, row, Outcome.REFUSED, str(exc), tell=True)
        if recorded is not None:
            self.done.append(
                f"{recorded.experiment.key}: run {run.run_id} imported as evaluation"
                f" #{recorded.evaluation_id}"
            )
        return None

    def _record_ends(self, ends: list[_End]) -> None:
        """Record each ended run once; one line in the thread for those told."""
        if not ends:
            return
        with self.db.write() as uow:
            for end in ends:
                run, row, team = end.run, end.row, end.row.team_id
                if run.lifecycle_stage != "deleted":
                    uow.mlflow_runs.refresh(
                        team, run.run_id, run.status, run.name, run.metrics, self.now
                    )
                note = end.note[:2000]
                if not uow.mlflow_runs.finish(team, run.run_id, end.outcome, self.now, note=note):
                    continue  # another replica did
                experiment = uow.experiments.get(team, row.experiment_number or 0)
                if end.tell and experiment is not None:
                    project = uow.projects.require(team, experiment.project)
                    problem = note if end.outcome is Outcome.REFUSED else ""
                    for message in self.notices.mlflow_run_ended(
                        experiment, project, run, row.url, problem
                    ):
                        uow.outbox.add(message, self.now)
                self.done.append(
                    f"EXP-{row.experiment_number}: run {run.run_id} {end.outcome.value}"
                    + (f" ({note})" if note else "")
                )
            uow.commit()


def _when(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms is not None else None
