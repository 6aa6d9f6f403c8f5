"""Mounting Bolt's request handler on the web app at /slack/events, behind a guard.

The guard checks Slack's signature itself and then the body's shape, so that a signed
but malformed request gets 400 with a short reason instead of a 500 and a traceback from
deep inside Bolt; an unsigned, forged or stale one gets Bolt's 401 as before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from contextlib import nullcontext
from urllib.parse import parse_qsl

from flask import Flask, Response, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.request.internals import parse_body

from bot.server import ARRIVED
from bot.services.inbox_worker import AcksFirst
from bot.slack.listeners.intake import arriving
from bot.slack.requests import body_problem
from storage.inbox import ACK_WAIT_S

log = logging.getLogger(__name__)
FIVE_MINUTES = 5 * 60  # Slack's replay window
CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")
TOO_LATE = "mlgov was too busy to take this request in time; nothing was done."


def mount(
    web: Flask,
    bolt_app: App,
    signing_secret: str | None,
    path: str = "/slack/events",
    acks: AcksFirst | None = None,
) -> None:
    """Serve Slack at ``path``: verified, then shape-checked, then handed to Bolt; each
    request counted in ``acks`` while it is answered (worker threads here wait for it)."""
    handler = SlackRequestHandler(bolt_app)
    secret = (signing_secret or "").encode()
    counted = acks.acking if acks is not None else nullcontext

    def slack_events() -> Response:
        # Slack's time for the ack started when the request arrived, before it waited
        # for a thread (bot.server stamps it); the inbox write gets what is left of it.
        arrived = request.environ.get(ARRIVED) or time.monotonic()
        with counted(), arriving(arrived):
            return answer(arrived)

    def answer(arrived: float) -> Response:
        raw = request.get_data(cache=True)  # Bolt reads the same cached bytes
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not signed(secret, raw, timestamp, signature, time.time()):
            if is_ssl_check(raw):
                # Slack's unsigned certificate probe, answered here as Bolt would: never
                # handed on, since Bolt trusts the guard's check (it does not verify again).
                return _answer(200, "", "text/plain")
            return _answer(401, json.dumps({"error": "invalid request"}), "application/json")
        problem = request_problem(request.headers.get("Content-Type", ""), raw)
        if problem:
            log.warning("refused a signed Slack request: %s", problem)
            return _answer(400, f"Malformed Slack request: {problem}.", "text/plain")
        waited = time.monotonic() - arrived
        if waited > ACK_WAIT_S:  # Slack gives up at 3 s: a form's effect, too, runs not at all
            log.error("refused a Slack request that waited %.1f s for a thread", waited)
            return _answer(503, TOO_LATE, "text/plain")
        return handler.handle(request)

    web.add_url_rule(path, "slack_events", slack_events, methods=["POST"])


def signed(secret: bytes, raw: bytes, timestamp: str, signature: str, now: float) -> bool:
    """Slack's v0 signature over the raw bytes, within the replay window.

    Not slack_sdk's SignatureVerifier: it decodes the body as UTF-8 first, so a signed
    body that is not UTF-8 would pass for a forged one (401) instead of getting its 400."""
    if not secret or not (timestamp.isascii() and timestamp.isdigit() and signature.isascii()):
        return False
    if abs(now - int(timestamp)) > FIVE_MINUTES:
        return False
    base = b"v0:" + timestamp.encode() + b":" + raw
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def request_problem(content_type: str, raw: bytes) -> str | None:
    """What is wrong with a signed body, read as Bolt will read it; None when servable."""
    mimetype = content_type.split(";")[0]  # as Bolt reads it
    if mimetype not in CONTENT_TYPES:
        return f"content type {mimetype[:60] or 'none'!r} is not one Slack sends"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    if not text:
        return "the body is empty"
    try:
        body = parse_body(text, mimetype)
    except json.JSONDecodeError as exc:  # in the body or in its payload= field
        return f"the body is not valid JSON ({exc.msg})"
    except RecursionError:
        return "the body is nested too deeply"
    return body_problem(body)


def is_ssl_check(raw: bytes) -> bool:
    """Slack's unsigned certificate probe (``ssl_check=1``), which Bolt answers 200."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if text.startswith("{") or "payload" in text:  # Bolt would read these as JSON
        return False
    return dict(parse_qsl(text)).get("ssl_check") == "1"


def _answer(status: int, body: str, mimetype: str) -> Response:
    return Response(body, status=status, mimetype=mimetype)
