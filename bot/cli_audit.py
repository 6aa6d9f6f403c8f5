"""`mlgov audit export`: the trail of gate decisions, for compliance (CSV or JSON)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from bot.domain.errors import ConfigError
from bot.domain.model import PIPELINE_ACTORS

# Always part of the trail: the review, the decisions and the moves through the gate.
GATE_ACTIONS = (
    "review_requested",
    "review_approved",
    "review_changes_requested",
    "review_declined",
    "review_replaced",
    "review_needs_reviewer",
    "request_changes",
    "accept_results",
    "conclude",
    "schedule",
    "ship",
    "reopen_review",  # new results dismissed approvals of an approved experiment
    "baseline",  # what every later evaluation is judged against
    "criterion_changed_after_start",
)
# Part of the trail when their detail says so (see ``belongs``).
IF_DETAIL = ("evaluation", "start", "edited")
FIELDS = (
    "at",
    "team",
    "project",
    "experiment",
    "actor",
    "action",
    "from",
    "to",
    "conclusion",
    "evaluation",
    "detail",
    "actor_name",  # last, so that readers of the older columns by position still work
)


def belongs(action: str, detail: Mapping[str, Any]) -> bool:
    """Whether an audit entry is a gate decision or changes what the gate judges."""
    return action in GATE_ACTIONS or bool(
        detail.get("approvals_dismissed")  # new results dismissed approvals
        or detail.get("forced_past_wip_limit")  # a `start --force`
        or (action == "edited" and "criterion" in detail)  # `/exp edit` of the criterion
    )


def actor_name(actor: str, stored: str | None) -> str:
    """The name to show beside an actor id: the member's, or what the pipeline is.

    mlgov knows a person's name only when a command named them (``<@U123|alice>``);
    it asks Slack nothing here, so a member never named reads as an empty name.
    """
    if stored:
        return stored
    if actor in PIPELINE_ACTORS:
        return f"{actor} pipeline"
    if actor == "mlgov":
        return "mlgov (scheduled job)"
    return ""


def audit_export(settings: Any, args: argparse.Namespace) -> int:
    """Write the gate decisions: who decided what, about which results."""
    import csv
    import json
    from datetime import date, datetime

    since = None
    if args.since:
        try:
            since = datetime.combine(
                date.fromisoformat(args.since), datetime.min.time(), tzinfo=settings.zone
            )
        except ValueError:
            raise ConfigError(
                f"--since must be a date like 2026-01-31, not {args.since!r}."
            ) from None
    from bot.runtime import Runtime  # after the checks of the arguments: it imports pandas

    runtime = Runtime.create(settings, upgrade=False)
    try:
        with runtime.db.read() as uow:
            if args.project:
                known = {p.slug for p in uow.projects.everywhere()}
                if args.project not in known:
                    raise ConfigError(
                        f"No project '{args.project}' (projects: "
                        f"{', '.join(sorted(known)) or 'none'})."
                    )
            found = uow.audit.trail((*GATE_ACTIONS, *IF_DETAIL), args.project, since)
    finally:
        runtime.close()
    rows = [
        {**row, "actor_name": actor_name(row["actor"], row["actor_name"])}
        for row in found
        if belongs(row["action"], row["detail"])
    ]
    out = sys.stdout if args.output == "-" else open(args.output, "w", newline="")
    try:
        if args.format == "json":
            json.dump(rows, out, indent=2, ensure_ascii=False)
            out.write("\n")
        else:
            writer = csv.DictWriter(out, fieldnames=FIELDS)
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "detail": json.dumps(row["detail"], ensure_ascii=False)})
    finally:
        if out is not sys.stdout:
            out.close()
    return 0
