"""PNG charts for an evaluation thread: ROC curves (classification) and residuals (regression).

matplotlib and Pillow are imported inside the functions, so importing this module is cheap.
Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas, never pyplot, so
there is no global figure state and charts can be drawn from several threads at once. Sizes
are bounded whatever the row count: an ROC curve keeps at most ``ROC_MAX_POINTS`` vertices
and a residual plot scatters a seeded sample of ``RESIDUAL_SAMPLE`` rows.
"""

from __future__ import annotations

import io
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from bot.domain.errors import ValidationError

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

FloatArray = npt.NDArray[np.float64]

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 6.0, 100  # 800 x 600 px
ROC_MAX_POINTS = 2000
RESIDUAL_SAMPLE = 5000
SAMPLE_SEED = 0
CANDIDATE_COLOR, BASELINE_COLOR, CHANCE_COLOR = "#1f77b4", "#ff7f0e", "#7f7f7f"


def roc_points(
    y_true: npt.ArrayLike, score: npt.ArrayLike, *, max_points: int = ROC_MAX_POINTS
) -> tuple[FloatArray, FloatArray, float]:
    """The ROC curve as (fpr, tpr) from (0, 0) to (1, 1), at most ``max_points`` long, and AUC.

    One vertex per distinct score, as ``sklearn.metrics.roc_curve`` gives before dropping
    collinear points; the AUC is the trapezoid area under that full curve, which is what
    ``roc_auc_score`` computes. Only the vertices returned for drawing are thinned.
    """
    labels, scores = _paired_arrays(y_true, score, "scores")
    if not np.all((labels == 0.0) | (labels == 1.0)):
        raise ValidationError("An ROC chart needs labels of 0 and 1 only in `y_true`.")
    positives = int(np.count_nonzero(labels))
    if positives in (0, labels.size):
        only = "positive (1)" if positives else "negative (0)"
        raise ValidationError(
            f"An ROC chart needs both classes, but every row of `y_true` is {only}. "
            "Evaluate on a held-out set with positives and negatives."
        )
    # An unstable sort is enough, since tied scores are merged into one vertex; it is ~3x
    # faster than the stable sort roc_curve uses, which matters at a million rows.
    order = np.argsort(scores)[::-1]
    ranked = scores[order]
    last_of_each_score = np.append(np.flatnonzero(ranked[1:] != ranked[:-1]), ranked.size - 1)
    true_positives = np.cumsum(labels[order])[last_of_each_score]
    false_positives = last_of_each_score + 1 - true_positives
    tpr = np.concatenate(([0.0], true_positives / positives))
    fpr = np.concatenate(([0.0], false_positives / (labels.size - positives)))
    area = float(np.trapezoid(tpr, fpr))
    if fpr.size > max_points:
        fpr, tpr = _thin_curve(fpr, tpr, max_points)
    return fpr, tpr, area


def roc_figure(
    y_true: npt.ArrayLike,
    candidate: npt.ArrayLike,
    baseline: npt.ArrayLike | None = None,
    *,
    candidate_label: str = "EXP-7",
    baseline_label: str = "baseline",
    title: str = "",
) -> Figure:
    """The ROC figure behind :func:`roc_chart`: candidate, baseline, and the chance line."""
    cand_fpr, cand_tpr, cand_auc = roc_points(y_true, candidate)
    labels = np.asarray(y_true, dtype=np.float64)
    figure, axes = _new_figure()
    chance = axes.plot(
        [0.0, 1.0],
        [0.0, 1.0],
        ls=":",
        lw=1.2,
        color=CHANCE_COLOR,
        label="no-ML baseline (AUC 0.500)",
    )
    lines: list[Line2D] = []
    if baseline is not None:
        base_fpr, base_tpr, base_auc = roc_points(y_true, baseline)
        lines += axes.plot(
            base_fpr,
            base_tpr,
            ls="--",
            lw=1.8,
            color=BASELINE_COLOR,
            label=f"{baseline_label} (AUC {base_auc:.3f})",
        )
    # Drawn last so it sits on top; listed first in the legend because it is the subject.
    candidate_line = axes.plot(
        cand_fpr,
        cand_tpr,
        lw=2.2,
        color=CANDIDATE_COLOR,
        label=f"{candidate_label} (AUC {cand_auc:.3f})",
    )
    lines = candidate_line + lines + chance
    axes.legend(handles=lines, loc="lower right")
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(0.0, 1.005)
    axes.set_xlabel("False positive rate (1 − specificity)")
    axes.set_ylabel("True positive rate (sensitivity)")
    positives = int(np.count_nonzero(labels == 1.0))
    axes.set_title(
        title or f"ROC on the held-out set: {labels.size:,} rows, {positives:,} positive"
    )
    return figure


