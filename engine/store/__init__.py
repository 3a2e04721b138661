"""The database: connection and transactions (``db``), the tables (``models``), the schema's migrations
(``migrate``) and every SQL statement of the engine. Only this package imports SQLAlchemy; the rest of the
engine calls the query modules here and names a session's type as ``engine.store.Session``.

Statements that differ between SQLite and PostgreSQL live in ``portable`` and ``postgres`` under the same
names; ``statements(session)`` gives the module the session's database was opened with.
"""
from __future__ import annotations

from types import ModuleType

from sqlalchemy.orm import Session

__all__ = ["Session", "statements"]


def statements(session: Session) -> ModuleType:
    """The dialect module (``engine.store.portable`` or ``engine.store.postgres``) chosen for the session's
    database when it was opened."""
    chosen = session.info.get("statements")
    if chosen is None:  # a session made outside Database (a migration, a test's own session)
        from engine.store import db

        chosen = db.statements_for(session.get_bind().dialect.name)
        session.info["statements"] = chosen
    return chosen
