"""The words of command lines: Slack's escaped forms, values, flags and usage texts.

Shared by the grammars in bot/slack/parsing.py; pure, like them.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Iterable
from datetime import date

from bot.domain.errors import UsageError
from bot.domain.model import (
    KEY_PATTERN,
    SLUG_PATTERN,
    Role,
)
from bot.slack.blocks import escaped

USER_PATTERN = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|([^>]*))?>$|^@?([UW][A-Z0-9]{2,})$")
CHANNEL_PATTERN = re.compile(r"^<#([CGD][A-Z0-9]+)(?:\|[^>]*)?>$|^#?([CGD][A-Z0-9]{2,})$")
LINK_PATTERN = re.compile(r"^<(https?://[^|>]+)(?:\|([^>]*))?>$")
URL_PATTERN = re.compile(r"https?://[^\s<>|]+")
MAX_TITLE = 200
MAX_TEXT = 3000

USAGE: dict[str, dict[str, str]] = {
    "exp": {
        "new": "/exp new <project> <title> [--hypothesis TEXT] [--metric auc --min-delta 0.01"
        " [--direction higher|lower]] [--stream main|side]   (no arguments: a form)",
        "edit": "/exp edit EXP-7 [--title …] [--hypothesis …] [--metric auc]"
        " [--direction higher|lower] [--min-delta 0.01] [--stream main|side]"
        "   (owner or manager; a hypothesis and a success criterion are needed to start)",
        "list": "/exp list [mine|all|<status>|@user] [--project p]",
        "show": "/exp show EXP-7",
        "start": "/exp start EXP-7 [--force]",
        "analyze": "/exp analyze EXP-7",
        "conclude": "/exp conclude EXP-7 success|failure|inconclusive <learnings>",
        "abandon": "/exp abandon EXP-7 <reason>",
        "link": "/exp link EXP-7 <url> [label]   or   /exp link EXP-7 mlflow:<run id>|<MLflow"
        " run URL>   (follows the run: see With MLflow)",
        "history": "/exp history EXP-7",
        "schedule": "/exp schedule EXP-7 [note]   (engineers and managers; needs peer review)",
        "ship": "/exp ship EXP-7",
        "metrics": "/exp metrics EXP-7",
        "baseline": "/exp baseline <project> [EXP-3]   (managers set it; without a key: history)",
        "help": "/exp help",
    },
    "digest": {
        "preview": "/digest preview [project] [--last]   (this week so far; --last: the last"
        " complete week, as the weekly digest sent it)",
        "subscribe": "/digest subscribe [project]   (the weekly DM; no project: all yours)",
        "unsubscribe": "/digest unsubscribe [project]",
        "help": "/digest help",
    },
    "review": {
        "request": "/review request EXP-7 [design|results] [@reviewer ...]",
        "approve": "/review approve EXP-7 [comment]",
        "changes": "/review changes EXP-7 <reason>",
        "decline": "/review decline EXP-7 [reason]",
        "list": "/review list [mine|pending|overdue]",
        "help": "/review help",
    },
    "rotation": {
        "show": "/rotation show [project] [weeks]",
        "stats": "/rotation stats [project] [weeks]",
        "join": "/rotation join [project]",
        "leave": "/rotation leave [project]",
        "ooo": "/rotation ooo <from YYYY-MM-DD> <to YYYY-MM-DD>",
        "ooo list": "/rotation ooo list [project]   (yours; a project's: managers)",
        "ooo cancel": "/rotation ooo cancel <from YYYY-MM-DD>",
        "swap": "/rotation swap @a @b [YYYY-MM-DD] [--project p]",
        "swap request": "/rotation swap request [YYYY-MM-DD] [--project p]   (the presenter, or a"
        " manager: offers the week in the project channel with a Take it button)",
        "skip": "/rotation skip <YYYY-MM-DD> [reason] [--project p]   (managers: no meeting that"
        " week; nobody loses their place)",
        "skip cancel": "/rotation skip cancel <YYYY-MM-DD> [--project p]",
        "calendar": "/rotation calendar [project|me]   (DMs you a calendar subscription URL;"
        " me: the meetings you present and the reviews you owe)",
        "calendar reset": "/rotation calendar reset [project|me]   (revokes your calendar URLs:"
        " that feed's, or all)",
        "config": "/rotation config <project> [weekday=mon time=10:00 announce=09:00"
        " timezone=Europe/Berlin pattern=science,engineering]",
        "help": "/rotation help",
    },
    "mlgov": {
        "project add": "/mlgov project add <slug> #channel   (you become its manager)",
        "project show": "/mlgov project show <slug>   (who holds which role, and the rules)",
        "member add": "/mlgov member add @user scientist|engineer|manager|admin [project]",
        "member remove": "/mlgov member remove @user [role] [project]",
        "rules": "/mlgov rules <project> [key=value ...]   (without a project: the"
        " workspace's rules, like away_status=on)",
        "help": "/mlgov help",
    },
}


# Mentions that carry files (a slash command cannot).
UPLOAD_USAGE = {
    "eval": "@mlgov eval EXP-7 [--kind classification|regression] [--new-holdout]   (attach"
    " one CSV, Parquet or JSON file of y_true, y_score or y_pred, optional id; or name an"
    " MLflow run instead: @mlgov eval EXP-7 mlflow:<run id>)",
    "parity": "@mlgov parity EXP-7 [--tolerance 1e-6] [--threshold 0.5]   (attach the"
    " prototype's and production's score files, in that order)",
}


def usage_of(command: str) -> str:
    """All usage lines of ``command`` (``exp`` or ``mlgov``)."""
    return "\n".join(USAGE[command].values())


def every_help() -> str:
    """The help of every slash command, for a command nobody knows."""
    return ", ".join(f"/{name} help" for name in USAGE)


def did_you_mean(word: str, choices: Iterable[str], prefix: str = "") -> str:
    """`` Did you mean 'show'?`` for a near miss among ``choices``, else empty."""
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{prefix}{close[0]}'?" if close else ""


def unknown_subcommand(command: str, typed: str) -> UsageError:
    """The refusal of a subcommand ``command`` does not have, with the nearest one."""
    hint = did_you_mean(unescape(typed), [k for k in USAGE[command] if k != "help"])
    return UsageError(f"Unknown subcommand '{quoted(typed)}'.{hint}", usage_of(command))


# --- tokens -------------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    """Whitespace-separated words; Slack's ``<…>`` spans stay whole."""
    return re.findall(r"<[^<>]*>|[^\s]+", text.strip())


