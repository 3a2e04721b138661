"""A deployment's sources: the files and folders given, read into :class:`SourceFile` objects, and the XML
of each parsed with the hardened reader (``engine.bpmn.reading``). Sizes are checked before anything is read.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from engine.bpmn.reading import XmlRefused, file_kind, read_xml
from engine.errors import NotFound, Problem
from engine.forms.files import is_form_file
from engine.notifications.templates import is_templates_file
from engine.scripting.catalogs import is_catalog_file
from engine.time.calendar_files import is_calendar_file

DEFINITION_SUFFIXES = (".bpmn", ".dmn")
DEFAULT_MAX_FILE_MB = 5  # per file of a deployment; the governance processes' largest BPMN file is 61 KB
DEFAULT_MAX_DEPLOYMENT_MB = 20  # all files of one deployment together


@dataclass
class SourceFile:
    name: str  # as shown to people: relative to the folder given, or the path given
    content: str
    kind: str  # bpmn | dmn | form | catalog | calendar | notify-templates
    tree: etree._ElementTree | None = None
    ids: dict[str, int] = field(default_factory=dict)  # element id -> line
    line_ids: dict[int, str] = field(default_factory=dict)  # line -> first element id on it
    warnings: dict[str | None, list[Problem]] = field(default_factory=dict)  # lint warnings by definition key

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode("utf-8")).hexdigest()


def collect_files(paths: list[str | Path]) -> list[tuple[str, Path]]:
    """Expand folders into the BPMN/DMN files inside them, in a stable order."""
    found: list[tuple[str, Path]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and (child.suffix.lower() in DEFINITION_SUFFIXES or is_form_file(child.name)
                                        or is_catalog_file(child.name) or is_templates_file(child)):
                    found.append((str(Path(raw) / child.relative_to(path)), child))
        elif path.is_file():
            found.append((str(raw), path))
        else:
            raise NotFound(f"{raw}: no such file or folder")
    return found


def positive_setting(variable: str, default: float, unit: str) -> float:
    """A positive number from the environment (``default`` when unset); a clear error naming the variable."""
    text = os.environ.get(variable, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        raise ValueError(f"{variable}={text!r} is not a number of {unit}") from None
    if not value > 0:
        raise ValueError(f"{variable} must be a positive number of {unit}, got {text!r}")
    return value


def _megabytes_setting(variable: str, default: float) -> int:
    return int(positive_setting(variable, default, "megabytes") * 2**20)


def size_limits() -> tuple[int, int]:
    """The largest file and the largest deployment, in bytes (``WHISTLE_DEPLOY_MAX_FILE_MB``, default 5, and
    ``WHISTLE_DEPLOY_MAX_TOTAL_MB``, default 20)."""
    return (_megabytes_setting("WHISTLE_DEPLOY_MAX_FILE_MB", DEFAULT_MAX_FILE_MB),
            _megabytes_setting("WHISTLE_DEPLOY_MAX_TOTAL_MB", DEFAULT_MAX_DEPLOYMENT_MB))


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


_DECLARED_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")


def _kind_of(name: str, path: Path) -> str | None:
    # A .csv file in a calendars/ folder is a working-day calendar (engine.deploy.calendars), any other a catalog.
    if is_calendar_file(path.resolve()):
        return "calendar"
    if is_form_file(name):
        return "form"
    if is_catalog_file(name):
        return "catalog"
    if is_templates_file(path.resolve()):
        return "notify-templates"  # engine.deploy.notify_templates
    return file_kind(name)


def too_large(name: str, size: int, file_limit: int) -> Problem | None:
    """The problem of a file larger than a deployed file may be (``WHISTLE_DEPLOY_MAX_FILE_MB``), or None."""
    if size <= file_limit:
        return None
    return Problem(name, None, None, f"the file is {_mb(size)}; a deployed file may be at most {_mb(file_limit)} "
                                     f"(WHISTLE_DEPLOY_MAX_FILE_MB)")


def too_much(where: str, total_limit: int) -> Problem:
    """The problem of a deployment whose files add up to more than ``WHISTLE_DEPLOY_MAX_TOTAL_MB``."""
    return Problem(where, None, None, f"the files of this deployment add up to more than {_mb(total_limit)} "
                                      f"(WHISTLE_DEPLOY_MAX_TOTAL_MB); deploy them in several parts")


NOT_A_SOURCE = "not a .bpmn, .dmn, .form.json, .csv or .catalog.json file"


def decode(name: str, kind: str, data: bytes) -> SourceFile | Problem:
    """A file's bytes as a source of ``kind``, read as UTF-8 text; the problem when they are not UTF-8 (with a
    hint when the XML declaration names another encoding). The file system and uploads both read through it."""
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        declared = _DECLARED_ENCODING.match(data[:1024])
        hint = f'; it says encoding="{declared.group(1).decode("ascii", "replace")}": save it as UTF-8 ' \
               f'(Whistle reads BPMN and DMN files as UTF-8)' if declared else ""
        return Problem(name, None, None, f"not UTF-8 text ({exc.reason}){hint}")
    return SourceFile(name, content, kind)


def read_sources(paths: list[str | Path]) -> tuple[list[SourceFile], list[Problem]]:
    """The files of a deployment, read as UTF-8 text, and the problems of those that could not be read."""
    sources: list[SourceFile] = []
    problems: list[Problem] = []
    file_limit, total_limit = size_limits()
    total = 0
    for name, path in collect_files(paths):
        # Sizes first, from the file system: a 60 MB diagram is refused before anything reads it.
        size = path.stat().st_size
        large = too_large(name, size, file_limit)
        if large:
            problems.append(large)
            continue
        total += size
        if total > total_limit:
            problems.append(too_much(", ".join(str(p) for p in paths), total_limit))
            break
        kind = _kind_of(name, path)
        if kind is None:
            problems.append(Problem(name, None, None, NOT_A_SOURCE))
            continue
        read = decode(name, kind, path.read_bytes())
        if isinstance(read, Problem):
            problems.append(read)
        else:
            sources.append(read)
    if not sources and not problems:
        problems.append(Problem(", ".join(str(p) for p in paths), None, None, "no .bpmn or .dmn files found"))
    return sources, problems


def parse_xml(source: SourceFile) -> Problem | None:
    """Parse a BPMN or DMN source in place (``tree``, ``ids``, ``line_ids``); the problem if it is not XML the
    hardened reader accepts (no DOCTYPE, UTF-8 only)."""
    try:
        source.tree = read_xml(source.content)
    except XmlRefused as exc:
        return Problem(source.name, exc.line, None, str(exc))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        return Problem(source.name, line, None, f"not well-formed XML: {exc.msg}")
    for element in source.tree.iter():
        element_id = element.get("id") if isinstance(element.tag, str) else None
        if element_id:
            source.ids.setdefault(element_id, element.sourceline)
            source.line_ids.setdefault(element.sourceline, element_id)
    return None
