"""Command text -> typed commands, or a UsageError that shows the right usage (SPEC §7).

Pure: no Slack SDK. Accepts Slack's escaped forms (``<@U123|name>``, ``<#C123|name>``,
``<https://…|label>``, ``&amp;``) as well as bare ids.
"""

from __future__ import annotations

import math
import re

from bot.domain.commands import (
    AddLink,
    AddMember,
    AddProject,
    BaselineHistory,
    CalendarLink,
    CancelAbsence,
    CancelSkip,
    Command,
    ConfigureRotation,
    DecideReview,
    DeclineReview,
    EvaluateUpload,
    Help,
    History,
    JoinRotation,
    LinkMlflowRun,
    ListAbsences,
    ListExperiments,
    ListReviews,
    OpenNewExperimentForm,
    ParityUpload,
    PreviewDigest,
    RecordAbsence,
    RemoveMember,
    RequestReview,
    RequestSwap,
    ResetCalendar,
    RotationStats,
    ScheduleEngineering,
    SetBaseline,
    SetRules,
    SetWorkspaceRules,
    Ship,
    ShowExperiment,
    ShowMetrics,
    ShowProject,
    ShowRotation,
    SkipMeeting,
    Step,
    SubscribeDigest,
    SwapPresenters,
)
from bot.domain.errors import UsageError, ValidationError
from bot.domain.evaluation import Kind
from bot.domain.mlflow_runs import run_reference
from bot.domain.model import (
    Outcome,
    Role,
    Status,
    plain_number,
)
from bot.domain.workspace_rules import WORKSPACE_RULE_KEYS
from bot.slack.blocks import escaped
from bot.slack.proposals import parse_edit, parse_new
from bot.slack.words import (
    LINK_PATTERN,
    MAX_TEXT,
    UPLOAD_USAGE,
    URL_PATTERN,
    USAGE,
    USER_PATTERN,
    channel_id,
    day,
    did_you_mean,
    every_help,
    experiment_number,
    flag_name,
    pairs,
    project_and_weeks,
    project_slug,
    quoted,
    role_of,
    split_flags,
    text_arg,
    tokens,
    unescape,
    unknown_subcommand,
    usage_of,
    user_id,
    user_name,
)

# The grammar's public face; USAGE (from bot.slack.words) is part of it.
__all__ = ["PARSERS", "USAGE", "parse", "parse_mention", "usage_of"]
MAX_REASON = 300  # a skipped meeting's reason, as stored


def parse_exp(text: str) -> Command:
    words = tokens(text)
    if not words:
        return OpenNewExperimentForm()
    sub, rest = words[0].lower(), words[1:]
    usage = USAGE["exp"].get(sub)
    if sub == "help":
        return Help("exp")
    if usage is None:
        raise unknown_subcommand("exp", words[0])
    if sub == "new":
        if not rest:
            return OpenNewExperimentForm()
        return parse_new(rest, usage)
    if sub == "list":
        return _parse_list(rest, usage)
    if sub == "baseline":
        return _parse_baseline(rest, usage)
    if not rest:
        raise UsageError(f"'{sub}' needs an experiment key.", usage)
    number = experiment_number(rest[0], usage)
    args = rest[1:]
    if sub in ("show", "history", "analyze", "metrics"):
        if args:
            raise UsageError(f"Unexpected '{quoted(' '.join(args))}'.", usage)
        if sub == "show":
            return ShowExperiment(number)
        if sub == "metrics":
            return ShowMetrics(number)
        return History(number) if sub == "history" else Step("analyze", number)
    if sub == "edit":
        return parse_edit(number, args, usage)
    if sub == "start":
        if args and [flag_name(a, {"force"}) for a in args] != ["force"]:
            raise UsageError(f"Unexpected '{quoted(' '.join(args))}'.", usage)
        return Step("start", number, force=bool(args))
    if sub == "conclude":
        if not args:
            raise UsageError("conclude needs an outcome and the learnings.", usage)
        try:
            outcome = Outcome(args[0].lower())
        except ValueError:
            raise UsageError(
                f"'{quoted(args[0])}' is not an outcome (success, failure, inconclusive).",
                usage,
            ) from None
        return Step(
            "conclude", number, outcome=outcome, text=text_arg(args[1:], "learnings", usage)
        )
    if sub == "abandon":
        return Step("abandon", number, text=text_arg(args, "reason", usage))
    if sub == "schedule":
        return ScheduleEngineering(number, unescape(" ".join(args)).strip()[:MAX_TEXT])
    if sub == "ship":
        if args:
            raise UsageError(f"Unexpected '{quoted(' '.join(args))}'.", usage)
        return Ship(number)
    # link
    if not args:
        raise UsageError("link needs a URL.", usage)
    match = LINK_PATTERN.match(args[0])
    url = unescape(match.group(1) if match else args[0])
    run_id = _run_reference(url, usage)
    if run_id is not None:
        if len(args) > 1:
            raise UsageError(
                f"Unexpected '{quoted(' '.join(args[1:]))}': an MLflow run is linked without"
                " a label (its name shows).",
                usage,
            )
        return LinkMlflowRun(number, run_id, pasted="" if url.startswith("mlflow:") else url)
    if not URL_PATTERN.fullmatch(url) or len(url) > 2000:
        raise UsageError(f"'{escaped(url, 80)}' is not an http(s) URL.", usage)
    label = unescape(" ".join(args[1:])).strip()
    shown = unescape(match.group(2) or "") if match else ""
    if not label and shown and not url.split("://", 1)[-1].startswith(shown):
        label = shown  # the text of Slack's <url|text>, unless it just shows the URL
    return AddLink(number, url, label[:200])


