"""A fake Slack Socket Mode WebSocket server on 127.0.0.1, stdlib only, for tests.

Hand ``fake.url`` to the app as the ``url`` answered by ``apps.connections.open``. On each
connection the fake says ``hello`` as Slack does; a test pushes envelopes with :meth:`send`
and reads what the app sent back (its acks) with :meth:`received` or :meth:`wait_for_ack`.
Pings are answered with pongs and a close frame with a close frame.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import socketserver
import struct
import threading
from collections.abc import Callable
from typing import Any

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final frame (servers never mask, RFC 6455 section 5.1)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


class FakeSocketMode:
    """In-process fake of Slack's Socket Mode endpoint; a context manager."""

    def __init__(self, app_id: str = "A1") -> None:
        self.app_id = app_id
        self._cond = threading.Condition()
        self._received: list[dict[str, Any]] = []
        self._connections: list[_Connection] = []  # handshake done
        self._accepted: list[_Connection] = []  # every TCP connection, to hang up on stop
        self._pings = 0
        self._ids = itertools.count(1)
        self._server: _Server | None = None

    def start(self) -> FakeSocketMode:
        """Listen on an OS-chosen port, accepting in a daemon thread (a thread per client)."""
        fake = self

        class Handler(_Connection):
            socket_mode = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and hang up on every client."""
        if self._server is None:
            return
        self._server.shutdown()
        with self._cond:
            accepted = list(self._accepted)
        for connection in accepted:
            connection.hang_up()
        self._server.server_close()  # joins the connection threads, which have now ended
        self._server = None

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The WebSocket URL for apps.connections.open to hand out."""
        if self._server is None:
            raise RuntimeError("FakeSocketMode is not started")
        return f"ws://127.0.0.1:{self._server.server_address[1]}/link/?ticket=t{self.app_id}"

    @property
    def connections(self) -> list[_Connection]:
        """Every connection that completed the handshake, oldest first."""
        with self._cond:
            return list(self._connections)

    @property
    def pings_answered(self) -> int:
        with self._cond:
            return self._pings

    def received(self) -> list[dict[str, Any]]:
        """JSON messages the clients sent (acks), in arrival order."""
        with self._cond:
            return list(self._received)

    def send(self, kind: str, payload: dict[str, Any], **extra: Any) -> str:
        """Push an envelope to the newest connection; return its envelope_id."""
        envelope_id = f"env-{next(self._ids)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            **extra,
        }
        self.send_raw(envelope)
        return envelope_id

    def send_raw(self, message: dict[str, Any]) -> None:
        """Push any JSON message (e.g. ``{"type": "disconnect"}``) to the newest connection."""
        self.wait_until(lambda: bool(self._connections), "a client to connect")
        self.connections[-1].write(frame(TEXT, json.dumps(message).encode()))

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The client's answer to ``envelope_id``; AssertionError on timeout."""
        self.wait_until(
            lambda: any(m.get("envelope_id") == envelope_id for m in self._received),
            f"the ack of {envelope_id}",
            timeout,
        )
        return next(m for m in self.received() if m.get("envelope_id") == envelope_id)

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        """Block until ``ready()`` (evaluated under the lock) is true."""
        with self._cond:
            if not self._cond.wait_for(ready, timeout):
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def _record(self, message: dict[str, Any] | None = None, ping: bool = False) -> None:
        with self._cond:
            if message is not None:
                self._received.append(message)
            if ping:
                self._pings += 1
            self._cond.notify_all()


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    block_on_close = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client vanishes mid-write."""


class _Connection(socketserver.StreamRequestHandler):
    """One client: the opening handshake, then frames until close or hang-up."""

    socket_mode: FakeSocketMode

    def setup(self) -> None:
        super().setup()
        self._send_lock = threading.Lock()
        with self.socket_mode._cond:
            self.socket_mode._accepted.append(self)

    def handle(self) -> None:
        if not self._handshake():
            return
        fake = self.socket_mode
        with fake._cond:
            fake._connections.append(self)
            count = len(fake._connections)
            fake._cond.notify_all()
        hello = {
            "type": "hello",
            "num_connections": count,
            "debug_info": {"host": "fake-applink", "approximate_connection_time": 3600},
            "connection_info": {"app_id": fake.app_id},
        }
        self.write(frame(TEXT, json.dumps(hello).encode()))
        while (received := self._read_frame()) is not None:
            opcode, payload = received
            if opcode == TEXT:
                fake._record(json.loads(payload))
            elif opcode == PING:
                self.write(frame(PONG, payload))
                fake._record(ping=True)
            elif opcode == CLOSE:
                self.write(frame(CLOSE, payload[:2]))
                return

    def _handshake(self) -> bool:
        request = self.rfile.readline().decode("latin-1")
        headers = {}
        while (line := self.rfile.readline().decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        key = headers.get("sec-websocket-key")
        upgrade = headers.get("upgrade", "").lower() == "websocket"
        if not (request.startswith("GET ") and upgrade and key):
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        accept = base64.b64encode(hashlib.sha1(f"{key}{_GUID}".encode()).digest()).decode()
        self.write(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        return True

    def _read_frame(self) -> tuple[int, bytes] | None:
        """(opcode, unmasked payload) of the next frame; None when the client hung up."""
        header = self.rfile.read(2)
        if len(header) < 2:
            return None
        opcode, size = header[0] & 0x0F, header[1] & 0x7F
        if size >= 126:
            wide = self.rfile.read(2 if size == 126 else 8)
            size = int.from_bytes(wide, "big")
        mask = self.rfile.read(4) if header[1] & 0x80 else b"\0\0\0\0"
        data = self.rfile.read(size)
        if len(data) < size:
            return None
        return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    def write(self, data: bytes) -> None:
        with self._send_lock:
            self.wfile.write(data)

    def close(self, code: int = 1001, reason: str = "going away") -> None:
        """Start a closing handshake from the server side, as Slack may at any time."""
        self.write(frame(CLOSE, struct.pack("!H", code) + reason.encode()))

    def hang_up(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        try:
            self.request.shutdown(2)  # SHUT_RDWR: wakes this connection's reader thread
        except OSError:
            pass  # already gone
