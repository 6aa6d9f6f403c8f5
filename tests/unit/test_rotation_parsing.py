"""The /rotation grammar of out of office (record, list, cancel), skips, swap requests and
calendar URLs, and bad input."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain.commands import (
    CalendarLink,
    CancelAbsence,
    CancelSkip,
    Command,
    Help,
    ListAbsences,
    RecordAbsence,
    RequestSwap,
    ResetCalendar,
    SkipMeeting,
    SwapPresenters,
)
from bot.domain.errors import UsageError
from bot.slack.parsing import USAGE, parse

GOOD: list[tuple[str, Command]] = [
    ("ooo 2026-03-16 2026-03-20", RecordAbsence(date(2026, 3, 16), date(2026, 3, 20))),
    ("ooo list", ListAbsences()),
    ("OOO LIST", ListAbsences()),
    ("ooo list Churn", ListAbsences("churn")),
    ("ooo cancel 2026-03-16", CancelAbsence(date(2026, 3, 16))),
    ("ooo Cancel 2026-03-16", CancelAbsence(date(2026, 3, 16))),
    ("skip 2026-12-07", SkipMeeting(date(2026, 12, 7))),
    (
        "skip 2026-12-07 team offsite &amp; more",
        SkipMeeting(date(2026, 12, 7), "team offsite & more"),
    ),
    ("skip 2026-12-07 offsite --project churn", SkipMeeting(date(2026, 12, 7), "offsite", "churn")),
    ("skip cancel 2026-12-07", CancelSkip(date(2026, 12, 7))),
    ("SKIP Cancel 2026-12-07 --project churn", CancelSkip(date(2026, 12, 7), "churn")),
    ("swap request", RequestSwap()),
    ("swap Request 2026-12-07", RequestSwap(date(2026, 12, 7))),
    ("swap request --project churn", RequestSwap(None, "churn")),
    ("swap <@UA|a> <@UB|b> 2026-12-07", SwapPresenters("UA", "UB", date(2026, 12, 7))),
    ("calendar", CalendarLink()),
    ("calendar Churn", CalendarLink("churn")),
    ("calendar me", CalendarLink(None, personal=True)),
    ("calendar reset", ResetCalendar(None, False, every=True)),
    ("calendar reset churn", ResetCalendar("churn", False, every=False)),
    ("calendar reset ME", ResetCalendar(None, True, every=False)),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_rotation_forms(text: str, expected: Command) -> None:
    assert parse("/rotation", text) == expected


BAD: list[tuple[str, str, str]] = [
    ("ooo", "ooo", "ooo needs the first and the last day away."),
    ("ooo 2026-03-16", "ooo", "ooo needs the first and the last day away."),
    # QA: both days given with a project; the project is what is wrong (an absence is the
    # person's, in every project), not the days.
    (
        "ooo 2026-12-08 2027-07-01 --project churn",
        "ooo",
        "ooo takes no '--project': an absence counts in every project you are in.",
    ),
    ("ooo --project churn 2026-12-08 2027-07-01", "ooo", "ooo takes no '--project'"),
    ("ooo 2026-12-08 2027-07-01 —project churn", "ooo", "ooo takes no '—project'"),
    ("ooo cancel 2026-12-08 --project churn", "ooo cancel", "ooo takes no '--project'"),
    ("ooo list --project churn", "ooo list", "ooo list takes no '--project': name the project"),
    ("ooo 2026-12-08 2027-07-01 churn", "ooo", "Unexpected 'churn'."),
    ("ooo list churn fraud", "ooo list", "Unexpected 'fraud'."),
    ("ooo list Not_A_Slug", "ooo list", "is not a project slug"),
    ("ooo cancel", "ooo cancel", "ooo cancel needs the first day of the absence to cancel."),
    ("ooo cancel 2026-03-16 2026-03-20", "ooo cancel", "needs the first day of the absence"),
    ("ooo cancel 2026-13-01", "ooo cancel", "'2026-13-01' is not a date like"),
    ("ooo cancel tomorrow", "ooo cancel", "'tomorrow' is not a date like"),
    ("ooo 2026-03-20 2026-03-16", "ooo", "The last day is before the first."),
    ("skip", "skip", "skip needs the meeting's date."),
    ("skip next-monday", "skip", "'next-monday' is not a date like"),
    (
        "skip 2026-12-07 " + "x" * 301,
        "skip",
        "The reason is too long (301 characters, at most 300).",
    ),
    ("skip 2026-12-07 --project", "skip", "Option --project needs a value."),
    ("skip 2026-12-07 --colour red", "skip", "Unknown option '--colour'"),
    ("skip cancel", "skip cancel", "skip cancel needs the meeting's date."),
    ("skip cancel 2026-12-07 again", "skip cancel", "Unexpected 'again'."),
    ("swap request 2026-12-07 2026-12-14", "swap request", "Unexpected '2026-12-14'."),
    ("swap request soon", "swap request", "'soon' is not a date like"),
    ("calendar churn fraud", "calendar", "Unexpected 'fraud'."),
    ("calendar Not_A_Slug", "calendar", "is not a project slug"),
    ("calendar reset churn me", "calendar reset", "Unexpected 'me'."),
]


@pytest.mark.parametrize(("text", "usage_key", "fragment"), BAD)
def test_bad_rotation_input_explains_and_shows_usage(
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


def test_rotation_help_lists_skips_swap_requests_and_calendars() -> None:
    forms = "\n".join(USAGE["rotation"].values())
    for form in (
        "/rotation skip <YYYY-MM-DD> [reason]",
        "/rotation skip cancel <YYYY-MM-DD>",
        "/rotation swap request [YYYY-MM-DD]",
        "/rotation calendar [project|me]",
        "/rotation calendar reset [project|me]",
    ):
        assert form in forms
