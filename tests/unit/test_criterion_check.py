"""The success-criterion verdict a CI gate and the pipeline API answer, and how uploads are
credited: a pipeline by its name, never as a Slack member."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from bot.domain.criterion_check import check_criterion
from bot.domain.evaluation import Predictions
from bot.domain.ingest import parse_evaluation
from bot.domain.model import Direction, Experiment, Status, SuccessCriterion, Workstream
from bot.domain.summary import summarize
from bot.slack.blocks import who
from bot.slack.blocks.evaluations import credit

AUC_UP = SuccessCriterion("auc", Direction.HIGHER, 0.01)


def experiment(criterion: SuccessCriterion | None = AUC_UP) -> Experiment:
    now = datetime(2026, 3, 2, tzinfo=UTC)
    return Experiment(
        1, "T1", 7, "churn", "Trees", "h", "UALICE", Workstream.MAIN, criterion,
        Status.RUNNING, None, "", 1, now, now,
    )  # fmt: skip


def scores(strength: float, seed: int = 3) -> Predictions:
    rng = np.random.default_rng(seed)
    y = (np.arange(400) % 3 == 0).astype(int)
    score = 1 / (1 + np.exp(-(strength * y + rng.normal(0, 1, 400))))
    text = "id,y_true,y_score\n" + "".join(
        f"r{i},{a},{float(b)!r}\n" for i, (a, b) in enumerate(zip(y, score, strict=True))
    )
    evaluation = parse_evaluation(text.encode(), filename="p.csv")
    assert isinstance(evaluation, Predictions)
    return evaluation


def test_met_not_met_and_not_judged() -> None:
    weak, strong = scores(0.5), scores(3.0)
    met = check_criterion(experiment(), summarize(strong, weak, AUC_UP), compared=True)
    assert (met.met, met.word) == (True, "met")
    assert met.reason.startswith("auc +0.01 vs baseline (higher is better): met (Δ +")

    same = check_criterion(experiment(), summarize(weak, weak, AUC_UP), compared=True)
    assert (same.met, same.word) == (False, "not met")
    assert "no significant difference" in same.reason

    alone = check_criterion(experiment(), summarize(strong, None, AUC_UP), compared=False)
    assert (alone.met, alone.word) == (None, "not judged")
    assert "not compared with a baseline" in alone.reason


def test_without_a_written_criterion_nothing_is_met_whatever_the_default_says() -> None:
    summary = summarize(scores(3.0), scores(0.5), None)
    assert summary.criterion_met is True  # the default: AUC up by any amount
    check = check_criterion(experiment(None), summary, compared=True)
    assert check.met is None and "EXP-7 has no success criterion written" in check.reason
    assert check.to_json() == {"met": None, "verdict": "not judged", "reason": check.reason}


def test_pipelines_and_jobs_are_named_people_are_mentioned() -> None:
    assert who("UALICE") == "<@UALICE>"
    assert who("cli") == "the `cli` pipeline" and who("api") == "the `api` pipeline"
    assert who("mlgov") == "`mlgov`"
    assert credit("api", "preds.csv") == "Sent by the `api` pipeline (preds.csv)"
    assert credit("UALICE", "a<b>.csv") == "Uploaded by <@UALICE> (a&lt;b&gt;.csv)"
    assert credit("cli", "") == "Sent by the `cli` pipeline"
    assert credit("", "x.csv") == ""
