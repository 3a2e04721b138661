"""The working-day calendars as stored (migration 0011): one ``calendar_version`` row per loaded version of a
year, its days in ``calendar_day``. Versions are only ever added, so the newest row of a year is its calendar
and (row count, newest id) tells every process when to reread. ``engine.time.calendars`` reads them;
``engine.deploy.calendars`` stores them."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.orm import Session

from engine.store.models import CalendarDay, CalendarVersion, HumanTask

DayEntries = dict[date, tuple[str, str]]  # day -> (holiday | workday, name)


def version_key(db: Connection | Session) -> tuple[Any, ...]:
    """What changes whenever a calendar version is stored: (row count, newest id) of ``calendar_version``."""
    return tuple(db.execute(select(func.count(CalendarVersion.id), func.max(CalendarVersion.id))).one())


def newest_versions(db: Connection | Session) -> list[tuple[Row[Any], DayEntries]]:
    """The newest stored version of every year (id, year, version, status, source, file_name, loaded_at,
    loaded_by, loaded_via), each with its days."""
    newest = select(func.max(CalendarVersion.id)).group_by(CalendarVersion.year)
    rows = db.execute(select(CalendarVersion.id, CalendarVersion.year, CalendarVersion.version, CalendarVersion.status,
                             CalendarVersion.source, CalendarVersion.file_name, CalendarVersion.loaded_at,
                             CalendarVersion.loaded_by, CalendarVersion.loaded_via)
                      .where(CalendarVersion.id.in_(newest))).all()
    days: dict[int, DayEntries] = {row.id: {} for row in rows}
    if rows:
        for version_id, day, kind, name in db.execute(
                select(CalendarDay.version_id, CalendarDay.day, CalendarDay.kind, CalendarDay.name)
                .where(CalendarDay.version_id.in_(list(days)))):
            days[version_id][day] = (kind, name or "")
    return [(row, days[row.id]) for row in rows]


def read_if_changed(engine: Engine, known_key: tuple[Any, ...]
                    ) -> tuple[tuple[Any, ...], list[tuple[Row[Any], DayEntries]] | None]:
    """On a connection of its own: the current version key, and the newest versions unless the key is still
    ``known_key`` (None then). Raises whatever the database raises: the caller keeps what it has."""
    with engine.connect() as connection:
        key = version_key(connection)
        return key, (None if key == known_key else newest_versions(connection))


def latest_version(session: Session, year: int) -> CalendarVersion | None:
    """The newest stored version of ``year``; None if the year was never loaded."""
    found: CalendarVersion | None = session.execute(
        select(CalendarVersion).where(CalendarVersion.year == year)
        .order_by(CalendarVersion.version.desc()).limit(1)).scalar()
    return found


def add_version(session: Session, *, year: int, version: int, status: str, source: str | None, file_name: str,
                content_hash: str, loaded_via: str, loaded_at: datetime, loaded_by: str,
                days: Iterable[tuple[date, str, str]]) -> CalendarVersion:
    """Store a new version of ``year`` with its days (day, holiday | workday, name)."""
    row = CalendarVersion(year=year, version=version, status=status, source=source, file_name=file_name,
                          content_hash=content_hash, loaded_via=loaded_via, loaded_at=loaded_at, loaded_by=loaded_by)
    session.add(row)
    session.flush()
    session.add_all(CalendarDay(version_id=row.id, day=day, kind=kind, name=name or None) for day, kind, name in days)
    return row


def count_open_deadlines(session: Session, due_from: datetime, created_before: datetime) -> int:
    """Open tasks with a deadline at or after ``due_from`` that were created before ``created_before``."""
    count: int | None = session.execute(select(func.count(HumanTask.id)).where(
        HumanTask.status == "open", HumanTask.due_at.is_not(None), HumanTask.due_at >= due_from,
        HumanTask.created_at < created_before)).scalar()
    return count or 0
