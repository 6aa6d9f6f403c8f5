"""A slow, independent DeLong reference: structural components from pairwise comparisons.

Straight from DeLong, DeLong & Clarke-Pearson (1988), with no ranks and no sorting:
psi(x, y) = 1 if x > y, 1/2 if x == y, 0 otherwise, for every (positive x, negative y);
V10(x_i) = mean over negatives of psi, V01(y_j) = mean over positives of psi;
S = S10/m + S01/n with S10, S01 the sample covariance matrices (divisor m − 1, n − 1).
O(m·n) memory and time: for small data sets in tests only.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def components(y_true: FloatArray, score: FloatArray) -> tuple[list[float], list[float]]:
    """V10 for each positive and V01 for each negative, by explicit double loops."""
    positives = [float(s) for s, y in zip(score, y_true, strict=True) if y == 1.0]
    negatives = [float(s) for s, y in zip(score, y_true, strict=True) if y == 0.0]

    def psi(x: float, y: float) -> float:
        return 1.0 if x > y else 0.5 if x == y else 0.0

    v10 = [sum(psi(x, y) for y in negatives) / len(negatives) for x in positives]
    v01 = [sum(psi(x, y) for x in positives) / len(positives) for y in negatives]
    return v10, v01


def _covariance(a: list[float], b: list[float]) -> float:
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    return sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b, strict=True)) / (len(a) - 1)


def auc_and_covariance(
    y_true: FloatArray, scores: list[FloatArray]
) -> tuple[list[float], list[list[float]]]:
    """AUC of each model and DeLong's covariance matrix S10/m + S01/n."""
    parts = [components(y_true, s) for s in scores]
    m, n = len(parts[0][0]), len(parts[0][1])
    aucs = [sum(v10) / m for v10, _ in parts]
    cov = [
        [
            _covariance(parts[i][0], parts[j][0]) / m + _covariance(parts[i][1], parts[j][1]) / n
            for j in range(len(scores))
        ]
        for i in range(len(scores))
    ]
    return aucs, cov


def paired_test(
    y_true: FloatArray, candidate: FloatArray, baseline: FloatArray
) -> tuple[float, float, float, float]:
    """(ΔAUC, Var(Δ), z, two-sided p) of DeLong's paired test, p via the normal tail."""
    aucs, cov = auc_and_covariance(y_true, [candidate, baseline])
    delta = aucs[0] - aucs[1]
    variance = cov[0][0] + cov[1][1] - 2.0 * cov[0][1]
    z = delta / math.sqrt(variance)
    p = math.erfc(abs(z) / math.sqrt(2.0))
    return delta, variance, z, p
