"""Scheduled jobs on SQLite and PostgreSQL: the rotation's announcements and reminders,
the run ledger under concurrent replicas, and stale-experiment nudges.

The team's time zone is Europe/Berlin with the default rotation (meeting Monday 10:00,
announced 09:00, the presenter told at 09:00 the day before). churn was created on
Monday 2026-03-02, so science weeks are 03-02, 03-16, 03-30, …; engineering 03-09, 03-23.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from bot.domain.commands import NewExperiment
from bot.domain.errors import ValidationError
from bot.domain.model import Outcome, OutgoingMessage, Project
from bot.domain.nudges import IdleExperiment
from bot.domain.rotation import Agenda, RotationConfig, Slot, Topic
from bot.services.experiments import add_link, create_experiment, take_step
from bot.services.nudges import run_stale_nudges
from bot.services.rotation import configure, run_rotation
from bot.slack.notices import SlackNotices
from storage.models import JobRunRow, PresentationRow
from storage.unit_of_work import Database
from tests.integration.conftest import T0, TEAM, Clock, RecordingNotices, Team, seed_team

TZ = "Europe/Berlin"
BERLIN = ZoneInfo(TZ)


def berlin(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    """A Berlin wall-clock time as the UTC instant the scheduler passes to jobs."""
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


class SchedulingNotices(RecordingNotices):
    """Queues the real Slack messages of the scheduled jobs and records their inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.slack = SlackNotices()
        self.agendas: list[tuple[Slot, Agenda, datetime]] = []

    def rotation_announced(
        self,
        project: Project,
        slot: Slot,
        agenda: Agenda,
        meeting: datetime,
        config: Any,
        **extra: Any,
    ) -> list[OutgoingMessage]:
        self._record("rotation_announced", project.slug)
        with self._lock:
            self.agendas.append((slot, agenda, meeting))
        return self.slack.rotation_announced(project, slot, agenda, meeting, config, **extra)

    def presenter_reminder(
        self, project: Project, slot: Slot, meeting: datetime, config: RotationConfig
    ) -> list[OutgoingMessage]:
        self._record("presenter_reminder", project.slug)
        return self.slack.presenter_reminder(project, slot, meeting, config)

    def rotation_pool_empty(
        self, project: Project, topics: list[Topic], slot: Slot, managers: list[str]
    ) -> list[OutgoingMessage]:
        super().rotation_pool_empty(project, topics, slot, managers)
        return self.slack.rotation_pool_empty(project, topics, slot, managers)

    def stale_nudge(
        self, team_id: str, user_id: str, stale: list[IdleExperiment]
    ) -> list[OutgoingMessage]:
        super().stale_nudge(team_id, user_id, stale)
        return self.slack.stale_nudge(team_id, user_id, stale)


@pytest.fixture
def notices() -> SchedulingNotices:
    """Notices that queue what the jobs announce (the shared double drops it)."""
    return SchedulingNotices()


def scheduled(team: Team) -> SchedulingNotices:
    assert isinstance(team.notices, SchedulingNotices)
    return team.notices


def rotate(team: Team, when: datetime) -> list[str]:
    """One look of the rotation job, as the scheduler (or `mlgov jobs run`) makes it."""
    return run_rotation(team.db, scheduled(team), when, TZ)


def messages(team: Team, since: int = 0) -> list[tuple[str, str, str]]:
    """(channel, text, blocks as text) of each queued chat.postMessage after row ``since``."""
    return [
        (row.channel, row.payload["text"], str(row.payload.get("blocks", "")))
        for row in team.outbox_rows()[since:]
        if row.method == "chat.postMessage"
    ]


def presentations(team: Team) -> list[tuple[date, str, str | None]]:
    return team.read(
        lambda uow: [
            (r.week, r.topic, r.presenter)
            for r in uow.session.scalars(select(PresentationRow).order_by(PresentationRow.id))
        ]
    )


