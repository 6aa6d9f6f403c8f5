"""Settings, read once from the environment (and .env) by the composition root."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TypedDict
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.errors import ConfigError
from bot.domain.mlflow_runs import ARTIFACT_SUFFIXES as MLFLOW_ARTIFACT_SUFFIXES
from bot.domain.mlflow_runs import MLFLOW_OFF

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_MLFLOW_ARTIFACT = "mlgov/predictions"


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = "sqlite:///mlgov.db"
    admins: frozenset[str] = frozenset()
    timezone: str = "UTC"
    api_token: str | None = None  # MLGOV_API_TOKEN: pipelines push evaluations (and read)
    api_read_token: str | None = None  # MLGOV_API_READ_TOKEN: the read API only
    # The base URL at which Slack reaches mlgov (no trailing slash), for the calendar
    # URLs mlgov hands out; None: calendar feeds are off.
    public_url: str | None = None
    port: int = 3000
    # None: INFO for the service, WARNING in the shell (whose output is the conversation).
    log_level: str | None = None
    # MLflow (SPEC §12); no tracking URI: everything MLflow is off.
    mlflow_tracking_uri: str | None = None
    mlflow_tracking_token: str | None = field(default=None, repr=False)
    mlflow_username: str | None = None
    mlflow_password: str | None = field(default=None, repr=False)
    mlflow_webhook_secret: str | None = field(default=None, repr=False)
    mlflow_artifact: str = DEFAULT_MLFLOW_ARTIFACT

    @property
    def has_mlflow(self) -> bool:
        return bool(self.mlflow_tracking_uri)

    def require_mlflow(self) -> str:
        """The tracking URI, or a ConfigError saying that MLflow is off."""
        if not self.mlflow_tracking_uri:
            raise ConfigError(MLFLOW_OFF)
        return self.mlflow_tracking_uri

    @property
    def has_slack(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def require_slack(self) -> None:
        """Stop with one clear line when serving Slack without what it needs."""
        if not self.slack_bot_token:
            raise ConfigError("SLACK_BOT_TOKEN is not set (a bot token, xoxb-…).")
        if not self.slack_app_token and not self.slack_signing_secret:
            raise ConfigError(
                "SLACK_SIGNING_SECRET is not set (needed in HTTP mode; or set SLACK_APP_TOKEN"
                " for Socket Mode)."
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str], cwd: Path | None = None) -> Settings:
        """Validate the environment; the first problem is raised as one ConfigError line."""

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        bot_token = get("SLACK_BOT_TOKEN")
        if bot_token and not bot_token.startswith("xoxb-"):
            raise ConfigError("SLACK_BOT_TOKEN must be a bot token starting with xoxb-.")
        app_token = get("SLACK_APP_TOKEN")
        if app_token and not app_token.startswith("xapp-"):
            raise ConfigError("SLACK_APP_TOKEN must be an app-level token starting with xapp-.")
        api_url = get("SLACK_API_URL") or DEFAULT_SLACK_API_URL
        parsed = urlparse(api_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"SLACK_API_URL must be an http(s) URL, not {api_url!r}.")
        if not api_url.endswith("/"):
            api_url += "/"
        public_url = get("MLGOV_PUBLIC_URL")
        if public_url is not None:
            parsed = urlparse(public_url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ConfigError(
                    "MLGOV_PUBLIC_URL must be the http(s) URL at which Slack reaches mlgov"
                    f" (like https://mlgov.example.com), not {public_url!r}."
                )
            if parsed.query or parsed.fragment:
                raise ConfigError(
                    "MLGOV_PUBLIC_URL must be a base URL, without ?query or #fragment,"
                    f" not {public_url!r}."
                )
            public_url = public_url.rstrip("/")
        timezone = get("MLGOV_TIMEZONE") or "UTC"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ConfigError(
                f"MLGOV_TIMEZONE {timezone!r} is not an IANA time zone (like Europe/Berlin)."
            ) from None
        port_text = get("PORT") or "3000"
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise ConfigError(f"PORT must be a number from 1 to 65535, not {port_text!r}.")
        admins = frozenset(a for a in (get("MLGOV_ADMINS") or "").replace(",", " ").split() if a)
        bad = [a for a in admins if not re.fullmatch(r"[UW][A-Z0-9]{2,}", a)]
        if bad:
            raise ConfigError(f"MLGOV_ADMINS must list Slack user ids (U…), not {bad[0]!r}.")
        if get("SLACK_CLIENT_ID") and get("SLACK_CLIENT_SECRET"):
            # Bolt would silently switch to multi-workspace OAuth mode, which mlgov is not.
            raise ConfigError(
                "Unset SLACK_CLIENT_ID/SLACK_CLIENT_SECRET: mlgov installs into"
                " one workspace with SLACK_BOT_TOKEN."
            )
        log_level = (get("MLGOV_LOG_LEVEL") or "").upper() or None
        if log_level is not None and log_level not in LOG_LEVELS:
            raise ConfigError(
                f"MLGOV_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)},"
                f" not {get('MLGOV_LOG_LEVEL')!r}."
            )
        if get("MLGOV_API_READ_TOKEN") and get("MLGOV_API_READ_TOKEN") == get("MLGOV_API_TOKEN"):
            # The write token reads already; a read token equal to it would write.
            raise ConfigError("MLGOV_API_READ_TOKEN must differ from MLGOV_API_TOKEN.")
        mlflow = _mlflow_settings(get)
        database_url = get("DATABASE_URL") or f"sqlite:///{(cwd or Path.cwd()) / 'mlgov.db'}"
        return cls(
            slack_bot_token=bot_token,
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_app_token=app_token,
            slack_api_url=api_url,
            database_url=database_url,
            admins=admins,
            timezone=timezone,
            api_token=get("MLGOV_API_TOKEN"),
            api_read_token=get("MLGOV_API_READ_TOKEN"),
            public_url=public_url,
            port=int(port_text),
            log_level=log_level,
            **mlflow,
        )


class _MlflowSettings(TypedDict):
    mlflow_tracking_uri: str | None
    mlflow_tracking_token: str | None
    mlflow_username: str | None
    mlflow_password: str | None
    mlflow_webhook_secret: str | None
    mlflow_artifact: str


def _mlflow_settings(get: Callable[[str], str | None]) -> _MlflowSettings:
    """MLflow's own variable names for the connection, mlgov's for the rest (validated)."""
    uri = get("MLFLOW_TRACKING_URI")
    if uri is not None:
        parsed = urlparse(uri)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(
                f"MLFLOW_TRACKING_URI must be the http(s) URL of an MLflow server, not {uri!r}."
            )
        if parsed.username or parsed.password:  # it would show wherever the URL is shown
            raise ConfigError(
                "MLFLOW_TRACKING_URI must not hold credentials; set MLFLOW_TRACKING_USERNAME"
                " and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)."
            )
        uri = uri.rstrip("/")
    token, user, password = (
        get("MLFLOW_TRACKING_TOKEN"),
        get("MLFLOW_TRACKING_USERNAME"),
        get("MLFLOW_TRACKING_PASSWORD"),
    )
    if bool(user) != bool(password):
        raise ConfigError("MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD go together.")
    if token and user:
        raise ConfigError(
            "Set MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD, not both."
        )
    artifact = (get("MLGOV_MLFLOW_ARTIFACT") or DEFAULT_MLFLOW_ARTIFACT).strip("/")
    parts = artifact.split("/")
    suffix = PurePosixPath(artifact).suffix
    if ".." in parts or "" in parts or "\\" in artifact or (
        suffix and suffix.lower() not in MLFLOW_ARTIFACT_SUFFIXES
    ):
        raise ConfigError(
            "MLGOV_MLFLOW_ARTIFACT must be a path inside a run's artifacts (like"
            f" {DEFAULT_MLFLOW_ARTIFACT}), ending in {', '.join(MLFLOW_ARTIFACT_SUFFIXES)} or"
            f" in none of them, not {artifact!r}."
        )
    return {
        "mlflow_tracking_uri": uri,
        "mlflow_tracking_token": token,
        "mlflow_username": user,
        "mlflow_password": password,
        "mlflow_webhook_secret": get("MLGOV_MLFLOW_WEBHOOK_SECRET"),
        "mlflow_artifact": artifact,
    }
