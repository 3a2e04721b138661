"""Catalogs as data: lists (the call situations, the major matters…) deployed and versioned with the processes
that use them, and the ``catalog()`` helper that reads them in expressions and scripts.

A catalog is a file deployed with the BPMN files (documented for designers in ``docs/expressions.md`` §4.5
and ``docs/processes.md``):

* ``NAME.csv`` — UTF-8 CSV (an Excel BOM is fine); the first line names the columns, every other line is one
  row with exactly that many values. Rows are dicts of column → **text**, exactly as written.
* ``NAME.catalog.json`` — a JSON list of objects; values keep their JSON types.

Which version gets which catalog (mirrors ``engine.forms.deployment``): a process version stores the catalogs that its
files — its BPMN file, the processes it calls, the decision tables it uses — name literally, as in
``catalog("call-situations")``, anywhere in a script, condition or expression. The name is the file name
without ``.csv`` / ``.catalog.json``, wherever the file lies in the deployment (``processes/catalogs/`` serves
every process of ``whistle deploy processes/``). The catalog's content is hashed with the version, so a
changed catalog makes version N+1 of the processes naming it and leaves the others ``unchanged``. A catalog
the deployment lacks is taken from the process's latest deployed version (deploying just the BPMN file keeps
its catalogs). Every catalog file of a deployment is checked, even one that no process names (it is then
not stored: deploying it alone changes nothing).

At run time ``catalog(name)`` reads the catalogs of the version the running instance started on: the
script engine (``engine.scripting.script_engine``) makes the task's version current for each evaluation, the version's
catalogs hang on its parsed spec (``SpecCache``, rebuilt from the stored sources after a
restart), and each catalog is parsed once per version. Nothing reads files at run time.
"""
from __future__ import annotations

import contextvars
import copy
import csv
import io
import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from engine.errors import Problem
from engine.sidefiles import take_checked
from engine.store import Session
from engine.store import definitions as stored_definitions

CSV_SUFFIX = ".csv"
JSON_SUFFIX = ".catalog.json"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_PROBLEMS_PER_FILE = 20
RULE = "catalog-deployed"  # the lint rule (engine.deploy.lint.RULES) of the warnings below
# catalog("name") / catalog('name') — or catalog(<anything else>), a name computed at run time.
_REFERENCE = re.compile(r"(?<![\w.])catalog\(\s*(?:\"([^\"\\\n]*)\"|'([^'\\\n]*)'|(?=[^\s]))")


# Prose, not expressions: documentation, text annotations, DMN descriptions.
_PROSE = {"{http://www.omg.org/spec/BPMN/20100524/MODEL}documentation",
          "{http://www.omg.org/spec/BPMN/20100524/MODEL}text",
          "{https://www.omg.org/spec/DMN/20191111/MODEL/}description",
          "{http://www.omg.org/spec/DMN/20180521/MODEL/}description"}


class CatalogError(LookupError):
    """An unknown catalog, or no row matching a lookup (scripts may ``except LookupError``)."""


# ---------------------------------------------------------------------------------------------------------
# Files

def is_catalog_file(name: str) -> bool:
    lowered = str(name).lower()
    return lowered.endswith(CSV_SUFFIX) or lowered.endswith(JSON_SUFFIX)


def name_of_file(name: str) -> str:
    """``processes/catalogs/call-situations.csv`` → ``call-situations``."""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    suffix = JSON_SUFFIX if base.lower().endswith(JSON_SUFFIX) else CSV_SUFFIX
    return base[: -len(suffix)]


def parse(file_name: str, content: str) -> tuple[list[dict] | None, list[Problem]]:
    """The rows of one catalog file, or the problems (each naming the file and line)."""
    if file_name.lower().endswith(JSON_SUFFIX):
        return _parse_json(file_name, content)
    return _parse_csv(file_name, content)


def _parse_csv(file_name: str, content: str) -> tuple[list[dict] | None, list[Problem]]:
    problems: list[Problem] = []

    def problem(line: int | None, text: str) -> None:
        if len(problems) < MAX_PROBLEMS_PER_FILE:
            problems.append(Problem(file_name, line, None, f"catalog: {text}"))

    text = content[1:] if content.startswith("\ufeff") else content
    if not text.strip():
        return None, [Problem(file_name, 1, None, "catalog: the file is empty; its first line names the columns")]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[dict] = []
    columns: list[str] = []
    line = 0
    try:
        for record in reader:
            start, line = line + 1, reader.line_num
            if not record:
                continue  # a blank line
            if not columns:
                columns = [c.strip() for c in record]
                seen: set[str] = set()
                for column in columns:
                    if not column:
                        problem(start, "the first line names the columns; one column has no name")
                    elif column in seen:
                        problem(start, f"column '{column}' appears twice in the first line")
                    seen.add(column)
                continue
            if len(record) != len(columns):
                problem(start, f"{len(record)} values, but the first line names {len(columns)} columns "
                               f"({', '.join(columns)}); quote values that contain a comma")
                continue
            rows.append(dict(zip(columns, record, strict=True)))
    except csv.Error as exc:
        problem(reader.line_num or line + 1, f"not valid CSV ({exc})")
    return (rows if not problems else None), problems


