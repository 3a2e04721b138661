"""What deploying catalogs reads (``engine.scripting.catalogs``): the files stored with a process's latest
version, where the catalogs a new deployment lacks are taken from."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import DefinitionVersion, SourceBlob, VersionSource


def latest_process_files(session: Session, key: str) -> list[tuple[str, str]]:
    """(file name, content) of every file stored with the latest deployed version of process ``key``; empty when
    it was never deployed."""
    latest = session.execute(select(DefinitionVersion.id).where(
        DefinitionVersion.key == key, DefinitionVersion.kind == "process")
        .order_by(DefinitionVersion.version.desc()).limit(1)).scalar()
    if latest is None:
        return []
    rows = session.execute(select(VersionSource.file_name, SourceBlob.content)
                           .join(SourceBlob, SourceBlob.sha256 == VersionSource.blob_sha256)
                           .where(VersionSource.version_id == latest)).all()
    return [(file_name, content) for file_name, content in rows]
