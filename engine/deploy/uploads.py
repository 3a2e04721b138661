"""Deploying uploaded files (the 上传部署 page, the REST API): several ``.bpmn``, ``.dmn``, ``.form.json``,
catalog and calendar files, or one ``.zip`` of a folder, become the same sources ``whistle deploy`` reads from
the file system (``engine.deploy.sources``), checked and stored by the same code (``engine.deploy.checks``,
``engine.deploy.deployer``). A designer checks first (:func:`plan`, a dry run) and then deploys exactly what was
checked: the upload's hash (:func:`upload_hash`) is compared before anything is stored.

An archive is untrusted input. Refused outright, with nothing of it read and so nothing deployed: entry names
that are absolute or climb out of the folder (``../``), symbolic links and other entries that are not plain files
(a zip has no hard-link entry; an entry given twice — which would overwrite another on unpacking — is refused
alike), encrypted entries, more entries than ``WHISTLE_UPLOAD_MAX_FILES``, more bytes once unpacked than
``WHISTLE_UPLOAD_MAX_UNPACKED_MB`` and an entry that unpacks to more than ``WHISTLE_UPLOAD_MAX_RATIO`` times its
packed size (a zip bomb). Sizes are judged from the archive's directory before anything is unpacked, and an
entry is never read beyond them. The files themselves then meet the checks of every deployment: the size limits
(``WHISTLE_DEPLOY_MAX_FILE_MB``, ``WHISTLE_DEPLOY_MAX_TOTAL_MB``), UTF-8 text, well-formed XML through the
hardened reader that refuses any DTD or entity (``engine.bpmn.reading``), schema, parse, references and lint.
"""
from __future__ import annotations

import hashlib
import io
import re
import stat
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from engine.audit.chain import AuditLog
from engine.bpmn.reading import file_kind
from engine.deploy.deployer import DeployedDefinition, Deployer
from engine.deploy.lint import with_warnings
from engine.deploy.sources import (
    NOT_A_SOURCE,
    SourceFile,
    decode,
    positive_setting,
    size_limits,
    too_large,
    too_much,
)
from engine.errors import Conflict, DeploymentInvalid, Problem
from engine.forms.files import is_form_file
from engine.notifications.templates import is_templates_file
from engine.scripting.catalogs import is_catalog_file
from engine.store import Session
from engine.time.calendar_files import is_calendar_file

Upload = Sequence[tuple[str, bytes]]  # the uploaded files: (name as the browser or client gave it, content)

DEFAULT_MAX_FILES = 500  # uploaded files and archive entries together; processes/ has about 60
DEFAULT_MAX_UNPACKED_MB = 50  # every entry of an archive, unpacked
DEFAULT_MAX_RATIO = 100  # unpacked / packed size of one entry; XML packs about 10 to 20 times
_RATIO_FROM = 64 * 1024  # smaller entries may pack as tightly as they like: together they stay under the limit
_YEAR_CSV = re.compile(r"^\d{4}\.csv$", re.IGNORECASE)  # a calendar uploaded alone: 2027.csv
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class UploadLimits:
    max_files: int
    max_unpacked: int  # bytes
    max_ratio: float


def upload_limits() -> UploadLimits:
    """The limits on an upload, from ``WHISTLE_UPLOAD_MAX_FILES`` (default 500), ``WHISTLE_UPLOAD_MAX_UNPACKED_MB``
    (default 50) and ``WHISTLE_UPLOAD_MAX_RATIO`` (default 100); read on every upload, so a change needs no
    restart."""
    unpacked = positive_setting("WHISTLE_UPLOAD_MAX_UNPACKED_MB", DEFAULT_MAX_UNPACKED_MB, "megabytes")
    return UploadLimits(int(positive_setting("WHISTLE_UPLOAD_MAX_FILES", DEFAULT_MAX_FILES, "files")),
                        int(unpacked * 2**20), positive_setting("WHISTLE_UPLOAD_MAX_RATIO", DEFAULT_MAX_RATIO, "times"))


def upload_hash(files: Upload) -> str:
    """The identity of an upload: its file names and contents, in any order. A confirmation deploys only the
    upload whose dry run had this hash."""
    parts = sorted(f"{len(name.encode())}:{name}:{hashlib.sha256(data).hexdigest()}" for name, data in files)
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def _bad_name(name: str) -> str | None:
    """Why a file name cannot be one of a deployment's (absolute, climbing out, control characters), or None."""
    if not name or name.strip() != name:
        return "has no usable name"
    if _CONTROL.search(name):
        return "has a control character in its name"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "climbs out of the folder (../)"
    return None


