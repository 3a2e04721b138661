"""One clock for all engine time.

SpiffWorkflow's timer module calls ``datetime.now(timezone.utc)`` itself; ``install`` swaps that module's
``datetime`` for a subclass whose ``now`` asks the active clock, so timers move with the engine's time.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol


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
