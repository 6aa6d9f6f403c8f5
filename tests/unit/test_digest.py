"""The weekly digest's figures (SPEC §6): a hand-computed week, the week's edges, a reference.

The fixture week is the last week of March 2026 in Europe/Berlin: Monday 23 March 00:00 CET
(22 March 23:00 UTC) to Monday 30 March 00:00 CEST (29 March 22:00 UTC), 167 hours, since
the clocks went forward on Sunday 29 March. The digest runs on Monday 30 March 08:00 CEST
(06:00 UTC). Every time below is UTC; the comments give the Berlin wall clock where it
matters. Experiment ids are 100 + the number, so an id used as a number would show.
"""

from __future__ import annotations

import gc
import math
import pickle
import statistics
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.digest import NOW as BENCH_NOW
from benchmarks.digest import make_data
from bot.domain.digest import (
    MOVEMENTS,
    DigestData,
    Movement,
    PendingReview,
    ProjectDigest,
    StaleExperiment,
    Week,
    WipLine,
    build_digests,
)
from bot.domain.digest_values import local_midnight
from bot.domain.model import Status
from bot.domain.review import working_days_between

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 3, 30, 6, 0, tzinfo=UTC)  # Monday 08:00 CEST
CHURN, FRAUD, EMPTY, ARCHIVE = 1, 2, 3, 4
ALICE, BOB, CAROL, DAVE, ERIN, FRANK = "UALICE", "UBOB", "UCAROL", "UDAVE", "UERIN", "UFRANK"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# --- the story ----------------------------------------------------------------------------

# number: project, owner, stream, status now, outcome, created (UTC)
EXPERIMENTS = {
    1: (CHURN, ALICE, "main", "approved", "success", "2026-01-05 10:00"),
    2: (CHURN, BOB, "main", "in_review", "failure", "2026-02-02 09:00"),
    3: (CHURN, CAROL, "main", "in_review", "success", "2026-03-25 14:00"),
    4: (CHURN, ALICE, "side", "running", None, "2025-12-01 09:00"),
    5: (CHURN, ALICE, "side", "analyzing", None, "2026-03-01 09:00"),
    6: (CHURN, DAVE, "main", "running", None, "2026-02-20 09:00"),
    7: (CHURN, ERIN, "main", "scheduled", "success", "2026-01-10 09:00"),
    8: (CHURN, BOB, "side", "closed", "inconclusive", "2026-01-20 09:00"),
    9: (CHURN, CAROL, "side", "abandoned", None, "2026-03-22 23:00"),  # Mon 00:00 CET
    10: (CHURN, ERIN, "side", "proposed", None, "2026-03-29 22:30"),  # Mon 00:30 CEST
    11: (CHURN, DAVE, "main", "shipped", "success", "2025-11-01 09:00"),
    18: (CHURN, BOB, "main", "closed", "failure", "2025-12-01 09:00"),
    12: (FRAUD, DAVE, "main", "running", None, "2026-03-02 09:00"),
    13: (FRAUD, ERIN, "main", "in_review", "success", "2026-02-01 09:00"),
    14: (FRAUD, FRANK, "side", "in_review", "success", "2026-03-10 15:00"),
    15: (FRAUD, ERIN, "main", "proposed", None, "2026-03-01 06:00"),
    16: (FRAUD, FRANK, "main", "running", None, "2026-02-01 09:00"),
    17: (FRAUD, DAVE, "side", "approved", "success", "2026-02-15 09:00"),
    19: (ARCHIVE, ERIN, "main", "shipped", "success", "2025-06-01 09:00"),
}

