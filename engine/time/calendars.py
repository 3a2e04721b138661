"""The working-day calendars the engine counts with (``engine.time.workdays``): which days of a year differ from
"Monday to Friday" on the Chinese official calendar, as loaded from the database.

**The calendar is data in the database**, shared by every process (server, workers, CLI): one version per year
in ``calendar_version`` / ``calendar_day`` (migration 0011), loaded from ``processes/calendars/*.csv`` by
``whistle deploy`` or from the State Council's schedule by ``whistle calendar import`` (documented in
``docs/timers.md``; the files are read by ``engine.time.calendar_files``, stored by
``engine.deploy.calendars``). A year is

* ``official`` — the State Council's schedule: holidays, bridge days and make-up working days;
* ``statutory only`` — only the holidays the law fixes (《全国年节及纪念日放假办法》), computed with a lunar
  calendar (``statutory_schedule``) until the year's schedule is published (each November); deadlines
  counted across such a year are *provisional* (``is_provisional``);
* ``none`` — nothing known: Monday to Friday, also provisional, and a warning in the log.

A year the database has no version of falls back to the ``chinesecalendar`` package where it knows the year
(its data is the same official schedule, so a database without calendars behaves as before). Each process
keeps the calendar in memory (``DatabaseCalendar``) and rereads it when the number of stored versions changes,
checked at most every second; a load in this process takes effect at once. Python holds no dates: the days are
in the CSV files and the law's rules in ``processes/calendars/statutory-holidays.json``.
"""
from __future__ import annotations

import logging
import threading
import time as monotonic_time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

import chinese_calendar

from engine.store import Session
from engine.store import calendars as stored_calendars
from engine.time import clock

log = logging.getLogger(__name__)

OFFICIAL, STATUTORY, NONE = "official", "statutory only", "none"
HOLIDAY, WORKDAY = "holiday", "workday"


@dataclass(frozen=True)
class YearCalendar:
    """One year's calendar as the engine counts with it: the days that differ from "Monday to Friday"."""

    year: int
    status: str  # official | statutory only
    days: Mapping[date, tuple[str, str]]  # day -> (holiday | workday, name)
    source: str | None = None  # the notice or the law the days come from
    origin: str = "database"  # database | chinesecalendar <version>
    version: int | None = None
    file: str | None = None
    loaded_at: datetime | None = None
    loaded_by: str | None = None
    loaded_via: str | None = None

    def is_working_day(self, day: date) -> bool:
        entry = self.days.get(day)
        if entry is not None:
            return entry[0] == WORKDAY
        return day.weekday() < 5


@dataclass(frozen=True)
class Snapshot:
    """The calendars of every year stored in one database, as one process last read them."""

    years: Mapping[int, YearCalendar]
    key: tuple = ()  # (row count, newest id) of calendar_version: it changes with every load


EMPTY = Snapshot({})


class DatabaseCalendar:
    """The calendars stored in a database, kept in memory by one process.

    The number of stored versions is checked at most every ``ttl`` seconds — of the system's monotonic time or
    of the engine clock, whichever moved that far first, so tests that move the clock see another process's
    load without sleeping — and the calendars are reread when it changed (versions are only ever added).
    ``invalidate`` forces the check (done after this process loads a calendar). If the database cannot be read
    (no schema yet, briefly away) the last calendars read are kept.
    """

    def __init__(self, engine: Any, url: str | None = None, ttl: float = 1.0) -> None:
        # ``engine``: the database's SQLAlchemy engine, only handed to engine.store.calendars.
        self.engine = engine
        self.url = url or str(engine.url)
        self.ttl = ttl
        self.previous: DatabaseCalendar | None = None  # the source active before this one (``release``)
        self.released = False
        self._snapshot = EMPTY
        self._checked: tuple[float, datetime] | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        mono, now = monotonic_time.monotonic(), clock.now()
        with self._lock:
            if self._checked is not None and mono - self._checked[0] < self.ttl \
                    and timedelta(0) <= now - self._checked[1] < timedelta(seconds=self.ttl):
                return self._snapshot
            known = self._snapshot
        try:
            key, versions = stored_calendars.read_if_changed(self.engine, known.key)
            fresh = known if versions is None else _snapshot_of(versions, key)
        except Exception as exc:  # noqa: BLE001 - no schema yet, database away: keep counting with what we have
            log.debug("working-day calendars not read: %s", exc)
            fresh = known
        with self._lock:
            self._snapshot, self._checked = fresh, (mono, now)
        return fresh

    def invalidate(self) -> None:
        with self._lock:
            self._checked = None


