"""Deploying process and decision versions from files, atomically, and the per-version spec cache."""
from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.time import clock
from engine.time import workdays
from engine.audit.chain import AuditLog
from engine.deploy import lint
from engine.scripting import catalogs as catalog_files
from engine.forms import contracts
from engine.forms import schema as form_files
from engine.bpmn.business_rules import decision_ref
from engine.bpmn.namespaces import BPMN_NS
from engine.bpmn.parser import WhistleParser, deep_recursion
from engine.bpmn.reading import XmlRefused, file_kind, read_xml, schema_validator
from engine.errors import DeploymentInvalid, NotFound, Problem
from engine.runtime.messages import register_message_starts
from engine.store.models import DefinitionVersion, SourceBlob, VersionSource

DEFINITION_SUFFIXES = (".bpmn", ".dmn")
DEFAULT_MAX_FILE_MB = 5  # per file of a deployment; the governance processes' largest BPMN file is 61 KB
DEFAULT_MAX_DEPLOYMENT_MB = 20  # all files of one deployment together
CALENDARS = ("calendar", "")  # the plan's entry for the deployment's working-day calendars (engine.workdays)


@dataclass
class SourceFile:
    name: str  # as shown to people: relative to the folder given, or the path given
    content: str
    kind: str  # bpmn | dmn
    tree: etree._ElementTree | None = None
    ids: dict[str, int] = field(default_factory=dict)  # element id -> line
    line_ids: dict[int, str] = field(default_factory=dict)  # line -> first element id on it
    warnings: dict[str | None, list[Problem]] = field(default_factory=dict)  # lint warnings by definition key

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode("utf-8")).hexdigest()


@dataclass
class DeployedDefinition:
    key: str
    kind: str
    version: int
    status: str  # new | unchanged
    name: str | None
    source_file: str
    warnings: list[dict] = field(default_factory=list)  # lint warnings (engine.lint), as Problem dicts

    def to_dict(self) -> dict:
        return {"process_id": self.key, "kind": self.kind, "version": self.version, "status": self.status,
                "name": self.name, "file": self.source_file, "warnings": self.warnings}


