"""End to end over HTTP: signed slash commands, events and interactions, fake Slack Web API."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.e2e.harness import ADMIN, AppUnderTest


def mention(text: str, ts: str = "1700000100.000100", user: str = "UALICE") -> dict[str, object]:
    return {
        "type": "app_mention",
        "user": user,
        "text": f"<@UBOT> {text}",
        "ts": ts,
        "channel": "CCHURN",
        "event_ts": ts,
    }


# --- signatures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "how",
    ["forged", "stale", "unsigned", "tampered"],
)
def test_unverified_requests_get_401_and_write_nothing(app: AppUnderTest, how: str) -> None:
    body, _ = app.command_body(ADMIN, "/mlgov", "project add churn <#CCHURN|churn>")
    form = "application/x-www-form-urlencoded"
    if how == "forged":
        result = app.signed(body, form, secret="not-the-secret")
    elif how == "stale":
        result = app.signed(body, form, timestamp=int(time.time()) - 6 * 60)
    elif how == "unsigned":
        result = app.post("/slack/events", body, {"Content-Type": form})
    else:  # signed, then the body changed on the way
        ts = str(int(time.time()))
        signature = app.signer.generate_signature(timestamp=ts, body=body)
        result = app.post(
            "/slack/events",
            body.replace("churn", "fraud"),
            {"Content-Type": form, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature},
        )
    assert result.status == 401
    time.sleep(0.3)  # give a wrongly accepted request the chance to write
    assert app.count("projects") == 0
    assert app.count("audit_log") == 0
    assert app.fake.calls("response_url") == []
    assert app.fake.calls("chat.postMessage") == []


# --- commands ---------------------------------------------------------------------------


def test_lifecycle_over_http_posts_in_one_thread(app: AppUnderTest) -> None:
    app.setup_team()
    reply = app.command_reply(
        "UALICE",
        "/exp",
        "new churn Tenure features --hypothesis tenure predicts churn"
        " --metric auc --min-delta 0.01",
    )
    assert "Created *EXP-1*" in reply["text"] and reply["response_type"] == "ephemeral"
    root = app.fake.wait_for(
        "chat.postMessage", predicate=lambda c: c.params["text"].startswith("EXP-1")
    )[0]
    assert root.params["channel"] == "CCHURN"
    for line, expected in (
        ("start EXP-1", "proposed → running"),
        ("analyze EXP-1", "running → analyzing"),
        ("conclude EXP-1 failure tenure adds nothing", "analyzing → in_review"),
    ):
        assert expected in app.command_reply("UALICE", "/exp", line)["text"]
    thread = app.fake.wait_for(
        "chat.postMessage",
        count=3,
        predicate=lambda c: c.params.get("thread_ts") == root.response["ts"],
    )
    assert [c.params["text"].split(" — ")[0] for c in thread[:3]] == [
        "<@UALICE> started *EXP-1*",
        "<@UALICE> moved to analysis *EXP-1*",
        "<@UALICE> concluded *EXP-1*",
    ]
    # The root message is kept up to date with the status.
    updates = app.fake.wait_for("chat.update", count=3)
    assert updates[-1].params["ts"] == root.response["ts"]
    assert "in_review" in updates[-1].params["text"]
    history = app.command_reply("UBOB", "/exp", "history EXP-1")["text"]
    for step in ("created", "start", "analyze", "conclude"):
        assert step in history


def test_refused_transition_changes_nothing_and_lists_next_steps(app: AppUnderTest) -> None:
    app.setup_team()
    app.command_reply("UALICE", "/exp", "new churn Tenure features --hypothesis h --metric auc")
    audit_before = app.count("audit_log")
    reply = app.command_reply("UALICE", "/exp", "conclude EXP-1 success it works")
    assert reply["response_type"] == "ephemeral"
    assert "EXP-1 is proposed; it cannot conclude" in reply["text"]
    assert "Allowed next steps: start, abandon" in reply["text"]
    assert app.count("audit_log") == audit_before
    assert (
        "EXP-1 Tenure features: proposed"
        in app.command_reply("UALICE", "/exp", "show EXP-1")["text"]
    )


def test_only_owner_or_manager_moves_and_wip_limit_refuses(app: AppUnderTest) -> None:
    app.setup_team()
    app.command_reply("UALICE", "/exp", "new churn First --hypothesis h --metric auc")
    app.command_reply("UALICE", "/exp", "new churn Second --hypothesis h --metric auc")
    refused = app.command_reply("UBOB", "/exp", "start EXP-1")["text"]
    assert "Only the owner or manager can start EXP-1" in refused
    assert "proposed → running" in app.command_reply("UALICE", "/exp", "start EXP-1")["text"]
    wip = app.command_reply("UALICE", "/exp", "start EXP-2")["text"]
    assert "limit 1" in wip and "EXP-1 First" in wip
    forced = app.command_reply("UMIA", "/exp", "start EXP-2 --force")["text"]
    assert "--force" in forced and "proposed → running" in forced
    history = json.dumps(app.command_reply("UMIA", "/exp", "history EXP-2")["blocks"])
    assert "forced_past_wip_limit" in history


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("/exp", "frobnicate", "Unknown subcommand 'frobnicate'"),
        ("/exp", "start", "'start' needs an experiment key"),
        ("/exp", "start EXP-x", "'EXP-x' is not an experiment key"),
        ("/exp", "new churn", "new needs a project and a title"),
        ("/exp", "new churn T --min-delta lots --metric auc", "--min-delta must be a number"),
        ("/mlgov", "rules churn quorum", "'quorum' is not key=value"),
        ("/exp", "show EXP-99", "No experiment EXP-99"),
    ],
)
def test_bad_input_gets_a_clear_ephemeral_error(
    app: AppUnderTest, command: str, text: str, expected: str
) -> None:
    app.setup_team()
    before = app.count("audit_log")
    reply = app.command_reply("UALICE", command, text)
    assert reply["response_type"] == "ephemeral"
    assert expected in reply["text"]
    assert app.count("audit_log") == before


def test_help_lists_the_grammar(app: AppUnderTest) -> None:
    text = app.command_reply("UALICE", "/exp", "help")["text"]
    # Escaped for mrkdwn, so that Slack shows <learnings> instead of reading a link.
    assert "/exp conclude EXP-7 success|failure|inconclusive &lt;learnings&gt;" in text


# --- events -----------------------------------------------------------------------------


def test_same_event_three_times_creates_one_experiment(app: AppUnderTest) -> None:
    app.setup_team()
    event = mention("exp new churn Mentioned experiment --hypothesis from a thread")
    results = [
        app.event(event, "Ev001"),
        app.event(event, "Ev001", retry=1),
        app.event(event, "Ev001", retry=2),
    ]
    assert [r.status for r in results] == [200, 200, 200]
    replies = app.fake.wait_for(
        "chat.postMessage", predicate=lambda c: c.params.get("thread_ts") == event["ts"]
    )
    time.sleep(0.5)  # any duplicate would be delivered by now
    assert app.count("experiments") == 1
    assert (
        len(
            [
                c
                for c in app.fake.calls("chat.postMessage")
                if c.params.get("thread_ts") == event["ts"]
            ]
        )
        == 1
    )
    assert "Created *EXP-1*" in replies[0].params["text"]


def test_a_retry_whose_first_delivery_never_arrived_is_processed(app: AppUnderTest) -> None:
    app.setup_team()
    event = mention("exp new churn Only the retry arrived")
    assert app.event(event, "Ev002", retry=1).status == 200
    app.fake.wait_for(
        "chat.postMessage", predicate=lambda c: c.params.get("thread_ts") == event["ts"]
    )
    assert app.count("experiments") == 1


def test_mention_with_bad_command_answers_ephemerally(app: AppUnderTest) -> None:
    app.setup_team()
    assert app.event(mention("exp conclude EXP-1"), "Ev003").status == 200
    call = app.fake.wait_for("chat.postEphemeral")[0]
    assert call.params["user"] == "UALICE" and "outcome" in call.params["text"]
    assert app.count("experiments") == 0


def test_unhandled_event_types_still_get_200(app: AppUnderTest) -> None:
    # Bolt answers unknown events with 404 unless told otherwise; Slack would then
    # count failures against the app. Only subscribed events reach us, but be safe.
    result = app.event(
        {
            "type": "app_mention",
            "user": "UBOT",
            "text": "<@UBOT> hi",
            "ts": "1.1",
            "channel": "CCHURN",
        },
        "Ev004",
    )
    assert result.status == 200


# --- interactions -----------------------------------------------------------------------


def test_buttons_move_for_the_owner_and_refuse_others(app: AppUnderTest) -> None:
    app.setup_team()
    app.command_reply("UALICE", "/exp", "new churn Button driven --hypothesis h --metric auc")
    result, key = app.button("UBOB", "exp_start", "EXP-1")
    assert result.status == 200
    refusal = app.fake.wait_for("response_url", predicate=lambda c: c.params["_key"] == key)[0]
    assert "Only the owner or manager" in refusal.params["text"]
    assert refusal.params["response_type"] == "ephemeral"
    _, key = app.button("UALICE", "exp_start", "EXP-1")
    moved = app.fake.wait_for("response_url", predicate=lambda c: c.params["_key"] == key)[0]
    assert "proposed → running" in moved.params["text"]
    # A second click on the same (now outdated) button changes nothing more.
    audit = app.count("audit_log")
    _, key = app.button("UALICE", "exp_start", "EXP-1")
    again = app.fake.wait_for("response_url", predicate=lambda c: c.params["_key"] == key)[0]
    assert "it cannot start" in again.params["text"]
    assert app.count("audit_log") == audit


def test_new_experiment_form_validates_in_the_form(app: AppUnderTest) -> None:
    app.setup_team()
    assert app.command("UALICE", "/exp", "").status == 200
    opened = app.fake.wait_for("views.open")[0]
    view = opened.params["view"]
    assert view["callback_id"] == "exp_new"
    bad = app.submit_view(
        "UALICE", view, {"project": "churn", "title": "", "min_delta": "x", "stream": "main"}
    )
    assert bad.status == 200
    errors = bad.json()
    assert errors["response_action"] == "errors"
    assert set(errors["errors"]) >= {"title", "min_delta"}
    assert app.count("experiments") == 0
    good = app.submit_view(
        "UALICE",
        view,
        {
            "project": "churn",
            "title": "From the form",
            "hypothesis": "h",
            "metric": "auc",
            "min_delta": "0.02",
            "stream": "side",
        },
    )
    assert good.status == 200 and good.body == ""
    shown = app.command_reply("UALICE", "/exp", "show EXP-1")
    assert "From the form" in json.dumps(shown["blocks"])
    assert "auc +0.02" in json.dumps(shown["blocks"])


def test_conclude_button_opens_a_form_that_concludes(app: AppUnderTest) -> None:
    app.setup_team()
    app.command_reply("UALICE", "/exp", "new churn Concluded by form --hypothesis h --metric auc")
    app.command_reply("UALICE", "/exp", "start EXP-1")
    app.button("UALICE", "exp_conclude", "EXP-1")
    view = app.fake.wait_for("views.open")[0].params["view"]
    assert view["private_metadata"] == "EXP-1"
    result = app.submit_view(
        "UALICE", view, {"outcome": "inconclusive", "learnings": "Needs more data"}
    )
    assert result.status == 200 and result.body == ""
    history = app.command_reply("UALICE", "/exp", "history EXP-1")["text"]
    assert "conclude in_review" in history


# --- the outbox under a flaky Slack -----------------------------------------------------


def test_429_twice_still_delivers_the_message_once(app: AppUnderTest) -> None:
    app.setup_team()
    app.fake.wait_for("chat.postMessage")  # the project intro went out
    app.fake.fail_next("chat.postMessage", status=429, retry_after=1, times=2)
    app.command_reply("UALICE", "/exp", "new churn Rate limited --hypothesis h --metric auc")
    app.fake.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.status == 200 and c.params["text"].startswith("EXP-1"),
    )
    attempts = [
        c for c in app.fake.calls("chat.postMessage") if c.params["text"].startswith("EXP-1")
    ]
    assert [c.status for c in attempts] == [429, 429, 200]


def test_slack_down_loses_nothing_and_keeps_channel_order(app: AppUnderTest) -> None:
    app.setup_team()
    app.fake.wait_for("chat.postMessage")
    app.fake.fail_next("chat.postMessage", status=503, times=6)
    app.command_reply("UALICE", "/exp", "new churn During the outage --hypothesis h --metric auc")
    app.command_reply("UALICE", "/exp", "start EXP-1")
    app.command_reply("UALICE", "/exp", "abandon EXP-1 outage drill")
    delivered = app.fake.wait_for(
        "chat.postMessage", count=4, timeout=20, predicate=lambda c: c.status == 200
    )
    texts = [c.params["text"] for c in delivered][1:]
    assert texts[0].startswith("EXP-1 During the outage")
    assert "started" in texts[1] and "abandoned" in texts[2]
    assert delivered[2].params["thread_ts"] == delivered[1].response["ts"]


# --- PostgreSQL -------------------------------------------------------------------------


def test_concurrent_commands_on_postgres_one_wins_the_other_is_told(
    pg_app: AppUnderTest,
) -> None:
    pg_app.setup_team()
    pg_app.command_reply("UALICE", "/exp", "new churn Raced --hypothesis h --metric auc")
    replies: list[str] = []

    def start(user: str) -> None:
        replies.append(pg_app.command_reply(user, "/exp", "start EXP-1")["text"])

    threads = [threading.Thread(target=start, args=(u,)) for u in ("UALICE", "UMIA")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert len(replies) == 2
    assert sum("proposed → running" in r for r in replies) == 1
    loser = next(r for r in replies if "proposed → running" not in r)
    assert "changed by someone else meanwhile" in loser or "it cannot start" in loser
    assert pg_app.count("audit_log WHERE action = 'start'") == 1


# --- operations -------------------------------------------------------------------------


def test_healthz_and_metrics(app: AppUnderTest) -> None:
    health = app.get("/healthz")
    assert health.status == 200 and health.json()["status"] == "ok"
    metrics = app.get("/metrics")
    assert metrics.status == 200 and "mlgov_outbox_pending" in metrics.body


def test_user_text_cannot_ping_the_channel_or_forge_links(app: AppUnderTest) -> None:
    """Slack sends @channel typed in a command as <!channel>; it must come out inert."""
    app.setup_team()
    app.command_reply(
        "UALICE",
        "/exp",
        "new churn Ping <!channel> and <https://evil.example|docs> --hypothesis <!here> wins",
    )
    root = app.fake.wait_for(
        "chat.postMessage", predicate=lambda c: c.params["text"].startswith("EXP-1")
    )[0]
    # Slack reads mentions and links in the fallback text and in mrkdwn, not in plain_text.
    mrkdwn = [root.params["text"]] + [
        part["text"]
        for block in root.params["blocks"]
        for part in [block.get("text") or {}, *block.get("elements", [])]
        if isinstance(part, dict) and part.get("type") == "mrkdwn"
    ]
    for live in ("<!channel>", "<!here>", "<https://evil.example"):
        assert not any(live in text for text in mrkdwn)
    assert "&lt;!channel&gt;" in root.params["text"]
    assert any("&lt;!here&gt; wins" in text for text in mrkdwn)
