"""Parsing and validating ``key=value`` project rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, fields, replace
from datetime import time
from typing import Any

from bot.domain.errors import ValidationError
from bot.domain.model import ProjectRules

_RANGES: dict[str, tuple[int, int]] = {
    "wip_main": (1, 20),
    "wip_side": (0, 50),
    "wip_project": (0, 500),
    "quorum": (1, 10),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "design_review": ("required", "optional", "off"),
    "auto_review": ("on", "off"),  # conclude opens the results review and picks reviewers
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CHANNEL = re.compile(r"^<#([CG][A-Z0-9]{2,})(?:\|[^>]*)?>$|^([CG][A-Z0-9]{2,})$")
# A registered model's name as mlgov can poll it: no spaces (rules are split on them), no
# quotes or backslashes (it goes into MLflow's search filter between quotes).
_MODEL_NAME = re.compile(r"^[^\s'\"`\\]{1,256}$")
_DIGEST_TIME = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)\s+([01][0-9]|2[0-3]):([0-5][0-9])$")
RULE_KEYS = tuple(f.name for f in fields(ProjectRules))


def describe_rules() -> str:
    """One line per rule with its allowed values, for help texts."""
    lines = [f"{k}: integer {lo}–{hi}" for k, (lo, hi) in _RANGES.items()]
    lines += [f"{k}: {' | '.join(v)}" for k, v in _CHOICES.items()]
    lines += [
        "digest_channel: #channel | none (also post the weekly digest there; invite"
        " @mlgov to a private channel)",
        "digest_time: weekday HH:MM, e.g. mon 08:00 (the team's time zone, MLGOV_TIMEZONE)",
        "mlflow_model: a registered model in MLflow whose versions mlflow-sync checks against"
        " the gate, where MLflow's webhooks cannot reach mlgov | none",
    ]
    return "\n".join(lines)


def digest_schedule(rules: ProjectRules) -> tuple[int, time]:
    """The weekday (Monday 0) and wall-clock time of the project's digest."""
    match = _DIGEST_TIME.match(rules.digest_time) or _DIGEST_TIME.match("mon 08:00")
    assert match is not None
    day, hour, minute = match.groups()
    return WEEKDAYS.index(day), time(int(hour), int(minute))


def updated_rules(current: ProjectRules, changes: Mapping[str, str]) -> ProjectRules:
    """Apply textual ``changes``; every problem is reported at once and nothing applies."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, raw in changes.items():
        if key in _RANGES:
            lo, hi = _RANGES[key]
            try:
                if not raw.lstrip("-").isascii() or "_" in raw:
                    raise ValueError(raw)
                number = int(raw)
            except ValueError:
                problems.append(f"{key} must be a whole number from {lo} to {hi}, not '{raw}'")
                continue
            if not lo <= number <= hi:
                problems.append(f"{key} must be from {lo} to {hi}, not {number}")
                continue
            values[key] = number
        elif key == "digest_channel":
            match = _CHANNEL.match(raw.strip())
            if raw.strip().lower() in ("none", "off"):
                values[key] = ""
            elif match:
                values[key] = match.group(1) or match.group(2)
            else:
                problems.append(f"digest_channel must be a #channel or none, not '{raw}'")
        elif key == "digest_time":
            text = " ".join(raw.lower().split())
            if _DIGEST_TIME.match(text):
                values[key] = text
            else:
                problems.append(f"digest_time must be like 'mon 08:00', not '{raw}'")
        elif key == "mlflow_model":
            name = raw.strip()
            if name.lower() == "none":
                values[key] = ""
            elif _MODEL_NAME.match(name):
                values[key] = name
            else:
                problems.append(
                    "mlflow_model must be a registered model's name (no spaces, quotes or"
                    f" backslashes) or none, not '{raw[:80]}'"
                )
        elif key in _CHOICES:
            if raw not in _CHOICES[key]:
                problems.append(f"{key} must be one of {', '.join(_CHOICES[key])}, not '{raw}'")
                continue
            values[key] = raw
        else:
            problems.append(f"unknown rule '{key}' (known: {', '.join(RULE_KEYS)})")
    if problems:
        raise ValidationError("Rules not changed: " + "; ".join(problems) + ".")
    return replace(current, **values)


def rules_from_dict(data: Mapping[str, Any]) -> ProjectRules:
    """Rules stored as JSON; unknown keys (from a newer version) are ignored."""
    known = {k: v for k, v in data.items() if k in RULE_KEYS}
    return replace(ProjectRules(), **known)


def rules_to_dict(rules: ProjectRules) -> dict[str, Any]:
    return asdict(rules)
