"""The statements behind a definition's version history (``engine.management.versions``): every version of a
process or decision with how many of its cases run and have finished, and the files stored with one."""
from __future__ import annotations

from sqlalchemy import func, select

from engine.store import Session
from engine.store.models import DefinitionVersion, ProcessInstance, SourceBlob, VersionSource


def definition_keys(session: Session) -> list[tuple[str, str]]:
    """Every deployed definition as (key, kind), by key."""
    rows = session.execute(select(DefinitionVersion.key, DefinitionVersion.kind).distinct()
                           .order_by(DefinitionVersion.key, DefinitionVersion.kind))
    return [(key, kind) for key, kind in rows]


def versions_of(session: Session, key: str) -> list[tuple[DefinitionVersion, dict[str, int]]]:
    """Every version of the definition ``key``, oldest first, with its cases counted by status
    (``running``, ``completed``, ``cancelled``)."""
    versions = list(session.execute(select(DefinitionVersion).where(DefinitionVersion.key == key)
                                    .order_by(DefinitionVersion.version)).scalars())
    counts: dict[int, dict[str, int]] = {}
    if versions:
        rows = session.execute(select(ProcessInstance.version_id, ProcessInstance.status, func.count())
                               .where(ProcessInstance.version_id.in_([v.id for v in versions]))
                               .group_by(ProcessInstance.version_id, ProcessInstance.status))
        for version_id, status, count in rows:
            counts.setdefault(version_id, {})[status] = count
    return [(v, counts.get(v.id, {})) for v in versions]


def version_of(session: Session, key: str, number: int) -> DefinitionVersion | None:
    """Version ``number`` of the definition ``key`` (a process or a decision); None if there is none."""
    found: DefinitionVersion | None = session.execute(select(DefinitionVersion).where(
        DefinitionVersion.key == key, DefinitionVersion.version == number)).scalar()
    return found


def stored_files(session: Session, version_id: int) -> list[tuple[str, str, str, int]]:
    """The files stored with a version as (file name, content, sha256, size in bytes), by name."""
    rows = session.execute(select(VersionSource.file_name, SourceBlob.content, SourceBlob.sha256, SourceBlob.size)
                           .join(SourceBlob, SourceBlob.sha256 == VersionSource.blob_sha256)
                           .where(VersionSource.version_id == version_id).order_by(VersionSource.file_name))
    return [(name, content, sha256, size) for name, content, sha256, size in rows]
