"""One clock for all engine time.

SpiffWorkflow's timer module calls ``datetime.now(timezone.utc)`` itself; ``install`` swaps that module's
``datetime`` for a subclass whose ``now`` asks the active clock, so timers move with the engine's time.
"""
from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol

SHIFT_MODES = ("demo", "test")


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware, in UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ManualClock:
    """A clock that only moves when told to (tests, demos)."""

    def __init__(self, start: datetime | None = None):
        self._now = (start or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("the clock needs a time with an explicit UTC offset")
        with self._lock:
            self._now = when.astimezone(timezone.utc)


class DatabaseClock:
    """System time plus an offset stored in the database, so every process (CLI, server, workers) sees the
    same shifted time. Installed by ``engine.api.Whistle`` in demo and test mode (``WHISTLE_MODE``).

    The offset is read at most every ``ttl`` seconds per process; ``invalidate`` forces a fresh read (done
    after this process changes it). If the read fails the last known offset is kept.
    """

    def __init__(self, engine, url: str | None = None, ttl: float = 0.5) -> None:
        self.engine = engine
        self.url = url or str(engine.url)
        self.ttl = ttl
        self._offset = timedelta(0)
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def offset(self) -> timedelta:
        moment = time.monotonic()
        with self._lock:
            if self._read_at is not None and moment - self._read_at < self.ttl:
                return self._offset
        value = self._read()
        with self._lock:
            self._offset, self._read_at = value, moment
        return value

    def _read(self) -> timedelta:
        from sqlalchemy import text

        try:
            with self.engine.connect() as connection:
                micros = connection.execute(text("SELECT offset_us FROM clock_setting WHERE id = 1")).scalar()
        except Exception:  # no schema yet, database briefly away: keep the last known shift
            return self._offset
        return timedelta(microseconds=micros or 0)

    def invalidate(self) -> None:
        with self._lock:
            self._read_at = None

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset()


def read_offset(session) -> timedelta:
    """The stored shift (zero when none was ever set)."""
    from engine.store.models import ClockSetting

    row = session.get(ClockSetting, 1)
    return timedelta(microseconds=row.offset_us) if row is not None else timedelta(0)


def write_offset(session, offset: timedelta, actor: str | None = None) -> None:
    from engine.store.models import ClockSetting

    micros = offset // timedelta(microseconds=1)
    row = session.get(ClockSetting, 1)
    if row is None:
        session.add(ClockSetting(id=1, offset_us=micros, updated_at=SystemClock().now(), updated_by=actor))
    else:
        row.offset_us, row.updated_at, row.updated_by = micros, SystemClock().now(), actor
    session.flush()


def format_offset(offset: timedelta) -> str:
    """``+1d 02:30:00`` style, for people."""
    sign = "-" if offset < timedelta(0) else "+"
    seconds = int(abs(offset).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{days}d {hours:02d}:{minutes:02d}:{secs:02d}" if days else f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}"


def mode() -> str:
    """``WHISTLE_MODE``: production (default), demo or test."""
    return (os.environ.get("WHISTLE_MODE") or "production").strip().lower()


def shift_allowed() -> bool:
    return mode() in SHIFT_MODES


_active: Clock = SystemClock()


def active() -> Clock:
    return _active


def now() -> datetime:
    return _active.now()


def install(clock: Clock) -> None:
    """Make ``clock`` the time source of the engine and of SpiffWorkflow's timers."""
    global _active
    _active = clock
    _patch_spiff_timer_module()


class _ClockDatetime(datetime):
    @classmethod
    def now(cls, tz=None):  # noqa: D102 - mirrors datetime.now
        current = _active.now()
        return current.astimezone(tz) if tz is not None else current.astimezone().replace(tzinfo=None)


_patched = False


def _patch_spiff_timer_module() -> None:
    global _patched
    if _patched:
        return
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    timer.datetime = _ClockDatetime
    _patched = True


_patch_spiff_timer_module()
