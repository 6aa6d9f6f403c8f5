"""How `/rotation show` words who is skipped and why."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain.availability import SLACK_STATUS
from bot.domain.rotation import Slot, Topic
from bot.slack.blocks.rotation import slot_line
from bot.slack.blocks.swaps import calendar_reset


def test_a_skip_reads_as_one_reason_with_no_doubled_parentheses() -> None:
    slot = Slot(
        date(2027, 1, 4),
        Topic.SCIENCE,
        "UBOB",
        skipped=(("UALICE", SLACK_STATUS), ("UCAROL", "out of office")),
    )
    line = slot_line(slot)
    assert line.endswith(
        "science: <@UBOB> · skipped: <@UALICE> — away (Slack status), <@UCAROL> — out of office"
    ), line
    assert "((" not in line and "))" not in line


@pytest.mark.parametrize(
    ("feed", "said"),
    [
        ("fraud", "Nothing to revoke: you have no live calendar URLs for fraud."),
        ("me", "Nothing to revoke: you have no live calendar URLs for your personal feed."),
        (None, "Nothing to revoke: you have no live calendar URLs."),
    ],
)
def test_a_second_calendar_reset_says_there_is_nothing_left_in_plain_words(
    feed: str | None, said: str
) -> None:
    assert calendar_reset(0, feed).text == said


def test_a_calendar_reset_says_what_it_revoked() -> None:
    assert calendar_reset(2, "fraud").text.startswith("Revoked your fraud calendar URLs (2):")
    assert calendar_reset(1, None).text.startswith("Revoked all your calendar URLs (1):")
