"""Settings from the environment (SPEC §8): defaults, and one clear line per bad setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_SLACK_API_URL, Settings
from bot.domain.errors import ConfigError

HERE = Path("/srv/mlgov")
GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_SIGNING_SECRET": "s3cret",
    "SLACK_APP_TOKEN": "xapp-1-A1-abc",
    "SLACK_API_URL": "http://127.0.0.1:8765/api",
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
    "MLGOV_ADMINS": "U0ADMIN1, W0ADMIN2  U0ADMIN3",
    "MLGOV_TIMEZONE": "Europe/Berlin",
    "MLGOV_API_TOKEN": "pipeline-token",
    "MLGOV_API_READ_TOKEN": "dashboard-token",
    "PORT": "8080",
    "MLGOV_LOG_LEVEL": "debug",
    "MLGOV_PUBLIC_URL": "https://mlgov.example.com/",
}


def test_defaults_with_an_empty_environment() -> None:
    settings = Settings.from_env({}, cwd=HERE)
    assert settings == Settings(
        slack_bot_token=None,
        slack_signing_secret=None,
        slack_app_token=None,
        slack_api_url=DEFAULT_SLACK_API_URL,
        database_url=f"sqlite:///{HERE / 'mlgov.db'}",
        admins=frozenset(),
        timezone="UTC",
        api_token=None,
        port=3000,
    )
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.has_slack is False
    assert str(settings.zone) == "UTC"


def test_blank_values_count_as_unset() -> None:
    blank = {name: "   " for name in GOOD}
    assert Settings.from_env(blank, cwd=HERE) == Settings.from_env({}, cwd=HERE)


def test_every_setting_is_read() -> None:
    settings = Settings.from_env(GOOD, cwd=HERE)
    assert settings == Settings(
        slack_bot_token="xoxb-1-2-abc",
        slack_signing_secret="s3cret",
        slack_app_token="xapp-1-A1-abc",
        slack_api_url="http://127.0.0.1:8765/api/",
        database_url="postgresql://postgres@127.0.0.1:5432/test",
        admins=frozenset({"U0ADMIN1", "W0ADMIN2", "U0ADMIN3"}),
        timezone="Europe/Berlin",
        api_token="pipeline-token",
        api_read_token="dashboard-token",
        public_url="https://mlgov.example.com",  # no trailing slash: paths are appended
        port=8080,
        log_level="DEBUG",
    )
    assert settings.has_slack is True
    assert str(settings.zone) == "Europe/Berlin"


def test_a_read_token_equal_to_the_write_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="MLGOV_API_READ_TOKEN must differ"):
        Settings.from_env({"MLGOV_API_TOKEN": "same", "MLGOV_API_READ_TOKEN": "same"}, cwd=HERE)


def test_values_are_trimmed() -> None:
    settings = Settings.from_env({"SLACK_BOT_TOKEN": " xoxb-1 \n", "PORT": " 4000 "}, cwd=HERE)
    assert (settings.slack_bot_token, settings.port) == ("xoxb-1", 4000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SLACK_BOT_TOKEN", "xoxp-user-token"),
        ("SLACK_BOT_TOKEN", "xapp-1-A1-abc"),
        ("SLACK_BOT_TOKEN", "abc"),
        ("SLACK_APP_TOKEN", "xoxb-1-2-abc"),
        ("SLACK_APP_TOKEN", "app"),
        ("SLACK_API_URL", "slack.com/api"),
        ("SLACK_API_URL", "ftp://slack.com/api"),
        ("SLACK_API_URL", "https://"),
        ("SLACK_API_URL", "localhost:8765"),
        ("MLGOV_TIMEZONE", "Mars/Olympus_Mons"),
        ("MLGOV_TIMEZONE", "CEST+2"),
        ("MLGOV_TIMEZONE", "../../etc/passwd"),
        ("MLGOV_TIMEZONE", "/etc/localtime"),
        ("PORT", "0"),
        ("PORT", "65536"),
        ("PORT", "-1"),
        ("PORT", "http"),
        ("PORT", "80.5"),
        ("MLGOV_ADMINS", "alice"),
        ("MLGOV_ADMINS", "U0ADMIN1,<@U0ADMIN2>"),
        ("MLGOV_ADMINS", "C0CHANNEL"),
        ("MLGOV_ADMINS", "U0ADMIN-1"),
        ("MLGOV_LOG_LEVEL", "TRACE"),
        ("MLGOV_LOG_LEVEL", "verbose"),
        ("MLGOV_LOG_LEVEL", "10"),
        ("MLGOV_PUBLIC_URL", "mlgov.example.com"),
        ("MLGOV_PUBLIC_URL", "ftp://mlgov.example.com"),
        ("MLGOV_PUBLIC_URL", "https://"),
        ("MLGOV_PUBLIC_URL", "https://mlgov.example.com/?x=1"),
        ("MLGOV_PUBLIC_URL", "https://mlgov.example.com/#top"),
    ],
)
def test_an_invalid_setting_stops_with_one_line_naming_it(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({**GOOD, name: value}, cwd=HERE)
    message = str(refused.value)
    assert name in message
    assert "\n" not in message
    assert len(message) < 200


@pytest.mark.parametrize("level", ["DEBUG", "info", "Warning", "ERROR"])
def test_log_levels_are_read_in_any_case(level: str) -> None:
    assert Settings.from_env({"MLGOV_LOG_LEVEL": level}, cwd=HERE).log_level == level.upper()


def test_a_time_zone_folder_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="MLGOV_TIMEZONE"):
        Settings.from_env({"MLGOV_TIMEZONE": "Europe"}, cwd=HERE)


def test_a_superscript_port_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="PORT"):
        Settings.from_env({"PORT": "²"}, cwd=HERE)


def test_oauth_credentials_are_refused_naming_both() -> None:
    env = {**GOOD, "SLACK_CLIENT_ID": "123.456", "SLACK_CLIENT_SECRET": "shh"}
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env, cwd=HERE)
    message = str(refused.value)
    assert "SLACK_CLIENT_ID" in message and "SLACK_CLIENT_SECRET" in message
    assert "\n" not in message


@pytest.mark.parametrize("name", ["SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"])
def test_one_oauth_credential_alone_is_harmless(name: str) -> None:
    assert Settings.from_env({**GOOD, name: "x"}, cwd=HERE).slack_bot_token == "xoxb-1-2-abc"


@pytest.mark.parametrize("port", ["1", "3000", "65535"])
def test_ports_at_the_edges_are_accepted(port: str) -> None:
    assert Settings.from_env({"PORT": port}, cwd=HERE).port == int(port)


def test_the_api_url_gets_a_trailing_slash_once() -> None:
    given = Settings.from_env({"SLACK_API_URL": "https://gov.example.com/api/"}, cwd=HERE)
    assert given.slack_api_url == "https://gov.example.com/api/"


# --- require_slack -------------------------------------------------------------------


def test_require_slack_passes_in_http_mode_and_in_socket_mode() -> None:
    Settings(slack_bot_token="xoxb-1", slack_signing_secret="s").require_slack()
    Settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1").require_slack()


def test_require_slack_without_a_bot_token_names_it() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings(slack_signing_secret="s").require_slack()
    assert "SLACK_BOT_TOKEN" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_require_slack_without_secret_or_app_token_names_both() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings(slack_bot_token="xoxb-1").require_slack()
    message = str(refused.value)
    assert "SLACK_SIGNING_SECRET" in message and "SLACK_APP_TOKEN" in message
    assert "\n" not in message


def test_mlflow_is_off_until_a_tracking_uri_is_set() -> None:
    settings = Settings.from_env({})
    assert not settings.has_mlflow and settings.mlflow_artifact == "mlgov/predictions"
    with pytest.raises(ConfigError, match="MLflow is off: MLFLOW_TRACKING_URI is not set"):
        settings.require_mlflow()


def test_mlflow_settings_are_read_with_mlflows_own_names() -> None:
    settings = Settings.from_env(
        {
            "MLFLOW_TRACKING_URI": "https://mlflow.example.com/",
            "MLFLOW_TRACKING_TOKEN": "dapi-123",
            "MLGOV_MLFLOW_WEBHOOK_SECRET": "whsec",
            "MLGOV_MLFLOW_ARTIFACT": "/eval/holdout.parquet",
        }
    )
    assert settings.require_mlflow() == "https://mlflow.example.com"
    assert (settings.mlflow_tracking_token, settings.mlflow_webhook_secret) == ("dapi-123", "whsec")
    assert settings.mlflow_artifact == "eval/holdout.parquet"
    assert "dapi-123" not in repr(settings) and "whsec" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MLFLOW_TRACKING_URI": "file:///tmp/mlruns"}, "MLFLOW_TRACKING_URI"),
        ({"MLFLOW_TRACKING_URI": "databricks"}, "MLFLOW_TRACKING_URI"),
        ({"MLFLOW_TRACKING_URI": "https://ada:pw@mlflow.example.com"}, "must not hold credentials"),
        ({"MLFLOW_TRACKING_USERNAME": "ada"}, "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PA"),
        (
            {
                "MLFLOW_TRACKING_TOKEN": "t",
                "MLFLOW_TRACKING_USERNAME": "ada",
                "MLFLOW_TRACKING_PASSWORD": "pw",
            },
            "not both",
        ),
        ({"MLGOV_MLFLOW_ARTIFACT": "model/model.pkl"}, "MLGOV_MLFLOW_ARTIFACT"),
        ({"MLGOV_MLFLOW_ARTIFACT": "../etc/passwd"}, "MLGOV_MLFLOW_ARTIFACT"),
        ({"MLGOV_MLFLOW_ARTIFACT": "mlgov//predictions"}, "MLGOV_MLFLOW_ARTIFACT"),
    ],
)
def test_a_bad_mlflow_setting_stops_with_one_line_naming_it(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named) as error:
        Settings.from_env(env)
    assert "\n" not in str(error.value)
