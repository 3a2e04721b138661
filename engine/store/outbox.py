"""Outbound deliveries (``outbox_delivery``, ``engine.outbox``): queued in the transaction of the step that causes
them, acquired and locked by a delivering worker, their outcome recorded."""
from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Row, func, insert, or_, select, update
from sqlalchemy.orm import Session

from engine.store.models import OutboxDelivery

PENDING = "pending"


def existing(session: Session, event_id: str) -> Row[tuple[int, str]] | None:
    """The delivery of ``event_id`` already queued (its ``id`` and ``status``), if any."""
    return session.execute(select(OutboxDelivery.id, OutboxDelivery.status)
                           .where(OutboxDelivery.event_id == event_id)).first()


def add(session: Session, **columns: Any) -> int:
    """Queue a delivery (``columns`` of ``outbox_delivery``); its id."""
    result = cast(CursorResult, session.execute(insert(OutboxDelivery).values(**columns)))
    key = result.inserted_primary_key
    assert key is not None  # an INSERT without RETURNING still reports the key it made
    return int(key[0])


def _acquirable(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (OutboxDelivery.status == PENDING, OutboxDelivery.next_attempt_at <= now,
            or_(OutboxDelivery.lock_owner.is_(None), OutboxDelivery.lock_expires_at < now))


def due_exists(session: Session, now: datetime) -> bool:
    """Whether any delivery may be acquired now (a cheap read, so an idle worker writes nothing)."""
    return session.execute(select(OutboxDelivery.id).where(*_acquirable(now)).limit(1)).first() is not None


def acquire(session: Session, owner: str, now: datetime, lock_until: datetime, limit: int) -> list[int]:
    """Lock up to ``limit`` due deliveries for ``owner`` until ``lock_until`` (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL: concurrent workers take disjoint sets); their ids, oldest due first."""
    ids = list(session.execute(select(OutboxDelivery.id).where(*_acquirable(now))
                               .order_by(OutboxDelivery.next_attempt_at, OutboxDelivery.id).limit(limit)
                               .with_for_update(skip_locked=True)).scalars())
    if ids:
        session.execute(update(OutboxDelivery).where(OutboxDelivery.id.in_(ids))
                        .values(lock_owner=owner, lock_expires_at=lock_until)
                        .execution_options(synchronize_session=False))
    return ids


def to_send(session: Session, delivery_id: int) -> Row[tuple[str, str, str, str, str | None]] | None:
    """What a worker sends: the delivery's ``channel``, ``event``, ``event_id``, ``body`` and ``lock_owner``."""
    return session.execute(select(OutboxDelivery.channel, OutboxDelivery.event, OutboxDelivery.event_id,
                                  OutboxDelivery.body, OutboxDelivery.lock_owner)
                           .where(OutboxDelivery.id == delivery_id)).first()


def postpone(session: Session, delivery_id: int, owner: str, until: datetime, reason: str) -> None:
    """Unlock ``owner``'s delivery without counting an attempt, to be tried again at ``until``."""
    session.execute(update(OutboxDelivery).where(OutboxDelivery.id == delivery_id, OutboxDelivery.lock_owner == owner)
                    .values(lock_owner=None, lock_expires_at=None, next_attempt_at=until, last_error=reason)
                    .execution_options(synchronize_session=False))


def lock(session: Session, delivery_id: int) -> OutboxDelivery | None:
    """The delivery's row, locked and read afresh."""
    return session.execute(select(OutboxDelivery).where(OutboxDelivery.id == delivery_id).with_for_update()
                           .execution_options(populate_existing=True)).scalar()


def listing(session: Session, status: str | None, limit: int) -> list[OutboxDelivery]:
    """Deliveries, newest first, of one status or all."""
    query = select(OutboxDelivery).order_by(OutboxDelivery.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxDelivery.status == status)
    return list(session.execute(query).scalars())


def counts(session: Session) -> dict[str, int]:
    """How many deliveries there are of each status."""
    return {status: count for status, count in session.execute(
        select(OutboxDelivery.status, func.count()).group_by(OutboxDelivery.status)).all()}