def unescape(text: str) -> str:
    """Undo Slack's escaping of ``&``, ``<`` and ``>`` in free text."""
    return html.unescape(text)


def quoted(fragment: str, limit: int = 80) -> str:
    """What the user typed (as Slack sent it, escaped), to echo in a reply: cut as typed,
    then escaped again, so a cut never splits ``&amp;`` and the echo cannot mention anyone."""
    return escaped(unescape(fragment), limit)


def user_id(token: str, usage: str) -> str:
    match = USER_PATTERN.match(token)
    if not match:
        raise UsageError(f"'{quoted(token)}' is not a user; mention them like @alice.", usage)
    return match.group(1) or match.group(3)


def user_name(token: str) -> str:
    """The display name Slack puts in ``<@U123|name>`` (empty for other forms)."""
    match = USER_PATTERN.match(token)
    return unescape(match.group(2) or "")[:200] if match else ""


def channel_id(token: str, usage: str) -> str:
    match = CHANNEL_PATTERN.match(token)
    if not match:
        raise UsageError(f"'{quoted(token)}' is not a channel; name it like #churn.", usage)
    return match.group(1) or match.group(2)


def experiment_number(token: str, usage: str) -> int:
    match = KEY_PATTERN.match(token)
    if not match:
        raise UsageError(f"'{quoted(token)}' is not an experiment key like EXP-7.", usage)
    return int(match.group(1))


def project_slug(token: str, usage: str) -> str:
    slug = token.lower()
    if not SLUG_PATTERN.match(slug):
        raise UsageError(
            f"'{quoted(token)}' is not a project slug (2–40 of a-z, 0-9, '-', starting with"
            " a letter).",
            usage,
        )
    return slug


# What Slack and macOS make of a typed "--": an em dash or an en dash.
AUTOCORRECTED_DASHES = ("—", "–")
# Quotes people put around a title, as typed and as autocorrected.
QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "„": "“"}


