"""The rotation job and `/rotation show` agree, whatever was missed or missing (SPEC §4).

- a week nobody announced (downtime, a skipped run) counts as planned and moves no one:
  the job announces for each week exactly what `show` listed for it;
- a topic with nobody in its pool gives its week to the next topic that has presenters,
  and the project's managers are told once; with nobody in any pool no meeting is
  announced, and the managers are told once.

As in test_jobs: Europe/Berlin, churn created Monday 2026-03-02 10:00 Berlin, so science
weeks are 03-16, 03-30, …; engineering 03-09, 03-23, ….
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from bot.domain.model import Role
from bot.services import rotation
from bot.services import team as team_service
from tests.integration.conftest import TEAM, Team
from tests.integration.test_jobs import (
    TZ,
    SchedulingNotices,
    berlin,
    messages,
    presentations,
    rotate,
)


@pytest.fixture
def notices() -> SchedulingNotices:
    """Notices that queue what the jobs announce (the shared double drops it)."""
    return SchedulingNotices()


def show(team: Team, slug: str = "churn", weeks: int = 12) -> rotation.Schedule:
    """`/rotation show <slug> <weeks>` as the team's admin, at the team clock's time."""
    project = team.read(lambda uow: uow.projects.require(TEAM, slug))
    return team.read(lambda uow: rotation.upcoming(uow, team.ctx("admin"), project, TZ, weeks))


def planned(team: Team, weeks: int = 12) -> dict[date, str | None]:
    return {s.week: s.presenter for s in show(team, weeks=weeks).slots}


def at_nine(week: date, minute: int = 0) -> datetime:
    return berlin(week.month, week.day, 9, minute)


def managers(team: Team, slug: str) -> list[str]:
    project = team.read(lambda uow: uow.projects.require(TEAM, slug))
    return team.read(lambda uow: rotation.managers_of(uow, project))


# --- a missed announcement moves no one -----------------------------------------------


def test_a_week_nobody_announced_does_not_change_who_presents_later(team: Team) -> None:
    """The 21 Dec story: show planned @erin, the job announced @dan after a missed week."""
    team.run("manager", team_service.add_member, "UDAN", Role.ENGINEER, "churn")
    plan = planned(team)
    engineering = [date(2026, 3, 9), date(2026, 3, 23), date(2026, 4, 6), date(2026, 4, 20)]
    assert [plan[w] for w in engineering] == ["UERIN", "UDAN", "UERIN", "UDAN"]
    science = [date(2026, 3, 16), date(2026, 3, 30), date(2026, 4, 13)]
    assert [plan[w] for w in science] == ["UALICE", "UBOB", "UALICE"]

    # The server is down over the announcements of 23 and 30 March.
    announced = [date(2026, 3, 9), date(2026, 3, 16), date(2026, 4, 6), date(2026, 4, 13)]
    for week in announced:
        rotate(team, at_nine(week))
    # A restart at 09:40 on the 20th makes up that morning's announcement, once.
    start = len(team.outbox_rows())
    assert rotate(team, at_nine(date(2026, 4, 20), 40)) == [
        "churn: announced the engineering review of 2026-04-20"
    ]
    assert rotate(team, at_nine(date(2026, 4, 20), 50)) == []
    [(channel, fallback, _)] = messages(team, start)
    assert (channel, fallback) == (
        "C-CHURN",
        "Engineering review Mon 20 Apr 10:00: <@UDAN> presents",
    )

    announced.append(date(2026, 4, 20))
    assert presentations(team) == [
        (w, "engineering" if w in engineering else "science", plan[w]) for w in announced
    ]
    # What show lists after the gap is still what it listed before it.
    team.clock.now = berlin(4, 21, 12)
    assert {w: p for w, p in planned(team, 6).items() if w in plan} == {
        w: plan[w] for w in plan if w > date(2026, 4, 21)
    }


# --- a topic with nobody to present ---------------------------------------------------


def test_an_empty_pool_gives_its_weeks_to_the_next_topic_and_managers_hear_once(
    team: Team,
) -> None:
    team.run("manager", team_service.remove_member, "UERIN", None, "churn")
    told = managers(team, "churn")
    assert {"UMGR", "UBOSS"} <= set(told)
    schedule = show(team, weeks=4)
    assert [(s.week, s.topic.value, s.presenter) for s in schedule.slots] == [
        (date(2026, 3, 9), "science", "UALICE"),
        (date(2026, 3, 16), "science", "UBOB"),
        (date(2026, 3, 23), "science", "UALICE"),
        (date(2026, 3, 30), "science", "UBOB"),
    ]
    shown = render_schedule(schedule)
    assert "science (instead of engineering: nobody in its pool): <@UALICE>" in shown
    assert "nobody available" not in shown

    start = len(team.outbox_rows())
    assert rotate(team, at_nine(date(2026, 3, 9))) == [
        f"churn: announced the science review of 2026-03-09; told {len(told)} manager(s)"
        " that engineering has nobody to present"
    ]
    posted = messages(team, start)
    assert [channel for channel, _, _ in posted] == ["C-CHURN", *told]
    _, fallback, blocks = posted[0]
    assert fallback == "Science review Mon 09 Mar 10:00: <@UALICE> presents"
    assert "Engineering has nobody in its pool, so science takes this week." in blocks
    for _, dm, _ in posted[1:]:
        assert "nobody in the *engineering* pool: *science* takes its weeks" in dm

    # Later weeks: as planned, and the managers are not told again.
    for week in (date(2026, 3, 16), date(2026, 3, 23)):
        before = len(team.outbox_rows())
        assert rotate(team, at_nine(week)) == [f"churn: announced the science review of {week}"]
        assert [c for c, _, _ in messages(team, before)] == ["C-CHURN"]
    assert [p for _, _, p in presentations(team)] == ["UALICE", "UBOB", "UALICE"]


def test_a_pool_that_empties_again_after_presenting_is_news_again(team: Team) -> None:
    team.run("manager", team_service.remove_member, "UERIN", None, "churn")
    rotate(team, at_nine(date(2026, 3, 9)))  # science stands in; managers told
    team.run("manager", team_service.add_member, "UERIN", Role.ENGINEER, "churn")
    assert rotate(team, at_nine(date(2026, 3, 23))) == [
        "churn: announced the engineering review of 2026-03-23"
    ]
    team.run("manager", team_service.remove_member, "UERIN", None, "churn")
    done = rotate(team, at_nine(date(2026, 4, 6)))
    assert done == [
        f"churn: announced the science review of 2026-04-06; told"
        f" {len(managers(team, 'churn'))} manager(s) that engineering has nobody to present"
    ]


def test_with_nobody_in_any_pool_no_meeting_is_announced_and_managers_hear_once(
    team: Team,
) -> None:
    team.run("admin", team_service.add_project, "fraud", "C-FRAUD")
    told = managers(team, "fraud")
    assert "UBOSS" in told
    shown = render_schedule(show(team, "fraud", 2))
    assert "`Mon 2026-03-09` no meeting: nobody in any presenter pool" in shown

    start = len(team.outbox_rows())
    assert rotate(team, at_nine(date(2026, 3, 9))) == [
        "churn: announced the engineering review of 2026-03-09",
        f"fraud: no review on 2026-03-09, nobody in any presenter pool; told {len(told)}"
        " manager(s) that science and engineering have nobody to present",
    ]
    posted = messages(team, start)
    assert [channel for channel, _, _ in posted] == ["C-CHURN", *told]
    assert "C-FRAUD" not in [channel for channel, _, _ in posted]
    assert "no review is announced on Mon 09 Mar or after until someone joins" in posted[1][1]

    before = len(team.outbox_rows())
    assert rotate(team, at_nine(date(2026, 3, 16))) == [
        "churn: announced the science review of 2026-03-16",
        "fraud: no review on 2026-03-16, nobody in any presenter pool",
    ]
    assert [channel for channel, _, _ in messages(team, before)] == ["C-CHURN"]
    assert [slug_week[0] for slug_week in presentations(team)].count(date(2026, 3, 16)) == 1


def render_schedule(schedule: rotation.Schedule) -> str:
    """`/rotation show` as Slack gets it: blocks and fallback text."""
    from bot.slack.blocks.rotation import schedule as render

    reply = render(schedule)
    return f"{reply.text}\n{reply.blocks}"
