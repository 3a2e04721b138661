"""The helper library designers can call in every expression and script (see docs/expressions.md).

Everything here is pure computation over values, the engine clock and the catalogs stored with the
running version (``catalog``, from ``engine.scripting.catalogs``): nothing reaches the file system, the network or
the process. Time comes from ``engine.time.clock`` (so tests and demos can move
it) and is shown in the deployment time zone (``WHISTLE_TIMEZONE``, default Asia/Shanghai).
The safe builtins (``len``, ``sum``, ``str``…) are provided by the sandbox itself
(``engine.scripting.script_builtins``), because several of them are guarded versions.
"""
from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from engine.scripting.catalogs import catalog  # noqa: F401 (re-export; reads the running version's catalogs)
from engine.time import clock, workdays
from engine.time.workdays import is_working_day, next_working_day, working_days, working_days_at, working_days_between  # noqa: F401 (re-export)

MAX_DURATION_TEXT = 64


def now() -> datetime:
    """The engine clock's current time, aware, in the deployment time zone."""
    return clock.now().astimezone(workdays.timezone())


def today() -> date:
    """Today's date in the deployment time zone."""
    return now().date()


def parse_datetime(text) -> datetime:
    """An aware datetime from ISO 8601 text. Text without an offset (or a bare date, taken as midnight) is
    read in the deployment time zone: ``parse_datetime("2026-10-08T17:30")`` is 17:30 Beijing time."""
    if isinstance(text, datetime):
        return workdays.local(text)
    if isinstance(text, date):
        return datetime.combine(text, time(), tzinfo=workdays.timezone())
    if not isinstance(text, str):
        raise TypeError(f"parse_datetime needs ISO text, got {type(text).__name__}")
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date/time like '2026-10-08T17:30:00+08:00'") from None
    return workdays.local(parsed)


def parse_date(text) -> date:
    """A date from ISO text (``"2026-10-08"``), a date, or a datetime (its date in the deployment zone)."""
    return workdays.as_date(text)


_DURATION = re.compile(
    r"(?P<sign>[-+])?P(?!$)"
    r"(?:(?P<years>\d+(?:[.,]\d+)?)Y)?(?:(?P<months>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$")


def _parse_duration(text) -> tuple[int, dict[str, float]]:
    if isinstance(text, timedelta):
        return 1, {"seconds": text.total_seconds()}
    if not isinstance(text, str):
        raise TypeError(f"a duration is ISO 8601 text like 'PT30M' or 'P3D', got {type(text).__name__}")
    value = text.strip().upper()
    match = _DURATION.fullmatch(value) if len(value) <= MAX_DURATION_TEXT else None
    if match is None or value.endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration like 'PT30M', 'P3D' or 'P1DT12H'")
    parts = {name: float(amount.replace(",", ".")) for name, amount in match.groupdict().items()
             if name != "sign" and amount is not None}
    return (-1 if match.group("sign") == "-" else 1), parts


def duration(text) -> timedelta:
    """A ``timedelta`` from an ISO 8601 duration: ``duration("PT30M")``, ``duration("P3D")``,
    ``duration("P1DT12H")``. Months and years have no fixed length: use ``add_duration`` for them."""
    sign, parts = _parse_duration(text)
    if parts.get("years") or parts.get("months"):
        raise ValueError(f"{text!r} counts months or years, which have no fixed length; "
                         f"use add_duration(moment, {text!r})")
    try:
        return sign * timedelta(weeks=parts.get("weeks", 0), days=parts.get("days", 0), hours=parts.get("hours", 0),
                                minutes=parts.get("minutes", 0), seconds=parts.get("seconds", 0))
    except OverflowError:
        raise ValueError(f"duration {text!r} is too long") from None


def add_duration(moment: date | datetime, text: str) -> date | datetime:
    """``moment`` (a datetime or date) plus an ISO 8601 duration, counting months and years on the calendar:
    ``add_duration(parse_datetime("2026-01-31T09:00+08:00"), "P1M")`` is 2026-02-28 09:00+08:00."""
    if not isinstance(moment, (date, datetime)):
        raise TypeError(f"add_duration needs a date or datetime, got {type(moment).__name__}")
    sign, parts = _parse_duration(text)
    years, months = parts.pop("years", 0), parts.pop("months", 0)
    if years != int(years) or months != int(months):
        raise ValueError(f"{text!r}: months and years must be whole numbers")
    total_months = sign * (int(years) * 12 + int(months))
    if total_months:
        index = moment.year * 12 + (moment.month - 1) + total_months
        year, month = divmod(index, 12)
        if not 1 <= year <= 9999:
            raise ValueError(f"adding {text!r} leaves the calendar")
        day = min(moment.day, calendar.monthrange(year, month + 1)[1])
        moment = moment.replace(year=year, month=month + 1, day=day)
    rest = sign * timedelta(**parts)
    if isinstance(moment, datetime):
        return moment + rest  # aware arithmetic keeps the zone and adds wall-clock time, like Python itself
    if rest % timedelta(days=1):
        raise ValueError(f"{text!r} has a time part; add it to a datetime, not a date")
    return moment + rest


