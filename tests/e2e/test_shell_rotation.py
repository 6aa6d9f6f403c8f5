"""The rotation's week-to-week changes in the shell, as a person tries them: a swap offered
and taken with its button, a skipped meeting, and the calendar a subscribed app would see."""

from __future__ import annotations

import re

from bot.config import Settings
from bot.runtime import Runtime
from tests.e2e.test_shell import NOW, answers, shell

PUBLIC_URL = "https://mlgov.example.com"


def runtime(url: str) -> Runtime:
    settings = Settings(database_url=url, timezone="Europe/Berlin", public_url=PUBLIC_URL)
    return Runtime.create(settings, clock=lambda: NOW)


def test_a_week_offered_is_taken_by_button_and_the_calendar_follows(demo_url: str) -> None:
    app = runtime(demo_url)
    try:
        _, out = shell(demo_url, ":as mia", "/rotation calendar churn", runtime=app)
        url = re.search(rf"{PUBLIC_URL}/calendar/churn\.ics\?key=\S+", out)
        assert url is not None, out
        _, out = shell(
            demo_url,
            ":as bob",
            "/rotation swap request --project churn",
            ":as erin",
            ":buttons",
            "1",
            ":as carol",
            ":buttons",
            "1",
            "1",
            f":calendar {url.group(0)}",
            ":calendar https://mlgov.example.com/calendar/churn.ics?key=wrong",
            runtime=app,
        )
    finally:
        app.close()
    said = answers(out)
    offer = said["bob> /rotation swap request --project churn"]
    week = re.search(r"can't present on (\d+ \w+)", offer)
    assert week is not None and "[1] Take it" in offer, offer
    assert "Only someone in the science pool of churn" in said["erin> 1"]
    taken = said["carol> 1"]
    assert f"You present on {week.group(1)} instead of @bob" in taken
    assert f"(edited) ✅ @carol took @bob's {week.group(1)} presentation" in taken
    assert "@carol took this week already." in said["carol> 1 #2"]
    feed = said[f"carol> :calendar {url.group(0)}"]
    assert "→ 200 text/calendar" in feed and "12 event(s)" in feed
    assert "churn science review: carol" in feed
    assert (
        "→ 404 No such calendar."
        in said["carol> :calendar https://mlgov.example.com/calendar/churn.ics?key=wrong"]
    )
