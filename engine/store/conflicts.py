"""What a database error means to the command that met it (``engine.runtime.executor``): another command got
there first (a stale write, a lock it could not get: a conflict, tried again or reported as such), or the
database itself failed (not the process's fault: no incident), or neither (a fault of the command)."""
from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from engine import errors


def is_stale_write(exc: BaseException) -> bool:
    """The row changed since it was read (its optimistic ``revision`` moved on, or an ORM flush matched no row)."""
    return isinstance(exc, StaleDataError)


def is_lock_conflict(exc: BaseException) -> bool:
    """The database refused a lock another transaction holds (SQLite busy, a PostgreSQL deadlock or serialization
    failure)."""
    return isinstance(exc, OperationalError) and errors.is_lock_conflict(exc)


def is_database_failure(exc: BaseException) -> bool:
    """The database failed (an operational error, a connection that went away), rather than the command."""
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and bool(exc.connection_invalidated))
