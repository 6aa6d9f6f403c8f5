"""The ROC and residual charts posted in an experiment's thread: right numbers, small PNGs."""

from __future__ import annotations

import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score, roc_curve, root_mean_squared_error

from bot.charts import (
    RESIDUAL_SAMPLE,
    residual_chart,
    residual_figure,
    roc_chart,
    roc_figure,
    roc_points,
)
from bot.domain.errors import ValidationError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_PNG_BYTES = 150_000
Floats = npt.NDArray[np.float64]


def classification(
    rows: int, seed: int = 0, *, decimals: int | None = None
) -> tuple[Floats, Floats, Floats]:
    """Labels, a good score and a weaker one; rounding the scores makes many ties."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.3).astype(np.float64)
    good = rng.normal(size=rows) + 1.5 * y
    weak = rng.normal(size=rows) + 0.5 * y
    if decimals is not None:
        good, weak = np.round(good, decimals), np.round(weak, decimals)
    return y, good, weak


def regression(rows: int, seed: int = 0) -> tuple[Floats, Floats, Floats]:
    rng = np.random.default_rng(seed)
    actual = rng.normal(150.0, 50.0, rows)
    return actual, actual + rng.normal(0, 20.0, rows), 0.5 * actual + 75 + rng.normal(0, 40, rows)


def decoded(png: bytes) -> Image.Image:
    assert png.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def legend_texts(figure: object) -> list[str]:
    axes = figure.axes[0]  # type: ignore[attr-defined]
    return [text.get_text() for text in axes.get_legend().get_texts()]


# --- roc_points -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "decimals"), [(2, None), (7, None), (500, None), (500, 1), (20_000, 2), (20_000, None)]
)
def test_roc_auc_equals_sklearn(rows: int, decimals: int | None) -> None:
    y, good, _ = classification(rows, seed=rows, decimals=decimals)
    y[:2] = [0.0, 1.0]  # both classes even for the smallest sets
    _, _, area = roc_points(y, good)
    assert area == pytest.approx(roc_auc_score(y, good), abs=1e-12)


@pytest.mark.parametrize(("rows", "decimals"), [(2, None), (50, 1), (1_500, 2), (1_500, None)])
def test_roc_vertices_equal_sklearns_full_curve(rows: int, decimals: int | None) -> None:
    y, good, _ = classification(rows, seed=rows + 1, decimals=decimals)
    y[:2] = [0.0, 1.0]
    fpr, tpr, _ = roc_points(y, good, max_points=rows + 1)
    reference_fpr, reference_tpr, _ = roc_curve(y, good, drop_intermediate=False)
    np.testing.assert_allclose(fpr, reference_fpr, rtol=0, atol=1e-15)
    np.testing.assert_allclose(tpr, reference_tpr, rtol=0, atol=1e-15)


@pytest.mark.parametrize("rows", [10, 3_000, 200_000])
def test_roc_curve_is_monotone_from_origin_to_corner_and_bounded(rows: int) -> None:
    y, good, _ = classification(rows, seed=1)
    y[:2] = [0.0, 1.0]
    fpr, tpr, _ = roc_points(y, good, max_points=2000)
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert fpr.size <= 2000


def test_a_thinned_curve_draws_the_same_shape_as_the_full_one() -> None:
    y, good, _ = classification(200_000, seed=2)
    fpr, tpr, area = roc_points(y, good, max_points=500)
    full_fpr, full_tpr, _ = roc_curve(y, good)
    assert full_fpr.size > 10 * fpr.size  # thinning did happen
    # The area under the drawn polyline is the AUC in the legend, to the thinning's step.
    assert np.trapezoid(tpr, fpr) == pytest.approx(area, abs=2 / 500)
    # Every point of the full curve lies near the drawn line.
    drawn = np.interp(full_fpr, fpr, tpr)
    assert np.max(np.abs(drawn - full_tpr)) < 2 * 2 / 500


def test_all_tied_scores_give_the_chance_line() -> None:
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.0])
    fpr, tpr, area = roc_points(y, np.full(5, 0.3))
    assert area == 0.5 == roc_auc_score(y, np.full(5, 0.3))
    assert fpr.tolist() == [0.0, 1.0] and tpr.tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([1.0, 1.0, 1.0], [0.1, 0.2, 0.3], "both classes"),
        ([0.0, 0.0], [0.1, 0.2], "both classes"),
        ([0.0, 2.0, 1.0], [0.1, 0.2, 0.3], "0 and 1"),
        ([0.0, 1.0, 1.0], [0.1, np.nan, 0.3], "NaN"),
        ([0.0, 1.0, 1.0], [0.1, 0.2], "per row"),
        ([], [], "at least one row"),
    ],
)
def test_faulty_input_is_refused_with_a_reason(
    labels: list[float], scores: list[float], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        roc_chart(labels, scores)


# --- ROC chart --------------------------------------------------------------------------


@pytest.mark.parametrize("with_baseline", [True, False])
def test_roc_chart_is_a_small_800_by_600_png(with_baseline: bool) -> None:
    y, good, weak = classification(50_000, decimals=2)
    png = roc_chart(y, good, weak if with_baseline else None)
    assert decoded(png).size == (800, 600)
    assert len(png) < MAX_PNG_BYTES


def test_roc_legend_shows_the_aucs_of_both_models_and_of_chance() -> None:
    y, good, weak = classification(5_000, decimals=1)
    figure = roc_figure(y, good, weak, candidate_label="EXP-12", baseline_label="EXP-3")
    assert legend_texts(figure) == [
        f"EXP-12 (AUC {roc_auc_score(y, good):.3f})",
        f"EXP-3 (AUC {roc_auc_score(y, weak):.3f})",
        "no-ML baseline (AUC 0.500)",
    ]
    axes = figure.axes[0]
    assert "False positive rate" in axes.get_xlabel()
    assert "True positive rate" in axes.get_ylabel()
    assert axes.get_title() == f"ROC on the held-out set: 5,000 rows, {int(y.sum()):,} positive"


def test_roc_chart_without_baseline_has_candidate_and_chance_only() -> None:
    y, good, _ = classification(300)
    texts = legend_texts(roc_figure(y, good, title="Churn, March"))
    assert texts == [f"EXP-7 (AUC {roc_auc_score(y, good):.3f})", "no-ML baseline (AUC 0.500)"]


def test_two_rows_are_enough_for_both_charts() -> None:
    assert decoded(roc_chart([0, 1], [0.2, 0.9], [0.6, 0.4])).size == (800, 600)
    assert decoded(residual_chart([1.0, 2.0], [1.5, 1.5], [0.0, 3.0])).size == (800, 600)


def test_a_baseline_scored_on_other_rows_is_refused() -> None:
    y, good, weak = classification(100)
    with pytest.raises(ValidationError, match="per row"):
        roc_chart(y, good, weak[:-1])
    with pytest.raises(ValidationError, match="per row"):
        residual_chart(good, weak, good[:-1])


# --- residual chart ---------------------------------------------------------------------


def test_residual_legend_shows_each_models_rmse_on_all_rows() -> None:
    actual, pred, base = regression(20_000)
    figure = residual_figure(actual, pred, base, candidate_label="EXP-9")
    assert legend_texts(figure) == [
        f"EXP-9 (RMSE {root_mean_squared_error(actual, pred):#.4g})",
        f"baseline (RMSE {root_mean_squared_error(actual, base):#.4g})",
    ]
    axes = figure.axes[0]
    assert axes.get_ylabel().startswith("Residual") and axes.get_xlabel() == "Predicted value"


def test_residual_chart_scatters_a_sample_of_real_rows_for_large_sets() -> None:
    actual, pred, base = regression(1_000_000)
    figure = residual_figure(actual, pred, base)
    axes = figure.axes[0]
    candidate = np.asarray(axes.collections[-1].get_offsets())  # drawn last, on top
    assert len(candidate) == RESIDUAL_SAMPLE
    # Each point is a real row: its prediction and its residual, actual - predicted.
    rows = np.flatnonzero(np.isin(pred, candidate[:, 0]))
    assert rows.size == RESIDUAL_SAMPLE
    assert np.array_equal(candidate, np.column_stack([pred[rows], actual[rows] - pred[rows]]))
    # The baseline shows the same rows, so the two clouds compare point by point.
    baseline = np.asarray(axes.collections[0].get_offsets())
    assert np.array_equal(baseline, np.column_stack([base[rows], actual[rows] - base[rows]]))
    assert axes.get_title() == "Residuals on the held-out set: 1,000,000 rows, 5,000 shown"


def test_residual_chart_at_a_million_rows_is_a_small_png() -> None:
    actual, pred, base = regression(1_000_000, seed=3)
    png = residual_chart(actual, pred, base)
    assert decoded(png).size == (800, 600)
    assert len(png) < MAX_PNG_BYTES


def test_small_residual_sets_show_every_row() -> None:
    actual, pred, _ = regression(40)
    axes = residual_figure(actual, pred).axes[0]
    assert len(axes.collections[-1].get_offsets()) == 40
    assert axes.get_title() == "Residuals on the held-out set: 40 rows"


# --- rendering --------------------------------------------------------------------------


def test_same_input_gives_the_same_png() -> None:
    y, good, weak = classification(2_000)
    assert roc_chart(y, good, weak) == roc_chart(y, good, weak)
    actual, pred, base = regression(8_000)
    assert residual_chart(actual, pred, base) == residual_chart(actual, pred, base)


def test_charts_drawn_in_parallel_threads_match_serial_ones() -> None:
    # pyplot keeps global state; the Figure + Agg canvas route must not.
    data = [classification(3_000, seed=seed) for seed in range(6)]
    serial = [
        roc_chart(y, good, weak, candidate_label=f"EXP-{i}")
        for i, (y, good, weak) in enumerate(data)
    ]
    with ThreadPoolExecutor(max_workers=6) as pool:
        parallel = list(
            pool.map(
                lambda item: roc_chart(*item[1], candidate_label=f"EXP-{item[0]}"),
                enumerate(data),
            )
        )
    assert parallel == serial
    assert len(set(serial)) == len(serial)


def test_importing_the_module_loads_no_plotting_library() -> None:
    heavy = "{'matplotlib', 'sklearn', 'PIL'}"
    code = f"import sys, bot.charts; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
