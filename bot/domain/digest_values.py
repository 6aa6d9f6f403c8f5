"""The weekly digest's values: its input frames, the week, and one project's figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from bot.domain.lifecycle import FINAL
from bot.domain.model import Outcome, Status

OVERDUE_WORKING_DAYS = 2  # a pending review is overdue after 2 working days (the reminder rule)
STALE_DAYS = 14  # an experiment in flight with no audit event for this long is stale
VELOCITY_WEEKS = 8
OUTCOMES = tuple(o.value for o in Outcome)  # success, failure, inconclusive
MOVEMENTS = (
    "new",
    "started",
    "concluded_success",
    "concluded_failure",
    "concluded_inconclusive",
    "approved",
    "scheduled",
    "shipped",
    "abandoned",
)


@dataclass(frozen=True)
class DigestData:
    """What the digest reads, for any number of projects, as DataFrames.

    Timestamps are tz-aware (``datetime64[ns, UTC]``; another unit or zone is converted).
    Storage builds it with one query per frame; categorical ``action``/``status`` columns
    and integer keys make it faster but are not required.

    - ``projects``: project_id, slug, wip_main, wip_side, wip_project (0 = no limit)
    - ``experiments``: experiment_id, project_id, number, title, owner_id, status,
      outcome (or None), workstream, created_at
    - ``events`` (the audit log): experiment_id (nullable), project_id, action,
      from_status, to_status, outcome (detail.outcome or None), review_id (detail.review
      or None), at
    - ``pending_reviews``: review_id, experiment_id, project_id, reviewer, requested_at
      (one row per assignment still pending on an open review; ``requested_at`` is when
      this reviewer was asked, which is what the reminders count from)
    - ``evaluations``: experiment_id, project_id, at, metric, delta (candidate − baseline),
      improvement (delta signed so that > 0 is better), verdict ("better", "worse",
      "no significant difference"), criterion_met (bool or None), baseline_number
      (int or None)

    ``events`` needs the 8 weeks of velocity (and the 14 days before ``now``), plus the
    last event of each experiment in flight and the request of each review decided in
    the week, however old: the whole log, or those rows added to the recent weeks. In
    time order (as ids run) the weeks are found by bisection instead of a mask.
    ``in_flight_everywhere`` of the WIP lines counts across every project here, so the
    frames should hold one workspace (what the start check counts).
    """

    projects: pd.DataFrame
    experiments: pd.DataFrame
    events: pd.DataFrame
    pending_reviews: pd.DataFrame
    evaluations: pd.DataFrame


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``zone`` (01:00 where a DST gap skips midnight)."""
    # A round trip through UTC turns a wall time that does not exist into a real instant.
    return datetime.combine(day, time(), zone).astimezone(UTC).astimezone(zone)


@dataclass(frozen=True)
class Week:
    """Monday 00:00 to the next Monday 00:00 on the team's wall clock: 167, 168 or 169 hours."""

    start: datetime  # tz-aware, in the team's zone
    end: datetime

    @classmethod
    def of(cls, monday: date, zone: ZoneInfo) -> Week:
        """The week that starts on ``monday`` (any day is moved back to its Monday)."""
        monday -= timedelta(days=monday.weekday())
        return cls(local_midnight(monday, zone), local_midnight(monday + timedelta(7), zone))

    @classmethod
    def ending_before(cls, moment: datetime, zone: ZoneInfo) -> Week:
        """The last complete Monday–Sunday week before ``moment``.

        A digest at Monday 08:00 covers the week that ended 8 hours earlier; on
        Wednesday it is still last week's.
        """
        if moment.tzinfo is None:
            raise ValueError("Week.ending_before needs a tz-aware moment")
        # Any day of the week before the moment's local day names that week.
        return cls.of(moment.astimezone(zone).date() - timedelta(days=7), zone)

    @classmethod
    def containing(cls, moment: datetime, zone: ZoneInfo) -> Week:
        """The Monday–Sunday week ``moment`` falls in (the week in progress)."""
        if moment.tzinfo is None:
            raise ValueError("Week.containing needs a tz-aware moment")
        return cls.of(moment.astimezone(zone).date(), zone)

    @property
    def monday(self) -> date:
        """The week's first day, as the team names it."""
        return self.start.date()

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True, slots=True)
class WipLine:
    """In flight (running or analyzing) against a limit: one person and stream, or the
    project (``owner_id`` and ``workstream`` None)."""

    owner_id: str | None
    workstream: str | None
    in_flight: int  # in this project
    limit: int  # 0: no limit
    # The person's in-flight experiments of that stream in every project of the data,
    # which is what starting another one is checked against; the project line's own count.
    in_flight_everywhere: int

    @property
    def over(self) -> bool:
        return self.limit > 0 and self.in_flight_everywhere > self.limit


@dataclass(frozen=True, slots=True)
class PendingReview:
    """A reviewer who has not answered yet, and for how long."""

    number: int
    title: str
    reviewer: str
    age_days: float  # since this reviewer was asked, in days of 24 hours
    working_days: int  # Monday-to-Friday days since, in the team's zone
    overdue: bool  # working_days >= OVERDUE_WORKING_DAYS
    review_id: int
    needs_reviewer: bool = False  # nobody else could take it (reviewer "": nobody asked)


@dataclass(frozen=True, slots=True)
class StaleExperiment:
    number: int
    title: str
    owner_id: str
    idle_days: int  # whole days since its last audit event
    status: str  # running or analyzing


@dataclass(frozen=True, slots=True)
class Movement:
    """An evaluation that moved the criterion metric against the baseline."""

    number: int
    metric: str
    delta: float  # candidate − baseline
    improvement: float  # delta signed so that > 0 is better
    criterion_met: bool | None
    baseline_number: int | None


@dataclass(frozen=True, slots=True)
class ProjectDigest:
    """One project's figures for one week (see :mod:`bot.domain.digest` for the rules)."""

    project_id: int
    slug: str
    week: Week
    board: dict[str, int]  # every Status value -> experiments in it now
    wip: list[WipLine]  # people and streams in flight (by owner, stream), then the project
    movements: dict[str, int]  # MOVEMENTS -> audit events in the week
    moved: dict[str, list[int]]  # MOVEMENTS -> experiment numbers, one per event, ascending
    velocity: list[tuple[date, dict[str, int]]]  # 8 weeks, oldest first: Monday -> outcomes
    cycle_time_days: float | None
    review_latency_days: float | None
    pending_reviews: list[PendingReview]  # overdue first, then oldest first
    stale: list[StaleExperiment]  # longest idle first
    best_movement: Movement | None

    @property
    def concluded(self) -> dict[str, int]:
        """The week's conclusions by outcome."""
        return {o: self.movements[f"concluded_{o}"] for o in OUTCOMES}

    @property
    def empty(self) -> bool:
        """Nothing in progress (every experiment, if any, is shipped, closed or abandoned),
        nothing moved in the week, no review waiting and no evaluation moved a metric."""
        return (
            not any(self.board[s.value] for s in Status if s not in FINAL)
            and not any(self.movements.values())
            and not self.pending_reviews
            and self.best_movement is None
        )