_source: DatabaseCalendar | None = None


def use_database(engine: Any, url: str | None = None) -> DatabaseCalendar:
    """Count working days with the calendars of this database (the engine does this when it opens the
    database)."""
    global _source
    source = DatabaseCalendar(engine, url)
    source.previous, _source = _open(_source), source
    return source


def _open(source: DatabaseCalendar | None) -> DatabaseCalendar | None:
    while source is not None and source.released:
        source = source.previous
    return source


def release(source: DatabaseCalendar) -> None:
    """Stop using ``source`` (its engine is closing); if it is the active one, the one before it that is still
    open becomes active again (an engine opened and closed for one command leaves the longer-lived one)."""
    global _source
    source.released = True
    if _source is source:
        _source = _open(source.previous)


def invalidate() -> None:
    """Reread the calendars on next use (after this process stored one)."""
    if _source is not None:
        _source.invalidate()


def current() -> Snapshot:
    """The calendars this process counts with now."""
    return _source.snapshot() if _source is not None else EMPTY


def read_snapshot(db: Session) -> Snapshot:
    """The newest stored version of every year, with its days, read now on ``db`` (a session or a connection)."""
    return _snapshot_of(stored_calendars.newest_versions(db), stored_calendars.version_key(db))


def _snapshot_of(versions: list, key: tuple) -> Snapshot:
    years = {row.year: YearCalendar(row.year, row.status, days, row.source, "database", row.version, row.file_name,
                                    row.loaded_at, row.loaded_by, row.loaded_via)
             for row, days in versions}
    return Snapshot(years, key)


# The chinesecalendar package's English names, as the calendar files name the holidays.
_PACKAGE_NAMES = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
                  "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "Mid-autumn Festival": "中秋节",
                  "National Day": "国庆节",
                  "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日"}


@cache
def package_year(year: int) -> YearCalendar | None:
    """The year as the installed ``chinesecalendar`` knows it (official schedules up to its release), or None."""
    first = date(year, 1, 1)
    try:
        chinese_calendar.is_workday(first)
    except NotImplementedError:
        return None
    days: dict[date, tuple[str, str]] = {}
    day = first
    while day.year == year:
        working = chinese_calendar.is_workday(day)
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        name = _PACKAGE_NAMES.get(name, name or "")
        if not working and (day.weekday() < 5 or name):  # a named holiday, also on a weekend; not plain weekends
            days[day] = (HOLIDAY, name)
        elif working and day.weekday() >= 5:
            days[day] = (WORKDAY, f"{name}调休上班" if name else "调休上班")
        day += timedelta(days=1)
    version = getattr(chinese_calendar, "__version__", "?")
    return YearCalendar(year, OFFICIAL, days, f"chinesecalendar {version}", f"chinesecalendar {version}")


def year_calendar(year: int, snapshot: Snapshot | None = None) -> YearCalendar | None:
    """The calendar ``year`` is counted with: the database's, else the package's, else None (Monday–Friday)."""
    snapshot = current() if snapshot is None else snapshot
    return snapshot.years.get(year) or package_year(year)


def year_status(year: int, snapshot: Snapshot | None = None) -> str:
    """``official``, ``statutory only`` or ``none``."""
    found = year_calendar(year, snapshot)
    return found.status if found is not None else NONE