def _parse_json(file_name: str, content: str) -> tuple[list[dict] | None, list[Problem]]:
    try:
        rows = json.loads(content[1:] if content.startswith("\ufeff") else content)
    except json.JSONDecodeError as exc:
        return None, [Problem(file_name, exc.lineno, None, f"catalog: not valid JSON ({exc.msg})")]
    if not isinstance(rows, list):
        return None, [Problem(file_name, 1, None, "catalog: the file must hold one JSON list of objects")]
    bad = [index for index, row in enumerate(rows) if not isinstance(row, dict)]
    if bad:
        return None, [Problem(file_name, None, None, f"catalog: item {bad[0]} of the list is not an object "
                                                     f"({len(bad)} such items); every row is an object")]
    return rows, []


# ---------------------------------------------------------------------------------------------------------
# Deploying: which processes use which catalogs (called by engine.deploy.deployer.Deployer.check)

def split_sources(sources: list, problems: list[Problem]) -> list:
    """Take the catalog files out of a deployment's sources (in place) and check them; returns the good ones."""
    return take_checked(sources, "catalog", name_of_file, parse, problems, "catalog:", bad_key=_bad_name)


def _bad_name(name: str) -> str | None:
    if NAME_RE.match(name):
        return None
    return f"'{name}' is not a usable catalog name (letters, digits, '-', '_', '.')"


def references(source) -> list[tuple[str | None, int | None, str | None]]:
    """(catalog name or None when computed at run time, line, element id) of each ``catalog(`` call written
    anywhere in a BPMN or DMN file: scripts, conditions, expressions, decision table entries."""
    if source.tree is None or getattr(source, "kind", None) not in ("bpmn", "dmn"):
        return []
    found = []
    for element in source.tree.getroot().iter():
        if not isinstance(element.tag, str) or element.tag in _PROSE:
            continue
        texts = [(element.text or "", True)] + [(value, False) for value in element.attrib.values()]
        for text, is_content in texts:
            if "catalog(" not in text:
                continue
            owner = element if element.get("id") else next((e for e in element.iterancestors() if e.get("id")), None)
            for match in _REFERENCE.finditer(text):
                name = match.group(1) if match.group(1) is not None else match.group(2)
                line = element.sourceline + (text.count("\n", 0, match.start()) if is_content else 0)
                found.append((name, line, owner.get("id") if owner is not None else None))
    return found


def attach(session: Session, plan: dict, catalogs: list) -> None:
    """Add to each process's files the catalogs its files name (so they are stored and hashed with it): from
    this deployment, else from the process's latest deployed version. A name found in neither, or computed
    at run time, is a lint warning on the process (``catalog-deployed``)."""
    by_name = {name_of_file(c.name): c for c in catalogs}
    for (kind, key), entry in plan.items():
        if kind != "process":
            continue
        own, files = entry[1], entry[2]
        refs = [r for f in list(files.values()) for r in references(f)]
        missing: dict[str, tuple] = {}
        for name, line, element_id in refs:
            if name is None:
                own.warnings.setdefault(key, []).append(_computed(files, line, element_id))
            elif name in by_name:
                files[by_name[name].name] = by_name[name]
            else:
                missing.setdefault(name, (line, element_id))
        if missing:
            for file_name, content in _deployed_catalogs(session, key, set(missing)):
                files[file_name] = type(own)(file_name, content, "catalog")
                missing.pop(name_of_file(file_name), None)
        for name, (line, element_id) in sorted(missing.items()):
            where = _file_with(files, line, element_id)
            own.warnings.setdefault(key, []).append(Problem(
                where, line, element_id,
                f"catalog(\"{name}\") names a catalog that is neither in this deployment nor stored with process "
                f"'{key}': deploy {name}{CSV_SUFFIX} or {name}{JSON_SUFFIX} together with the process (e.g. the "
                f"whole folder), or the call fails when it runs [{RULE}]", "warning"))


