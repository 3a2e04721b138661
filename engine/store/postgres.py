"""The PostgreSQL forms of the statements in ``engine.store.portable`` (same names; chosen once, when the
database is opened). Whatever is not here is portable and taken from there."""
from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as _pg_insert
from sqlalchemy.orm import Session

from engine.store.portable import *  # noqa: F401,F403  (what PostgreSQL runs as written)

NAME = "postgresql"
_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def advisory_lock(session: Session, key: int) -> None:
    """A transaction-scoped advisory lock: writers of the same shared thing queue up on ``key``."""
    session.execute(_ADVISORY_LOCK, {"key": key})


def insert_ignoring_duplicates(session: Session, model: Any, values: dict) -> None:
    session.execute(_pg_insert(model).values(**values).on_conflict_do_nothing())
