"""Use cases of peer review and the engineering gate (SPEC §3), in one place to import.

Each idea lives in its own module: who reviews (:mod:`review_staffing`), opening reviews
(:mod:`review_requests`), deciding and the gate (:mod:`review_decisions`), and reviews
that wait (:mod:`review_reminders`).
"""

from __future__ import annotations

from bot.domain.review import REMIND_AFTER
from bot.services.review_decisions import (
    Decided,
    check_reviewer,
    current_review,
    decide,
    decline,
    schedule_engineering,
    ship,
)
from bot.services.review_reminders import (
    ESCALATE_AFTER,
    OVERDUE_DAYS,
    REPLACE_AFTER,
    list_reviews,
    run_review_reminders,
    waits_on_reviewers,
)
from bot.services.review_requests import (
    Requested,
    open_after_conclude,
    open_results_review,
    reopen_after_new_results,
    request_review,
)
from bot.services.review_staffing import (
    below_quorum,
    candidates,
    check_new_quorum,
    member_left,
)

__all__ = [
    "ESCALATE_AFTER",
    "OVERDUE_DAYS",
    "REMIND_AFTER",
    "REPLACE_AFTER",
    "Decided",
    "Requested",
    "below_quorum",
    "candidates",
    "check_new_quorum",
    "check_reviewer",
    "current_review",
    "decide",
    "decline",
    "list_reviews",
    "member_left",
    "open_after_conclude",
    "open_results_review",
    "reopen_after_new_results",
    "request_review",
    "run_review_reminders",
    "schedule_engineering",
    "ship",
    "waits_on_reviewers",
]
