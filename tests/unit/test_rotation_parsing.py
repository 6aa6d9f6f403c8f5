"""The /rotation grammar of out of office: record, list and cancel, and bad input."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain.commands import CancelAbsence, Command, Help, ListAbsences, RecordAbsence
from bot.domain.errors import UsageError
from bot.slack.parsing import USAGE, parse

GOOD: list[tuple[str, Command]] = [
    ("ooo 2026-03-16 2026-03-20", RecordAbsence(date(2026, 3, 16), date(2026, 3, 20))),
    ("ooo list", ListAbsences()),
    ("OOO LIST", ListAbsences()),
    ("ooo list Churn", ListAbsences("churn")),
    ("ooo cancel 2026-03-16", CancelAbsence(date(2026, 3, 16))),
    ("ooo Cancel 2026-03-16", CancelAbsence(date(2026, 3, 16))),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_out_of_office_forms(text: str, expected: Command) -> None:
    assert parse("/rotation", text) == expected


BAD: list[tuple[str, str, str]] = [
    ("ooo", "ooo", "ooo needs the first and the last day away."),
    ("ooo 2026-03-16", "ooo", "ooo needs the first and the last day away."),
    ("ooo list churn fraud", "ooo list", "Unexpected 'fraud'."),
    ("ooo list Not_A_Slug", "ooo list", "is not a project slug"),
    ("ooo cancel", "ooo cancel", "ooo cancel needs the first day of the absence to cancel."),
    ("ooo cancel 2026-03-16 2026-03-20", "ooo cancel", "needs the first day of the absence"),
    ("ooo cancel 2026-13-01", "ooo cancel", "'2026-13-01' is not a date like"),
    ("ooo cancel tomorrow", "ooo cancel", "'tomorrow' is not a date like"),
    ("ooo 2026-03-20 2026-03-16", "ooo", "The last day is before the first."),
]


@pytest.mark.parametrize(("text", "usage_key", "fragment"), BAD)
def test_bad_out_of_office_input_explains_and_shows_usage(
    text: str, usage_key: str, fragment: str
) -> None:
    with pytest.raises(UsageError) as refused:
        parse("/rotation", text)
    message = str(refused.value)
    assert fragment in message
    assert USAGE["rotation"][usage_key] in message


def test_rotation_help_lists_the_out_of_office_forms() -> None:
    assert parse("/rotation", "help") == Help("rotation")
    forms = "\n".join(USAGE["rotation"].values())
    assert "/rotation ooo list [project]" in forms
    assert "/rotation ooo cancel <from YYYY-MM-DD>" in forms
