"""Replies posted to a request's response_url (bot.slack.web_api.post_response) over real
HTTP to the fake Slack: which failures the outbox tries again, and which it gives up."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bot.domain.model import RESPONSE_URL
from bot.services.delivery import DeliveryFailed
from bot.slack.app import web_client
from bot.slack.web_api import WebApi, _retry_after, post_response
from tests.fakes.slack_api import FakeSlack


def reply(url: str) -> dict[str, Any]:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*3* experiments"}}]
    return {
        "url": url,
        "text": "3 experiments",
        "blocks": blocks,
        "response_type": "ephemeral",
        "replace_original": False,
    }


def failure_of(payload: dict[str, Any], timeout: int = 10) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as failed:
        post_response(payload, timeout=timeout)
    return failed.value


def test_a_reply_is_posted_as_json_without_its_url(fake_slack: FakeSlack) -> None:
    payload = reply(fake_slack.response_url("k1"))
    assert post_response(payload) == {"ok": True}
    (call,) = fake_slack.calls("response_url")
    sent = {key: value for key, value in payload.items() if key != "url"}
    assert call.params == {**sent, "_key": "k1"}
    assert call.headers["content-type"].startswith("application/json")
    assert payload["url"] == fake_slack.response_url("k1")  # the caller's payload is kept


def test_the_outbox_s_web_api_posts_response_url_messages(fake_slack: FakeSlack) -> None:
    api = WebApi(web_client("xoxb-test", fake_slack.api_url))
    assert api.call(RESPONSE_URL, reply(fake_slack.response_url("k2"))) == {"ok": True}
    (call,) = fake_slack.calls("response_url")
    assert call.params["_key"] == "k2" and call.params["text"] == "3 experiments"
    assert fake_slack.calls() == [call]  # no Web API method was called


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [(429, 7, 7.0), (503, 2, 2.0), (500, None, None), (502, None, None)],
    ids=["429-retry-after", "503-retry-after", "500", "502"],
)
def test_rate_limits_and_server_errors_are_tried_again(
    fake_slack: FakeSlack, status: int, retry_after: int | None, expected: float | None
) -> None:
    fake_slack.fail_next("response_url", status=status, retry_after=retry_after)
    failure = failure_of(reply(fake_slack.response_url()))
    assert not failure.permanent
    assert failure.retry_after == expected
    assert failure.reason == f"response_url: HTTP {status}"
    assert post_response(reply(fake_slack.response_url())) == {"ok": True}  # and it passes


@pytest.mark.parametrize(("retry_after", "expected"), [(4, 4.0), (None, 1.0)])
def test_the_web_api_s_rate_limit_reads_retry_after_the_same_way(
    fake_slack: FakeSlack, retry_after: int | None, expected: float
) -> None:
    """(One reading of Retry-After serves both; a Web API call without one waits 1 s.)"""
    api = WebApi(web_client("xoxb-test", fake_slack.api_url))
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=retry_after)
    with pytest.raises(DeliveryFailed) as failed:
        api.call("chat.postMessage", {"channel": "C1", "text": "hi"})
    assert (failed.value.reason, failed.value.retry_after) == ("ratelimited", expected)


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, "expired_url"), (400, "invalid_payload"), (410, "gone"), (403, "forbidden")],
)
def test_other_client_errors_are_given_up(fake_slack: FakeSlack, status: int, error: str) -> None:
    # A Retry-After on them changes nothing: trying again will not help.
    fake_slack.fail_next("response_url", status=status, retry_after=3, body={"error": error})
    failure = failure_of(reply(fake_slack.response_url()))
    assert failure.permanent
    assert failure.reason == f"response_url: HTTP {status}"


@pytest.mark.parametrize("url", ["", "ftp://example.com/r", "hooks.slack.com/r", "None"])
def test_a_response_url_that_is_no_http_url_is_given_up_unsent(
    fake_slack: FakeSlack, url: str
) -> None:
    failure = failure_of(reply(url))
    assert failure.permanent
    assert failure.reason == "response_url: not an http(s) URL"
    assert fake_slack.calls() == []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_is_tried_again() -> None:
    failure = failure_of(reply(f"http://127.0.0.1:{closed_port()}/response/r"))
    assert not failure.permanent and failure.retry_after is None
    assert failure.reason.startswith("response_url: network:")


def test_a_post_that_times_out_is_tried_again(fake_slack: FakeSlack) -> None:
    fake_slack.delay_next("response_url", 2.0)
    failure = failure_of(reply(fake_slack.response_url()), timeout=1)
    assert not failure.permanent and failure.retry_after is None
    assert failure.reason.startswith("response_url: network:")
    assert "timed out" in failure.reason


class _NotHttp(socketserver.BaseRequestHandler):
    """Reads a request and answers ``server.answer`` (b"": hangs up without a word)."""

    server: _NotHttpServer

    def handle(self) -> None:
        self.server.connections += 1
        self.request.recv(65536)
        if self.server.answer:
            self.request.sendall(self.server.answer)


class _NotHttpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self, answer: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _NotHttp)
        self.answer = answer
        self.connections = 0


@pytest.fixture(params=[b"garbage\r\n\r\n", b""], ids=["no-status-line", "hangs-up"])
def not_http(request: pytest.FixtureRequest) -> Iterator[_NotHttpServer]:
    """A server that answers a request with something other than HTTP."""
    with _NotHttpServer(request.param) as server:
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            thread.join(5)


def test_an_answer_that_is_not_http_is_tried_again_by_the_outbox(
    not_http: _NotHttpServer,
) -> None:
    failure = failure_of(reply(f"http://127.0.0.1:{not_http.server_address[1]}/response/r"))
    assert not failure.permanent and failure.retry_after is None
    assert failure.reason.startswith("response_url: network:")
    assert not_http.connections == 1  # not at once by the SDK as well: the outbox backs off


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (["2"], 2.0),
        ("-3", 0.0),
        ("inf", None),
        ("nan", None),
        ("soon", None),
        ([], None),
    ],
)
def test_a_retry_after_that_is_no_finite_number_of_seconds_is_not_obeyed(
    value: object, expected: float | None
) -> None:
    """An infinite or NaN Retry-After would overflow the outbox's next attempt time."""
    assert _retry_after({"retry-after": value}, default=None) == expected
    assert _retry_after({"Retry-After": value}, default=None) == expected
