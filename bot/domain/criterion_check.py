"""Whether an evaluation meets its experiment's success criterion: the one verdict that
`mlgov eval push --require-criterion` (a CI gate) and the pipeline API both answer.

Met only when it was judged and met. Not judged — no criterion written, no baseline to
compare with, rows that do not pair, no test on the metric — is never a pass: a gate that
cannot see must not open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.domain.model import Experiment
from bot.domain.summary import Summary


@dataclass(frozen=True)
class CriterionCheck:
    met: bool | None  # None: not judged
    reason: str

    @property
    def word(self) -> str:
        return {True: "met", False: "not met", None: "not judged"}[self.met]

    def to_json(self) -> dict[str, Any]:
        return {"met": self.met, "verdict": self.word, "reason": self.reason}


def check_criterion(experiment: Experiment, summary: Summary, compared: bool) -> CriterionCheck:
    """The verdict on ``experiment``'s criterion; ``compared``: a baseline was used."""
    criterion = experiment.criterion
    if criterion is None:
        return CriterionCheck(
            None,
            f"{experiment.key} has no success criterion written (`/exp edit {experiment.key}"
            " --metric auc --min-delta 0.01`).",
        )
    wanted = criterion.describe()
    if not compared:
        return CriterionCheck(
            None,
            f"{wanted}: not compared with a baseline (the project has none yet, or this is"
            " a new held-out set), so it cannot be judged.",
        )
    delta = summary.deltas.get(criterion.metric)
    if summary.criterion_met is None or summary.verdict is None:
        why = "no test on that metric" if summary.paired else "the rows do not pair"
        return CriterionCheck(None, f"{wanted}: cannot be judged ({why}; see the warnings).")
    got = f"Δ {delta.delta:+.4f}, " if delta is not None and delta.delta is not None else ""
    return CriterionCheck(
        summary.criterion_met,
        f"{wanted}: {'met' if summary.criterion_met else 'not met'}"
        f" ({got}{summary.verdict.value}).",
    )
