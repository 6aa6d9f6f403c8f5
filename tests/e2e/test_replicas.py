"""Three `mlgov serve` replicas on one PostgreSQL, an announcement due now: it goes out once."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.config import Settings
from bot.domain.rotation import WEEKDAYS
from bot.jobs import JOBS
from bot.runtime import Runtime
from bot.slack.dispatch import Origin
from storage.db import create_db_engine
from tests.e2e.harness import SIGNING_SECRET
from tests.e2e.test_cli import MLGOV, clean_env, free_port
from tests.fakes.slack_api import Call, FakeSlack

REPLICAS = 3


def midday_zone(now: datetime) -> str:
    """A fixed-offset zone where ``now`` is between 12:00 and 13:00, so that the meeting
    (an hour from now) and the announcement (a minute ago) fall on today's date there."""
    hours = 12 - now.hour  # from -11 to +12, all of which exist as Etc/GMT zones
    # POSIX-style names: Etc/GMT-2 is two hours *ahead* of UTC.
    return "Etc/GMT" if hours == 0 else f"Etc/GMT{'-' if hours > 0 else '+'}{abs(hours)}"


def prepare(pg_url: str, zone: str, now: datetime) -> None:
    """churn in #CCHURN with presenters, its review announced a minute ago, meeting in an hour."""
    runtime = Runtime.create(
        Settings(database_url=pg_url, timezone=zone, admins=frozenset({"UADMIN"}))
    )
    try:
        local = now.astimezone(ZoneInfo(zone))
        announce, meeting = local - timedelta(minutes=1), local + timedelta(minutes=60)
        assert announce.date() == meeting.date() == local.date()
        admin = Origin("T1", "UADMIN")
        for command, line in (
            ("/mlgov", "project add churn <#CCHURN|churn>"),
            ("/mlgov", "member add <@UALICE> scientist churn"),
            ("/mlgov", "member add <@UBOB> scientist churn"),
            ("/mlgov", "member add <@UERIN> engineer churn"),
            (
                "/rotation",
                f"config churn weekday={WEEKDAYS[local.weekday()]} time={meeting:%H:%M}"
                f" announce={announce:%H:%M} timezone={zone}",
            ),
        ):
            reply = runtime.dispatcher.command(admin, command, line)
            assert not reply.failed, reply.text
    finally:
        runtime.close()


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], what: str, logs: list[Path], timeout: float) -> None:
    """Poll ``condition`` for at most ``timeout`` seconds; fail with the replicas' logs."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            output = "\n".join(f"--- {log.name}\n{log.read_text()}" for log in logs)
            raise AssertionError(f"timed out waiting for {what}\n{output}")
        time.sleep(0.05)


def scalar(pg_url: str, sql: str) -> int:
    engine = create_db_engine(pg_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text(sql)).scalar_one())
    finally:
        engine.dispose()


def test_three_replicas_announce_a_due_meeting_exactly_once(
    tmp_path: Path, migrated_pg_url: str, fake_slack: FakeSlack
) -> None:
    pg_url = migrated_pg_url
    now = datetime.now(UTC)
    zone = midday_zone(now)
    prepare(pg_url, zone, now)

    def is_announcement(call: Call) -> bool:
        return call.params.get("channel") == "CCHURN" and " review " in call.params.get("text", "")

    ports = [free_port() for _ in range(REPLICAS)]
    logs = [tmp_path / f"replica-{i}.log" for i in range(REPLICAS)]
    with contextlib.ExitStack() as stack:
        processes = []
        for port, log in zip(ports, logs, strict=True):
            out = stack.enter_context(log.open("w"))
            env = clean_env(
                tmp_path,
                DATABASE_URL=pg_url,
                SLACK_BOT_TOKEN="xoxb-replica",
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=fake_slack.api_url,
                MLGOV_TIMEZONE=zone,
                PORT=str(port),
            )
            processes.append(
                subprocess.Popen(
                    [MLGOV, "serve", "--host", "127.0.0.1"],
                    cwd=tmp_path,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        try:
            urls = [f"http://127.0.0.1:{port}" for port in ports]
            wait_until(
                lambda: (
                    all(healthy(url) for url in urls)
                    or any(p.poll() is not None for p in processes)
                ),
                "every replica to answer /healthz",
                logs,
                60,
            )
            assert all(p.poll() is None for p in processes), [log.read_text() for log in logs]

            fake_slack.wait_for("chat.postMessage", predicate=is_announcement, timeout=30)
            # Each replica's first look runs every job once; after that, and once the
            # outbox is drained, a second announcement would already be here.
            wait_until(
                lambda: all(
                    log.read_text().count("executed successfully") >= len(JOBS) for log in logs
                ),
                "each replica's first run of every job",
                logs,
                30,
            )
            pending = "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND NOT dead"
            wait_until(lambda: scalar(pg_url, pending) == 0, "an empty outbox", logs, 30)

            announced = [c for c in fake_slack.calls("chat.postMessage") if is_announcement(c)]
            assert len(announced) == 1, [c.params["text"] for c in announced]
            assert "<@UALICE> presents" in announced[0].params["text"]
            assert scalar(pg_url, "SELECT count(*) FROM job_runs WHERE job = 'rotation'") == 1
            assert scalar(pg_url, "SELECT count(*) FROM presentations") == 1
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            codes = []
            for process in processes:
                try:
                    codes.append(process.wait(timeout=20))
                except subprocess.TimeoutExpired:
                    process.kill()
                    codes.append(process.wait())
    assert codes == [0] * REPLICAS, [log.read_text() for log in logs]
