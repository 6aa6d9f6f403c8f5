"""`mlgov jobs` as an operator runs it: list the jobs, run one as if at a given time."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.config import Settings
from bot.runtime import Runtime
from bot.slack.dispatch import Origin
from tests.e2e.test_cli import MLGOV, clean_env, run
from tests.fakes.slack_api import FakeSlack

TZ = "Europe/Berlin"


def jobs(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`mlgov jobs ...` in Berlin time, on the SQLite file of ``tmp_path``."""
    return run(tmp_path, "jobs", *args, **{"MLGOV_TIMEZONE": TZ, **env})


def said(result: subprocess.CompletedProcess[str]) -> list[str]:
    """What a successful `jobs run` reported, one line per thing done."""
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.strip().splitlines()
    assert header.startswith("rotation as of ") and header.endswith(":"), result.stdout
    return [line.strip() for line in lines]


def count(tmp_path: Path, table: str) -> int:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def prepare_team(tmp_path: Path) -> None:
    """churn in #CCHURN with scientists alice and bob, made on Monday 2026-03-02."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'cli.db'}", timezone=TZ, admins=frozenset({"UADMIN"})
    )
    runtime = Runtime.create(settings, clock=lambda: datetime(2026, 3, 2, 12, tzinfo=UTC))
    try:
        admin = Origin("T1", "UADMIN")
        for line in (
            "project add churn <#CCHURN|churn>",
            "member add <@UALICE> scientist churn",
            "member add <@UBOB> scientist churn",
            "member add <@UERIN> engineer churn",
        ):
            reply = runtime.dispatcher.command(admin, "/mlgov", line)
            assert not reply.failed, reply.text
    finally:
        runtime.close()


def test_rotation_announces_nothing_before_nine_then_once_and_jobs_list_shows_it(
    tmp_path: Path,
) -> None:
    prepare_team(tmp_path)
    assert said(jobs(tmp_path, "run", "rotation", "--as-of", "2026-03-16T08:59")) == ["nothing due"]
    assert count(tmp_path, "presentations") == 0
    assert said(jobs(tmp_path, "run", "rotation", "--as-of", "2026-03-16T09:00")) == [
        "churn: announced the science review of 2026-03-16"
    ]
    # Again, at 09:30 Berlin written in UTC (an explicit offset wins over the team's zone).
    assert said(jobs(tmp_path, "run", "rotation", "--as-of", "2026-03-16T08:30:00+00:00")) == [
        "nothing due"
    ]
    assert (count(tmp_path, "presentations"), count(tmp_path, "job_runs")) == (1, 1)

    listed = jobs(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines() if not line.startswith(" ")]
    assert {"rotation", "stale-nudges", "outbox"} <= set(names)
    # Each job names what it covers, and its last runs name the project, not a row id.
    assert "last: churn announce:2026-03-16 (2026-03-16 08:00Z)" in listed.stdout
    rotation = listed.stdout.split("rotation", 1)[1].split("\ndigest", 1)[0]
    assert "projects: churn" in rotation, listed.stdout


def test_with_slack_settings_the_announcement_is_delivered(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    prepare_team(tmp_path)
    slack = {"SLACK_BOT_TOKEN": "xoxb-cli", "SLACK_API_URL": fake_slack.api_url}

    def announcements() -> list[str]:
        return [
            c.params["text"]
            for c in fake_slack.calls("chat.postMessage")
            if c.params.get("channel") == "CCHURN" and "review" in c.params.get("text", "")
        ]

    # 08:00Z is 09:00 in Berlin in March.
    said(jobs(tmp_path, "run", "rotation", "--as-of", "2026-03-16T08:00Z", **slack))
    assert announcements() == ["Science review Mon 16 Mar 10:00: <@UALICE> presents"]
    said(jobs(tmp_path, "run", "rotation", "--as-of", "2026-03-16T09:00", **slack))
    assert len(announcements()) == 1
    assert count(tmp_path, "outbox WHERE sent_at IS NULL") == 0


def test_done_means_a_fresh_demo_is_announced_once_at_nine(tmp_path: Path) -> None:
    today = datetime.now(ZoneInfo(TZ)).date()
    monday = today + timedelta(days=7 - today.weekday())
    demo = subprocess.run(
        [MLGOV, "shell", "--demo"],
        input="/rotation show churn\n:quit\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=clean_env(tmp_path, MLGOV_TIMEZONE=TZ),
    )
    assert demo.returncode == 0, demo.stderr
    assert "Review rotation · churn" in demo.stdout
    assert f"Mon {monday}" in demo.stdout and f"Mon {monday + timedelta(7)}" in demo.stdout

    # Next Monday is later than now: a run as of then must be forced (see below).
    early = ("--as-of", f"{monday}T08:59", "--force")
    assert said(jobs(tmp_path, "run", "rotation", *early)) == ["nothing due"]
    announced = said(jobs(tmp_path, "run", "rotation", "--as-of", f"{monday}T09:00", "--force"))
    assert any(
        line.startswith("churn: announced the ") and line.endswith(f" review of {monday}")
        for line in announced
    ), announced
    again = ("--as-of", f"{monday}T09:00", "--force")
    assert said(jobs(tmp_path, "run", "rotation", *again)) == ["nothing due"]


def test_a_future_as_of_is_refused_unless_dry_run_or_force(tmp_path: Path) -> None:
    prepare_team(tmp_path)
    today = datetime.now(ZoneInfo(TZ)).date()
    monday = today + timedelta(days=7 - today.weekday())
    at_nine = ("--as-of", f"{monday}T09:00")
    tables = ("job_runs", "presentations", "outbox", "audit_log")
    before = [count(tmp_path, t) for t in tables]

    refused = jobs(tmp_path, "run", "rotation", *at_nine)
    assert refused.returncode == 2 and refused.stdout == ""
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "is later than now" in lines[0], lines
    assert "--dry-run" in lines[0] and "--force" in lines[0]
    assert [count(tmp_path, t) for t in tables] == before

    # A dry run shows what would be announced and sent, and keeps nothing of it.
    dry = jobs(tmp_path, "run", "rotation", *at_nine, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    header, announced, *sent = [line.strip() for line in dry.stdout.strip().splitlines()]
    assert header.endswith("(dry run: nothing sent or recorded):"), header
    assert announced.startswith("churn: announced the ") and announced.endswith(f"of {monday}")
    assert sent and all(line.startswith("would send ") for line in sent), sent
    assert any(line.startswith("would send chat.postMessage to CCHURN: ") for line in sent)
    assert [count(tmp_path, t) for t in tables] == before
    # ...so the real run still has the period to use, once.
    real = said(jobs(tmp_path, "run", "rotation", *at_nine, "--force"))
    assert real == [announced]
    assert count(tmp_path, "job_runs") == before[0] + 1
    assert count(tmp_path, "outbox") > before[2]


def test_bad_arguments_exit_2_with_one_clear_line_and_run_nothing(tmp_path: Path) -> None:
    prepare_team(tmp_path)
    for args, message in (
        (("run", "rotation", "--as-of", "next monday"), "--as-of must be an ISO time like"),
        (("run", "announce"), "No job 'announce'; jobs: rotation, "),
        (("run", "rotaton"), "No job 'rotaton' (did you mean 'rotation'?); jobs: rotation, "),
    ):
        result = jobs(tmp_path, *args)
        assert result.returncode == 2 and result.stdout == "", args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mlgov: ") and message in lines[0], lines
    assert count(tmp_path, "job_runs") == 0


def test_jobs_refuse_a_database_that_is_not_upgraded(tmp_path: Path) -> None:
    for args in (("run", "rotation"), ("list",)):
        result = jobs(tmp_path, *args)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "run `mlgov db upgrade` first" in lines[0], lines
    # Jobs never migrate on their own, nor leave an empty database file behind.
    assert not (tmp_path / "cli.db").exists()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    assert sa.inspect(engine).get_table_names() == []
    engine.dispose()
