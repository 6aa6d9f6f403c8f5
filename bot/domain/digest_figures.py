"""Each digest figure for every project in one vectorised pass (see bot.domain.digest)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from bot.domain.digest_frames import (
    ACTIONS,
    DAY_NS,
    STATUSES,
    STREAMS,
    A,
    Events,
    Ints,
    Prepared,
    codes,
    instant,
    integers,
    medians,
    member,
    nanoseconds,
    split,
)
from bot.domain.digest_values import (
    MOVEMENTS,
    OUTCOMES,
    OVERDUE_WORKING_DAYS,
    STALE_DAYS,
    VELOCITY_WEEKS,
    Movement,
    PendingReview,
    StaleExperiment,
    WipLine,
)

IN_FLIGHT = np.array([STATUSES.index("running"), STATUSES.index("analyzing")])
APPROVED = STATUSES.index("approved")
DECISIONS = np.array([A["review_approved"], A["review_changes_requested"]])


def board(prep: Prepared) -> Ints:
    """(project, status) -> experiments in that status now."""
    e, count, width = prep.experiments, prep.projects.count, len(STATUSES)
    ok = (e.project >= 0) & (e.status >= 0)
    keys = e.project[ok] * width + e.status[ok]
    return np.bincount(keys, minlength=count * width).reshape(count, width)


def wip(prep: Prepared) -> list[list[WipLine]]:
    """Per project: each person and stream in flight (by owner, stream), then the project."""
    e, count, limits = prep.experiments, prep.projects.count, prep.projects.limits
    flying = np.isin(e.status, IN_FLIGHT) & (e.project >= 0)
    rows = np.flatnonzero(flying & (e.stream >= 0))
    # Owners as sorted codes, so (project, owner, stream) sorts as the lines are listed.
    owner_code, owners = pd.factorize(np.array(e.owners(rows), dtype=object), sort=True)
    person = owner_code * len(STREAMS) + e.stream[rows]
    everywhere = np.bincount(person, minlength=len(owners) * len(STREAMS))
    keys, here = np.unique(e.project[rows] * len(everywhere) + person, return_counts=True)
    lines: list[list[WipLine]] = [[] for _ in range(count)]
    for key, n in zip(keys.tolist(), here.tolist(), strict=True):
        p, who = divmod(key, len(everywhere))
        owner, stream = divmod(who, len(STREAMS))
        line = WipLine(
            owners[owner], STREAMS[stream], n, int(limits[p, stream]), int(everywhere[who])
        )
        lines[p].append(line)
    project_total = np.bincount(e.project[flying], minlength=count)
    for p in range(count):
        n = int(project_total[p])
        lines[p].append(WipLine(None, None, n, int(limits[p, 2]), n))
    return lines


def movement_keys(ev: Events) -> Ints:
    """Each event's position in MOVEMENTS (-1: not a movement)."""
    key = np.full(ev.at.size, -1, dtype=np.int64)
    key[ev.action == A["created"]] = MOVEMENTS.index("new")
    key[ev.action == A["start"]] = MOVEMENTS.index("started")
    concluded = (ev.action == A["conclude"]) & (ev.outcome >= 0)
    key[concluded] = MOVEMENTS.index("concluded_success") + ev.outcome[concluded]
    key[(ev.action == A["accept_results"]) & (ev.to_status == APPROVED)] = MOVEMENTS.index(
        "approved"
    )
    for action, name in (("schedule", "scheduled"), ("ship", "shipped"), ("abandon", "abandoned")):
        key[ev.action == A[action]] = MOVEMENTS.index(name)
    key[ev.experiment < 0] = -1  # a movement names its experiment
    return key


def movements(week: Events, prep: Prepared) -> tuple[Ints, list[dict[str, list[int]]]]:
    """(project, movement) -> events in the week, and the experiment numbers, ascending."""
    count, width = prep.projects.count, len(MOVEMENTS)
    key = movement_keys(week)
    ok = key >= 0
    combined = week.project[ok] * width + key[ok]
    numbers = prep.experiments.number[week.experiment[ok]]
    counts = np.bincount(combined, minlength=count * width).reshape(count, width)
    order = np.lexsort((numbers, combined))
    combined, numbers = combined[order], numbers[order]
    bounds = np.searchsorted(combined, np.arange(count * width + 1)).tolist()
    listed = numbers.tolist()
    moved = [
        {
            name: listed[bounds[p * width + i] : bounds[p * width + i + 1]]
            for i, name in enumerate(MOVEMENTS)
        }
        for p in range(count)
    ]
    return counts, moved


