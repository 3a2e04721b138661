"""Deployed definitions: the versions of processes and decisions, and the files each was built from.

A version's files are stored as blobs by content hash (one row however many versions share a file) and named
per version in ``version_source``. Versions are never changed once written (ADR 5: the spec is rebuilt from
these files, never stored per instance).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.store.models import DefinitionVersion, SourceBlob, VersionSource


def version_by_id(session: Session, version_id: int) -> DefinitionVersion | None:
    return session.get(DefinitionVersion, version_id)


def latest_version(session: Session, key: str, kind: str = "process") -> DefinitionVersion | None:
    """The highest version of the process (or decision) ``key``; None if it was never deployed."""
    found: DefinitionVersion | None = session.execute(
        select(DefinitionVersion)
        .where(DefinitionVersion.key == key, DefinitionVersion.kind == kind)
        .order_by(DefinitionVersion.version.desc()).limit(1)).scalar()
    return found


def process_version(session: Session, key: str, number: int) -> DefinitionVersion | None:
    """Version ``number`` of the process ``key``; None if there is none."""
    found: DefinitionVersion | None = session.execute(select(DefinitionVersion).where(
        DefinitionVersion.key == key, DefinitionVersion.kind == "process",
        DefinitionVersion.version == number)).scalar()
    return found


def latest_process_number(session: Session, key: str) -> int | None:
    """The highest version number of the process ``key``; None if it was never deployed."""
    number: int | None = session.execute(select(func.max(DefinitionVersion.version)).where(
        DefinitionVersion.key == key, DefinitionVersion.kind == "process")).scalar()
    return number


def version_files(session: Session, version_id: int) -> list[tuple[str, str]]:
    """Every file stored with a version as (file name, content): its BPMN/DMN files, forms and catalogs."""
    rows = session.execute(select(VersionSource.file_name, SourceBlob.content)
                           .join(SourceBlob, SourceBlob.sha256 == VersionSource.blob_sha256)
                           .where(VersionSource.version_id == version_id))
    return [(file_name, content) for file_name, content in rows]


def latest_process_files(session: Session, key: str) -> list[tuple[str, str]]:
    """Every file stored with the latest version of process ``key`` as (file name, content); empty when it was
    never deployed. A deployment takes the forms and catalogs it lacks from here."""
    latest = latest_version(session, key)
    return [] if latest is None else version_files(session, latest.id)


def version_file(session: Session, version_id: int, file_name: str) -> str:
    """The content of one file stored with a version (it must be one of them)."""
    content: str = session.execute(select(SourceBlob.content)
                                   .join(VersionSource, SourceBlob.sha256 == VersionSource.blob_sha256)
                                   .where(VersionSource.version_id == version_id,
                                          VersionSource.file_name == file_name)).scalar_one()
    return content


def add_version(session: Session, *, key: str, kind: str, version: int, name: str | None, content_hash: str,
                source_file: str, deployed_at: datetime, deployed_by: str, warnings: list[dict],
                files: Iterable[tuple[str, str, str]]) -> DefinitionVersion:
    """Write a new version and name its files, given as (file name, sha256, content); a file's blob is written
    only if no version stored the same content before. Flushed, so the version's ``id`` is known."""
    row = DefinitionVersion(key=key, kind=kind, version=version, name=name, content_hash=content_hash,
                            source_file=source_file, deployed_at=deployed_at, deployed_by=deployed_by,
                            warnings=warnings)
    session.add(row)
    session.flush()
    for file_name, sha256, content in files:
        if session.get(SourceBlob, sha256) is None:
            session.add(SourceBlob(sha256=sha256, content=content, size=len(content.encode("utf-8"))))
            session.flush()
        session.add(VersionSource(version_id=row.id, file_name=file_name, blob_sha256=sha256))
    return row
