"""Running one stored Slack request (an inbox row) through the Dispatcher, exactly once.

A write commits its effect, its outbox messages, its reply and the row's "done" in one
transaction (``Dispatcher.run``'s ``settle``): a crash before that commit leaves the row
pending and the effect undone, to be run again; after it, nothing is run twice. A read,
a refusal or a form is answered and the row finished in a transaction of its own
(running a read again is harmless): its reply is posted to the response_url at once and
only goes through the outbox when that post fails, which saves the outbox's lease and
settle (two writes, on SQLite behind the one lock the acks need) and its single
delivery thread. A crash between the post and the row's "done" answers that user twice;
a worker that stalled past its lease, while another took the row over, does not: before
posting, opening a form or computing an evaluation, it checks that it still holds the row
(``ensure_held``) and otherwise drops it.
Events are idempotent per event id by themselves (``Dispatcher.mention`` claims it with
the effect), so their row is finished afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient

from bot.domain.model import RESPONSE_URL, OutgoingMessage
from bot.domain.registry import INBOX_KIND as MLFLOW
from bot.domain.registry import parse_delivery
from bot.services.home import publish_home
from bot.services.registry_gate import record_event
from bot.slack.blocks import Reply
from bot.slack.dispatch import Dispatcher, Origin
from bot.slack.inbox_events import EVENT_HANDLERS
from bot.slack.inbox_replies import ReplyTo, describe, open_form, parked
from bot.slack.web_api import post_response
from bot.slack.workspace_admins import WorkspaceAdmins
from storage.inbox import InboxItem, InboxStore, LeaseLost
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
# Slack keeps a response_url for 30 minutes; the outbox needs some of that to deliver.
RESPONSE_URL_LIFETIME = timedelta(minutes=25)
# Only configuration asks Slack whether the user is a workspace admin.
CONFIGURING = frozenset({"/mlgov", "/rotation"})


class InboxRunner:
    """Runs claimed rows for one worker (``leases``: its InboxStore, holding their leases)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        client: WebClient,
        leases: InboxStore,
        bot_user_id: str | None,
        admins: WorkspaceAdmins | None = None,
        respond: Callable[[dict[str, Any]], dict[str, Any]] = post_response,
    ) -> None:
        self.dispatcher = dispatcher
        self.client = client
        self.leases = leases
        self.owner = leases.owner
        self.bot_user_id = bot_user_id
        self.admins = admins or WorkspaceAdmins()
        self.respond = respond

    def run(self, item: InboxItem) -> None:
        """Run the request and settle its row; raises when it should be tried again."""
        if item.kind == "command":
            self._command(item)
        elif item.kind == "action":
            self._action(item)
        elif item.kind == MLFLOW:
            self._registry_event(item)
        elif item.kind == "event":
            event = item.body.get("event") or {}
            handler = EVENT_HANDLERS.get(str(event.get("type")))
            if handler is not None:
                handler(self, item, event)
            self.finish(item, [])
        else:
            raise ValueError(f"inbox row {item.id} has an unknown kind {item.kind!r}")

    def give_up(self, item: InboxItem, why: str, tried: int) -> None:
        """Park the row after ``tried`` attempts and tell its user, in one transaction."""
        now = self.dispatcher.clock()
        # An MLflow delivery has nobody to tell: its row stays parked, with why, for the logs.
        told = []
        if item.kind != MLFLOW:
            told = reply_to(item, now).messages(parked(tried, describe(item.body)))
        with self.dispatcher.db.write() as uow:
            uow.inbox.park(item, self.owner, now, why)
            for message in told:
                uow.outbox.add(message, now)
            uow.commit()

    def _form_opened(self, item: InboxItem) -> None:
        """Tell the dispatcher a button's form is open (a head start on what its submission
        reads); the request is finished already, so nothing here may fail it."""
        try:
            action = (item.body.get("actions") or [{}])[0]
            origin = Origin(item.team_id, item.body["user"]["id"])
            self.dispatcher.form_opened(origin, action["action_id"], action.get("value", ""))
        except Exception:
            log.exception("after opening a form for inbox row %s", item.id)

    def finish(self, item: InboxItem, messages: list[OutgoingMessage]) -> None:
        """Mark the row done with the messages that answer it (a second transaction)."""
        now = self.dispatcher.clock()
        with self.dispatcher.db.write() as uow:
            uow.inbox.finish(item, self.owner, now)
            for message in messages:
                uow.outbox.add(message, now)
            uow.commit()

    def ensure_held(self, item: InboxItem) -> None:
        """Raise LeaseLost (the worker drops the row, with a log line) unless this worker
        still holds ``item``: asked before what cannot be taken back or is costly to do
        twice, which the worker that took the row over does in its turn."""
        if not self.leases.holds(item, self.dispatcher.clock()):
            raise LeaseLost(f"inbox row {item.id} was taken over by another worker")

    def origin(self, team_id: str, user_id: str, channel: str, configures: bool) -> Origin:
        """Who sent it; for configuration, whether Slack says they are a workspace admin
        (or why that could not be asked: see WorkspaceAdmins.ask)."""
        origin = Origin(team_id, user_id, channel=channel)
        return self.admins.ask(self.client, origin) if configures else origin

    # --- per kind ------------------------------------------------------------------------

    def _registry_event(self, item: InboxItem) -> None:
        """An MLflow registry webhook: a check of its model version is owed (a registry
        worker, woken by the commit, runs it against MLflow; see services.registry_gate)."""
        event = parse_delivery(item.body)  # verified and parsed once already, at the ack
        now = self.dispatcher.clock()
        with self.dispatcher.db.write() as uow:
            if event is not None:
                record_event(uow, event, now)
            uow.inbox.finish(item, self.owner, now)
            uow.commit()

    def _command(self, item: InboxItem) -> None:
        body = item.body
        configures = body.get("command") in CONFIGURING
        origin = self.origin(item.team_id, body["user_id"], body.get("channel_id", ""), configures)
        settle = _Settle(self, item, reply_to(item, self.dispatcher.clock()))
        reply = self.dispatcher.command(origin, body["command"], body.get("text", ""), settle)
        self._answer(item, settle, reply)

    def _action(self, item: InboxItem) -> None:
        body = item.body
        action = (body.get("actions") or [{}])[0]
        origin = Origin(item.team_id, body["user"]["id"])
        settle = _Settle(self, item, reply_to(item, self.dispatcher.clock()))
        reply = self.dispatcher.action(origin, action["action_id"], action.get("value", ""), settle)
        self._answer(item, settle, reply)
        if on_home(body):
            # A button on the Home tab: the Home then shows the new state (after a form,
            # its submission's change republishes it through the home job).
            d = self.dispatcher
            publish_home(
                d.db, d.notices, d.clock(), d.timezone, item.team_id, origin.user_id, seen=True
            )

    def _answer(self, item: InboxItem, settle: _Settle, reply: Reply) -> None:
        """Finish a row the write did not settle: a read, a refusal, or a form to open."""
        if settle.done:
            return
        self.ensure_held(item)  # the reply is posted now, or the form opened
        if reply.modal is not None:
            now = self.dispatcher.clock()
            instead = open_form(
                self.client, reply, item.body.get("trigger_id"), item.received_at, now
            )
            if instead is None:
                self.finish(item, [])
                if item.kind == "action":
                    self._form_opened(item)
                return
            reply = instead
        self.finish(item, self._post_now(settle.to.messages(reply)))

    def _post_now(self, messages: list[OutgoingMessage]) -> list[OutgoingMessage]:
        """Post replies to their response_url now; what is left (a DM, a failed post and
        every message after it, to keep their order) is for the outbox."""
        left: list[OutgoingMessage] = []
        for message in messages:
            if left or message.method != RESPONSE_URL:
                left.append(message)
                continue
            try:
                self.respond(dict(message.payload))
            except Exception as exc:  # the outbox retries, backs off, or gives up
                log.info("inbox: a reply could not be posted at once (%s): queued", exc)
                left.append(message)
        return left


