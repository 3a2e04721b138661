"""Calendar files: ``processes/calendars/*.csv`` (deployed with the processes) and the files ``whistle calendar
import`` loads — CSV ``date,kind,name``, one year or more per file — read into :class:`YearSchedule`, written back
by :func:`format_calendar`; and the statutory holidays of a year whose schedule is not published yet
(:func:`statutory_schedule`, from the rules in ``processes/calendars/statutory-holidays.json``)."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from engine.errors import Problem
from engine.time.calendars import HOLIDAY, OFFICIAL, STATUTORY, WORKDAY

CALENDAR_FOLDER = "calendars"  # processes/calendars/*.csv are calendars; other .csv files are catalogs
STATUTORY_RULES = Path(__file__).resolve().parents[2] / "processes" / CALENDAR_FOLDER / "statutory-holidays.json"
MAX_PROBLEMS_PER_FILE = 20


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
    catalogs (``engine.scripting.catalogs``)."""
    path = Path(str(path))
    return path.suffix.lower() == ".csv" and path.parent.name.lower() == CALENDAR_FOLDER


_COLUMNS = ("date", "kind", "name")
_YEAR_KINDS = {"official": OFFICIAL, "statutory only": STATUTORY, "statutory": STATUTORY}


def parse_calendar(  # noqa: C901 - one case per kind of calendar line
        file_name: str, content: str) -> tuple[list[YearSchedule] | None, list[Problem]]:
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
            row = {column: value.strip() for column, value in zip(columns, record, strict=True)}
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
    for _first, name, block in sorted(blocks):
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
    # Imported here: only computing a statutory schedule (the CLI, tests) needs it, never the engine at run time,
    # and it takes about 10 ms to import.
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
