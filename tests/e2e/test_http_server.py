"""The WSGI server started in the background (as the e2e tests and embedded uses do)."""

from __future__ import annotations

import http.client
from typing import Any

from bot.server import HttpServer


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def test_stop_closes_the_connections_still_open_and_ends_the_serving_thread() -> None:
    server = HttpServer(hello, threads=2).start()
    client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        client.request("GET", "/")
        response = client.getresponse()
        assert (response.status, response.read()) == (200, b"hello")
        assert client.sock is not None  # HTTP/1.1: the connection stays open

        server.stop()

        assert server._thread is not None and not server._thread.is_alive()
        assert client.sock.recv(1) == b""  # closed by the server, not left to time out
    finally:
        client.close()


def test_stop_before_start_only_closes_the_listening_socket() -> None:
    server = HttpServer(hello)
    port = server.port
    server.stop()
    probe = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        try:
            probe.connect()
        except ConnectionRefusedError:
            return
        raise AssertionError(f"port {port} still accepts connections after stop()")
    finally:
        probe.close()
