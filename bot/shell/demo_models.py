"""Real evaluations for `mlgov shell --demo`: small models trained when the demo is seeded.

The data sets ship inside scikit-learn, so nothing is downloaded. Breast cancer (569 rows,
malignant = positive) gives the classification pair: a logistic regression on two weak
features as the baseline, against gradient boosting on five. Across split seeds 0-29 their
held-out AUCs span about 0.77-0.89 and 0.92-0.96 (seed 0: 0.77 and 0.94), so the summary
shows a realistic, clearly better candidate and never the leakage warning at AUC >= 0.99.
Diabetes (442 rows) gives the regression pair: a line through BMI against all ten features.
Both models of a pair are scored on the same held-out rows, with ids naming dataset rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.domain.evaluation import FloatArray, Kind, Predictions

TEST_SHARE = 0.3
CLASSIFICATION_ID_PREFIX = "bc"
REGRESSION_ID_PREFIX = "db"
BASELINE_FEATURES = ("mean texture", "mean smoothness")
CANDIDATE_FEATURES = (*BASELINE_FEATURES, "mean compactness", "mean symmetry", "radius error")
REGRESSION_BASELINE_FEATURES = ("bmi",)


@dataclass(frozen=True)
class DemoEvaluations:
    """Baseline and candidate predictions on one held-out set, per task."""

    baseline: Predictions
    candidate: Predictions
    regression_baseline: Predictions | None = None
    regression_candidate: Predictions | None = None
    # A third model on the classification rows, left for the user to upload (demo-holdout.csv).
    tryout: Predictions | None = None


def train_demo_models(seed: int = 0) -> DemoEvaluations:
    """Train the demo's models on a seeded split and score them on the held-out rows."""
    baseline, candidate, tryout = _classification_models(seed)
    regression_baseline, regression_candidate = _regression_pair(seed)
    return DemoEvaluations(baseline, candidate, regression_baseline, regression_candidate, tryout)


def _classification_models(seed: int) -> tuple[Predictions, Predictions, Predictions]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    data = load_breast_cancer()
    features = _columns(data.data, list(data.feature_names))
    # sklearn codes malignant as 0; the class to find is the positive one.
    malignant = (np.asarray(data.target) == 0).astype(np.float64)
    train, test = _split(malignant.size, seed, stratify=malignant)

    def scored(model: Any, names: tuple[str, ...]) -> Predictions:
        x = features(names)
        model.fit(x[train], malignant[train])
        proba = np.asarray(model.predict_proba(x[test])[:, 1], dtype=np.float64)
        return Predictions(
            Kind.CLASSIFICATION, malignant[test], proba, _ids(CLASSIFICATION_ID_PREFIX, test)
        )

    baseline = scored(make_pipeline(StandardScaler(), LogisticRegression()), BASELINE_FEATURES)
    # One OpenMP thread: on 400 rows more threads gain nothing, and on a busy machine their
    # spin-waiting turned a 0.1 s fit into several seconds.
    with threadpool_limits(limits=1, user_api="openmp"):
        candidate = scored(HistGradientBoostingClassifier(random_state=seed), CANDIDATE_FEATURES)
    # The baseline's model on the candidate's features: between the two, for the user to try.
    tryout = scored(make_pipeline(StandardScaler(), LogisticRegression()), CANDIDATE_FEATURES)
    return baseline, candidate, tryout


def _regression_pair(seed: int) -> tuple[Predictions, Predictions]:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    data = load_diabetes()
    names = list(data.feature_names)
    features = _columns(data.data, names)
    target = np.asarray(data.target, dtype=np.float64)
    train, test = _split(target.size, seed, stratify=None)

    def scored(columns: tuple[str, ...]) -> Predictions:
        x = features(columns)
        model = LinearRegression().fit(x[train], target[train])
        pred = np.asarray(model.predict(x[test]), dtype=np.float64)
        return Predictions(Kind.REGRESSION, target[test], pred, _ids(REGRESSION_ID_PREFIX, test))

    return scored(REGRESSION_BASELINE_FEATURES), scored(tuple(names))


def _columns(data: Any, names: list[str]) -> Callable[[tuple[str, ...]], FloatArray]:
    """A function picking named columns of ``data`` as a float array."""
    matrix = np.asarray(data, dtype=np.float64)

    def pick(columns: tuple[str, ...]) -> FloatArray:
        return matrix[:, [names.index(name) for name in columns]]

    return pick


def _split(
    rows: int, seed: int, *, stratify: FloatArray | None
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Seeded train and held-out row indices, each in dataset order."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        np.arange(rows), test_size=TEST_SHARE, random_state=seed, stratify=stratify
    )
    return np.sort(train), np.sort(test)


def _ids(prefix: str, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.str_]:
    """Stable ids naming dataset rows, 1-based: ``bc-0001`` is the data set's first row."""
    return np.array([f"{prefix}-{row + 1:04d}" for row in rows], dtype=np.str_)
