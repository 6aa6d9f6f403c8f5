"""``@mlgov eval EXP-7`` and ``@mlgov parity EXP-7`` with files attached: fetch, check, record.

Runs on an inbox worker, after the ack. The event id is claimed with the evaluation it
records, so a repeated delivery records nothing; a refusal is told once, only to its sender.
Before the heavy part (computing the evaluation) the worker checks that it still holds the
request: one whose lease another worker took over is not computed twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot.domain.commands import EvaluateUpload, ParityUpload
from bot.domain.errors import MlgovError, StorageError, ValidationError
from bot.domain.evaluation import Predictions
from bot.domain.ingest import MAX_BYTES, parse_evaluation, parse_scores
from bot.domain.mlflow_runs import RUN_URL
from bot.domain.model import OutgoingMessage
from bot.services import computing, evaluations
from bot.services.availability import fetching_statuses
from bot.services.evaluations import LARGE, Submission
from bot.services.mlflow_import import import_named_run
from bot.slack import parsing
from bot.slack.blocks import error
from storage.inbox import LeaseLost

if TYPE_CHECKING:
    from bot.slack.dispatch import Dispatcher, Origin

log = logging.getLogger(__name__)
INTERRUPTED = "the database was busy; trying again."
DUPLICATE = "Slack delivered this upload twice; its summary is posted once, in this thread."
# A Slack file object -> its name and bytes (downloaded with the bot token).
Fetch = Callable[[dict[str, Any]], tuple[str, bytes]]
# Raises LeaseLost when this attempt no longer holds its inbox row (InboxRunner.ensure_held).
StillHeld = Callable[[], None]


def held_anyway() -> None:
    """Outside the inbox (the shell), nobody else runs the request."""


def handle_upload(
    dispatcher: Dispatcher,
    origin: Origin,
    event_id: str,
    thread_ts: str,
    name: str,
    rest: str,
    files: Sequence[dict[str, Any]],
    fetch: Fetch | None,
    still_held: StillHeld = held_anyway,
) -> bool:
    """Record the evaluation (or parity check) the mention carries; False for a repeat."""
    db = dispatcher.db
    with db.read() as uow:
        if uow.events.seen(origin.team_id, event_id):
            return False
        ctx = dispatcher._context(uow, origin)
    progress: str | None = None
    number: int | None = None
    try:
        command = parsing.parse_upload(name, rest)
        number = command.number
        evaluations.check_submitter(db, ctx, number)
        if isinstance(command, EvaluateUpload) and command.mlflow_run:
            if files:
                raise ValidationError("Name an MLflow run or attach a file, not both.")
            still_held()
            return import_named_run(db, ctx, command, event_id) is not None
        if fetch is None:
            raise ValidationError("Attach the file to the message that mentions me.")
        if isinstance(command, EvaluateUpload):
            ((filename, data),) = _download(files, 1, fetch)
            evaluation = computing.offload(
                parse_evaluation, data, filename=filename, kind=command.kind
            )
            still_held()  # before "computing…" and the computation
            if isinstance(evaluation, Predictions) and evaluation.rows >= LARGE:
                # Each attempt names its own message: a duplicate delivery computing at the
                # same time must not leave the other's "computing…" behind.
                progress = f"eval-{uuid.uuid4().hex}"
                evaluations.computing_notice(db, ctx, number, evaluation.rows, progress)
            submission = Submission(number, evaluation, "upload", filename, command.new_holdout)
            done = fetching_statuses(
                ctx.statuses,
                lambda: evaluations.submit_evaluation(
                    db, ctx, submission, progress_ref=progress, event_id=event_id
                ),
            )
            if done is None and progress is not None:
                evaluations.computing_failed(db, ctx, number, DUPLICATE, progress)
            return done is not None
        assert isinstance(command, ParityUpload)
        (first, one), (second, two) = _download(files, 2, fetch)
        still_held()
        result = evaluations.record_parity(
            db,
            ctx,
            number,
            computing.offload(parse_scores, one, filename=first),
            computing.offload(parse_scores, two, filename=second),
            source="upload",
            tolerance=command.tolerance,
            threshold=command.threshold,
            event_id=event_id,
        )
        return result is not None
    except LeaseLost:  # another worker runs this request now: this attempt says nothing
        raise
    except StorageError:
        # The inbox worker retries a database hiccup (nothing was claimed); this attempt's
        # "computing…" message says so if the database lets it.
        if progress is not None and number is not None:
            try:
                evaluations.computing_failed(db, ctx, number, INTERRUPTED, progress)
            except StorageError:
                pass
        raise
    except MlgovError as exc:
        why = str(exc)
    except Exception:  # a bug or an outage: the sender must still hear something
        log.exception("upload %s failed", event_id)
        why = "Something went wrong on our side and nothing was recorded; please try again."
    if progress is not None and number is not None:
        evaluations.computing_failed(db, ctx, number, why.splitlines()[0], progress)
    return _tell_sender(dispatcher, origin, event_id, thread_ts, why)


def names_mlflow_run(rest: str) -> bool:
    """Whether ``eval`` words name an MLflow run (no file to attach then)."""
    return any(w.lower().startswith("mlflow:") or RUN_URL.match(w) for w in rest.split())


def _download(
    files: Sequence[dict[str, Any]], wanted: int, fetch: Fetch
) -> list[tuple[str, bytes]]:
    if len(files) != wanted:
        what = "one file" if wanted == 1 else "two files (prototype first, then production)"
        raise ValidationError(
            f"Attach {what} to the message that mentions me; I found {len(files)}."
        )
    fetched = []
    for file in files:
        size = file.get("size")
        if isinstance(size, int) and size > MAX_BYTES:
            raise ValidationError(
                f"{file.get('name', 'The file')} is {size / 2**20:.0f} MB; the limit is"
                f" {MAX_BYTES // 2**20} MB. Sample the held-out set or use the pipeline API."
            )
        fetched.append(fetch(file))
    return fetched


def _tell_sender(
    dispatcher: Dispatcher, origin: Origin, event_id: str, thread_ts: str, why: str
) -> bool:
    reply = error(why)
    payload = {
        "channel": origin.channel,
        "thread_ts": thread_ts,
        "user": origin.user_id,
        "text": reply.text,
        "blocks": reply.blocks,
    }
    with dispatcher.db.write() as uow:
        if not uow.events.claim(origin.team_id, event_id, dispatcher.clock()):
            return False
        message = OutgoingMessage(origin.team_id, origin.channel, "chat.postEphemeral", payload)
        uow.outbox.add(message, dispatcher.clock())
        uow.commit()
    return True
