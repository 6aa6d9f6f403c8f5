"""One model's metrics on its own rows: AUC, average precision, probability metrics, errors.

A threshold of 0.5 turns a score into a decision: ``score >= 0.5`` is positive (as
scikit-learn's ``accuracy_score(y, score >= 0.5)``). Probability metrics (log loss, Brier,
accuracy, F1) are None when any score lies outside [0, 1]: such scores are not
probabilities. Their per-row terms are here too, for the paired intervals of
:mod:`bot.domain.stats`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from bot.domain.delong import Ranking, _auc, rank

FloatArray = npt.NDArray[np.float64]

# scikit-learn (>= 1.5) clips probabilities to [eps, 1 - eps] with the dtype's machine
# epsilon before taking logs; older versions used 1e-15. We follow the current one.
_EPS = float(np.finfo(np.float64).eps)
PROBABILITY_METRICS = ("log_loss", "brier", "accuracy", "f1")


def _average_precision(r: Ranking) -> float | None:
    """Average precision as scikit-learn defines it: Σ (R_k − R_{k−1}) P_k over thresholds.

    Each distinct score is one threshold (tied rows enter together), walked from the top.
    """
    m = r.positives
    if m == 0:
        return None
    pos = r.pos[::-1]
    precision = np.cumsum(pos) / np.cumsum(pos + r.neg[::-1])
    return float(np.dot(pos, precision) / m)


def is_probability(score: FloatArray) -> bool:
    """Whether every score lies in [0, 1]."""
    return bool(score.size == 0 or (score.min() >= 0.0 and score.max() <= 1.0))


def log_loss_terms(y_true: FloatArray, score: FloatArray) -> FloatArray:
    """Per-row log loss, probabilities clipped to [eps, 1 − eps] as scikit-learn does.

    −log(p) for a positive, −log(1 − p) for a negative (scikit-learn's form, so the results
    agree to the last bits; one log per row).
    """
    p = np.clip(score, _EPS, 1.0 - _EPS)
    out: FloatArray = -np.log(np.where(y_true == 1.0, p, 1.0 - p))
    return out


def brier_terms(y_true: FloatArray, score: FloatArray) -> FloatArray:
    out: FloatArray = (score - y_true) ** 2
    return out


def correct_terms(y_true: FloatArray, score: FloatArray) -> FloatArray:
    """1.0 where the decision ``score >= 0.5`` equals the label, else 0.0."""
    out: FloatArray = ((score >= 0.5) == (y_true == 1.0)).astype(np.float64)
    return out


def f1_at_half(y_true: FloatArray, score: FloatArray) -> float | None:
    """F1 of the decision ``score >= 0.5``; None when there is neither a positive nor a call."""
    predicted = score >= 0.5
    actual = y_true == 1.0
    tp = int(np.count_nonzero(predicted & actual))
    wrong = int(np.count_nonzero(predicted != actual))
    return 2.0 * tp / (2.0 * tp + wrong) if tp or wrong else None


MEAN_METRICS = {"log_loss": log_loss_terms, "brier": brier_terms, "accuracy": correct_terms}


def probability_terms(y_true: FloatArray, score: FloatArray) -> dict[str, FloatArray] | None:
    """The per-row terms whose means are log loss, Brier and accuracy (None: not probabilities)."""
    if not is_probability(score):
        return None
    return {name: terms(y_true, score) for name, terms in MEAN_METRICS.items()}


def _classification_from(
    y_true: FloatArray, score: FloatArray, r: Ranking, terms: dict[str, FloatArray] | None
) -> dict[str, float | None]:
    both = r.positives > 0 and r.negatives > 0
    metrics: dict[str, float | None] = {
        "auc": _auc(r) if both else None,
        "ap": _average_precision(r),
    }
    for name in MEAN_METRICS:
        metrics[name] = float(terms[name].mean()) if terms is not None else None
    metrics["f1"] = f1_at_half(y_true, score) if terms is not None else None
    return metrics


def classification_metrics(y_true: FloatArray, score: FloatArray) -> dict[str, float | None]:
    """auc, ap, log_loss, brier, accuracy and f1 (at 0.5) of one model.

    auc is None with a single class, ap with no positive; the probability metrics are None
    when any score is outside [0, 1].
    """
    terms = probability_terms(y_true, score)
    return _classification_from(y_true, score, rank(y_true, score), terms)


def regression_metrics(y_true: FloatArray, pred: FloatArray) -> dict[str, float]:
    """rmse, mae and r2 of one model (r2 of a constant y_true: 1 if perfect, else 0, as sklearn)."""
    error = y_true - pred
    ss_res = float(np.dot(error, error))
    centred = y_true - y_true.mean()
    ss_tot = float(np.dot(centred, centred))
    if ss_tot > 0.0:
        r2 = 1.0 - ss_res / ss_tot
    else:
        r2 = 1.0 if ss_res == 0.0 else 0.0
    return {
        "rmse": math.sqrt(ss_res / error.shape[0]),
        "mae": float(np.abs(error).mean()),
        "r2": r2,
    }
