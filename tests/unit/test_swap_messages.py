"""What swap messages ask people to type works as typed."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from bot.domain.commands import SkipMeeting, SwapPresenters
from bot.domain.model import Project, ProjectRules
from bot.domain.rotation import Offer, RotationConfig, Slot, SwapRequest, Topic
from bot.slack.blocks.swaps import unanswered
from bot.slack.parsing import parse

WEEK = date(2027, 1, 4)


def offer() -> Offer:
    project = Project(1, "T1", "fraud", "CFRAUD", ProjectRules(), datetime(2026, 1, 1, tzinfo=UTC))
    request = SwapRequest(7, 1, WEEK, "UALICE", "UALICE", datetime(2026, 12, 28, tzinfo=UTC))
    slot = Slot(WEEK, Topic.SCIENCE, "UALICE")
    meeting = datetime(2027, 1, 4, 9, tzinfo=UTC)
    return Offer(project, request, slot, meeting, RotationConfig(timezone="Europe/Berlin"))


def test_the_managers_are_told_a_command_that_names_the_person_and_the_project() -> None:
    text = unanswered(offer())
    commands = re.findall(r"`(/rotation [^`]+)`", text)
    assert len(commands) == 2, text
    swap, skip = (c.split(" ", 1) for c in commands)
    # A manager of two projects pastes it, naming whoever takes over instead of @someone.
    typed = swap[1].replace("@someone", "<@UBOB|bob>")
    assert parse(swap[0], typed) == SwapPresenters("UALICE", "UBOB", WEEK, "fraud")
    assert parse(skip[0], skip[1]) == SkipMeeting(WEEK, "", "fraud")
