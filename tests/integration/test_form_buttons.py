"""Every button, pressed where it is accepted, opens a form exactly when its request is
classified urgent (bot.slack.inbox_replies.answered_by_form): a form classified regular
would wait behind long work and miss Slack's 3 s for its trigger_id."""

from __future__ import annotations

from bot.slack.blocks import Reply
from bot.slack.blocks.experiments import ACTION_PREFIX, BUTTONS
from bot.slack.blocks.reviews import APPROVE, CHANGES, DECLINE
from bot.slack.dispatch import Dispatcher, Origin
from bot.slack.inbox_replies import answered_by_form
from tests.integration.conftest import TEAM, Team

CRITERION = "--hypothesis tenure predicts churn --metric auc --min-delta 0.01"


def ok(dispatcher: Dispatcher, user: str, line: str) -> Reply:
    name, _, text = line.partition(" ")
    reply = dispatcher.command(Origin(TEAM, user), name, text)
    assert not reply.failed, reply.text
    return reply


def test_a_button_opens_a_form_exactly_when_its_request_is_urgent(team: Team) -> None:
    dispatcher = Dispatcher(team.db, team.clock, team.notices)
    ok(dispatcher, "UALICE", f"/exp new churn Tenure features {CRITERION}")
    ok(dispatcher, "UALICE", f"/exp new churn Seasonality {CRITERION}")
    pressed: dict[str, Reply] = {}

    def press(user: str, step: str, value: str) -> None:
        pressed[step] = dispatcher.action(Origin(TEAM, user), step, value)
        assert not pressed[step].failed, (step, pressed[step].text)

    press("UALICE", ACTION_PREFIX + "start", "EXP-1")
    press("UALICE", ACTION_PREFIX + "analyze", "EXP-1")
    press("UALICE", ACTION_PREFIX + "conclude", "EXP-1")  # the form; nothing changes yet
    press("UALICE", ACTION_PREFIX + "abandon", "EXP-2")
    ok(dispatcher, "UALICE", "/exp conclude EXP-1 success tenure lifts AUC by 0.02")
    review = team.read(lambda uow: uow.reviews.latest(uow.experiments.require(TEAM, 1).id))
    assert review is not None and review.open
    press("UBOB", CHANGES, str(review.id))
    press("UBOB", APPROVE, str(review.id))
    pressed[DECLINE] = dispatcher.action(Origin(TEAM, "UERIN"), DECLINE, str(review.id))

    assert set(pressed) == {ACTION_PREFIX + s for s in BUTTONS} | {APPROVE, CHANGES, DECLINE}
    for action_id, reply in pressed.items():
        body = {"actions": [{"action_id": action_id}]}
        assert (reply.modal is not None) is answered_by_form("action", body), action_id


def test_a_bare_exp_opens_the_new_experiment_form_and_is_urgent(team: Team) -> None:
    dispatcher = Dispatcher(team.db, team.clock, team.notices)
    for text in ("", "new"):
        reply = ok(dispatcher, "UALICE", f"/exp {text}".strip())
        assert reply.modal is not None
        assert answered_by_form("command", {"command": "/exp", "text": text})