# number: (action, when, from, to, outcome, review), after its "created" event
STORY: dict[int, list[tuple[Any, ...]]] = {
    1: [
        ("start", "2026-01-06 10:00", "proposed", "running"),
        ("analyze", "2026-02-10 10:00", "running", "analyzing"),
        ("evaluation", "2026-03-24 09:00"),
        ("conclude", "2026-03-24 10:00", "analyzing", "in_review", "success"),
        ("review_requested", "2026-03-24 11:00", None, None, None, 11),
        ("review_approved", "2026-03-25 11:00", None, None, None, 11),  # bob: 1.0 day
        ("review_approved", "2026-03-26 17:00", None, None, None, 11),  # carol: 2.25 days
        ("accept_results", "2026-03-26 17:00", "in_review", "approved", None, 11),
    ],
    2: [
        ("start", "2026-02-03 09:00", "proposed", "running"),
        ("conclude", "2026-03-22 23:30", "running", "in_review", "failure"),  # Mon 00:30 CET
        ("evaluation", "2026-03-23 07:00"),
        ("review_requested", "2026-03-23 08:00", None, None, None, 12),
        ("review_changes_requested", "2026-03-24 20:00", None, None, None, 12),  # 1.5 days
        ("request_changes", "2026-03-24 20:00", "in_review", "analyzing", None, 12),
        ("conclude", "2026-03-27 12:00", "analyzing", "in_review", "failure"),
        ("review_requested", "2026-03-27 13:00", None, None, None, 13),
    ],
    3: [
        ("start", "2026-03-26 09:00", "proposed", "running"),
        ("conclude", "2026-03-29 22:30", "running", "in_review", "success"),  # next week
        ("review_requested", "2026-03-30 05:00", None, None, None, 19),
    ],
    4: [("start", "2025-12-02 09:00", "proposed", "running"), ("link", "2026-03-10 12:00")],
    5: [
        ("start", "2026-03-02 09:00", "proposed", "running"),
        ("analyze", "2026-03-16 06:00:00", "running", "analyzing"),  # exactly 14 days ago
    ],
    6: [
        ("start", "2026-02-21 09:00", "proposed", "running"),
        ("link", "2026-03-16 06:00:01"),  # a second less than 14 days ago
    ],
    7: [
        ("start", "2026-01-12 09:00", "proposed", "running"),
        ("conclude", "2026-02-25 09:00", "running", "in_review", "success"),
        ("review_requested", "2026-02-25 10:00", None, None, None, 21),
        ("review_approved", "2026-02-26 09:00", None, None, None, 21),
        ("review_approved", "2026-02-27 09:00", None, None, None, 21),
        ("accept_results", "2026-02-27 09:00", "in_review", "approved", None, 21),
        ("evaluation", "2026-03-20 12:00"),
        ("schedule", "2026-03-25 10:00", "approved", "scheduled"),
    ],
    8: [
        ("start", "2026-01-21 09:00", "proposed", "running"),
        ("conclude", "2026-03-22 22:59:59", "running", "in_review", "inconclusive"),  # Sun 23:59
        ("review_requested", "2026-03-22 23:10", None, None, None, 22),
        ("evaluation", "2026-03-23 10:00"),
        ("review_approved", "2026-03-23 23:10", None, None, None, 22),  # 1.0 day
        ("review_approved", "2026-03-24 05:10", None, None, None, 22),  # 1.25 days
        ("accept_results", "2026-03-24 05:10", "in_review", "closed", None, 22),
    ],
    9: [("abandon", "2026-03-29 21:59", "proposed", "abandoned")],  # Sun 23:59 CEST
    10: [],
    11: [
        ("start", "2025-11-03 09:00", "proposed", "running"),
        ("conclude", "2026-02-01 23:00", "running", "in_review", "success"),  # Mon 2 Feb 00:00
        ("review_requested", "2026-02-02 09:00", None, None, None, 23),
        ("review_approved", "2026-02-03 09:00", None, None, None, 23),
        ("review_approved", "2026-02-04 09:00", None, None, None, 23),
        ("accept_results", "2026-02-04 09:00", "in_review", "approved", None, 23),
        ("schedule", "2026-03-02 09:00", "approved", "scheduled"),
        ("ship", "2026-03-26 09:00", "scheduled", "shipped"),
    ],
    18: [
        ("start", "2025-12-02 09:00", "proposed", "running"),
        ("conclude", "2026-02-01 22:59", "running", "in_review", "failure"),  # Sun 1 Feb 23:59
        ("review_requested", "2026-02-02 09:00", None, None, None, 24),
        ("review_approved", "2026-02-03 09:00", None, None, None, 24),
        ("review_approved", "2026-02-03 09:00", None, None, None, 24),
        ("accept_results", "2026-02-03 09:00", "in_review", "closed", None, 24),
    ],
    12: [("start", "2026-03-03 09:00", "proposed", "running"), ("link", "2026-03-27 09:00")],
    13: [
        ("start", "2026-02-02 09:00", "proposed", "running"),
        ("conclude", "2026-03-11 10:00", "running", "in_review", "success"),
        ("review_requested", "2026-03-11 12:00", None, None, None, 14),
        ("review_approved", "2026-03-23 09:00", None, None, None, 14),  # dave: 11.875 days
    ],
    14: [
        ("start", "2026-03-11 09:00", "proposed", "running"),
        ("evaluation", "2026-03-25 14:00"),
        ("conclude", "2026-03-25 15:00", "running", "in_review", "success"),
        ("review_requested", "2026-03-26 23:30", None, None, None, 15),  # Fri 00:30 CET
        ("evaluation", "2026-03-29 22:30"),  # next week
    ],
    15: [],
    16: [
        ("start", "2026-02-02 09:00", "proposed", "running"),
        ("link", "2026-03-01 06:00"),
        ("link", "2026-03-30 07:00"),  # after the digest's `now`: no activity yet
    ],
    17: [
        ("start", "2026-02-16 09:00", "proposed", "running"),
        ("conclude", "2026-03-20 10:00", "running", "in_review", "success"),
        ("review_requested", "2026-03-20 12:00", None, None, None, 17),
        ("review_approved", "2026-03-24 12:00", None, None, None, 17),  # erin: 4.0 days
        ("evaluation", "2026-03-24 15:00"),
        ("review_approved", "2026-03-27 10:00", None, None, None, 17),  # frank: 6.9167 days
        ("accept_results", "2026-03-27 10:00", "in_review", "approved", None, 17),
    ],
    19: [
        ("start", "2025-06-02 09:00", "proposed", "running"),
        ("conclude", "2025-07-01 09:00", "running", "in_review", "success"),
        ("accept_results", "2025-07-03 09:00", "in_review", "approved"),
        ("schedule", "2025-07-10 09:00", "approved", "scheduled"),
        ("ship", "2025-08-01 09:00", "scheduled", "shipped"),
    ],
}

# (number, when, metric, delta, improvement, verdict, criterion_met, baseline number)
EVALUATIONS = [
    (1, "2026-03-24 09:00", "auc", 0.021, 0.021, "better", True, 11),
    (2, "2026-03-23 07:00", "auc", -0.004, -0.004, "no significant difference", False, 11),
    (7, "2026-03-20 12:00", "auc", 0.08, 0.08, "better", True, 11),  # the week before
    (8, "2026-03-23 10:00", "log_loss", -0.03, 0.03, "better", None, None),  # lower is better
    (14, "2026-03-25 14:00", "auc", 0.012, 0.012, "better", False, 12),
    (17, "2026-03-24 15:00", "auc", -0.02, -0.02, "worse", False, 12),
    (14, "2026-03-29 22:30", "auc", 0.5, 0.5, "better", True, 12),  # next week
]

