"""Stale nudges: one DM per person per run, listing each of their experiments idle for
14 days (any audited change, review request or decision, evaluation or link is activity);
each experiment at most once a week."""

from __future__ import annotations

from datetime import datetime

from bot.domain.nudges import STALE_AFTER, IdleExperiment, recipients
from bot.domain.snooze import SnoozeKind
from bot.services.ports import Notices
from bot.services.snoozes import send_snoozed_nudges
from storage.unit_of_work import Database


def run_stale_nudges(db: Database, notices: Notices, now: datetime) -> list[str]:
    with db.read() as uow:
        paused = uow.pauses.paused()  # uninstalled: skipped until reinstalled
        idle = [
            (e, at)
            for e, at in uow.experiments.idle_since(now - STALE_AFTER)
            if e.team_id not in paused
        ]
    year, week, _ = now.isocalendar()
    period = f"{year}-W{week:02d}"
    done = send_snoozed_nudges(db, notices, now)
    for team_id in sorted({e.team_id for e, _ in idle}):
        # One transaction per workspace: its claims and its DMs commit together.
        with db.write() as uow:
            mine = [
                (e, at)
                for e, at in idle
                if e.team_id == team_id
                and uow.ledger.claim("stale-nudges", f"{team_id}:{e.key}", period, now)
            ]
            told = recipients(mine, uow.members.all_in(team_id), now)
            # A snoozed nudge comes back at its own time, not again with this week's.
            snoozed = uow.snoozes.pending(team_id, SnoozeKind.STALE, now)
            told = {
                user: kept
                for user, items in told.items()
                if (kept := [i for i in items if (user, i.experiment.key) not in snoozed])
            }
            for user, items in sorted(told.items()):
                for message in notices.stale_nudge(team_id, user, items):
                    uow.outbox.add(message, now)
                done.append(f"nudged <@{user}> about " + ", ".join(map(_brief, items)))
            uow.commit()
    return done


def _brief(item: IdleExperiment) -> str:
    left = f", owner <@{item.experiment.owner_id}> left" if item.owner_left else ""
    return f"{item.experiment.key} ({item.idle_days} days idle{left})"
