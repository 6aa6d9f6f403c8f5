"""Socket Mode with the same shape check as HTTP: a malformed envelope is logged, not run."""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.slack.requests import body_problem

log = logging.getLogger(__name__)


class CheckedSocketModeHandler(SocketModeHandler):
    """Bolt's handler, refusing envelopes whose payload Bolt would choke on.

    There is no status to answer over the socket: such an envelope is not acknowledged
    (Slack may redeliver an event, and drops the rest), and one line says why.
    """

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]  # as Bolt does
        problem = body_problem(req.payload)
        if problem:
            log.warning("ignored a malformed Socket Mode %s envelope: %s", req.type, problem)
            return
        super().handle(client, req)