def _run_reference(word: str, usage: str) -> str | None:
    """The MLflow run ``word`` names (``mlflow:<id>`` or a run's URL), else None."""
    try:
        return run_reference(word)
    except ValidationError as exc:
        raise UsageError(str(exc), usage) from None


def _parse_baseline(rest: list[str], usage: str) -> SetBaseline | BaselineHistory:
    if not rest:
        raise UsageError("baseline needs a project.", usage)
    slug = project_slug(rest[0], usage)
    if len(rest) == 1:
        return BaselineHistory(slug)
    if len(rest) > 2:
        raise UsageError(f"Unexpected '{quoted(' '.join(rest[2:]))}'.", usage)
    return SetBaseline(slug, experiment_number(rest[1], usage))


def _parse_list(rest: list[str], usage: str) -> ListExperiments:
    positional, flags = split_flags(rest, {"project"}, usage)
    project = _project_flag(flags, usage)
    if len(positional) > 1:
        raise UsageError("list takes one filter at most.", usage)
    if not positional:
        return ListExperiments(project=project)
    word = positional[0]
    if word.lower() == "mine":
        return ListExperiments(mine=True, project=project)
    if word.lower() == "all":
        return ListExperiments(everything=True, project=project)
    try:
        return ListExperiments(status=Status(word.lower()), project=project)
    except ValueError:
        pass
    if USER_PATTERN.match(word):
        return ListExperiments(user_id=user_id(word, usage), project=project)
    statuses = ", ".join(s.value for s in Status)
    raise UsageError(
        f"'{quoted(word)}' is not a filter: use mine, all, @user or a status ({statuses}).",
        usage,
    )


# --- /mlgov -------------------------------------------------------------------------


