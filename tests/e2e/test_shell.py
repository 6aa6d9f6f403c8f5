"""`mlgov shell`: a person at a terminal, typing commands, pressing buttons, filling forms."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import Settings
from bot.jobs import JOBS
from bot.runtime import Runtime
from bot.shell import run_shell
from bot.shell.demo import STORY
from bot.slack.blocks import Reply
from bot.slack.dispatch import Origin

# The demo creates these many experiments; the next one a test creates gets this number.
SEEDED = sum(line.startswith("new ") for _, _, line in STORY)
NEXT = f"EXP-{SEEDED + 1}"
BERLIN = ZoneInfo("Europe/Berlin")
# "Now" in these sessions: a Wednesday. The demo's story starts five Mondays earlier, on
# 2026-10-19, across the end of summer time (2026-10-25); its last science review was on
# 2026-11-16 (bob away, carol presented), and the next is on Monday 2026-11-30 (bob).
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=BERLIN)


def runtime_for(url: str, clock: Callable[[], datetime] = lambda: NOW) -> Runtime:
    """The app on ``url`` with the team in Berlin, its clock stopped at ``NOW``."""
    return Runtime.create(Settings(database_url=url, timezone="Europe/Berlin"), clock=clock)


def shell(
    url: str,
    *lines: str,
    user: str | None = None,
    demo: bool = True,
    runtime: Runtime | None = None,
    scheduler: bool = False,
    stdout: io.StringIO | None = None,
    stdin: io.StringIO | None = None,
) -> tuple[int, str]:
    """Run a whole shell session on ``lines``; the exit code and everything it printed.

    The scheduler is off unless asked for, so jobs run only when a test says so.
    """
    own = runtime is None
    runtime = runtime or runtime_for(url)
    stdout = stdout or io.StringIO()
    try:
        code = run_shell(
            runtime,
            user=user,
            demo=demo,
            stdin=stdin or io.StringIO("".join(line + "\n" for line in lines)),
            stdout=stdout,
            scheduler=scheduler,
        )
    finally:
        if own:
            runtime.close()
    return code, stdout.getvalue()


def answers(transcript: str) -> dict[str, str]:
    """What the shell printed after each command line, keyed by ``user> line``.

    A line typed again is keyed ``user> line #2`` (and so on).
    """
    found: dict[str, str] = {}
    current: str | None = None
    for line in transcript.splitlines():
        if re.match(r"^\w+> ", line):
            current, repeat = line, 1
            while current in found:
                repeat += 1
                current = f"{line} #{repeat}"
            found[current] = ""
        elif current is not None:
            found[current] += line + "\n"
    return found


def test_experiment_lifecycle_with_thread_posts_and_history(demo_url: str) -> None:
    code, out = shell(
        demo_url,
        "/exp new churn Some title --hypothesis h --metric auc",
        f"/exp start {NEXT}",
        f"/exp conclude {NEXT} success learned x",
        f"/exp history {NEXT}",
    )
    said = answers(out)
    assert code == 0
    assert "You are @ada (manager, admin)" in out
    created = said["ada> /exp new churn Some title --hypothesis h --metric auc"]
    assert f"{NEXT} · Some title" in created
    assert "Status: 📝 proposed" in created
    assert f"[#churn › new thread {NEXT}] {NEXT} Some title — proposed (owner @ada)" in created
    started = said[f"ada> /exp start {NEXT}"]
    assert "Status: 🏃 running" in started
    assert f"[#churn › {NEXT} thread] @ada started {NEXT} — now 🏃 running" in started
    concluded = said[f"ada> /exp conclude {NEXT} success learned x"]
    assert "in_review (success)" in concluded
    assert f"[#churn › {NEXT} thread] @ada concluded {NEXT}" in concluded
    assert "Learnings: learned x" in concluded
    history = said[f"ada> /exp history {NEXT}"].splitlines()
    assert [re.sub(r"^\S+ \S+ UTC ", "", x) for x in history[2:5]] == [
        "@ada created ∅ → proposed (title: Some title; stream: main; criterion: auc +0 vs"
        " baseline (higher is better))",
        "@ada start proposed → running",
        "@ada conclude running → in_review (conclusion: 1; outcome: success; learnings: learned x)",
    ]
    # The conclusion opened the results review itself (auto_review).
    requested = re.sub(r"^\S+ \S+ UTC ", "", history[5])
    assert requested.startswith("@ada review_requested (kind: results; reviewers: @")
    assert "'U" not in requested  # reviewers by name, not as raw ids


def test_slash_is_optional_and_mentions_are_typed_by_name(demo_url: str) -> None:
    _, out = shell(demo_url, "exp list @bob", "/exp list @nobody")
    said = answers(out)
    bobs = said["ada> exp list @bob"]
    assert "EXP-2 Calibrated logistic regression" in bobs
    assert "@alice" not in bobs
    assert "No experiments match" in said["ada> /exp list @nobody"]


def test_pressing_a_button_by_number_starts_the_experiment(demo_url: str) -> None:
    _, out = shell(demo_url, "/exp show EXP-3", "1", "/exp show EXP-3")
    said = answers(out)
    assert "[1] Start  [2] Abandon…" in said["ada> /exp show EXP-3"]
    pressed = said["ada> 1"]
    assert "(pressing [1] Start)" in pressed
    assert "Status: 🏃 running" in pressed
    assert "[#churn › EXP-3 thread] @ada started EXP-3 — now 🏃 running" in pressed
    assert "Status: 🏃 running" in said["ada> /exp show EXP-3 #2"]


def test_a_button_that_opens_a_form_concludes_after_the_questions(demo_url: str) -> None:
    _, out = shell(
        demo_url,
        ":as bob",
        "/exp show EXP-2",
        ":press 2",
        "9",  # not an outcome number: asked again
        "failure",
        "",  # learnings are required: asked again
        "calibration did not help",
        "/exp show EXP-2",
    )
    said = answers(out)
    form = said["bob> :press 2"]
    assert "┌ Conclude EXP-2" in form
    assert "Choose 1–3 (or type the option)." in form
    assert "This field is required." in form
    assert "Status: 👀 in_review (failure)" in form
    assert "Learnings: calibration did not help" in form
    assert "[#churn › EXP-2 thread] @bob concluded EXP-2" in form
    assert "in_review (failure)" in said["bob> /exp show EXP-2 #2"]


def test_a_cancelled_form_saves_nothing(demo_url: str) -> None:
    _, out = shell(demo_url, ":as bob", "/exp show EXP-2", "3", ":cancel", "/exp show EXP-2")
    said = answers(out)
    assert "Form cancelled; nothing was saved." in said["bob> 3"]
    assert "Status: 🏃 running" in said["bob> /exp show EXP-2 #2"]


@pytest.mark.parametrize("opener", ["/exp new", "/exp"])
def test_the_new_experiment_form_asks_each_field(demo_url: str, opener: str) -> None:
    code, out = shell(
        demo_url,
        ":as alice",
        opener,
        "2",  # project: fraud
        "",  # title is required: asked again
        "Form title",
        "Written before results",
        "",  # metric left out...
        "0.01",  # ...but a minimum improvement given: the form asks for the metric again
        "",  # stream: the default, main
        "auc",
        f"/exp show {NEXT}",
    )
    said = answers(out)
    form = said[f"alice> {opener}"]
    assert code == 0
    assert "┌ New experiment" in form
    assert "1) churn  (default)" in form
    assert form.count("This field is required.") == 1
    assert "⚠️ Success metric: Choose the metric the improvement is measured in." in form
    assert f"{NEXT} · Form title" in form
    assert f"[#fraud › new thread {NEXT}] {NEXT} Form title — proposed (owner @alice)" in form
    shown = said[f"alice> /exp show {NEXT}"]
    assert "Project: fraud" in shown
    assert "Hypothesis: Written before results" in shown
    assert "Success criterion: auc +0.01 vs baseline" in shown


def test_another_user_is_refused_with_the_reason(demo_url: str) -> None:
    _, out = shell(
        demo_url,
        ":as alice",
        "/exp new churn Alice idea --hypothesis h --metric auc",
        ":as bob",
        f"/exp start {NEXT}",
        f"/exp show {NEXT}",
        "1",
        f"/exp history {NEXT}",
    )
    said = answers(out)
    assert "You are now @bob (scientist on churn, fraud)." in said["alice> :as bob"]
    refusal = f"⚠️ Only the owner or manager can start {NEXT} (owner: @alice)."
    assert refusal in said[f"bob> /exp start {NEXT}"]
    assert refusal in said["bob> 1"]
    history = said[f"bob> /exp history {NEXT}"]
    assert "@alice created ∅ → proposed" in history
    assert "start" not in history


def test_bad_input_gets_clear_messages_and_the_shell_goes_on(demo_url: str) -> None:
    code, out = shell(
        demo_url,
        "4",
        ":frobnicate",
        "/exp show EXP-1",
        "9",
        ":press two",
        "hello there",
        "/exp frobnicate",
        "/nope",
        ":as mary-jane",
        ":as dave",
        "/exp new churn Dave idea",
        "/exp list all",
    )
    said = answers(out)
    assert code == 0
    assert (
        said["ada> 4"] == "No buttons on screen to press; :buttons lists those of recent posts.\n"
    )
    assert "Unknown shell command ':frobnicate'. Type :help" in said["ada> :frobnicate"]
    assert said["ada> 9"] == (
        "No button 9; you can press: [1] Abandon… (:buttons lists those of recent posts too)\n"
    )
    assert "No button two" in said["ada> :press two"]
    assert "'hello' is neither a slash command" in said["ada> hello there"]
    assert "Unknown subcommand 'frobnicate'" in said["ada> /exp frobnicate"]
    assert "Usage: /exp new" in said["ada> /exp frobnicate"]
    assert "Unknown command '/nope'" in said["ada> /nope"]
    assert "is not a name" in said["ada> :as mary-jane"]
    assert "You are now @dave (no roles yet)." in said["ada> :as dave"]
    assert "members: ada, alice, bob, carol, erin, mia" in said["ada> :as dave"]
    assert "/mlgov member add @dave" in said["ada> :as dave"]
    assert "You are not on project churn" in said["dave> /exp new churn Dave idea"]
    assert "No experiments match" in said["dave> /exp list all"]


def test_an_unexpected_failure_is_reported_and_the_loop_goes_on(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = runtime_for(sqlite_url)
    real = runtime.dispatcher.command

    def flaky(origin: Origin, command: str, text: str) -> Reply:
        if "boom" in text:
            raise RuntimeError("boom")
        return real(origin, command, text)

    monkeypatch.setattr(runtime.dispatcher, "command", flaky)
    try:
        code, out = shell(sqlite_url, "/exp show boom", "/exp show EXP-1", runtime=runtime)
    finally:
        runtime.close()
    said = answers(out)
    assert code == 0
    assert "error: RuntimeError: boom (logged; the shell goes on)" in said["ada> /exp show boom"]
    assert "EXP-1 · Gradient boosting" in said["ada> /exp show EXP-1"]


def test_demo_seeding_is_idempotent_and_audited(sqlite_url: str) -> None:
    _, first = shell(sqlite_url, "/exp list all")
    _, second = shell(sqlite_url, "/exp list all", "/exp history EXP-1", ":who")
    assert (
        "Seeded a demo team: 6 people, projects #churn and #fraud, 6 experiments over the last"
        " 5 weeks, 8 weekly reviews announced." in first
    )
    assert "Seeded a demo team" not in second
    listing = f"{SEEDED} experiment(s) — all"
    assert listing in answers(first)["ada> /exp list all"]
    said = answers(second)
    assert listing in said["ada> /exp list all"]
    for status in ("in_review (success)", "running", "proposed", "abandoned"):
        assert status in said["ada> /exp list all"]
    history = said["ada> /exp history EXP-1"]
    # The story took weeks: created on its first Tuesday (11:00 Berlin, summer time).
    assert "2026-10-20 09:00 UTC @alice created ∅ → proposed" in history
    assert "2026-10-30 10:08 UTC @alice conclude running → in_review" in history
    who = said["ada> :who"]
    assert re.search(r"@ada +manager, admin  ← you", who)
    assert re.search(r"@mia +manager on churn, fraud", who)
    assert re.search(r"@erin +engineer on churn, fraud", who)


def test_as_picks_the_user_and_help_lists_the_shell_commands(demo_url: str) -> None:
    code, out = shell(demo_url, ":help", ":quit", "/exp list", user="carol")
    said = answers(out)
    assert code == 0
    assert "You are @carol (scientist on churn, fraud)." in out
    commands = (":as <name>", ":who", ":press <N>", ":buttons", ":upload [parity] EXP-3")
    for command in (*commands, ":jobs [on|off|run <job>", ":help", ":quit"):
        assert command in said["carol> :help"]
    assert "what they post" in said["carol> :help"]
    assert "carol> /exp list" not in out  # :quit ended the session


def test_an_empty_workspace_makes_the_operator_its_first_admin(sqlite_url: str) -> None:
    _, out = shell(
        sqlite_url,
        "/mlgov project add churn #churn",
        "/mlgov member add @bob scientist churn",
        ":as bob",
        "/exp new churn First --hypothesis h",
        demo=False,
    )
    said = answers(out)
    assert "you are its first admin" in out
    assert "You are @alice (admin)." in out
    added = said["alice> /mlgov project add churn #churn"]
    assert "Project churn created, home channel #churn." in added
    assert "[#churn] 👋 @alice set this channel up as the home of project churn." in added
    assert (
        "@bob is now scientist on churn." in said["alice> /mlgov member add @bob scientist churn"]
    )
    assert "EXP-1 · First" in said["bob> /exp new churn First --hypothesis h"]


# --- the rotation and the scheduled jobs ----------------------------------------------


def test_jobs_lists_each_job_with_its_interval_and_the_demo_history(demo_url: str) -> None:
    _, out = shell(demo_url, ":jobs", ":jobs list")
    said = answers(out)
    listing = said["ada> :jobs"]
    assert said["ada> :jobs list"] == listing
    for job in JOBS.values():
        assert re.search(
            rf"^  {re.escape(job.name)} +every .*{re.escape(job.summary)}", listing, re.M
        )
    assert re.search(r"^  rotation +every 1 min ", listing, re.M)
    assert re.search(r"^  stale-nudges +every 15 min ", listing, re.M)
    assert re.search(r"^  outbox +every 30 s ", listing, re.M)
    assert re.search(r"^  mlflow-sync +every 1 min ", listing, re.M)
    # The demo's last Monday announcements, by project, in team time (09:00 Berlin).
    assert "last runs: fraud announce:2026-11-16 (Mon 2026-11-16 09:00)" in listing
    assert "churn announce:2026-11-16 (Mon 2026-11-16 09:00)" in listing
    assert "EXP-2 2026-W48 (Wed 2026-11-25 12:00)" in listing  # caught up at start
    assert "last runs: none recorded" in listing
    assert "Background jobs: off — nothing runs on a schedule; :jobs on starts them." in listing


def test_the_rotation_job_reminds_the_day_before_and_announces_once_at_its_time(
    demo_url: str,
) -> None:
    _, out = shell(
        demo_url,
        ":jobs run rotation --as-of 2026-11-29T09:00 --force",
        ":jobs run rotation --as-of 2026-11-30T08:59 --force",
        ":jobs run rotation --as-of 2026-11-30T08:00+00:00 --force",  # 09:00 in Berlin
        ":jobs run rotation --as-of 2026-11-30T09:00 --force",
        ":jobs run rotation --as-of 2026-11-30T09:30 --force",
    )
    said = answers(out)
    sunday = said["ada> :jobs run rotation --as-of 2026-11-29T09:00 --force"]
    assert sunday.startswith("rotation as of Sun 2026-11-29 09:00 (Europe/Berlin):\n")
    assert "  churn: reminded @bob of 2026-11-30\n" in sunday
    assert (
        "  [DM → @bob] 👋 You present at the churn science review tomorrow,"
        " Mon 30 Nov 10:00 (Europe/Berlin)." in sunday
    )
    assert "[#churn]" not in sunday
    early = said["ada> :jobs run rotation --as-of 2026-11-30T08:59 --force"]
    assert early == "rotation as of Mon 2026-11-30 08:59 (Europe/Berlin):\n  nothing due\n"
    due = said["ada> :jobs run rotation --as-of 2026-11-30T08:00+00:00 --force"]
    assert due.startswith("rotation as of Mon 2026-11-30 09:00 (Europe/Berlin):\n")
    assert "  churn: announced the science review of 2026-11-30\n" in due
    announcement = due[due.index("  [#churn] ") :].splitlines()
    assert announcement[0] == "  [#churn] 🔬 Science review · Mon 30 Nov 10:00 (Europe/Berlin)"
    assert [line.strip() for line in announcement[2:5]] == [
        "Presenter: @bob",
        "Agenda: concluded or in review since the last science review",
        "• EXP-1 Gradient boosting on tenure features: in review",
    ]
    assert "DM →" not in due
    assert out.count("[#churn] 🔬 Science review") == 1
    for again in ("2026-11-30T09:00", "2026-11-30T09:30"):
        assert said[f"ada> :jobs run rotation --as-of {again} --force"].endswith("  nothing due\n")


def test_rotation_show_plans_ahead_with_a_skip_and_stats_show_the_history(
    demo_url: str,
) -> None:
    _, out = shell(demo_url, "/rotation show churn", "/rotation stats churn", ":as carol")
    said = answers(out)
    show = said["ada> /rotation show churn"]
    assert "Meets Mon 10:00 (Europe/Berlin), announced at 09:00." in show
    assert [line for line in show.splitlines() if line.startswith("Mon ")] == [
        "Mon 2026-11-30 🔬 science: @bob",
        "Mon 2026-12-07 🛠️ engineering: @erin",
        "Mon 2026-12-14 🔬 science: @carol · skipped: @alice — out of office",
        "Mon 2026-12-21 🛠️ engineering: @erin",
        "Mon 2026-12-28 🔬 science: @alice",
        "Mon 2027-01-04 🛠️ engineering: @erin",
    ]
    stats = said["ada> /rotation stats churn"]
    assert "@erin: presented 2, skipped none, swaps 0" in stats
    assert "@alice: presented 1, skipped none, swaps 0" in stats
    assert "@carol: presented 1, skipped none, swaps 0" in stats
    assert "@bob: presented 0, skipped 1× out of office, swaps 0" in stats
    assert "4 meeting(s) announced in the period." in stats


def test_rotation_commands_take_typed_names(demo_url: str) -> None:
    _, out = shell(
        demo_url,
        "/rotation swap @bob @erin --project churn",
        ":as carol",
        "/rotation show",
        "/rotation swap @alice @erin --project churn",
        "/rotation swap @bob @carol --project churn",
        "/rotation show churn 1",
        ":jobs run rotation --as-of 2026-11-30T09:00 --force",
    )
    said = answers(out)
    not_in_pool = said["ada> /rotation swap @bob @erin --project churn"]
    assert not_in_pool == "⚠️ @erin is not in the science pool of churn.\n"
    assert "Which project? Name it (your projects: churn, fraud)." in said["carol> /rotation show"]
    refused = said["carol> /rotation swap @alice @erin --project churn"]
    assert refused == "⚠️ Only one of the two, or a manager, can swap a presentation.\n"
    swapped = said["carol> /rotation swap @bob @carol --project churn"]
    assert swapped.startswith(
        "Swapped: Mon 2026-11-30 🔬 science: @carol (swapped with @bob). In exchange @bob"
        " presents on Mon 2026-12-14 instead of @carol. Nobody else's meetings move."
        " Told by DM: @bob.\n"
    )
    assert "[DM → @bob] 🔁 A swap changed your churn review presentations" in swapped
    shown = said["carol> /rotation show churn 1"]
    assert "Mon 2026-11-30 🔬 science: @carol (swapped with @bob)" in shown
    announced = said["carol> :jobs run rotation --as-of 2026-11-30T09:00 --force"]
    assert "  [#churn] 🔬 Science review · Mon 30 Nov 10:00 (Europe/Berlin)" in announced
    assert "Presenter: @carol" in announced
    assert "(swapped with @bob)" in announced


def test_stale_nudges_are_direct_messages_once_a_week(demo_url: str) -> None:
    _, out = shell(
        demo_url,
        ":jobs run stale-nudges",
        ":jobs run stale-nudges --as-of 2026-11-30T09:00 --force",
        ":jobs run stale-nudges --as-of 2026-12-01T09:00 --force",
    )
    said = answers(out)
    # The demo's jobs caught up when it was seeded: this week's nudges are sent already.
    assert said["ada> :jobs run stale-nudges"] == (
        "stale-nudges as of Wed 2026-11-25 12:00 (Europe/Berlin):\n  nothing due\n"
    )
    monday = said["ada> :jobs run stale-nudges --as-of 2026-11-30T09:00 --force"]
    assert "  nudged @bob about EXP-2 (" in monday
    assert "  [DM → @bob] ⏰ EXP-2 Calibrated logistic regression has had no activity for" in monday
    assert "EXP-5" not in monday  # abandoned: nothing to nudge about
    tuesday = said["ada> :jobs run stale-nudges --as-of 2026-12-01T09:00 --force"]
    assert tuesday.endswith("  nothing due\n")


def test_bad_jobs_input_gets_a_clear_message_and_runs_nothing(demo_url: str) -> None:
    bad = {
        ":jobs frob": "Unknown :jobs command 'frob'.",
        ":jobs list now": "Unknown :jobs command 'list now'.",
        ":jobs run": "Name one job to run.",
        ":jobs run rotation outbox": "Name one job to run.",
        ":jobs run nightly": "No job 'nightly'; jobs: rotation, ",
        ":jobs run rotation --as-of": "--as-of needs a time, like 2026-11-30T09:00.",
        ":jobs run rotation --as-of tomorrow": "--as-of must be an ISO time like",
        ":jobs run rotation --as-of=2026-13-01T09:00": "ISO time like 2026-11-30T09:00 (team",
        ":jobs run rotation --when 2026-11-30T09:00": "Unknown option '--when'.",
    }
    code, out = shell(demo_url, *bad, ":jobs run rotation --as-of 2026-11-30T09:00 --force")
    said = answers(out)
    assert code == 0
    for line, message in bad.items():
        answer = said[f"ada> {line}"]
        assert answer.startswith("⚠️ ") and message in answer, line
        assert "Usage: :jobs [list|on|off]  or  :jobs run <job> [--as-of ISO-TIME]" in answer
        assert " as of " not in answer
    # Nothing ran: the announcement is still due.
    assert "churn: announced" in said["ada> :jobs run rotation --as-of 2026-11-30T09:00 --force"]


def test_a_run_as_of_a_later_time_is_refused_unless_a_dry_run_or_forced(demo_url: str) -> None:
    later = "--as-of 2026-11-30T09:00"
    code, out = shell(
        demo_url,
        f":jobs run rotation {later}",
        f":jobs run rotation {later} --dry-run --force",
        f":jobs run rotation {later} --dry-run",
        f":jobs run rotation {later} --force",
    )
    said = answers(out)
    assert code == 0
    refused = said[f"ada> :jobs run rotation {later}"]
    assert refused.startswith("⚠️ --as-of 2026-11-30T09:00+01:00 is later than now")
    assert "Add --dry-run to see what it would send, or --force" in refused
    both = said[f"ada> :jobs run rotation {later} --dry-run --force"]
    assert "choose one" in both
    rehearsed = said[f"ada> :jobs run rotation {later} --dry-run"]
    assert "(dry run: nothing sent or recorded)" in rehearsed
    assert "  churn: announced the science review of 2026-11-30" in rehearsed
    assert "  would send chat.postMessage to #churn: " in rehearsed
    assert "[#churn]" not in rehearsed  # nothing was posted
    # Neither the refusal nor the rehearsal used the week up: the forced run announces it.
    forced = said[f"ada> :jobs run rotation {later} --force"]
    assert "  churn: announced the science review of 2026-11-30" in forced
    assert out.count("[#churn] 🔬 Science review") == 1


class WaitingAtThePrompt(io.StringIO):
    """A terminal where, while the shell first waits at its prompt, ``meanwhile`` happens."""

    def __init__(self, prompt: str, meanwhile: Callable[[], object]) -> None:
        super().__init__()
        self.prompt = prompt
        self.meanwhile: Callable[[], object] | None = meanwhile

    def write(self, text: str, /) -> int:
        written = super().write(text)
        if text == self.prompt and self.meanwhile is not None:
            happen, self.meanwhile = self.meanwhile, None
            happen()
        return written


def test_what_a_background_job_posts_shows_before_the_next_prompt(sqlite_url: str) -> None:
    now = [NOW]
    runtime = runtime_for(sqlite_url, clock=lambda: now[0])

    def monday_morning() -> None:  # as the scheduler would, in the background
        now[0] = datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)
        JOBS["rotation"].run(runtime.job_env(), runtime.clock())

    terminal = WaitingAtThePrompt("ada> ", monday_morning)
    try:
        _, out = shell(sqlite_url, ":who", ":who", runtime=runtime, stdout=terminal)
    finally:
        runtime.close()
    said = answers(out)
    first = said["ada> :who"]  # a shell command, which itself posts nothing
    assert first.index("@erin") < first.index("[#churn] 🔬 Science review · Mon 30 Nov 10:00")
    assert "[#fraud] 🔬 Science review" in first
    assert "Science review" not in said["ada> :who #2"]


def test_the_shell_runs_the_scheduler_and_stops_it_when_it_ends(sqlite_url: str) -> None:
    before = set(threading.enumerate())
    code, out = shell(sqlite_url, ":jobs", ":quit", scheduler=True)
    assert code == 0
    listing = answers(out)["ada> :jobs"]
    assert "Background jobs: on — every job runs on its schedule, as in `mlgov serve`" in listing
    # The clock stands still at NOW, and the demo caught up: the first look finds nothing.
    assert "[#" not in out.split("ada> :jobs")[1]
    assert [t.name for t in set(threading.enumerate()) - before if t.is_alive()] == []


# --- the real console script ----------------------------------------------------------


def _run_mlgov(tmp_path: Path, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MLGOV_"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [str(Path(sys.executable).parent / "mlgov"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
        env=env,
        timeout=120,
    )


def test_the_readme_upload_works_as_written_on_a_fresh_demo(tmp_path: Path) -> None:
    # One demo seeded by the console script serves both checks: the listing only reads.
    done = _run_mlgov(
        tmp_path,
        "shell",
        "--demo",
        stdin="/exp list all\n:as alice\n:upload EXP-3 demo-holdout.csv\n",
    )
    assert done.returncode == 0, done.stderr
    assert "Seeded a demo team" in done.stdout
    said = answers(done.stdout)
    listing = said["ada> /exp list all"]
    assert f"{SEEDED} experiment(s) — all" in listing
    assert "EXP-1 Gradient boosting on tenure features — 👀 in_review (success)" in listing
    assert f"are in {tmp_path / 'demo-holdout.csv'}: try :upload EXP-3" in done.stdout
    posted = said["alice> :upload EXP-3 demo-holdout.csv"]
    assert "[#churn › EXP-3 thread] Metric summary: EXP-3" in posted
    assert "EXP-3 vs baseline EXP-2: AUC better" in posted
    assert "Uploaded by @alice (demo-holdout.csv)" in posted


def test_mlgov_without_a_verb_or_slack_lands_in_the_demo_shell(tmp_path: Path) -> None:
    done = _run_mlgov(tmp_path, stdin=":who\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("mlgov shell — the Slack app without Slack")
    assert "Seeded a demo team" in done.stdout
    assert "@alice" in answers(done.stdout)["ada> :who"]


def test_the_demo_works_on_each_database(database_url: str) -> None:
    _, out = shell(database_url, "/exp show EXP-3", "1", "/exp list all")
    said = answers(out)
    assert "[#churn › EXP-3 thread] @ada started EXP-3" in said["ada> 1"]
    assert f"{SEEDED} experiment(s) — all" in said["ada> /exp list all"]


def test_as_refuses_what_cannot_be_a_name(sqlite_url: str) -> None:
    code, out = shell(sqlite_url, "/exp list", user="mary jane")
    assert code == 2
    assert "--as 'mary jane' is not a name" in out
    assert "> /exp list" not in out


def test_the_demo_has_real_evaluations_against_a_baseline(demo_url: str) -> None:
    from sklearn.metrics import roc_auc_score

    from bot.shell.demo_models import train_demo_models

    _, transcript = shell(demo_url, "/exp metrics EXP-1", "/exp baseline churn")
    said = answers(transcript)
    metrics = said["ada> /exp metrics EXP-1"]
    models = train_demo_models()
    auc = roc_auc_score(models.candidate.y_true, models.candidate.score)
    base = roc_auc_score(models.baseline.y_true, models.baseline.score)
    assert f"AUC {auc:.4f}" in metrics and f"{base:.4f}" in metrics
    assert "AUC better" in metrics and "compared with EXP-2" in metrics
    assert "171 held-out rows" in metrics
    assert "EXP-2 (evaluation #1)" in said["ada> /exp baseline churn"]
