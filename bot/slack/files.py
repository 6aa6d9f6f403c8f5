"""Downloading a file someone shared with the bot: Slack's private URL, the bot token, a limit."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from http.client import HTTPMessage
from typing import IO, Any
from urllib.parse import urlparse

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.errors import ValidationError
from bot.domain.ingest import MAX_BYTES

# Slack serves shared files from these domains (and their subdomains).
SLACK_FILE_HOSTS = ("slack.com", "slack-files.com", "slack-edge.com")


class _SlackOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, trusted: Callable[[str], bool]) -> None:
        self.trusted = trusted

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not self.trusted(newurl):
            fp.close()
            raise ValidationError(
                "Slack sent the file's download somewhere that is not Slack; I did not follow."
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class SlackFiles:
    """Fetches a shared file's bytes; the token is only ever sent to Slack's own hosts."""

    def __init__(self, client: WebClient, timeout: float = 60.0) -> None:
        self.client = client
        self.timeout = timeout
        api_host = urlparse(client.base_url).hostname or "slack.com"
        self.hosts = tuple(dict.fromkeys((api_host, *SLACK_FILE_HOSTS)))
        # A redirect is followed only to another of Slack's hosts: urllib would otherwise
        # carry the Authorization header (the bot token) wherever it is sent.
        self.opener = urllib.request.build_opener(_SlackOnlyRedirects(self._trusted))

    def __call__(self, file: dict[str, Any]) -> tuple[str, bytes]:
        name = str(file.get("name") or file.get("title") or file.get("id") or "file")
        url = file.get("url_private_download") or file.get("url_private")
        if not url and file.get("id"):
            # Events may carry a stub: files.info has the URL.
            try:
                info = self.client.files_info(file=str(file["id"])).get("file") or {}
            except SlackApiError as exc:
                raise ValidationError(f"I could not read {name} from Slack: {exc}") from exc
            url = info.get("url_private_download") or info.get("url_private")
            name = str(info.get("name") or name)
        if not url:
            raise ValidationError(f"Slack gave me no link to {name}; share it again.")
        if not self._trusted(str(url)):
            raise ValidationError(f"{name} is not hosted by Slack; I only read Slack's files.")
        return name, self._get(str(url), name)

    def _trusted(self, url: str) -> bool:
        parts = urlparse(url)
        host = parts.hostname or ""
        secure = parts.scheme == "https" or host in ("127.0.0.1", "localhost")
        return secure and any(host == h or host.endswith("." + h) for h in self.hosts)

    def _get(self, url: str, name: str) -> bytes:
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {self.client.token}"}
        )
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                data: bytes = response.read(MAX_BYTES + 1)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise ValidationError(
                f"I could not download {name} from Slack ({exc}); try again."
            ) from exc
        if len(data) > MAX_BYTES:
            raise ValidationError(
                f"{name} is over the {MAX_BYTES // 2**20} MB limit. Sample the held-out set or"
                " use the pipeline API."
            )
        return data
