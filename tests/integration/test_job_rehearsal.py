"""A job's dry run (`mlgov jobs run … --dry-run`) on SQLite and PostgreSQL: it shows what
the job would do and send, and keeps nothing — no ledger claim, no row, no message."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from bot.jobs import JOBS, JobEnv, rehearse
from bot.slack.notices import SlackNotices
from storage.models import AuditRow, JobRunRow, OutboxRow, PresentationRow
from storage.unit_of_work import UnitOfWork
from tests.integration.conftest import Team

TZ = "Europe/Berlin"
# churn was made on Monday 2026-03-02: 03-16 is a science week, announced at 09:00 Berlin.
ANNOUNCE = datetime(2026, 3, 16, 8, 0, tzinfo=UTC)


def counts(team: Team) -> tuple[int, ...]:
    def read(uow: UnitOfWork) -> tuple[int, ...]:
        return tuple(
            int(uow.session.scalar(select(func.count()).select_from(row)) or 0)
            for row in (JobRunRow, PresentationRow, OutboxRow, AuditRow)
        )

    return team.read(read)


def test_a_dry_run_shows_the_announcement_and_keeps_nothing(team: Team) -> None:
    env = JobEnv(team.db, SlackNotices(), TZ)
    before = counts(team)

    done, queued = rehearse(JOBS["rotation"], env, ANNOUNCE)
    assert done == ["churn: announced the science review of 2026-03-16"]
    assert [(m.method, m.channel) for m in queued] == [("chat.postMessage", "C-CHURN")]
    assert queued[0].payload["text"].startswith("Science review Mon 16 Mar 10:00: <@U")
    assert counts(team) == before

    # The period is still there for the real run, which announces the same thing once.
    assert JOBS["rotation"].run(env, ANNOUNCE) == done
    assert JOBS["rotation"].run(env, ANNOUNCE) == []
    assert counts(team)[0] == before[0] + 1


def test_a_dry_run_of_the_outbox_delivers_nothing(team: Team) -> None:
    delivered: list[str] = []

    def deliver() -> int:
        delivered.append("called")
        return 1

    env = JobEnv(team.db, SlackNotices(), TZ, deliver=deliver)
    assert rehearse(JOBS["outbox"], env, ANNOUNCE) == (["a dry run delivers nothing"], [])
    assert delivered == []
