"""SQL helpers shared by the repositories."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE, DELETE or INSERT touched."""
    return int(cast("CursorResult[Any]", result).rowcount)


def dialect_insert(session: Session, table: Any) -> Any:
    """INSERT for the session's database, with its ON CONFLICT clauses."""
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(table)


def insert_ignoring_conflicts(session: Session, table: Any, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row was inserted.

    Whether a row came back from RETURNING is the answer: psycopg reports no rowcount
    for such an INSERT (SQLAlchemy gives -1), so rowcount would say "inserted" always.
    """
    key = inspect(table).primary_key[0]
    statement = (
        dialect_insert(session, table).values(**values).on_conflict_do_nothing().returning(key)
    )
    return session.execute(statement).first() is not None