def flag_name(word: str, known: Iterable[str]) -> str | None:
    """The option ``word`` names: ``--name``, or ``—name`` / ``–name`` when ``name`` is a
    known option (autocorrect turned its ``--`` into a dash); None for any other word."""
    if word.startswith("--") and len(word) > 2:
        return word[2:].lower()
    if word[:1] in AUTOCORRECTED_DASHES and word[1:].lower() in set(known):
        return word[1:].lower()
    return None


def unquote(text: str) -> str:
    """``text`` without one pair of quotes around all of it (``"Smart title"``)."""
    if len(text) >= 2 and QUOTE_PAIRS.get(text[0]) == text[-1] and text[1:-1].strip():
        return text[1:-1].strip()
    return text


def split_flags(
    words: list[str], allowed: set[str], usage: str, switches: frozenset[str] = frozenset()
) -> tuple[list[str], dict[str, str]]:
    """Split ``words`` into leading words and ``--flag value…`` pairs.

    A flag's value runs to the next flag, so titles and hypotheses need no quotes.
    """
    positional: list[str] = []
    flags: dict[str, list[str]] = {}
    current: str | None = None
    for word in words:
        name = flag_name(word, allowed | switches)
        if name is not None:
            if name not in allowed and name not in switches:
                known = ", ".join(f"--{a}" for a in sorted(allowed | switches)) or "none"
                raise UsageError(f"Unknown option '{quoted(word)}' (options: {known}).", usage)
            if name in flags:
                raise UsageError(f"Option --{name} given twice.", usage)
            flags[name] = []
            current = None if name in switches else name
        elif current is not None:
            flags[current].append(word)
        elif flags:
            raise UsageError(f"'{quoted(word)}' follows a switch that takes no value.", usage)
        else:
            positional.append(word)
    values: dict[str, str] = {}
    for name, value in flags.items():
        if name in switches:
            values[name] = "yes"
        elif not value:
            raise UsageError(f"Option --{name} needs a value.", usage)
        else:
            values[name] = unescape(" ".join(value))
    return positional, values


def text_arg(words: list[str], what: str, usage: str, limit: int = MAX_TEXT) -> str:
    return checked_text(unescape(" ".join(words)), what, usage, limit)


def checked_text(text: str, what: str, usage: str, limit: int = MAX_TEXT) -> str:
    """Already unescaped ``text``, stripped, refused when empty or over ``limit``."""
    value = text.strip()
    if not value:
        raise UsageError(f"Missing {what}.", usage)
    if len(value) > limit:
        raise UsageError(
            f"The {what} is too long ({len(value)} characters, at most {limit}).", usage
        )
    return value


# --- /exp ---------------------------------------------------------------------------


def role_of(word: str, usage: str) -> Role:
    try:
        return Role(word.lower())
    except ValueError:
        raise UsageError(
            f"'{quoted(word)}' is not a role (scientist, engineer, manager, admin).", usage
        ) from None


def day(word: str, usage: str) -> date:
    try:
        return date.fromisoformat(word)
    except ValueError:
        raise UsageError(f"'{quoted(word)}' is not a date like 2026-03-30.", usage) from None


def project_and_weeks(words: list[str], default: int, usage: str) -> tuple[str | None, int]:
    project: str | None = None
    weeks = default
    for word in words:
        if word.isascii() and word.isdigit():
            weeks = int(word)
            if not 1 <= weeks <= 52:
                raise UsageError("weeks must be from 1 to 52.", usage)
        elif project is None:
            project = project_slug(word, usage)
        else:
            raise UsageError(f"Unexpected '{quoted(word)}'.", usage)
    return project, weeks


def pairs(words: list[str], usage: str) -> dict[str, str]:
    """``key=value`` pairs; a word without ``=`` continues the value before it, so
    ``digest_time=mon 08:00`` needs no quotes."""
    changes: dict[str, str] = {}
    last: str | None = None
    for pair in words:
        if "=" not in pair and last is not None:
            changes[last] += " " + unescape(pair)
            continue
        name, sep, value = unescape(pair).partition("=")
        if not sep or not name or not value:
            raise UsageError(f"'{quoted(pair)}' is not key=value.", usage)
        if name.lower() in changes:
            raise UsageError(f"'{name}' given twice.", usage)
        changes[name.lower()] = value
        last = name.lower()
    return changes
