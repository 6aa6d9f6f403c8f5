"""`mlgov audit export` as a compliance officer runs it, on a trail built through the app.

The trail is made in-process by the same dispatcher Slack talks to, with a clock moved by
hand: on Monday 2026-03-02 EXP-1 (churn) is reviewed (`conclude` asks the reviewers), sent
back, concluded again, approved and scheduled; early on Thursday 2026-03-05 in Berlin
(still Wednesday in UTC) EXP-2 (fraud) fails and is closed by its review.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.runtime import Runtime
from bot.slack.dispatch import Origin
from tests.e2e.test_cli import MLGOV, clean_env, run

TZ = "Europe/Berlin"
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
THURSDAY_BERLIN = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)  # 00:30 on the 5th in Berlin

# (experiment, actor, action, from, to, conclusion) in the order they happened.
CHURN = [
    ("EXP-1", "UALICE", "conclude", "running", "in_review", 1),
    ("EXP-1", "UALICE", "review_requested", None, None, 1),
    ("EXP-1", "UBOB", "review_approved", None, None, 1),
    ("EXP-1", "UCAROL", "review_changes_requested", None, None, 1),
    ("EXP-1", "UCAROL", "request_changes", "in_review", "analyzing", 1),
    ("EXP-1", "UALICE", "conclude", "analyzing", "in_review", 2),
    ("EXP-1", "UALICE", "review_requested", None, None, 2),
    ("EXP-1", "UBOB", "review_approved", None, None, 2),
    ("EXP-1", "UCAROL", "review_approved", None, None, 2),
    ("EXP-1", "UCAROL", "accept_results", "in_review", "approved", 2),
    ("EXP-1", "UERIN", "schedule", "approved", "scheduled", 2),
]
FRAUD = [
    ("EXP-2", "UBOB", "conclude", "running", "in_review", 1),
    ("EXP-2", "UBOB", "review_requested", None, None, 1),
    ("EXP-2", "UALICE", "review_approved", None, None, 1),
    ("EXP-2", "UCAROL", "review_approved", None, None, 1),
    ("EXP-2", "UCAROL", "accept_results", "in_review", "closed", 1),
]


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    """The SQLite file of tmp_path, holding the trail described above."""
    now = [MONDAY]
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'cli.db'}", timezone=TZ, admins=frozenset({"UADMIN"})
    )
    runtime = Runtime.create(settings, clock=lambda: now[0])

    def say(user: str, command: str, text: str) -> None:
        now[0] += timedelta(minutes=1)
        reply = runtime.dispatcher.command(Origin("T1", user), command, text)
        assert not reply.failed, (user, text, reply.text)

    try:
        for slug in ("churn", "fraud"):
            say("UADMIN", "/mlgov", f"project add {slug} <#C{slug.upper()}|{slug}>")
            for user in ("UALICE", "UBOB", "UCAROL"):
                say("UADMIN", "/mlgov", f"member add <@{user}> scientist {slug}")
        say("UADMIN", "/mlgov", "member add <@UERIN> engineer churn")

        say("UALICE", "/exp", "new churn Tenure features --hypothesis h --metric auc")
        say("UALICE", "/exp", "start EXP-1")
        say("UALICE", "/exp", "conclude EXP-1 success tenure lifts AUC")
        say("UBOB", "/review", "approve EXP-1")
        say("UCAROL", "/review", "changes EXP-1 the baseline saw the test rows")
        say("UALICE", "/exp", "conclude EXP-1 success rescored on held-out rows")
        say("UBOB", "/review", "approve EXP-1")
        say("UCAROL", "/review", "approve EXP-1 now it holds")
        say("UERIN", "/exp", "schedule EXP-1 sprint 12")

        now[0] = THURSDAY_BERLIN
        say("UBOB", "/exp", "new fraud Graph features --hypothesis h --metric auc")
        say("UBOB", "/exp", "start EXP-2")
        say("UBOB", "/exp", "conclude EXP-2 failure graphs add nothing")
        say("UALICE", "/review", "approve EXP-2")
        say("UCAROL", "/review", "approve EXP-2 a clean negative")
    finally:
        runtime.close()
    return tmp_path


def export(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(folder, "audit", "export", *args, MLGOV_TIMEZONE=TZ)


def exported(folder: Path, fmt: str, *args: str) -> list[dict[str, Any]]:
    result = export(folder, "--format", fmt, *args)
    assert result.returncode == 0, result.stderr
    if fmt == "json":
        rows: list[dict[str, Any]] = json.loads(result.stdout)
        return rows
    return list(csv.DictReader(io.StringIO(result.stdout)))


def summary(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The JSON rows as (experiment, actor, action, from, to, conclusion)."""
    return [
        (r["experiment"], r["actor"], r["action"], r["from"], r["to"], r["conclusion"])
        for r in rows
    ]


