"""The command grammar of SPEC §7: every documented form, Slack's escapes, and bad input."""

from __future__ import annotations

import pytest

from bot.domain.commands import (
    AddLink,
    AddMember,
    AddProject,
    Command,
    EditExperiment,
    Help,
    History,
    ListExperiments,
    NewExperiment,
    OpenNewExperimentForm,
    RemoveMember,
    SetRules,
    ShowExperiment,
    ShowProject,
    Step,
)
from bot.domain.errors import UsageError
from bot.domain.model import Direction, Outcome, Role, Status, Workstream
from bot.slack.parsing import USAGE, parse, parse_mention

# --- /exp: good input ----------------------------------------------------------------

EXP_FORMS: list[tuple[str, Command]] = [
    ("", OpenNewExperimentForm()),
    ("   ", OpenNewExperimentForm()),
    ("help", Help("exp")),
    ("HELP", Help("exp")),
    ("new churn Tenure features", NewExperiment(project="churn", title="Tenure features")),
    ("new Churn   Tenure\n features ", NewExperiment(project="churn", title="Tenure features")),
    (
        "new churn Gradient boosting --hypothesis Tenure interactions lift AUC"
        " --metric auc --min-delta 0.01 --stream side",
        NewExperiment(
            project="churn",
            title="Gradient boosting",
            hypothesis="Tenure interactions lift AUC",
            metric="auc",
            min_delta=0.01,
            direction=Direction.HIGHER,
            stream=Workstream.SIDE,
        ),
    ),
    (
        "new churn-v2 Calibrate --stream main --metric log-loss",
        NewExperiment(
            project="churn-v2",
            title="Calibrate",
            metric="log_loss",
            min_delta=0.0,
            direction=Direction.LOWER,
        ),
    ),
    (
        "new churn Calibrate --METRIC RMSE --Min-Delta 1e-3 --direction lower --stream SIDE",
        NewExperiment(
            project="churn",
            title="Calibrate",
            metric="rmse",
            min_delta=0.001,
            direction=Direction.LOWER,
            stream=Workstream.SIDE,
        ),
    ),
    (
        "new churn Baseline --metric auc --min-delta 0",
        NewExperiment(
            project="churn",
            title="Baseline",
            metric="auc",
            min_delta=0.0,
            direction=Direction.HIGHER,
        ),
    ),
    (
        "new churn A &amp; B &lt;3 --hypothesis x &gt; y &amp;&amp; z",
        NewExperiment(project="churn", title="A & B <3", hypothesis="x > y && z"),
    ),
    ("new churn Use -- as a dash", NewExperiment(project="churn", title="Use -- as a dash")),
    ("list", ListExperiments()),
    ("list mine", ListExperiments(mine=True)),
    ("list MINE", ListExperiments(mine=True)),
    ("list all", ListExperiments(everything=True)),
    ("list running", ListExperiments(status=Status.RUNNING)),
    ("list in_review", ListExperiments(status=Status.IN_REVIEW)),
    ("list Abandoned", ListExperiments(status=Status.ABANDONED)),
    ("list <@U123ABC|alice>", ListExperiments(user_id="U123ABC")),
    ("list <@U123ABC|Alice Smith>", ListExperiments(user_id="U123ABC")),
    ("list <@U123ABC>", ListExperiments(user_id="U123ABC")),
    ("list <@W0ENTERPRISE>", ListExperiments(user_id="W0ENTERPRISE")),
    ("list U123ABC", ListExperiments(user_id="U123ABC")),
    ("list @U123ABC", ListExperiments(user_id="U123ABC")),
    ("list --project churn", ListExperiments(project="churn")),
    ("list mine --project Churn", ListExperiments(mine=True, project="churn")),
    ("list shipped --project churn", ListExperiments(status=Status.SHIPPED, project="churn")),
    # Autocorrect turns "--" into an em or en dash: before a known option it is one.
    (
        "new churn Smart dash —hypothesis h",
        NewExperiment(project="churn", title="Smart dash", hypothesis="h"),
    ),
    (
        "new churn Smart dash –hypothesis h —metric AUC –min-delta 0.01",
        NewExperiment(
            project="churn",
            title="Smart dash",
            hypothesis="h",
            metric="auc",
            min_delta=0.01,
            direction=Direction.HIGHER,
        ),
    ),
    ("new churn A —note stays", NewExperiment(project="churn", title="A —note stays")),
    ("new churn Fast – and cheap", NewExperiment(project="churn", title="Fast – and cheap")),
    ("start EXP-7 —force", Step("start", 7, force=True)),
    ("start EXP-7 –force", Step("start", 7, force=True)),
    # Quotes around a title (or a hypothesis) are not part of it.
    ('new churn "Smart title"', NewExperiment(project="churn", title="Smart title")),
    (
        "new churn “Smart title” --hypothesis ‘it helps’",
        NewExperiment(project="churn", title="Smart title", hypothesis="it helps"),
    ),
    ('new churn The "best" model', NewExperiment(project="churn", title='The "best" model')),
    ('new churn "', NewExperiment(project="churn", title='"')),
    # The direction follows the metric; aliases name the table's metrics.
    (
        "new churn Calibrate --metric logloss",
        NewExperiment(
            project="churn",
            title="Calibrate",
            metric="log_loss",
            min_delta=0.0,
            direction=Direction.LOWER,
        ),
    ),
    ("edit EXP-7 --title Better title", EditExperiment(7, title="Better title")),
    ('edit EXP-7 —title "Quoted"', EditExperiment(7, title="Quoted")),
    (
        "edit exp-7 --hypothesis Tenure helps --metric auc --min-delta 0.01",
        EditExperiment(7, hypothesis="Tenure helps", metric="auc", min_delta=0.01),
    ),
    ("edit EXP-7 --min-delta 0.02", EditExperiment(7, min_delta=0.02)),
    ("edit EXP-7 --direction lower", EditExperiment(7, direction=Direction.LOWER)),
    # Without --direction the service keeps the metric's; without --min-delta, the
    # experiment's own: only what was typed is in the command.
    ("edit EXP-7 --metric brier", EditExperiment(7, metric="brier")),
    ("edit EXP-7 --stream SIDE", EditExperiment(7, stream=Workstream.SIDE)),
    ("show EXP-7", ShowExperiment(7)),
    ("show exp-7", ShowExperiment(7)),
    ("SHOW EXP-123456789", ShowExperiment(123456789)),
    ("history EXP-12", History(12)),
    ("start EXP-7", Step("start", 7)),
    ("start EXP-7 --force", Step("start", 7, force=True)),
    ("start EXP-7 --FORCE", Step("start", 7, force=True)),
    ("analyze EXP-7", Step("analyze", 7)),
    (
        "conclude EXP-7 success Tenure helps; AUC +0.02 &amp; stable",
        Step("conclude", 7, outcome=Outcome.SUCCESS, text="Tenure helps; AUC +0.02 & stable"),
    ),
    (
        "conclude EXP-7 FAILURE No lift at all",
        Step("conclude", 7, outcome=Outcome.FAILURE, text="No lift at all"),
    ),
    (
        "conclude exp-7 inconclusive Too few positives",
        Step("conclude", 7, outcome=Outcome.INCONCLUSIVE, text="Too few positives"),
    ),
    ("abandon EXP-7 Data was leaky", Step("abandon", 7, text="Data was leaky")),
    (
        "link EXP-7 <https://nb.example.com/x?id=3|nb.example.com/x> Notebook v2",
        AddLink(7, "https://nb.example.com/x?id=3", "Notebook v2"),
    ),
    ("link EXP-7 <https://mlflow.example.com/r/9>", AddLink(7, "https://mlflow.example.com/r/9")),
    ("link EXP-7 http://proto.local:8080/", AddLink(7, "http://proto.local:8080/")),
    (
        "link EXP-7 https://x.example.com/?a=1&amp;b=2 Data &amp; code",
        AddLink(7, "https://x.example.com/?a=1&b=2", "Data & code"),
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), EXP_FORMS, ids=[t or "<empty>" for t, _ in EXP_FORMS]
)
def test_exp_forms(text: str, expected: Command) -> None:
    assert parse("/exp", text) == expected