class _Settle:
    """Dispatcher.run's ``settle`` for one row: done, and the reply queued, with the effect."""

    def __init__(self, runner: InboxRunner, item: InboxItem, to: ReplyTo) -> None:
        self.runner = runner
        self.item = item
        self.to = to
        self.done = False

    def __call__(self, uow: UnitOfWork, reply: Reply) -> None:
        now = self.runner.dispatcher.clock()
        uow.inbox.finish(self.item, self.runner.owner, now)
        for message in self.to.messages(reply):
            uow.outbox.add(message, now)
        self.done = True


def reply_to(item: InboxItem, now: datetime) -> ReplyTo:
    """Where the answer to a row goes (a button on a view has no response_url; one
    answered after its response_url expired goes by DM, or the user would never hear)."""
    body: dict[str, Any] = item.body
    fresh = now - item.received_at < RESPONSE_URL_LIFETIME
    url = body.get("response_url") if fresh else None
    if item.kind == "command":
        return ReplyTo(item.team_id, body.get("user_id", ""), url)
    if item.kind == "action":
        in_view = on_home(body)
        user = (body.get("user") or {}).get("id", "")
        # On the Home tab a success needs no message: the Home itself shows it.
        return ReplyTo(item.team_id, user, None if in_view else url, in_view)
    return ReplyTo(item.team_id, (body.get("event") or {}).get("user", ""), None)


def on_home(body: dict[str, Any]) -> bool:
    """Whether a button was pressed on the Home tab (mlgov puts buttons in messages and
    there only): no response_url, and the Home itself shows a success."""
    return (body.get("view") or {}).get("type") == "home"