def parse_mlgov(text: str) -> Command:
    words = tokens(text)
    if not words or words[0].lower() == "help":
        return Help("mlgov")
    head = words[0].lower()
    if head in ("project", "member") and len(words) > 1:
        key, rest = f"{head} {words[1].lower()}", words[2:]
    else:
        key, rest = head, words[1:]
    usage = USAGE["mlgov"].get(key)
    if usage is None:
        raise unknown_subcommand("mlgov", " ".join(words[: len(key.split())]))
    if key == "project show":
        if len(rest) != 1:
            raise UsageError("project show needs a project.", usage)
        return ShowProject(project_slug(rest[0], usage))
    if key == "project add":
        if len(rest) != 2:
            raise UsageError("project add needs a slug and a channel.", usage)
        return AddProject(project_slug(rest[0], usage), channel_id(rest[1], usage))
    if key == "member add":
        if len(rest) not in (2, 3):
            raise UsageError("member add needs a user and a role, and optionally a project.", usage)
        return AddMember(
            user_id(rest[0], usage),
            role_of(rest[1], usage),
            project_slug(rest[2], usage) if len(rest) == 3 else None,
            name=user_name(rest[0]),
        )
    if key == "member remove":
        if not 1 <= len(rest) <= 3:
            raise UsageError("member remove needs a user.", usage)
        role: Role | None = None
        project: str | None = None
        for word in rest[1:]:
            if word.lower() in {r.value for r in Role}:
                if role is not None:
                    raise UsageError("Name one role at most.", usage)
                role = Role(word.lower())
            elif project is None:
                project = project_slug(word, usage)
            else:
                raise UsageError(f"Unexpected '{quoted(word)}'.", usage)
        return RemoveMember(user_id(rest[0], usage), role, project)
    # rules: of a project, or without one of the workspace
    if not rest or "=" in rest[0]:
        return SetWorkspaceRules(pairs(rest, usage))
    changes = pairs(rest[1:], usage)
    wide = [k for k in changes if k in WORKSPACE_RULE_KEYS]
    if wide:
        raise UsageError(
            f"{wide[0]} is a rule of the whole workspace: `/mlgov rules {wide[0]}=…`"
            " (without a project).",
            usage,
        )
    return SetRules(project_slug(rest[0], usage), changes)


def parse_review(text: str) -> Command:
    words = tokens(text)
    if not words or words[0].lower() == "help":
        return Help("review")
    sub, rest = words[0].lower(), words[1:]
    usage = USAGE["review"].get(sub)
    if usage is None:
        raise unknown_subcommand("review", words[0])
    if sub == "list":
        which = rest[0].lower() if rest else "pending"
        if len(rest) > 1 or which not in ("mine", "pending", "overdue"):
            raise UsageError("list takes mine, pending or overdue.", usage)
        return ListReviews(which)
    if not rest:
        raise UsageError(f"'{sub}' needs an experiment key.", usage)
    number, args = experiment_number(rest[0], usage), rest[1:]
    if sub == "request":
        kind = None
        if args and args[0].lower() in ("design", "results"):
            kind, args = args[0].lower(), args[1:]
        return RequestReview(number, kind, tuple(user_id(a, usage) for a in args))
    if sub == "approve":
        return DecideReview(number, True, unescape(" ".join(args)).strip()[:MAX_TEXT])
    if sub == "changes":
        return DecideReview(number, False, text_arg(args, "reason", usage))
    return DeclineReview(number, unescape(" ".join(args)).strip()[:MAX_TEXT])


def parse_rotation(text: str) -> Command:
    words = tokens(text)
    if not words or words[0].lower() == "help":
        return Help("rotation")
    sub, rest = words[0].lower(), words[1:]
    usage = USAGE["rotation"].get(sub)
    if usage is None:
        raise unknown_subcommand("rotation", words[0])
    if sub in ("show", "stats"):
        project, weeks = project_and_weeks(rest, 6 if sub == "show" else 12, usage)
        return ShowRotation(project, weeks) if sub == "show" else RotationStats(project, weeks)
    if sub in ("join", "leave"):
        if len(rest) > 1:
            raise UsageError(f"Unexpected '{quoted(' '.join(rest[1:]))}'.", usage)
        return JoinRotation(project_slug(rest[0], usage) if rest else None, leave=sub == "leave")
    if sub == "ooo":
        return _parse_ooo(rest, usage)
    if sub == "skip":
        return _parse_skip(rest)
    if sub == "calendar":
        return _parse_calendar(rest)
    if sub == "swap" and rest and rest[0].lower() == "request":
        usage = USAGE["rotation"]["swap request"]
        positional, flags = split_flags(rest[1:], {"project"}, usage)
        if len(positional) > 1:
            raise UsageError(f"Unexpected '{quoted(' '.join(positional[1:]))}'.", usage)
        week = day(positional[0], usage) if positional else None
        return RequestSwap(week, _project_flag(flags, usage))
    if sub == "swap":
        positional, flags = split_flags(rest, {"project"}, usage)
        if len(positional) not in (2, 3):
            raise UsageError("swap needs two people and optionally the meeting date.", usage)
        a, b = user_id(positional[0], usage), user_id(positional[1], usage)
        if a == b:
            raise UsageError("Swap two different people.", usage)
        week = day(positional[2], usage) if len(positional) == 3 else None
        return SwapPresenters(a, b, week, _project_flag(flags, usage))
    # config
    if not rest:
        raise UsageError("config needs a project.", usage)
    return ConfigureRotation(project_slug(rest[0], usage), pairs(rest[1:], usage))


