"""Working days on the Chinese official calendar (weekends, public holidays, make-up working days).

All counting happens in the deployment's time zone: ``WHISTLE_TIMEZONE`` (default ``Asia/Shanghai``).

**The calendar is data in the database**, shared by every process (server, workers, CLI): one version per year
in ``calendar_version`` / ``calendar_day`` (migration 0011), loaded from ``processes/calendars/*.csv`` by
``whistle deploy`` or from the State Council's schedule by ``whistle calendar import`` (documented in
``docs/timers.md``). A year is

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

import csv
import hashlib
import io
import json
import logging
import os
import threading
import time as monotonic_time
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from engine.time import clock
from engine.errors import Problem

if TYPE_CHECKING:  # only for annotations: the engine's database modules import this one
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.orm import Session

    from engine.audit.chain import AuditLog

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"
MAX_WORKING_DAYS = 3660  # about fourteen years of working days; keeps every helper call short
OFFICIAL, STATUTORY, NONE = "official", "statutory only", "none"
HOLIDAY, WORKDAY = "holiday", "workday"
CALENDAR_FOLDER = "calendars"  # processes/calendars/*.csv are calendars; other .csv files are catalogs
STATUTORY_RULES = Path(__file__).resolve().parents[2] / "processes" / CALENDAR_FOLDER / "statutory-holidays.json"
MAX_PROBLEMS_PER_FILE = 20

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

    def __init__(self, engine: Engine, url: str | None = None, ttl: float = 1.0) -> None:
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
            with self.engine.connect() as connection:
                key = read_key(connection)
                fresh = known if key == known.key else read_snapshot(connection, key)
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


def use_database(engine: Engine, url: str | None = None) -> DatabaseCalendar:
    """Count working days with the calendars of this database (``engine.api.Whistle`` does this)."""
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


def read_key(db: Connection | Session) -> tuple:
    """What changes whenever a calendar version is stored: ``db`` is a SQLAlchemy connection or session."""
    from sqlalchemy import func, select

    from engine.store.models import CalendarVersion

    return tuple(db.execute(select(func.count(CalendarVersion.id), func.max(CalendarVersion.id))).one())


def read_snapshot(db: Connection | Session, key: tuple | None = None) -> Snapshot:
    """The newest stored version of every year, with its days."""
    from sqlalchemy import func, select

    from engine.store.models import CalendarDay as Day, CalendarVersion as Version

    newest = select(func.max(Version.id)).group_by(Version.year)
    rows = db.execute(select(Version.id, Version.year, Version.version, Version.status, Version.source,
                             Version.file_name, Version.loaded_at, Version.loaded_by, Version.loaded_via)
                      .where(Version.id.in_(newest))).all()
    days: dict[int, dict[date, tuple[str, str]]] = {row.id: {} for row in rows}
    if rows:
        for version_id, day, kind, name in db.execute(select(Day.version_id, Day.day, Day.kind, Day.name)
                                                      .where(Day.version_id.in_(list(days)))):
            days[version_id][day] = (kind, name or "")
    years = {row.year: YearCalendar(row.year, row.status, days[row.id], row.source, "database", row.version,
                                    row.file_name, row.loaded_at, row.loaded_by, row.loaded_via)
             for row in rows}
    return Snapshot(years, key if key is not None else read_key(db))


# The chinesecalendar package's English names, as the calendar files name the holidays.
_PACKAGE_NAMES = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
                  "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "Mid-autumn Festival": "中秋节",
                  "National Day": "国庆节", "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日"}


@lru_cache(maxsize=None)
def _package_year(year: int) -> YearCalendar | None:
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
    return snapshot.years.get(year) or _package_year(year)


def year_status(year: int, snapshot: Snapshot | None = None) -> str:
    """``official``, ``statutory only`` or ``none``."""
    found = year_calendar(year, snapshot)
    return found.status if found is not None else NONE


def _working(snapshot: Snapshot, day: date) -> bool:
    found = snapshot.years.get(day.year) or _package_year(day.year)
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


# -- calendar files: processes/calendars/*.csv and `whistle calendar import` ---------------------------------

@dataclass
class YearSchedule:
    """One year of a calendar file: its status and the days that differ from "Monday to Friday"."""

    year: int
    status: str = OFFICIAL
    source: str | None = None
    days: dict[date, tuple[str, str]] = field(default_factory=dict)
    file: str = ""
    line: int | None = None  # where the file first names the year

    def content_hash(self) -> str:
        canonical = json.dumps([self.year, self.status, self.source or "",
                                sorted((d.isoformat(), kind, name) for d, (kind, name) in self.days.items())],
                               ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def counts(self) -> tuple[int, int]:
        kinds = [kind for kind, _ in self.days.values()]
        return kinds.count(HOLIDAY), kinds.count(WORKDAY)


def is_calendar_file(path: Path | str) -> bool:
    """A ``.csv`` file in a folder named ``calendars`` (``processes/calendars/2027.csv``); other CSV files are
    catalogs (``engine.catalogs``)."""
    path = Path(str(path))
    return path.suffix.lower() == ".csv" and path.parent.name.lower() == CALENDAR_FOLDER


_COLUMNS = ("date", "kind", "name")
_YEAR_KINDS = {"official": OFFICIAL, "statutory only": STATUTORY, "statutory": STATUTORY}


def parse_calendar(file_name: str, content: str) -> tuple[list[YearSchedule] | None, list[Problem]]:
    """The years of one calendar file (CSV: ``date,kind,name``), or the problems, each with file and line.

    A line ``2026-10-01,holiday,国庆节`` is a day off; ``2026-10-10,workday,国庆节调休上班`` a Saturday or Sunday
    worked in exchange; a line with only a year, ``2027,statutory only,《全国年节及纪念日放假办法》``, says what
    the year's days are (``official``, the default, or ``statutory only``) and where they come from."""
    problems: list[Problem] = []

    def problem(line: int | None, text: str) -> None:
        if len(problems) < MAX_PROBLEMS_PER_FILE:
            problems.append(Problem(file_name, line, None, f"calendar: {text}"))

    text = content[1:] if content.startswith("\ufeff") else content
    if not text.strip():
        return None, [Problem(file_name, 1, None, "calendar: the file is empty; its first line names the columns "
                                                  "date,kind,name")]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    columns: list[str] = []
    years: dict[int, YearSchedule] = {}
    seen_days: dict[date, int] = {}
    seen_years: dict[int, int] = {}
    line = 0
    try:
        for record in reader:
            start, line = line + 1, reader.line_num
            if not record or not any(cell.strip() for cell in record):
                continue  # a blank line
            if not columns:
                columns = [c.strip().lower() for c in record]
                if sorted(columns) != sorted(_COLUMNS):
                    problem(start, f"the first line names the columns date,kind,name (got {','.join(record)})")
                    return None, problems
                continue
            if len(record) != len(columns):
                problem(start, f"{len(record)} values, but the first line names {len(columns)} columns (date,kind,"
                               f"name); quote a name that contains a comma")
                continue
            row = {column: value.strip() for column, value in zip(columns, record)}
            when, kind, name = row["date"], " ".join(row["kind"].lower().replace("_", " ").replace("-", " ").split()), \
                row["name"]
            if len(when) == 4 and when.isdigit():
                year = int(when)
                if kind not in _YEAR_KINDS:
                    problem(start, f"a line with only a year says what the year's days are: official (the State "
                                   f"Council's schedule) or statutory only (the holidays the law fixes), not "
                                   f"'{row['kind']}'")
                    continue
                if year in seen_years:
                    problem(start, f"year {year} is already described on line {seen_years[year]}")
                    continue
                seen_years[year] = start
                schedule = years.setdefault(year, YearSchedule(year, file=file_name, line=start))
                schedule.status, schedule.source = _YEAR_KINDS[kind], name or None
                continue
            day = _calendar_date(when)
            if day is None:
                problem(start, f"'{when}' is not a date like 2026-10-01 (or a year like 2027)")
                continue
            if kind not in (HOLIDAY, WORKDAY):
                problem(start, f"kind '{row['kind']}' of {when}: write holiday (a day off) or workday (a Saturday or "
                               f"Sunday worked in exchange)")
                continue
            if day in seen_days:
                problem(start, f"{when} is already given on line {seen_days[day]}")
                continue
            if kind == WORKDAY and day.weekday() < 5:
                problem(start, f"{when} is a {day.strftime('%A')}, a working day anyway; workday is for a Saturday "
                               f"or Sunday worked in exchange (调休上班)")
                continue
            seen_days[day] = start
            years.setdefault(day.year, YearSchedule(day.year, file=file_name, line=start)).days[day] = (kind, name)
    except csv.Error as exc:
        problem(reader.line_num or line + 1, f"not valid CSV ({exc})")
    if not problems and not years:
        problem(1, "no days: after the line date,kind,name, each line is a holiday or a make-up working day")
    return (sorted(years.values(), key=lambda s: s.year) if not problems else None), problems