def test_the_command_name_may_come_without_slash_or_in_capitals() -> None:
    assert parse("exp", "show EXP-1") == ShowExperiment(1)
    assert parse("/EXP", "show EXP-1") == ShowExperiment(1)
    assert parse("/MLGOV", "help") == Help("mlgov")


def test_new_without_arguments_opens_the_form() -> None:
    assert parse("/exp", "new") == OpenNewExperimentForm()


def test_an_escaped_link_is_unescaped_like_a_bare_one() -> None:
    parsed = parse("/exp", "link EXP-7 <https://x.example.com/?a=1&amp;b=2|x.example.com>")
    assert parsed == AddLink(7, "https://x.example.com/?a=1&b=2")


def test_a_long_hypothesis_is_kept_up_to_the_text_limit() -> None:
    words = " ".join(["word"] * 500)  # 2499 characters
    parsed = parse("/exp", f"new churn Title --hypothesis {words}")
    assert isinstance(parsed, NewExperiment)
    assert parsed.hypothesis == words


def test_a_title_of_200_characters_is_accepted() -> None:
    title = "t" * 200
    parsed = parse("/exp", f"new churn {title}")
    assert isinstance(parsed, NewExperiment) and parsed.title == title


# --- /mlgov: good input --------------------------------------------------------------

