"""The shell is the whole app: mentions, the buttons of channel posts, uploads, channel names,
charts, and every job on its schedule."""

from __future__ import annotations

import io
import re
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from bot.services.delivery import HEARTBEAT_THREAD
from bot.shell import local_slack
from tests.e2e.test_eval_cli import write_csv
from tests.e2e.test_shell import BERLIN, NEXT, NOW, answers, runtime_for, shell


@pytest.fixture(autouse=True)
def charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Charts go to the test's own folder, not the system's temp folder."""
    folder = tmp_path / "charts"
    monkeypatch.setattr(local_slack, "CHARTS", folder)
    return folder


def scores(tmp_path: Path, name: str, strength: float = 2.0, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], 100)
    return write_csv(tmp_path / name, y, 1 / (1 + np.exp(-(strength * y + rng.normal(0, 1, 200)))))


# --- @mlgov mentions ------------------------------------------------------------------


def test_a_mention_runs_like_the_slash_command_and_replies_in_its_thread(demo_url: str) -> None:
    _, out = shell(
        demo_url,
        "@mlgov exp list all",
        ":as alice",
        "@mlgov exp show EXP-4",
        "@MLGOV /exp analyze EXP-4",
        "@mlgov frobnicate",
        "@mlgov eval EXP-4",
        "/exp history EXP-4",
    )
    said = answers(out)
    listed = said["ada> @mlgov exp list all"]
    # Read-only: only the sender sees it, in a new thread under the mention in #general.
    assert listed.startswith("  [#general › thread, only you] 6 experiment(s) — all\n")
    assert "EXP-4 Graph features from shared devices" in listed
    shown = said["alice> @mlgov exp show EXP-4"]
    assert shown.startswith("  [#fraud › EXP-4 thread, only you] EXP-4 · Graph features")
    # A change is news for the thread: posted for everyone, and audited as alice's.
    analyzed = said["alice> @MLGOV /exp analyze EXP-4"]
    assert "[#fraud › EXP-4 thread] EXP-4 · Graph features" in analyzed
    assert "only you" not in analyzed
    assert "@alice analyze running → analyzing" in said["alice> /exp history EXP-4"]
    refused = said["alice> @mlgov frobnicate"]
    assert refused.startswith("  [#general › thread, only you] ⚠️ I did not understand 'frobnicate'")
    files = said["alice> @mlgov eval EXP-4"]
    assert files.startswith("⚠️ '@mlgov eval' reads attached files; in the shell, attach them")
    assert ":upload EXP-3 FILE" in files


# --- buttons on channel posts -----------------------------------------------------------


def test_the_review_requests_buttons_in_the_thread_are_pressed_by_number(demo_url: str) -> None:
    _, out = shell(
        demo_url,
        ":as alice",
        "/review request EXP-1 @bob @carol",
        ":as bob",
        "/exp show EXP-2",  # bob's own buttons now hold the numbers on screen
        ":buttons",  # ... and this lists the thread's request again, numbered afresh
        "4",
        ":as carol",
        ":buttons",
        "2",  # the edited request's Request changes… opens a form
        ":cancel",
    )
    said = answers(out)
    posted = said["alice> /review request EXP-1 @bob @carol"]
    assert "[#churn › EXP-1 thread] Review of the results · EXP-1" in posted
    assert "[1] Approve  [2] Request changes…  [3] Can't review" in posted
    assert "[1] Analyze  [2] Conclude…  [3] Abandon…" in said["bob> /exp show EXP-2"]
    assert said["bob> :buttons"] == (
        "Buttons @bob can press now, numbered afresh:\n"
        "  the reply to @bob: EXP-2 · Calibrated logistic regression\n"
        "    [1] Analyze  [2] Conclude…  [3] Abandon…\n"
        "  #churn › EXP-1 thread: Review of the results · EXP-1\n"
        "    [4] Approve  [5] Request changes…  [6] Can't review\n"
    )
    pressed = said["bob> 4"]
    assert pressed.startswith("(pressing [4] Approve in #churn › EXP-1 thread)\n")
    assert "[#churn › EXP-1 thread] @bob approved EXP-1 (1 of 2 approvals)" in pressed
    # The request is edited in place: its tally and its buttons show again.
    assert "(edited) Review of the results · EXP-1" in pressed
    assert "✅ @bob approved" in pressed
    # carol sees the request's latest version, not bob's reply.
    assert said["carol> :buttons"] == (
        "Buttons @carol can press now, numbered afresh:\n"
        "  #churn › EXP-1 thread: Review of the results · EXP-1\n"
        "    [1] Approve  [2] Request changes…  [3] Can't review\n"
    )
    form = said["carol> 2"]
    assert "(pressing [2] Request changes… in #churn › EXP-1 thread)" in form
    assert "┌ Changes to EXP-1" in form


def test_a_reply_s_buttons_are_only_its_readers(demo_url: str) -> None:
    _, out = shell(demo_url, "/exp show EXP-4", ":as bob", "1", ":buttons", ":as ada", "9")
    said = answers(out)
    assert "[1] Analyze  [2] Conclude…  [3] Abandon…" in said["ada> /exp show EXP-4"]
    assert said["bob> 1"] == (
        "[1] Analyze is on the reply to @ada, which only @ada sees: :as ada to press it as them.\n"
    )
    assert said["bob> :buttons"].startswith("No buttons you can press now")
    assert said["ada> 9"] == (
        "No button 9; you can press: [1] Analyze  [2] Conclude…  [3] Abandon…"
        " (:buttons lists those of recent posts too)\n"
    )


def test_numbers_run_on_through_the_posts_a_line_caused_and_restart_with_new_ones(
    demo_url: str,
) -> None:
    _, out = shell(demo_url, ":as alice", "/exp show EXP-4", "/exp list", "1")
    said = answers(out)
    assert "[1] Analyze" in said["alice> /exp show EXP-4"]
    # A line that shows no buttons leaves the last ones pressable.
    pressed = said["alice> 1"]
    assert pressed.startswith("(pressing [1] Analyze)\n")
    assert "[#fraud › EXP-4 thread] @alice moved EXP-4" in pressed or "analyzing" in pressed


# --- :upload ----------------------------------------------------------------------------


def test_upload_records_an_evaluation_as_a_slack_upload_does(
    sqlite_url: str, tmp_path: Path, charts: Path
) -> None:
    candidate = scores(tmp_path, "cand.csv")
    (tmp_path / "cols.csv").write_text("label,score\n0,0.1\n1,0.9\n")
    _, out = shell(
        sqlite_url,
        ":as alice",
        f":upload EXP-4 {tmp_path / 'missing.csv'}",
        ":upload EXP-4",
        f":upload parity EXP-4 {candidate}",
        f":upload EXP-4 {tmp_path / 'cols.csv'}",
        f":upload EXP-4 {candidate} --kind nonsense",
        "/exp metrics EXP-4",
        f":upload EXP-4 {candidate}",
        "/exp metrics EXP-4",
    )
    said = answers(out)
    missing = said[f"alice> :upload EXP-4 {tmp_path / 'missing.csv'}"]
    assert missing.startswith(f"⚠️ No file at '{tmp_path / 'missing.csv'}'")
    assert "eval takes one file; you gave 0" in said["alice> :upload EXP-4"]
    assert "parity takes two files" in said[f"alice> :upload parity EXP-4 {candidate}"]
    # Refused by the upload path itself, as in Slack: only the sender hears, in the thread.
    columns = said[f"alice> :upload EXP-4 {tmp_path / 'cols.csv'}"]
    assert columns.startswith("  [#fraud › EXP-4 thread, only you] ⚠️ ")
    assert "y_true" in columns
    assert "'nonsense' is not a kind" in said[f"alice> :upload EXP-4 {candidate} --kind nonsense"]
    assert "evaluation" in said["alice> /exp metrics EXP-4"]
    assert "Latest of" not in said["alice> /exp metrics EXP-4"]  # nothing was recorded
    recorded = said[f"alice> :upload EXP-4 {candidate}"]
    assert recorded.startswith("  [#fraud › EXP-4 thread] Metric summary: EXP-4\n")
    assert "Uploaded by @alice (cand.csv)" in recorded
    chart = charts / "EXP-4-roc.png"
    assert f"  [#fraud › EXP-4 thread] 📈 EXP-4: roc against the baseline: {chart}\n" in recorded
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert "Latest of 1 evaluation(s)" in said["alice> /exp metrics EXP-4 #2"]


def test_parity_uploads_two_files_and_a_later_chart_keeps_the_earlier(
    sqlite_url: str, tmp_path: Path, charts: Path
) -> None:
    prototype = scores(tmp_path, "proto.csv")
    production = scores(tmp_path, "prod.csv", seed=4)
    shell(sqlite_url, ":as alice", f":upload EXP-4 {prototype}")
    # A later session on the same database: the thread was posted before it started.
    _, out = shell(
        sqlite_url,
        ":as alice",
        f":upload parity EXP-4 {prototype} {production} --tolerance 0.01",
        f":upload EXP-4 {production} --new-holdout",
    )
    said = answers(out)
    parity = said[f"alice> :upload parity EXP-4 {prototype} {production} --tolerance 0.01"]
    assert parity.startswith("  [#fraud › EXP-4 thread] ")
    assert "parity" in parity.lower()
    again = said[f"alice> :upload EXP-4 {production} --new-holdout"]
    assert f"[#fraud › EXP-4 thread] 📈 EXP-4: roc against the baseline: {charts}" in again
    assert sorted(p.name for p in charts.glob("EXP-4-*")) == ["EXP-4-roc-2.png", "EXP-4-roc.png"]


# --- channel names ----------------------------------------------------------------------


def test_channel_names_with_dashes_and_underscores_work_and_read_as_names(
    demo_url: str,
) -> None:
    _, out = shell(
        demo_url,
        "/mlgov project add mlx #ml-leads",
        "/mlgov rules mlx digest_channel=#data_eng",
        "/mlgov rules mlx",
    )
    said = answers(out)
    added = said["ada> /mlgov project add mlx #ml-leads"]
    assert "Project mlx created, home channel #ml-leads" in added
    assert "[#ml-leads] 👋 @ada set this channel up as the home of project mlx." in added
    for line in ("/mlgov rules mlx digest_channel=#data_eng", "/mlgov rules mlx"):
        assert "digest_channel=#data_eng" in said[f"ada> {line}"], line
        assert not re.search(r"\bC[0-9A-F]{6,}\b", said[f"ada> {line}"]), line


def test_a_new_experiment_in_a_dashed_channel_gets_its_thread_there(demo_url: str) -> None:
    line = "/exp new ml-x Dashes --hypothesis h --metric auc --min-delta 0.01"
    _, out = shell(
        demo_url,
        "/mlgov project add ml-x #ml-x",
        "/mlgov member add @alice scientist ml-x",
        ":as alice",
        line,
    )
    created = answers(out)[f"alice> {line}"]
    assert f"[#ml-x › new thread {NEXT}] {NEXT} Dashes — proposed (owner @alice)" in created


# --- every job on its schedule ------------------------------------------------------------

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)


class Terminal(io.StringIO):
    """Lines typed by a person who waits, at the second prompt, until all of ``awaited``
    has shown (the jobs run on their own thread, each in its own time)."""

    def __init__(self, first: str, then: str, *awaited: str) -> None:
        super().__init__()
        self.lines = [first, then]
        self.awaited = set(awaited)
        self.prompts = 0
        self.second_prompt = threading.Event()
        self.shown = threading.Event()

    def write(self, text: str, /) -> int:
        written = super().write(text)
        self.prompts += text == "ada> "
        if self.prompts >= 2:
            self.second_prompt.set()
        self.awaited -= {seen for seen in self.awaited if seen in text}
        if not self.awaited:
            self.shown.set()
        return written

    def readline(self, size: int | None = -1, /) -> str:
        if not self.lines:
            return ""
        if len(self.lines) == 1:
            self.shown.wait(timeout=60)  # a person waiting at the prompt, typing nothing
        return self.lines.pop(0) + "\n"


def test_jobs_on_runs_every_job_and_what_they_post_shows_while_the_prompt_waits(
    sqlite_url: str,
) -> None:
    posts = ("[#churn] 🔬 Science review", "[#fraud] 🔬 Science review", "[DM → @bob] ⏰ EXP-2")
    terminal = Terminal(":jobs on", ":quit", *posts)

    def clock() -> datetime:
        # The jobs look first when the person already waits at the prompt: Monday 09:00.
        # The outbox's lease heartbeat reads the time of the delivery it serves, unblocked.
        thread = threading.current_thread()
        if thread is not threading.main_thread() and thread.name != HEARTBEAT_THREAD:
            terminal.second_prompt.wait(timeout=60)
            return MONDAY
        return MONDAY if terminal.second_prompt.is_set() else NOW

    before = set(threading.enumerate())
    runtime = runtime_for(sqlite_url, clock=clock)
    try:
        _, out = shell(sqlite_url, runtime=runtime, stdout=terminal, stdin=terminal)
    finally:
        runtime.close()
    said = answers(out)
    assert "Background jobs: on — every job runs on its schedule" in said["ada> :jobs on"]
    # What printed while the prompt waited; the shell may draw the prompt again
    # between two jobs' posts, so take everything up to the :quit typed last.
    waiting = out.split("ada> :jobs on", 1)[1].split("ada> :quit", 1)[0]
    assert "  [#churn] 🔬 Science review · Mon 30 Nov 10:00 (Europe/Berlin)" in waiting
    assert "  [#fraud] 🔬 Science review" in waiting
    assert "[DM → @bob] ⏰ EXP-2" in waiting  # the stale nudge of its Monday
    assert "ada> :quit" in out
    assert [t.name for t in set(threading.enumerate()) - before if t.is_alive()] == []


def test_jobs_on_and_off_switch_the_schedule(demo_url: str) -> None:
    before = set(threading.enumerate())
    _, out = shell(demo_url, ":jobs off", ":jobs on", ":jobs on", ":jobs", ":jobs off")
    said = answers(out)
    off = "Background jobs: off — nothing runs on a schedule; :jobs on starts them."
    assert said["ada> :jobs off"] == f"Already so. {off}\n"
    assert said["ada> :jobs on"].startswith("Background jobs: on")
    assert said["ada> :jobs on #2"].startswith("Already so. Background jobs: on")
    assert "Background jobs: on" in said["ada> :jobs"]
    assert said["ada> :jobs off #2"] == off + "\n"
    assert [t.name for t in set(threading.enumerate()) - before if t.is_alive()] == []


def test_help_documents_mentions_button_numbers_uploads_and_jobs(demo_url: str) -> None:
    _, out = shell(demo_url, ":help")
    shown = answers(out)["ada> :help"]
    for words in (
        "@mlgov exp list",
        "numbers them",
        "starts again at [1]",
        ":buttons",
        ":upload [parity] EXP-3 FILE",
        ":jobs [on|off|run <job>",
        "path shows where Slack would show the image",
    ):
        assert words in shown, words
