"""How `/rotation show` words who is skipped and why."""

from __future__ import annotations

from datetime import date

from bot.domain.availability import SLACK_STATUS
from bot.domain.rotation import Slot, Topic
from bot.slack.blocks.rotation import slot_line


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
