"""The HTTP API: ``POST /api/v1/experiments/EXP-n/evaluations`` for pipelines (the write
token), the read routes of bot.api.reads (the read token, or the write token), and their
OpenAPI document at ``/api/v1/openapi.json`` (no token needed).

Every error is a problem body (RFC 9457, ``application/problem+json``): ``title``,
``status``, ``detail``, and ``error`` (the detail again, as the API always answered).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from bot.api import reads
from bot.api.openapi import document
from bot.domain.criterion_check import check_criterion
from bot.domain.errors import (
    InvalidTransition,
    MlgovError,
    NotFound,
    PermissionDenied,
    StorageError,
    UsageError,
    ValidationError,
)
from bot.domain.evaluation import Kind
from bot.domain.ingest import MAX_BYTES, parse_evaluation
from bot.domain.model import KEY_PATTERN, Actor
from bot.services import computing, evaluations
from bot.services.availability import fetching_statuses
from bot.services.ports import Context, Notices, Statuses
from bot.services.team import resolve_team
from storage.unit_of_work import Database

log = logging.getLogger(__name__)
API_ACTOR = "api"
PREFIX = "/api/v1"
PUBLIC = {f"{PREFIX}/openapi.json"}
STATUS = {
    StorageError: 503,  # the database was busy or down: a pipeline should retry
    ValidationError: 400,
    UsageError: 400,
    PermissionDenied: 403,
    NotFound: 404,
    InvalidTransition: 409,
}


def problem(status: int, message: str) -> tuple[Response, int]:
    """An error as a problem body (RFC 9457) with the ``error`` field clients read."""
    response = jsonify(
        type="about:blank",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=message,
        error=message,
    )
    response.mimetype = "application/problem+json"
    return response, status


def _token_kind(write_token: str | None, read_token: str | None) -> str | None:
    """ "write", "read", or None for a missing or wrong bearer token."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    given = value.strip().encode()
    # The write token reads too: a pipeline may check what it pushed.
    if write_token and hmac.compare_digest(given, write_token.encode()):
        return "write"
    if read_token and hmac.compare_digest(given, read_token.encode()):
        return "read"
    return None


def create_api(
    db: Database,
    clock: Callable[[], datetime],
    notices: Notices,
    token: str | None,
    timezone: str = "UTC",
    read_token: str | None = None,
    statuses: Statuses | None = None,
) -> Blueprint:
    """The API; ``token`` (MLGOV_API_TOKEN) writes and reads, ``read_token``
    (MLGOV_API_READ_TOKEN) only reads."""
    api = Blueprint("api", __name__, url_prefix=PREFIX)

    @api.before_request
    def authenticate() -> tuple[Response, int] | None:
        if request.path in PUBLIC:
            return None
        writes = request.method not in ("GET", "HEAD", "OPTIONS")
        if not token and not read_token:
            return problem(
                403,
                "The API is off: set MLGOV_API_TOKEN (pipelines: write and read) or"
                " MLGOV_API_READ_TOKEN (dashboards: read only) to turn it on.",
            )
        if writes and not token:
            return problem(403, "Writing is off: set MLGOV_API_TOKEN to turn it on.")
        kind = _token_kind(token, read_token)
        if kind is None:
            response, status = problem(401, "A valid 'Authorization: Bearer <token>' is needed.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="mlgov"'
            return response, status
        if writes and kind != "write":
            return problem(
                403, "This token may only read; pushing evaluations needs MLGOV_API_TOKEN."
            )
        g.token_kind = kind
        return None

    @api.errorhandler(MlgovError)
    def refused(exc: MlgovError) -> tuple[Response, int]:
        status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)
        return problem(status, str(exc))

    @api.errorhandler(Exception)
    def failed(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return exc
        log.exception("%s %s failed", request.method, request.path)
        return problem(500, "Something went wrong on our side; nothing was changed.")

    @api.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(document())

    reads.register(api, db, clock, notices, timezone)

    @api.post("/experiments/<key>/evaluations")
    def post_evaluation(key: str) -> tuple[Response, int]:
        match = KEY_PATTERN.match(key)
        if match is None:
            return problem(404, f"'{key[:40]}' is not an experiment key like EXP-7.")
        try:
            team_id = resolve_team(db, request.args.get("team"))
            kind_text = request.args.get("kind")
            if kind_text is not None and kind_text not in {k.value for k in Kind}:
                raise ValidationError(
                    f"kind must be classification or regression, not {kind_text!r}."
                )
            data = request.get_data(cache=False)
            filename = request.args.get("filename", "")[:200]
            evaluation = computing.offload(
                parse_evaluation,
                data,
                filename=filename or None,
                content_type=request.content_type,
                kind=Kind(kind_text) if kind_text else None,
            )
            ctx = Context(
                Actor(team_id, API_ACTOR, pipeline=True),
                clock(),
                notices,
                timezone,
                statuses=statuses,
            )
            new_holdout = request.args.get("new_holdout", "").lower() in ("1", "true", "yes")
            submission = evaluations.Submission(
                int(match.group(1)), evaluation, "api", filename, new_holdout
            )
            recorded = fetching_statuses(
                statuses, lambda: evaluations.submit_evaluation(db, ctx, submission)
            )
        except MlgovError as exc:
            status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)
            return problem(status, str(exc))
        except Exception:  # a bug: logged, and answered in the API's own shape
            log.exception("POST %s failed", request.path)
            return problem(500, "Something went wrong on our side; nothing was recorded.")
        assert recorded is not None
        summary = recorded.summary
        # The verdict `mlgov eval push --require-criterion` gates on: met only when judged.
        check = check_criterion(recorded.experiment, summary, recorded.baseline is not None)
        return (
            jsonify(
                evaluation=recorded.evaluation_id,
                experiment=recorded.experiment.key,
                baseline=f"EXP-{recorded.baseline.experiment_number}"
                if recorded.baseline
                else None,
                verdict=summary.verdict.value if summary.verdict else None,
                criterion_met=check.met,
                criterion=check.to_json(),
                approvals_dismissed=recorded.approvals_dismissed,
                summary=summary.to_json(),
            ),
            201,
        )

    return api


def mount(web: Flask, api: Blueprint) -> None:
    web.register_blueprint(api)
    web.config["MAX_CONTENT_LENGTH"] = MAX_BYTES

    @web.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        """Under /api/v1, routing errors (no such route, wrong method, too large) are
        problem bodies too; elsewhere Flask's own page."""
        if not request.path.startswith(PREFIX + "/") or exc.code is None:
            return exc
        if exc.code == 404:
            return problem(404, f"No route {request.path}; see {PREFIX}/openapi.json.")
        if isinstance(exc, MethodNotAllowed):
            response, status = problem(405, f"{request.method} is not allowed on {request.path}.")
            response.headers["Allow"] = ", ".join(exc.valid_methods or ())  # RFC 9110 §15.5.6
            return response, status
        return problem(exc.code, exc.description or HTTPStatus(exc.code).phrase)
