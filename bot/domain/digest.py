"""The weekly digest's figures per project (SPEC §6), computed with pandas from the audit log.

:func:`build_digests` computes every project's :class:`ProjectDigest` together. The rules:

- **Week.** Monday 00:00 to the next Monday 00:00 on the team's wall clock
  (:class:`Week`), so a DST week is 167 or 169 hours; events count in ``[start, end)``.
- **Board and WIP** are as the experiments frame holds them (now). WIP counts running and
  analyzing experiments: one line per person and workstream with any in flight in the
  project (against the project's limit for that stream; ``in_flight_everywhere`` counts
  that person's stream in every project, as the start check does), then the project line
  against ``wip_project`` (0: no limit).
- **Movements** count audit events in the week: ``created`` (new), ``start``,
  ``conclude`` by its recorded outcome, ``accept_results`` to approved, ``schedule``,
  ``ship``, ``abandon``. Every event counts, so an experiment concluded twice in the
  week (changes were requested in between) counts twice, as the log says; ``moved`` lists
  one experiment number per counted event, ascending, so a repeat shows up as a repeat.
- **Velocity**: conclude events by outcome in each of the 8 weeks ending with this one
  (the same count as the week's ``concluded_*``), each week by the wall clock.
- **Cycle time**: per conclude event in the week, its time minus the experiment's
  creation (proposed); the median, in days.
- **Review latency**: per decision in the week (``review_approved``,
  ``review_changes_requested``), its time minus its review's ``review_requested``; the
  median in days. A review's two reviewers give two latencies.
- **Pending reviews**: the assignments still pending (asked no later than ``now``); a
  review is overdue after ``OVERDUE_WORKING_DAYS`` working days in the team's zone, the
  rule the reminders follow. Overdue first, then oldest first.
- **Stale**: running or analyzing experiments whose last audit event of any kind is
  ``STALE_DAYS`` or more before ``now``. Proposed ones are left out on purpose: WIP limits
  make proposals wait for room, so an old proposal is a queue, not stuck work; one in
  review waits on reviewers and shows under pending reviews.
- **Best movement**: among the week's evaluations with verdict ``better``, the largest
  ``improvement`` (ties: the later one, then the lower number). Improvements are in the
  units of each criterion's metric.
- **Empty** (:attr:`ProjectDigest.empty`): no experiment in progress (any left are
  shipped, closed or abandoned), no movement, no review waiting, no best movement.
- **As of** ``now``: events after ``now`` are not activity and pending reviews asked after
  it are left out, so a digest for an earlier week can be rebuilt from today's log.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from bot.domain import digest_figures as figures
from bot.domain.digest_frames import DAY_NS, STATUSES, Prepared, instant
from bot.domain.digest_values import (
    MOVEMENTS,
    OUTCOMES,
    OVERDUE_WORKING_DAYS,
    STALE_DAYS,
    VELOCITY_WEEKS,
    DigestData,
    Movement,
    PendingReview,
    ProjectDigest,
    StaleExperiment,
    Week,
    WipLine,
    local_midnight,
)

__all__ = [
    "MOVEMENTS",
    "OUTCOMES",
    "OVERDUE_WORKING_DAYS",
    "STALE_DAYS",
    "VELOCITY_WEEKS",
    "DigestData",
    "Movement",
    "PendingReview",
    "ProjectDigest",
    "StaleExperiment",
    "Week",
    "WipLine",
    "build_digests",
]


def build_digests(
    data: DigestData, week: Week, now: datetime, zone: ZoneInfo
) -> dict[int, ProjectDigest]:
    """Every project's digest for ``week`` as of ``now`` (an empty project gets one too)."""
    with _no_cycle_collection():
        return _build(data, week, now, zone)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Hold off Python's cycle collector while the digest is built.

    The build allocates tens of thousands of objects, pandas' and its own, enough to set
    off full collections; each walks every object of the process (20-35 ms here with the
    libraries alone, 60-200 ms in a running mlgov) and at 4M events they took a fifth of
    the time. Whatever garbage the build leaves is collected once it has ended.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(data: DigestData, week: Week, now: datetime, zone: ZoneInfo) -> dict[int, ProjectDigest]:
    monday = week.start.astimezone(zone).date()
    mondays = [monday - timedelta(weeks=VELOCITY_WEEKS - 1 - i) for i in range(VELOCITY_WEEKS)]
    # The last bucket is the week itself, whatever zone it was built in.
    bounds = np.array(
        [instant(local_midnight(day, zone)) for day in mondays[:-1]]
        + [instant(week.start), instant(week.end)],
        dtype=np.int64,
    )
    now_ns = instant(now)
    since, until = instant(week.start), instant(week.end)
    prep = Prepared.of(
        data,
        min(int(bounds[0]), now_ns - STALE_DAYS * DAY_NS),
        max(int(bounds[-1]), now_ns + 1),
    )
    in_week = prep.events.where((prep.events.at >= since) & (prep.events.at < until))
    count = prep.projects.count
    board = figures.board(prep)
    wip = figures.wip(prep)
    moved_counts, moved = figures.movements(in_week, prep)
    velocity = figures.velocity(prep.events, bounds, count)
    cycle = figures.cycle_times(in_week, prep)
    latency = figures.review_latencies(in_week, prep)
    pending = figures.pending_reviews(data.pending_reviews, prep, now, zone)
    stale = figures.stale(prep, now_ns)
    best = figures.best_movements(data.evaluations, prep, since, until)
    digests: dict[int, ProjectDigest] = {}
    for p in range(count):
        digests[prep.projects.ids[p]] = ProjectDigest(
            project_id=prep.projects.ids[p],
            slug=prep.projects.slugs[p],
            week=week,
            board=dict(zip(STATUSES, board[p].tolist(), strict=True)),
            wip=wip[p],
            movements=dict(zip(MOVEMENTS, moved_counts[p].tolist(), strict=True)),
            moved=moved[p],
            velocity=[
                (day, dict(zip(OUTCOMES, velocity[p, i].tolist(), strict=True)))
                for i, day in enumerate(mondays)
            ],
            cycle_time_days=cycle[p],
            review_latency_days=latency[p],
            pending_reviews=pending[p],
            stale=stale[p],
            best_movement=best[p],
        )
    return digests
