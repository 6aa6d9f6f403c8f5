"""Job ``mlflow-sync``: follow the MLflow runs that belong to experiments (SPEC §12).

Each run searches MLflow for runs tagged ``mlgov.experiment`` that started at or after the
cursor (less a margin for the training machines' clocks), and fetches the linked runs the
search cannot see (linked by hand long ago). What each run does, once across replicas
(guarded updates in the transaction that queues the messages):

- it runs while its experiment is proposed: the thread says so, the owner gets Start;
- it finished: its predictions file becomes an evaluation (the upload's own path);
- it failed or was killed, or its file was refused: one line in the thread.

The cursor moves only past runs that are done with, after their work committed: MLflow
down (or a run that could not be fetched) delays the sync and loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
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
    with db.read() as uow:
        known = uow.mlflow_runs.known([r.run_id for r in runs])
    sync = _Sync(db, notices, mlflow, now, timezone, teams)
    done: list[str] = []
    open_starts: list[int] = []
    for run in runs:
        rows = [row for (_, run_id), row in known.items() if run_id == run.run_id]
        try:
            settled = sync.follow(run, rows, done)
        except MlflowUnavailable as exc:
            log.warning("mlflow-sync: run %s waits: %s", run.run_id, exc)
            done.append(f"run {run.run_id}: MLflow is unreachable; it is tried again later")
            settled = False
        if not settled and run.start_time_ms is not None:
            open_starts.append(run.start_time_ms)
    starts = [r.start_time_ms for r in runs if r.start_time_ms is not None]
    if starts:
        with db.write() as uow:
            uow.mlflow_runs.advance_cursor(min(open_starts) if open_starts else max(starts), now)
            uow.commit()
    return done


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


class _Sync:
    """One sync's state: where it writes, what it tells, and when it is."""

    def __init__(
        self,
        db: Database,
        notices: Notices,
        mlflow: MlflowSource,
        now: datetime,
        timezone: str,
        teams: list[str],
    ) -> None:
        self.db, self.notices, self.mlflow, self.now = db, notices, mlflow, now
        self.timezone, self.teams = timezone, teams

    def follow(self, run: Run, rows: list[LinkedRun], done: list[str]) -> bool:
        """Take what is due for ``run``; True when nothing is left to do with it."""
        if not rows:
            row = self._link_from_tag(run, done)
            if row is None:
                return True
            rows = [row]
        settled = True
        for row in rows:
            settled = self._step(run, row, done) and settled
        return settled

    def _link_from_tag(self, run: Run, done: list[str]) -> LinkedRun | None:
        tag = run.tags.get(TAG, "")
        if len(self.teams) != 1:
            log.warning(
                "mlflow-sync: run %s is tagged %s=%r, but this mlgov serves %d workspaces:"
                " link it by hand (/exp link) in the right one",
                run.run_id, TAG, tag[:64], len(self.teams),
            )
            return None
        team = self.teams[0]
        number = tagged_number(tag)
        with self.db.write() as uow:
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
            linked = uow.mlflow_runs.get(team, run.run_id)
            uow.commit()
        if experiment is None:
            log.warning(
                "mlflow-sync: run %s is tagged %s=%r, which names no experiment of workspace"
                " %s: skipped",
                run.run_id, TAG, tag[:64], team,
            )
            done.append(f"run {run.run_id}: tagged {tag[:64]!r}, no such experiment; skipped")
        return linked

    def _step(self, run: Run, row: LinkedRun, done: list[str]) -> bool:
        if row.done or row.experiment_number is None:
            return True
        number = row.experiment_number
        if run.lifecycle_stage == "deleted":
            self._finish(run, row, Outcome.SKIPPED, done, note="deleted in MLflow")
            return True
        if run.status in ACTIVE:
            self._running(run, row, number, done)
            return False
        if run.status == "FINISHED":
            return self._import(run, row, number, done)
        self._finish(run, row, Outcome.FAILED, done, tell=True)
        return True

    def _running(self, run: Run, row: LinkedRun, number: int, done: list[str]) -> None:
        """Keep the run's status; offer Start once while the experiment is proposed."""
        if run.status == row.status and run.metrics == row.metrics and row.start_offered:
            return
        with self.db.write() as uow:
            team = row.team_id
            uow.mlflow_runs.refresh(team, run.run_id, run.status, run.name, run.metrics, self.now)
            experiment = uow.experiments.get(team, number)
            if (
                experiment is not None
                and experiment.status is Status.PROPOSED
                and not uow.mlflow_runs.start_offered_for(experiment.id)
                and uow.mlflow_runs.offer_start(team, run.run_id, self.now)
            ):
                project = uow.projects.require(team, experiment.project)
                url = row.url or self.mlflow.client.run_url(run)
                for message in self.notices.mlflow_run_started(experiment, project, run, url):
                    uow.outbox.add(message, self.now)
                done.append(f"{experiment.key}: run {run.run_id} started; Start offered")
            uow.commit()

    def _import(self, run: Run, row: LinkedRun, number: int, done: list[str]) -> bool:
        actor = Actor(row.team_id, MLFLOW_ACTOR, pipeline=True)
        ctx = Context(actor, self.now, self.notices, self.timezone, mlflow=self.mlflow)
        try:
            recorded = import_run(
                self.db, ctx, self.mlflow, run, number, event_id=f"mlflow-run:{run.run_id}"
            )
        except (MlflowUnavailable, StorageError):
            raise
        except NoPredictions:
            self._finish(run, row, Outcome.NO_PREDICTIONS, done)
            return True
        except NotFound as exc:  # the experiment went away meanwhile
            self._finish(run, row, Outcome.SKIPPED, done, note=str(exc))
            return True
        except MlgovError as exc:
            self._finish(run, row, Outcome.REFUSED, done, note=str(exc), tell=True)
            return True
        if recorded is not None:
            done.append(
                f"{recorded.experiment.key}: run {run.run_id} imported as evaluation"
                f" #{recorded.evaluation_id}"
            )
        return True

    def _finish(
        self,
        run: Run,
        row: LinkedRun,
        outcome: Outcome,
        done: list[str],
        *,
        note: str = "",
        tell: bool = False,
    ) -> None:
        """Record the run's end once; ``tell``: one line in the experiment's thread."""
        with self.db.write() as uow:
            team = row.team_id
            if run.status != "DELETED":
                uow.mlflow_runs.refresh(
                    team, run.run_id, run.status, run.name, run.metrics, self.now
                )
            if not uow.mlflow_runs.finish(team, run.run_id, outcome, self.now, note=note[:2000]):
                return  # another replica did
            experiment = uow.experiments.get(team, row.experiment_number or 0)
            if tell and experiment is not None:
                project = uow.projects.require(team, experiment.project)
                url = row.url or self.mlflow.client.run_url(run)
                problem = note if outcome is Outcome.REFUSED else ""
                for message in self.notices.mlflow_run_ended(
                    experiment, project, run, url, problem
                ):
                    uow.outbox.add(message, self.now)
            uow.commit()
        key = f"EXP-{row.experiment_number}"
        done.append(f"{key}: run {run.run_id} {outcome.value}" + (f" ({note})" if note else ""))


def _when(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms is not None else None
