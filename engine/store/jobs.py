"""Timer jobs (``timer_job``): the waiting timers of instances, written with their state, and the timer start
schedules of deployed versions; acquired, locked and fired by the job executor (``engine.jobs``)."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, bindparam, func, inspect, or_, select, update
from sqlalchemy.orm import Session

from engine.store.models import TimerJob

# Built once: each fired timer runs them.
_INSTANCE_OF = select(TimerJob.instance_id).where(TimerJob.id == bindparam("job_id"))
_OF_INSTANCE = select(TimerJob).where(TimerJob.instance_id == bindparam("instance_id"))
_OF_INSTANCE_FRESH = _OF_INSTANCE.execution_options(populate_existing=True)
_LOCK = (select(TimerJob).where(TimerJob.id == bindparam("job_id")).with_for_update()
         .execution_options(populate_existing=True))


def instance_of(session: Session, job_id: int) -> int | None:
    """The instance whose timer the job is (None: a timer start job, or no such job)."""
    return session.execute(_INSTANCE_OF, {"job_id": job_id}).scalar()


def of_instance(session: Session, instance_id: int, fresh: bool = False) -> list[TimerJob]:
    """The instance's job rows; ``fresh``: read again from the database (after waiting for its lock)."""
    return list(session.execute(_OF_INSTANCE_FRESH if fresh else _OF_INSTANCE,
                                {"instance_id": instance_id}).scalars())


def lock(session: Session, job_id: int) -> TimerJob | None:
    """The job row, locked and read afresh."""
    return session.execute(_LOCK, {"job_id": job_id}).scalar()


def was_deleted(job: TimerJob) -> bool:
    """The job's row was deleted in this transaction (its timer fired and waits no more)."""
    state = inspect(job)
    return bool(state.deleted or state.was_deleted)


def scheduled_starts(session: Session, process_key: str) -> list[TimerJob]:
    """The timer start jobs of a process (of whichever version scheduled them)."""
    return list(session.execute(select(TimerJob).where(TimerJob.process_id == process_key, TimerJob.kind == "start",
                                                       TimerJob.instance_id.is_(None))).scalars())


def _acquirable(now: datetime) -> tuple[ColumnElement[bool], ...]:
    # The jobs of a suspended case wait (``suspended``; a range of ix_timer_job_suspended_due leaves them out).
    return (TimerJob.suspended.is_(False), TimerJob.due_at < now, TimerJob.retries > 0,
            or_(TimerJob.lock_owner.is_(None), TimerJob.lock_expires_at < now))


def acquire(session: Session, owner: str, now: datetime, lock_until: datetime,
            limit: int) -> list[tuple[int, int | None]]:
    """Lock up to ``limit`` due jobs for ``owner`` until ``lock_until``: [(job id, instance id or None)]. On
    PostgreSQL ``FOR UPDATE SKIP LOCKED``, so concurrent workers take disjoint sets; SQLite's write transaction
    serialises them."""
    found = session.execute(select(TimerJob.id, TimerJob.instance_id).where(*_acquirable(now))
                            .order_by(TimerJob.due_at).limit(limit).with_for_update(skip_locked=True)).all()
    ids = [row[0] for row in found]
    if ids:
        session.execute(update(TimerJob).where(TimerJob.id.in_(ids))
                        .values(lock_owner=owner, lock_expires_at=lock_until)
                        .execution_options(synchronize_session=False))
    return [(row[0], row[1]) for row in found]


def next_moments(session: Session, now: datetime) -> list[datetime]:
    """The earliest due time of a free job, and the earliest moment a held due job's lock runs out (those that
    exist). Both queries walk the ``(suspended, due_at)`` index from the start of its unsuspended range, so an
    idle worker's poll stays cheap however many timers wait in the future or in suspended cases."""
    free = session.execute(select(func.min(TimerJob.due_at)).where(
        TimerJob.suspended.is_(False), TimerJob.retries > 0, TimerJob.lock_owner.is_(None))).scalar()
    held = session.execute(select(func.min(func.coalesce(TimerJob.lock_expires_at, TimerJob.due_at))).where(
        TimerJob.suspended.is_(False), TimerJob.due_at < now, TimerJob.retries > 0,
        TimerJob.lock_owner.is_not(None))).scalar()
    # An aggregate's result is not typed by the column: SQLite hands back a naive datetime.
    return [m if m.tzinfo else m.replace(tzinfo=UTC) for m in (free, held) if m is not None]


def renew_locks(session: Session, ids: list[int], owner: str, lock_until: datetime) -> set[int]:
    """Extend ``owner``'s locks on ``ids``; the ids it still holds (another worker may have taken a job whose
    lock ran out)."""
    mine = (TimerJob.id.in_(ids), TimerJob.lock_owner == owner)
    session.execute(update(TimerJob).where(*mine).values(lock_expires_at=lock_until)
                    .execution_options(synchronize_session=False))
    return set(session.execute(select(TimerJob.id).where(*mine)).scalars())


def release(session: Session, ids: list[int], owner: str) -> None:
    """Give up ``owner``'s locks on ``ids`` (a worker told to stop)."""
    session.execute(update(TimerJob).where(TimerJob.id.in_(ids), TimerJob.lock_owner == owner)
                    .values(lock_owner=None, lock_expires_at=None).execution_options(synchronize_session=False))


def listing(session: Session, now: datetime, include_scheduled: bool, limit: int) -> list[TimerJob]:
    """Jobs by due time: those that need attention (due, locked, failing, failed), or all with
    ``include_scheduled``."""
    query = select(TimerJob)
    if not include_scheduled:
        query = query.where(or_(TimerJob.due_at < now, TimerJob.lock_owner.is_not(None), TimerJob.retries <= 0,
                                TimerJob.last_error.is_not(None)))
    return list(session.execute(query.order_by(TimerJob.due_at, TimerJob.id).limit(limit)).scalars())


def of_instance_by_due(session: Session, instance_id: int) -> list[TimerJob]:
    return list(session.execute(select(TimerJob).where(TimerJob.instance_id == instance_id)
                                .order_by(TimerJob.due_at, TimerJob.id)).scalars())


def with_incident(session: Session, incident_id: int) -> TimerJob | None:
    """The timer job whose last failure is this incident, if it still waits for a retry."""
    return session.execute(select(TimerJob).where(TimerJob.incident_id == incident_id)).scalar()