def _kind_of(name: str) -> str | None:
    # As on the file system (engine.deploy.sources): a .csv file in a calendars/ folder is a working-day
    # calendar; uploaded alone, a year's file (2027.csv) is one too. Any other .csv is a catalog.
    if is_calendar_file(name) or _YEAR_CSV.match(PurePosixPath(name.replace("\\", "/")).name):
        return "calendar"
    if is_form_file(name):
        return "form"
    if is_templates_file(name):
        return "notify-templates"
    if is_catalog_file(name):
        return "catalog"
    return file_kind(name)


def _ignored(name: str) -> bool:
    """Entries of an archive a folder deploy would pass over too: other files, and what desktops add."""
    path = PurePosixPath(name)
    return (name.endswith("/") or path.parts[:1] == ("__MACOSX",) or path.name.startswith(".")
            or _kind_of(name) is None)


def _size(size: int) -> str:
    return f"{size / 2**20:,.1f} MB" if size >= 2**20 else f"{size / 2**10:,.0f} KB"


class _Refused(Exception):
    """An archive refused as a whole: ``message`` says why, naming the entry."""


def _check_entries(archive: str, infos: list[zipfile.ZipInfo], limits: UploadLimits, file_limit: int) -> None:
    if len(infos) > limits.max_files:
        raise _Refused(f"it has {len(infos)} entries; an upload may have at most {limits.max_files} "
                       f"(WHISTLE_UPLOAD_MAX_FILES)")
    seen: set[str] = set()
    unpacked = 0
    for info in infos:
        entry = info.filename
        why = _bad_name(entry.rstrip("/"))
        if why:
            raise _Refused(f"the entry '{entry}' {why}")
        mode = info.external_attr >> 16
        if mode and stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            what = "a symbolic link" if stat.S_ISLNK(mode) else "not a plain file (a link or a device)"
            raise _Refused(f"the entry '{entry}' is {what}; an upload holds plain files only")
        if entry.lower() in seen:
            raise _Refused(f"the entry '{entry}' is in it twice (a link, or one overwriting the other)")
        seen.add(entry.lower())
        if info.flag_bits & 0x1:
            raise _Refused(f"the entry '{entry}' is encrypted")
        unpacked += info.file_size
        if unpacked > limits.max_unpacked:
            raise _Refused(f"it unpacks to more than {_size(limits.max_unpacked)} (WHISTLE_UPLOAD_MAX_UNPACKED_MB)")
        if info.file_size > _RATIO_FROM and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise _Refused(f"the entry '{entry}' unpacks to {info.file_size / max(info.compress_size, 1):,.0f} "
                           f"times its packed size; at most {limits.max_ratio:g} (WHISTLE_UPLOAD_MAX_RATIO) — "
                           f"a zip bomb?")
        if not _ignored(entry) and info.file_size > file_limit:
            large = too_large(f"{archive}: {entry}", info.file_size, file_limit)
            raise _Refused(large.message if large else "")


def _unpack(archive: str, data: bytes, limits: UploadLimits,
            file_limit: int) -> list[tuple[str, bytes]]:
    """The entries of a zip that a deployment reads, as (name, bytes); ``_Refused`` for a hostile archive."""
    try:
        zipped = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise _Refused("it is not a zip archive that can be read") from None
    with zipped:
        infos = zipped.infolist()
        _check_entries(archive, infos, limits, file_limit)
        found = []
        for info in infos:
            if _ignored(info.filename):
                continue
            try:
                with zipped.open(info) as member:
                    content = member.read(info.file_size + 1)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, ValueError, EOFError, OSError) as exc:
                raise _Refused(f"the entry '{info.filename}' cannot be unpacked ({exc})") from None
            if len(content) != info.file_size:
                raise _Refused(f"the entry '{info.filename}' is not the size its archive says")
            found.append((info.filename, content))
        return found


@dataclass
class ReadUpload:
    """An upload read: its sources, the problems of those that could not be read, the archive entries passed
    over, and each file as uploaded (name, kind, bytes)."""

    sources: list[SourceFile]
    problems: list[Problem]
    ignored: list[str]
    files: list[dict]


