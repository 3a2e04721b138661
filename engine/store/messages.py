"""The message index (``engine.runtime.messages``): who waits for which message under which correlation key, and
which processes a message starts."""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.store.models import MessageStart, MessageSubscription


def subscriptions_of(session: Session, instance_id: int) -> list[MessageSubscription]:
    return list(session.execute(select(MessageSubscription)
                                .where(MessageSubscription.instance_id == instance_id)).scalars())


def delete_subscriptions(session: Session, ids: list[int]) -> None:
    session.execute(delete(MessageSubscription).where(MessageSubscription.id.in_(ids)))


def waiting_for(session: Session, name: str, key: str | None) -> list[MessageSubscription]:
    """The subscriptions to message ``name`` with this correlation key (None: those waiting without one)."""
    key_match = MessageSubscription.correlation_key.is_(None) if key is None \
        else MessageSubscription.correlation_key == key
    return list(session.execute(select(MessageSubscription).where(MessageSubscription.message_name == name, key_match)
                                .order_by(MessageSubscription.id)).scalars())


def starts_of(session: Session, name: str) -> list[MessageStart]:
    """The start events message ``name`` starts, one per process (its newest version's)."""
    return list(session.execute(select(MessageStart).where(MessageStart.message_name == name)
                                .order_by(MessageStart.process_key)).scalars())


def forget_starts(session: Session, process_key: str) -> None:
    """Drop a process's message starts (a newer version registers its own)."""
    session.execute(delete(MessageStart).where(MessageStart.process_key == process_key))
