"""``GET /calendar/<project>.ics?key=…`` and ``GET /calendar/me.ics?key=…``: calendar feeds.

A thin route over the dispatcher (bot.slack.dispatch.Dispatcher.calendar): the key in the
URL decides whose feed it is. Anything it does not open — no key, a wrong, revoked or
foreign key, a project its owner left — gets the same 404, so the answer tells nothing.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, request

from bot.domain.errors import StorageError
from bot.slack.dispatch import Dispatcher

log = logging.getLogger(__name__)
NOT_FOUND = "No such calendar.\n"


def mount(web: Flask, dispatcher: Dispatcher) -> None:
    def calendar_feed(name: str) -> Response:
        try:
            body = dispatcher.calendar(name, request.args.get("key", ""))
        except StorageError:
            return Response(
                "The database is busy; try again shortly.\n", 503, mimetype="text/plain"
            )
        except Exception:  # a bug: logged, answered without a traceback
            log.exception("calendar feed %s failed", name[:40])
            return Response("Something went wrong on our side.\n", 500, mimetype="text/plain")
        if body is None:
            return Response(NOT_FOUND, 404, mimetype="text/plain")
        response = Response(body, 200, content_type="text/calendar; charset=utf-8")
        response.headers["Content-Disposition"] = f'inline; filename="{name}.ics"'
        # The URL holds a secret: not to be kept by shared caches, nor sent on as a referrer.
        response.headers["Cache-Control"] = "private, max-age=300"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    web.add_url_rule("/calendar/<name>.ics", "calendar_feed", calendar_feed, methods=["GET"])
