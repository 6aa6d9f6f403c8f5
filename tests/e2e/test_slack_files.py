"""Downloading shared files: the bot token goes to Slack's hosts and nowhere else."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.domain.errors import ValidationError
from bot.slack.files import SlackFiles


class Recorder(ThreadingHTTPServer):
    """Answers every GET with ``answer(path)`` -> (status, headers, body); records requests."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.seen: list[tuple[str, str | None]] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(handler) -> None:  # noqa: N805
                self.seen.append((handler.path, handler.headers.get("Authorization")))
                status, headers, body = self.answer(handler.path)
                handler.send_response(status)
                for key, value in headers.items():
                    handler.send_header(key, value)
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@pytest.fixture
def elsewhere() -> Iterator[Recorder]:
    """A host that is not Slack's (reached as localhost, so not the API's 127.0.0.1)."""
    server = Recorder(lambda path: (200, {}, b"y_true,y_score\n0,0.1\n1,0.9\n"))
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def slack(elsewhere: Recorder) -> Iterator[Recorder]:
    """Slack's API host: /ok serves the file, /moved redirects within it, /away elsewhere."""

    def answer(path: str) -> tuple[int, dict[str, str], bytes]:
        if path == "/away":
            return 302, {"Location": f"http://localhost:{elsewhere.port}/steal"}, b""
        if path == "/moved":
            return 302, {"Location": "/ok"}, b""
        return 200, {}, b"y_true,y_score\n0,0.1\n1,0.9\n"

    server = Recorder(answer)
    yield server
    server.shutdown()
    server.server_close()


def files_for(slack: Recorder) -> SlackFiles:
    client = WebClient(token="xoxb-secret", base_url=f"http://127.0.0.1:{slack.port}/api/")
    return SlackFiles(client, timeout=5)


def test_a_file_on_slacks_host_is_fetched_with_the_token(slack: Recorder) -> None:
    url = f"http://127.0.0.1:{slack.port}/moved"
    name, data = files_for(slack)({"name": "p.csv", "url_private": url})
    assert name == "p.csv" and data.startswith(b"y_true")
    assert slack.seen == [("/moved", "Bearer xoxb-secret"), ("/ok", "Bearer xoxb-secret")]


def test_a_redirect_away_from_slack_is_not_followed(slack: Recorder, elsewhere: Recorder) -> None:
    url = f"http://127.0.0.1:{slack.port}/away"
    with pytest.raises(ValidationError, match="not Slack"):
        files_for(slack)({"name": "p.csv", "url_private": url})
    assert elsewhere.seen == []


def test_a_link_to_another_host_is_refused_without_a_request(
    slack: Recorder, elsewhere: Recorder
) -> None:
    for url in (
        f"http://localhost:{elsewhere.port}/file.csv",
        "http://files.slack.com/files-pri/T1-F1/p.csv",  # Slack's host, but not over https
        f"https://evil.example/?{slack.port}.slack.com",
    ):
        with pytest.raises(ValidationError, match="not hosted by Slack"):
            files_for(slack)({"name": "p.csv", "url_private": url})
    assert elsewhere.seen == [] and slack.seen == []