def read_upload(files: Upload, limits: UploadLimits | None = None) -> ReadUpload:
    """The sources of an upload: loose files as they are, each ``.zip`` unpacked (or refused whole)."""
    limits = limits or upload_limits()
    file_limit, total_limit = size_limits()
    read = ReadUpload([], [], [], [])
    if not files:
        read.problems.append(Problem("", None, None, "no files were uploaded"))
        return read
    if len(files) > limits.max_files:
        read.problems.append(Problem("", None, None, f"{len(files)} files were uploaded; at most "
                                                     f"{limits.max_files} at once (WHISTLE_UPLOAD_MAX_FILES)"))
        return read
    entries: list[tuple[str, bytes]] = []
    for name, data in files:
        why = _bad_name(name)
        if why:
            read.problems.append(Problem(name, None, None, f"refused: the file {why}; nothing was deployed"))
            continue
        if name.lower().endswith(".zip"):
            read.files.append({"name": name, "kind": "zip", "bytes": len(data)})
            try:
                unpacked = _unpack(name, data, limits, file_limit)
            except _Refused as refused:
                read.problems.append(Problem(name, None, None, f"archive refused: {refused}; nothing in it was "
                                                               f"read and nothing was deployed"))
                continue
            read.ignored.extend(info for info in _listing(data) if _ignored(info))
            entries.extend(unpacked)
        else:
            read.files.append({"name": name, "kind": _kind_of(name) or "", "bytes": len(data)})
            entries.append((name, data))
    total = 0
    seen: set[str] = set()
    for name, data in entries:
        if name in seen:
            read.problems.append(Problem(name, None, None, "this file was uploaded twice; upload it once"))
            continue
        seen.add(name)
        large = too_large(name, len(data), file_limit)
        if large:
            read.problems.append(large)
            continue
        total += len(data)
        if total > total_limit:
            read.problems.append(too_much(", ".join(n for n, _ in files), total_limit))
            break
        kind = _kind_of(name)
        if kind is None:
            read.problems.append(Problem(name, None, None, NOT_A_SOURCE))
            continue
        source = decode(name, kind, data)
        if isinstance(source, Problem):
            read.problems.append(source)
        else:
            read.sources.append(source)
    if not read.sources and not read.problems:
        read.problems.append(Problem(", ".join(n for n, _ in files), None, None, "no .bpmn or .dmn files found"))
    return read


def _listing(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        return [name for name in zipped.namelist() if not name.endswith("/")]


def plan(session: Session, deployer: Deployer, files: Upload) -> dict:
    """The dry run of an upload: every problem with its file, line and element (errors and lint warnings, as
    ``whistle lint`` and ``whistle deploy`` report them), each process and decision ``new`` (and its version)
    or ``unchanged``, and the BPMN text of each diagram, for the page to draw. ``ok`` when it would deploy."""
    read = read_upload(files)
    diagrams = [{"file": s.name, "xml": s.content} for s in read.sources if s.kind == "bpmn"]
    sources = list(read.sources)
    definitions: list[DeployedDefinition] = []
    try:
        definitions = deployer.plan(session, read.sources, read.problems)
        problems = with_warnings([], sources)
    except DeploymentInvalid as exc:
        problems = with_warnings(list(exc.problems), sources)
    errors = sum(1 for p in problems if p.severity == "error")
    return {"ok": errors == 0, "upload_hash": upload_hash(files), "files": read.files, "ignored": read.ignored,
            "definitions": [d.to_dict() for d in definitions] if errors == 0 else [],
            "problems": [p.to_dict() for p in problems], "errors": errors, "warnings": len(problems) - errors,
            "diagrams": diagrams}


def deploy(session: Session, audit: AuditLog, deployer: Deployer, files: Upload, actor: str,
           expected_hash: str | None = None) -> list[DeployedDefinition]:
    """Deploy an upload in the caller's transaction, atomically as ``whistle deploy``: ``DeploymentInvalid``
    stores nothing. With ``expected_hash`` (the dry run's), an upload that is not the one checked is a
    ``Conflict`` and nothing is stored."""
    if expected_hash is not None and expected_hash != upload_hash(files):
        raise Conflict("these files are not the ones that were checked; check them again before deploying")
    read = read_upload(files)
    return deployer.deploy_sources(session, audit, read.sources, read.problems, actor, via="upload")