def _calendar_date(text: str) -> date | None:
    if len(text) != 10 or text[4] != "-" or text[7] != "-":  # date.fromisoformat also takes 20261001, 2026-W40
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def format_calendar(schedules: Iterable[YearSchedule]) -> str:
    """The CSV text of calendar files (``parse_calendar`` reads it back)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_COLUMNS)
    for schedule in schedules:
        if schedule.status != OFFICIAL or schedule.source:
            writer.writerow([schedule.year, schedule.status, schedule.source or ""])
        for day in sorted(schedule.days):
            kind, name = schedule.days[day]
            writer.writerow([day.isoformat(), kind, name])
    return out.getvalue()


def split_sources(sources: list, problems: list[Problem]) -> list[YearSchedule]:
    """Take the calendar files out of a deployment's sources (in place) and check them (``Deployer.check``);
    returns their years. A year given by two files of one deployment is a problem."""
    mine = [s for s in sources if s.kind == "calendar"]
    sources[:] = [s for s in sources if s.kind != "calendar"]
    found: list[YearSchedule] = []
    owner: dict[int, str] = {}
    for source in mine:
        schedules, bad = parse_calendar(source.name, source.content)
        problems.extend(bad)
        for schedule in schedules or []:
            if schedule.year in owner:
                problems.append(Problem(source.name, schedule.line, None,
                                        f"calendar: {schedule.year} is also given by {owner[schedule.year]}; one file "
                                        f"per year"))
                continue
            owner[schedule.year] = source.name
            found.append(schedule)
    return found


def statutory_warning(schedule: YearSchedule) -> Problem:
    """The warning a statutory-only year of this year or next gives at deploy (and import)."""
    return Problem(schedule.file, schedule.line, None,
                   f"calendar: {schedule.year} has only the statutory holidays (the State Council's schedule for it "
                   f"is not loaded): deadlines counted across it are provisional; load the schedule with `whistle "
                   f"calendar import FILE` when it is published", "warning")


_ADVISORY_LOCK_KEY = 0x57C41E  # serialises calendar loads on PostgreSQL (SQLite: BEGIN IMMEDIATE does)


def store(session: Session, audit: AuditLog, schedules: Iterable[YearSchedule], actor: str,
          via: str) -> list[dict]:
    """Store each year as a new version unless the newest stored one has the same content (``unchanged``). A
    deployment never replaces an official schedule with a statutory-only one (``kept``): the files shipped in
    ``processes/calendars/`` must not undo a ``whistle calendar import``. Each new version is an audit event
    ``calendar_loaded``; this process rereads the calendars once the transaction commits."""
    from sqlalchemy import select, text

    from engine.store.models import CalendarDay, CalendarVersion

    schedules = list(schedules)
    if not schedules:
        return []
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    now = clock.now()
    results = []
    for schedule in schedules:
        latest = session.execute(select(CalendarVersion).where(CalendarVersion.year == schedule.year)
                                 .order_by(CalendarVersion.version.desc()).limit(1)).scalar()
        content_hash = schedule.content_hash()
        holidays, workdays = schedule.counts()
        result = {"year": schedule.year, "status": schedule.status, "file": schedule.file, "line": schedule.line,
                  "holidays": holidays, "workdays": workdays, "warnings": []}
        if latest is not None and latest.content_hash == content_hash:
            results.append({**result, "result": "unchanged", "version": latest.version})
        elif latest is not None and via == "deploy" and latest.status == OFFICIAL and schedule.status != OFFICIAL:
            results.append({**result, "result": "kept", "version": latest.version, "status": latest.status,
                            "kept_file": latest.file_name})
        else:
            version = CalendarVersion(year=schedule.year, version=(latest.version + 1) if latest else 1,
                                      status=schedule.status, source=schedule.source, file_name=schedule.file,
                                      content_hash=content_hash, loaded_via=via, loaded_at=now, loaded_by=actor)
            session.add(version)
            session.flush()
            session.add_all(CalendarDay(version_id=version.id, day=day, kind=kind, name=name or None)
                            for day, (kind, name) in sorted(schedule.days.items()))
            audit.record("calendar_loaded", actor, year=schedule.year, version=version.version,
                         status=schedule.status, file=schedule.file, via=via, content_hash=content_hash,
                         holidays=holidays, workdays=workdays,
                         replaced=({"version": latest.version, "status": latest.status} if latest else None))
            results.append({**result, "result": "new", "version": version.version})
        if results[-1]["status"] == STATUTORY and schedule.year <= local().year + 1:  # this year or next: near
            results[-1]["warnings"].append(statutory_warning(schedule).to_dict())
    session.flush()
    session.info.setdefault("after_commit", []).append(invalidate)
    return results


def open_deadlines_across(session: Session, year: int) -> int:
    """Open tasks whose deadline was set before now across ``year``: set with the calendar ``year`` had then."""
    from sqlalchemy import func, select

    from engine.store.models import HumanTask

    zone = timezone()
    first = datetime(year, 1, 1, tzinfo=zone)
    after = datetime(year + 1, 1, 1, tzinfo=zone)
    return session.execute(select(func.count(HumanTask.id)).where(
        HumanTask.status == "open", HumanTask.due_at.is_not(None), HumanTask.due_at >= first,
        HumanTask.created_at < after)).scalar() or 0


# -- the holidays the law fixes, for a year whose schedule is not published yet -------------------------------

def statutory_schedule(year: int, rules: Path | str | None = None) -> YearSchedule:
    """The holidays of all citizens that the law fixes for ``year`` (rules: ``statutory-holidays.json`` — the
    Gregorian days, the lunar days computed with ``lunar_python``, 清明 as the solar term), plus a substitute
    working day off (补假) for each holiday that falls on a Saturday or Sunday, as the law requires, or on another
    holiday. The State Council's bridge days and make-up working days are not in it: they are published each
    year, and the year is marked ``statutory only`` until that schedule is loaded."""
    path = Path(rules) if rules is not None else STATUTORY_RULES
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: the statutory holiday rules cannot be read ({exc})") from None
    blocks = []
    for rule in spec["holidays"]:
        first = _rule_day(str(rule["on"]), year) + timedelta(days=int(rule.get("from", 0)))
        blocks.append((first, str(rule["name"]), [first + timedelta(days=i) for i in range(int(rule["days"]))]))
    names: dict[date, list[str]] = {}
    for first, name, block in sorted(blocks):
        lost = 0
        for day in block:
            if day.weekday() >= 5 or day in names:
                lost += 1
            names.setdefault(day, []).append(name)
        day = block[-1]
        while lost:  # the substitute days follow the holiday, on the next weekdays that are not holidays
            day += timedelta(days=1)
            if day.weekday() < 5 and day not in names:
                names[day] = [f"{name}（补假）"]
                lost -= 1
    days = {day: (HOLIDAY, "、".join(found)) for day, found in names.items() if day.year == year}
    source = str(spec.get("source") or spec.get("law") or path.name)
    return YearSchedule(year, STATUTORY, source, days, file=f"statutory {year}")


def _rule_day(rule: str, year: int) -> date:
    """``MM-DD`` (Gregorian), ``lunar MM-DD`` or ``term NAME`` (a solar term, e.g. ``term 清明``) in ``year``."""
    from lunar_python import Lunar

    kind, _, value = rule.strip().rpartition(" ")
    if kind == "term":
        for lunar_year in (year - 1, year, year + 1):  # a lunar year's table holds terms on either side of it
            solar = Lunar.fromYmd(lunar_year, 1, 1).getJieQiTable().get(value)
            if solar is not None and solar.getYear() == year:
                return date(solar.getYear(), solar.getMonth(), solar.getDay())
        raise ValueError(f"no solar term '{value}' in {year}")
    month, day = (int(part) for part in value.split("-"))
    if kind == "lunar":
        solar = Lunar.fromYmd(year, month, day).getSolar()
        return date(solar.getYear(), solar.getMonth(), solar.getDay())
    if kind:
        raise ValueError(f"holiday rule '{rule}': write MM-DD, lunar MM-DD or term NAME")
    return date(year, month, day)
