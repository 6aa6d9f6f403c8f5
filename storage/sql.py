"""SQL helpers shared by the repositories."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE, DELETE or INSERT touched."""
    return int(cast("CursorResult[Any]", result).rowcount)


def insert_ignoring_conflicts(session: Session, table: Any, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row was inserted.

    Whether a row came back from RETURNING is the answer: psycopg reports no rowcount
    for such an INSERT (SQLAlchemy gives -1), so rowcount would say "inserted" always.
    """
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    key = inspect(table).primary_key[0]
    statement = module.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return session.execute(statement).first() is not None
