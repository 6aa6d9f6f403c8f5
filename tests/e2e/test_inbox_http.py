"""The inbox over real HTTP: requests stored before the ack, replies through the outbox,
a request that keeps failing parked with its user told, a database that cannot store one
answered with a failure instead of an ack."""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from bot.server import HttpServer
from bot.slack.dispatch import Dispatcher
from storage.inbox import ACK_WAIT_S, InboxWriter
from tests.e2e.harness import TEAM, AppUnderTest, HttpResult
from tests.waiting import wait_until


def inbox(app: AppUnderTest) -> dict[str, int]:
    worker = app.runtime.inbox
    assert worker is not None
    return worker.store.counts()


@pytest.fixture(params=["app", pytest.param("pg_app", marks=pytest.mark.postgres)])
def any_app(request: pytest.FixtureRequest) -> AppUnderTest:
    """The app on SQLite and on PostgreSQL."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def test_a_reply_reaches_the_response_url_even_when_it_fails_at_first(
    any_app: AppUnderTest,
) -> None:
    app = any_app
    app.fake.fail_next("response_url", status=500)  # Slack hiccups on the first post

    body, key = app.command_body("UADMIN", "/mlgov", "project add churn <#CCHURN|churn>")
    assert app.signed(body, "application/x-www-form-urlencoded").status == 200

    (reply,) = app.fake.wait_for(
        "response_url", predicate=lambda c: c.params.get("_key") == key and c.status == 200
    )
    assert "churn" in reply.params["text"]
    assert reply.params["response_type"] == "ephemeral"
    posts = app.fake.calls("response_url")
    assert [c.status for c in posts] == [500, 200]  # retried by the outbox
    wait_until(lambda: inbox(app) == {"done": 1})
    assert app.count("projects") == 1
    with app.runtime.db.engine.connect() as connection:  # the app's secret is not kept
        (stored,) = connection.execute(text("SELECT body FROM inbox")).scalars()
    assert "response_url" in stored and '"token"' not in stored


def test_a_reads_reply_that_cannot_be_posted_at_once_reaches_its_user_later(
    any_app: AppUnderTest,
) -> None:
    """A read's reply is posted by the worker itself; when that post fails it is queued
    in the outbox, which delivers it: the user hears back once all the same."""
    app = any_app
    app.fake.fail_next("response_url", status=500)

    body, key = app.command_body("UADMIN", "/exp", "list")
    assert app.signed(body, "application/x-www-form-urlencoded").status == 200

    (reply,) = app.fake.wait_for(
        "response_url", predicate=lambda c: c.params.get("_key") == key and c.status == 200
    )
    assert reply.params["response_type"] == "ephemeral"
    wait_until(app.idle)
    assert [c.status for c in app.fake.calls("response_url")] == [500, 200]
    assert inbox(app) == {"done": 1}


def test_a_reply_whose_response_url_expired_is_given_up_not_retried(
    any_app: AppUnderTest,
) -> None:
    """Slack answers 404 once a response_url expired: the worker's post fails, and the
    outbox, handed the reply, tries once more and gives it up."""
    app = any_app
    app.fake.fail_next("response_url", status=404, body={"error": "expired_url"}, times=2)

    body, key = app.command_body("UADMIN", "/exp", "list")
    assert app.signed(body, "application/x-www-form-urlencoded").status == 200

    def outbox() -> list[tuple[bool, str | None]]:
        with app.runtime.db.engine.connect() as connection:
            rows = connection.execute(text("SELECT dead, last_error FROM outbox"))
            return [(bool(dead), error) for dead, error in rows]

    wait_until(lambda: outbox() == [(True, "response_url: HTTP 404")])
    wait_until(app.idle)
    assert [c.status for c in app.fake.calls("response_url")] == [404, 404]
    assert inbox(app) == {"done": 1}


def test_a_request_that_keeps_failing_is_parked_and_its_user_told(
    any_app: AppUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = any_app
    app.setup_team()
    tried: list[str] = []

    def broken(self: Dispatcher, uow: Any, ctx: Any, command: Any) -> Any:
        tried.append(type(command).__name__)
        raise RuntimeError("a bug in the use case")

    monkeypatch.setattr(Dispatcher, "_execute", broken)
    body, key = app.command_body("UALICE", "/exp", "new churn Faster trees")
    assert app.signed(body, "application/x-www-form-urlencoded").status == 200

    (told,) = app.fake.wait_for(
        "response_url", predicate=lambda c: c.params.get("_key") == key, timeout=30
    )
    assert told.params["text"].startswith(":warning: I could not complete this after 3 attempts")
    assert "`/exp new churn Faster trees`" in told.params["text"]
    assert tried == ["NewExperiment"] * 3
    assert inbox(app)["parked"] == 1
    assert app.count("experiments") == 0


def test_a_mention_that_keeps_failing_is_parked_and_its_sender_told_by_dm(
    app: AppUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.setup_team()

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("a bug in the mention handler")

    monkeypatch.setattr(app.runtime.dispatcher, "mention", broken)
    event = {
        "type": "app_mention",
        "user": "UALICE",
        "text": "<@UBOT> exp list",
        "channel": "CCHURN",
        "ts": "1700000000.000100",
    }
    assert app.event(event, "EvBroken").status == 200

    (dm,) = app.fake.wait_for(
        "chat.postMessage", predicate=lambda c: c.params.get("channel") == "UALICE", timeout=30
    )
    assert "after 3 attempts" in dm.params["text"]
    assert "“<@UBOT> exp list”" in dm.params["text"]
    assert inbox(app)["parked"] == 1


def test_a_request_the_database_cannot_store_is_not_acknowledged(app: AppUnderTest) -> None:
    with app.runtime.db.engine.begin() as connection:  # the insert on the ack path fails
        connection.execute(text("ALTER TABLE inbox RENAME TO inbox_gone"))

    result = app.command("UADMIN", "/mlgov", "project add churn <#CCHURN|churn>")
    event = {"type": "app_home_opened", "user": "UALICE", "tab": "home"}
    redelivered = app.event(event, "EvHome1")

    assert result.status == 503  # Slack tells the user the command failed
    assert "nothing was done" in result.body
    assert redelivered.status == 503  # Slack delivers the event again later
    assert app.fake.calls("response_url") == []
    assert app.count("projects") == 0


def test_a_form_is_opened_while_its_trigger_is_fresh(app: AppUnderTest) -> None:
    app.setup_team()
    app.command("UALICE", "/exp", "new")

    (opened,) = app.fake.wait_for("views.open")
    assert opened.params["view"]["type"] == "modal"


def test_a_form_a_worker_reaches_too_late_is_not_opened_and_the_user_told(
    app: AppUnderTest,
) -> None:
    app.setup_team()
    body, key = app.command_body("UALICE", "/exp", "new")
    form = dict(urllib.parse.parse_qsl(body))
    stored_long_ago = datetime.now(UTC) - timedelta(seconds=10)  # e.g. before a restart
    with app.runtime.db.write() as uow:
        uow.inbox.add(TEAM, "late-form", "command", form, stored_long_ago)
        uow.commit()

    (told,) = app.fake.wait_for("response_url", predicate=lambda c: c.params["_key"] == key)
    assert told.params["text"] == (
        ":warning: The form could not be opened in time; please try again."
    )
    assert app.fake.calls("views.open") == []


def test_a_form_opens_while_every_worker_thread_runs_long_work(
    any_app: AppUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four `/exp list` hold the four worker threads (as 1M-row evaluations would) and
    two more wait behind them: a bare `/exp`, sent last, still opens its form in time."""
    app = any_app
    app.setup_team()
    wait_until(app.idle)
    done = inbox(app)["done"]
    gate, running = threading.Event(), []
    command = Dispatcher.command

    def long_work(self: Dispatcher, origin: Any, name: str, text: str, settle: Any = None) -> Any:
        if text == "list":
            running.append(text)
            assert gate.wait(30)
        return command(self, origin, name, text, settle)

    monkeypatch.setattr(Dispatcher, "command", long_work)
    try:
        for _ in range(6):
            assert app.command("UALICE", "/exp", "list").status == 200
        wait_until(lambda: len(running) == 4)
        body, key = app.command_body("UALICE", "/exp", "")
        assert app.signed(body, "application/x-www-form-urlencoded").status == 200

        (opened,) = app.fake.wait_for("views.open")
        assert opened.params["trigger_id"] == f"trigger-{key}"
        wait_until(lambda: inbox(app) == {"pending": 6, "done": done + 1})
        assert len(running) == 4  # the lists are still running, or waiting
    finally:
        gate.set()
    wait_until(app.idle)
    assert inbox(app) == {"done": done + 7}


