"""ISO 8601 values, strictly: durations (``PT30M``), date-times with an explicit UTC offset
(``2027-04-01T09:00:00+08:00``) and cycles (``R3/PT1H``), as timers, the clock commands and deploy lint read
them. A value that is not one raises :class:`TimerValueError` with an example of what would be.

The arithmetic of durations (months and years from a start date) is SpiffWorkflow's, so a timer's due time is
the same whether Whistle or SpiffWorkflow computes it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.time import clock

EXAMPLE_DATE = "2027-04-01T09:00:00+08:00"


class TimerValueError(ValueError):
    """A timer's value (literal or computed) is not a usable ISO 8601 date, duration or cycle."""

    element_id: str  # set when the value is a timer start event's: that event's id


_DURATION_RE = re.compile(r"^P(?=\d|T\d)(\d+(?:[.,]\d+)?Y)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?W)?"
                          r"(\d+(?:[.,]\d+)?D)?(T(?=\d)(\d+(?:[.,]\d+)?H)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?S)?)?$",
                          re.IGNORECASE)
_DATE_RE = re.compile(r"^\d{4}-?(\d{2}-?\d{2}|W\d{2}-?\d)([T ].*)?$", re.IGNORECASE)
_CYCLE_RE = re.compile(r"^R\d*/", re.IGNORECASE)
# Meant as ISO 8601 but mistyped (PT30X, P3): reported as a bad literal rather than run as a Python name.
_ISO_LOOKING_RE = re.compile(r"^(P\d|PT\d|R\d*/)[0-9A-Z.,:/+\-]*$")


def looks_like_iso8601(text: str) -> bool:
    """Whether ``text`` (stripped) is written as an ISO 8601 duration, date or cycle, or as a mistyped one —
    an unquoted literal in a timer, not a Python expression."""
    return bool(_CYCLE_RE.match(text) or _DURATION_RE.match(text) or _DATE_RE.match(text)
                or _ISO_LOOKING_RE.match(text))


def parse_duration(text: str) -> dict:
    """An ISO 8601 duration (``PT30M``, ``P3D``, ``P1Y2M``) as SpiffWorkflow's parts dict."""
    text = str(text).strip()
    if not _DURATION_RE.match(text):
        raise TimerValueError(f"'{text}' is not an ISO 8601 duration (like PT30M, PT2H, P3D)")
    try:
        return TimerEventDefinition.parse_iso_duration(text.upper())
    except Exception:
        raise TimerValueError(f"'{text}' is not an ISO 8601 duration (like PT30M, PT2H, P3D)") from None


def duration_after(text: str, start: datetime) -> datetime:
    """The moment the duration ``text`` after ``start`` (months and years as the calendar has them)."""
    return start + TimerEventDefinition.get_timedelta_from_start(parse_duration(text), start)


def parse_date(value: object) -> datetime:
    """An ISO 8601 date-time with an explicit UTC offset, as an aware UTC datetime."""
    if isinstance(value, datetime):
        when = value
        shown = value.isoformat()
    else:
        shown = str(value).strip()
        if shown.upper().startswith("P"):
            raise TimerValueError(f"'{shown}' is a duration, not a date; use a timeDuration for it, "
                                  f"or a date like {EXAMPLE_DATE}")
        try:
            when = datetime.fromisoformat(shown)
        except ValueError:
            raise TimerValueError(f"'{shown}' is not an ISO 8601 date-time (like {EXAMPLE_DATE})") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise TimerValueError(f"date '{shown}' has no UTC offset; write it with one, like {EXAMPLE_DATE} "
                              f"(a time without an offset would follow the server's zone)")
    return when.astimezone(UTC)


@dataclass(frozen=True)
class Cycle:
    repetitions: int  # -1: unbounded
    start: datetime  # the first slot
    period: timedelta


def parse_cycle(text: str, now: datetime | None = None) -> Cycle:
    """``R[n]/start/period``, ``R[n]/period`` (first slot one period from now) or ``R[n]/period/end``."""
    text = str(text).strip()
    parts = text.split("/")
    if len(parts) not in (2, 3) or not _CYCLE_RE.match(text):
        raise TimerValueError(f"'{text}' is not an ISO 8601 cycle (like R3/PT1H or R/{EXAMPLE_DATE}/P1D)")
    count = parts[0][1:]
    repetitions = int(count) if count else -1
    now = now or clock.now()
    is_period = [p.strip().upper().startswith("P") for p in parts[1:]]
    if len(parts) == 2:
        if not is_period[0]:
            raise TimerValueError(f"cycle '{text}' needs a period, like R3/PT1H")
        start = duration_after(parts[1], now)
        period = start - now
    elif is_period == [False, True]:
        start = parse_date(parts[1])
        period = duration_after(parts[2], start) - start
    elif is_period == [True, False]:
        end = parse_date(parts[2])
        period = TimerEventDefinition.get_timedelta_from_end(parse_duration(parts[1]), end)
        start = end - period
    else:
        raise TimerValueError(f"cycle '{text}' needs one date and one period, like R/{EXAMPLE_DATE}/P1D")
    if period <= timedelta(0):
        raise TimerValueError(f"cycle '{text}' needs a period longer than zero")
    return Cycle(repetitions, start, period)


def validate_literal(kind: str, text: str) -> None:
    """Raise :class:`TimerValueError` unless ``text`` is a valid ``kind`` ("date", "duration" or "cycle")."""
    if kind == "date":
        parse_date(text)
    elif kind == "duration":
        parse_duration(text)
    else:
        parse_cycle(text, datetime(2000, 1, 1, tzinfo=UTC))


def slots_before(first_slot: datetime, period: timedelta, now: datetime) -> int:
    """How many slots ``first_slot + k * period`` (k >= 0) lie strictly before ``now``."""
    if first_slot >= now:
        return 0
    elapsed = (now - first_slot) // timedelta(microseconds=1)
    step = max(1, period // timedelta(microseconds=1))
    return (elapsed - 1) // step + 1