def velocity(ev: Events, bounds: Ints, count: int) -> Ints:
    """(project, week, outcome) -> conclude events; week i is [bounds[i], bounds[i+1])."""
    concluded = (
        (ev.action == A["conclude"])
        & (ev.outcome >= 0)
        & (ev.experiment >= 0)
        & (ev.at >= bounds[0])
        & (ev.at < bounds[-1])
    )
    week = np.searchsorted(bounds, ev.at[concluded], side="right") - 1
    keys = (ev.project[concluded] * VELOCITY_WEEKS + week) * len(OUTCOMES) + ev.outcome[concluded]
    size = count * VELOCITY_WEEKS * len(OUTCOMES)
    return np.bincount(keys, minlength=size).reshape(count, VELOCITY_WEEKS, len(OUTCOMES))


def cycle_times(week: Events, prep: Prepared) -> list[float | None]:
    """Median days from creation (proposed) to each conclude event of the week."""
    concluded = (week.action == A["conclude"]) & (week.outcome >= 0) & (week.experiment >= 0)
    created = prep.experiments.created[week.experiment[concluded]]
    days = (week.at[concluded] - created) / DAY_NS
    return medians(week.project[concluded], days, prep.projects.count)


def review_latencies(week: Events, prep: Prepared) -> list[float | None]:
    """Median days from a review's request to each decision on it made in the week."""
    decided = np.isin(week.action, DECISIONS) & (week.review >= 0)
    reviews, at, project = week.review[decided], week.at[decided], week.project[decided]
    if not reviews.size:
        return [None] * prep.projects.count
    wanted = np.unique(reviews)
    ev = prep.events
    asked = (ev.action == A["review_requested"]) & np.isin(ev.review, wanted)
    ids, times = ev.review[asked], ev.at[asked]
    missing = np.setdiff1d(wanted, ids)
    if missing.size:  # requested before the window: look those ids up further back
        older, older_at = prep.earlier()
        older_ids = integers(older["review_id"])
        rows = np.flatnonzero(member(older_ids, missing))
        rows = rows[codes(older["action"].iloc[rows], ACTIONS) == A["review_requested"]]
        ids, times = np.append(ids, older_ids[rows]), np.append(times, older_at[rows])
    requested = pd.Series(times).groupby(ids).min()
    found = np.asarray(requested.index.get_indexer(reviews), dtype=np.int64)
    ok = found >= 0
    days = (at[ok] - requested.to_numpy()[found[ok]]) / DAY_NS
    later = days >= 0
    return medians(project[ok][later], days[later], prep.projects.count)


def pending_reviews(
    frame: pd.DataFrame, prep: Prepared, now: datetime, zone: ZoneInfo
) -> list[list[PendingReview]]:
    """Per project: assignments still waiting, overdue first, then oldest first."""
    project = prep.projects.positions(frame["project_id"])
    experiment = prep.experiments.positions(integers(frame["experiment_id"]))
    requested = nanoseconds(frame["requested_at"])
    now_ns = instant(now)
    rows = np.flatnonzero((project >= 0) & (experiment >= 0) & (requested <= now_ns))
    local = pd.to_datetime(frame["requested_at"].iloc[rows], utc=True).dt.tz_convert(zone)
    asked = local.dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    today = np.datetime64(now.astimezone(zone).date(), "D")
    # Weekdays in (asked, today], as bot.domain.review.working_days_between counts them.
    working = np.maximum(np.busday_count(asked + 1, today + 1), 0)
    x = experiment[rows]
    table = pd.DataFrame(
        {
            "p": project[rows],
            "number": prep.experiments.number[x],
            "title": prep.experiments.titles(x),
            "reviewer": frame["reviewer"].iloc[rows].astype(str).to_numpy(dtype=object),
            "review": integers(frame["review_id"].iloc[rows]),
            "requested": requested[rows],
            "working": working,
            "overdue": working >= OVERDUE_WORKING_DAYS,
            # Optional in the frame: reviews that need a reviewer (managers told).
            "needs": (
                frame["needs_reviewer"].iloc[rows].to_numpy(dtype=bool, na_value=False)
                if "needs_reviewer" in frame
                else np.zeros(rows.size, dtype=bool)
            ),
        }
    ).sort_values(
        ["p", "overdue", "requested", "number", "reviewer"],
        ascending=[True, False, True, True, True],
        kind="stable",
    )
    items = [
        PendingReview(n, t, r, (now_ns - q) / DAY_NS, w, o, v, bool(nr))
        for n, t, r, q, w, o, v, nr in zip(
            table["number"].tolist(),
            table["title"].tolist(),
            table["reviewer"].tolist(),
            table["requested"].tolist(),
            table["working"].tolist(),
            table["overdue"].tolist(),
            table["review"].tolist(),
            table["needs"].tolist(),
            strict=True,
        )
    ]
    return split(table["p"].to_numpy(dtype=np.int64), items, prep.projects.count)