# (review, number, reviewer, asked at): the assignments still pending now
PENDING = [
    (13, 2, DAVE, "2026-03-27 13:00"),  # Fri 14:00 CET: 1 working day, 2.7083 days
    (13, 2, CAROL, "2026-03-27 13:00"),
    (19, 3, BOB, "2026-03-30 05:00"),  # Mon 07:00 CEST: 0 working days, 1 hour
    (15, 14, ERIN, "2026-03-26 23:30"),  # Fri 00:30 CET: 1 working day (in UTC, Thursday: 2)
    (15, 14, DAVE, "2026-03-26 23:30"),
    (14, 13, FRANK, "2026-03-11 12:00"),  # Wed: 13 working days, 18.75 days: overdue
]


def story() -> DigestData:
    """The fixture as plain frames (strings, nullable ints): storage's simplest form."""
    projects = pd.DataFrame(
        {
            "project_id": [CHURN, FRAUD, EMPTY, ARCHIVE],
            "slug": ["churn", "fraud", "empty", "archive"],
            "wip_main": [1, 1, 1, 1],
            "wip_side": [3, 2, 3, 3],
            "wip_project": [4, 0, 0, 0],
        }
    )
    experiments = pd.DataFrame(
        [
            {
                "experiment_id": 100 + n,
                "project_id": p,
                "number": n,
                "title": f"Idea {n}",
                "owner_id": owner,
                "status": status,
                "outcome": outcome,
                "workstream": stream,
                "created_at": utc(created),
            }
            for n, (p, owner, stream, status, outcome, created) in EXPERIMENTS.items()
        ]
    )
    rows = []
    for n, (p, *_, created) in EXPERIMENTS.items():
        steps = [("created", created, None, "proposed"), *STORY[n]]
        for action, when, *rest in steps:
            source, target, outcome, review = (list(rest) + [None] * 4)[:4]
            rows.append((100 + n, p, action, source, target, outcome, review, utc(when)))
    rows.append((None, CHURN, "rotation", None, None, None, None, utc("2026-03-24 08:00")))
    rows.append((None, None, "member_added", None, None, None, None, utc("2026-03-24 08:00")))
    events = pd.DataFrame(
        rows,
        columns=[
            "experiment_id",
            "project_id",
            "action",
            "from_status",
            "to_status",
            "outcome",
            "review_id",
            "at",
        ],
    ).astype({"experiment_id": "Int64", "project_id": "Int64", "review_id": "Int64"})
    pending = pd.DataFrame(
        [(review, 100 + n, EXPERIMENTS[n][0], who, utc(when)) for review, n, who, when in PENDING],
        columns=["review_id", "experiment_id", "project_id", "reviewer", "requested_at"],
    )
    evaluations = pd.DataFrame(
        [
            (100 + n, EXPERIMENTS[n][0], utc(when), metric, d, i, v, met, base)
            for n, when, metric, d, i, v, met, base in EVALUATIONS
        ],
        columns=[
            "experiment_id",
            "project_id",
            "at",
            "metric",
            "delta",
            "improvement",
            "verdict",
            "criterion_met",
            "baseline_number",
        ],
    ).astype({"baseline_number": "Int64"})
    return DigestData(projects, experiments, events, pending, evaluations)


@pytest.fixture(scope="module")
def berlin() -> dict[int, ProjectDigest]:
    week = Week.ending_before(NOW, BERLIN)
    return build_digests(story(), week, NOW, BERLIN)


def no_moves() -> dict[str, list[int]]:
    return {name: [] for name in MOVEMENTS}


def mondays(last: date) -> list[date]:
    return [last - timedelta(weeks=7 - i) for i in range(8)]


def velocity(
    counts: dict[date, tuple[int, int, int]], last: date = date(2026, 3, 23)
) -> list[tuple[date, dict[str, int]]]:
    """The 8 weeks to ``last``: Monday -> (success, failure, inconclusive), zeros elsewhere."""
    names = ("success", "failure", "inconclusive")
    return [
        (day, dict(zip(names, counts.get(day, (0, 0, 0)), strict=True))) for day in mondays(last)
    ]


# --- the hand-computed week -----------------------------------------------------------------


def test_the_fixture_week_is_berlins_167_hour_week_before_the_digest(
    berlin: dict[int, ProjectDigest],
) -> None:
    week = berlin[CHURN].week
    assert week.start == datetime(2026, 3, 23, tzinfo=BERLIN)
    assert week.end == datetime(2026, 3, 30, tzinfo=BERLIN)
    assert week.end.astimezone(UTC) - week.start.astimezone(UTC) == timedelta(hours=167)
    assert set(berlin) == {CHURN, FRAUD, EMPTY, ARCHIVE}


