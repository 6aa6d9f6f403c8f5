"""Property-based tests of the command parser (SPEC §11): any text gets a command or a
UsageError with usage, never a crash; free text survives parsing as the user wrote it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.domain.commands import Command, EditExperiment, NewExperiment, Step
from bot.domain.errors import UsageError
from bot.domain.model import Outcome
from bot.slack.parsing import parse, parse_mention
from bot.slack.words import QUOTE_PAIRS

MODEST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GRAMMAR = [
    # subcommands and their words
    "new", "list", "show", "start", "analyze", "conclude", "abandon", "link", "history",
    "help", "metrics", "schedule", "project", "add", "member", "remove", "rules",
    "edit", "show", "shwo", "--title", "—title", "—hypothesis", "–metric", "—force", "–",
    "—", '"', "“", "”", "'", '"quoted"',
    "mine", "all", "running", "in_review", "shipped", "success", "failure", "inconclusive",
    "scientist", "engineer", "manager", "admin", "churn", "fraud-v2", "main", "side",
    "auc", "log-loss", "rmse", "higher", "lower",
    # flags, numbers and keys
    "--hypothesis", "--metric", "--min-delta", "--stream", "--direction", "--project",
    "--force", "--FORCE", "--", "---", "-", "nan", "NaN", "inf", "-inf", "1e999", "-0.0",
    "0.01", "1_0", "EXP-7", "exp-1", "EXP-0", "EXP-x", "EXP-1234567890", "EXP-999999999",
    "wip_main=2", "quorum=99", "=", "a=", "=b", "k=v=w",
    # Slack's escaped forms, and broken ones
    "<@U123ABC|alice>", "<@U123ABC>", "<@UBOT>", "<@UBOT|mlgov>", "<@W0ENT>", "U123ABC",
    "@U1", "<#C0123|churn>", "<#C0123>", "#C0123ABC", "<https://x.example.com|x>",
    "<https://x.example.com>", "<mailto:a@b.c|a>", "<!here>", "<>", "<", ">", "|", "<@",
    "&amp;", "&lt;", "&gt;", "&", "&#0;", "&#x110000;", "&#99999999999;", "&nbsp",
    "/exp", "/mlgov", "exp", "mlgov",
]  # fmt: skip
SEPARATORS = [" ", "  ", "\n", "\t", "\u00a0", "\u2003", "\u3000", "", "\r\n"]

grammar_word = st.sampled_from(GRAMMAR)
unicode_word = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
)
long_word = st.builds(
    str.__mul__,
    st.sampled_from(["a", "é", "&amp;", "<@U1>", "--x", "9", "🙂"]),
    st.integers(1, 4000),
)
word = st.one_of(grammar_word, grammar_word, grammar_word, unicode_word, long_word)
command_line = st.lists(st.tuples(word, st.sampled_from(SEPARATORS)), max_size=25).map(
    lambda parts: "".join(w + sep for w, sep in parts)
)
any_text = st.one_of(st.text(), command_line)


def parses_or_refuses_with_usage(call: Callable[[], object]) -> object:
    """Run ``call``; a UsageError must carry a usage line, anything else propagates."""
    try:
        return call()
    except UsageError as refused:
        assert refused.usage
        assert f"Usage: {refused.usage}" in str(refused)
        return None


@MODEST
@given(text=any_text)
def test_exp_never_crashes(text: str) -> None:
    result = parses_or_refuses_with_usage(lambda: parse("/exp", text))
    assert result is None or isinstance(result, Command)


@MODEST
@given(text=any_text)
def test_mlgov_never_crashes(text: str) -> None:
    result = parses_or_refuses_with_usage(lambda: parse("/mlgov", text))
    assert result is None or isinstance(result, Command)


SUBCOMMANDS = [
    "new churn", "list", "start EXP-7", "conclude EXP-7", "link EXP-7", "member add",
    "member remove <@U1ABC>", "rules churn", "project add churn", "edit EXP-7",
    "project show",
]  # fmt: skip


@MODEST
@given(sub=st.sampled_from(SUBCOMMANDS), text=command_line)
def test_deep_subcommand_arguments_never_crash(sub: str, text: str) -> None:
    for command in ("/exp", "/mlgov"):
        result = parses_or_refuses_with_usage(lambda c=command: parse(c, f"{sub} {text}"))
        assert result is None or isinstance(result, Command)


@MODEST
@given(text=any_text, prefix=st.sampled_from(["", "<@UBOT> ", "<@UBOT|mlgov> ", "<@UBOT> exp "]))
def test_mentions_never_crash(text: str, prefix: str) -> None:
    try:
        name, rest = parse_mention(prefix + text, "UBOT")
    except UsageError as refused:
        assert refused.usage and refused.usage in str(refused)
        return
    assert name in ("exp", "mlgov", "rotation")
    parses_or_refuses_with_usage(lambda: parse(name, rest))


# --- free text survives parsing ------------------------------------------------------


def slack_escape(text: str) -> str:
    """What Slack sends for text a user typed: &, < and > escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def normalised(text: str) -> str:
    return " ".join(text.split())