def stale(prep: Prepared, now_ns: int) -> list[list[StaleExperiment]]:
    """Per project: experiments in flight with no audit event for STALE_DAYS, longest first."""
    e, ev = prep.experiments, prep.events
    flying = np.isin(e.status, IN_FLIGHT) & (e.project >= 0) & (e.created <= now_ns)
    lately = (ev.at > now_ns - STALE_DAYS * DAY_NS) & (ev.at <= now_ns) & (ev.experiment >= 0)
    active = np.zeros(e.ids.size, dtype=bool)
    active[ev.experiment[lately]] = True
    idle = np.flatnonzero(flying & ~active)
    last = e.created[idle].copy()  # its creation, should the log hold nothing of it
    if idle.size:
        # The last event of each: in the window if it has one there (up to now)...
        is_idle = np.zeros(e.ids.size, dtype=bool)
        is_idle[idle] = True
        seen = (ev.at <= now_ns) & (ev.experiment >= 0)
        seen[seen] = is_idle[ev.experiment[seen]]
        latest = pd.Series(ev.at[seen]).groupby(ev.experiment[seen]).max()
        found = np.asarray(latest.index.get_indexer(idle), dtype=np.int64)
        has = found >= 0
        last[has] = latest.to_numpy()[found[has]]
        # ...else further back: only those few experiments are looked up there.
        missing = idle[~has]
        if missing.size:
            older, older_at = prep.earlier()
            ids = integers(older["experiment_id"])
            rows = np.flatnonzero(member(ids, e.ids[missing]))
            back = pd.Series(older_at[rows]).groupby(ids[rows]).max()
            where = np.asarray(back.index.get_indexer(e.ids[missing]), dtype=np.int64)
            back_last = last[~has]
            back_last[where >= 0] = back.to_numpy()[where[where >= 0]]
            last[~has] = back_last
    days = (now_ns - last) // DAY_NS
    keep = days >= STALE_DAYS
    idle, days = idle[keep], days[keep]
    order = np.lexsort((e.number[idle], -days, e.project[idle]))
    idle, days = idle[order], days[order]
    items = [
        StaleExperiment(n, t, o, d, STATUSES[s])
        for n, t, o, d, s in zip(
            e.number[idle].tolist(),
            e.titles(idle),
            e.owners(idle),
            days.tolist(),
            e.status[idle].tolist(),
            strict=True,
        )
    ]
    return split(e.project[idle], items, prep.projects.count)


def best_movements(
    frame: pd.DataFrame, prep: Prepared, since: int, until: int
) -> list[Movement | None]:
    """Per project: the week's "better" evaluation with the largest improvement.

    Ties go to the later evaluation, then the lower experiment number.
    """
    best: list[Movement | None] = [None] * prep.projects.count
    at = nanoseconds(frame["at"])
    project = prep.projects.positions(frame["project_id"])
    experiment = prep.experiments.positions(integers(frame["experiment_id"]))
    improvement = pd.to_numeric(frame["improvement"]).to_numpy(dtype=np.float64, na_value=np.nan)
    better = codes(frame["verdict"], ("better",)) == 0
    ok = (at >= since) & (at < until) & (project >= 0) & (experiment >= 0) & better
    rows = np.flatnonzero(ok & np.isfinite(improvement))
    number = prep.experiments.number[experiment[rows]]
    order = rows[np.lexsort((number, -at[rows], -improvement[rows], project[rows]))]
    _, first = np.unique(project[order], return_index=True)
    chosen = order[first]
    picked = frame.iloc[chosen]
    for p, n, metric, delta, gain, met, base in zip(
        project[chosen].tolist(),
        prep.experiments.number[experiment[chosen]].tolist(),
        picked["metric"].astype(str).tolist(),
        pd.to_numeric(picked["delta"]).tolist(),
        improvement[chosen].tolist(),
        picked["criterion_met"].astype(object).tolist(),
        picked["baseline_number"].astype(object).tolist(),
        strict=True,
    ):
        best[p] = Movement(
            n,
            metric,
            float(delta),
            gain,
            None if pd.isna(met) else bool(met),
            None if pd.isna(base) else int(base),
        )
    return best
