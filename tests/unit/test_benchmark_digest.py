"""The digest benchmark still runs end to end on small sizes (no timing asserted)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from benchmarks import digest


def test_small_run_prints_our_figures_beside_the_targets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = digest.main(
        ["--projects", "4", "--experiments", "300", "--events", "6000", "--repeats", "1"]
    )
    out = capsys.readouterr().out
    assert status == 0
    # Both sizes ran, on the data asked for, and the digests found work in the week.
    assert re.search(r"1x\s+4\s+300\s+6,000\s", out)
    assert re.search(r"2x\s+8\s+600\s+12,000\s", out)
    assert re.search(r"4 digests \(\d+ empty\): \d+ movements", out)
    for target in (
        r"digest of all 4 projects, median\s+[\d.]+ s\s+<= 2 s",
        r"peak RSS of a process building it, data included\s+\d+ MB\s+<= 500 MB",
        r"time at 2x the data / time at 1x \(fastest runs\)\s+[\d.]+ x\s+<= 2 x",
    ):
        assert re.search(target + r"\s+(PASS|MISS)", out), target


def test_the_generated_log_is_a_consistent_history() -> None:
    data = digest.make_data(5, 500, 10_000, seed=3)
    events, experiments = data.events, data.experiments
    assert len(events) == 10_000
    assert events["at"].is_monotonic_increasing
    assert (events["at"] <= pd.Timestamp(digest.NOW)).all()
    on_experiments = events.dropna(subset=["experiment_id"])
    created = on_experiments[on_experiments["action"] == "created"]
    assert sorted(created["experiment_id"]) == sorted(experiments["experiment_id"])
    # Each experiment's status is where its last transition took it.
    moves = on_experiments.dropna(subset=["to_status"])
    last = moves.groupby("experiment_id", observed=True)["to_status"].last().astype(str)
    status = experiments.set_index("experiment_id")["status"].astype(str)
    assert {int(k): v for k, v in last.items()} == status.to_dict()
    # Reviews still pending belong to experiments in review.
    waiting = status.loc[data.pending_reviews["experiment_id"]]
    assert set(waiting) <= {"in_review"}