MLGOV_FORMS: list[tuple[str, Command]] = [
    ("", Help("mlgov")),
    ("help", Help("mlgov")),
    ("Help me", Help("mlgov")),
    ("project add churn <#C0123ABC|churn>", AddProject("churn", "C0123ABC")),
    ("project add churn <#C0123ABC>", AddProject("churn", "C0123ABC")),
    ("project add churn #C0123ABC", AddProject("churn", "C0123ABC")),
    ("project add churn C0123ABC", AddProject("churn", "C0123ABC")),
    ("PROJECT ADD Churn <#G0PRIVATE|secret>", AddProject("churn", "G0PRIVATE")),
    ("member add <@U123ABC|alice> scientist", AddMember("U123ABC", Role.SCIENTIST, name="alice")),
    ("member add <@U123ABC> engineer churn", AddMember("U123ABC", Role.ENGINEER, "churn")),
    ("member add U123ABC Manager churn", AddMember("U123ABC", Role.MANAGER, "churn")),
    ("member add @U123ABC admin", AddMember("U123ABC", Role.ADMIN)),
    ("member remove <@U123ABC|alice>", RemoveMember("U123ABC")),
    ("member remove <@U123ABC> scientist", RemoveMember("U123ABC", Role.SCIENTIST)),
    ("member remove <@U123ABC> churn", RemoveMember("U123ABC", project="churn")),
    (
        "member remove <@U123ABC> manager churn",
        RemoveMember("U123ABC", Role.MANAGER, "churn"),
    ),
    (
        "member remove <@U123ABC> churn manager",
        RemoveMember("U123ABC", Role.MANAGER, "churn"),
    ),
    ("project show churn", ShowProject("churn")),
    ("PROJECT SHOW Churn", ShowProject("churn")),
    ("rules churn", SetRules("churn", {})),
    (
        "rules churn wip_main=2 design_review=required QUORUM=3",
        SetRules("churn", {"wip_main": "2", "design_review": "required", "quorum": "3"}),
    ),
    ("rules churn note=a=b", SetRules("churn", {"note": "a=b"})),
    ("rules churn x=a&amp;b", SetRules("churn", {"x": "a&b"})),
]


@pytest.mark.parametrize(
    ("text", "expected"), MLGOV_FORMS, ids=[t or "<empty>" for t, _ in MLGOV_FORMS]
)
def test_mlgov_forms(text: str, expected: Command) -> None:
    assert parse("/mlgov", text) == expected


# --- bad input: each error says what was wrong and shows that subcommand's usage --------

