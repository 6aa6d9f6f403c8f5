"""Real `mlgov` processes for crash tests: start, signal, restart on one database.

A process test drives `mlgov serve` (and `mlgov worker`) as a user's process manager would:
its own process, its own port, real signals, the fake Slack Web API over real HTTP. The
child runs ``python -m bot`` with this checkout first on PYTHONPATH, so it imports the code
under test even when the venv's editable install points at another worktree.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from slack_sdk.signature import SignatureVerifier

from bot.config import Settings
from bot.runtime import Runtime
from bot.slack.dispatch import Origin
from tests.e2e.harness import ADMIN, SIGNING_SECRET, TEAM
from tests.e2e.test_cli import clean_env, free_port
from tests.e2e.test_replicas import healthy, wait_until
from tests.fakes.slack_api import FakeSlack

ROOT = Path(__file__).resolve().parents[2]
PROJECT, CHANNEL = "churn", "CCHURN"
START_TIMEOUT_S = 60.0  # migrations, imports and Bolt's auth.test on a loaded 2-core machine


def scientists(count: int) -> list[str]:
    """``count`` distinct Slack user ids."""
    return [f"USCI{i:03d}" for i in range(count)]


def prepare_team(database_url: str, users: list[str]) -> None:
    """Project churn in #CCHURN with every one of ``users`` a scientist in it.

    Written through the dispatcher before any server starts (as test_replicas does): 40
    members one signed command at a time would cost seconds and test nothing new.
    """
    runtime = Runtime.create(Settings(database_url=database_url, admins=frozenset({ADMIN})))
    try:
        admin = Origin(TEAM, ADMIN)
        lines = [f"project add {PROJECT} <#{CHANNEL}|{PROJECT}>"]
        lines += [f"member add <@{user}> scientist {PROJECT}" for user in users]
        for line in lines:
            reply = runtime.dispatcher.command(admin, "/mlgov", line)
            assert not reply.failed, reply.text
    finally:
        runtime.close()


@dataclass
class Process:
    """One `mlgov` process we started, with its log file."""

    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""  # for `serve`: where it listens

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a pulled plug would; returns once it is gone."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self, bound_s: float) -> int:
        """SIGTERM, as a process manager stops a service; the exit code within ``bound_s``."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=bound_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running {bound_s:.0f} s after SIGTERM\n{self.output()}"
            ) from None

    def ensure_stopped(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@dataclass
class Fleet:
    """Every process a test starts, stopped at the end whatever happens."""

    tmp_path: Path
    fake: FakeSlack
    database_url: str
    started: list[Process] = field(default_factory=list)

    def env(self, port: int) -> dict[str, str]:
        pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        return clean_env(
            self.tmp_path,
            DATABASE_URL=self.database_url,
            SLACK_BOT_TOKEN="xoxb-processes",
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=self.fake.api_url,
            MLGOV_ADMINS=ADMIN,
            PORT=str(port),
            PYTHONPATH=pythonpath,
        )

    def spawn(self, *args: str, port: int = 0) -> Process:
        """``python -m bot <args>`` in tmp_path, its output in a log of its own."""
        log = self.tmp_path / f"{len(self.started)}-{'-'.join(args[:1])}.log"
        with log.open("wb") as sink:
            popen = subprocess.Popen(
                [sys.executable, "-m", "bot", *args],
                cwd=self.tmp_path,
                env=self.env(port or free_port()),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        process = Process(popen, log)
        self.started.append(process)
        return process

    def serve(self, *args: str) -> Process:
        """`mlgov serve [args]` on a free port, returned once /healthz answers 200."""
        port = free_port()
        process = self.spawn("serve", "--host", "127.0.0.1", *args, port=port)
        process.url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: healthy(process.url) or process.process.poll() is not None,
            "mlgov serve to answer /healthz",
            self.logs(),
            START_TIMEOUT_S,
        )
        if process.process.poll() is not None:
            raise AssertionError(f"mlgov serve exited at start:\n{process.output()}")
        return process

    def logs(self) -> list[Path]:
        """Every started process's log, for wait_until's failure message."""
        return [p.log for p in self.started]

    def stop_all(self) -> None:
        for process in self.started:
            process.ensure_stopped()


@contextlib.contextmanager
def fleet(tmp_path: Path, fake: FakeSlack, database_url: str) -> Iterator[Fleet]:
    started = Fleet(tmp_path, fake, database_url)
    try:
        yield started
    finally:
        started.stop_all()


# --- what Slack sends -----------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One user's slash command, and the response_url key its reply comes back under."""

    user: str
    command: str
    text: str
    key: str


def send_command(url: str, fake: FakeSlack, command: Command) -> int:
    """POST ``command`` to ``url`` signed as Slack signs it; the HTTP status."""
    body = urllib.parse.urlencode(
        {
            "token": "unused",
            "team_id": TEAM,
            "team_domain": "test",
            "channel_id": "CGENERAL",
            "channel_name": "general",
            "user_id": command.user,
            "user_name": command.user.lower(),
            "command": command.command,
            "text": command.text,
            "api_app_id": "A1",
            "response_url": fake.response_url(command.key),
            "trigger_id": f"trigger-{command.key}",
        }
    )
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    request = urllib.request.Request(
        url + "/slack/events",
        data=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature or "",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)


def burst(url: str, fake: FakeSlack, commands: list[Command]) -> list[int]:
    """Send every command at once, one thread each, released together at a barrier."""
    statuses: list[int | str] = ["not sent"] * len(commands)
    barrier = threading.Barrier(len(commands))

    def send(i: int) -> None:
        barrier.wait(30)
        try:
            statuses[i] = send_command(url, fake, commands[i])
        except OSError as exc:  # reported in the assertion, not swallowed
            statuses[i] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(commands))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(status == 200 for status in statuses), statuses
    return [int(status) for status in statuses]


def experiment_commands(users: list[str], tag: str) -> list[Command]:
    """One `/exp new` per user, each with a title of its own."""
    return [
        Command(user, "/exp", f"new {PROJECT} {tag} {i} --hypothesis h", f"{tag}-{i}")
        for i, user in enumerate(users)
    ]


def replies(fake: FakeSlack, commands: list[Command]) -> dict[str, list[str]]:
    """The texts each command's response_url received, by key, in arrival order."""
    texts: dict[str, list[str]] = {c.key: [] for c in commands}
    for call in fake.calls("response_url"):
        key = call.params.get("_key", "")
        if key in texts:
            texts[key].append(str(call.params.get("text", "")))
    return texts
