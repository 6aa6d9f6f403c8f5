"""`mlgov eval push|parity` as a pipeline's shell step runs them (a real subprocess)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from bot.slack.dispatch import Origin
from tests.e2e.test_cli import run
from tests.e2e.test_jobs_cli import count, prepare_team


def write_csv(path: Path, y: np.ndarray, score: np.ndarray) -> Path:
    lines = [
        "id,y_true,y_score",
        *(f"r{i},{a},{float(b)!r}" for i, (a, b) in enumerate(zip(y, score, strict=True))),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def with_experiment(tmp_path: Path) -> None:
    """churn (alice, bob, erin) and alice's running EXP-1."""
    from datetime import UTC, datetime

    from bot.config import Settings
    from bot.runtime import Runtime

    prepare_team(tmp_path)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'cli.db'}")
    runtime = Runtime.create(settings, clock=lambda: datetime(2026, 3, 3, 12, tzinfo=UTC))
    try:
        for line in ("new churn Boosting --metric auc", "start EXP-1"):
            reply = runtime.dispatcher.command(Origin("T1", "UALICE"), "/exp", line)
            assert not reply.failed, reply.text
    finally:
        runtime.close()


def test_push_records_and_prints_the_summary(tmp_path: Path) -> None:
    with_experiment(tmp_path)
    rng = np.random.default_rng(5)
    y = (rng.random(300) < 0.5).astype(int)
    score = np.clip(0.5 * y + rng.normal(0.25, 0.25, 300), 0, 1)
    result = run(tmp_path, "eval", "push", "EXP-1", str(write_csv(tmp_path / "p.csv", y, score)))
    assert result.returncode == 0, result.stderr
    assert "recorded evaluation #1 of EXP-1" in result.stdout
    assert f"{roc_auc_score(y, score):.4f}" in result.stdout
    assert count(tmp_path, "evaluations") == 1


def test_push_refuses_bad_input_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    with_experiment(tmp_path)
    (tmp_path / "nan.csv").write_text("y_true,y_score\n0,0.1\n1,nan\n0,0.3\n1,0.9\n")
    (tmp_path / "cols.csv").write_text("label,score\n0,0.1\n1,0.9\n")
    (tmp_path / "good.csv").write_text("y_true,y_score\n0,0.1\n1,0.8\n0,0.3\n1,0.9\n")
    cases = [
        (("EXP-1", str(tmp_path / "nan.csv")), "nan"),
        (("EXP-1", str(tmp_path / "cols.csv")), "y_true"),
        (("EXP-1", str(tmp_path / "missing.csv")), "cannot read"),
        (("EXP-9", str(tmp_path / "good.csv")), "No experiment EXP-9"),
        (("EXP-x", str(tmp_path / "nan.csv")), "experiment key"),
    ]
    for args, words in cases:
        result = run(tmp_path, "eval", "push", *args)
        assert result.returncode == 2, (args, result.stdout)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mlgov: "), result.stderr
        assert words.lower() in lines[0].lower(), lines[0]
    assert count(tmp_path, "evaluations") == 0


def test_parity_compares_prototype_and_production(tmp_path: Path) -> None:
    with_experiment(tmp_path)
    rng = np.random.default_rng(6)
    y = (rng.random(200) < 0.5).astype(int)
    score = rng.random(200)
    drifted = score.copy()
    drifted[:4] = np.clip(drifted[:4] + 0.2, 0, 1)
    prototype = write_csv(tmp_path / "proto.csv", y, score)
    production = write_csv(tmp_path / "prod.csv", y, drifted)
    result = run(tmp_path, "eval", "parity", "EXP-1", str(prototype), str(production))
    assert result.returncode == 0, result.stderr
    assert "4 rows" in result.stdout and "200 rows" in result.stdout
    assert count(tmp_path, "parity_checks") == 1
    bad = run(
        tmp_path, "eval", "parity", "EXP-1", str(prototype), str(prototype), "--tolerance", "-1"
    )
    assert bad.returncode == 2 and "tolerance" in bad.stderr
    assert count(tmp_path, "parity_checks") == 1