EXP_ERRORS: list[tuple[str, str, str]] = [
    # (text, usage key, a fragment of the explanation)
    ("frobnicate EXP-7", "new", "Unknown subcommand 'frobnicate'"),
    ("show", "show", "needs an experiment key"),
    ("history", "history", "needs an experiment key"),
    ("start", "start", "needs an experiment key"),
    ("show EXP-0", "show", "'EXP-0' is not an experiment key"),
    ("show EXP-x", "show", "'EXP-x' is not an experiment key"),
    ("show EXP-", "show", "is not an experiment key"),
    ("show 7", "show", "'7' is not an experiment key"),
    ("show EXP-07", "show", "is not an experiment key"),
    ("show EXP-1234567890", "show", "is not an experiment key"),
    ("show EXP-7 please", "show", "Unexpected 'please'"),
    ("history EXP-7 EXP-8", "history", "Unexpected"),
    ("analyze EXP-7 now", "analyze", "Unexpected"),
    ("start EXP-7 now", "start", "Unexpected 'now'"),
    ("start EXP-7 --force --force", "start", "Unexpected"),
    ("start EXP-7 --forcefully", "start", "Unexpected"),
    ("new churn", "new", "needs a project and a title"),
    ("new churn --hypothesis only a hypothesis", "new", "needs a project and a title"),
    ("new 1churn Title", "new", "is not a project slug"),
    ("new c Title", "new", "is not a project slug"),
    ("new churn_v2 Title", "new", "is not a project slug"),
    ("new churn " + "t" * 201, "new", "title is too long"),
    ("new churn Title --colour red", "new", "Unknown option '--colour'"),
    ("new churn Title --metric auc --metric ap", "new", "--metric given twice"),
    ("new churn Title --hypothesis", "new", "--hypothesis needs a value"),
    ("new churn Title --metric", "new", "--metric needs a value"),
    ("new churn Title --metric auc --min-delta", "new", "--min-delta needs a value"),
    ("new churn Title --metric auc --min-delta abc", "new", "--min-delta must be a number"),
    ("new churn Title --metric auc --min-delta 0.01 0.02", "new", "must be a number"),
    ("new churn Title --metric auc --min-delta nan", "new", "finite number ≥ 0"),
    ("new churn Title --metric auc --min-delta NaN", "new", "finite number ≥ 0"),
    ("new churn Title --metric auc --min-delta inf", "new", "finite number ≥ 0"),
    ("new churn Title --metric auc --min-delta -inf", "new", "finite number ≥ 0"),
    ("new churn Title --metric auc --min-delta 1e999", "new", "finite number ≥ 0"),
    ("new churn Title --metric auc --min-delta -0.01", "new", "finite number ≥ 0"),
    ("new churn Title --metric aucc", "new", "Unknown metric 'aucc'"),
    ("new churn Title --metric precision", "new", "Unknown metric"),
    ("new churn Title --min-delta 0.01", "new", "need --metric"),
    ("new churn Title --direction lower", "new", "need --metric"),
    ("new churn Title --metric auc --direction up", "new", "--direction must be higher or lower"),
    ("new churn Title --stream middle", "new", "--stream must be main or side"),
    (
        "new churn Title --metric log_loss --direction higher",
        "new",
        "log_loss is better when lower, so --direction higher would contradict it (lower is"
        " better for log_loss, brier, rmse, mae; higher is better for auc, ap, accuracy, f1,"
        " r2)",
    ),
    ("new churn Title --metric auc --direction lower", "new", "auc is better when higher"),
    ("new churn Title --metric r2 --direction lower", "new", "r2 is better when higher"),
    ("edit", "edit", "needs an experiment key"),
    ("edit EXP-7", "edit", "edit needs at least one change"),
    ("edit EXP-7 Better title", "edit", "Unexpected 'Better title': say what to change"),
    ("edit EXP-7 --title", "edit", "--title needs a value"),
    ("edit EXP-7 --owner <@U1ABC>", "edit", "Unknown option '--owner'"),
    ("edit EXP-7 --metric mape", "edit", "Unknown metric 'mape'"),
    ("edit EXP-7 --metric rmse --direction higher", "edit", "rmse is better when lower"),
    ("edit EXP-7 --min-delta -1", "edit", "finite number ≥ 0"),
    ("edit EXP-7 --stream both", "edit", "--stream must be main or side"),
    ("shwo EXP-1", "show", "Unknown subcommand 'shwo'. Did you mean 'show'?"),
    ("strat EXP-1", "start", "Did you mean 'start'?"),
    ("new churn Title --stream main side", "new", "--stream must be main or side"),
    ("list someone", "list", "'someone' is not a filter"),
    ("list mine all", "list", "one filter at most"),
    ("list --project", "list", "--project needs a value"),
    ("list --project Not_A_Slug", "list", "is not a project slug"),
    ("list --status running", "list", "Unknown option '--status'"),
    ("list --project churn --project fraud", "list", "given twice"),
    ("conclude EXP-7", "conclude", "needs an outcome and the learnings"),
    ("conclude EXP-7 great It worked", "conclude", "'great' is not an outcome"),
    ("conclude EXP-7 success", "conclude", "Missing learnings"),
    ("conclude EXP-7 success " + "x" * 3001, "conclude", "learnings is too long"),
    ("abandon EXP-7", "abandon", "Missing reason"),
    ("abandon EXP-7    ", "abandon", "Missing reason"),
    ("link EXP-7", "link", "needs a URL"),
    ("link EXP-7 notebook", "link", "is not an http(s) URL"),
    ("link EXP-7 ftp://files.example.com/x", "link", "is not an http(s) URL"),
    ("link EXP-7 javascript:alert(1)", "link", "is not an http(s) URL"),
    ("link EXP-7 <mailto:a@example.com|a>", "link", "is not an http(s) URL"),
    ("link EXP-7 https://", "link", "is not an http(s) URL"),
    ("link EXP-7 https://x.example.com/" + "a" * 2000, "link", "is not an http(s) URL"),
]


