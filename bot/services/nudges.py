"""Stale nudges: owners of experiments idle for 14 days get one DM per experiment per week."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.services.ports import Notices
from storage.unit_of_work import Database

STALE_AFTER = timedelta(days=14)


def run_stale_nudges(db: Database, notices: Notices, now: datetime) -> list[str]:
    with db.read() as uow:
        idle = uow.experiments.idle_since(now - STALE_AFTER)
    year, week, _ = now.isocalendar()
    done = []
    for experiment in idle:
        with db.write() as uow:
            scope = f"{experiment.team_id}:{experiment.key}"
            if not uow.ledger.claim("stale-nudges", scope, f"{year}-W{week:02d}", now):
                continue
            days = (now - experiment.updated_at).days
            for message in notices.stale_nudge(experiment, days):
                uow.outbox.add(message, now)
            uow.commit()
        done.append(f"nudged <@{experiment.owner_id}> about {experiment.key} ({days} days idle)")
    return done
