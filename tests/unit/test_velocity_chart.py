"""The digest's velocity chart: the bars a manager sees are the digest's counts."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

import bot.charts as charts
from bot.charts import velocity_chart
from bot.domain.errors import ValidationError

OUTCOMES = ("success", "failure", "inconclusive")


def weeks_of(*counts: tuple[int, int, int], first: date = date(2025, 9, 29)) -> list[Any]:
    return [
        (first + timedelta(weeks=i), dict(zip(OUTCOMES, c, strict=True)))
        for i, c in enumerate(counts)
    ]


EIGHT = weeks_of(
    (1, 0, 0), (0, 0, 0), (2, 3, 1), (0, 1, 0), (4, 0, 2), (0, 0, 0), (1, 1, 1), (3, 2, 0)
)


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures velocity_chart renders, kept after rendering (with their layout)."""
    figures: list[Any] = []
    real = charts.png_bytes

    def keep(figure: Any) -> bytes:
        figures.append(figure)
        return real(figure)

    monkeypatch.setattr(charts, "png_bytes", keep)
    return figures


def bars(axes: Any) -> dict[str, list[tuple[float, float]]]:
    """Each outcome's bars as (bottom, height), from the legend's labels to its containers."""
    out = {}
    for container in axes.containers:
        outcome = container.get_label().split(" ")[0]
        out[outcome] = [(p.get_y(), p.get_height()) for p in container.patches]
    return out


def test_bars_stack_each_weeks_counts_in_order(drawn: list[Any]) -> None:
    png = velocity_chart(EIGHT, title="churn: velocity")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (800, 400)
    axes = drawn[0].axes[0]
    stacked = bars(axes)
    for i, (_, counts) in enumerate(EIGHT):
        s, f, n = (counts[o] for o in OUTCOMES)
        assert stacked["success"][i] == (0, s)
        assert stacked["failure"][i] == (s, f)
        assert stacked["inconclusive"][i] == (s + f, n)
    assert [t.get_text() for t in axes.get_xticklabels()] == [
        "29 Sep",
        "6 Oct",
        "13 Oct",
        "20 Oct",
        "27 Oct",
        "3 Nov",
        "10 Nov",
        "17 Nov",
    ]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == [
        "success (11)",
        "failure (7)",
        "inconclusive (4)",
    ]
    # The totals above the bars, and none above the empty weeks.
    assert [t.get_text() for t in axes.texts] == ["1", "6", "1", "6", "3", "5"]
    assert axes.get_title() == "churn: velocity"


def test_the_png_shows_each_bar_in_its_outcomes_colour(drawn: list[Any]) -> None:
    png = velocity_chart(EIGHT)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int64)
    axes = drawn[0].axes[0]
    checked = 0
    for container in axes.containers:
        for patch in container.patches:
            if not patch.get_height():
                continue
            box = patch.get_window_extent()
            x, y = int((box.x0 + box.x1) / 2), int(pixels.shape[0] - (box.y0 + box.y1) / 2)
            want = np.array(to_rgb(patch.get_facecolor())) * 255
            assert np.abs(pixels[y, x] - want).max() <= 12, (container.get_label(), x, y)
            checked += 1
    assert checked == 12  # every non-empty segment: 1 + 3 + 1 + 2 + 3 + 2


def test_weeks_without_conclusions_say_so(drawn: list[Any]) -> None:
    velocity_chart(weeks_of(*[(0, 0, 0)] * 8))
    axes = drawn[0].axes[0]
    assert [t.get_text() for t in axes.texts] == ["No experiment concluded in these weeks"]
    assert axes.get_ylim() == (0.0, 1.0)
    # Whole experiments only on the axis.
    assert all(float(t).is_integer() for t in axes.get_yticks())


def test_no_weeks_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one week"):
        velocity_chart([])


def test_the_chart_of_a_digest_matches_its_velocity(drawn: list[Any]) -> None:
    from bot.domain.digest import Week, build_digests
    from tests.unit.test_digest import BERLIN, CHURN, NOW, story

    churn = build_digests(story(), Week.ending_before(NOW, BERLIN), NOW, BERLIN)[CHURN]
    velocity_chart(churn.velocity)
    stacked = bars(drawn[0].axes[0])
    assert [h for _, h in stacked["failure"]] == [w["failure"] for _, w in churn.velocity]
    assert [h for _, h in stacked["success"]] == [w["success"] for _, w in churn.velocity]


def test_the_summary_says_each_weeks_count_in_plain_numbers_oldest_first() -> None:
    """The chart in text: one number per week, in order, said what they are; before, bars of
    block characters in a code span (blanks for empty weeks) with the numbers apart."""
    from bot.domain.digest import Week, build_digests
    from bot.domain.model import Project, ProjectRules
    from bot.services.digest import Digest
    from bot.slack.blocks.digest import summary
    from tests.unit.test_digest import BERLIN, CHURN, NOW, story

    churn = build_digests(story(), Week.ending_before(NOW, BERLIN), NOW, BERLIN)[CHURN]
    project = Project(CHURN, "T1", "churn", "CCHURN", ProjectRules(), NOW)
    totals = [sum(w.values()) for _, w in churn.velocity]
    assert len(totals) == 8 and 0 in totals and max(totals) > 1
    first = churn.velocity[0][0]
    numbers = " · ".join(str(t) for t in totals)
    _, blocks = summary(Digest(project, churn, None))
    text = str(blocks)
    assert (
        f"*Concluded per week* (8 weeks from {first:%a %d %b}, oldest first; failures included):"
        f" {numbers} (the last: this week)" in text
    )
    assert not any(bar in text for bar in "▁▂▃▄▅▆▇█")
    _, blocks = summary(Digest(project, churn, None, so_far=NOW))
    assert f"{numbers} (the last: this week so far)" in str(blocks)
