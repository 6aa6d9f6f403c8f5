"""The evaluation benchmark still runs end to end and prints its table (no timing asserted)."""

from __future__ import annotations

import re

import pytest

from benchmarks import evaluation


def test_small_run_prints_ours_beside_both_references(capsys: pytest.CaptureFixture[str]) -> None:
    status = evaluation.main(["--rows", "20000", "--naive-sample", "2", "--repeats", "1"])
    out = capsys.readouterr().out
    assert status == 0
    for row in (evaluation.OURS, evaluation.REFERENCE_1, evaluation.REFERENCE_2):
        assert row in out
    # Each target row shows our time, the reference's, a ratio and a PASS or MISS.
    for target in (
        r"\(1\) summarize vs one roc_auc_score call",
        r"\(2\) summarize vs naive 1000-resample bootstrap",
    ):
        assert re.search(
            target + r"\s+[\d.]+\s+[\d.]+\*?\s+[\d.]+x \w+\s+\S+ [\d.]+x\s+(PASS|MISS)", out
        )
    assert "EXTRAPOLATED: 2 of 1000 naive resamples" in out
    # The summary it timed is the real one: it agrees with scikit-learn and pairs the models.
    assert re.search(r"\|difference\| = \d\.\de-(1[0-9]|[2-9][0-9])", out)
    assert "verdict better" in out
    assert re.search(r"memory of summarize, in a fresh process: peak RSS \d+ MiB", out)
