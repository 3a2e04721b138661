"""Storing working-day calendars: the calendar files of a deployment (``processes/calendars/*.csv``) and of
``whistle calendar import`` become new calendar versions in the database, one audit event ``calendar_loaded``
each, serialised by an advisory lock; every process rereads them (``engine.time.calendars``)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from engine.audit.chain import AuditLog
from engine.errors import Problem
from engine.store import Session, statements
from engine.store import calendars as stored_calendars
from engine.time import clock
from engine.time.calendar_files import YearSchedule, parse_calendar
from engine.time.calendars import OFFICIAL, STATUTORY, invalidate
from engine.time.workdays import local, timezone


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
    schedules = list(schedules)
    if not schedules:
        return []
    statements(session).advisory_lock(session, _ADVISORY_LOCK_KEY)
    now = clock.now()
    results: list[dict[str, Any]] = []
    for schedule in schedules:
        latest = stored_calendars.latest_version(session, schedule.year)
        content_hash = schedule.content_hash()
        holidays, workdays = schedule.counts()
        result = {"year": schedule.year, "status": schedule.status, "file": schedule.file, "line": schedule.line,
                  "holidays": holidays, "workdays": workdays, "warnings": []}
        kind, _version = _outcome(latest, schedule, via)
        if latest is not None and kind == "unchanged":
            results.append({**result, "result": "unchanged", "version": latest.version})
        elif latest is not None and kind == "kept":
            results.append({**result, "result": "kept", "version": latest.version, "status": latest.status,
                            "kept_file": latest.file_name})
        else:
            version = stored_calendars.add_version(
                session, year=schedule.year, version=(latest.version + 1) if latest else 1, status=schedule.status,
                source=schedule.source, file_name=schedule.file, content_hash=content_hash, loaded_via=via,
                loaded_at=now, loaded_by=actor,
                days=[(day, kind, name) for day, (kind, name) in sorted(schedule.days.items())])
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


def outcome(session: Session, schedule: YearSchedule, via: str) -> tuple[str, int]:
    """What :func:`store` would do with one year, storing nothing (a dry run): ``new``, ``unchanged`` or
    ``kept``, and the version the year would then have."""
    return _outcome(stored_calendars.latest_version(session, schedule.year), schedule, via)


def _outcome(latest: Any, schedule: YearSchedule, via: str) -> tuple[str, int]:
    if latest is not None and latest.content_hash == schedule.content_hash():
        return "unchanged", latest.version
    if latest is not None and via == "deploy" and latest.status == OFFICIAL and schedule.status != OFFICIAL:
        return "kept", latest.version
    return "new", (latest.version + 1) if latest else 1


def open_deadlines_across(session: Session, year: int) -> int:
    """Open tasks whose deadline was set before now across ``year``: set with the calendar ``year`` had then."""
    zone = timezone()
    return stored_calendars.count_open_deadlines(session, datetime(year, 1, 1, tzinfo=zone),
                                                 datetime(year + 1, 1, 1, tzinfo=zone))
