"""Whether Slack still lets mlgov act in a workspace: paused on uninstall, resumed on reinstall.

Paused means: scheduled jobs skip the workspace and its outbox waits (nothing is
dead-lettered, nothing is deleted). What pauses it: the ``app_uninstalled`` event, a
``tokens_revoked`` event that names bot tokens, or the Web API refusing the bot token
(``invalid_auth``, ``token_revoked``, ``account_inactive``) during a delivery.

What resumes it, decided from Slack's docs: uninstalling revokes the app's tokens, and
a reinstall (or regenerating the bot token) issues a new one. The one reliable sign
that mlgov may act in the workspace again is therefore ``auth.test`` succeeding with
the configured token *for that workspace* — checked at start and, while a workspace
is paused, by the outbox every few minutes. A signed request from the team is not
enough: Slack sends commands after a reinstall even while the operator has not yet
put the new token in ``SLACK_BOT_TOKEN``, and every delivery would fail again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from storage.unit_of_work import Database, UnitOfWork

log = logging.getLogger(__name__)

# Web API errors that mean the bot token no longer works in the workspace.
AUTH_ERRORS = frozenset({"invalid_auth", "token_revoked", "account_inactive"})
# Events that tell of an uninstall; subscribed in manifest.yml.
INSTALL_EVENTS = ("app_uninstalled", "tokens_revoked")
ACTOR = "slack"  # who the audit log names for changes Slack caused
PAUSED, RESUMED = "workspace_paused", "workspace_resumed"


def pause_workspace(uow: UnitOfWork, team_id: str, reason: str, now: datetime) -> bool:
    """Pause the workspace in this unit of work and audit it; True when it was running."""
    if not uow.pauses.pause(team_id, reason, now):
        return False
    uow.audit.record(team_id, ACTOR, PAUSED, now, detail={"reason": reason})
    return True


def tell_operator_paused(team_id: str, reason: str) -> None:
    """One log line per pause: what happened, what waits, and what brings it back."""
    log.error(
        "workspace %s paused (%s): its scheduled jobs skip it and its Slack messages wait,"
        " its data is kept. Reinstall mlgov in that workspace and put the bot token Slack"
        " then shows in SLACK_BOT_TOKEN; it resumes once Slack accepts the token for it.",
        team_id,
        reason,
    )


def on_install_event(db: Database, team_id: str, event: Mapping[str, Any], now: datetime) -> bool:
    """Handle ``app_uninstalled`` / ``tokens_revoked``; True when the workspace was paused.

    ``tokens_revoked`` also reports revoked user tokens, which mlgov does not use: only
    a revoked bot token pauses. A redelivered event changes nothing the second time.
    """
    kind = event.get("type")
    if kind == "tokens_revoked":
        tokens = event.get("tokens")
        if not isinstance(tokens, Mapping) or not tokens.get("bot"):
            return False
    elif kind != "app_uninstalled":
        return False
    if not team_id:
        log.warning("%s without a team id: ignored", kind)
        return False
    with db.write() as uow:
        paused = pause_workspace(uow, team_id, str(kind), now)
        uow.commit()
    if paused:
        tell_operator_paused(team_id, str(kind))
    return paused


def token_works(db: Database, team_id: str, now: datetime) -> bool:
    """``auth.test`` succeeded for ``team_id``: resume it if paused; True when resumed."""
    with db.write() as uow:
        reason = uow.pauses.resume(team_id)
        if reason is not None:
            uow.audit.record(team_id, ACTOR, RESUMED, now, detail={"paused_for": reason})
            uow.delivery.restart_give_up_clock(team_id, now)
        uow.commit()
    if reason is not None:
        log.warning("workspace %s resumed: Slack accepts the bot token again", team_id)
    return reason is not None


def paused_teams(db: Database) -> dict[str, str]:
    with db.read() as uow:
        return uow.pauses.paused()
