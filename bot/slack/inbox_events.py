"""What a worker does with each subscribed event. To handle one more event, add it to
EVENT_HANDLERS: the ack path (listeners.events) stores every event named here.

A handler must be safe to run twice for one event (a crash before the row is finished
runs it again): mentions claim their event id with the effect; publishing a Home again
is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.services.home import publish_home
from bot.services.installs import INSTALL_EVENTS, on_install_event
from bot.slack.edits import answer_edit, is_edit
from bot.slack.files import SlackFiles

if TYPE_CHECKING:
    from bot.slack.inbox_work import InboxRunner
    from storage.inbox import InboxItem

EventHandler = Callable[["InboxRunner", "InboxItem", dict[str, Any]], None]


def on_mention(runner: InboxRunner, item: InboxItem, event: dict[str, Any]) -> None:
    """``@mlgov <command line>``: the command, once per event id, answered in the thread."""
    if event.get("bot_id") or event.get("user") in (None, runner.bot_user_id):
        return
    if is_edit(event):  # an edited message is not a new command (SPEC §9)
        answer_edit(runner.dispatcher, item.team_id, str(item.body["event_id"]), event)
        return
    # A mention may configure (@mlgov mlgov project add …): workspace admins count.
    origin = runner.origin(item.team_id, event["user"], event["channel"], configures=True)
    runner.dispatcher.mention(
        origin,
        str(item.body["event_id"]),
        event["channel"],
        event.get("thread_ts") or event["ts"],
        event.get("text", ""),
        runner.bot_user_id,
        event.get("files") or [],
        SlackFiles(runner.client),
        lambda: runner.ensure_held(item),  # before an evaluation is computed
    )


def on_home_opened(runner: InboxRunner, item: InboxItem, event: dict[str, Any]) -> None:
    """The Home tab opened: publish it. The Messages tab sends this event too: ignored."""
    if event.get("tab") != "home" or not event.get("user"):
        return
    d = runner.dispatcher
    publish_home(d.db, d.notices, d.clock(), d.timezone, item.team_id, event["user"], seen=True)


def on_install(runner: InboxRunner, item: InboxItem, event: dict[str, Any]) -> None:
    """``app_uninstalled`` / ``tokens_revoked``: pause the workspace (see services.installs)."""
    d = runner.dispatcher
    on_install_event(d.db, item.team_id, event, d.clock())


EVENT_HANDLERS: dict[str, EventHandler] = {
    "app_mention": on_mention,
    "app_home_opened": on_home_opened,
    **dict.fromkeys(INSTALL_EVENTS, on_install),
}