def test_a_request_counts_as_being_acknowledged_until_it_is_answered(
    app: AppUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process's inbox threads let requests being acknowledged go first: each request
    counts from its arrival until its answer (storing it in between)."""
    seen: list[int] = []
    store = InboxWriter.add

    def add(writer: InboxWriter, *args: Any, **options: Any) -> str:
        seen.append(app.runtime.acks.in_progress())
        return store(writer, *args, **options)

    monkeypatch.setattr(InboxWriter, "add", add)
    body, key = app.command_body("UADMIN", "/exp", "list")
    assert app.signed(body, "application/x-www-form-urlencoded").status == 200

    assert seen == [1]
    assert app.runtime.acks.in_progress() == 0
    app.fake.wait_for("response_url", predicate=lambda c: c.params.get("_key") == key)


def queued_past_the_budget(
    app: AppUnderTest, monkeypatch: pytest.MonkeyPatch, send: Callable[[], HttpResult]
) -> HttpResult:
    """``send()``'s answer when its request waits more than the ack's budget for a thread:
    it is sent to a server whose one thread is kept busy meanwhile."""
    entered, release = threading.Event(), threading.Event()

    def held_health() -> str | None:  # keeps the one thread of the server below busy
        entered.set()
        release.wait(30)
        return None

    monkeypatch.setattr(app.runtime, "health_problem", held_health)
    server = HttpServer(app.runtime.web_app(app.bolt), threads=1).start()
    try:
        monkeypatch.setattr(app, "url", server.url)
        busy = threading.Thread(target=app.get, args=("/healthz",))
        busy.start()
        assert entered.wait(10)
        answers: list[HttpResult] = []
        queued = threading.Thread(target=lambda: answers.append(send()))
        sent = time.monotonic()
        queued.start()
        wait_until(lambda: len(server._server.task_dispatcher.queue) == 1)  # waits for the thread
        wait_until(lambda: time.monotonic() - sent > ACK_WAIT_S + 0.1, timeout=10)
        release.set()
        queued.join(10)
        busy.join(10)
    finally:
        release.set()
        server.stop()
    (answer,) = answers
    return answer


def test_a_request_that_waited_for_a_thread_past_the_ack_budget_is_not_acknowledged(
    app: AppUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack's 3 s run from the request's arrival: one that waited 2 s for a free thread
    (the server busy) is refused at once, not stored and acked after Slack gave up on it
    (its user shown a failure for a command that then ran)."""
    answer = queued_past_the_budget(
        app, monkeypatch, lambda: app.command("UADMIN", "/mlgov", "project add churn")
    )
    assert answer.status == 503
    assert "nothing was done" in answer.body
    assert inbox(app) == {}
    assert app.count("projects") == 0


def test_a_form_submitted_while_the_server_was_too_busy_to_answer_in_time_saves_nothing(
    app: AppUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A form's effect runs before its ack: one that waited past the budget for a thread
    would be saved while Slack told its user the form failed."""
    app.setup_team()
    assert app.command("UALICE", "/exp", "new").status == 200
    view = app.fake.wait_for("views.open")[0].params["view"]
    values = {"project": "churn", "title": "Too late", "hypothesis": "h", "stream": "main"}
    answer = queued_past_the_budget(
        app, monkeypatch, lambda: app.submit_view("UALICE", view, values)
    )
    assert answer.status == 503
    assert "nothing was done" in answer.body
    assert app.count("experiments") == 0


def test_a_stopped_server_leaves_no_request_threads_behind(app: AppUnderTest) -> None:
    """Each HttpServer started and stopped (every end-to-end test) used to leave its
    waitress threads waiting for good: an xdist worker held a thousand of them."""
    before = {t for t in threading.enumerate() if t.name.startswith("waitress-")}
    server = HttpServer(app.runtime.web_app(app.bolt), threads=4).start()
    started = {t for t in threading.enumerate() if t.name.startswith("waitress-")} - before
    assert len(started) == 4
    server.stop()
    assert not [t for t in started if t.is_alive()]
