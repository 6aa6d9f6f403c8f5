"""Schema migrations shipped in the package, and the refusal to run on an old schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from bot.domain.errors import SchemaOutOfDate

MIGRATIONS = Path(__file__).with_name("migrations")
# Serialises `db upgrade` across replicas that start at once on PostgreSQL.
_PG_MIGRATION_LOCK = 7_212_026


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run from several processes at once."""
    config = _config()
    # On SQLite, BEGIN IMMEDIATE: two processes starting on a fresh file take turns.
    with engine.execution_options(mlgov_write=True).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def ensure_current(engine: Engine) -> None:
    """Refuse to run on a schema that is not this code's."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        known = {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}
        if current is not None and current not in known:
            raise SchemaOutOfDate(
                f"The database schema is at revision {current}, which this mlgov does not"
                f" know: it was migrated by a newer version. Run that version (or newer)."
            )
        shown = current or "empty"
        raise SchemaOutOfDate(
            f"The database schema is at revision {shown} but this mlgov needs {head}: "
            "run `mlgov db upgrade` first."
        )
