"""The production WSGI server (waitress, threaded), startable in the background for tests.

Each request's environ carries ``ARRIVED``: the time.monotonic() at which waitress had
read all of it, before it waited for a thread. Slack's 3 s for an ack count from there,
so the ack path spends what is left of them, not a fresh budget (bot.slack.http)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer, create_server
from waitress.task import WSGITask

ARRIVED = "mlgov.arrived"


class _StampedParser(HTTPRequestParser):
    """A request parser that notes when its request was read whole."""

    arrived: float | None = None

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if self.completed and self.arrived is None:
            self.arrived = time.monotonic()
        return consumed


class _StampedTask(WSGITask):
    def get_environment(self) -> Any:
        environ = super().get_environment()
        arrived = getattr(self.request, "arrived", None)
        if arrived is not None:
            environ[ARRIVED] = arrived
        return environ


class _StampedChannel(HTTPChannel):
    parser_class = _StampedParser
    task_class = _StampedTask


class HttpServer:
    def __init__(
        self, wsgi_app: Any, host: str = "127.0.0.1", port: int = 0, threads: int = 16
    ) -> None:
        # waitress logs "Task queue depth is N" for every request that waits for a thread:
        # under a burst, a log line per request, written while the acks wait. Errors only.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        # channel_timeout bounds idle keep-alive connections; backlog absorbs bursts.
        self._server: Any = create_server(
            wsgi_app,
            host=host,
            port=port,
            threads=threads,
            backlog=1024,
            channel_timeout=60,
            ident="mlgov",
        )
        servers = getattr(self._server, "map", None) or {0: self._server}  # several sockets
        for server in list(servers.values()):
            if isinstance(server, BaseWSGIServer):
                server.channel_class = _StampedChannel
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        return f"http://{self._server.effective_host}:{self.port}"

    def serve_forever(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):
            # Closing the listening socket from another thread ends the select loop
            # with EBADF; that is how a stop looks, anything else is a real failure.
            if not self._stopping:
                raise

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self.serve_forever, name="mlgov-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        stopped_before, self._stopping = self._stopping, True
        thread = self._thread
        if thread is None or not thread.is_alive():
            if not stopped_before:
                self._server.close()
            return
        # Served in the background: close every socket from the loop's own thread, woken
        # by waitress's trigger. Closing the listening socket from here left the loop in
        # select() until its one-second timeout whenever a connection was still open.
        try:
            self._server.trigger.pull_trigger(self._close_all)
        except OSError:  # the trigger is closed already: an earlier stop, the loop ending
            pass
        thread.join(5)
        # Its request threads outlive the sockets unless told to end (each stopped server
        # left them waiting); one still answering finishes first (an ack takes 2 s at most).
        self._server.task_dispatcher.shutdown(timeout=3)

    def _close_all(self) -> None:
        self._server.close()  # the listening socket and the trigger
        wasyncore.close_all(self._server._map)  # connections still open: the loop ends
