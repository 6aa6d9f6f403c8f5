"""Mounting Bolt's request handler on the web app at /slack/events."""

from __future__ import annotations

from flask import Flask, Response, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler


def mount(web: Flask, bolt_app: App, path: str = "/slack/events") -> None:
    handler = SlackRequestHandler(bolt_app)

    def slack_events() -> Response:
        return handler.handle(request)

    web.add_url_rule(path, "slack_events", slack_events, methods=["POST"])
