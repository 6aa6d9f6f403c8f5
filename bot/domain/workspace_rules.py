"""Workspace-wide rules (``/mlgov rules key=value`` without a project): who counts as away
by their Slack status, and the team's working hours (snoozed reminders land in them)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import time
from typing import Any

from bot.domain.errors import ValidationError

DEFAULT_AWAY_EMOJI = (":palm_tree:", ":face_with_thermometer:", ":airplane:")
DEFAULT_AWAY_TEXT = ("OOO", "out of office", "vacation", "sick")
_EMOJI = re.compile(r"^:[a-z0-9_+'-]{1,60}:$")
_HOURS = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])$")
MAX_ITEMS = 20


@dataclass(frozen=True)
class WorkspaceRules:
    """What a workspace's admins set for everyone in it."""

    # on: reviewer selection and the rotation skip people whose Slack status says away.
    away_status: str = "on"
    away_emoji: tuple[str, ...] = DEFAULT_AWAY_EMOJI
    away_text: tuple[str, ...] = DEFAULT_AWAY_TEXT  # words or phrases, any case
    working_hours: str = "09:00-17:00"  # Monday to Friday, in the team's time zone

    @property
    def uses_slack_status(self) -> bool:
        return self.away_status == "on"

    @property
    def day(self) -> tuple[time, time]:
        """The start and end of a working day."""
        match = _HOURS.match(self.working_hours) or _HOURS.match("09:00-17:00")
        assert match is not None
        a, b, c, d = (int(x) for x in match.groups())
        return time(a, b), time(c, d)


WORKSPACE_RULE_KEYS = tuple(f.name for f in fields(WorkspaceRules))


def describe_workspace_rules() -> str:
    """One line per workspace rule with its allowed values, for help texts."""
    return "\n".join(
        (
            "away_status: on | off (skip reviewers and presenters whose Slack status says away)",
            "away_emoji: :emoji:, … | none (default :palm_tree:, :face_with_thermometer:,"
            " :airplane:)",
            "away_text: word or phrase, … | none (default OOO, out of office, vacation, sick)",
            "working_hours: HH:MM-HH:MM, Monday to Friday (default 09:00-17:00; snoozed"
            " reminders land in them)",
        )
    )


def _items(raw: str) -> tuple[str, ...]:
    if raw.strip().lower() == "none":
        return ()
    return tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))


def updated_workspace_rules(current: WorkspaceRules, changes: Mapping[str, str]) -> WorkspaceRules:
    """Apply textual ``changes``; every problem is reported at once and nothing applies."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, raw in changes.items():
        if key == "away_status":
            if raw.lower() not in ("on", "off"):
                problems.append(f"away_status must be on or off, not '{raw}'")
            else:
                values[key] = raw.lower()
        elif key == "away_emoji":
            emoji = tuple(e.lower() for e in _items(raw))
            bad = [e for e in emoji if not _EMOJI.match(e)]
            if bad:
                problems.append(f"away_emoji takes emoji names like :palm_tree:, not '{bad[0]}'")
            elif len(emoji) > MAX_ITEMS:
                problems.append(f"away_emoji takes at most {MAX_ITEMS} emoji")
            else:
                values[key] = emoji
        elif key == "away_text":
            words = _items(raw)
            if any(len(w) > 60 for w in words) or len(words) > MAX_ITEMS:
                problems.append(
                    f"away_text takes at most {MAX_ITEMS} words or phrases of 60 characters"
                )
            else:
                values[key] = words
        elif key == "working_hours":
            text = raw.replace(" ", "")
            match = _HOURS.match(text)
            if match is None:
                problems.append(f"working_hours must be like 09:00-17:00, not '{raw}'")
            elif match.group(1, 2) >= match.group(3, 4):
                problems.append(f"working_hours must end after they start, not '{raw}'")
            else:
                values[key] = text
        else:
            problems.append(
                f"unknown workspace rule '{key}' (known: {', '.join(WORKSPACE_RULE_KEYS)})"
            )
    if problems:
        raise ValidationError("Rules not changed: " + "; ".join(problems) + ".")
    return replace(current, **values)


def workspace_rules_from_dict(data: Mapping[str, Any] | None) -> WorkspaceRules:
    """Rules stored as JSON; unknown keys (from a newer version) are ignored."""
    values: dict[str, Any] = {}
    for key, value in (data or {}).items():
        if key in ("away_emoji", "away_text") and isinstance(value, list):
            values[key] = tuple(str(v) for v in value)
        elif key in ("away_status", "working_hours") and isinstance(value, str):
            values[key] = value
    return replace(WorkspaceRules(), **values)


def workspace_rules_to_dict(rules: WorkspaceRules) -> dict[str, Any]:
    return {
        "away_status": rules.away_status,
        "away_emoji": list(rules.away_emoji),
        "away_text": list(rules.away_text),
        "working_hours": rules.working_hours,
    }
