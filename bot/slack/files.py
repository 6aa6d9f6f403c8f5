"""Downloading a file someone shared with the bot: Slack's private URL, the bot token, a limit."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.errors import ValidationError
from bot.domain.ingest import MAX_BYTES


class SlackFiles:
    """Fetches a shared file's bytes; the token is only ever sent to Slack's own hosts."""

    def __init__(self, client: WebClient, timeout: float = 60.0) -> None:
        self.client = client
        self.timeout = timeout
        api_host = urlparse(client.base_url).hostname or "slack.com"
        self.hosts = (api_host, "slack.com") if api_host != "slack.com" else ("slack.com",)

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
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
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
