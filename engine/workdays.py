"""Working days on the Chinese official calendar (weekends, public holidays, make-up working days).

All counting happens in the deployment's time zone: ``WHISTLE_TIMEZONE`` (default ``Asia/Shanghai``).
The official schedule comes from the ``chinesecalendar`` package (import name ``chinese_calendar``),
which the State Council's yearly notice updates. For a year that package does not know yet, Whistle
falls back to "Monday to Friday", logs a warning once per year, and lets an administrator add the
official days with :func:`add_calendar` until a newer package is installed.
"""
from __future__ import annotations

import logging
import os
import threading
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from . import clock

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"
MAX_WORKING_DAYS = 3660  # about fourteen years of working days; keeps every helper call short

_extra_holidays: set[date] = set()
_extra_workdays: set[date] = set()
_warned_years: set[int] = set()
_lock = threading.Lock()


# -- time zone ----------------------------------------------------------------------------------------------

def timezone() -> tzinfo:
    """The deployment's time zone (``WHISTLE_TIMEZONE``, default Asia/Shanghai)."""
    return _zone(os.environ.get("WHISTLE_TIMEZONE", "").strip() or DEFAULT_TIMEZONE)


@lru_cache(maxsize=16)
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"WHISTLE_TIMEZONE={name!r} is not a known IANA time zone (e.g. Asia/Shanghai)") from None


def local(moment: datetime | None = None) -> datetime:
    """``moment`` (default: the engine clock's now) as an aware datetime in the deployment time zone.

    A naive datetime is taken to be deployment-local time already.
    """
    if moment is None:
        moment = clock.now()
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a datetime, got {type(moment).__name__}")
    zone = timezone()
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


# -- the calendar -------------------------------------------------------------------------------------------

def add_calendar(holidays=(), workdays=()) -> None:
    """Teach the calendar official days it does not know yet (e.g. next year's schedule, published in
    November, before a newer ``chinesecalendar`` release is installed). Overrides the package."""
    with _lock:
        for day in holidays:
            day = as_date(day)
            _extra_workdays.discard(day)
            _extra_holidays.add(day)
        for day in workdays:
            day = as_date(day)
            _extra_holidays.discard(day)
            _extra_workdays.add(day)


def clear_added_calendar() -> None:
    """Forget every day given to :func:`add_calendar` (tests)."""
    with _lock:
        _extra_holidays.clear()
        _extra_workdays.clear()


def is_working_day(day) -> bool:
    """Whether ``day`` (a date, a datetime or ISO text) is a working day on the official calendar."""
    day = as_date(day)
    if day in _extra_workdays:
        return True
    if day in _extra_holidays:
        return False
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning("the Chinese official calendar for %s is not known to chinesecalendar %s; counting Monday "
                        "to Friday as working days (install a newer chinesecalendar or use add_calendar)",
                        day.year, getattr(chinese_calendar, "__version__", "?"))
        return day.weekday() < 5


def is_known_year(year: int) -> bool:
    """Whether the official schedule for ``year`` is known (so working days are exact)."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
        return True
    except NotImplementedError:
        return False


def holiday_name(day) -> str | None:
    """The English name of the public holiday on ``day`` (e.g. 'National Day'), or None."""
    day = as_date(day)
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return None
    return name if on_holiday else None


def add_working_days(day, n: int) -> date:
    """The date ``n`` working days after ``day`` (before it when ``n`` is negative); ``n == 0`` is ``day``."""
    day = as_date(day)
    n = _count(n)
    step = timedelta(days=1 if n > 0 else -1)
    remaining = abs(n)
    while remaining:
        day += step
        if is_working_day(day):
            remaining -= 1
    return day


def next_working_day(day):
    """The first working day strictly after ``day``. A datetime keeps its time of day (in the deployment
    time zone); a date or ISO date text gives a date."""
    if isinstance(day, datetime):
        moment = local(day)
        return _at(add_working_days(moment.date(), 1), moment.time())
    return add_working_days(day, 1)


def working_days_between(start, end) -> int:
    """How many working days lie after ``start`` up to and including ``end`` (negative if ``end`` is
    earlier), so ``working_days_between(d, add_working_days(d, n)) == n``."""
    first, last = as_date(start), as_date(end)
    if last < first:
        return -working_days_between(last, first)
    if (last - first).days > MAX_WORKING_DAYS * 2:
        raise ValueError(f"working_days_between covers at most {MAX_WORKING_DAYS * 2} calendar days")
    count, day = 0, first
    while day < last:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count


# -- deadlines ----------------------------------------------------------------------------------------------

def working_days(n: int, start: datetime | None = None) -> datetime:
    """The moment ``n`` working days after ``start`` (default: now), at the same time of day, as an aware
    datetime in the deployment time zone."""
    moment = local(start)
    return _at(add_working_days(moment.date(), n), moment.time())


def working_days_at(n: int, at="17:30", start: datetime | None = None) -> datetime:
    """``n`` working days after ``start``'s date (default: today), at the time of day ``at``
    ("17:30", "09:00:00" or a ``time``), as an aware datetime in the deployment time zone."""
    moment = local(start)
    return _at(add_working_days(moment.date(), n), parse_time_of_day(at))


def parse_time_of_day(value) -> time:
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    if not isinstance(value, str):
        raise TypeError(f"a time of day is text like '17:30', got {type(value).__name__}")
    try:
        parsed = time.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day like '17:30' or '09:00:00'") from None
    if parsed.tzinfo is not None:
        raise ValueError(f"{value!r}: give the time of day without an offset; the deployment time zone applies")
    return parsed


def as_date(value) -> date:
    """A date from a date, a datetime (taken in the deployment time zone) or ISO text."""
    if isinstance(value, datetime):
        return local(value).date() if value.tzinfo is not None else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return as_date(datetime.fromisoformat(text))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date like '2026-10-08'") from None
    raise TypeError(f"expected a date, a datetime or ISO date text, got {type(value).__name__}")


def _at(day: date, at: time) -> datetime:
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=timezone())


def _count(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"a number of working days must be a whole number, got {n!r}")
    if abs(n) > MAX_WORKING_DAYS:
        raise ValueError(f"at most {MAX_WORKING_DAYS} working days can be counted, got {n}")
    return n
