"""Acknowledged means done: real `mlgov serve` processes, real signals, SQLite and PostgreSQL.

Slack never retries a slash command. Once the server answered 200, the command is the
server's to finish: a ``kill -9`` right after the ack must not lose it, SIGTERM must drain
it, and two workers must not run it twice (SPEC §8, §9; issue 11).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.processes import (
    START_TIMEOUT_S,
    Command,
    Fleet,
    burst,
    experiment_commands,
    fleet,
    prepare_team,
    replies,
    scientists,
)
from tests.e2e.test_replicas import scalar, wait_until
from tests.fakes.slack_api import FakeSlack

BURST = 40
# Generous bounds on a shared 2-core machine, never timing claims. A killed process's leases
# run out first: 10 s for an inbox row and for an outbox message (each renewed while it runs).
DONE_TIMEOUT_S = 90.0
DRAIN_BOUND_S = 40.0  # SIGTERM: the workers finish what they hold (25 s at most), then exit


def created(database_url: str, tag: str) -> int:
    """Experiments the burst tagged ``tag`` created."""
    return scalar(database_url, f"SELECT count(*) FROM experiments WHERE title LIKE '{tag} %'")


def audited(database_url: str) -> int:
    """'created' rows in the audit log: one per experiment, or a command ran twice."""
    return scalar(database_url, "SELECT count(*) FROM audit_log WHERE action = 'created'")


def outbox_pending(database_url: str) -> int:
    return scalar(database_url, "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND NOT dead")


def inbox(database_url: str, status: str) -> int:
    """Inbox rows in ``status`` (pending, done or parked)."""
    return scalar(database_url, f"SELECT count(*) FROM inbox WHERE status = '{status}'")


def wait_for_everything(
    running: Fleet, commands: list[Command], tag: str, *, what: str = "every command"
) -> None:
    """Until every experiment exists, every user has a reply, and nothing is left to do.

    An empty inbox and outbox are part of the condition: a duplicate sent later would
    otherwise arrive after the assertions and go unseen.
    """
    url, fake = running.database_url, running.fake

    def done() -> bool:
        answered = replies(fake, commands)
        return (
            created(url, tag) >= len(commands)
            and all(answered.values())
            and inbox(url, "pending") == 0
            and outbox_pending(url) == 0
        )

    try:
        wait_until(done, f"{what} to take effect and be answered", running.logs(), DONE_TIMEOUT_S)
    except AssertionError as timeout:
        answered = sum(1 for texts in replies(fake, commands).values() if texts)
        raise AssertionError(
            f"{created(url, tag)} of {len(commands)} experiments exist, {answered} of"
            f" {len(commands)} users were answered, {outbox_pending(url)} messages unsent; "
            + str(timeout)
        ) from None


def assert_answered(
    fake: FakeSlack, commands: list[Command], in_flight: frozenset[str] = frozenset()
) -> None:
    """Each user heard back about their own experiment, once.

    A key in ``in_flight`` may have a second, identical reply: its first copy reached Slack
    before the process was killed, which is the one reply an outbox cannot record as sent.
    """
    answered = replies(fake, commands)
    for command in commands:
        texts = answered[command.key]
        title = command.text.split(" --")[0].split(" ", 2)[2]  # "new churn <title> --…"
        assert texts and all(("Created *EXP-" in t and title in t) for t in texts), (
            command,
            texts,
        )
        allowed = 2 if command.key in in_flight else 1
        assert len(texts) <= allowed, (command, texts)


def test_kill_9_right_after_a_burst_loses_no_acknowledged_command(
    tmp_path: Path, fake_slack: FakeSlack, migrated_database_url: str
) -> None:
    """40 users' `/exp new`, all acknowledged, then SIGKILL at once: after a restart on the
    same database all 40 experiments exist, once each, and each user is answered.

    Exactly once is what the inbox promises for the *effect*: a row is marked done in the
    transaction that creates the experiment and queues its reply, so a restart re-runs only
    rows whose effect was never committed. The *reply* is an outbox message, and no outbox
    can make a POST to response_url and the record of it one atomic step: a process killed
    after Slack got the reply and before the row says so sends it again after the restart.
    So the test allows a second copy only for a reply that had reached the fake Slack
    before the kill; every other user must be answered exactly once.
    """
    database_url = migrated_database_url
    users = scientists(BURST)
    prepare_team(database_url, users)
    commands = experiment_commands(users, "kill")
    with fleet(tmp_path, fake_slack, database_url) as running:
        first = running.serve()
        burst(first.url, fake_slack, commands)
        first.kill()
        in_flight = frozenset(key for key, texts in replies(fake_slack, commands).items() if texts)
        # Otherwise the restart would have nothing to resume and the test would prove little.
        assert inbox(database_url, "pending") > 0, "every command finished before the kill"

        running.serve()
        wait_for_everything(running, commands, "kill", what="all 40 acknowledged commands")

        assert created(database_url, "kill") == BURST
        assert audited(database_url) == BURST
        assert inbox(database_url, "parked") == 0
        assert_answered(fake_slack, commands, in_flight)


def test_sigterm_drains_then_exits_0_and_a_restart_finishes_the_rest(
    tmp_path: Path, fake_slack: FakeSlack, migrated_database_url: str
) -> None:
    """The same burst, then SIGTERM: the process stops taking requests, finishes what its
    workers hold, exits 0; whatever it left in the inbox the next start finishes. A graceful
    stop records every reply it sent, so here each user is answered exactly once."""
    database_url = migrated_database_url
    users = scientists(BURST)
    prepare_team(database_url, users)
    commands = experiment_commands(users, "term")
    with fleet(tmp_path, fake_slack, database_url) as running:
        first = running.serve()
        burst(first.url, fake_slack, commands)
        code = first.terminate(DRAIN_BOUND_S)
        assert code == 0, first.output()

        running.serve()
        wait_for_everything(running, commands, "term", what="all 40 acknowledged commands")

        assert created(database_url, "term") == BURST
        assert audited(database_url) == BURST
        assert inbox(database_url, "parked") == 0
        assert_answered(fake_slack, commands)


@pytest.mark.postgres
def test_two_worker_processes_never_run_one_inbox_row_twice(
    tmp_path: Path, fake_slack: FakeSlack, migrated_pg_url: str
) -> None:
    """`mlgov serve --workers 2` on PostgreSQL: two worker processes claim from one inbox
    while a burst arrives. Every command has its effect once (one experiment, one audit
    row) and one reply; a row claimed by both would show as a second of either."""
    users = scientists(BURST)
    prepare_team(migrated_pg_url, users)
    commands = experiment_commands(users, "pair")
    with fleet(tmp_path, fake_slack, migrated_pg_url) as running:
        server = running.serve("--workers", "2")
        # Both workers polling before the burst: a worker still importing when the other
        # had run it all would leave no race to test.
        wait_until(
            lambda: server.output().count("inbox worker started") == 2,
            "both worker processes to start",
            running.logs(),
            START_TIMEOUT_S,
        )
        burst(server.url, fake_slack, commands)
        wait_for_everything(running, commands, "pair")

        assert created(migrated_pg_url, "pair") == BURST
        assert audited(migrated_pg_url) == BURST
        assert inbox(migrated_pg_url, "done") == BURST
        assert_answered(fake_slack, commands)
        # Both workers took rows, so the race was real. lease_owner stays on a done row as
        # "<pid>:<uuid>"; the web process of --workers N claims nothing.
        owners = scalar(
            migrated_pg_url,
            "SELECT count(DISTINCT split_part(lease_owner, ':', 1)) FROM inbox"
            " WHERE status = 'done'",
        )
        assert owners == 2, server.output()
        # On PostgreSQL the workers run at niceness +10 by default (bot/cli_serve.WORKER_NICE):
        # the acks' INSERTs wait for nothing they hold, so the acks get the CPU first.
        pids = [
            scalar(
                migrated_pg_url,
                f"SELECT {pick}(split_part(lease_owner, ':', 1)::int) FROM inbox",
            )
            for pick in ("min", "max")
        ]
        web = os.getpriority(os.PRIO_PROCESS, server.process.pid)
        assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in pids] == [min(19, web + 10)] * 2
        assert server.terminate(DRAIN_BOUND_S) == 0, server.output()


def test_serve_workers_on_sqlite_are_not_niced(
    tmp_path: Path, fake_slack: FakeSlack, migrated_sqlite_url: str
) -> None:
    """`mlgov serve --workers 1` on SQLite runs its worker at the web process's own
    niceness: a niced worker holding the one write lock made every ack wait (on PostgreSQL
    they are niced: see the test above)."""
    with fleet(tmp_path, fake_slack, migrated_sqlite_url) as running:
        server = running.serve("--workers", "1")
        wait_until(
            lambda: "inbox worker started" in server.output(),
            "the worker process to start",
            running.logs(),
            START_TIMEOUT_S,
        )
        pid = server.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        workers = [int(child) for child in children if b" worker " in _command_line(child)]
        web = os.getpriority(os.PRIO_PROCESS, pid)
        assert [os.getpriority(os.PRIO_PROCESS, w) for w in workers] == [web]
        assert server.terminate(DRAIN_BOUND_S) == 0, server.output()


def _command_line(pid: str) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