def iso(value) -> str:
    """ISO 8601 text for a datetime (with its offset; a naive one is taken in the deployment time zone),
    a date, a time or a ``timedelta`` (``iso(duration("PT90M")) == "PT1H30M"``). Timer events need text:
    a timeDate timer can say ``iso(working_days_at(5, "17:30"))``."""
    if isinstance(value, datetime):
        return workdays.local(value).isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return _iso_duration(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"iso() needs a datetime, date, time or timedelta, got {type(value).__name__}")


def _iso_duration(value: timedelta) -> str:
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    days, seconds, micro = value.days, value.seconds, value.microseconds
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{sign}P{days}D" if days else f"{sign}P"
    clock_part = ""
    if hours:
        clock_part += f"{hours}H"
    if minutes:
        clock_part += f"{minutes}M"
    if seconds or micro:
        clock_part += f"{seconds}.{micro:06d}".rstrip("0").rstrip(".") + "S" if micro else f"{seconds}S"
    if clock_part:
        text += "T" + clock_part
    return text if text not in ("P", "-P") else "PT0S"


def median(values: Iterable) -> float | None:
    """The median of the numbers given (None left out), or None when there are none."""
    numbers = sorted(v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))
    if not numbers:
        return None
    middle = len(numbers) // 2
    return numbers[middle] if len(numbers) % 2 else (numbers[middle - 1] + numbers[middle]) / 2


def rank_and_grade(rows: Iterable[dict], order: Iterable[str], bands: Iterable) -> list[dict]:
    """Rank ``rows`` (dicts) by the fields in ``order``, highest first (None lowest; later fields break ties
    of earlier ones), and grade them into ``bands`` — ``[(grade, share), …]``, best first, shares summing to 1.

    Each band takes ``round(n × cumulative share)`` rows (half up). Rows equal on every field are tied: same
    rank, same grade. A tie group that straddles a band's boundary goes to the band where most of its rows
    fall (to the better band when it is exactly half), so a band exceeds its share by at most half the tie
    it had to take — never by the whole tie. Returns new dicts with ``rank``, ``grade`` and ``tied`` (the size
    of the tie group)."""
    rows, bands = list(rows), [(str(grade), float(share)) for grade, share in bands]
    if not bands:
        raise ValueError("rank_and_grade needs at least one band")

    def key(row):
        return tuple((0, 0) if row.get(name) is None else (1, row.get(name)) for name in order)

    ordered = sorted(rows, key=lambda row: (tuple((-a, -b) for a, b in key(row)), str(row.get("department", ""))))
    boundaries, running = [], 0.0
    for _, share in bands:
        running += share
        boundaries.append(int(len(ordered) * running + 0.5))
    boundaries[-1] = len(ordered)
    graded, position, band = [], 0, 0
    index = 0
    while index < len(ordered):
        size = 1
        while index + size < len(ordered) and key(ordered[index + size]) == key(ordered[index]):
            size += 1
        while band < len(bands) - 1 and position >= boundaries[band]:
            band += 1
        while band < len(bands) - 1 and position + size > boundaries[band] \
                and position + size - boundaries[band] > boundaries[band] - position:
            band += 1  # most of the tie falls below this boundary
        for row in ordered[index:index + size]:
            graded.append(dict(row, rank=position + 1, grade=bands[band][0], tied=size))
        position += size
        index += size
    return graded


HELPERS: dict[str, object] = {
    "now": now,
    "today": today,
    "date": date,
    "datetime": datetime,
    "time": time,
    "timedelta": timedelta,
    "parse_datetime": parse_datetime,
    "parse_date": parse_date,
    "duration": duration,
    "add_duration": add_duration,
    "iso": iso,
    "working_days": working_days,
    "working_days_at": working_days_at,
    "is_working_day": is_working_day,
    "next_working_day": next_working_day,
    "working_days_between": working_days_between,
    "catalog": catalog,
    "median": median,
    "rank_and_grade": rank_and_grade,
}
"""Name → helper, as seen by expressions."""