def test_churn_every_figure(berlin: dict[int, ProjectDigest]) -> None:
    expected = ProjectDigest(
        project_id=CHURN,
        slug="churn",
        week=Week.of(date(2026, 3, 23), BERLIN),
        # 10 proposed; 4, 6 running; 5 analyzing; 2, 3 in review; 1 approved; 7 scheduled;
        # 11 shipped; 8, 18 closed; 9 abandoned.
        board={
            "proposed": 1,
            "running": 2,
            "analyzing": 1,
            "in_review": 2,
            "approved": 1,
            "scheduled": 1,
            "shipped": 1,
            "closed": 2,
            "abandoned": 1,
        },
        wip=[
            WipLine(ALICE, "side", 2, 3, 2),  # 4 running, 5 analyzing; side limit 3
            # 6 here, and 12 in fraud: 2 main-stream experiments in flight, limit 1.
            WipLine(DAVE, "main", 1, 1, 2),
            WipLine(None, None, 3, 4, 3),  # 4, 5, 6 against the project's 4
        ],
        movements={
            "new": 2,
            "started": 1,
            "concluded_success": 1,
            "concluded_failure": 2,
            "concluded_inconclusive": 0,
            "approved": 1,
            "scheduled": 1,
            "shipped": 1,
            "abandoned": 1,
        },
        moved={
            # 9 was created at Monday 00:00 CET exactly (in); 10 at Monday 00:30 CEST the
            # week after (out, though a 168-hour week would hold it).
            "new": [3, 9],
            "started": [3],
            "concluded_success": [1],  # 3 concluded at Monday 00:30 CEST: next week
            # 2 concluded at Monday 00:30 CET (Sunday in UTC), then again after changes.
            "concluded_failure": [2, 2],
            "concluded_inconclusive": [],  # 8 concluded at Sunday 23:59:59 CET: last week
            "approved": [1],  # 8's accept_results went to closed: not an approval
            "scheduled": [7],
            "shipped": [11],
            "abandoned": [9],  # Sunday 23:59 CEST: the week's last minute
        },
        velocity=velocity(
            {
                date(2026, 2, 2): (1, 0, 0),  # 11, at Monday 2 Feb 00:00 CET; 18 a minute before
                date(2026, 2, 23): (1, 0, 0),  # 7
                date(2026, 3, 16): (0, 0, 1),  # 8, Sunday 22 March 23:59:59
                date(2026, 3, 23): (1, 2, 0),  # 1; 2 twice
            }
        ),
        # Conclusions in the week: 1 after 78 days (5 Jan 10:00 -> 24 Mar 10:00); 2 after
        # 48 days 14.5 h (2 Feb 09:00 -> 22 Mar 23:30) and 53 days 3 h (-> 27 Mar 12:00).
        cycle_time_days=53.125,
        # Decisions in the week: 1's review 1.0 and 2.25 days; 2's change request 1.5;
        # 8's review (asked Monday 00:10) 1.0 and 1.25 -> 1.0 1.0 1.25 1.5 2.25.
        review_latency_days=1.25,
        pending_reviews=[
            # Friday 14:00 CET to Monday 08:00: 2 days 17 h, Monday the only working day.
            PendingReview(2, "Idea 2", CAROL, 65 / 24, 1, False, 13),
            PendingReview(2, "Idea 2", DAVE, 65 / 24, 1, False, 13),
            PendingReview(3, "Idea 3", BOB, 1 / 24, 0, False, 19),  # asked an hour ago
        ],
        stale=[
            StaleExperiment(4, "Idea 4", ALICE, 19, "running"),  # link 10 Mar 12:00: 19d 18h
            StaleExperiment(5, "Idea 5", ALICE, 14, "analyzing"),  # exactly 14 days
            # 6's last event is one second short of 14 days: not stale.
        ],
        # 8's log loss fell by 0.03 (improvement +0.03) beats 1's AUC +0.021; 7's +0.08
        # was the week before, 2's was no significant difference.
        best_movement=Movement(8, "log_loss", -0.03, 0.03, None, None),
    )
    assert berlin[CHURN] == expected
    assert not berlin[CHURN].empty


def test_fraud_every_figure(berlin: dict[int, ProjectDigest]) -> None:
    expected = ProjectDigest(
        project_id=FRAUD,
        slug="fraud",
        week=Week.of(date(2026, 3, 23), BERLIN),
        board={
            "proposed": 1,  # 15
            "running": 2,  # 12, 16
            "analyzing": 0,
            "in_review": 2,  # 13, 14
            "approved": 1,  # 17
            "scheduled": 0,
            "shipped": 0,
            "closed": 0,
            "abandoned": 0,
        },
        wip=[
            WipLine(DAVE, "main", 1, 1, 2),  # 12 here and 6 in churn: over
            WipLine(FRANK, "main", 1, 1, 1),  # 16
            WipLine(None, None, 2, 0, 2),  # no project limit
        ],
        movements=dict.fromkeys(MOVEMENTS, 0) | {"concluded_success": 1, "approved": 1},
        moved=no_moves() | {"concluded_success": [14], "approved": [17]},
        velocity=velocity(
            {
                date(2026, 3, 9): (1, 0, 0),  # 13, 11 March
                date(2026, 3, 16): (1, 0, 0),  # 17, 20 March
                date(2026, 3, 23): (1, 0, 0),  # 14, 25 March
            }
        ),
        cycle_time_days=15.0,  # 14: 10 Mar 15:00 -> 25 Mar 15:00
        # 13: asked 11 Mar 12:00, dave 23 Mar 09:00 (11.875); 17: asked 20 Mar 12:00,
        # erin 24 Mar 12:00 (4.0), frank 27 Mar 10:00 (6 days 22 h).
        review_latency_days=166 / 24,
        pending_reviews=[
            # Asked Wednesday 11 March: Thu, Fri, two full weeks and Monday = 13 working days.
            PendingReview(13, "Idea 13", FRANK, 18.75, 13, True, 14),
            # Asked Friday 00:30 CET (Thursday in UTC): Monday is the only working day since.
            PendingReview(14, "Idea 14", DAVE, 157 / 48, 1, False, 15),
            PendingReview(14, "Idea 14", ERIN, 157 / 48, 1, False, 15),
        ],
        # 16's link after `now` does not count; 15 is proposed (a queue, not stale work).
        stale=[StaleExperiment(16, "Idea 16", FRANK, 29, "running")],
        # 14's +0.012 (criterion not met); 17's was worse; 14's +0.5 is next week's.
        best_movement=Movement(14, "auc", 0.012, 0.012, False, 12),
    )
    assert berlin[FRAUD] == expected
    assert not berlin[FRAUD].empty