# Words that are not options: no leading "--", and no autocorrected dash ("—", "–"), which
# is an option before a known name; no leading quote, which would open a quoted title.
NOT_FREE_STARTS = ("--", "—", "–", *QUOTE_PAIRS)
free_word = (
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=15)
    .map(str.strip)
    .filter(lambda w: bool(w) and len(w.split()) == 1 and not w.startswith(NOT_FREE_STARTS))
)
separators = st.text(st.sampled_from([" ", "\n", "\r", "\t", "\u00a0", "\u2003"]), min_size=1)


def free_text(max_words: int) -> st.SearchStrategy[str]:
    """Words a user might type (any unicode, no leading ``--``) joined by any whitespace."""
    return st.lists(st.tuples(free_word, separators), min_size=1, max_size=max_words).map(
        lambda parts: "".join(w + sep for w, sep in parts)
    )


@MODEST
@given(title=free_text(12), hypothesis=st.none() | free_text(40))
def test_new_keeps_title_and_hypothesis(title: str, hypothesis: str | None) -> None:
    text = f"new churn {slack_escape(title)}"
    if hypothesis is not None:
        text += f" --hypothesis {slack_escape(hypothesis)}"
    if len(normalised(title)) > 200:
        with pytest.raises(UsageError, match="too long"):
            parse("/exp", text)
        return
    parsed = parse("/exp", text)
    assert isinstance(parsed, NewExperiment)
    assert parsed.project == "churn"
    assert parsed.title == normalised(title)
    assert parsed.hypothesis == normalised(hypothesis or "")


@MODEST
@given(learnings=free_text(40), outcome=st.sampled_from(list(Outcome)))
def test_conclude_keeps_the_learnings(learnings: str, outcome: Outcome) -> None:
    parsed = parse("/exp", f"conclude EXP-42 {outcome.value} {slack_escape(learnings)}")
    assert parsed == Step("conclude", 42, outcome=outcome, text=normalised(learnings))


@MODEST
@given(reason=free_text(40), number=st.integers(1, 999_999_999))
def test_abandon_keeps_the_reason_and_the_key(reason: str, number: int) -> None:
    parsed = parse("/exp", f"abandon EXP-{number} {slack_escape(reason)}")
    assert parsed == Step("abandon", number, text=normalised(reason))


# --- autocorrect: dashes and quotes ---------------------------------------------------

DASHES = st.sampled_from(["--", "—", "–"])  # as typed, and as Slack or macOS correct it


@MODEST
@given(
    title=free_text(8),
    hypothesis=free_text(20),
    dashes=st.tuples(DASHES, DASHES, DASHES),
    stream=st.sampled_from(["main", "side"]),
)
def test_a_dash_before_a_known_option_is_the_option(
    title: str, hypothesis: str, dashes: tuple[str, str, str], stream: str
) -> None:
    a, b, c = dashes
    text = f"new churn {slack_escape(title)} {a}hypothesis {slack_escape(hypothesis)}"
    text += f" {b}metric auc {c}stream {stream}"
    if len(normalised(title)) > 200:
        return
    parsed = parse("/exp", text)
    assert isinstance(parsed, NewExperiment)
    assert parsed.title == normalised(title)
    assert parsed.hypothesis == normalised(hypothesis)
    assert (parsed.metric, parsed.stream.value) == ("auc", stream)


@MODEST
@given(title=free_text(8), dash=st.sampled_from(["—", "–"]), word=free_word)
def test_a_dash_before_any_other_word_stays_in_the_title(title: str, dash: str, word: str) -> None:
    known = {"hypothesis", "metric", "min-delta", "direction", "stream"}
    if word.lower() in known or len(normalised(title)) + len(word) > 190:
        return
    parsed = parse("/exp", f"new churn {slack_escape(title)} {dash}{slack_escape(word)}")
    assert isinstance(parsed, NewExperiment)
    assert parsed.title == f"{normalised(title)} {dash}{word}"


@MODEST
@given(title=free_text(8), quotes=st.sampled_from(sorted(QUOTE_PAIRS.items())))
@example(title="&amp\xa0", quotes=('"', '"'))  # edit once unescaped twice: "&amp" -> "&"
def test_quotes_around_a_title_are_not_part_of_it(title: str, quotes: tuple[str, str]) -> None:
    if len(normalised(title)) > 190:
        return
    opening, closing = quotes
    quoted = slack_escape(f"{opening}{title.strip()}{closing}")
    parsed = parse("/exp", f"new churn {quoted} --hypothesis h")
    assert isinstance(parsed, NewExperiment)
    assert parsed.title == normalised(title)
    edited = parse("/exp", f"edit EXP-3 —title {quoted}")
    assert edited == EditExperiment(3, title=normalised(title))