def ledger(team: Team | Database) -> list[tuple[str, str, str]]:
    db = team.db if isinstance(team, Team) else team
    with db.read() as uow:
        rows = uow.session.execute(
            select(JobRunRow.job, JobRunRow.scope, JobRunRow.period).order_by(JobRunRow.id)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def state(team: Team) -> tuple[Any, ...]:
    return len(team.outbox_rows()), presentations(team), ledger(team)


def churn_id(team: Team) -> str:
    return str(team.read(lambda uow: uow.projects.require(TEAM, "churn").id))


# --- the announcement ------------------------------------------------------------------


def test_the_announcement_goes_out_at_its_time_and_only_once(team: Team) -> None:
    start = len(team.outbox_rows())
    assert rotate(team, berlin(3, 16, 8, 59)) == []
    assert state(team) == (start, [], [])

    assert rotate(team, berlin(3, 16, 9, 0)) == [
        "churn: announced the science review of 2026-03-16"
    ]
    [(channel, fallback, blocks)] = messages(team, start)
    assert channel == "C-CHURN"
    assert fallback == "Science review Mon 16 Mar 10:00: <@UALICE> presents"
    assert "(Europe/Berlin)" in blocks
    assert presentations(team) == [(date(2026, 3, 16), "science", "UALICE")]
    assert ledger(team) == [("rotation", churn_id(team), "announce:2026-03-16")]

    after = state(team)
    for when in (berlin(3, 16, 9, 0), berlin(3, 16, 9, 30), berlin(3, 16, 9, 59)):
        assert rotate(team, when) == []
    assert state(team) == after


def test_a_restart_before_the_meeting_makes_up_the_missed_announcement(team: Team) -> None:
    start = len(team.outbox_rows())
    assert rotate(team, berlin(3, 16, 9, 40)) == [
        "churn: announced the science review of 2026-03-16"
    ]
    assert [channel for channel, _, _ in messages(team, start)] == ["C-CHURN"]


def test_an_announcement_missed_until_the_meeting_started_is_not_made_up(team: Team) -> None:
    before = state(team)
    for when in (berlin(3, 16, 10, 0), berlin(3, 16, 17, 0), berlin(3, 17, 9, 0)):
        assert rotate(team, when) == []
    assert state(team) == before
    # The next meeting is announced as usual; the missed one never is.
    assert rotate(team, berlin(3, 23, 9, 0)) == [
        "churn: announced the engineering review of 2026-03-23"
    ]
    assert [week for week, _, _ in presentations(team)] == [date(2026, 3, 23)]


def test_the_presenter_is_reminded_the_day_before_once(team: Team) -> None:
    start = len(team.outbox_rows())
    assert rotate(team, berlin(3, 15, 8, 59)) == []
    assert rotate(team, berlin(3, 15, 9, 0)) == ["churn: reminded <@UALICE> of 2026-03-16"]
    [(channel, reminder, _)] = messages(team, start)
    assert channel == "UALICE"
    assert "You present at the *churn* science review tomorrow, Mon 16 Mar 10:00" in reminder
    for when in (berlin(3, 15, 9, 0), berlin(3, 15, 20, 59), berlin(3, 16, 8, 59)):
        assert rotate(team, when) == []
    assert len(messages(team, start)) == 1
    assert ledger(team) == [("rotation", churn_id(team), "remind:2026-03-16")]
    # The next morning's announcement names the presenter who was reminded.
    assert rotate(team, berlin(3, 16, 9, 0)) == [
        "churn: announced the science review of 2026-03-16"
    ]
    assert presentations(team) == [(date(2026, 3, 16), "science", "UALICE")]


def test_a_missed_reminder_is_made_up_for_12_hours_only(team: Team) -> None:
    before = state(team)
    for when in (berlin(3, 15, 21, 0), berlin(3, 16, 8, 59)):
        assert rotate(team, when) == []
    assert state(team) == before
    assert rotate(team, berlin(3, 22, 20, 59)) == ["churn: reminded <@UERIN> of 2026-03-23"]


def test_a_meeting_at_the_announcement_time_is_refused_or_announced(team: Team) -> None:
    """`/rotation config churn time=09:00` leaves the default announce=09:00."""
    project = team.read(lambda uow: uow.projects.require(TEAM, "churn"))
    try:
        team.run("manager", configure, project, TZ, {"time": "09:00"})
    except ValidationError:
        return  # refused: fine, as long as it was refused
    announced = [rotate(team, berlin(3, 16, 9, minute)) for minute in (0, 1, 30, 59)]
    assert ["churn: announced the science review of 2026-03-16"] in announced


@pytest.mark.parametrize(
    ("sunday", "monday", "utc_hour", "presenter"),
    [
        # Summer time starts on the last Sunday of March: 09:00 Berlin is 07:00Z from then.
        # Science weeks since 16 Mar count as planned, announced or not: alice, then bob.
        (date(2026, 3, 29), date(2026, 3, 30), 7, "UBOB"),
        # It ends on the last Sunday of October: 09:00 Berlin is 08:00Z again
        # (the 17th science week: alice's turn).
        (date(2026, 10, 25), date(2026, 10, 26), 8, "UALICE"),
    ],
)
def test_posts_stay_at_nine_berlin_time_across_daylight_saving_changes(
    team: Team, sunday: date, monday: date, utc_hour: int, presenter: str
) -> None:
    start = len(team.outbox_rows())
    minute = timedelta(minutes=1)
    due_sunday = datetime(sunday.year, sunday.month, sunday.day, utc_hour, tzinfo=UTC)
    assert rotate(team, due_sunday - minute) == []
    assert rotate(team, due_sunday) == [f"churn: reminded <@{presenter}> of {monday}"]

    due = datetime(monday.year, monday.month, monday.day, utc_hour, tzinfo=UTC)
    assert rotate(team, due - minute) == []
    assert rotate(team, due) == [f"churn: announced the science review of {monday}"]
    _, _, meeting = scheduled(team).agendas[-1]
    assert meeting == due + timedelta(hours=1)
    [reminder, announcement] = messages(team, start)
    assert f"{monday:%a %d %b} 10:00" in reminder[1]
    assert announcement[1] == f"Science review {monday:%a %d %b} 10:00: <@{presenter}> presents"


# --- the agenda ------------------------------------------------------------------------


def at(team: Team, when: datetime) -> Team:
    team.clock.now = when
    return team


def propose(team: Team, who: str, title: str, when: datetime) -> int:
    """A proposal with a hypothesis and a success criterion, so it may start."""
    new = NewExperiment("churn", title, f"{title} helps", metric="auc", min_delta=0.01)
    return at(team, when).run(who, create_experiment, new).number


def step(team: Team, who: str, number: int, name: str, when: datetime, **kwargs: Any) -> None:
    at(team, when).run(who, take_step, number, name, **kwargs)


def utc(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def agenda_of(team: Team) -> tuple[list[tuple[str | None, str]], list[str]]:
    """The last announcement's agenda: (key, action) moves and the keys in review."""
    _, agenda, _ = scheduled(team).agendas[-1]
    return [(e.experiment_key, e.action) for e, _ in agenda.moves], [k for k, _ in agenda.in_review]


def test_a_science_agenda_lists_what_concluded_since_the_last_science_review(team: Team) -> None:
    one = propose(team, "alice", "Tenure features", utc(3, 3))
    step(team, "alice", one, "start", utc(3, 3))
    step(team, "alice", one, "conclude", utc(3, 10), outcome=Outcome.SUCCESS, text="+2 AUC")
    step(team, "alice", one, "abandon", utc(3, 11), text="superseded")
    rotate(team, berlin(3, 16, 9, 0))
    assert agenda_of(team) == ([("EXP-1", "conclude")], [])

    two = propose(team, "bob", "Calibration", utc(3, 17))
    step(team, "bob", two, "start", utc(3, 17))
    step(team, "bob", two, "conclude", utc(3, 18), outcome=Outcome.FAILURE, text="no gain")
    three = propose(team, "alice", "Survival model", utc(3, 17))
    step(team, "alice", three, "start", utc(3, 17))
    step(team, "alice", three, "conclude", utc(3, 20), outcome=Outcome.INCONCLUSIVE, text="noisy")
    step(team, "alice", three, "abandon", utc(3, 21), text="no data")
    four = propose(team, "alice", "Still running", utc(3, 22))
    step(team, "alice", four, "start", utc(3, 22))
    rotate(team, berlin(3, 23, 9, 0))  # engineering: conclusions wait for the science week
    assert agenda_of(team) == ([], [])

    start = len(team.outbox_rows())
    assert rotate(team, berlin(3, 30, 9, 0)) == [
        "churn: announced the science review of 2026-03-30"
    ]
    assert agenda_of(team) == ([("EXP-2", "conclude"), ("EXP-3", "conclude")], ["EXP-2"])
    [(channel, _, blocks)] = messages(team, start)
    assert channel == "C-CHURN"
    assert "*EXP-2* Calibration: conclude (failure)" in blocks
    assert "*EXP-3* Survival model: conclude (inconclusive)" in blocks
    assert "*EXP-2* Calibration: in review" in blocks
    assert "EXP-1" not in blocks and "EXP-4" not in blocks


def test_a_conclusion_between_announcement_and_meeting_is_on_the_next_agenda(
    team: Team,
) -> None:
    rotate(team, berlin(3, 16, 9, 0))
    late = propose(team, "alice", "Last-minute result", utc(3, 16, 7))
    step(team, "alice", late, "start", utc(3, 16, 7))
    # 09:30 Berlin: after the 09:00 announcement, before the 10:00 meeting.
    step(team, "alice", late, "conclude", berlin(3, 16, 9, 30), outcome=Outcome.FAILURE, text="x")
    step(team, "alice", late, "abandon", utc(3, 17), text="moved on")
    rotate(team, berlin(3, 30, 9, 0))
    assert agenda_of(team) == ([("EXP-1", "conclude")], [])


def _record_move(team: Team, number: int, action: str, when: datetime) -> None:
    """An engineering move as the audit log holds it (the review gate is not built yet)."""
    with team.db.write() as uow:
        experiment = uow.experiments.require(TEAM, number)
        project = uow.projects.require(TEAM, "churn")
        uow.audit.record(
            TEAM,
            "UERIN",
            action,
            when,
            experiment=experiment,
            project_id=project.id,
            from_status="approved" if action == "schedule" else "scheduled",
            to_status="scheduled" if action == "schedule" else "shipped",
        )
        uow.commit()


def test_an_engineering_agenda_lists_what_was_scheduled_or_shipped(team: Team) -> None:
    old, sched, shipped, science = (
        propose(team, who, title, utc(3, 3))
        for who, title in (
            ("alice", "Old work"),
            ("bob", "Ranking model"),
            ("alice", "Feature store"),
            ("bob", "Pure science"),
        )
    )
    _record_move(team, old, "schedule", utc(3, 5))
    rotate(team, berlin(3, 9, 9, 0))
    assert agenda_of(team) == ([("EXP-1", "schedule")], [])

    _record_move(team, sched, "schedule", utc(3, 11))
    _record_move(team, shipped, "ship", utc(3, 12))
    with team.db.write() as uow:  # a parity check, as evaluations.record_parity audits it
        uow.audit.record(
            TEAM,
            "UERIN",
            "parity",
            utc(3, 12),
            experiment=uow.experiments.require(TEAM, shipped),
            project_id=uow.projects.require(TEAM, "churn").id,
            detail={"parity": 1, "passed": False, "rows": 1234},
        )
        uow.commit()
    step(team, "bob", science, "start", utc(3, 12))
    step(team, "bob", science, "conclude", utc(3, 13), outcome=Outcome.SUCCESS, text="works")
    start = len(team.outbox_rows())
    assert rotate(team, berlin(3, 23, 9, 0)) == [
        "churn: announced the engineering review of 2026-03-23"
    ]
    assert agenda_of(team) == ([("EXP-2", "schedule"), ("EXP-3", "ship"), ("EXP-3", "parity")], [])
    [(_, fallback, blocks)] = messages(team, start)
    assert fallback == "Engineering review Mon 23 Mar 10:00: <@UERIN> presents"
    assert "scheduled, shipped or parity-checked since the last engineering review" in blocks
    assert "*EXP-3* Feature store: parity check FAILED (1,234 rows)" in blocks
    assert "*EXP-2* Ranking model: schedule" in blocks and "*EXP-3* Feature store: ship" in blocks
    assert "EXP-1" not in blocks and "EXP-4" not in blocks


# --- the run ledger under concurrency --------------------------------------------------

KEY = ("rotation", "42", "announce:2026-03-16")


def _in_threads(count: int, work: Callable[[threading.Barrier], Any]) -> list[Any]:
    """Run ``work`` in ``count`` threads released together; their results (or errors)."""
    barrier = threading.Barrier(count, timeout=20)
    results: list[Any] = []
    lock = threading.Lock()

    def body() -> None:
        try:
            result = work(barrier)
        except Exception as exc:  # reported below, with the test's own assertion
            result = exc
        with lock:
            results.append(result)

    threads = [threading.Thread(target=body) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    return results


def test_eight_concurrent_claims_of_one_period_have_exactly_one_winner(db: Database) -> None:
    def claim(barrier: threading.Barrier) -> bool:
        with db.write() as uow:
            barrier.wait()
            won = uow.ledger.claim(*KEY, T0)
            uow.commit()
            return won

    assert sorted(_in_threads(8, claim)) == [False] * 7 + [True]
    assert ledger(db) == [KEY]


def _waiting_on_locks(db: Database, pids: list[int]) -> int:
    with db.engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND pid = ANY(:p)"
                ),
                {"p": pids},
            ).scalar_one()
        )


