"""The digest's input frames as numpy arrays keyed by position, built once for all projects.

Every figure is then one vectorised pass (``np.bincount`` over project × key codes, a
pandas ``groupby`` over project positions), never a loop over projects filtering the
frames. The audit log is cut to the weeks the digest needs before anything else is done
with it; beyond its timestamps, only two columns are read in full (the experiment and review
ids, for the rare events that lie further back: stale experiments' last activity, review
requests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.domain.digest_values import OUTCOMES, DigestData
from bot.domain.model import Status

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
T = TypeVar("T")

DAY_NS = 86_400 * 10**9
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATUSES = tuple(s.value for s in Status)
STREAMS = ("main", "side")
ACTIONS = (
    "created",
    "start",
    "conclude",
    "accept_results",
    "schedule",
    "ship",
    "abandon",
    "review_requested",
    "review_approved",
    "review_changes_requested",
)
A = {name: code for code, name in enumerate(ACTIONS)}


def instant(moment: datetime) -> int:
    """Nanoseconds since the epoch (UTC) of a tz-aware datetime, exactly."""
    if moment.tzinfo is None:
        raise ValueError("the digest needs tz-aware datetimes")
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def nanoseconds(column: Any) -> Ints:
    """A timestamp column as UTC nanoseconds (any unit or zone; naive is taken as UTC)."""
    values = pd.Series(column)
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        values = pd.to_datetime(values, utc=True)
    # A tz-aware array holds UTC instants whatever its zone: read them without a copy.
    array = values.array
    return np.asarray((array if array.unit == "ns" else array.as_unit("ns")).asi8, dtype=np.int64)


def integers(column: Any, missing: int = -1) -> Ints:
    """An id column (int, nullable Int64, float with NaN or object with None) as int64."""
    values = pd.Series(column)
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iu":
        return np.asarray(values.to_numpy(), dtype=np.int64)
    return np.asarray(
        values.astype("Int64").to_numpy(dtype=np.int64, na_value=missing), dtype=np.int64
    )


def codes(column: Any, vocabulary: Sequence[str]) -> Ints:
    """Each value's position in ``vocabulary`` (-1: another value or missing)."""
    known = pd.Index(list(vocabulary), dtype=object)
    values = pd.Series(column)
    if isinstance(values.dtype, pd.CategoricalDtype):
        # Recode the few categories, not the rows; code -1 (missing) picks the extra -1.
        lookup = np.append(known.get_indexer(values.cat.categories.astype(object)), -1)
        return np.asarray(lookup[values.cat.codes.to_numpy()], dtype=np.int64)
    return np.asarray(known.get_indexer(values.astype(object)), dtype=np.int64)


def split(positions: Ints, items: Sequence[T], count: int) -> list[list[T]]:
    """``items`` (sorted by ``positions``) as one list per position 0..count-1."""
    bounds = np.searchsorted(positions, np.arange(count + 1)).tolist()
    return [list(items[bounds[p] : bounds[p + 1]]) for p in range(count)]


def medians(positions: Ints, values: Floats, count: int) -> list[float | None]:
    """The median of ``values`` per position (None where a position has none)."""
    out: list[float | None] = [None] * count
    if positions.size:
        found = pd.Series(values).groupby(positions).median()
        for position, value in zip(found.index.tolist(), found.tolist(), strict=True):
            out[position] = float(value)
    return out


def member(values: Ints, targets: Ints) -> npt.NDArray[np.bool_]:
    """Whether each id (non-negative; -1 for none) is one of ``targets``, by a table."""
    if not targets.size:
        return np.zeros(values.size, dtype=bool)
    table = np.zeros(int(targets.max()) + 2, dtype=bool)
    table[targets] = True
    # -1 and ids past the largest target both land on the table's last slot, never set.
    return np.asarray(table[np.clip(values, -1, table.size - 1)], dtype=bool)


class Positions:
    """Ids to their positions 0..n-1 (-1: unknown): a lookup table for the usual compact
    database ids, a hash index otherwise."""

    def __init__(self, ids: Ints) -> None:
        self.table: Ints | None = None
        self.index: Any = None
        if ids.size and ids.min() >= 0 and ids.max() <= 4 * ids.size + 1_000_000:
            self.table = np.full(int(ids.max()) + 2, -1, dtype=np.int64)
            self.table[ids] = np.arange(ids.size)
        else:
            self.index = pd.Index(ids)

    def __call__(self, ids: Ints) -> Ints:
        if self.table is not None:
            # -1 (none) and unknown large ids read the last slot, which stays -1.
            return np.asarray(self.table[np.clip(ids, -1, self.table.size - 1)], dtype=np.int64)
        return np.asarray(self.index.get_indexer(ids), dtype=np.int64)