def roc_chart(
    y_true: npt.ArrayLike,
    candidate: npt.ArrayLike,
    baseline: npt.ArrayLike | None = None,
    *,
    candidate_label: str = "EXP-7",
    baseline_label: str = "baseline",
    title: str = "",
) -> bytes:
    """An ROC chart as PNG bytes: candidate and baseline with their AUCs, and chance."""
    figure = roc_figure(
        y_true,
        candidate,
        baseline,
        candidate_label=candidate_label,
        baseline_label=baseline_label,
        title=title,
    )
    return png_bytes(figure)


def residual_figure(
    y_true: npt.ArrayLike,
    pred: npt.ArrayLike,
    baseline_pred: npt.ArrayLike | None = None,
    *,
    candidate_label: str = "EXP-7",
    baseline_label: str = "baseline",
    title: str = "",
) -> Figure:
    """The residual figure behind :func:`residual_chart`: residual against predicted value."""
    actual, predicted = _paired_arrays(y_true, pred, "predictions")
    rows = _sample_rows(actual.size)
    figure, axes = _new_figure()
    series = [(candidate_label, predicted, CANDIDATE_COLOR, "o")]
    if baseline_pred is not None:
        _, base_predicted = _paired_arrays(y_true, baseline_pred, "baseline predictions")
        series.append((baseline_label, base_predicted, BASELINE_COLOR, "s"))
    handles: list[Artist] = []
    # Small sets get larger, bolder points; thousands of points need to be light to overlap.
    size, alpha = (7.0, 0.45) if rows.size > 1000 else (20.0, 0.75)
    # Baseline first so the candidate's points are drawn over it.
    for order, (label, values, color, marker) in reversed(list(enumerate(series))):
        residuals = actual - values
        rmse = float(np.sqrt(np.mean(residuals**2)))
        handle = axes.scatter(
            values[rows],
            residuals[rows],
            s=size,
            alpha=alpha,
            color=color,
            marker=marker,
            linewidths=0,
            label=f"{label} (RMSE {rmse:#.4g})",
            zorder=3 - order,
        )
        handles.insert(0, handle)
    axes.axhline(0.0, color=CHANCE_COLOR, lw=1.2, ls=":", zorder=4)
    # A fixed corner: "best" scans every point and warns when that is slow.
    axes.legend(handles=handles, loc="upper right", markerscale=18 / size, framealpha=0.9)
    axes.set_xlabel("Predicted value")
    axes.set_ylabel("Residual (actual − predicted)")
    shown = "" if rows.size == actual.size else f", {rows.size:,} shown"
    axes.set_title(title or f"Residuals on the held-out set: {actual.size:,} rows{shown}")
    return figure


def residual_chart(
    y_true: npt.ArrayLike,
    pred: npt.ArrayLike,
    baseline_pred: npt.ArrayLike | None = None,
    *,
    candidate_label: str = "EXP-7",
    baseline_label: str = "baseline",
    title: str = "",
) -> bytes:
    """A residuals-against-predicted chart as PNG bytes, candidate over baseline."""
    figure = residual_figure(
        y_true,
        pred,
        baseline_pred,
        candidate_label=candidate_label,
        baseline_label=baseline_label,
        title=title,
    )
    return png_bytes(figure)


def png_bytes(figure: Figure) -> bytes:
    """Render a figure to a small PNG: its own size, a 256-colour palette, no dithering.

    Thousands of translucent points blend into many colours that compress poorly; a
    palette keeps a chart small (~25-60 kB instead of ~150 kB for 10,000 points)
    with no visible change to lines, points or text.
    """
    from PIL import Image

    raw = io.BytesIO()
    figure.savefig(raw, format="rgba", dpi=DPI)
    width, height = (round(inches * DPI) for inches in figure.get_size_inches())
    rgba = np.frombuffer(raw.getbuffer(), dtype=np.uint8).reshape(height, width, 4)
    image = Image.fromarray(np.ascontiguousarray(rgba[..., :3])).quantize(
        colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _new_figure() -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="tight")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.grid(alpha=0.3)
    return figure, axes


