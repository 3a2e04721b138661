"""The shared shift of the engine clock in demo and test mode: one ``clock_setting`` row every process reads
(``engine.time.clock.DatabaseClock``) and ``whistle clock advance/set`` writes."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from engine.store.models import ClockSetting

_OFFSET = text("SELECT offset_us FROM clock_setting WHERE id = 1")


def shared_offset(engine: Engine) -> timedelta:
    """The stored shift, read on a connection of its own (zero when none was ever set). Raises whatever the
    database raises (no schema yet, database away): the caller decides what to keep."""
    with engine.connect() as connection:
        micros = connection.execute(_OFFSET).scalar()
    return timedelta(microseconds=micros or 0)


def read_offset(session: Session) -> timedelta:
    """The stored shift (zero when none was ever set)."""
    row = session.get(ClockSetting, 1)
    return timedelta(microseconds=row.offset_us) if row is not None else timedelta(0)


def write_offset(session: Session, offset: timedelta, actor: str | None = None) -> None:
    """Store ``offset`` as the shift, by ``actor``, at the system's time (not the shifted one)."""
    micros = offset // timedelta(microseconds=1)
    now = datetime.now(UTC)
    row = session.get(ClockSetting, 1)
    if row is None:
        session.add(ClockSetting(id=1, offset_us=micros, updated_at=now, updated_by=actor))
    else:
        row.offset_us, row.updated_at, row.updated_by = micros, now, actor
    session.flush()