@dataclass(frozen=True)
class Projects:
    ids: list[int]
    slugs: list[str]
    limits: Ints  # (P, 3): wip_main, wip_side, wip_project
    lookup: Positions

    @classmethod
    def of(cls, frame: Any) -> Projects:
        ids = integers(frame["project_id"])
        limits = np.column_stack(
            [integers(frame[c], 0) for c in ("wip_main", "wip_side", "wip_project")]
        ).reshape(len(ids), 3)
        slugs = [str(s) for s in frame["slug"].tolist()]
        return cls(ids.tolist(), slugs, np.asarray(limits, dtype=np.int64), Positions(ids))

    @property
    def count(self) -> int:
        return len(self.ids)

    def positions(self, column: Any) -> Ints:
        return self.lookup(integers(column))


@dataclass(frozen=True)
class Experiments:
    frame: Any  # for the few titles and owners shown
    ids: Ints
    project: Ints  # project position (-1: a project not in the data)
    number: Ints
    status: Ints  # position in STATUSES
    stream: Ints  # position in STREAMS
    created: Ints  # ns
    positions: Positions

    @classmethod
    def of(cls, frame: Any, projects: Projects) -> Experiments:
        ids = integers(frame["experiment_id"])
        return cls(
            frame,
            ids,
            projects.positions(frame["project_id"]),
            integers(frame["number"]),
            codes(frame["status"], STATUSES),
            codes(frame["workstream"], STREAMS),
            nanoseconds(frame["created_at"]),
            Positions(ids),
        )

    def titles(self, rows: Ints) -> list[str]:
        return [str(t) for t in self.frame["title"].iloc[rows].tolist()]

    def owners(self, rows: Ints) -> list[str]:
        return [str(o) for o in self.frame["owner_id"].iloc[rows].tolist()]


@dataclass(frozen=True)
class Events:
    """The audit events of the window [since, until) that belong to a known project."""

    at: Ints
    project: Ints
    experiment: Ints  # position in Experiments (-1: none or unknown)
    action: Ints  # position in ACTIONS (-1: an action the digest does not count)
    outcome: Ints  # position in OUTCOMES
    to_status: Ints  # position in STATUSES
    review: Ints  # review id (-1: none)

    @classmethod
    def of(cls, frame: Any, at: Ints, projects: Projects, exps: Experiments) -> Events:
        """The rows of ``frame`` (timestamps ``at``) whose project is known."""
        project = projects.positions(frame["project_id"])
        events = cls(
            at,
            project,
            exps.positions(integers(frame["experiment_id"])),
            codes(frame["action"], ACTIONS),
            codes(frame["outcome"], OUTCOMES),
            codes(frame["to_status"], STATUSES),
            integers(frame["review_id"]),
        )
        known = project >= 0
        return events if known.all() else events.where(known)

    def where(self, mask: npt.NDArray[np.bool_]) -> Events:
        return Events(
            self.at[mask],
            self.project[mask],
            self.experiment[mask],
            self.action[mask],
            self.outcome[mask],
            self.to_status[mask],
            self.review[mask],
        )


@dataclass(frozen=True)
class Prepared:
    projects: Projects
    experiments: Experiments
    events: Events  # the window [since, until) the digest needs
    frame: Any  # the whole audit log, for the look-ups further back
    at: Ints  # its timestamps, ns
    since: int
    before: int | None  # rows before the window, when the log is in time order

    @classmethod
    def of(cls, data: DigestData, since: int, until: int) -> Prepared:
        projects = Projects.of(data.projects)
        exps = Experiments.of(data.experiments, projects)
        log = data.events
        at = nanoseconds(log["at"])
        # Storage reads the log in id order, which is time order: the window is then a
        # slice found by bisection, and no pass over the whole log is needed to cut it.
        if log["at"].is_monotonic_increasing:
            first, last = np.searchsorted(at, [since, until]).tolist()
            window = Events.of(log.iloc[first:last], at[first:last], projects, exps)
            return cls(projects, exps, window, log, at, since, first)
        rows = np.flatnonzero((at >= since) & (at < until))
        window = Events.of(log.iloc[rows], at[rows], projects, exps)
        return cls(projects, exps, window, log, at, since, None)

    def earlier(self) -> tuple[Any, Ints]:
        """The log's events before the window, and their times (for the rare look-ups
        that reach back further: a review's request, a stale experiment's last event)."""
        if self.before is not None:
            return self.frame.iloc[: self.before], self.at[: self.before]
        rows = np.flatnonzero(self.at < self.since)
        return self.frame.iloc[rows], self.at[rows]
