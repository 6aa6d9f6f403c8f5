"""A team driven through the surface-neutral core (bot.slack.dispatch) at chosen times: the
commands and buttons people use, the jobs as the scheduler runs them, and what is queued
for Slack read back from the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.jobs import JOBS, JobEnv
from bot.services.ports import Statuses
from bot.slack.blocks import Reply
from bot.slack.dispatch import Dispatcher, Origin
from bot.slack.notices import SlackNotices
from storage.models import OutboxRow
from storage.unit_of_work import Database
from tests.integration.conftest import TEAM, Clock

ZONE = "Europe/Berlin"
ADMIN = "UADMIN"


@dataclass
class Desk:
    db: Database
    clock: Clock
    statuses: Statuses | None = None

    def __post_init__(self) -> None:
        self.dispatcher = Dispatcher(
            self.db, self.clock, SlackNotices(), {ADMIN}, ZONE, statuses=self.statuses
        )

    def at(self, moment: datetime) -> Desk:
        self.clock.now = moment
        return self

    def do(self, user: str, command: str, text: str) -> str:
        """Run ``/command text`` as ``user``; the reply's text."""
        return self.dispatcher.command(Origin(TEAM, user), command, text).text

    def ok(self, user: str, command: str, text: str) -> str:
        reply = self.do(user, command, text)
        assert not reply.startswith(":warning:"), reply
        return reply

    def press(self, user: str, action_id: str, value: str) -> Reply:
        return self.dispatcher.action(Origin(TEAM, user), action_id, value)

    def job(self, name: str) -> list[str]:
        """Run the scheduled job ``name`` as the scheduler would, now."""
        env = JobEnv(self.db, self.dispatcher.notices, ZONE, statuses=self.statuses)
        return JOBS[name].run(env, self.clock())

    def setup(self, *scientists: str) -> None:
        """Project churn (#CCHURN) with ``scientists``, mia its manager, quorum 1."""
        self.ok(ADMIN, "/mlgov", "project add churn <#CCHURN|churn>")
        for user in scientists:
            self.ok(ADMIN, "/mlgov", f"member add <@{user}> scientist churn")
        self.ok(ADMIN, "/mlgov", "member add <@UMIA> manager churn")
        self.ok(ADMIN, "/mlgov", "rules churn quorum=1")

    def posts(self, channel: str, fragment: str = "") -> list[dict[str, Any]]:
        """Payloads queued for ``channel`` (a user id: their DMs) whose text has ``fragment``."""
        with self.db.read() as uow:
            rows = uow.session.execute(
                select(OutboxRow.payload).where(OutboxRow.channel == channel).order_by(OutboxRow.id)
            ).scalars()
            return [dict(p) for p in rows if fragment in str(p.get("text", ""))]

    def review_id(self, number: int) -> int:
        with self.db.read() as uow:
            experiment = uow.experiments.require(TEAM, number)
            review = uow.reviews.latest(experiment.id)
            assert review is not None
            return review.id