def _project_flag(flags: dict[str, str], usage: str) -> str | None:
    return project_slug(flags["project"], usage) if "project" in flags else None


def _parse_skip(rest: list[str]) -> Command:
    """``skip <date> [reason]`` or ``skip cancel <date>``, each with ``--project p``."""
    cancel = bool(rest) and rest[0].lower() == "cancel"
    usage = USAGE["rotation"]["skip cancel" if cancel else "skip"]
    positional, flags = split_flags(rest[1:] if cancel else rest, {"project"}, usage)
    if not positional:
        raise UsageError(f"{'skip cancel' if cancel else 'skip'} needs the meeting's date.", usage)
    week = day(positional[0], usage)
    if cancel:
        if len(positional) > 1:
            raise UsageError(f"Unexpected '{quoted(' '.join(positional[1:]))}'.", usage)
        return CancelSkip(week, _project_flag(flags, usage))
    reason = unescape(" ".join(positional[1:])).strip()
    if len(reason) > MAX_REASON:
        raise UsageError(
            f"The reason is too long ({len(reason)} characters, at most {MAX_REASON}).", usage
        )
    return SkipMeeting(week, reason, _project_flag(flags, usage))


def _parse_calendar(rest: list[str]) -> Command:
    """``calendar [project|me]`` or ``calendar reset [project|me]``."""
    reset = bool(rest) and rest[0].lower() == "reset"
    usage = USAGE["rotation"]["calendar reset" if reset else "calendar"]
    words = rest[1:] if reset else rest
    if len(words) > 1:
        raise UsageError(f"Unexpected '{quoted(' '.join(words[1:]))}'.", usage)
    personal = bool(words) and words[0].lower() == "me"
    project = project_slug(words[0], usage) if words and not personal else None
    if reset:
        return ResetCalendar(project, personal, every=not words)
    return CalendarLink(project, personal)


def _parse_ooo(rest: list[str], usage: str) -> Command:
    """``ooo <from> <to>``, ``ooo list [project]`` or ``ooo cancel <from>``."""
    what = rest[0].lower() if rest else ""
    option = next((w for w in rest if flag_name(w, {"project"}) is not None), None)
    if what == "list":
        usage = USAGE["rotation"]["ooo list"]
        if option is not None:
            raise UsageError(
                f"ooo list takes no '{quoted(option)}': name the project as a word"
                " (/rotation ooo list churn).",
                usage,
            )
        if len(rest) > 2:
            raise UsageError(f"Unexpected '{quoted(' '.join(rest[2:]))}'.", usage)
        return ListAbsences(project_slug(rest[1], usage) if len(rest) == 2 else None)
    if option is not None:
        # An absence is the person's, in every project: there is no project to name.
        raise UsageError(
            f"ooo takes no '{quoted(option)}': an absence counts in every project you are in.",
            USAGE["rotation"]["ooo cancel" if what == "cancel" else "ooo"],
        )
    if what == "cancel":
        usage = USAGE["rotation"]["ooo cancel"]
        if len(rest) != 2:
            raise UsageError("ooo cancel needs the first day of the absence to cancel.", usage)
        return CancelAbsence(day(rest[1], usage))
    if len(rest) > 2:
        raise UsageError(f"Unexpected '{quoted(' '.join(rest[2:]))}'.", usage)
    if len(rest) != 2:
        raise UsageError("ooo needs the first and the last day away.", usage)
    start, end = day(rest[0], usage), day(rest[1], usage)
    if end < start:
        raise UsageError("The last day is before the first.", usage)
    return RecordAbsence(start, end)


