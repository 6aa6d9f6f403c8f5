"""The surface-neutral core: a command line, a button or a form -> one use case -> a reply.

Slash commands, mentions, buttons, modals and the terminal shell all come through here,
so every surface runs the same parsing, the same permission checks and the same renderers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot import calendar_ics
from bot.domain import lifecycle
from bot.domain.commands import (
    READ_ONLY,
    Command,
    DecideReview,
    DeclineReview,
    LinkMlflowRun,
    OpenNewExperimentForm,
    Step,
    TakeSwap,
)
from bot.domain.errors import MlgovError, PermissionDenied, StorageError, UsageError
from bot.domain.model import KEY_PATTERN, Experiment, OutgoingMessage
from bot.services import calendar as calendar_service
from bot.services import experiments as exp
from bot.services import mlflow_links, team
from bot.services import reviews as reviews_service
from bot.services.availability import fetching_statuses
from bot.services.ports import Context, MlflowSource, Notices, Statuses, StatusesNeeded
from bot.services.review_staffing import scientists_of
from bot.slack import parsing
from bot.slack.blocks import Reply, error, forms
from bot.slack.blocks import experiments as render
from bot.slack.blocks import reviews as review_render
from bot.slack.blocks import snooze as snooze_render
from bot.slack.blocks import swaps as swap_render
from bot.slack.handlers import HANDLERS
from bot.slack.uploads import Fetch, StillHeld, handle_upload, held_anyway, names_mlflow_run
from bot.slack.words import UPLOAD_USAGE
from storage.unit_of_work import Database, UnitOfWork

log = logging.getLogger(__name__)
UNEXPECTED = "Something went wrong on our side and nothing was saved; please try again."
Clock = Callable[[], datetime]
# Called inside a write's unit of work before commit, with the reply: the inbox worker
# marks its row done and queues the reply there, so they commit with the effect.
Settle = Callable[[UnitOfWork, Reply], None]
# What is answered by a form instead of acting at once, here and nowhere else: the inbox
# runs these requests ahead of others (bot.slack.inbox_replies.opens_form), since a form
# must be opened within 3 s of the click. Buttons of experiment steps, by step:
STEP_FORMS: dict[str, Callable[[Experiment], dict[str, Any]]] = {
    "conclude": forms.conclude_form,
    "abandon": forms.abandon_form,
}
# Buttons on a review request, by action_id (with the review's id):
REVIEW_FORMS: dict[str, Callable[[Experiment, int], dict[str, Any]]] = {
    review_render.CHANGES: forms.changes_form,
}
# Commands, by parsed type (their handlers return the form):
FORM_COMMANDS: tuple[type[Command], ...] = (OpenNewExperimentForm,)
# Step forms whose submission picks reviewers: their project's scientists' Slack statuses
# are read once the form is open, so that the submission (before its ack) finds them.
FORMS_PICKING_REVIEWERS = frozenset({"conclude"})
# How long a form's submission waits on Slack statuses before its ack, in all: Slack wants
# the ack within 3 s, and the use case and the response need their share of it.
STATUSES_BEFORE_ACK_SECONDS = 1.0


def command_opens_form(command: str, text: str) -> bool:
    """Whether ``/command text`` is answered by a form (cheap: parsing only)."""
    try:
        return isinstance(parsing.parse(command, text), FORM_COMMANDS)
    except UsageError:  # answered by its usage
        return False


def button_opens_form(action_id: str) -> bool:
    """Whether the button ``action_id`` is answered by a form (unless refused: a yes costs
    a refusal only its place in the queue)."""
    return action_id in REVIEW_FORMS or action_id.removeprefix(render.ACTION_PREFIX) in STEP_FORMS


@dataclass(frozen=True)
class Origin:
    """Who sent a request, as Slack (or the shell) says."""

    team_id: str
    user_id: str
    workspace_admin: bool = False
    channel: str = ""
    # Said instead of a refusal when Slack could not tell whether the user is a
    # workspace admin (who may do anything): a "no" would then be a guess.
    admin_check_failed: str = ""


def refusal(exc: MlgovError, origin: Origin) -> str:
    """What to tell the user about ``exc``."""
    if isinstance(exc, PermissionDenied) and origin.admin_check_failed:
        return origin.admin_check_failed
    return str(exc)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        notices: Notices,
        admins: Collection[str] = (),
        timezone: str = "UTC",
        *,
        mlflow: MlflowSource | None = None,
        public_url: str = "",
        statuses: Statuses | None = None,
    ) -> None:
        self.db = db
        self.timezone = timezone
        self.public_url = public_url
        self.clock = clock
        self.notices = notices
        self.admins = frozenset(admins)
        self.mlflow = mlflow
        # Slack statuses (who is away); set once a Slack client is at hand.
        self.statuses = statuses

    # --- entry points -------------------------------------------------------------

    def command(
        self, origin: Origin, command: str, text: str, settle: Settle | None = None
    ) -> Reply:
        """Run a slash command line and return the (ephemeral) reply (``settle``: see run)."""
        try:
            parsed = parsing.parse(command, text)
        except UsageError as exc:
            return error(str(exc))
        return self.run(origin, parsed, settle)

    def run(
        self,
        origin: Origin,
        parsed: Command,
        settle: Settle | None = None,
        *,
        deadline: float | None = None,
    ) -> Reply:
        """Run one use case; a write commits with ``settle``'s work (see Settle).

        With ``settle``, a database failure or a bug is raised, not answered: the inbox
        worker tries the request again, and tells its user if it keeps failing.
        ``deadline`` (``time.monotonic()``, before an ack): Slack statuses are waited on
        until then at most (bot.services.availability.fetching_statuses).
        """

        def once(command: Command) -> Reply:
            write = not isinstance(command, READ_ONLY)
            with self.db.write() if write else self.db.read() as uow:
                result = self._execute(uow, self._context(uow, origin), command)
                if write:
                    if settle is not None:
                        settle(uow, result)
                    uow.commit()
                return result

        try:
            # MLflow is asked once, before any transaction; the transaction runs again
            # when Slack statuses had to be fetched first (bot.services.availability).
            prepared = self._prepare(origin, parsed)
            return fetching_statuses(self.statuses, lambda: once(prepared), deadline)
        except MlgovError as exc:
            if settle is not None and isinstance(exc, StorageError):
                raise
            return error(refusal(exc, origin))
        except Exception:  # a bug or an outage: the user, already acked, must hear something
            if settle is not None:
                raise
            log.exception("command %s failed", type(parsed).__name__)
            return error(UNEXPECTED)

    def mention(
        self,
        origin: Origin,
        event_id: str,
        channel: str,
        thread_ts: str,
        text: str,
        bot_user_id: str | None,
        files: Sequence[dict[str, Any]] = (),
        fetch: Fetch | None = None,
        still_held: StillHeld = held_anyway,
    ) -> bool:
        """Handle ``@mlgov <command line>`` once per event id; False for a repeat.

        The claim of the event id, the command's effect and the reply (through the
        outbox) commit together: a retry of a delivery that failed does the work, a
        retry of one that succeeded does nothing. ``eval`` and ``parity`` carry files
        (``still_held``: see bot.slack.uploads).
        """
        try:
            name, rest = parsing.parse_mention(text, bot_user_id)
        except UsageError:
            name, rest = "", ""
        if name in UPLOAD_USAGE and (fetch is not None or names_mlflow_run(rest)):
            origin = replace(origin, channel=origin.channel or channel)
            return handle_upload(
                self, origin, event_id, thread_ts, name, rest, files, fetch, still_held
            )
        prepared = self._prepare_mention(origin, name, rest)

        # Claimed, done and answered in one transaction; all of it again when Slack
        # statuses had to be fetched first (bot.services.availability).
        def once() -> bool:
            with self.db.write() as uow:
                if not uow.events.claim(origin.team_id, event_id, self.clock()):
                    return False
                savepoint = uow.session.begin_nested()
                public = False
                try:
                    if isinstance(prepared, Exception):
                        raise prepared
                    name, rest = parsing.parse_mention(text, bot_user_id)
                    if name in UPLOAD_USAGE:
                        raise UsageError(
                            f"'{name}' reads attached files, which only Slack can send; from a"
                            " terminal use `mlgov eval push` or `mlgov eval parity`.",
                            UPLOAD_USAGE[name],
                        )
                    parsed = prepared or parsing.parse(name, rest)
                    if isinstance(parsed, FORM_COMMANDS):
                        raise UsageError(
                            "In a mention, give the experiment's details.",
                            parsing.USAGE["exp"]["new"],
                        )
                    result = self._execute(uow, self._context(uow, origin), parsed)
                    savepoint.commit()
                    # Changes are news for the thread; what someone looked up is theirs alone
                    # (they may read a project the channel's other members may not).
                    public = not isinstance(parsed, READ_ONLY)
                except MlgovError as exc:
                    savepoint.rollback()
                    result = error(refusal(exc, origin))
                except StatusesNeeded:
                    raise  # the whole request again, once they are fetched (rolled back here)
                except Exception:
                    savepoint.rollback()
                    log.exception("mention %s failed", event_id)
                    result = error(UNEXPECTED)
                payload = {
                    "channel": channel,
                    "thread_ts": thread_ts,
                    "text": result.text,
                    "blocks": result.blocks,
                }
                if public:
                    message = OutgoingMessage(origin.team_id, channel, "chat.postMessage", payload)
                else:
                    payload["user"] = origin.user_id
                    message = OutgoingMessage(
                        origin.team_id, channel, "chat.postEphemeral", payload
                    )
                uow.outbox.add(message, self.clock())
                uow.commit()
            return True

        return fetching_statuses(self.statuses, once)

    def action(
        self, origin: Origin, action_id: str, value: str, settle: Settle | None = None
    ) -> Reply:
        """A button: take the step at once (with ``settle``, see run), or open its form."""
        if action_id in (review_render.APPROVE, review_render.CHANGES, review_render.DECLINE):
            return self._review_button(origin, action_id, value, settle)
        if action_id.startswith(snooze_render.ACTION_PREFIX):
            snooze = snooze_render.read_button(action_id, value)
            if snooze is None:
                return error("That button is not one I know; it may be from an older version.")
            return self.run(origin, snooze, settle)
        if action_id == swap_render.TAKE:
            if not (value.isascii() and value.isdigit()):
                return error("That offer no longer exists.")
            return self.run(origin, TakeSwap(int(value)), settle)
        step = action_id.removeprefix(render.ACTION_PREFIX)
        match = KEY_PATTERN.match(value)
        if step not in render.BUTTONS or match is None:
            return error("That button is not one I know; it may be from an older version.")
        number = int(match.group(1))
        form = STEP_FORMS.get(step)
        if form is None:
            return self.run(origin, Step(step, number), settle)
        try:
            with self.db.read() as uow:
                ctx = self._context(uow, origin)
                experiment = exp.show_experiment(uow, ctx, number)
                lifecycle.check(experiment, step, ctx.actor)  # say no before the form
        except MlgovError as exc:
            return error(str(exc))
        except Exception:
            log.exception("button %s failed", action_id)
            return error(UNEXPECTED)
        return Reply(text=f"{step} {experiment.key}", modal=form(experiment))

    def _review_button(
        self, origin: Origin, action_id: str, value: str, settle: Settle | None
    ) -> Reply:
        """Approve / Request changes… / Can't review, pressed on a review request."""
        try:
            with self.db.read() as uow:
                known = value.isascii() and value.isdigit()
                review = uow.reviews.get(int(value)) if known else None
                experiment = uow.experiments.by_id(review.experiment_id) if review else None
                if review is None or experiment is None:
                    return error("That review no longer exists.")
                if not review.open:
                    return error(
                        f"This review of {experiment.key} is closed or was superseded"
                        " by a newer request; use the latest one in the thread."
                    )
                form = REVIEW_FORMS.get(action_id)
                if form is not None:
                    # Check the right to review before the form, not after it is filled in.
                    ctx = self._context(uow, origin)
                    reviews_service.check_reviewer(ctx, experiment)
                    return Reply(
                        text=f"Request changes to {experiment.key}",
                        modal=form(experiment, review.id),
                    )
        except MlgovError as exc:
            return error(str(exc))
        except Exception:
            log.exception("review button %s failed", action_id)
            return error(UNEXPECTED)
        if action_id == review_render.APPROVE:
            return self.run(origin, DecideReview(experiment.number, True, "", review.id), settle)
        return self.run(origin, DeclineReview(experiment.number, "", review.id), settle)

    def submit(
        self, origin: Origin, callback_id: str, metadata: str, state: dict[str, Any]
    ) -> Reply | forms.FieldErrors:
        """A submitted form: field errors to show in the form, or the reply."""
        values = forms.form_values(state)
        parsed: Command | forms.FieldErrors
        if callback_id == forms.NEW_EXPERIMENT:
            parsed = forms.read_new_experiment(values)
        elif callback_id in (forms.CONCLUDE, forms.ABANDON):
            match = KEY_PATTERN.match(metadata)
            if match is None:
                return error("This form lost track of its experiment; open it again.")
            parsed = forms.read_step(callback_id, int(match.group(1)), values)
        elif callback_id == forms.CHANGES:
            parsed = forms.read_changes(metadata, values)
        else:
            return error("That form is not one I know.")
        if isinstance(parsed, dict):
            return parsed
        # Run before the ack (a refusal shows in the form): Slack is waited on briefly.
        return self.run(origin, parsed, deadline=time.monotonic() + STATUSES_BEFORE_ACK_SECONDS)

    def form_opened(self, origin: Origin, action_id: str, value: str) -> None:
        """A button's form is open: start reading the Slack statuses its submission will
        need, in the background (see FORMS_PICKING_REVIEWERS)."""
        step = action_id.removeprefix(render.ACTION_PREFIX)
        match = KEY_PATTERN.match(value)
        if self.statuses is None or step not in FORMS_PICKING_REVIEWERS or match is None:
            return
        try:
            with self.db.read() as uow:
                experiment = uow.experiments.require(origin.team_id, int(match.group(1)))
                project = uow.projects.require(origin.team_id, experiment.project)
                users = scientists_of(uow, project)
        except MlgovError:  # gone meanwhile: the submission will say so
            return
        try:
            self.statuses.prefetch(origin.team_id, users)
        except Exception:  # only a head start: the submission reads them if need be
            log.exception("reading Slack statuses for a form failed")

    def calendar(self, name: str, key: str) -> bytes | None:
        """The iCalendar file ``key`` opens at ``/calendar/<name>.ics``, as its owner may
        read it now; None (answered 404) when it opens nothing there."""
        with self.db.read() as uow:
            found = calendar_service.find_key(uow, key)
            if found is None:
                return None
            # A feed never waits on Slack: it plans with the statuses last read.
            ctx = replace(self._context(uow, Origin(found.team_id, found.user_id)), statuses=None)
            feed = calendar_service.feed(uow, ctx, found, name)
        return None if feed is None else calendar_ics.render(feed, ctx.now)

    # --- the use cases -------------------------------------------------------------

    def _prepare(self, origin: Origin, parsed: Command) -> Command:
        """What a command needs from MLflow, fetched before its transaction opens (no
        database lock waits on another service)."""
        if isinstance(parsed, LinkMlflowRun) and not parsed.url:
            with self.db.read() as uow:
                ctx = self._context(uow, origin)
            return mlflow_links.prepare_link(self.db, ctx, parsed)
        return parsed

    def _prepare_mention(self, origin: Origin, name: str, rest: str) -> Command | Exception | None:
        """A mention's prepared command, or what refused it (None: nothing to prepare)."""
        try:
            parsed = parsing.parse(name, rest) if name in parsing.PARSERS else None
        except UsageError:
            return None  # said by the mention's own parse, in its transaction
        if not isinstance(parsed, LinkMlflowRun):
            return None
        try:
            return self._prepare(origin, parsed)
        except Exception as exc:  # told in the mention's transaction, as any refusal
            return exc

    def _context(self, uow: UnitOfWork, origin: Origin) -> Context:
        actor = team.resolve_actor(
            uow, origin.team_id, origin.user_id, self.admins, origin.workspace_admin
        )
        return Context(
            actor,
            self.clock(),
            self.notices,
            self.timezone,
            origin.channel,
            mlflow=self.mlflow,
            public_url=self.public_url,
            statuses=self.statuses,
        )

    def _execute(self, uow: UnitOfWork, ctx: Context, cmd: Command) -> Reply:
        handler = HANDLERS.get(type(cmd))
        if handler is None:
            raise AssertionError(f"no handler for {cmd!r}")
        return handler(uow, ctx, cmd)
