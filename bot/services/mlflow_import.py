"""An MLflow run's predictions, imported as an evaluation through the upload's own path.

The file is found among the run's artifacts (MLGOV_MLFLOW_ARTIFACT, or ``--artifact``),
checked by name and size before a byte is fetched, parsed by the same ingest as an
upload and recorded by ``submit_evaluation``: same validation, statistics, summary and
chart, credited to "mlflow run <id>", with the run's logged scalar metrics beside.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from bot.domain.commands import EvaluateUpload
from bot.domain.errors import ConfigError, MlflowError, NotFound, ValidationError
from bot.domain.evaluation import Kind
from bot.domain.ingest import MAX_BYTES, parse_evaluation
from bot.domain.mlflow_runs import ARTIFACT_SUFFIXES, MLFLOW_OFF, Outcome, predictions_path
from bot.domain.model import Experiment
from bot.mlflow.entities import Run
from bot.services import computing, evaluations
from bot.services.evaluations import Recorded, Submission
from bot.services.ports import Context, MlflowSource
from storage.unit_of_work import Database, UnitOfWork

MLFLOW_ACTOR = "mlflow"


class NoPredictions(ValidationError):
    """The run logged no predictions file: nothing to import (not an error of the file)."""


def find_predictions(source: MlflowSource, run: Run, artifact: str | None = None) -> str | None:
    """The path of the run's predictions file, or None when it logged none.

    Raises ValidationError for a file mlgov will not read (its kind or size), before
    anything is downloaded.
    """
    wanted = (artifact or source.artifact).strip("/")
    folder = PurePosixPath(wanted).parent.as_posix()
    listing = source.client.list_artifacts(run.run_id, "" if folder == "." else folder)
    entries = {f.path: f for f in listing}
    if wanted in entries and entries[wanted].is_dir:
        entries.update({f.path: f for f in source.client.list_artifacts(run.run_id, wanted)})
    if artifact:  # named by hand: that file or nothing
        path: str | None = wanted if wanted in entries and not entries[wanted].is_dir else None
        if path is None:
            raise ValidationError(f"The run has no artifact {wanted!r}.")
    else:
        path = predictions_path(wanted, [(p, f.is_dir) for p, f in entries.items()])
    if path is None:
        return None
    if PurePosixPath(path).suffix.lower() not in ARTIFACT_SUFFIXES:
        raise ValidationError(
            f"{path} is not a predictions file: I read {', '.join(ARTIFACT_SUFFIXES)} only"
            " (never pickles or models)."
        )
    size = entries[path].size
    if size is not None and size > MAX_BYTES:
        raise ValidationError(
            f"{path} is {size:,} bytes, over the {MAX_BYTES // 2**20} MB limit. Log a sample"
            " of the held-out set."
        )
    return path


def import_run(
    db: Database,
    ctx: Context,
    source: MlflowSource,
    run: Run,
    number: int,
    *,
    artifact: str | None = None,
    event_id: str | None = None,
    kind: Kind | None = None,
    new_holdout: bool = False,
) -> Recorded | None:
    """Record the run's predictions as an evaluation of experiment ``number``.

    None when ``event_id`` was claimed already (the import was done). A linked run is
    marked imported in the same transaction, so the sync does not import it again.
    """
    evaluations.check_submitter(db, ctx, number)
    path = find_predictions(source, run, artifact)
    if path is None:
        raise NoPredictions(
            f"MLflow run {run.run_id} has no predictions file under {source.artifact}"
            f" ({', '.join(ARTIFACT_SUFFIXES)}); log one there."
        )
    data = source.client.download_artifact(run.run_id, path)
    # Parsed as an upload is: in the computing process when there is one (not beside acks).
    evaluation = computing.offload(
        parse_evaluation, data, filename=PurePosixPath(path).name, kind=kind
    )
    submission = Submission(
        number,
        evaluation,
        "mlflow",
        f"mlflow run {run.run_id}: {path}"[:200],
        new_holdout,
        logged=run.metrics,
    )

    def mark_imported(uow: UnitOfWork, experiment: Experiment, evaluation_id: int) -> None:
        uow.mlflow_runs.finish(
            experiment.team_id, run.run_id, Outcome.IMPORTED, ctx.now, evaluation_id=evaluation_id
        )

    return evaluations.submit_evaluation(
        db, ctx, submission, event_id=event_id, on_record=mark_imported
    )


def import_named_run(
    db: Database,
    ctx: Context,
    command: EvaluateUpload,
    event_id: str | None = None,
    artifact: str | None = None,
) -> Recorded | None:
    """``@mlgov eval EXP-7 mlflow:<run id>`` and ``mlgov eval import``: fetch the run,
    import its predictions (``artifact``: this file of the run instead)."""
    source = require_mlflow(ctx)
    assert command.mlflow_run is not None
    run = fetch_run(source, command.mlflow_run, "nothing was recorded")
    return import_run(
        db,
        ctx,
        source,
        run,
        command.number,
        artifact=artifact,
        event_id=event_id,
        kind=command.kind,
        new_holdout=command.new_holdout,
    )


def fetch_run(source: MlflowSource, run_id: str, unchanged: str) -> Run:
    """The run; NotFound (saying ``unchanged``) when MLflow has no such run."""
    try:
        return source.client.get_run(run_id)
    except MlflowError as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise NotFound(f"MLflow has no run {run_id}; {unchanged}.") from None
        raise


def require_mlflow(ctx: Context) -> MlflowSource:
    """The configured MLflow server; a clear refusal when MLflow is off."""
    if ctx.mlflow is None:
        raise ConfigError(MLFLOW_OFF)
    return ctx.mlflow
