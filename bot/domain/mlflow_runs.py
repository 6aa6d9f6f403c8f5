"""MLflow runs linked to experiments (SPEC §12): references, the tag, what a sync does.

Pure: a run is described by the values mlgov keeps of it; nothing here talks to MLflow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import PurePosixPath

from bot.domain.errors import ValidationError
from bot.domain.model import KEY_PATTERN

# A run tagged so belongs to the experiment the value names (`EXP-7`).
TAG = "mlgov.experiment"
# Who linked a run found by its tag (a person's id when linked by hand).
BY_TAG = "mlflow"
# MLflow's run ids are uuid4 hex strings.
RUN_ID = re.compile(r"[0-9a-f]{32}")
# A run's page: `…/#/experiments/1/runs/<id>` (MLflow's UI; Databricks: `…/ml/experiments/…`).
RUN_URL = re.compile(r"https?://[^\s<>|]+?/experiments/[^/\s]+/runs/([0-9a-f]{32})(?=$|[/?#])")
REFERENCE = "mlflow:<run id> or the run's MLflow URL"
MLFLOW_OFF = "MLflow is off: MLFLOW_TRACKING_URI is not set (see the README, With MLflow)."
# The only files mlgov ever downloads from MLflow: an evaluation's formats, as uploads.
ARTIFACT_SUFFIXES = (".csv", ".parquet", ".json")


def run_reference(word: str) -> str | None:
    """The run id that ``mlflow:<id>`` or a pasted run URL names; None for other words."""
    if word.lower().startswith("mlflow:"):
        run_id = word[len("mlflow:") :]
        if not RUN_ID.fullmatch(run_id):
            raise ValidationError(
                f"'{run_id[:40]}' is not an MLflow run id: 32 hexadecimal characters, as in"
                " the run's page (mlflow:0123456789abcdef0123456789abcdef)."
            )
        return run_id
    match = RUN_URL.match(word)
    return match.group(1) if match else None


def tagged_number(value: str) -> int | None:
    """The experiment number a tag's value names (`EXP-7`, any case), or None."""
    match = KEY_PATTERN.match(value.strip())
    return int(match.group(1)) if match else None


class Outcome(StrEnum):
    """What the sync did with a run that ended; None while it has done nothing final."""

    IMPORTED = "imported"  # the predictions became an evaluation
    NO_PREDICTIONS = "no-predictions"  # finished without the artifact: nothing to import
    REFUSED = "refused"  # the artifact was not a valid evaluation (the thread was told why)
    FAILED = "failed"  # the run failed or was killed (the thread was told)
    SKIPPED = "skipped"  # the tag names no experiment mlgov knows (logged)


@dataclass(frozen=True)
class LinkedRun:
    """A run mlgov follows for an experiment, as last seen."""

    team_id: str
    run_id: str
    experiment_number: int | None  # None: the tag named no experiment mlgov knows
    status: str
    url: str
    name: str = ""
    linked_by: str = BY_TAG
    started_at: datetime | None = None
    start_checked: bool = False  # whether the sync looked at offering Start (once a run)
    outcome: Outcome | None = None
    evaluation_id: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def done(self) -> bool:
        """Whether nothing is left for the sync to do with this run."""
        return self.outcome is not None


def predictions_path(configured: str, listing: list[tuple[str, bool]]) -> str | None:
    """The predictions file among a run's artifacts, or None when the run has none.

    ``configured`` is MLGOV_MLFLOW_ARTIFACT: a file (`eval/holdout.parquet`), or a name
    without extension (`mlgov/predictions`) that matches `mlgov/predictions.csv|.parquet|.json`
    or the one file in the folder `mlgov/predictions/`. ``listing`` holds (path, is_dir) of
    the configured path's folder, and of the folder itself when it is one.
    """
    files = [p for p, is_dir in listing if not is_dir]
    if PurePosixPath(configured).suffix:
        return configured if configured in files else None
    beside = [p for p in files if PurePosixPath(p).with_suffix("").as_posix() == configured]
    inside = [p for p in files if PurePosixPath(p).parent.as_posix() == configured]
    found = beside or inside
    readable = [p for p in found if PurePosixPath(p).suffix.lower() in ARTIFACT_SUFFIXES]
    if len(readable) > 1:
        names = ", ".join(sorted(readable)[:5])
        raise ValidationError(
            f"The run has several predictions files ({names}); log one, or import one with"
            " --artifact PATH."
        )
    # A file of another kind is returned to be refused by name (never downloaded).
    chosen = readable or sorted(found)
    return chosen[0] if chosen else None
