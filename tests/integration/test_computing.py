"""Evaluations computed in a child process (bot/services/computing.py), for real.

What a user relies on: the numbers posted are the same as when computed inline, a file the
child refuses is refused with the same message, a child that dies fails one computation
(retried by the inbox) and not the next, and no computing process outlives its parent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.errors import InvalidTransition, ValidationError
from bot.domain.ingest import parse_evaluation
from bot.services import computing, evaluations
from bot.services.evaluations import Submission
from tests.integration.conftest import Team
from tests.integration.test_evaluation_services import churn, predictions  # noqa: F401
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def child() -> Iterator[None]:
    computing.start()
    try:
        yield
    finally:
        computing.stop()


def whoami() -> tuple[int, int]:
    return os.getpid(), os.getpriority(os.PRIO_PROCESS, 0)


def refuse(message: str) -> None:
    raise InvalidTransition(message, ["start", "abandon"])


def die() -> None:
    os._exit(3)


def test_the_child_is_another_process_at_a_lower_priority(child: None) -> None:
    pid, nice = computing.offload(whoami)
    assert pid != os.getpid()
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert nice == min(19, ours + computing.NICE)  # 19 is the most a niceness can be
    assert computing.offload(whoami)[0] == pid  # one child, kept


def test_without_start_it_computes_inline() -> None:
    assert computing.offload(whoami)[0] == os.getpid()


def test_errors_come_back_as_raised_with_their_details(child: None) -> None:
    with pytest.raises(InvalidTransition) as raised:
        computing.offload(refuse, "EXP-3 is shipped")
    assert raised.value.allowed == ("start", "abandon")
    assert "Allowed next steps: start, abandon" in str(raised.value)
    with pytest.raises(ValidationError, match="0 data rows"):
        computing.offload(parse_evaluation, b"y_true,y_score\n", filename="empty.csv")


def test_a_child_that_dies_fails_one_computation_and_not_the_next(child: None) -> None:
    first, _ = computing.offload(whoami)
    with pytest.raises(computing.ComputeFailed, match="retrying"):
        computing.offload(die)
    second, _ = computing.offload(whoami)
    assert second != first


def test_an_evaluation_computed_in_the_child_posts_the_same_numbers(churn: Team) -> None:  # noqa: F811
    team = churn

    def submit(number: int, seed: int) -> evaluations.Recorded | None:
        submission = Submission(number, predictions(seed=seed, strength=0.8), "cli", "p.csv")
        return evaluations.submit_evaluation(team.db, team.ctx("bob"), submission)

    first = submit(1, seed=1)  # EXP-1: becomes the baseline
    assert first is not None
    team.run("admin", evaluations.set_baseline, "churn", 1)
    inline = submit(2, seed=2)
    computing.start()
    try:
        in_child = submit(2, seed=2)
    finally:
        computing.stop()
    assert inline is not None and in_child is not None
    assert in_child.evaluation_id != inline.evaluation_id
    assert in_child.summary.to_json() == inline.summary.to_json()
    assert in_child.baseline == inline.baseline


CHILD_OF_A_KILLED_PARENT = """
import sys
from bot.services import computing
computing.start()
from tests.integration.test_computing import whoami
print(computing.offload(whoami)[0], flush=True)
sys.stdin.read()
"""


def test_no_computing_process_outlives_a_parent_killed_with_sigkill(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CHILD_OF_A_KILLED_PARENT],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as parent:
        try:
            assert parent.stdout is not None
            child_pid = int(parent.stdout.readline())
            assert _alive(child_pid)
            parent.send_signal(signal.SIGKILL)
            parent.wait(30)
            wait_until(lambda: not _alive(child_pid), timeout=30)
        finally:
            if parent.poll() is None:
                parent.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for the user's purposes (its parent, init, reaps it).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False
