"""The HTTP surface: /slack/events (mounted by bot.slack.http), /healthz and /metrics."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def create_web_app(healthy: Callable[[], str | None], registry: CollectorRegistry) -> Flask:
    """``healthy`` returns None when all is well, else what is wrong."""
    web = Flask("mlgov")

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        problem = healthy()
        if problem:
            return jsonify(status="unhealthy", problem=problem), 503
        return jsonify(status="ok"), 200

    @web.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return web
