"""The command executor: every change to the engine's state is one command, run in one transaction.

``CommandExecutor.run(ctx, work)`` opens the write transaction, hands ``work`` the session and an ``AuditLog``,
writes the audit events it recorded and commits. Whatever goes wrong rolls everything back, and the in-memory
workflows with it:

- a conflict (another command changed the same case first, or holds its lock) raises ``Conflict``; the caller
  may try again (a user reloads, the timer executor tries the job again a second later);
- the database failing is raised as it is (a 503 for a web caller; not the process's fault, no incident);
- anything else failed inside the process (a script, a condition, an expression): an incident is recorded in a
  transaction of its own and ``IncidentRaised`` names it, unless the caller counts attempts itself
  (``record_incident=False``: the timer executor makes the incident after a job's last attempt).

While ``work`` runs, the instances it loads are tracked (``engine.runtime.loaded``), so that the timers that fire
in their engine steps are audited when they are saved.

``joined(extra)`` adds work to the transaction of every command run while it is in effect (in this thread): a
batch (``engine.jobs.batches``) marks its item done there, so the per-case command's own work and the mark commit
or roll back together, and a case is never done twice nor marked without being done.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from engine.audit.chain import AuditLog
from engine.errors import Conflict, IncidentRaised, WhistleError, first_line
from engine.runtime import incidents, loaded
from engine.runtime.context import CommandContext
from engine.store import Session, conflicts
from engine.store.db import Database
from engine.time import clock

T = TypeVar("T")
Extra = Callable[[Session, AuditLog], None]

_joined: ContextVar[Extra | None] = ContextVar("whistle_joined_work", default=None)


@contextmanager
def joined(extra: Extra) -> Iterator[None]:
    """Run ``extra(session, audit)`` inside each command run within the ``with`` block, after its own work and
    before its audit events are written and it commits (see the module)."""
    token = _joined.set(extra)
    try:
        yield
    finally:
        _joined.reset(token)


class CommandExecutor:
    def __init__(self, db: Database) -> None:
        self.db = db

    def run(self, ctx: CommandContext, work: Callable[[Session, AuditLog], T], *, record_incident: bool = True,
            before_commit: Callable[[T], None] | None = None) -> T:
        """Run ``work`` as one command (see the module). ``before_commit`` is called with its result once the
        audit events are written, just before the commit."""
        extra = _joined.get()
        try:
            with self.db.write() as session, loaded.tracking():
                audit = AuditLog()
                result = work(session, audit)
                if extra is not None:
                    extra(session, audit)
                audit.flush(session)
                if before_commit is not None:
                    before_commit(result)
            return result
        except WhistleError:
            raise
        except Exception as exc:
            if conflicts.is_stale_write(exc):
                raise Conflict("the case was changed by someone else at the same time; reload and try again") from exc
            if conflicts.is_lock_conflict(exc):
                raise Conflict("the case is busy (locked by another command); try again") from exc
            if not record_incident or conflicts.is_database_failure(exc):
                raise
            incident_id = self.record_incident(ctx, exc)
            where = f" at '{ctx.element_id}'" if ctx.element_id else ""
            raise IncidentRaised(
                f"{ctx.command} failed{where}: {exc.__class__.__name__}: {first_line(exc)}; nothing was changed "
                f"and incident {incident_id} was recorded", incident_id, ctx.instance_id) from exc

    def record_incident(self, ctx: CommandContext, exc: Exception) -> int:
        """Record the command's failure in a transaction of its own (the command's was rolled back)."""
        if ctx.new_instance:
            ctx.instance_id = ctx.task_id = None
        with self.db.write() as session:
            audit = AuditLog()
            incident = incidents.record(session, audit, ctx, exc, clock.now())
            audit.flush(session)
            return incident.id