def test_json_is_the_whole_trail_of_gate_decisions_with_what_they_were_about(
    trail: Path,
) -> None:
    rows = exported(trail, "json")
    assert summary(rows) == CHURN + FRAUD
    assert {r["team"] for r in rows} == {"T1"}
    assert [r["project"] for r in rows] == ["churn"] * len(CHURN) + ["fraud"] * len(FRAUD)
    by_action = {(r["experiment"], r["actor"], r["action"], r["conclusion"]): r for r in rows}
    assert by_action[("EXP-1", "UCAROL", "review_changes_requested", 1)]["detail"]["text"] == (
        "the baseline saw the test rows"
    )
    scheduled = by_action[("EXP-1", "UERIN", "schedule", 2)]["detail"]
    assert scheduled["note"] == "sprint 12" and scheduled["conclusion"] == 2
    approval = by_action[("EXP-1", "UCAROL", "review_approved", 2)]
    assert approval["detail"]["approvals"] == 2 and approval["detail"]["quorum"] == 2
    assert approval["evaluation"] is None  # no evaluation recorded yet
    assert approval["at"] == "2026-03-02T09:17:00+00:00"  # the 17th step, a minute each


def test_csv_has_a_header_and_the_same_rows(trail: Path) -> None:
    rows = exported(trail, "csv")
    assert list(rows[0]) == [
        "at",
        "team",
        "project",
        "experiment",
        "actor",
        "action",
        "from",
        "to",
        "conclusion",
        "evaluation",
        "detail",
        "actor_name",  # added last: readers of the older columns by position still work
    ]
    expected = [
        tuple("" if value is None else str(value) for value in row) for row in CHURN + FRAUD
    ]
    assert summary(rows) == expected
    assert json.loads(rows[-2]["detail"])["text"] == "a clean negative"


def test_project_and_since_filter_in_the_team_time_zone(trail: Path, tmp_path: Path) -> None:
    assert summary(exported(trail, "json", "--project", "churn")) == CHURN
    assert summary(exported(trail, "json", "--project", "fraud")) == FRAUD
    # The fraud trail began at 00:30 on the 5th in Berlin, 23:30 on the 4th in UTC.
    assert summary(exported(trail, "json", "--since", "2026-03-05")) == FRAUD
    assert summary(exported(trail, "json", "--since", "2026-03-06")) == []
    assert exported(trail, "csv", "--project", "churn", "--since", "2026-03-05") == []

    out = tmp_path / "trail.csv"
    written = export(trail, "--format", "csv", "--project", "fraud", "--output", str(out))
    assert written.returncode == 0 and written.stdout == "", written.stderr
    with out.open(newline="") as written_file:
        assert len(list(csv.DictReader(written_file))) == len(FRAUD)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--since", "last week"),
            "mlgov: --since must be a date like 2026-01-31, not 'last week'.",
        ),
        (("--since", "2026-02-30"), "mlgov: --since must be a date like 2026-01-31"),
        (("--project", "nope"), "mlgov: No project 'nope' (projects: churn, fraud)."),
    ],
)
def test_bad_filters_exit_2_with_one_line_and_no_output(
    trail: Path, args: tuple[str, ...], message: str
) -> None:
    result = export(trail, "--format", "json", *args)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines


def test_a_format_is_required(trail: Path) -> None:
    for args in ((), ("--format", "xml")):
        result = export(trail, *args)
        assert result.returncode == 2 and result.stdout == ""
        assert "--format" in result.stderr