def _computed(files: Mapping[str, Any], line, element_id) -> Problem:
    return Problem(_file_with(files, line, element_id), line, element_id,
                   "catalog() with a name computed at run time: a version stores only the catalogs named "
                   "literally, as in catalog(\"call-situations\"); name the catalog in quotes "
                   f"[{RULE}]", "warning")


def _file_with(files: Mapping[str, Any], line, element_id) -> str:
    for source in files.values():
        if getattr(source, "kind", None) in ("bpmn", "dmn") and element_id and element_id in source.ids:
            return source.name
    return next(iter(files))


def _deployed_catalogs(session: Session, key: str, names: set[str]) -> list[tuple[str, str]]:
    """(file name, content) of the named catalogs stored with the latest deployed version of a process."""
    return [(f, c) for f, c in stored_definitions.latest_process_files(session, key)
            if is_catalog_file(f) and name_of_file(f) in names]


# ---------------------------------------------------------------------------------------------------------
# Run time: the catalogs of one version, and the helper

class VersionCatalogs:
    """The catalogs stored with one deployed version (file contents from the database), each parsed on
    first use and kept for the life of the spec cache entry."""

    def __init__(self, label: str, files: Iterable[tuple[str, str]]) -> None:
        self.label = label  # "process 'whistle' version 2", for messages
        self._files = {name_of_file(f): (f, c) for f, c in files if is_catalog_file(f)}
        self._rows: dict[str, list[dict]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(self._files)

    def rows(self, name: str) -> list[dict]:
        cached = self._rows.get(name)
        if cached is not None:
            return cached
        if name not in self._files:
            available = ", ".join(self.names()) or "none"
            raise CatalogError(f"no catalog \"{name}\" is deployed with {self.label} (available: {available}); "
                               f"a version stores the catalogs its expressions name literally, as in "
                               f"catalog(\"{name}\"), when the file {name}{CSV_SUFFIX} or {name}{JSON_SUFFIX} is "
                               f"deployed with it")
        file_name, content = self._files[name]
        rows, problems = parse(file_name, content)
        if rows is None:  # checked at deploy, so only a hand-edited database gets here
            raise CatalogError(f"catalog \"{name}\" of {self.label} cannot be read: {problems[0]}")
        with self._lock:
            return self._rows.setdefault(name, rows)


SPEC_ATTRIBUTE = "whistle_catalogs"


def bind(spec, label: str, files: Iterable[tuple[str, str]]) -> None:
    """Hang a version's catalogs on its parsed top-level spec (``SpecCache`` does this)."""
    setattr(spec, SPEC_ATTRIBUTE, VersionCatalogs(label, files))


_current: contextvars.ContextVar[VersionCatalogs | None] = contextvars.ContextVar("whistle_catalogs", default=None)


def enter(task) -> contextvars.Token:
    """Make the catalogs of ``task``'s version current (``engine.scripting.script_engine`` brackets every
    evaluation)."""
    catalogs = None
    workflow = getattr(task, "workflow", None)
    if workflow is not None:
        catalogs = getattr(workflow.top_workflow.spec, SPEC_ATTRIBUTE, None)
    return _current.set(catalogs)


def leave(token: contextvars.Token) -> None:
    _current.reset(token)


def catalog(name: object, **match: object) -> Any:
    """The rows of the catalog ``name`` deployed with the running instance's version (a list of dicts; values
    of a CSV catalog are text). With ``column=value`` arguments: the first row whose columns equal those
    values, or a ``CatalogError`` (a ``LookupError``) naming the catalog and the values when none does.

    ``catalog("call-situations")``; ``catalog("call-situations", id=situation)["lead"]``.
    """
    if not isinstance(name, str):
        raise TypeError(f"catalog() takes the catalog's name as text, like catalog(\"call-situations\"), "
                        f"got {type(name).__name__}")
    catalogs = _current.get()
    if catalogs is None:
        raise CatalogError(f"catalog(\"{name}\") is only available in a running process's scripts and "
                           f"expressions")
    rows = catalogs.rows(name)
    if not match:
        return copy.deepcopy(rows)
    columns = {column for row in rows for column in row}
    unknown = sorted(set(match) - columns)
    if unknown:
        raise CatalogError(f"catalog \"{name}\" has no column {', '.join(repr(c) for c in unknown)} "
                           f"(columns: {', '.join(sorted(columns)) or 'none'})")
    for row in rows:
        if all(column in row and row[column] == value for column, value in match.items()):
            return copy.deepcopy(row)
    wanted = ", ".join(f"{column} = {value!r}" for column, value in match.items())
    raise CatalogError(f"catalog \"{name}\" has no row with {wanted}")
