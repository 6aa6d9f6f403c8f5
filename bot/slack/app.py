"""The Bolt app (HTTP or Socket Mode), with the Slack client passed in."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_bolt import App
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.errors import ConfigError
from bot.slack.dispatch import Dispatcher
from bot.slack.listeners import register


def build_bolt_app(client: WebClient, signing_secret: str | None, dispatcher: Dispatcher) -> App:
    """A Bolt app whose listeners store each request in the inbox and ack; workers run it."""
    logger = logging.getLogger("mlgov.bolt")
    logger.addFilter(_not_the_token_warning)
    with _asking(client):
        app = App(
            client=client,
            signing_secret=signing_secret or "unused-in-socket-mode",
            # Listeners run on the request thread and answer with the ack (the inbox holds
            # the work); forms answer after their use case so errors show in the form.
            process_before_response=True,
            # Every request reaches Bolt through bot.slack.http.mount, whose guard has
            # checked its signature already (Socket Mode requests are not signed): a
            # second HMAC and header parse per ack would only cost the acks time.
            request_verification_enabled=False,
            logger=logger,
        )
    register(app, dispatcher)
    return app


def bot_user_id(client: WebClient) -> str | None:
    """The bot's own user id (auth.test), for a worker that runs without a Bolt app."""
    with _asking(client):
        return client.auth_test().get("user_id")


@contextmanager
def _asking(client: WebClient) -> Iterator[None]:
    """auth.test at start: a refused token or an unreachable Slack is a ConfigError."""
    try:
        yield
    except (BoltError, SlackApiError) as exc:  # auth.test refused the bot token
        raise ConfigError(f"SLACK_BOT_TOKEN was refused by Slack ({exc}).") from None
    except OSError as exc:  # URLError and timeouts: Slack (or SLACK_API_URL) unreachable
        raise ConfigError(f"Cannot reach the Slack API at {client.base_url}: {exc}.") from None


def _not_the_token_warning(record: logging.LogRecord) -> bool:
    # Bolt reads SLACK_BOT_TOKEN from the environment although the client carries it,
    # and warns on every start that it will not use it; that is what we want.
    return "token will be unused" not in record.getMessage()


def web_client(token: str, api_url: str) -> WebClient:
    """The one WebClient of the process; every Web API call goes to ``api_url``."""
    return WebClient(token=token, base_url=api_url, timeout=10)


def connect_socket_mode(bolt_app: App, app_token: str) -> Any:
    """Connect over slack_sdk's built-in WebSocket client; a refused token is a ConfigError."""
    from bot.slack.socket_mode import CheckedSocketModeHandler

    handler = CheckedSocketModeHandler(bolt_app, app_token)
    try:
        handler.connect()  # type: ignore[no-untyped-call]
    except SlackApiError as exc:
        handler.close()  # type: ignore[no-untyped-call]
        error = exc.response.get("error") or exc.response.status_code
        raise ConfigError(f"SLACK_APP_TOKEN was refused by Slack ({error}).") from None
    return handler