def test_a_run_that_crashes_after_its_claim_leaves_the_period_to_one_other(
    pg_db: Database,
) -> None:
    pids: list[int] = []
    with pg_db.write() as crashing:
        assert crashing.ledger.claim(*KEY, T0)
        results: list[bool] = []

        def contend() -> None:
            with pg_db.write() as uow:
                pids.append(int(uow.session.execute(text("SELECT pg_backend_pid()")).scalar_one()))
                won = uow.ledger.claim(*KEY, T0)
                uow.commit()
                results.append(won)

        threads = [threading.Thread(target=contend) for _ in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        # All four must be blocked on the crashing run's uncommitted claim.
        while len(pids) < 4 or _waiting_on_locks(pg_db, pids) < 4:
            assert time.monotonic() < deadline, f"contenders not waiting: {pids}"
            time.sleep(0.02)
        # Leaving without commit() is the crash: the claim is rolled back.
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(results) == [False, False, False, True]
    assert ledger(pg_db) == [KEY]


def test_four_replicas_running_the_rotation_at_once_announce_once(db: Database) -> None:
    notices = SchedulingNotices()
    team = seed_team(db, Clock(), notices)
    start = len(team.outbox_rows())
    now = berlin(3, 16, 9, 0)

    def replica(barrier: threading.Barrier) -> list[str]:
        barrier.wait()
        return run_rotation(db, notices, now, TZ)

    done = [line for lines in _in_threads(4, replica) for line in lines]
    assert done == ["churn: announced the science review of 2026-03-16"]
    assert [channel for channel, _, _ in messages(team, start)] == ["C-CHURN"]
    assert presentations(team) == [(date(2026, 3, 16), "science", "UALICE")]
    assert len(ledger(team)) == 1


# --- stale nudges ----------------------------------------------------------------------


def nudge(team: Team, when: datetime) -> list[str]:
    return run_stale_nudges(team.db, scheduled(team), when)


def test_an_idle_experiment_nudges_its_owner_once_a_week(team: Team) -> None:
    propose(team, "alice", "Forgotten idea", T0)
    propose(team, "bob", "Younger idea", T0 + timedelta(days=2))
    start = len(team.outbox_rows())
    tuesday = T0 + timedelta(days=15)  # 2026-03-17, ISO week 12
    assert nudge(team, tuesday) == ["nudged <@UALICE> about EXP-1 (15 days idle)"]
    [(channel, text_, _)] = messages(team, start)
    assert channel == "UALICE"
    assert "*EXP-1* Forgotten idea has had no activity for 15 days (proposed)" in text_

    # Bob's became idle on Thursday: his first nudge; Alice's waits for next week.
    assert nudge(team, tuesday + timedelta(days=2)) == ["nudged <@UBOB> about EXP-2 (15 days idle)"]
    assert nudge(team, tuesday + timedelta(days=5)) == []  # Sunday, same ISO week
    assert nudge(team, tuesday + timedelta(days=6)) == [  # Monday, next week
        "nudged <@UALICE> about EXP-1 (21 days idle)",
        "nudged <@UBOB> about EXP-2 (19 days idle)",
    ]
    assert [channel for channel, _, _ in messages(team, start)] == [
        "UALICE",
        "UBOB",
        "UALICE",
        "UBOB",
    ]


def test_finished_or_recently_linked_experiments_are_not_nudged(team: Team) -> None:
    done = propose(team, "alice", "Dead end", T0)
    step(team, "alice", done, "abandon", T0, text="no signal")
    linked = propose(team, "bob", "Slow but alive", T0)
    at(team, T0 + timedelta(days=10)).run("bob", add_link, linked, "https://nb.example/1", "nb")
    before = len(team.outbox_rows())
    assert nudge(team, T0 + timedelta(days=15)) == []
    assert len(team.outbox_rows()) == before
    # Idle again for 15 days after the link: a nudge, still none for the abandoned one.
    assert nudge(team, T0 + timedelta(days=25)) == ["nudged <@UBOB> about EXP-2 (15 days idle)"]
