"""A fake Slack Web API served over real HTTP on 127.0.0.1 for tests.

Point the app (or ``slack_sdk.WebClient(base_url=...)``) at ``fake.api_url``. Every request
is recorded as a :class:`Call`; failures, Slack errors and delays can be queued per method,
and a method's answer can be replaced with :meth:`FakeSlack.answer`.
Header names in ``Call.headers`` are lower-cased.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes import block_kit

# Form-encoded fields that carry JSON (slack_sdk json.dumps these when not sending a JSON body).
_JSON_FIELDS = {"blocks", "attachments", "view", "files", "metadata", "unfurls"}


@dataclass
class Call:
    """One request received by the fake."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    path: str
    status: int = 200  # HTTP status answered (not 200 when a fail_next() was consumed)
    response: dict[str, Any] = field(default_factory=dict)  # JSON body answered


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """Decode a JSON or form-encoded body into a dict (other bodies give {})."""
    if not raw:
        return {}
    if "json" in content_type:
        data = json.loads(raw)
        return data if isinstance(data, dict) else {"_json": data}
    if "x-www-form-urlencoded" in content_type:
        params: dict[str, Any] = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        for key in _JSON_FIELDS & params.keys():
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                pass
        return params
    return {}


class FakeSlack:
    """In-process fake Slack Web API; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        bot_user_id: str = "UBOT",
        team_id: str = "T1",
        users: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self.users = dict(users or {})
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._messages: list[dict[str, Any]] = []
        # Per method: (status, body, headers, channel the failure is for or None for any).
        self._failures: dict[str, deque[tuple[int, dict[str, Any], dict[str, str], str | None]]]
        self._failures = defaultdict(deque)
        self._delays: dict[str, deque[float]] = defaultdict(deque)
        self._answers: dict[str, dict[str, Any]] = {}
        # users.profile.get: user id -> the status fields of their profile.
        self._statuses: dict[str, dict[str, Any]] = {}
        self._hosted: dict[str, bytes] = {}
        self._uploads: dict[str, bytes] = {}
        self._file_names: dict[str, str] = {}
        self._seq = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        """Bind an OS-chosen port and serve in a daemon thread."""
        fake = self

        class Handler(_Handler):
            slack = fake

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and close its socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Root URL of the running server, e.g. http://127.0.0.1:PORT."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        """Web API base URL (with trailing slash) for WebClient(base_url=...)."""
        return f"{self.base_url}/api/"

    def response_url(self, key: str = "r") -> str:
        """A response_url whose posts are recorded as method "response_url" with params["_key"]."""
        return f"{self.base_url}/response/{key}"

    def host_file(self, path: str, data: bytes) -> str:
        """Serve ``data`` at /files-pri/<path> (bearer token required); return the full URL."""
        path = path.lstrip("/").removeprefix("files-pri/")
        with self._lock:
            self._hosted[path] = data
        return f"{self.base_url}/files-pri/{path}"

    def uploaded(self, file_id: str) -> bytes:
        """Bytes posted to the upload URL issued for ``file_id``."""
        with self._lock:
            return self._uploads[file_id]

    # -- inspection --------------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[Call]:
        """Snapshot of recorded calls (optionally for one method), in arrival order."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Params (plus assigned "ts") of successful chat.postMessage calls, in order."""
        with self._lock:
            return [dict(m) for m in self._messages if channel is None or m["channel"] == channel]

    def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 10.0,
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Poll until at least ``count`` matching calls arrived; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls(method) if predicate is None or predicate(c)]
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                seen = "\n".join(
                    f"  {c.method} [{c.status}] {json.dumps(c.params, default=str)[:200]}"
                    for c in self.calls()
                )
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} x {method!r} "
                    f"(got {len(found)}); calls seen:\n{seen or '  (none)'}"
                )
            time.sleep(0.01)

    # -- scripting ---------------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        *,
        status: int,
        retry_after: int | None = None,
        body: dict[str, Any] | None = None,
        times: int = 1,
        channel: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP ``status``; only calls
        to ``channel`` when given (one token serves every workspace in tests, so a channel
        stands for its workspace)."""
        if body is None:
            error = "ratelimited" if status == 429 else "internal_error"
            body = {"ok": False, "error": error}
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self._failures[method].extend([(status, body, headers, channel)] * times)

    def error_next(self, method: str, error: str, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP 200 {"ok": false, error}."""
        with self._lock:
            self._failures[method].extend([(200, {"ok": False, "error": error}, {}, None)] * times)

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Sleep ``seconds`` before answering the next ``times`` calls of ``method``."""
        with self._lock:
            self._delays[method].extend([seconds] * times)

    def answer(self, method: str, body: dict[str, Any]) -> None:
        """Answer every later call of ``method`` with ``body`` (HTTP 200), kept across reset().

        For methods the fake has no answer of its own, e.g.
        ``answer("apps.connections.open", {"ok": True, "url": socket_mode.url})``.
        """
        with self._lock:
            self._answers[method] = dict(body)

    def set_status(self, user: str, emoji: str = "", text: str = "", expiration: int = 0) -> None:
        """Give ``user`` a Slack status (``expiration``: Unix seconds, 0 for none), as
        users.profile.get then answers; an empty one clears it."""
        with self._lock:
            self._statuses[user] = {
                "status_emoji": emoji,
                "status_text": text,
                "status_expiration": expiration,
            }

    def reset(self) -> None:
        """Forget recorded calls, messages and queued failures/delays."""
        with self._lock:
            self._calls.clear()
            self._messages.clear()
            self._failures.clear()
            self._delays.clear()

    # -- request handling --------------------------------------------------------------------
    def _handle(self, call: Call, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Record ``call`` and compute (status, json body, extra headers)."""
        with self._lock:
            delay = self._delays[call.method].popleft() if self._delays[call.method] else 0.0
            failure = self._take_failure(call)
        if delay:
            time.sleep(delay)
        status, body, headers = failure or (200, self._answer(call, raw), {})
        call.status, call.response = status, body
        with self._lock:
            self._calls.append(call)
            if call.method == "chat.postMessage" and status == 200 and body.get("ok"):
                self._messages.append({**call.params, "ts": body["ts"]})
        return status, body, headers

    def _take_failure(self, call: Call) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """The first queued failure of the call's method that applies to its channel."""
        queued = self._failures[call.method]
        for failure in queued:
            status, body, headers, channel = failure
            if channel is None or channel == call.params.get("channel"):
                queued.remove(failure)
                return status, body, headers
        return None

    def _ts(self) -> str:
        micros = 1_700_000_000_000_000 + next(self._seq) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _answer(self, call: Call, raw: bytes) -> dict[str, Any]:
        """The successful JSON answer for ``call``."""
        p, m = call.params, call.method
        with self._lock:
            canned = self._answers.get(m)
        if canned is not None:
            return dict(canned)
        refused = block_kit.refusal(m, p)  # what Slack refuses, the fake refuses too
        if refused is not None:
            return refused
        if m == "auth.test":
            return {
                "ok": True,
                "url": "https://test.slack.com/",
                "team": "Test",
                "user": "mlgov",
                "team_id": self.team_id,
                "user_id": self.bot_user_id,
                "bot_id": "B1",
            }
        if m == "chat.postMessage":
            if not p.get("channel"):
                return {"ok": False, "error": "channel_not_found"}
            ts = self._ts()
            message = {
                "type": "message",
                "user": self.bot_user_id,
                "ts": ts,
                "text": p.get("text", ""),
                "blocks": p.get("blocks", []),
            }
            return {"ok": True, "channel": p["channel"], "ts": ts, "message": message}
        if m == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._ts()}
        if m in ("chat.update", "chat.delete"):
            return {"ok": True, "channel": p.get("channel"), "ts": p.get("ts")}
        if m == "conversations.join":
            return {"ok": True, "channel": {"id": p.get("channel")}}
        if m == "conversations.open":
            cid = p.get("channel") or "D" + str(p.get("users", "")).split(",")[0]
            return {"ok": True, "channel": {"id": cid}}
        if m in ("views.open", "views.update", "views.push", "views.publish"):
            view = p["view"] if isinstance(p.get("view"), dict) else {}
            vid = p.get("view_id") or f"V{next(self._seq)}"
            return {"ok": True, "view": {**view, "id": vid}}
        if m == "users.info":
            uid = str(p.get("user", ""))
            user = {
                "id": uid,
                "name": uid.lower(),
                "is_admin": False,
                "tz": "UTC",
                "profile": {"display_name": uid.lower()},
            }
            return {"ok": True, "user": {**user, **self.users.get(uid, {})}}
        if m == "users.profile.get":
            uid = str(p.get("user", ""))
            with self._lock:
                status = dict(self._statuses.get(uid, {}))
            profile = {"display_name": uid.lower(), "status_emoji": "", "status_text": ""}
            return {"ok": True, "profile": {**profile, "status_expiration": 0, **status}}
        if m == "files.getUploadURLExternal":
            fid = f"F{next(self._seq)}"
            with self._lock:
                self._file_names[fid] = str(p.get("filename", fid))
            return {"ok": True, "upload_url": f"{self.base_url}/upload/{fid}", "file_id": fid}
        if m == "file.upload":
            with self._lock:
                self._uploads[p["file_id"]] = raw
            return {"ok": True}
        if m == "files.completeUploadExternal":
            files = p["files"] if isinstance(p.get("files"), list) else []
            return {
                "ok": True,
                "files": [{"id": f.get("id"), "title": f.get("title")} for f in files],
            }
        if m == "files.info":
            return {"ok": True, "file": self._file_info(str(p.get("file", "")))}
        return {"ok": True}

    def _file_info(self, fid: str) -> dict[str, Any]:
        """A files.info-style dict; uploaded bytes are served at its url_private."""
        with self._lock:
            name, data = self._file_names.get(fid, fid), self._uploads.get(fid, b"")
        url = self.host_file(f"{self.team_id}-{fid}/{name}", data)
        return {
            "id": fid,
            "name": name,
            "title": name,
            "size": len(data),
            "url_private": url,
            "url_private_download": url,
        }


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore errors such as clients that hung up after a delay_next() timeout."""


class _Handler(BaseHTTPRequestHandler):
    slack: FakeSlack
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path.startswith("/files-pri/"):
            self._serve_file(url.path.removeprefix("/files-pri/"), headers)
            return
        if url.path.startswith("/upload/"):
            method = "file.upload"
            params.update(file_id=url.path.removeprefix("/upload/"), size=len(raw))
        else:
            params.update(_parse_body(headers.get("content-type", ""), raw))
            if url.path.startswith("/response/"):
                method = "response_url"
                params["_key"] = url.path.removeprefix("/response/")
            else:
                method = url.path.removeprefix("/api/")
        call = Call(method=method, params=params, headers=headers, path=self.path)
        status, body, extra = self.slack._handle(call, raw)
        self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8", extra)

    def _serve_file(self, path: str, headers: dict[str, str]) -> None:
        fake = self.slack
        with fake._lock:
            data = fake._hosted.get(path)
        ok = headers.get("authorization", "").startswith("Bearer ")
        status = 404 if data is None else 200 if ok else 403
        call = Call("file.download", {"path": path}, headers, self.path, status=status)
        with fake._lock:
            fake._calls.append(call)
        if status != 200 or data is None:
            self._send(status, b"not found" if data is None else b"forbidden", "text/plain", {})
        else:
            self._send(200, data, "application/octet-stream", {})

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