def test_an_empty_project_gets_a_digest_of_zeros(berlin: dict[int, ProjectDigest]) -> None:
    expected = ProjectDigest(
        project_id=EMPTY,
        slug="empty",
        week=Week.of(date(2026, 3, 23), BERLIN),
        board=dict.fromkeys((s.value for s in Status), 0),
        wip=[WipLine(None, None, 0, 0, 0)],
        movements=dict.fromkeys(MOVEMENTS, 0),
        moved=no_moves(),
        velocity=velocity({}),
        cycle_time_days=None,
        review_latency_days=None,
        pending_reviews=[],
        stale=[],
        best_movement=None,
    )
    assert berlin[EMPTY] == expected
    assert berlin[EMPTY].empty


def test_a_project_with_only_finished_work_and_a_quiet_week_is_empty(
    berlin: dict[int, ProjectDigest],
) -> None:
    archive = berlin[ARCHIVE]
    assert archive.board["shipped"] == 1 and sum(archive.board.values()) == 1
    assert archive.velocity == velocity({})
    assert archive.empty


@pytest.mark.parametrize("in_time_order", [True, False])
def test_look_ups_reach_back_before_the_eight_weeks(in_time_order: bool) -> None:
    data = story()
    rows = [
        (102, CHURN, "review_requested", None, None, None, 99, utc("2025-12-01 12:00")),
        (102, CHURN, "review_approved", None, None, None, 99, utc("2026-03-24 12:00")),
        (104, CHURN, "link", None, None, None, None, utc("2025-12-20 06:00")),
    ]
    events = pd.DataFrame(rows, columns=list(data.events.columns))
    events = events.sort_values("at", ascending=in_time_order, ignore_index=True)
    data = DigestData(
        data.projects,
        data.experiments,
        events,
        data.pending_reviews.iloc[:0],
        data.evaluations.iloc[:0],
    )
    churn = build_digests(data, Week.ending_before(NOW, BERLIN), NOW, BERLIN)[CHURN]
    assert churn.review_latency_days == 113.0  # 1 Dec 12:00 -> 24 Mar 12:00
    assert churn.stale == [
        StaleExperiment(4, "Idea 4", ALICE, 100, "running"),  # 20 Dec 06:00 -> 30 Mar 06:00
        # No event at all: idle since created (20 Feb 09:00, 1 Mar 09:00).
        StaleExperiment(6, "Idea 6", DAVE, 37, "running"),
        StaleExperiment(5, "Idea 5", ALICE, 28, "analyzing"),
    ]


def test_the_log_in_time_order_gives_the_same_digests(berlin: dict[int, ProjectDigest]) -> None:
    data = story()
    ordered = data.events.sort_values("at", kind="stable", ignore_index=True)
    data = DigestData(
        data.projects, data.experiments, ordered, data.pending_reviews, data.evaluations
    )
    assert build_digests(data, Week.ending_before(NOW, BERLIN), NOW, BERLIN) == berlin


def test_large_ids_give_the_same_figures(berlin: dict[int, ProjectDigest]) -> None:
    """Ids far apart are looked up by hash instead of a table: same answers."""
    data, big = story(), 10**12
    experiments, events = data.experiments.copy(), data.events.copy()
    pending, evaluations = data.pending_reviews.copy(), data.evaluations.copy()
    projects = data.projects.assign(project_id=data.projects["project_id"] + big)
    for frame in (experiments, events, pending, evaluations):
        frame["project_id"] += big
        frame["experiment_id"] += 3 * big
    digests = build_digests(
        DigestData(projects, experiments, events, pending, evaluations),
        Week.ending_before(NOW, BERLIN),
        NOW,
        BERLIN,
    )
    assert {pid - big: replace(d, project_id=pid - big) for pid, d in digests.items()} == berlin


def test_the_cycle_collector_is_back_on_after_a_build_even_a_failed_one() -> None:
    """The build holds off Python's collector; a server process must get it back."""
    week = Week.ending_before(NOW, BERLIN)
    build_digests(story(), week, NOW, BERLIN)
    assert gc.isenabled()
    data = story()
    broken = DigestData(
        data.projects,
        data.experiments.drop(columns="created_at"),
        data.events,
        data.pending_reviews,
        data.evaluations,
    )
    with pytest.raises(KeyError):
        build_digests(broken, week, NOW, BERLIN)
    assert gc.isenabled()
    gc.disable()
    try:
        build_digests(story(), week, NOW, BERLIN)
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_digests_survive_a_round_trip_through_pickle(berlin: dict[int, ProjectDigest]) -> None:
    assert pickle.loads(pickle.dumps(berlin)) == berlin


# --- the week's edges in other zones ------------------------------------------------------


def test_new_york_counts_the_same_events_in_other_weeks() -> None:
    # Monday 30 March 02:00 EDT: the week is 23 March 04:00 UTC to 30 March 04:00 UTC,
    # 168 hours (the US changed clocks on 8 March).
    week = Week.ending_before(NOW, NEW_YORK)
    assert week.end.astimezone(UTC) - week.start.astimezone(UTC) == timedelta(hours=168)
    digests = build_digests(story(), week, NOW, NEW_YORK)
    churn = digests[CHURN]
    assert churn.moved == {
        "new": [3, 10],  # 10 at Sunday 18:30 EDT is in; 9 at Sunday 19:00 EDT the week before
        "started": [3],
        "concluded_success": [1, 3],  # 3 at Sunday 18:30 EDT
        "concluded_failure": [2],  # 2's first, Sunday 19:30 EDT, was the week before
        "concluded_inconclusive": [],
        "approved": [1],
        "scheduled": [7],
        "shipped": [11],
        "abandoned": [9],
    }
    assert churn.velocity == velocity(
        {
            # 11 concluded on Sunday 1 Feb 18:00 EST: before the eight weeks.
            date(2026, 2, 23): (1, 0, 0),
            date(2026, 3, 16): (0, 1, 1),  # 8 and 2's first, both on Sunday evening
            date(2026, 3, 23): (2, 1, 0),
        }
    )
    # Asked Thursday 19:30 EDT: Friday and Monday are 2 working days, so overdue in New
    # York, while in Berlin it was asked on Friday and is not.
    fraud = digests[FRAUD]
    assert [(r.number, r.reviewer, r.working_days, r.overdue) for r in fraud.pending_reviews] == [
        (13, FRANK, 13, True),
        (14, DAVE, 2, True),
        (14, ERIN, 2, True),
    ]


