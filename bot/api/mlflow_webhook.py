"""``POST /mlflow/webhook``: MLflow's model-registry webhooks (MLflow ≥ 3.3), verified and
stored in the inbox before they are acknowledged.

MLflow signs a delivery as ``mlflow/webhooks/delivery.py`` does: ``X-MLflow-Signature:
v1,<base64 HMAC-SHA256(secret, "{delivery_id}.{timestamp}.{body}")>`` with
``X-MLflow-Delivery-Id`` (a uuid4) and ``X-MLflow-Timestamp`` (Unix seconds). A forged,
unsigned or stale delivery gets 401 and changes nothing; a signed but malformed one 400.

A verified delivery is stored as an inbox row keyed by its delivery id (kind ``mlflow``)
and answered 200; a worker runs it exactly once, as a Slack request, and a replayed
delivery id stores nothing. Only when the database cannot store it is the answer 503:
MLflow retries 5xx with the same id and timestamp, so nothing is lost and nothing doubled.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, jsonify, request

from bot.domain.errors import StorageError, ValidationError
from bot.domain.mlflow_runs import MLFLOW_OFF
from bot.domain.registry import INBOX_KIND, INBOX_SENDER, parse_delivery
from storage.unit_of_work import Database

log = logging.getLogger(__name__)
PATH = "/mlflow/webhook"
SIGNATURE = "X-MLflow-Signature"
DELIVERY_ID = "X-MLflow-Delivery-Id"
TIMESTAMP = "X-MLflow-Timestamp"
FIVE_MINUTES = 5 * 60  # older (or that much in the future) is refused: a replay
MAX_BODY = 1 << 20  # a registry event is a few hundred bytes
WEBHOOK_OFF = "MLflow webhooks are off: set MLGOV_MLFLOW_WEBHOOK_SECRET (see the README)."


def signature_problem(
    secret: str, raw: bytes, delivery_id: str, timestamp: str, signature: str, now: float
) -> str | None:
    """Why the delivery is not MLflow's, signed with ``secret`` within five minutes of
    ``now`` (None: it is). Several space-separated signatures may be sent (key rotation)."""
    if not (delivery_id and timestamp and signature):
        return f"unsigned: {SIGNATURE}, {DELIVERY_ID} and {TIMESTAMP} are required"
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return f"{TIMESTAMP} is not Unix seconds"
    if abs(now - int(timestamp)) > FIVE_MINUTES:
        return f"{TIMESTAMP} is more than five minutes from now: a stale or replayed delivery"
    signed = f"{delivery_id}.{timestamp}.".encode() + raw
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    expected = b"v1," + base64.b64encode(digest)
    given = [part.encode("utf-8", "replace") for part in signature.split()]
    if not any(hmac.compare_digest(expected, part) for part in given):
        return "the signature does not match MLGOV_MLFLOW_WEBHOOK_SECRET"
    return None


def delivery_key(delivery_id: str) -> str | None:
    """The inbox key of a delivery id (None: not one MLflow sends, a uuid)."""
    if 0 < len(delivery_id) <= 64 and delivery_id.isascii() and delivery_id.isprintable():
        return delivery_id
    return None


def create_webhook(
    db: Database,
    clock: Callable[[], datetime],
    secret: str | None,
    tracking_uri: str | None,
    wall_clock: Callable[[], float],
) -> Blueprint:
    """The route, refusing everything while MLflow or its webhook secret is not set."""
    hooks = Blueprint("mlflow_webhook", __name__)

    @hooks.post(PATH)
    def receive() -> tuple[Response, int]:
        if not tracking_uri:
            return _answer(403, MLFLOW_OFF)
        if not secret:
            return _answer(403, WEBHOOK_OFF)
        if (request.content_length or 0) > MAX_BODY:
            return _answer(413, f"A registry event is at most {MAX_BODY} bytes.")
        raw = request.get_data(cache=False)
        delivery_id = request.headers.get(DELIVERY_ID, "")
        problem = signature_problem(
            secret,
            raw,
            delivery_id,
            request.headers.get(TIMESTAMP, ""),
            request.headers.get(SIGNATURE, ""),
            wall_clock(),
        )
        if problem:
            log.warning("refused an MLflow webhook: %s", problem)
            return _answer(401, f"Not a signed MLflow delivery: {problem}.")
        key = delivery_key(delivery_id)
        if key is None:
            return _answer(400, f"Malformed delivery: {DELIVERY_ID} is not a delivery id.")
        try:
            body = json.loads(raw.decode("utf-8"))
            event = parse_delivery(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return _answer(400, "Malformed delivery: the body is not UTF-8 JSON.")
        except ValidationError as exc:
            return _answer(400, f"Malformed delivery: {exc}.")
        if event is None:
            what = f"{body.get('entity')}.{body.get('action')}"
            return jsonify(ok=True, ignored=f"mlgov does not act on {what[:80]}"), 200
        try:
            with db.write() as uow:
                stored = uow.inbox.add(INBOX_SENDER, key, INBOX_KIND, body, clock())
                uow.commit()
        except StorageError as exc:
            log.error("an MLflow delivery could not be stored, answering 503: %s", exc)
            return _answer(503, "mlgov could not store this delivery; please deliver it again.")
        return jsonify(ok=True, delivery=key, duplicate=not stored), 200

    return hooks


def _answer(status: int, message: str) -> tuple[Response, int]:
    return jsonify(ok=False, error=message), status