def collect_files(paths: list[str | Path]) -> list[tuple[str, Path]]:
    """Expand folders into the BPMN/DMN files inside them, in a stable order."""
    found: list[tuple[str, Path]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and (child.suffix.lower() in DEFINITION_SUFFIXES or form_files.is_form_file(child.name)
                                        or catalog_files.is_catalog_file(child.name)):
                    found.append((str(Path(raw) / child.relative_to(path)), child))
        elif path.is_file():
            found.append((str(raw), path))
        else:
            raise NotFound(f"{raw}: no such file or folder")
    return found


def _megabytes_setting(variable: str, default: float) -> int:
    text = os.environ.get(variable, "").strip()
    try:
        megabytes = float(text) if text else default
    except ValueError:
        raise ValueError(f"{variable}={text!r} is not a number of megabytes") from None
    if not megabytes > 0:
        raise ValueError(f"{variable} must be a positive number of megabytes, got {text!r}")
    return int(megabytes * 2**20)


def size_limits() -> tuple[int, int]:
    """The largest file and the largest deployment, in bytes (``WHISTLE_DEPLOY_MAX_FILE_MB``, default 5, and
    ``WHISTLE_DEPLOY_MAX_TOTAL_MB``, default 20)."""
    return (_megabytes_setting("WHISTLE_DEPLOY_MAX_FILE_MB", DEFAULT_MAX_FILE_MB),
            _megabytes_setting("WHISTLE_DEPLOY_MAX_TOTAL_MB", DEFAULT_MAX_DEPLOYMENT_MB))


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


_DECLARED_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")


def read_sources(paths: list[str | Path]) -> tuple[list[SourceFile], list[Problem]]:
    sources, problems = [], []
    file_limit, total_limit = size_limits()
    total = 0
    for name, path in collect_files(paths):
        # Sizes first, from the file system: a 60 MB diagram is refused before anything reads it.
        size = path.stat().st_size
        if size > file_limit:
            problems.append(Problem(name, None, None, f"the file is {_mb(size)}; a deployed file may be at most "
                                                      f"{_mb(file_limit)} (WHISTLE_DEPLOY_MAX_FILE_MB)"))
            continue
        total += size
        if total > total_limit:
            problems.append(Problem(", ".join(str(p) for p in paths), None, None,
                                    f"the files of this deployment add up to more than {_mb(total_limit)} "
                                    f"(WHISTLE_DEPLOY_MAX_TOTAL_MB); deploy them in several parts"))
            break
        # A .csv file in a calendars/ folder is a working-day calendar (engine.workdays), any other a catalog.
        kind = "calendar" if workdays.is_calendar_file(path.resolve()) else \
            "form" if form_files.is_form_file(name) else \
            "catalog" if catalog_files.is_catalog_file(name) else file_kind(name)
        if kind is None:
            problems.append(Problem(name, None, None, "not a .bpmn, .dmn, .form.json, .csv or .catalog.json file"))
            continue
        try:
            content = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            declared = _DECLARED_ENCODING.match(path.read_bytes()[:1024])
            hint = f'; it says encoding="{declared.group(1).decode("ascii", "replace")}": save it as UTF-8 ' \
                   f'(Whistle reads BPMN and DMN files as UTF-8)' if declared else ""
            problems.append(Problem(name, None, None, f"not UTF-8 text ({exc.reason}){hint}"))
            continue
        sources.append(SourceFile(name, content, kind))
    if not sources and not problems:
        problems.append(Problem(", ".join(str(p) for p in paths), None, None, "no .bpmn or .dmn files found"))
    return sources, problems


def _parse_xml(source: SourceFile) -> Problem | None:
    try:
        source.tree = read_xml(source.content)  # the hardened parser (engine.bpmn): no DOCTYPE, UTF-8 only
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


def _spiff_problem(source_by_name: dict[str, SourceFile], default: SourceFile, exc: Exception) -> Problem:
    name = getattr(exc, "file_name", "") or default.name
    source = source_by_name.get(name, default)
    element_id = getattr(exc, "id", None) or None
    line = getattr(exc, "line_number", None) or None
    if not isinstance(line, int):
        line = source.ids.get(element_id) if element_id else None
    message = str(exc).split("\n")[0] if str(exc) else exc.__class__.__name__
    return Problem(source.name, line, element_id, message)


class SpecCache:
    """Parsed specs per deployed version, rebuilt from the stored sources on first use after a restart."""

    def __init__(self) -> None:
        self._specs: dict[int, tuple] = {}
        self._lock = threading.Lock()

    def put(self, version_id: int, spec, subprocess_specs: dict) -> None:
        with self._lock:
            self._specs[version_id] = (spec, subprocess_specs)

    def get(self, session: Session, version_id: int) -> tuple:
        cached = self._specs.get(version_id)
        if cached is not None:
            return cached
        version = session.get(DefinitionVersion, version_id)
        rows = session.execute(select(VersionSource.file_name, SourceBlob.content)
                               .join(SourceBlob, SourceBlob.sha256 == VersionSource.blob_sha256)
                               .where(VersionSource.version_id == version.id)).all()
        parser = WhistleParser()
        for file_name, content in rows:  # read as deploy read them: the hardened parser (engine.bpmn.read_xml)
            if file_kind(file_name) == "dmn":
                parser.add_dmn_xml(read_xml(content).getroot(), filename=file_name)
            elif file_kind(file_name) == "bpmn":  # forms and catalogs are stored with the version too
                parser.add_bpmn_xml(read_xml(content).getroot(), filename=file_name)
        with deep_recursion():  # as at deploy: SpiffWorkflow follows the flows recursively (engine.bpmn)
            spec = parser.get_spec(version.key)
            subprocess_specs = parser.get_subprocess_specs(version.key)
        catalog_files.bind(spec, _label(version), rows)  # catalog() reads them (engine.catalogs)
        contracts.bind(spec, version.key, rows)  # its forms and starters: what submissions may set
        built = (spec, subprocess_specs)
        self.put(version.id, *built)
        return built


def _call_graph(parser: WhistleParser) -> dict[str, list[tuple[str, str, etree._Element]]]:
    """Process id -> its call activities (called id, file, element), for every process the parser holds."""
    graph = {}
    for pid in parser.get_process_ids():
        process_parser = parser.get_process_parser(pid)
        calls, _decisions = _dependencies(process_parser.node)
        graph[pid] = [(called, process_parser.filename, el) for called, el in calls if called]
    return graph


def _dependencies(node: etree._Element) -> tuple[list[tuple[str, etree._Element]], list[tuple[str, etree._Element]]]:
    """Called processes and decisions referenced inside a process element."""
    calls = [(el.get("calledElement"), el) for el in node.iter(f"{{{BPMN_NS}}}callActivity")]
    decisions = [(decision_ref(el), el) for el in node.iter(f"{{{BPMN_NS}}}businessRuleTask")]
    return calls, decisions


class Deployer:
    def __init__(self, specs: SpecCache) -> None:
        self.specs = specs

    def check(self, session: Session, sources: list[SourceFile], problems: list[Problem]) -> dict:
        """Validate and parse everything; returns the plan (definitions and their files) or raises."""
        # Every stage runs on the files that passed the stages before, so one deploy reports every problem.
        forms = form_files.split_sources(sources, problems)  # .form.json files: checked, then stored with their processes
        catalogs = catalog_files.split_sources(sources, problems)  # .csv/.catalog.json: likewise (engine.catalogs)
        calendars = workdays.split_sources(sources, problems)  # calendars/*.csv: shared by every process
        if catalogs and not sources and not forms:
            problems.extend(Problem(c.name, None, None, "catalog: deployed alone, a catalog changes nothing; deploy it "
                                                        "together with the processes that name it (e.g. the whole "
                                                        "folder)") for c in catalogs)
        validator = schema_validator()
        bad: set[str] = set()
        for source in sources:
            problem = _parse_xml(source)
            if problem:
                problems.append(problem)
                bad.add(source.name)
                continue
            if source.kind == "bpmn":
                for line, message in validator.errors(source.tree):
                    problems.append(Problem(source.name, line, source.line_ids.get(line), f"BPMN schema: {message}"))
                    bad.add(source.name)
        problems.extend(lint.precheck(sources, bad))  # modeler extensions, decision tables (engine.lint)

        by_name = {s.name: s for s in sources}
        parser = WhistleParser()
        process_file: dict[str, SourceFile] = {}
        decision_file: dict[str, SourceFile] = {}
        for source in sources:
            if source.tree is None:
                continue
            # Ids of invalid files still count as "in this deployment", so references to them do not
            # produce a second, misleading problem.
            root = source.tree.getroot()
            ids = [(d.get("id"), d) for d in root.iter("{*}decision")] if source.kind == "dmn" else \
                [(p.get("id"), p) for p in root.iter(f"{{{BPMN_NS}}}process")]
            owners = decision_file if source.kind == "dmn" else process_file
            for element_id, element in ids:
                if element_id in owners:
                    problems.append(Problem(source.name, element.sourceline, element_id,
                                            f"id '{element_id}' is also defined in {owners[element_id].name}"))
                    bad.add(source.name)
                owners.setdefault(element_id, source)
            if source.name in bad:
                continue
            try:
                if source.kind == "dmn":
                    parser.add_dmn_xml(root, filename=source.name)
                else:
                    parser.add_bpmn_xml(source.tree, filename=source.name)
            except Exception as exc:  # SpiffWorkflow raises ValidationException and plain errors alike
                problems.append(_spiff_problem(by_name, source, exc))
                bad.add(source.name)

        executable = [pid for pid in parser.get_process_ids() if process_file[pid].name not in bad]
        # Resolve references against this deployment first, then against what is already deployed.
        extra_files: dict[str, SourceFile] = {}
        deps: dict[str, set[str]] = {}
        unresolved: set[str] = set()
        for pid in executable:
            source = process_file[pid]
            node = parser.get_process_parser(pid).node
            calls, decisions = _dependencies(node)
            needs: set[str] = set()
            before = len(problems)
            for called, el in calls:
                if called in process_file and process_file[called].name in bad:
                    unresolved.add(pid)  # the called file's own problems are already reported
                elif called in process_file:
                    needs.add(f"process:{called}")
                elif self._load_deployed(session, parser, "process", called, extra_files, problems, source, el):
                    needs.add(f"process:{called}")
            for ref, el in decisions:
                if not ref:
                    problems.append(Problem(source.name, el.sourceline, el.get("id"),
                                            "business rule task names no decision (camunda:decisionRef or "
                                            "spiffworkflow:calledDecisionId)"))
                elif ref in decision_file and decision_file[ref].name in bad:
                    unresolved.add(pid)
                elif ref in decision_file:
                    needs.add(f"decision:{ref}")
                elif self._load_deployed(session, parser, "decision", ref, extra_files, problems, source, el):
                    needs.add(f"decision:{ref}")
            deps[pid] = needs
            if len(problems) > before:
                unresolved.add(pid)
        # A process that calls itself, directly or through others (deployed ones included), loops at every start.
        for caller, problem in lint.call_cycles(_call_graph(parser), set(executable)):
            problems.append(problem)
            unresolved.add(caller)

        specs = {}
        for pid in executable:
            if pid in unresolved:
                continue
            source = process_file[pid]
            try:
                with deep_recursion():  # SpiffWorkflow follows the flows recursively (engine.bpmn)
                    specs[pid] = (parser.get_spec(pid), parser.get_subprocess_specs(pid))
            except RecursionError:
                problems.append(Problem(source.name, source.ids.get(pid), pid,
                                        f"process '{pid}' is too long for SpiffWorkflow's parser, which follows "
                                        f"each path element by element: split it "
                                        f"into sub-processes or call activities"))
            except Exception as exc:
                problems.append(_spiff_problem(by_name, source, exc))
        for did, source in decision_file.items():
            if source.name in bad or did not in parser.dmn_parsers:
                continue
            try:
                parser.dmn_parsers[did].parse()
            except Exception as exc:
                problems.append(_spiff_problem(by_name, source, exc))
        problems.extend(lint.check(sources, problems))  # errors block; warnings stay on the sources
        if problems:
            raise DeploymentInvalid(problems)

        def files_of(ref: str, seen: set[str]) -> dict[str, SourceFile]:
            if ref in seen:
                return {}
            seen.add(ref)
            kind, key = ref.split(":", 1)
            own = (process_file if kind == "process" else decision_file).get(key) or extra_files[ref]
            files = {own.name: own}
            for dep in deps.get(key, ()) if kind == "process" else ():
                files.update(files_of(dep, seen))
            return files

        plan = {}
        for pid in executable:
            node = parser.get_process_parser(pid).node
            plan[("process", pid)] = (node.get("name"), process_file[pid], files_of(f"process:{pid}", set()), specs[pid])
        for did, source in decision_file.items():
            if did not in parser.dmn_parsers:
                continue
            plan[("decision", did)] = (parser.dmn_parsers[did].get_name(), source, {source.name: source}, None)
        form_files.attach(plan, forms, problems)
        catalog_files.attach(session, plan, catalogs)  # from this deployment or the latest version; else a warning
        if problems:
            raise DeploymentInvalid(problems)
        if calendars:
            plan[CALENDARS] = calendars  # stored by deploy() beside the versions, not with any of them
        return plan

    def _load_deployed(self, session, parser, kind, key, extra_files, problems, source, element) -> bool:
        ref = f"{kind}:{key}"
        if ref in extra_files:
            return True
        version = latest_version(session, key, kind)
        if version is None:
            what = "calls process" if kind == "process" else "uses decision"
            problems.append(Problem(source.name, element.sourceline, element.get("id"),
                                    f"{what} '{key}', which is neither in this deployment nor deployed"))
            return False
        row = session.execute(select(VersionSource.file_name, SourceBlob.content)
                              .join(SourceBlob, SourceBlob.sha256 == VersionSource.blob_sha256)
                              .where(VersionSource.version_id == version.id,
                                     VersionSource.file_name == version.source_file)).one()
        deployed = SourceFile(row.file_name, row.content, file_kind(row.file_name))
        unreadable = _parse_xml(deployed)  # stored before the hardened reader refused it (a DOCTYPE, say)
        if unreadable is not None:
            problems.append(Problem(source.name, element.sourceline, element.get("id"),
                                    f"deployed {kind} '{key}' ({deployed.name}) cannot be read any more: "
                                    f"{unreadable.message}; deploy a corrected {deployed.name} together with it"))
            return False
        try:
            if deployed.kind == "dmn":
                parser.add_dmn_xml(deployed.tree.getroot(), filename=deployed.name)
            else:
                parser.add_bpmn_xml(deployed.tree, filename=deployed.name)
        except Exception as exc:
            problems.append(Problem(source.name, element.sourceline, element.get("id"),
                                    f"deployed {kind} '{key}' ({deployed.name}) cannot be combined with this "
                                    f"deployment: {exc}; deploy {deployed.name} together with it"))
            return False
        extra_files[ref] = deployed
        return True

    def deploy(self, session: Session, audit: AuditLog, paths: list[str | Path], actor: str) -> list[DeployedDefinition]:
        sources, problems = read_sources(paths)
        plan = self.check(session, sources, problems)
        calendars = plan.pop(CALENDARS, [])
        form_files.carry_over(session, plan)
        now = clock.now()
        results: list[DeployedDefinition] = []
        new_specs = []
        for (kind, key), (name, own, files, spec) in sorted(plan.items()):
            content_hash = hashlib.sha256(
                "\n".join(sorted(f.sha256 for f in files.values())).encode()).hexdigest()
            latest = latest_version(session, key, kind)
            if latest is not None and latest.content_hash == content_hash:
                results.append(DeployedDefinition(key, kind, latest.version, "unchanged", latest.name, latest.source_file,
                                                  list(latest.warnings or [])))
                continue
            version = DefinitionVersion(key=key, kind=kind, version=(latest.version + 1) if latest else 1,
                                        name=name, content_hash=content_hash, source_file=own.name,
                                        deployed_at=now, deployed_by=actor, warnings=lint.warnings_of(own, key))
            session.add(version)
            session.flush()
            for f in files.values():
                if session.get(SourceBlob, f.sha256) is None:
                    session.add(SourceBlob(sha256=f.sha256, content=f.content, size=len(f.content.encode("utf-8"))))
                    session.flush()
                session.add(VersionSource(version_id=version.id, file_name=f.name, blob_sha256=f.sha256))
            audit.record("deployed", actor, kind=kind, key=key, version=version.version, file=own.name,
                         content_hash=content_hash)
            results.append(DeployedDefinition(key, kind, version.version, "new", name, own.name, version.warnings))
            if spec is not None:
                catalog_files.bind(spec[0], _label(version), [(f.name, f.content) for f in files.values()])
                contracts.bind(spec[0], key, [(f.name, f.content) for f in files.values()])
                new_specs.append((version.id, spec))
                register_message_starts(session, version, spec[0])
                self._schedule_timer_starts(session, audit, version, spec[0], own, actor)
        for stored in workdays.store(session, audit, calendars, actor, via="deploy"):
            results.append(DeployedDefinition(str(stored["year"]), "calendar", stored["version"],
                                              "new" if stored["result"] == "new" else "unchanged", stored["status"],
                                              stored["file"], stored["warnings"]))
        session.flush()
        # Cached only once the caller commits; a failed deployment leaves no trace, here either.
        session.info.setdefault("after_commit", []).extend(
            (lambda vid=vid, s=s: self.specs.put(vid, *s)) for vid, s in new_specs)
        return results


    @staticmethod
    def _schedule_timer_starts(session: Session, audit: AuditLog, version: DefinitionVersion, spec,
                               own: SourceFile, actor: str) -> None:
        """The new version owns the process's timer start schedule; older versions' jobs are dropped."""
        from engine.jobs.executor import schedule_timer_starts
        from engine.time.iso8601 import TimerValueError

        try:
            schedule_timer_starts(session, audit, version, spec, actor)
        except TimerValueError as exc:
            element_id = getattr(exc, "element_id", None)
            raise DeploymentInvalid([Problem(own.name, own.ids.get(element_id) if element_id else None,
                                             element_id, str(exc))])


def _label(version: DefinitionVersion) -> str:
    return f"process '{version.key}' version {version.version}"


def latest_version(session: Session, key: str, kind: str = "process") -> DefinitionVersion | None:
    return session.execute(select(DefinitionVersion)
                           .where(DefinitionVersion.key == key, DefinitionVersion.kind == kind)
                           .order_by(DefinitionVersion.version.desc()).limit(1)).scalar()


def find_version(session: Session, key: str, version: int | None = None) -> DefinitionVersion:
    if version is None:
        found = latest_version(session, key)
        if found is None:
            raise NotFound(f"no process '{key}' is deployed")
        return found
    found = session.execute(select(DefinitionVersion).where(
        DefinitionVersion.key == key, DefinitionVersion.kind == "process",
        DefinitionVersion.version == version)).scalar()
    if found is None:
        latest = session.execute(select(func.max(DefinitionVersion.version)).where(
            DefinitionVersion.key == key, DefinitionVersion.kind == "process")).scalar()
        raise NotFound(f"process '{key}' has no version {version}"
                       + (f" (latest is {latest})" if latest else " (it is not deployed)"))
    return found