def test_what_changes_the_gate_is_in_the_trail_with_names(tmp_path: Path) -> None:
    """A forced start, criterion edits, a baseline change and approvals dismissed by new
    results are exported, each actor with id and display name."""
    from bot.domain.ingest import parse_evaluation
    from bot.domain.model import Actor
    from bot.services import evaluations
    from bot.services.ports import Context

    now = [MONDAY]
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'cli.db'}", timezone=TZ, admins=frozenset({"UADMIN"})
    )
    runtime = Runtime.create(settings, clock=lambda: now[0])
    rows = "y_true,y_score\n" + "".join(f"{i % 2},{(i % 2) * 0.5 + i / 100}\n" for i in range(40))

    def say(user: str, command: str, text: str, *, may_fail: bool = False) -> None:
        now[0] += timedelta(minutes=1)
        reply = runtime.dispatcher.command(Origin("T1", user), command, text)
        assert may_fail or not reply.failed, (user, text, reply.text)

    def push() -> None:
        now[0] += timedelta(minutes=1)
        d = runtime.dispatcher
        ctx = Context(Actor("T1", "cli", pipeline=True), now[0], d.notices, d.timezone)
        evaluation = parse_evaluation(rows.encode(), filename="preds.csv")
        submission = evaluations.Submission(1, evaluation, "cli", "preds.csv")
        assert evaluations.submit_evaluation(runtime.db, ctx, submission) is not None

    try:
        say("UADMIN", "/mlgov", "project add churn <#CCHURN|churn>")
        for user, role in (("alice", "scientist"), ("bob", "scientist"), ("mia", "manager")):
            say("UADMIN", "/mlgov", f"member add <@U{user.upper()}|{user}> {role} churn")
        say("UADMIN", "/mlgov", "member add <@UCAROL> scientist churn")  # never named
        criterion = "--hypothesis h --metric auc --min-delta 0.01"
        say("UALICE", "/exp", f"new churn Tenure {criterion}")
        say("UALICE", "/exp", "start EXP-1")
        say("UALICE", "/exp", f"new churn Second {criterion}")
        say("UALICE", "/exp", "edit EXP-2 --min-delta 0.03")  # a proposal's criterion
        say("UALICE", "/exp", "edit EXP-2 --title Second try")  # no criterion: not exported
        say("UMIA", "/exp", "start EXP-2 --force")  # past alice's WIP limit of 1
        say("UALICE", "/exp", "edit EXP-1 --min-delta 0.02")
        push()  # nothing to dismiss: not part of the trail
        say("UMIA", "/exp", "baseline churn EXP-1")
        say("UALICE", "/exp", "conclude EXP-1 success tenure lifts AUC")
        say("UALICE", "/review", "request EXP-1", may_fail=True)  # conclude may have asked
        say("UBOB", "/review", "approve EXP-1")
        push()  # new results: bob's approval is dismissed
    finally:
        runtime.close()

    rows_out = exported(tmp_path, "json")
    found = {(r["experiment"], r["action"]): r for r in rows_out}
    forced = found[("EXP-2", "start")]
    assert (forced["actor"], forced["actor_name"]) == ("UMIA", "mia")
    assert forced["detail"]["forced_past_wip_limit"] is True
    assert ("EXP-1", "start") not in found  # an ordinary start is no gate decision
    assert [r["detail"]["criterion"]["to"] for r in rows_out if r["action"] == "edited"] == [
        "auc +0.03 vs baseline (higher is better)"
    ]
    edited = found[("EXP-1", "criterion_changed_after_start")]
    assert (edited["actor"], edited["actor_name"]) == ("UALICE", "alice")
    assert (found[("EXP-1", "baseline")]["actor"], found[("EXP-1", "baseline")]["actor_name"]) == (
        "UMIA",
        "mia",
    )
    [dismissing] = [r for r in rows_out if r["action"] == "evaluation"]
    assert dismissing["detail"]["approvals_dismissed"] == 1
    assert (dismissing["actor"], dismissing["actor_name"]) == ("cli", "cli pipeline")
    assert dismissing["detail"]["file"] == "preds.csv"
    approval = found[("EXP-1", "review_approved")]
    assert (approval["actor"], approval["actor_name"]) == ("UBOB", "bob")
    assert {r["actor_name"] for r in rows_out if r["actor"] == "UCAROL"} <= {""}

    as_csv = exported(tmp_path, "csv")
    assert [(r["actor"], r["actor_name"]) for r in as_csv] == [
        (r["actor"], r["actor_name"]) for r in rows_out
    ]


def test_a_reader_that_stops_early_ends_the_export_quietly(tmp_path: Path) -> None:
    """`mlgov audit export --format json | head`: no traceback, exit 141 like Unix tools."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'cli.db'}", timezone=TZ)
    runtime = Runtime.create(settings, clock=lambda: MONDAY)
    try:
        with runtime.db.write() as uow:
            uow.workspaces.ensure("T1", MONDAY)
            for n in range(600):  # far more than a pipe holds (64 KiB)
                uow.audit.record("T1", "UALICE", "schedule", MONDAY, detail={"note": f"n{n}" * 20})
            uow.commit()
    finally:
        runtime.close()
    process = subprocess.Popen(
        [MLGOV, "audit", "export", "--format", "json"],
        cwd=tmp_path,
        env=clean_env(tmp_path, MLGOV_TIMEZONE=TZ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(10).startswith(b"[")
    process.stdout.close()  # what `head` does once it has its lines
    errors = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) == 141, errors
    assert errors == ""