def test_kolkata_counts_the_same_events_in_other_weeks() -> None:
    # Monday 30 March 11:30 IST: the week is 22 March 18:30 UTC to 29 March 18:30 UTC.
    week = Week.ending_before(NOW, KOLKATA)
    churn = build_digests(story(), week, NOW, KOLKATA)[CHURN]
    assert churn.moved == no_moves() | {
        "new": [3, 9],  # 10, Monday 04:00 IST, is next week's
        "started": [3],
        "concluded_success": [1],
        "concluded_failure": [2, 2],
        "concluded_inconclusive": [8],  # Monday 04:29 IST
        "approved": [1],
        "scheduled": [7],
        "shipped": [11],
        "abandoned": [],  # 9, Monday 03:29 IST, is next week's
    }


def test_velocity_weeks_before_a_clock_change_start_at_their_own_local_midnight() -> None:
    # The week of 2 November 2026 (CET); its 8 weeks go back into summer time (CEST).
    week = Week.of(date(2026, 11, 2), BERLIN)
    data = story()
    conclusions = [
        (104, "2026-10-18 21:30", "failure"),  # Sunday 18 Oct 23:30 CEST
        (104, "2026-10-18 22:30", "success"),  # Monday 19 Oct 00:30 CEST (Sunday 23:30 CET)
        (105, "2026-09-13 22:00", "inconclusive"),  # Monday 14 Sep 00:00 CEST: the first bucket
        (105, "2026-09-13 21:59", "success"),  # a minute earlier: before the eight weeks
    ]
    events = pd.DataFrame(
        [
            (x, CHURN, "conclude", "running", "in_review", o, None, utc(t))
            for x, t, o in conclusions
        ],
        columns=list(data.events.columns),
    )
    data = DigestData(
        data.projects,
        data.experiments,
        events,
        data.pending_reviews.iloc[:0],
        data.evaluations.iloc[:0],
    )
    churn = build_digests(data, week, week.end.astimezone(UTC), BERLIN)[CHURN]
    assert churn.velocity == velocity(
        {
            date(2026, 9, 14): (0, 0, 1),
            date(2026, 10, 12): (0, 1, 0),
            date(2026, 10, 19): (1, 0, 0),
        },
        last=date(2026, 11, 2),
    )


def test_one_instant_falls_in_different_weeks_by_zone() -> None:
    moment = datetime(2026, 3, 22, 20, 0, tzinfo=UTC)  # Sunday 21:00 CET, Monday 01:30 IST
    assert moment in Week.of(date(2026, 3, 16), BERLIN)
    assert moment in Week.of(date(2026, 3, 23), KOLKATA)
    assert moment not in Week.of(date(2026, 3, 23), BERLIN)


@pytest.mark.parametrize(
    ("monday", "hours"),
    [
        (date(2026, 3, 23), 167),  # clocks forward on Sunday 29 March
        (date(2026, 10, 19), 169),  # clocks back on Sunday 25 October
        (date(2026, 6, 1), 168),
    ],
)
def test_berlin_weeks_follow_the_wall_clock(monday: date, hours: int) -> None:
    week = Week.of(monday, BERLIN)
    assert (week.start.hour, week.end.hour, week.end.weekday()) == (0, 0, 0)
    assert week.end.astimezone(UTC) - week.start.astimezone(UTC) == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("moment", "monday"),
    [
        (datetime(2026, 3, 30, 8, 0), date(2026, 3, 23)),  # the digest's Monday 08:00
        (datetime(2026, 3, 30, 0, 0), date(2026, 3, 23)),  # the moment the week ends
        (datetime(2026, 4, 1, 15, 0), date(2026, 3, 23)),  # Wednesday: still last week's
        (datetime(2026, 3, 29, 23, 59), date(2026, 3, 16)),  # Sunday: this week is not over
    ],
)
def test_ending_before_is_the_last_complete_week(moment: datetime, monday: date) -> None:
    assert Week.ending_before(moment.replace(tzinfo=BERLIN), BERLIN) == Week.of(monday, BERLIN)
    # The same instant given in UTC names the same Berlin week.
    utc_moment = moment.replace(tzinfo=BERLIN).astimezone(UTC)
    assert Week.ending_before(utc_moment, BERLIN) == Week.of(monday, BERLIN)


def test_a_day_whose_midnight_is_skipped_starts_at_one() -> None:
    # Havana moved its clocks from 00:00 to 01:00 on Sunday 8 March 2026.
    havana = ZoneInfo("America/Havana")
    first = local_midnight(date(2026, 3, 8), havana)
    assert (first.hour, first.utcoffset()) == (1, timedelta(hours=-4))
    assert first.astimezone(UTC) == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)


def test_ending_before_refuses_a_naive_moment() -> None:
    with pytest.raises(ValueError, match="tz-aware"):
        Week.ending_before(datetime(2026, 3, 30, 8, 0), BERLIN)


