"""`mlgov eval push|parity` as a pipeline's shell step runs them (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sklearn.metrics import roc_auc_score

from bot.slack.blocks import Reply
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


def commands(tmp_path: Path, *lines: tuple[str, str, str]) -> list[Reply]:
    """Run (user, command, text) in-process on the CLI's database; each must succeed."""
    from datetime import UTC, datetime

    from bot.config import Settings
    from bot.runtime import Runtime

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'cli.db'}", admins=frozenset({"UADMIN"})
    )
    runtime = Runtime.create(settings, clock=lambda: datetime(2026, 3, 3, 12, tzinfo=UTC))
    replies = []
    try:
        for user, command, text in lines:
            reply = runtime.dispatcher.command(Origin("T1", user), command, text)
            assert not reply.failed, reply.text
            replies.append(reply)
    finally:
        runtime.close()
    return replies


def with_experiment(tmp_path: Path) -> None:
    """churn (alice, bob, erin) and alice's running EXP-1 (AUC up by 0.01 wanted)."""
    prepare_team(tmp_path)
    commands(
        tmp_path,
        ("UALICE", "/exp", "new churn Boosting --hypothesis h --metric auc --min-delta 0.01"),
        ("UALICE", "/exp", "start EXP-1"),
    )


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
    # A failed check is recorded, and exits 1 so that a pipeline stops.
    assert result.returncode == 1, result.stderr
    assert "4 rows" in result.stdout and "200 rows" in result.stdout
    assert count(tmp_path, "parity_checks") == 1
    same = run(tmp_path, "eval", "parity", "EXP-1", str(prototype), str(prototype))
    assert same.returncode == 0, same.stderr
    assert count(tmp_path, "parity_checks") == 2
    for option, value in (
        ("--tolerance", "-1"),
        ("--tolerance", "nan"),
        ("--threshold", "2"),
        ("--threshold", "0"),
        ("--threshold", "1"),
    ):
        bad = run(
            tmp_path, "eval", "parity", "EXP-1", str(prototype), str(prototype), option, value
        )
        assert bad.returncode == 2 and bad.stdout == "", (option, value)
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"mlgov: {option} must be"), lines
    assert count(tmp_path, "parity_checks") == 2


def test_require_criterion_is_a_ci_gate(tmp_path: Path) -> None:
    """Exit 0 when the criterion is met, 1 when recorded but not met (or not judged),
    2 when refused (nothing recorded)."""
    with_experiment(tmp_path)
    rng = np.random.default_rng(8)
    y = (rng.random(400) < 0.4).astype(int)
    noise = rng.normal(0, 1, 400)
    weak = write_csv(tmp_path / "weak.csv", y, 1 / (1 + np.exp(-(0.5 * y + noise))))
    strong = write_csv(tmp_path / "strong.csv", y, 1 / (1 + np.exp(-(3.0 * y + noise))))

    def push(experiment: str, path: Path, *more: str) -> subprocess.CompletedProcess[str]:
        return run(tmp_path, "eval", "push", experiment, str(path), "--require-criterion", *more)

    # No baseline yet: recorded, but the criterion cannot be judged, so the gate stays shut.
    first = push("EXP-1", weak)
    assert first.returncode == 1, first.stderr
    assert "Success criterion: not judged." in first.stdout
    assert "not compared with a baseline" in first.stderr.strip().splitlines()[-1]
    commands(
        tmp_path,
        ("UADMIN", "/exp", "baseline churn EXP-1"),
        ("UBOB", "/exp", "new churn Trees --hypothesis h --metric auc --min-delta 0.01"),
        ("UBOB", "/exp", "start EXP-2"),
        ("UBOB", "/exp", "new churn Unwritten"),
    )
    met = push("EXP-2", strong)
    assert met.returncode == 0, met.stderr
    assert "Success criterion: met. auc +0.01 vs baseline" in met.stdout
    same = push("EXP-2", weak)
    assert same.returncode == 1, same.stdout
    assert "mlgov: success criterion not met: auc +0.01" in same.stderr
    assert count(tmp_path, "evaluations") == 3
    # Refused, nothing recorded: no criterion to require, or no comparison asked for.
    for args, words in (
        (("EXP-3", strong), "EXP-3 has no success criterion to require"),
        (("EXP-2", strong, "--new-holdout"), "--new-holdout"),
        (("EXP-2", tmp_path / "missing.csv"), "cannot read"),
    ):
        refused = push(*args)  # type: ignore[arg-type]
        assert refused.returncode == 2, refused.stdout
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], lines
    assert count(tmp_path, "evaluations") == 3
    # Without the flag a push never fails on the criterion: it is reported, not gated.
    assert run(tmp_path, "eval", "push", "EXP-2", str(weak)).returncode == 0


def test_a_cli_upload_is_credited_to_the_cli_pipeline_with_its_file(tmp_path: Path) -> None:
    with_experiment(tmp_path)
    rng = np.random.default_rng(9)
    y = (rng.random(200) < 0.5).astype(int)
    path = write_csv(tmp_path / "cand.csv", y, rng.random(200))
    assert run(tmp_path, "eval", "push", "EXP-1", str(path)).returncode == 0
    history, metrics = commands(
        tmp_path, ("UALICE", "/exp", "history EXP-1"), ("UALICE", "/exp", "metrics EXP-1")
    )
    shown = json.dumps(history.blocks)
    assert "the `cli` pipeline *evaluation*" in shown and "file: cand.csv" in shown
    assert "<@cli>" not in shown
    assert "(cand.csv) by the `cli` pipeline" in json.dumps(metrics.blocks)
    # The thread post says so too (queued in the outbox: no Slack here).
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with engine.connect() as connection:
            payloads = connection.execute(sa.text("SELECT payload FROM outbox")).scalars().all()
    finally:
        engine.dispose()
    assert any("Sent by the `cli` pipeline (cand.csv)" in str(p) for p in payloads)