@pytest.mark.parametrize(("text", "usage_key", "fragment"), EXP_ERRORS)
def test_bad_exp_input_explains_and_shows_usage(text: str, usage_key: str, fragment: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse("/exp", text)
    message = str(refused.value)
    assert fragment in message
    assert USAGE["exp"][usage_key] in message
    assert f"Usage: {refused.value.usage}" in message


def test_an_unknown_exp_subcommand_shows_every_usage_line() -> None:
    with pytest.raises(UsageError) as refused:
        parse("/exp", "lsit")
    for line in USAGE["exp"].values():
        assert line in str(refused.value)


MLGOV_ERRORS: list[tuple[str, str, str]] = [
    ("frobnicate", "help", "Unknown subcommand 'frobnicate'"),
    ("project", "project add", "Unknown subcommand 'project'"),
    ("project remove churn", "project add", "Unknown subcommand 'project remove'"),
    ("member list", "member add", "Unknown subcommand 'member list'"),
    ("project add churn", "project add", "needs a slug and a channel"),
    ("project add churn <#C0123ABC> extra", "project add", "needs a slug and a channel"),
    ("project add churn general", "project add", "'general' is not a channel"),
    ("project add churn <@U123ABC>", "project add", "is not a channel"),
    ("project add Churn_Team <#C0123ABC>", "project add", "is not a project slug"),
    ("project add 42 <#C0123ABC>", "project add", "is not a project slug"),
    ("member add <@U123ABC>", "member add", "needs a user and a role"),
    ("member add <@U123ABC> boss", "member add", "'boss' is not a role"),
    ("member add alice scientist", "member add", "'alice' is not a user"),
    ("member add <#C0123ABC> scientist", "member add", "is not a user"),
    ("member add <@U123ABC> scientist churn extra", "member add", "needs a user and a role"),
    ("member add <@U123ABC> scientist Not_A_Slug", "member add", "is not a project slug"),
    ("member remove", "member remove", "needs a user"),
    ("member remove alice", "member remove", "'alice' is not a user"),
    ("member remove <@U123ABC> scientist engineer", "member remove", "one role at most"),
    ("member remove <@U123ABC> churn fraud", "member remove", "Unexpected 'fraud'"),
    ("member remove <@U123ABC> a b c", "member remove", "needs a user"),
    ("project show", "project show", "project show needs a project"),
    ("project show churn fraud", "project show", "project show needs a project"),
    ("project show #churn", "project show", "is not a project slug"),
    ("projct add churn #C0123", "project add", "Did you mean 'project add'?"),
    ("membr add <@U1ABC> scientist", "member add", "Did you mean 'member add'?"),
    ("rules churn away_status=off", "rules", "away_status is a rule of the whole workspace"),
    ("rules away_status", "rules", "'away_status' is not a project slug"),
    ("rules churn wip_main", "rules", "'wip_main' is not key=value"),
    ("rules churn wip_main 2", "rules", "is not key=value"),
    ("rules churn =2", "rules", "'=2' is not key=value"),
    ("rules churn wip_main=", "rules", "'wip_main=' is not key=value"),
    ("rules churn quorum=2 QUORUM=3", "rules", "given twice"),
    ("rules Not_A_Slug quorum=2", "rules", "is not a project slug"),
]


@pytest.mark.parametrize(("text", "usage_key", "fragment"), MLGOV_ERRORS)
def test_bad_mlgov_input_explains_and_shows_usage(text: str, usage_key: str, fragment: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse("/mlgov", text)
    message = str(refused.value)
    assert fragment in message
    assert USAGE["mlgov"][usage_key] in message


def test_error_messages_echo_user_text_as_mrkdwn_that_shows_what_was_typed() -> None:
    # Slack and the shell both show "a&b"; the echo is escaped so it cannot mention anyone.
    with pytest.raises(UsageError, match="'a&amp;b' is not an experiment key"):
        parse("/exp", "show a&amp;b")
    with pytest.raises(UsageError, match="'&lt;!channel&gt;' is not an experiment key"):
        parse("/exp", "show <!channel>")


def test_an_unknown_slash_command_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="Unknown command ./report."):
        parse("/report", "preview")


def test_a_mistyped_slash_command_gets_the_nearest_and_every_command_s_help() -> None:
    with pytest.raises(UsageError) as refused:
        parse("/rotaton", "show")
    message = str(refused.value)
    assert "Unknown command '/rotaton'. Did you mean '/rotation'?" in message
    for name in ("exp", "review", "rotation", "digest", "mlgov"):
        assert f"/{name} help" in message


@pytest.mark.parametrize(
    ("command", "text", "nearest"),
    [
        ("/exp", "shwo EXP-1", "show"),
        ("/exp", "lsit", "list"),
        ("/review", "aprove EXP-1", "approve"),
        ("/rotation", "shwo", "show"),
        ("/digest", "preveiw", "preview"),
        ("/mlgov", "rulez churn", "rules"),
    ],
)
def test_a_mistyped_subcommand_gets_did_you_mean(command: str, text: str, nearest: str) -> None:
    with pytest.raises(UsageError, match=f"Did you mean '{nearest}'\\?"):
        parse(command, text)


def test_a_far_off_subcommand_gets_no_guess() -> None:
    with pytest.raises(UsageError) as refused:
        parse("/exp", "frobnicate EXP-7")
    assert "Did you mean" not in str(refused.value)


def test_digest_commands() -> None:
    from bot.domain.commands import PreviewDigest, SubscribeDigest

    assert parse("/digest", "") == Help("digest")
    assert parse("/digest", "preview") == PreviewDigest(None)
    assert parse("/digest", "preview Churn") == PreviewDigest("churn")
    # --last: the last complete week (as the job sends it); anywhere, autocorrected too.
    assert parse("/digest", "preview --last") == PreviewDigest(None, last=True)
    assert parse("/digest", "preview churn --LAST") == PreviewDigest("churn", last=True)
    assert parse("/digest", "preview —last churn") == PreviewDigest("churn", last=True)
    assert parse("/digest", "subscribe") == SubscribeDigest(None, True)
    assert parse("/digest", "unsubscribe churn") == SubscribeDigest("churn", False)
    for text, words in (
        ("send", "Unknown subcommand 'send'"),
        ("preview churn fraud", "Unexpected 'fraud'"),
        ("subscribe #churn", "not a project slug"),
        ("preview --lats", r"Unknown option '--lats' \(options: --last\)"),
        ("subscribe --last", "not a project slug"),
    ):
        with pytest.raises(UsageError, match=words):
            parse("/digest", text)


# --- mentions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@UBOT> exp list", ("exp", "list")),
        ("<@UBOT|mlgov> exp list mine", ("exp", "list mine")),
        ("  <@UBOT>   /exp show EXP-7 ", ("exp", "show EXP-7")),
        ("<@UBOT> EXP help", ("exp", "help")),
        ("<@UBOT> mlgov rules churn quorum=3", ("mlgov", "rules churn quorum=3")),
        ("<@UBOT> exp", ("exp", "")),
        (
            "<@UBOT>\nexp new churn Title\n--hypothesis x",
            ("exp", "new churn Title\n--hypothesis x"),
        ),
    ],
)
def test_mentions_name_a_command(text: str, expected: tuple[str, str]) -> None:
    assert parse_mention(text, "UBOT") == expected


