"""Working days on the Chinese official calendar (weekends, public holidays, make-up working days): the
arithmetic of deadlines over the calendars loaded in ``engine.time.calendars``, and what they cover.

All counting happens in the deployment's time zone: ``WHISTLE_TIMEZONE`` (default ``Asia/Shanghai``). A year
without a calendar counts Monday to Friday, is *provisional* (``is_provisional``) and gives a warning in the log.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.time import clock
from engine.time.calendars import (
    HOLIDAY,
    NONE,
    OFFICIAL,
    STATUTORY,
    WORKDAY,
    Snapshot,
    current,
    package_year,
    year_calendar,
    year_status,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"
MAX_WORKING_DAYS = 3660  # about fourteen years of working days; keeps every helper call short

_warned_years: set[int] = set()


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


# -- working days -------------------------------------------------------------------------------------------

def _working(snapshot: Snapshot, day: date) -> bool:
    found = snapshot.years.get(day.year) or package_year(day.year)
    if found is None:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning("no working-day calendar for %s: counting Monday to Friday, and deadlines across it are "
                        "provisional; deploy processes/calendars/ or run `whistle calendar import FILE` "
                        "(see `whistle calendar show`)", day.year)
        return day.weekday() < 5
    return found.is_working_day(day)


def is_working_day(day: date | datetime | str) -> bool:
    """Whether ``day`` (a date, a datetime or ISO text) is a working day on the official calendar."""
    return _working(current(), as_date(day))


def is_known_year(year: int) -> bool:
    """Whether the official schedule for ``year`` is known (so working days are exact)."""
    return year_status(year) == OFFICIAL


def holiday_name(day: date | datetime | str) -> str | None:
    """The name of the public holiday on ``day`` as its calendar gives it (e.g. '国庆节'), or None."""
    day = as_date(day)
    found = year_calendar(day.year)
    entry = found.days.get(day) if found is not None else None
    return (entry[1] or None) if entry is not None and entry[0] == HOLIDAY else None


def is_provisional(start: date | datetime | str | None, end: date | datetime | str | None) -> bool:
    """Whether a deadline set at ``start`` for ``end`` counts days of a year without the official schedule
    (statutory holidays only, or nothing), so the State Council's schedule may still move it. A deadline within
    one day counts no days and is never provisional."""
    if start is None or end is None:
        return False
    first, last = as_date(start), as_date(end)
    if last < first:
        first, last = last, first
    if first == last:
        return False
    snapshot = current()
    return any(year_status(year, snapshot) != OFFICIAL
               for year in range((first + timedelta(days=1)).year, last.year + 1))


def coverage(years: Iterable[int] | None = None, snapshot: Snapshot | None = None,
             today: date | None = None) -> list[dict]:
    """Per year: status (official / statutory only / none), where it comes from, its version and counts. By
    default the years stored, this year and next, and any year between them."""
    snapshot = current() if snapshot is None else snapshot
    if years is None:
        this_year = (today or local().date()).year
        wanted = set(snapshot.years) | {this_year, this_year + 1}
        years = range(min(wanted), max(wanted) + 1)
    found = []
    for year in years:
        cal = year_calendar(year, snapshot)
        kinds = [kind for kind, _ in cal.days.values()] if cal is not None else []
        found.append({
            "year": year, "status": cal.status if cal else NONE, "origin": cal.origin if cal else None,
            "version": cal.version if cal else None, "file": cal.file if cal else None,
            "source": cal.source if cal else None,
            "loaded_at": cal.loaded_at.isoformat() if cal and cal.loaded_at else None,
            "loaded_by": cal.loaded_by if cal else None, "loaded_via": cal.loaded_via if cal else None,
            "holidays": kinds.count(HOLIDAY), "workdays": kinds.count(WORKDAY)})
    return found


def notices(today: date | None = None, snapshot: Snapshot | None = None) -> list[dict]:
    """What administrators should hear about: this year and next without the official schedule."""
    this_year = (today or local().date()).year
    found = []
    for entry in coverage([this_year, this_year + 1], snapshot):
        if entry["status"] == OFFICIAL:
            continue
        what = ("has only the statutory holidays" if entry["status"] == STATUTORY
                else "has no working-day calendar (Monday to Friday are counted)")
        found.append({**entry, "message": f"{entry['year']} {what}: deadlines counted across it are provisional "
                                          f"until the State Council's schedule is loaded with `whistle calendar "
                                          f"import FILE`"})
    return found


def add_working_days(day: date | datetime | str, n: int) -> date:
    """The date ``n`` working days after ``day`` (before it when ``n`` is negative); ``n == 0`` is ``day``."""
    day = as_date(day)
    n = _count(n)
    step = timedelta(days=1 if n > 0 else -1)
    remaining = abs(n)
    snapshot = current()  # one calendar for the whole count
    while remaining:
        day += step
        if _working(snapshot, day):
            remaining -= 1
    return day


def next_working_day(day: date | datetime | str) -> date | datetime:
    """The first working day strictly after ``day``. A datetime keeps its time of day (in the deployment
    time zone); a date or ISO date text gives a date."""
    if isinstance(day, datetime):
        moment = local(day)
        return _at(add_working_days(moment.date(), 1), moment.time())
    return add_working_days(day, 1)


def working_days_between(start: date | datetime | str, end: date | datetime | str) -> int:
    """How many working days lie after ``start`` up to and including ``end`` (negative if ``end`` is
    earlier), so ``working_days_between(d, add_working_days(d, n)) == n``."""
    first, last = as_date(start), as_date(end)
    if last < first:
        return -working_days_between(last, first)
    if (last - first).days > MAX_WORKING_DAYS * 2:
        raise ValueError(f"working_days_between covers at most {MAX_WORKING_DAYS * 2} calendar days")
    count, day = 0, first
    snapshot = current()
    while day < last:
        day += timedelta(days=1)
        if _working(snapshot, day):
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
