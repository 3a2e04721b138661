"""The checks of a deployment, before anything is stored: every file read, validated and parsed, lint run, and
references resolved against the deployment and then against what is deployed. The result is the plan of
what to store (``engine.deploy.deployer``); ``whistle lint`` runs the same checks without a database
(``engine.deploy.lint``).

Every stage runs on the files that passed the stages before, so one deploy reports every problem.
"""
from __future__ import annotations

from typing import Any

from lxml import etree

from engine.bpmn.business_rules import decision_ref
from engine.bpmn.namespaces import bpmn_tag
from engine.bpmn.parser import WhistleParser, deep_recursion
from engine.bpmn.reading import file_kind, schema_validator
from engine.deploy import calendars as calendar_files
from engine.deploy import notify_templates
from engine.deploy.rules import stages
from engine.deploy.rules.calls import CallGraph, call_cycles
from engine.deploy.sources import SourceFile, parse_xml
from engine.errors import DeploymentInvalid, Problem
from engine.forms import deployment as form_files
from engine.scripting import catalogs as catalog_files
from engine.store import Session
from engine.store import definitions as stored

CALENDARS = ("calendar", "")  # the plan's entry for the deployment's working-day calendars (engine.deploy.calendars)


def check_deployment(session: Session, sources: list[SourceFile], problems: list[Problem]) -> dict:
    """Validate and parse everything; returns the plan (definitions and their files) or raises
    ``DeploymentInvalid`` with every problem found.

    The plan maps ``(kind, key)`` to ``(name, own file, files by name, specs or None)`` for each process and
    decision, and :data:`CALENDARS` to the deployment's calendars if it has any."""
    forms = form_files.split_sources(sources, problems)  # .form.json files: checked, then stored with their processes
    catalogs = catalog_files.split_sources(sources, problems)  # .csv/.catalog.json: likewise (engine.scripting)
    calendars = calendar_files.split_sources(sources, problems)  # calendars/*.csv: shared by every process
    notify = notify_templates.split_sources(sources, problems)  # notifications/templates.json: likewise
    if catalogs and not sources and not forms:
        problems.extend(Problem(c.name, None, None, "catalog: deployed alone, a catalog changes nothing; deploy it "
                                                    "together with the processes that name it (e.g. the whole "
                                                    "folder)") for c in catalogs)
    run = _Check(session, sources, problems)
    run.parse_files()
    problems.extend(stages.precheck(sources, run.bad))  # modeler extensions, decision tables (engine.deploy.rules)
    run.read_into_parser()
    run.resolve_references()
    run.find_call_cycles()
    run.build_specs()
    run.parse_decisions()
    problems.extend(stages.check(sources, problems))  # errors block; warnings stay on the sources
    if problems:
        raise DeploymentInvalid(problems)
    plan = run.plan()
    form_files.attach(plan, forms, problems)
    catalog_files.attach(session, plan, catalogs)  # from this deployment or the latest version; else a warning
    if problems:
        raise DeploymentInvalid(problems)
    if calendars:
        plan[CALENDARS] = calendars  # stored by deploy() beside the versions, not with any of them
    if notify:
        plan[notify_templates.PLAN_KEY] = notify
    return plan


References = list[tuple[str | None, etree._Element]]  # (called process or decision id, the element naming it)


def _dependencies(node: etree._Element) -> tuple[References, References]:
    """Called processes and decisions referenced inside a process element."""
    calls = [(el.get("calledElement"), el) for el in node.iter(bpmn_tag("callActivity"))]
    decisions = [(decision_ref(el), el) for el in node.iter(bpmn_tag("businessRuleTask"))]
    return calls, decisions


def _spiff_problem(source_by_name: dict[str, SourceFile], default: SourceFile, exc: Exception) -> Problem:
    """SpiffWorkflow's exception as a problem in the file (and at the line and element) it names."""
    name = getattr(exc, "file_name", "") or default.name
    source = source_by_name.get(name, default)
    element_id = getattr(exc, "id", None) or None
    line = getattr(exc, "line_number", None) or None
    if not isinstance(line, int):
        line = source.ids.get(element_id) if element_id else None
    message = str(exc).split("\n")[0] if str(exc) else exc.__class__.__name__
    return Problem(source.name, line, element_id, message)