def parse_digest(text: str) -> Command:
    words = tokens(text)
    if not words or words[0].lower() == "help":
        return Help("digest")
    sub, rest = words[0].lower(), words[1:]
    usage = USAGE["digest"].get(sub)
    if usage is None:
        raise unknown_subcommand("digest", words[0])
    named = [flag_name(w, {"last"}) if sub == "preview" else None for w in rest]
    for word, name in zip(rest, named, strict=True):
        if name not in (None, "last"):
            raise UsageError(f"Unknown option '{quoted(word)}' (options: --last).", usage)
    rest = [w for w, name in zip(rest, named, strict=True) if name is None]
    if len(rest) > 1:
        raise UsageError(f"Unexpected '{quoted(' '.join(rest[1:]))}'.", usage)
    project = project_slug(rest[0], usage) if rest else None
    if sub == "preview":
        return PreviewDigest(project, last="last" in named)
    return SubscribeDigest(project, sub == "subscribe")


PARSERS = {
    "exp": parse_exp,
    "digest": parse_digest,
    "mlgov": parse_mlgov,
    "rotation": parse_rotation,
    "review": parse_review,
}


def parse(command: str, text: str) -> Command:
    """Parse ``/command text``; raises only UsageError."""
    name = command.lstrip("/").lower()
    parser = PARSERS.get(name)
    if parser is None:
        hint = did_you_mean(name, PARSERS, prefix="/")
        raise UsageError(f"Unknown command '/{name}'.{hint}", every_help())
    return parser(text)


def parse_mention(text: str, bot_user_id: str | None) -> tuple[str, str]:
    """``<@BOT> exp list`` or ``<@BOT> /exp list`` -> ("exp", "list")."""
    words = text.strip()
    if bot_user_id:
        words = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", words, count=1).strip()
    else:
        words = re.sub(r"^<@[UW][A-Z0-9]+(?:\|[^>]*)?>", " ", words).strip()
    head, *tail = words.split(None, 1) or [""]  # the command may be followed by a newline
    rest = tail[0] if tail else ""
    name = head.lstrip("/").lower()
    if name not in PARSERS and name not in UPLOAD_USAGE:
        hint = did_you_mean(name, [*PARSERS, *UPLOAD_USAGE], prefix="@mlgov ") if name else ""
        said = f"I did not understand '{quoted(head, 40)}'.{hint} " if name else ""
        raise UsageError(
            f"{said}Mention me with a command, like @mlgov exp list.",
            "@mlgov exp help, @mlgov review help, @mlgov rotation help, @mlgov digest help,"
            " @mlgov mlgov help,"
            " @mlgov eval EXP-7 (with a file), @mlgov parity EXP-7 (with two files)",
        )
    return name, rest


def parse_upload(name: str, text: str) -> EvaluateUpload | ParityUpload:
    """``eval EXP-7 [--kind k] [--new-holdout]`` or ``parity EXP-7 [--tolerance x]
    [--threshold t]``."""
    usage = UPLOAD_USAGE[name]
    allowed = {"kind"} if name == "eval" else {"tolerance", "threshold"}
    switches = frozenset({"new-holdout"}) if name == "eval" else frozenset()
    positional, flags = split_flags(tokens(text), allowed, usage, switches)
    if not positional:
        raise UsageError(f"'{name}' needs an experiment key.", usage)
    run_id = None
    if name == "eval" and len(positional) >= 2:
        run_id = _run_reference(positional[1], usage)
    if len(positional) > (1 if run_id is None else 2):
        extra = positional[1:] if run_id is None else positional[2:]
        raise UsageError(f"Unexpected '{quoted(' '.join(extra))}'.", usage)
    number = experiment_number(positional[0], usage)
    if name == "eval":
        kind = flags.get("kind")
        if kind is not None and kind.lower() not in {k.value for k in Kind}:
            raise UsageError(f"'{kind}' is not a kind (classification, regression).", usage)
        return EvaluateUpload(
            number, Kind(kind.lower()) if kind else None, "new-holdout" in flags, run_id
        )
    tolerance = _finite(flags.get("tolerance", "1e-6"), "tolerance", usage)
    threshold = _finite(flags.get("threshold", "0.5"), "threshold", usage)
    if tolerance < 0:
        raise UsageError("The tolerance cannot be negative.", usage)
    return ParityUpload(number, tolerance, threshold)


def _finite(text: str, what: str, usage: str) -> float:
    try:
        value = plain_number(text)
    except ValueError:
        raise UsageError(f"The {what} '{quoted(text, 40)}' is not a number.", usage) from None
    if not math.isfinite(value):
        raise UsageError(f"The {what} must be a finite number.", usage)
    return value
