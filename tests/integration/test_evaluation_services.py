"""Evaluations, baselines and parity through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sqlalchemy import func, select

from bot.domain.commands import NewExperiment
from bot.domain.errors import (
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from bot.domain.evaluation import Evaluation, Kind, Predictions, ScalarMetrics
from bot.domain.model import Actor
from bot.services import evaluations
from bot.services.evaluations import Recorded, Submission
from bot.services.experiments import create_experiment, take_step
from storage.models import BaselineRow, EvaluationRow, ParityRow
from tests.integration.conftest import TEAM, Team

ROWS = 400


def predictions(seed: int = 1, strength: float = 1.0, rows: int = ROWS) -> Predictions:
    rng = np.random.default_rng(3)  # the same held-out labels for every model
    y = (rng.random(rows) < 0.4).astype(float)
    noise = np.random.default_rng(seed).normal(0, 1, rows)
    score = 1 / (1 + np.exp(-(strength * (2 * y - 1) + noise)))
    ids = np.array([f"{i:04d}" for i in range(rows)], dtype=np.str_)
    return Predictions(Kind.CLASSIFICATION, y, score, ids)


def count(team: Team, row: type) -> int:
    return team.read(lambda uow: int(uow.session.scalar(select(func.count()).select_from(row))))


@pytest.fixture
def churn(team: Team) -> Team:
    """alice's EXP-1 (to become the baseline) and bob's EXP-2 (the candidate), running."""
    for who, title in (("alice", "Logistic baseline"), ("bob", "Boosting")):
        team.run(who, create_experiment, NewExperiment("churn", title, "h", metric="auc"))
        team.run(who, take_step, 1 if who == "alice" else 2, "start")
    return team


def submit(
    team: Team, who: str | Actor, number: int, evaluation: Evaluation, source: str = "cli"
) -> Recorded | None:
    return evaluations.submit_evaluation(
        team.db, team.ctx(who), Submission(number, evaluation, source, "preds.csv")
    )


def test_rows_are_kept_exactly_and_pair_a_later_evaluation(churn: Team) -> None:
    team = churn
    baseline = predictions(seed=1, strength=0.5)
    first = submit(team, "alice", 1, baseline)
    assert first is not None and first.summary.paired is False
    loaded = team.read(lambda uow: uow.evaluations.stored(first.evaluation_id).open())
    assert isinstance(loaded, Predictions)
    assert np.array_equal(loaded.y_true, baseline.y_true)
    assert np.array_equal(loaded.score, baseline.score)  # bit for bit
    assert loaded.ids is not None and list(loaded.ids[:2]) == ["0000", "0001"]
    assert loaded.fingerprint() == baseline.fingerprint()

    team.run("manager", evaluations.set_baseline, "churn", 1)
    candidate = predictions(seed=2, strength=1.5)
    second = submit(team, "alice", 2, candidate)
    assert second is not None and second.summary.paired
    assert second.baseline is not None and second.baseline.experiment_number == 1
    auc = second.summary.deltas["auc"]
    expected = roc_auc_score(candidate.y_true, candidate.score) - roc_auc_score(
        baseline.y_true, baseline.score
    )
    assert auc.delta == pytest.approx(expected, abs=1e-12)
    actions = team.read(
        lambda uow: [e.action for e in uow.audit.for_experiment(uow.experiments.require(TEAM, 2))]
    )
    assert actions.count("evaluation") == 1
    # A shuffled file with ids pairs by id: the same comparison.
    order = np.random.default_rng(9).permutation(ROWS)
    assert candidate.ids is not None
    shuffled = Predictions(
        Kind.CLASSIFICATION, candidate.y_true[order], candidate.score[order], candidate.ids[order]
    )
    third = submit(team, "alice", 2, shuffled)
    assert third is not None
    assert third.summary.deltas["auc"].delta == pytest.approx(expected, abs=1e-12)


def test_baselines_are_set_by_managers_and_their_history_kept(churn: Team) -> None:
    team = churn
    with pytest.raises(NotFound, match="no evaluation yet"):
        team.run("manager", evaluations.set_baseline, "churn", 1)
    submit(team, "alice", 1, predictions(1, 0.5))
    submit(team, "alice", 2, predictions(2, 1.5))
    for who in ("alice", "erin"):
        with pytest.raises(PermissionDenied, match="Only a manager"):
            team.run(who, evaluations.set_baseline, "churn", 1)
    assert count(team, BaselineRow) == 0
    team.run("manager", evaluations.set_baseline, "churn", 1)
    team.clock.advance(days=1)
    team.run("boss", evaluations.set_baseline, "churn", 2)
    history = team.run("bob", evaluations.baseline_history, "churn")
    assert [b.experiment_number for b in history] == [2, 1]
    assert [b.set_by for b in history] == ["UBOSS", "UMGR"]
    audited = team.read(
        lambda uow: [e for e in uow.audit.for_experiment(uow.experiments.require(TEAM, 2))]
    )
    (entry,) = [e for e in audited if e.action == "baseline"]
    assert entry.detail["previous"] == "EXP-1"


@pytest.mark.parametrize(
    "bad, message",
    [
        (predictions(rows=ROWS - 1), "rows"),
        (
            Predictions(Kind.REGRESSION, np.arange(ROWS, dtype=float), np.zeros(ROWS)),
            "regression",
        ),
    ],
    ids=["row count differs from the baseline's", "kind differs from the baseline's"],
)
def test_an_evaluation_that_cannot_meet_the_baseline_writes_nothing(
    churn: Team, bad: Predictions, message: str
) -> None:
    team = churn
    submit(team, "alice", 1, predictions(1, 0.5))
    team.run("manager", evaluations.set_baseline, "churn", 1)
    before = (count(team, EvaluationRow), team.audit_count(), len(team.outbox_rows()))
    with pytest.raises(ValidationError, match=message):
        submit(team, "alice", 2, bad)
    assert (count(team, EvaluationRow), team.audit_count(), len(team.outbox_rows())) == before


def test_who_may_submit(churn: Team) -> None:
    team = churn
    with pytest.raises(PermissionDenied):
        submit(team, "zoe", 2, predictions())
    pipeline = Actor(TEAM, "api", pipeline=True)
    assert submit(team, pipeline, 2, predictions(), source="api") is not None
    with pytest.raises(PermissionDenied):
        team.run(pipeline, evaluations.set_baseline, "churn", 2)
    team.run("alice", take_step, 1, "abandon", text="superseded")
    with pytest.raises(InvalidTransition, match="abandoned"):
        submit(team, "alice", 1, predictions())
    assert count(team, EvaluationRow) == 1


def test_scalar_metrics_are_shown_but_never_significant(churn: Team) -> None:
    team = churn
    submit(team, "alice", 1, predictions(1, 0.5))
    team.run("manager", evaluations.set_baseline, "churn", 1)
    recorded = submit(team, "alice", 2, ScalarMetrics(Kind.CLASSIFICATION, {"auc": 0.93}))
    assert recorded is not None
    assert recorded.summary.verdict is None and not recorded.summary.deltas
    assert recorded.summary.metrics["auc"] == pytest.approx(0.93)
    found = team.run("bob", evaluations.metrics, 2)
    assert found.latest is not None and found.latest.id == recorded.evaluation_id
    assert found.evaluations == 1 and found.compared_with == 1


def test_parity_is_stored_and_announced(churn: Team) -> None:
    team = churn
    prototype = predictions(2, 1.5)
    moved = prototype.score.copy()
    moved[:5] += 0.01
    production = Predictions(Kind.CLASSIFICATION, prototype.y_true, moved, prototype.ids)
    result = evaluations.record_parity(
        team.db, team.ctx("erin"), 2, prototype, production, source="cli", tolerance=1e-6
    )
    assert result is not None and result.beyond == 5 and not result.passed
    assert count(team, ParityRow) == 1
    stored = team.run("bob", evaluations.metrics, 2).parity
    assert stored is not None and stored.result["beyond"] == 5
    assert ("parity_checked", ("EXP-2", result)) in team.notices.calls


def test_an_infinite_parity_gap_is_stored_on_every_backend(churn: Team) -> None:
    team = churn
    prototype = predictions(2, 1.5)
    huge = prototype.score.copy()
    huge[0], huge[1] = 1e308, -1e308
    production = Predictions(Kind.CLASSIFICATION, prototype.y_true, huge, prototype.ids)
    flipped = Predictions(Kind.CLASSIFICATION, prototype.y_true, -huge, prototype.ids)
    result = evaluations.record_parity(
        team.db, team.ctx("erin"), 2, production, flipped, source="cli"
    )
    assert result is not None and result.max_abs_delta == float("inf")
    stored = team.run("bob", evaluations.metrics, 2).parity
    assert stored is not None
    from bot.domain.parity import Parity

    assert Parity.from_json(stored.result).max_abs_delta == float("inf")


def test_a_new_held_out_set_is_recorded_unpaired_and_can_become_the_baseline(
    churn: Team,
) -> None:
    team = churn
    submit(team, "alice", 1, predictions(1, 0.5))
    team.run("manager", evaluations.set_baseline, "churn", 1)
    bigger = predictions(2, 1.5, rows=ROWS + 100)
    with pytest.raises(ValidationError, match="--new-holdout"):
        submit(team, "bob", 2, bigger)
    declared = evaluations.submit_evaluation(
        team.db,
        team.ctx("bob"),
        Submission(2, bigger, "cli", "new-holdout.csv", new_holdout=True),
    )
    assert declared is not None and not declared.summary.deltas
    assert declared.summary.verdict is None and declared.baseline is None
    assert any("new held-out set" in w and "EXP-1" in w for w in declared.summary.warnings)
    team.run("manager", evaluations.set_baseline, "churn", 2)
    # The next evaluation on the new held-out set is compared with it.
    again = submit(team, "bob", 2, predictions(3, 1.0, rows=ROWS + 100))
    assert again is not None and again.summary.paired and "auc" in again.summary.deltas