def _paired_arrays(
    y_true: npt.ArrayLike, values: npt.ArrayLike, what: str
) -> tuple[FloatArray, FloatArray]:
    """``y_true`` and ``values`` as finite 1-d float arrays of one non-zero length."""
    labels = np.asarray(y_true, dtype=np.float64)
    other = np.asarray(values, dtype=np.float64)
    if labels.ndim != 1 or other.ndim != 1 or labels.size != other.size:
        raise ValidationError(
            f"A chart needs one of the {what} per row of `y_true` "
            f"(got {other.size:,} for {labels.size:,} rows)."
        )
    if labels.size == 0:
        raise ValidationError("A chart needs at least one row.")
    if not (np.all(np.isfinite(labels)) and np.all(np.isfinite(other))):
        raise ValidationError(f"A chart needs finite numbers: `y_true` or the {what} hold NaN/inf.")
    return labels, other


def _thin_curve(fpr: FloatArray, tpr: FloatArray, max_points: int) -> tuple[FloatArray, FloatArray]:
    """Keep at most ``max_points`` vertices, evenly spaced along the curve, ends included.

    fpr + tpr rises strictly along the curve (each vertex adds at least one row), so it is
    a coordinate along it; keeping the first vertex past each of ``max_points`` even steps
    moves the drawn line by under one step (2 / max_points) anywhere.
    """
    along = fpr + tpr
    grid = np.linspace(0.0, along[-1], max_points)
    keep = np.unique(np.minimum(np.searchsorted(along, grid), along.size - 1))
    return fpr[keep], tpr[keep]


def _sample_rows(rows: int) -> npt.NDArray[np.intp]:
    """All row indices, or a seeded sorted sample of ``RESIDUAL_SAMPLE`` of them."""
    if rows <= RESIDUAL_SAMPLE:
        return np.arange(rows)
    chosen = np.random.default_rng(SAMPLE_SEED).choice(rows, RESIDUAL_SAMPLE, replace=False)
    return np.sort(chosen)


def velocity_chart(weeks: list[tuple[date, dict[str, int]]], *, title: str = "") -> bytes:
    """Experiments concluded per week as stacked bars (success, failure, inconclusive), PNG.

    ``weeks`` is the digest's velocity: each week's Monday, oldest first, with its counts.
    Failures are counted like any other result: a failure is a learning. About 800x400 px.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not weeks:
        raise ValidationError("A velocity chart needs at least one week.")
    stacks = (("success", "#2ca02c"), ("failure", "#ff7f0e"), ("inconclusive", "#9a9a9a"))
    figure = Figure(figsize=(WIDTH_IN, WIDTH_IN / 2), dpi=DPI)
    # Fixed margins fit these few short texts; a tight layout costs an extra draw (0.19 s
    # a chart instead of 0.12 s), and the digest job draws one chart per project.
    figure.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.14)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    positions = np.arange(len(weeks), dtype=np.float64)
    bottom = np.zeros(len(weeks), dtype=np.float64)
    for outcome, color in stacks:
        counts = np.array([week.get(outcome, 0) for _, week in weeks], dtype=np.float64)
        axes.bar(
            positions,
            counts,
            0.65,
            bottom=bottom,
            color=color,
            label=f"{outcome} ({int(counts.sum())})",
        )
        bottom += counts
    # The week's total above its bar, so nobody has to add the stack up.
    for x, total in zip(positions, bottom, strict=True):
        if total:
            axes.annotate(
                f"{int(total)}",
                (x, total),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=9,
            )
    axes.set_xticks(positions, [f"{monday.day} {monday:%b}" for monday, _ in weeks])
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    # Headroom for the totals and the legend above the tallest bar.
    axes.set_ylim(0.0, max(1.0, float(bottom.max()) * 1.35))
    if not bottom.any():
        axes.text(
            0.5,
            0.5,
            "No experiment concluded in these weeks",
            transform=axes.transAxes,
            ha="center",
            va="center",
            color=CHANCE_COLOR,
        )
    axes.set_xlabel("Week starting (Monday)")
    axes.set_ylabel("Experiments concluded")
    axes.legend(loc="upper left", ncols=3, frameon=False)
    axes.set_title(title or f"Velocity: experiments concluded per week ({len(weeks)} weeks)")
    return png_bytes(figure)