def test_a_mention_and_its_text_parse_like_the_slash_command() -> None:
    name, rest = parse_mention("<@UBOT> exp conclude EXP-3 failure No lift", "UBOT")
    assert parse(name, rest) == parse("/exp", "conclude EXP-3 failure No lift")


def test_a_mention_without_knowing_the_bot_id_strips_the_leading_mention() -> None:
    assert parse_mention("<@UBOT> exp list", None) == ("exp", "list")


@pytest.mark.parametrize(
    "text",
    ["<@UBOT>", "<@UBOT> hello there", "<@UBOT> report preview", "<@UOTHER> exp list"],
)
def test_a_mention_without_a_command_says_how_to_mention(text: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_mention(text, "UBOT")
    assert "@mlgov exp help" in str(refused.value)


def test_a_bare_mention_is_told_how_and_a_near_miss_gets_the_nearest_command() -> None:
    with pytest.raises(UsageError) as bare:
        parse_mention("<@UBOT>", "UBOT")
    assert str(bare.value).startswith("Mention me with a command, like @mlgov exp list.")
    assert "''" not in str(bare.value)
    with pytest.raises(UsageError) as typo:
        parse_mention("<@UBOT> rotaton show", "UBOT")
    assert "I did not understand 'rotaton'. Did you mean '@mlgov rotation'?" in str(typo.value)


def test_a_mention_may_break_the_line_after_the_command_name() -> None:
    assert parse_mention("<@UBOT> exp\nlist", "UBOT") == ("exp", "list")


def test_upload_mentions_take_their_options() -> None:
    from bot.domain.commands import EvaluateUpload, ParityUpload
    from bot.domain.evaluation import Kind
    from bot.slack.parsing import parse_upload

    assert parse_upload("eval", "EXP-7") == EvaluateUpload(7)
    assert parse_upload("eval", "exp-7 --kind Regression --new-holdout") == EvaluateUpload(
        7, Kind.REGRESSION, True
    )
    assert parse_upload("parity", "EXP-7 --tolerance 1e-4 --threshold 0.3") == ParityUpload(
        7, 1e-4, 0.3
    )
    for name, text, words in (
        ("eval", "", "needs an experiment key"),
        ("eval", "EXP-7 EXP-8", "Unexpected"),
        ("eval", "EXP-7 --kind ranking", "not a kind"),
        ("eval", "EXP-7 --tolerance 1", "Unknown option"),
        ("parity", "EXP-7 --tolerance -1", "cannot be negative"),
        ("parity", "EXP-7 --tolerance nan", "finite"),
        ("parity", "EXP-7 --threshold high", "not a number"),
        ("parity", "EXP-7 --new-holdout", "Unknown option"),
    ):
        with pytest.raises(UsageError, match=words):
            parse_upload(name, text)
