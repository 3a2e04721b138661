"""A definition's version history for designers and administrators: every version of a process (or decision)
with who deployed it, when, its content hash, the lint warnings its deployment reported and its running and
finished cases; the files of any version exactly as they were deployed (one, or all as a ``.zip``); and the
semantic diff of two versions (``engine.deploy.diff``).

Versions never change once deployed (ADR 5), so none of this needs a write transaction. Every read takes the
actor and is for designers and administrators only (``Forbidden`` otherwise, checked here for the pages and the
REST API alike); the actor ``None`` is the operator at the server's command line (``whistle diff``), who has the
database anyway.
"""
from __future__ import annotations

import io
import posixpath
import zipfile
from datetime import UTC

from engine.deploy.diff import diff_versions
from engine.errors import NotFound
from engine.identity import roles
from engine.store import Session, facts
from engine.store import versions as stored
from engine.store.db import Database
from engine.store.models import DefinitionVersion
from engine.time import clock


class VersionHistory:
    """Reads of the deployed versions of one definition; thread-safe (each call opens its own session)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def versions(self, key: str, actor: str | None) -> dict:
        """Every version of ``key``, newest first: ``{"process_id", "kind", "name", "versions": [...]}``, each
        file with its stored name (``file``) and its name in the version's zip (``path``); NotFound naming what
        is deployed when there is no such definition."""
        with self.db.read() as session:
            _require_reader(session, actor)
            rows = stored.versions_of(session, key)
            if not rows:
                raise NotFound(_unknown(session, key))
            found = []
            for version, counts in reversed(rows):
                stored_files = stored.stored_files(session, version.id)
                paths = archive_names([name for name, *_rest in stored_files])
                files = [{"file": name, "path": path, "sha256": sha256, "size": size}
                         for (name, _content, sha256, size), path in zip(stored_files, paths, strict=True)]
                found.append({**_header(version), "warnings": list(version.warnings or []),
                              "running": counts.get("running", 0), "completed": counts.get("completed", 0),
                              "cancelled": counts.get("cancelled", 0),
                              "finished": sum(n for status, n in counts.items() if status != "running"),
                              "files": files})
            latest = rows[-1][0]
            return {"process_id": key, "kind": latest.kind, "name": latest.name, "versions": found}

    def element_counts(self, key: str, number: int, actor: str | None) -> dict:
        """The definition view (Cockpit's): per element of version ``number`` of ``key``, the cases waiting
        there, overdue there and in incident there (one grouped read each over human_task, timer_job,
        message_subscription and incident): ``{"version_id", "elements": {id: {"waiting", "overdue",
        "incidents"}}}``."""
        with self.db.read() as session:
            _require_reader(session, actor)
            version = _version(session, key, number)
            return {"process_id": key, "version": number, "version_id": version.id,
                    "elements": facts.element_counts(session, version.id, clock.now())}

    def files(self, key: str, number: int, actor: str | None) -> list[tuple[str, str]]:
        """The files stored with version ``number`` of ``key`` as (file name, content), by name."""
        with self.db.read() as session:
            _require_reader(session, actor)
            version = _version(session, key, number)
            return [(name, content) for name, content, _sha, _size in stored.stored_files(session, version.id)]

    def file(self, key: str, number: int, file_name: str, actor: str | None) -> str:
        """One stored file's content, as deployed, by its stored name or its name in the version's zip (the
        ``path`` of ``versions``); NotFound naming the version's files."""
        files = self.files(key, number, actor)
        by_name = dict(files)
        if file_name in by_name:
            return by_name[file_name]
        by_path = dict(zip(archive_names([name for name, _ in files]), (content for _, content in files),
                           strict=True))
        if file_name in by_path:
            return by_path[file_name]
        raise NotFound(f"version {number} of {key} has no file {file_name!r}; its files: {', '.join(by_path)}")

    def archive(self, key: str, number: int, actor: str | None) -> tuple[str, bytes]:
        """All files of a version as a zip (its name and bytes), each entry the stored content byte for byte,
        named relative to the folder the files share (so the zip unpacks into a folder ``whistle deploy`` takes),
        dated when the version was deployed (the same version always makes the same zip)."""
        with self.db.read() as session:
            _require_reader(session, actor)
            version = _version(session, key, number)
            files = [(name, content) for name, content, _sha, _size in stored.stored_files(session, version.id)]
            when = version.deployed_at.astimezone(UTC)
        stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for entry, content in zip(archive_names([n for n, _ in files]), (c for _, c in files), strict=True):
                info = zipfile.ZipInfo(entry, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, content.encode("utf-8"))
        return f"{key}-v{number}.zip", buffer.getvalue()

    def diff(self, key: str, old: int, new: int, actor: str | None) -> dict:
        """What changed from version ``old`` to version ``new`` of ``key`` (``engine.deploy.diff``), with both
        versions' facts under ``from`` and ``to``."""
        with self.db.read() as session:
            _require_reader(session, actor)
            versions = [_version(session, key, number) for number in (old, new)]
            headers = [_header(v) for v in versions]
            files = [{name: content for name, content, _sha, _size in stored.stored_files(session, v.id)}
                     for v in versions]
        result = diff_versions(files[0], files[1], old_own=versions[0].source_file, new_own=versions[1].source_file)
        return {"process_id": key, "kind": versions[1].kind, "from": headers[0], "to": headers[1], **result}


def archive_names(names: list[str]) -> list[str]:
    """Zip entry names for stored file names: relative to the folder they share, with no absolute part and no
    ``..`` (a name that would repeat gets a number)."""
    parts = [[p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")] for name in names]
    folders = [p[:-1] for p in parts]
    common = 0
    if folders:
        shortest = min(len(f) for f in folders)
        while common < shortest and all(f[common] == folders[0][common] for f in folders):
            common += 1
    found: list[str] = []
    for name_parts, original in zip(parts, names, strict=True):
        entry = posixpath.join(*name_parts[common:]) if name_parts[common:] else (original or "file")
        stem, dot, suffix = entry.partition(".")
        number = 2
        while entry in found:
            entry = f"{stem}-{number}{dot}{suffix}"
            number += 1
        found.append(entry)
    return found


def _require_reader(session: Session, actor: str | None) -> None:
    """Sources are for designers and administrators; ``None`` is the operator at the command line."""
    if actor is None:
        return
    roles.require(session, actor, roles.DESIGNERS, "read the versions of deployed definitions")


def _header(version: DefinitionVersion) -> dict:
    return {"process_id": version.key, "kind": version.kind, "version": version.version, "version_id": version.id,
            "name": version.name, "file": version.source_file, "deployed_at": version.deployed_at.isoformat(),
            "deployed_by": version.deployed_by, "content_hash": version.content_hash}


def _version(session: Session, key: str, number: int) -> DefinitionVersion:
    version = stored.version_of(session, key, number)
    if version is None:
        numbers = [v.version for v, _ in stored.versions_of(session, key)]
        if not numbers:
            raise NotFound(_unknown(session, key))
        raise NotFound(f"{key} has no version {number}; its versions: {', '.join(map(str, numbers))}")
    return version


def _unknown(session: Session, key: str) -> str:
    known = stored.definition_keys(session)
    listed = ", ".join(k for k, _kind in known) if known else "none yet"
    return f"no process or decision {key!r} is deployed; deployed: {listed}"