class _Check:
    """One deployment's checks, stage by stage; ``bad`` names the files already found wanting."""

    def __init__(self, session: Session, sources: list[SourceFile], problems: list[Problem]) -> None:
        self.session = session
        self.sources = sources
        self.problems = problems
        self.bad: set[str] = set()
        self.by_name = {s.name: s for s in sources}
        self.parser = WhistleParser()
        self.process_file: dict[str, SourceFile] = {}
        self.decision_file: dict[str, SourceFile] = {}
        self.executable: list[str] = []
        self.extra_files: dict[str, SourceFile] = {}  # "process:<id>"/"decision:<id>" -> a deployed file
        self.deps: dict[str, set[str]] = {}  # process id -> the "process:…"/"decision:…" it needs
        self.unresolved: set[str] = set()
        self.specs: dict[str, Any] = {}

    def parse_files(self) -> None:
        """Well-formed XML the hardened reader accepts; BPMN files valid against the BPMN schema."""
        validator = schema_validator()
        for source in self.sources:
            problem = parse_xml(source)
            if problem:
                self.problems.append(problem)
                self.bad.add(source.name)
                continue
            if source.kind == "bpmn":
                for line, message in validator.errors(source.tree):
                    self.problems.append(Problem(source.name, line, source.line_ids.get(line),
                                                 f"BPMN schema: {message}"))
                    self.bad.add(source.name)

    def read_into_parser(self) -> None:
        """Each process and decision id defined once; the good files handed to SpiffWorkflow's parser."""
        for source in self.sources:
            if source.tree is None:
                continue
            # Ids of invalid files still count as "in this deployment", so references to them do not
            # produce a second, misleading problem.
            root = source.tree.getroot()
            ids = [(d.get("id"), d) for d in root.iter("{*}decision")] if source.kind == "dmn" else \
                [(p.get("id"), p) for p in root.iter(bpmn_tag("process"))]
            owners = self.decision_file if source.kind == "dmn" else self.process_file
            for element_id, element in ids:
                if element_id in owners:
                    self.problems.append(Problem(source.name, element.sourceline, element_id,
                                                 f"id '{element_id}' is also defined in {owners[element_id].name}"))
                    self.bad.add(source.name)
                owners.setdefault(element_id, source)
            if source.name in self.bad:
                continue
            try:
                if source.kind == "dmn":
                    self.parser.add_dmn_xml(root, filename=source.name)
                else:
                    self.parser.add_bpmn_xml(source.tree, filename=source.name)
            except Exception as exc:  # SpiffWorkflow raises ValidationException and plain errors alike
                self.problems.append(_spiff_problem(self.by_name, source, exc))
                self.bad.add(source.name)
        self.executable = [pid for pid in self.parser.get_process_ids() if self.process_file[pid].name not in self.bad]

    def resolve_references(self) -> None:
        """Called processes and decisions: in this deployment first, then among what is already deployed."""
        for pid in self.executable:
            source = self.process_file[pid]
            calls, decisions = _dependencies(self.parser.get_process_parser(pid).node)
            needs: set[str] = set()
            before = len(self.problems)
            for called, el in calls:
                if called in self.process_file and self.process_file[called].name in self.bad:
                    self.unresolved.add(pid)  # the called file's own problems are already reported
                elif called in self.process_file or self._load_deployed("process", called, source, el):
                    needs.add(f"process:{called}")
            for ref, el in decisions:
                if not ref:
                    self.problems.append(Problem(source.name, el.sourceline, el.get("id"),
                                                 "business rule task names no decision (camunda:decisionRef or "
                                                 "spiffworkflow:calledDecisionId)"))
                elif ref in self.decision_file and self.decision_file[ref].name in self.bad:
                    self.unresolved.add(pid)
                elif ref in self.decision_file or self._load_deployed("decision", ref, source, el):
                    needs.add(f"decision:{ref}")
            self.deps[pid] = needs
            if len(self.problems) > before:
                self.unresolved.add(pid)

    def _load_deployed(self, kind: str, key: str | None, source: SourceFile, element: etree._Element) -> bool:
        """Hand the deployed file of process or decision ``key`` to the parser; False (and a problem at
        ``element`` of ``source``) if it is not deployed or cannot be used with this deployment."""
        ref = f"{kind}:{key}"
        if ref in self.extra_files:
            return True
        version = stored.latest_version(self.session, key, kind) if key is not None else None  # no calledElement
        if version is None:
            what = "calls process" if kind == "process" else "uses decision"
            self.problems.append(Problem(source.name, element.sourceline, element.get("id"),
                                         f"{what} '{key}', which is neither in this deployment nor deployed"))
            return False
        content = stored.version_file(self.session, version.id, version.source_file)
        deployed = SourceFile(version.source_file, content, file_kind(version.source_file) or "bpmn")  # .bpmn or .dmn
        unreadable = parse_xml(deployed)  # stored before the hardened reader refused it (a DOCTYPE, say)
        if unreadable is not None:
            self.problems.append(Problem(source.name, element.sourceline, element.get("id"),
                                         f"deployed {kind} '{key}' ({deployed.name}) cannot be read any more: "
                                         f"{unreadable.message}; deploy a corrected {deployed.name} together "
                                         f"with it"))
            return False
        tree = deployed.tree
        assert tree is not None  # parse_xml read it
        try:
            if deployed.kind == "dmn":
                self.parser.add_dmn_xml(tree.getroot(), filename=deployed.name)
            else:
                self.parser.add_bpmn_xml(tree, filename=deployed.name)
        except Exception as exc:
            self.problems.append(Problem(source.name, element.sourceline, element.get("id"),
                                         f"deployed {kind} '{key}' ({deployed.name}) cannot be combined with this "
                                         f"deployment: {exc}; deploy {deployed.name} together with it"))
            return False
        self.extra_files[ref] = deployed
        return True

    def find_call_cycles(self) -> None:
        """A process that calls itself, directly or through others (deployed ones included), loops at every
        start."""
        for caller, problem in call_cycles(self._call_graph(), set(self.executable)):
            self.problems.append(problem)
            self.unresolved.add(caller)

    def _call_graph(self) -> CallGraph:
        """Process id -> its call activities (called id, file, element), for every process the parser holds."""
        graph = {}
        for pid in self.parser.get_process_ids():
            process_parser = self.parser.get_process_parser(pid)
            calls, _decisions = _dependencies(process_parser.node)
            graph[pid] = [(called, process_parser.filename, el) for called, el in calls if called]
        return graph

    def build_specs(self) -> None:
        """SpiffWorkflow's specs of each process whose references resolved."""
        for pid in self.executable:
            if pid in self.unresolved:
                continue
            source = self.process_file[pid]
            try:
                with deep_recursion():  # SpiffWorkflow follows the flows recursively (engine.bpmn.parser)
                    self.specs[pid] = (self.parser.get_spec(pid), self.parser.get_subprocess_specs(pid))
            except RecursionError:
                self.problems.append(Problem(source.name, source.ids.get(pid), pid,
                                             f"process '{pid}' is too long for SpiffWorkflow's parser, which "
                                             f"follows each path element by element: split it "
                                             f"into sub-processes or call activities"))
            except Exception as exc:
                self.problems.append(_spiff_problem(self.by_name, source, exc))

    def parse_decisions(self) -> None:
        for did, source in self.decision_file.items():
            if source.name in self.bad or did not in self.parser.dmn_parsers:
                continue
            try:
                self.parser.dmn_parsers[did].parse()
            except Exception as exc:
                self.problems.append(_spiff_problem(self.by_name, source, exc))

    def plan(self) -> dict:
        """Each process with the files it is stored with (its own and those of what it calls or decides with,
        transitively) and its specs; each decision with its file."""
        plan: dict = {}
        for pid in self.executable:
            node = self.parser.get_process_parser(pid).node
            plan[("process", pid)] = (node.get("name"), self.process_file[pid],
                                      self._files_of(f"process:{pid}", set()), self.specs[pid])
        for did, source in self.decision_file.items():
            if did not in self.parser.dmn_parsers:
                continue
            plan[("decision", did)] = (self.parser.dmn_parsers[did].get_name(), source, {source.name: source}, None)
        return plan

    def _files_of(self, ref: str, seen: set[str]) -> dict[str, SourceFile]:
        if ref in seen:
            return {}
        seen.add(ref)
        kind, key = ref.split(":", 1)
        own = (self.process_file if kind == "process" else self.decision_file).get(key) or self.extra_files[ref]
        files = {own.name: own}
        for dep in self.deps.get(key, ()) if kind == "process" else ():
            files.update(self._files_of(dep, seen))
        return files
