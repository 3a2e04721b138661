"""Statements that differ between databases, in their portable form (what SQLite runs).

``engine.store.postgres`` has the same names for PostgreSQL. ``Database`` chooses one of the two modules when
it is opened and hands it to every session (``statements(session)``); nothing outside ``engine.store`` asks
which database it talks to.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.sqlite import insert as _sqlite_insert
from sqlalchemy.orm import Session

NAME = "sqlite"


def advisory_lock(session: Session, key: int) -> None:
    """Serialise the writers of one shared thing for the rest of the transaction. SQLite's write
    transactions begin ``IMMEDIATE`` (``engine.store.db``): they are serialised already."""


def insert_ignoring_duplicates(session: Session, model: Any, values: dict) -> None:
    """Insert a row unless one with the same key exists (an idempotent upsert of a counter row)."""
    session.execute(_sqlite_insert(model).values(**values).on_conflict_do_nothing())