def test_working_days_agree_with_the_reminder_rule_for_every_hour() -> None:
    """Pending reviews asked every 5 hours over three weeks, in Berlin's local days."""
    asked = [utc("2026-03-08 00:00") + pd.Timedelta(hours=5 * i) for i in range(105)]
    data = story()
    pending = pd.DataFrame(
        {
            "review_id": range(len(asked)),
            "experiment_id": 102,
            "project_id": CHURN,
            "reviewer": [f"U{i}" for i in range(len(asked))],
            "requested_at": asked,
        }
    )
    data = DigestData(data.projects, data.experiments, data.events, pending, data.evaluations)
    digest = build_digests(data, Week.ending_before(NOW, BERLIN), NOW, BERLIN)[CHURN]
    today = NOW.astimezone(BERLIN).date()
    got = {r.reviewer: (r.working_days, r.overdue) for r in digest.pending_reviews}
    for i, when in enumerate(asked):
        days = working_days_between(when.astimezone(BERLIN).date(), today)
        assert got[f"U{i}"] == (days, days >= 2), when


def test_no_events_at_all_gives_empty_digests() -> None:
    data = story()
    nothing = DigestData(
        data.projects,
        data.experiments.iloc[:0],
        data.events.iloc[:0],
        data.pending_reviews.iloc[:0],
        data.evaluations.iloc[:0],
    )
    digests = build_digests(nothing, Week.ending_before(NOW, BERLIN), NOW, BERLIN)
    assert all(d.empty and d.velocity == velocity({}) for d in digests.values())


# --- properties ------------------------------------------------------------------------------

# (action, to_status, outcome) -> the movement it is, written out again here
KINDS = {
    ("created", "proposed", None): "new",
    ("start", "running", None): "started",
    ("conclude", "in_review", "success"): "concluded_success",
    ("conclude", "in_review", "failure"): "concluded_failure",
    ("conclude", "in_review", "inconclusive"): "concluded_inconclusive",
    ("accept_results", "approved", None): "approved",
    ("accept_results", "closed", None): None,
    ("schedule", "scheduled", None): "scheduled",
    ("ship", "shipped", None): "shipped",
    ("abandon", "abandoned", None): "abandoned",
    ("link", None, None): None,
    ("review_approved", None, None): None,
}
near_an_edge = st.tuples(st.sampled_from(["start", "end"]), st.integers(-300, 300))
anywhere = st.tuples(st.just("start"), st.integers(-3 * 1440, 10 * 1440))


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.integers(1, 4), st.sampled_from(sorted(KINDS, key=str)), near_an_edge | anywhere
        ),
        max_size=25,
    ),
    zone=st.sampled_from([BERLIN, NEW_YORK, KOLKATA]),
    monday=st.sampled_from([date(2026, 3, 23), date(2026, 10, 19), date(2026, 3, 2)]),
)
def test_movements_count_exactly_the_events_inside_the_week(
    events: list[tuple[int, tuple[str, str | None, str | None], tuple[str, int]]],
    zone: ZoneInfo,
    monday: date,
) -> None:
    week = Week.of(monday, zone)
    rows, expected = [], Counter[str]()
    for number, (action, target, outcome), (edge, minutes) in events:
        at = (week.start if edge == "start" else week.end) + timedelta(minutes=minutes)
        rows.append((100 + number, 1, action, None, target, outcome, None, pd.Timestamp(at)))
        kind = KINDS[(action, target, outcome)]
        if kind is not None and week.start <= at < week.end:
            expected[kind] += 1
    data = story()
    frame = pd.DataFrame(rows, columns=list(data.events.columns))
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    data = DigestData(
        data.projects,
        data.experiments,
        frame,
        data.pending_reviews.iloc[:0],
        data.evaluations.iloc[:0],
    )
    digest = build_digests(data, week, week.end + timedelta(hours=8), zone)[CHURN]
    assert digest.movements == {name: expected[name] for name in MOVEMENTS}
    assert {k: len(v) for k, v in digest.moved.items()} == digest.movements
    assert digest.velocity[-1] == (monday, digest.concluded)


# --- a slow reference on generated data --------------------------------------------------------


@dataclass
class Expected:
    board: dict[str, int]
    wip: list[WipLine]
    moved: dict[str, list[int]]
    velocity: list[tuple[date, dict[str, int]]]
    cycle: float | None
    latency: float | None
    pending: list[PendingReview]
    stale: list[StaleExperiment]
    best: Movement | None


def missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def reference(data: DigestData, week: Week, now: datetime, zone: ZoneInfo) -> dict[int, Expected]:
    """Every figure by the rules in bot.domain.digest, one project and one row at a time."""
    day = timedelta(days=1)
    exps = {r["experiment_id"]: r for r in data.experiments.to_dict("records")}
    events = [r for r in data.events.to_dict("records") if not missing(r["project_id"])]
    asked: dict[int, Any] = {}
    last: dict[int, Any] = {}
    for r in events:
        if r["action"] == "review_requested" and not missing(r["review_id"]) and r["at"] < week.end:
            asked[r["review_id"]] = min(asked.get(r["review_id"], r["at"]), r["at"])
        if not missing(r["experiment_id"]) and r["at"] <= now:
            last[r["experiment_id"]] = max(last.get(r["experiment_id"], r["at"]), r["at"])
    flying = [e for e in exps.values() if e["status"] in ("running", "analyzing")]
    everywhere = Counter((e["owner_id"], e["workstream"]) for e in flying)
    local_monday = week.start.astimezone(zone).date()
    weeks = [Week.of(d, zone) for d in mondays(local_monday)[:-1]] + [week]
    out = {}
    for p in data.projects.to_dict("records"):
        pid = p["project_id"]
        mine = [e for e in exps.values() if e["project_id"] == pid]
        board = {s.value: sum(e["status"] == s.value for e in mine) for s in Status}
        here = [e for e in flying if e["project_id"] == pid]
        limit = {"main": p["wip_main"], "side": p["wip_side"]}
        per_person = Counter((e["owner_id"], e["workstream"]) for e in here)
        wip = [
            WipLine(o, s, n, limit[s], everywhere[(o, s)])
            for (o, s), n in sorted(per_person.items())
        ]
        wip.append(WipLine(None, None, len(here), p["wip_project"], len(here)))
        theirs = [r for r in events if r["project_id"] == pid and r["experiment_id"] in exps]
        in_week = [r for r in theirs if week.start <= r["at"] < week.end]
        moved = no_moves()
        cycle, latency = [], []
        for r in in_week:
            outcome = None if missing(r["outcome"]) else r["outcome"]
            if r["action"] != "conclude":
                outcome = None
            kind = KINDS.get((r["action"], r["to_status"], outcome))
            if kind is not None:
                moved[kind].append(exps[r["experiment_id"]]["number"])
            if kind is not None and kind.startswith("concluded"):
                cycle.append((r["at"] - exps[r["experiment_id"]]["created_at"]) / day)
            if r["action"] in ("review_approved", "review_changes_requested"):
                review = r["review_id"]
                if not missing(review) and review in asked and asked[review] <= r["at"]:
                    latency.append((r["at"] - asked[review]) / day)
        velocity_ = []
        for w in weeks:
            counts = Counter(
                r["outcome"]
                for r in theirs
                if r["action"] == "conclude" and not missing(r["outcome"]) and r["at"] in w
            )
            velocity_.append(
                (
                    w.start.astimezone(zone).date(),
                    {o: counts[o] for o in ("success", "failure", "inconclusive")},
                )
            )
        pending = []
        for r in data.pending_reviews.to_dict("records"):
            if r["project_id"] != pid or r["requested_at"] > now:
                continue
            e = exps[r["experiment_id"]]
            days = working_days_between(
                r["requested_at"].astimezone(zone).date(), now.astimezone(zone).date()
            )
            pending.append(
                PendingReview(
                    e["number"],
                    e["title"],
                    r["reviewer"],
                    (now - r["requested_at"]) / day,
                    days,
                    days >= 2,
                    r["review_id"],
                )
            )
        pending.sort(key=lambda x: (not x.overdue, -x.age_days, x.number, x.reviewer))
        stale = []
        for e in here:
            if e["created_at"] > now:
                continue
            idle = (now - last.get(e["experiment_id"], e["created_at"])) // day
            if idle >= 14:
                stale.append(
                    StaleExperiment(e["number"], e["title"], e["owner_id"], idle, e["status"])
                )
        stale.sort(key=lambda s: (-s.idle_days, s.number))
        candidates = [
            r
            for r in data.evaluations.to_dict("records")
            if r["project_id"] == pid
            and r["at"] in week
            and r["verdict"] == "better"
            and r["experiment_id"] in exps
            and math.isfinite(r["improvement"])
        ]
        best = None
        if candidates:
            r = max(
                candidates,
                key=lambda r: (r["improvement"], r["at"], -exps[r["experiment_id"]]["number"]),
            )
            best = Movement(
                exps[r["experiment_id"]]["number"],
                r["metric"],
                r["delta"],
                r["improvement"],
                None if missing(r["criterion_met"]) else bool(r["criterion_met"]),
                None if missing(r["baseline_number"]) else int(r["baseline_number"]),
            )
        for v in moved.values():
            v.sort()
        out[pid] = Expected(
            board,
            wip,
            moved,
            velocity_,
            statistics.median(cycle) if cycle else None,
            statistics.median(latency) if latency else None,
            pending,
            stale,
            best,
        )
    return out


def same_float(got: float | None, want: float | None) -> bool:
    return got is None if want is None else got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(
    ("seed", "zone", "weeks_back"),
    [(0, BERLIN, 0), (1, NEW_YORK, 1), (2, KOLKATA, 3), (3, BERLIN, 31)],  # 31: late October
)
def test_generated_workspaces_match_the_slow_reference(
    seed: int, zone: ZoneInfo, weeks_back: int
) -> None:
    data = make_data(6, 600, 12_000, seed=seed)
    # Earlier weeks leave events after `now` in the log: they must not count.
    now = BENCH_NOW - timedelta(weeks=weeks_back, hours=3 * seed)
    week = Week.ending_before(now, zone)
    got = build_digests(data, week, now, zone)
    want = reference(data, week, now, zone)
    assert set(got) == set(want)
    seen = Counter[str]()
    for pid, digest in got.items():
        w = want[pid]
        assert digest.board == w.board
        assert digest.wip == w.wip
        assert digest.moved == w.moved
        assert digest.movements == {k: len(v) for k, v in w.moved.items()}
        assert digest.velocity == w.velocity
        assert same_float(digest.cycle_time_days, w.cycle)
        assert same_float(digest.review_latency_days, w.latency)
        assert digest.pending_reviews == w.pending
        assert digest.stale == w.stale
        assert digest.best_movement == w.best
        seen.update(
            moved=sum(digest.movements.values()),
            pending=len(digest.pending_reviews),
            stale=len(digest.stale),
            latency=digest.review_latency_days is not None,
            best=digest.best_movement is not None,
        )
    # The comparison was about something: the week had work in it.
    assert seen["moved"] and seen["stale"] and seen["latency"] and seen["best"], seen
