"""Form submissions. The use case runs before ack so that a refusal shows in the form.

They do not go through the inbox: the ack is the HTTP response to the submission, and
the effect (with its Slack messages, in the outbox) is committed before it is sent, so
an acknowledged submission is durable already. A crash before the commit leaves the
form open with no answer, and its user can submit it again.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.slack.blocks import Reply
from bot.slack.blocks.forms import ABANDON, CHANGES, CONCLUDE, NEW_EXPERIMENT
from bot.slack.dispatch import Dispatcher, Origin
from bot.slack.requests import installing_team

FORMS = (NEW_EXPERIMENT, CONCLUDE, ABANDON, CHANGES)


def register(app: App, dispatcher: Dispatcher) -> None:
    def on_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        origin = Origin(installing_team(body), body["user"]["id"])
        result = dispatcher.submit(
            origin, view["callback_id"], view.get("private_metadata", ""), view["state"]["values"]
        )
        if isinstance(result, Reply):
            if result.failed:  # e.g. not allowed: show why on the form's last field
                last = view["blocks"][-1]["block_id"] if view.get("blocks") else "title"
                ack(response_action="errors", errors={last: result.text[:150]})
            else:
                ack()
        else:
            ack(response_action="errors", errors=result)

    for callback_id in FORMS:
        app.view(callback_id)(on_submit)
