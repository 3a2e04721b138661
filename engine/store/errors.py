"""Which database errors mean the database went away (connection refused or dropped), as opposed to a
statement's own fault: the web layer retries a read or answers 503 for the first kind (``webui.dbloss``).

The inbox statement goes straight to psycopg on PostgreSQL (``Whistle._inbox``), so psycopg's own
``OperationalError`` arrives unwrapped beside SQLAlchemy's ``DBAPIError``.
"""
from __future__ import annotations

from psycopg import OperationalError as DriverOperationalError
from sqlalchemy.exc import DBAPIError, OperationalError

from engine.errors import is_lock_conflict

DATABASE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, DriverOperationalError)  # what may signal a lost database


def is_database_lost(exc: BaseException) -> bool:
    """The database cannot be reached (connection refused or dropped), rather than a statement failing."""
    if isinstance(exc, DriverOperationalError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    return bool(exc.connection_invalidated) or (isinstance(exc, OperationalError) and not is_lock_conflict(exc))


def connection_dropped(exc: BaseException) -> bool:
    """The connection broke (rather than the server refusing new ones): a fresh one may well work."""
    return isinstance(exc, DriverOperationalError) or bool(getattr(exc, "connection_invalidated", False))
