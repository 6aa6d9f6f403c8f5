"""The HTTP API for pipelines: ``POST /api/v1/experiments/EXP-n/evaluations`` (bearer token)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Flask, Response, jsonify, request

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
from bot.services.ports import Context, Notices
from bot.services.team import resolve_team
from storage.unit_of_work import Database

log = logging.getLogger(__name__)
API_ACTOR = "api"
STATUS = {
    StorageError: 503,  # the database was busy or down: a pipeline should retry
    ValidationError: 400,
    UsageError: 400,
    PermissionDenied: 403,
    NotFound: 404,
    InvalidTransition: 409,
}


def _problem(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message), status


def create_api(
    db: Database,
    clock: Callable[[], datetime],
    notices: Notices,
    token: str | None,
    timezone: str = "UTC",
) -> Blueprint:
    api = Blueprint("api", __name__, url_prefix="/api/v1")

    @api.before_request
    def authenticate() -> tuple[Response, int] | None:
        if not token:
            return _problem(403, "The pipeline API is off: set MLGOV_API_TOKEN to turn it on.")
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode(), token.encode()
        ):
            response, status = _problem(401, "A valid 'Authorization: Bearer <token>' is needed.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="mlgov"'
            return response, status
        return None

    @api.post("/experiments/<key>/evaluations")
    def post_evaluation(key: str) -> tuple[Response, int]:
        match = KEY_PATTERN.match(key)
        if match is None:
            return _problem(404, f"'{key[:40]}' is not an experiment key like EXP-7.")
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
            ctx = Context(Actor(team_id, API_ACTOR, pipeline=True), clock(), notices, timezone)
            new_holdout = request.args.get("new_holdout", "").lower() in ("1", "true", "yes")
            submission = evaluations.Submission(
                int(match.group(1)), evaluation, "api", filename, new_holdout
            )
            recorded = evaluations.submit_evaluation(db, ctx, submission)
        except MlgovError as exc:
            status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)
            return _problem(status, str(exc))
        except Exception:  # a bug: logged, and answered in the API's own shape
            log.exception("POST %s failed", request.path)
            return _problem(500, "Something went wrong on our side; nothing was recorded.")
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
