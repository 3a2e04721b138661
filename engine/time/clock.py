"""One clock for all engine time.

SpiffWorkflow's timer module calls ``datetime.now(timezone.utc)`` itself; ``install`` swaps that module's
``datetime`` for a subclass whose ``now`` asks the active clock, so timers move with the engine's time.
"""
from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer

from engine.store import clock as stored_clock

SHIFT_MODES = ("demo", "test")


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware, in UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests, demos)."""

    def __init__(self, start: datetime | None = None):
        self._now = (start or datetime.now(UTC)).astimezone(UTC)
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
            self._now = when.astimezone(UTC)


class DatabaseClock:
    """System time plus an offset stored in the database, so every process (CLI, server, workers) sees the
    same shifted time. Installed by the engine (``engine.api.Whistle``) in demo and test mode (``WHISTLE_MODE``).

    The offset is read at most every ``ttl`` seconds per process; ``invalidate`` forces a fresh read (done
    after this process changes it). If the read fails the last known offset is kept.
    """

    def __init__(self, engine: Any, url: str | None = None, ttl: float = 0.5) -> None:
        # ``engine``: the database's SQLAlchemy engine, only handed to engine.store.clock.
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
        try:
            return stored_clock.shared_offset(self.engine)
        except Exception:  # no schema yet, database briefly away: keep the last known shift
            return self._offset

    def invalidate(self) -> None:
        with self._lock:
            self._read_at = None

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset()


def format_offset(offset: timedelta) -> str:
    """``+1d 02:30:00`` style, for people."""
    sign = "-" if offset < timedelta(0) else "+"
    seconds = int(abs(offset).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock_time = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{sign}{days}d {clock_time}" if days else f"{sign}{clock_time}"


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
    spiff_timer.datetime = _ClockDatetime
    _patched = True


_patch_spiff_timer_module()
