"""Lint at deploy time: the checks bpmnlint's recommended configuration makes where they apply to Whistle,
plus Whistle's own (every human task is offered to someone, every timer parses, every script and condition
compiles in the sandbox), modeler compatibility (``engine.modelers``) and decision tables (``engine.dmn``).

Each finding is a :class:`~engine.errors.Problem` with file, line, element id and severity. Errors block
the deployment; warnings are returned with the deploy results and stored with the new version. The rules,
their severities and how to fix each are documented for designers in ``docs/lint.md``; :data:`RULES`
is the same list in code.

``Deployer.check`` calls :func:`precheck` before SpiffWorkflow parses the files (files with errors there
are not handed to SpiffWorkflow, which would fail on them less clearly) and :func:`check` after it.
``whistle lint`` runs the same pipeline without a database (:func:`lint_paths`).
"""
from __future__ import annotations

import os
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path


from engine.dmn import checks as dmn
from engine.bpmn import modeler_checks, modelers
from engine.bpmn import timers
from engine.bpmn.assignments import expression_of, read_assignment
from engine.bpmn.namespaces import BPMN_NS, SPIFF_NS
from engine.time import iso8601
from engine.errors import DeploymentInvalid, Problem
from engine.scripting.policy import compile_errors

# rule id -> (severity, what it checks). Messages name the rule in brackets at their end.
RULES: dict[str, tuple[str, str]] = {
    "start-event-required": ("error", "every process and sub-process has a start event"),
    "end-event-required": ("warning", "every process has an end event (an error for sub-processes, which "
                                      "SpiffWorkflow cannot run without one)"),
    "no-disconnected": ("error", "every flow element is connected by sequence flows"),
    "no-implicit-start": ("error", "every element other than a start or boundary event has an incoming flow"),
    "no-implicit-end": ("warning", "every element other than an end event has an outgoing flow"),
    "conditional-flows": ("error", "flows leaving an exclusive/inclusive gateway carry a condition or are the "
                                   "default; other flows carry none"),
    "no-implicit-split": ("error", "a task or event has at most one outgoing flow (split with a gateway)"),
    "fake-join": ("warning", "a task has at most one incoming flow (join with a gateway)"),
    "no-duplicate-sequence-flows": ("error", "no two flows connect the same elements with the same condition"),
    "single-blank-start-event": ("error", "a process or sub-process has at most one blank start event"),
    "event-sub-process-typed-start-event": ("error", "an event sub-process starts with a typed start event"),
    "sub-process-blank-start-event": ("error", "an embedded sub-process starts with a blank start event"),
    "superfluous-gateway": ("warning", "a gateway with one incoming and one outgoing flow does nothing"),
    "no-gateway-join-fork": ("warning", "a gateway either joins or splits, not both"),
    "label-required": ("warning", "tasks, events, splitting gateways and lanes have a name"),
    "no-bpmndi": ("warning", "every element is on the diagram"),
    "human-task-assignment": ("error", "every user and manual task is offered to a group, a user or an assignee"),
    "timer-expression": ("error", "every timer is an ISO 8601 date, duration or cycle, or a sandbox expression"),
    "script-compiles": ("error", "every script, condition and expression compiles in the sandbox"),
    "modeler-compatibility": ("error", "modeler extensions and BPMN elements Whistle can run (some ignored "
                                       "ones are warnings)"),
    "decision-table": ("error", "decision tables are well formed, compile, and UNIQUE rules do not overlap"),
    "catalog-deployed": ("warning", "every catalog(\"…\") names, in quotes, a catalog deployed with the process "
                                    "(checked by engine.catalogs)"),
    "no-call-cycle": ("error", "no call activity calls its own process, directly or through other processes"),
    "max-branches": ("error", "a split makes at most WHISTLE_DEPLOY_MAX_BRANCHES paths (default 100), a "
                              "multi-instance activity's literal cardinality at most as many instances"),
    "max-path-length": ("error", "a process or sub-process has no path of more than 600 elements in a row"),
    "no-interrupting-multi-instance": ("error", "no interrupting boundary event on a multi-instance sub-process or "
                                                "call activity (SpiffWorkflow 3.2 leaves its instances running)"),
}

DEFAULT_MAX_BRANCHES = 100
# SpiffWorkflow predicts the tasks ahead of a new or changed case recursively, one frame per element, under
# Python's default recursion limit of 1,000 (less what the engine's own stack takes): a longer path fails at
# run time, so deploy refuses it. Parsing recurses too (two frames per element): engine.bpmn.deep_recursion.
MAX_PATH_ELEMENTS = 600


def max_branches() -> int:
    """How many paths one split may start (``WHISTLE_DEPLOY_MAX_BRANCHES``, default 100)."""
    text = os.environ.get("WHISTLE_DEPLOY_MAX_BRANCHES", "").strip()
    if not text:
        return DEFAULT_MAX_BRANCHES
    if not text.isdigit() or int(text) < 2:
        raise ValueError(f"WHISTLE_DEPLOY_MAX_BRANCHES={text!r} must be a whole number of at least 2")
    return int(text)

FLOW_NODES = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
              "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
              "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
              "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway"}
GATEWAYS = {"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway"}
CONDITIONAL_GATEWAYS = {"exclusiveGateway", "inclusiveGateway"}
SUBPROCESSES = {"subProcess", "transaction", "adHocSubProcess"}
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
HUMAN_TASKS = {"userTask", "manualTask"}
WHAT = {"startEvent": "start event", "endEvent": "end event", "intermediateCatchEvent": "intermediate event",
        "intermediateThrowEvent": "intermediate event", "boundaryEvent": "boundary event", "task": "task",
        "userTask": "user task", "manualTask": "manual task", "scriptTask": "script task",
        "serviceTask": "service task", "sendTask": "send task", "receiveTask": "receive task",
        "businessRuleTask": "business rule task", "callActivity": "call activity", "subProcess": "sub-process",
        "transaction": "transaction", "adHocSubProcess": "ad-hoc sub-process", "exclusiveGateway": "gateway",
        "inclusiveGateway": "gateway", "parallelGateway": "gateway", "eventBasedGateway": "gateway",
        "complexGateway": "gateway", "process": "process"}

# SpiffWorkflow's messages for problems a lint rule explains better: the lint problem replaces them.
_SUPERSEDED = ("Multiple outgoing flows are not supported", "Non-default exclusive outgoing sequence flow",
               "No start event found", "A SubWorkflow Must contain an End event", "timer's ", "timer has ")


def _b(name: str) -> str:
    return f"{{{BPMN_NS}}}{name}"


local = modelers.local


@dataclass
class _Finding:
    problem: Problem
    key: str | None  # the process or decision it belongs to (None: the whole file)


# ---------------------------------------------------------------------------------------------------------
# The two hooks Deployer.check calls, and where warnings are kept.

def _keep_warnings(source, findings: list[_Finding]) -> None:
    for finding in findings:
        if finding.problem.severity == "warning":
            source.warnings.setdefault(finding.key, []).append(finding.problem)


def warnings_of(source, key: str) -> list[dict]:
    """The lint warnings of one deployed definition (its own, and those of its file as a whole)."""
    found = list(source.warnings.get(key, [])) + list(source.warnings.get(None, []))
    return [p.to_dict() for p in sorted(found, key=lambda p: (p.line or 0, p.message))]


def precheck(sources, bad: set[str]) -> list[Problem]:
    """Before SpiffWorkflow parses: modeler compatibility (BPMN) and decision tables (DMN). Returns the
    errors; files with errors are added to ``bad`` (SpiffWorkflow would fail on them less clearly)."""
    errors: list[Problem] = []
    for source in sources:
        if source.tree is None or source.name in bad:
            continue
        root = source.tree.getroot()
        if source.kind == "dmn":
            decision = root.find("{*}decision")
            key = decision.get("id") if decision is not None else None
            findings = [_Finding(_tagged(p, "decision-table"), key) for p in dmn.check_dmn(source.name, root)]
        else:
            findings = [_Finding(_tagged(p, "modeler-compatibility"), _process_of(root, p.element_id))
                        for p in modeler_checks.check(source.name, root) + reserved_ids(source.name, root)]
        _keep_warnings(source, findings)
        found = [f.problem for f in findings if f.problem.severity == "error"]
        if found:
            bad.add(source.name)
            errors.extend(found)
    return errors


def check(sources, problems: list[Problem]) -> list[Problem]:
    """After SpiffWorkflow parsed: the BPMN lint rules. Returns the errors not already reported for the same
    element; a few of SpiffWorkflow's problems are replaced (removed from ``problems``) by clearer ones."""
    errors: list[Problem] = []
    for source in sources:
        if source.tree is None or source.kind != "bpmn":
            continue
        findings = lint_bpmn(source.name, source.tree.getroot())
        taken = {(p.file, p.element_id) for p in problems if p.element_id}
        kept = []
        for finding in findings:
            p = finding.problem
            if p.severity == "error":
                superseded = [q for q in problems if q.file == p.file and q.element_id == p.element_id
                              and q.message.startswith(_SUPERSEDED)]
                for q in superseded:
                    problems.remove(q)
                if (p.file, p.element_id) in taken and not superseded:
                    continue
            kept.append(finding)
        _keep_warnings(source, kept)
        errors.extend(f.problem for f in kept if f.problem.severity == "error")
    return errors


# Task spec names SpiffWorkflow gives its own tasks in every process and sub-process: BpmnProcessSpec creates
# 'Start', 'End' and '<process id>.EndJoin'; several start events add 'StartEventSplit' and 'StartEventJoin';
# an activity with boundary events becomes '<id>.BoundaryEventSplit' and '<id>.BoundaryEventJoin'; its serializer
# drops a 'Root'. ProcessParser.parse_node looks element ids up among these names first, so an element with one of
# them is silently replaced by SpiffWorkflow's own task: the file deploys and every start then fails with "No
# output task connected". (A loop's '<id> [child]' cannot collide: an XML id has no spaces.)
RESERVED_IDS = {"Start": "start task", "End": "end task", "Root": "root task",
                "StartEventSplit": "split between several start events",
                "StartEventJoin": "join after several start events"}
RESERVED_SUFFIXES = {".EndJoin": "join before a process ends", ".BoundaryEventSplit": "split before a boundary event",
                     ".BoundaryEventJoin": "join after a boundary event"}


def reserved_ids(file_name: str, root) -> list[Problem]:
    """Flow elements whose ids are names SpiffWorkflow uses for its own tasks (refused: renaming them inside the
    engine would have to be mapped back in every diagram, audit record and API answer)."""
    found = []
    for element in root.iter():
        if not isinstance(element.tag, str) or local(element) not in FLOW_NODES:
            continue
        element_id = element.get("id") or ""
        what = RESERVED_IDS.get(element_id) or next(
            (text for suffix, text in RESERVED_SUFFIXES.items() if element_id.endswith(suffix)), None)
        if what is None:
            continue
        renamed = element_id.replace(".", "_") + "_1" if element_id in RESERVED_IDS else element_id.replace(".", "_")
        found.append(Problem(file_name, element.sourceline, element_id,
                             f"{_label(element)}: the id '{element_id}' is the name SpiffWorkflow gives its own "
                             f"{what}, so the file would deploy and every start fail (\"No output task connected\"); "
                             f"rename it, e.g. to '{renamed}', in the element, in the sourceRef/targetRef of its "
                             f"sequence flows and in the bpmnElement of its diagram shape"))
    return found


def _tagged(problem: Problem, rule: str) -> Problem:
    return Problem(problem.file, problem.line, problem.element_id, f"{problem.message} [{rule}]", problem.severity)


def _process_of(root, element_id: str | None) -> str | None:
    if not element_id:
        return None
    for process in root.iter(_b("process")):
        if process.get("id") == element_id or process.find(f".//*[@id='{element_id}']") is not None:
            return process.get("id")
    return None


# ---------------------------------------------------------------------------------------------------------
# The BPMN rules.

class _Linter:
    def __init__(self, file_name: str, root) -> None:
        self.file = file_name
        self.root = root
        self.findings: list[_Finding] = []
        self.key: str | None = None
        self.lanes: dict[str, str] = {}
        for lane in root.iter(_b("lane")):
            for ref in lane.findall(_b("flowNodeRef")):
                if ref.text and ref.text.strip():
                    self.lanes[ref.text.strip()] = (lane.get("name") or "").strip() or None
        self.di = {el.get("bpmnElement") for el in root.iter() if isinstance(el.tag, str)
                   and local(el) in ("BPMNShape", "BPMNEdge")}
        self.max_branches = max_branches()

    def report(self, element, rule: str, message: str, severity: str | None = None) -> None:
        severity = severity or RULES[rule][0]
        self.findings.append(_Finding(Problem(self.file, element.sourceline, element.get("id"),
                                              f"{message} [{rule}]", severity), self.key))

    # -- processes and scopes -----------------------------------------------------------------------------

    def run(self) -> list[_Finding]:
        for process in self.root.findall(_b("process")):
            if process.get("isExecutable") != "true":
                continue
            self.key = process.get("id")
            self.scope(process)
            self.diagram(process)
            for lane in process.iter(_b("lane")):
                if not (lane.get("name") or "").strip():
                    self.report(lane, "label-required", f"lane '{lane.get('id')}' has no name (a lane's name is "
                                                        f"the candidate group of the user tasks in it)")
        self.key = None
        for expression in self.root.iter(_b("correlationPropertyRetrievalExpression")):
            for child in expression:
                if isinstance(child.tag, str) and child.text and child.text.strip():
                    self.expression(child, child.text.strip(), "message correlation expression",
                                    owner=expression.getparent())
        return self.findings

    def scope(self, scope) -> None:
        kind = local(scope)
        adhoc = kind == "adHocSubProcess"
        event_sub = scope.get("triggeredByEvent") == "true"
        what = "process" if kind == "process" else ("event sub-process" if event_sub else WHAT[kind])
        nodes = [c for c in scope if isinstance(c.tag, str) and local(c) in FLOW_NODES]
        flows = [c for c in scope if isinstance(c.tag, str) and local(c) == "sequenceFlow"]
        incoming: dict[str, list] = {}
        outgoing: dict[str, list] = {}
        for flow in flows:
            outgoing.setdefault(flow.get("sourceRef"), []).append(flow)
            incoming.setdefault(flow.get("targetRef"), []).append(flow)

        starts = [n for n in nodes if local(n) == "startEvent"]
        if not adhoc:
            if not starts:
                self.report(scope, "start-event-required", f"{what} '{scope.get('id')}' has no start event: it can "
                                                           f"never start; add a start event")
            if not any(local(n) == "endEvent" for n in nodes):
                # A process ends when its last path does; SpiffWorkflow refuses a sub-process without one.
                self.report(scope, "end-event-required", f"{what} '{scope.get('id')}' has no end event; add one "
                                                         f"where the {what} finishes",
                            "warning" if kind == "process" else "error")
        blank = [s for s in starts if not _event_definitions(s)]
        for extra in blank[1:]:
            self.report(extra, "single-blank-start-event",
                        f"{what} '{scope.get('id')}' has {len(blank)} blank start events ({', '.join(s.get('id') for s in blank)}); "
                        f"keep one, or give the others a message/timer/signal")
        if event_sub:
            for start in blank:
                self.report(start, "event-sub-process-typed-start-event",
                            f"start event '{start.get('id')}' of event sub-process '{scope.get('id')}' has no event "
                            f"type; give it a message, timer, signal, error or escalation")
        elif kind in SUBPROCESSES and not adhoc:
            for start in starts:
                if _event_definitions(start):
                    self.report(start, "sub-process-blank-start-event",
                                f"start event '{start.get('id')}' of sub-process '{scope.get('id')}' has an event type; "
                                f"an embedded sub-process starts when it is reached: use a blank start event")

        seen_flows: dict[tuple, str] = {}
        for flow in flows:
            signature = (flow.get("sourceRef"), flow.get("targetRef"), _condition_text(flow))
            if signature in seen_flows:
                self.report(flow, "no-duplicate-sequence-flows",
                            f"sequence flow '{flow.get('id')}' duplicates '{seen_flows[signature]}' (same source, "
                            f"target and condition); delete one")
            else:
                seen_flows[signature] = flow.get("id")

        for node in nodes:
            node_id = node.get("id")
            self.connections(node, incoming.get(node_id, []), outgoing.get(node_id, []), adhoc)
            self.node(node)
            if local(node) in SUBPROCESSES:
                self.scope(node)

        successors: dict[str, list[str]] = {}
        for flow in flows:
            successors.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
        for node in nodes:
            if local(node) == "boundaryEvent" and node.get("attachedToRef"):
                successors.setdefault(node.get("attachedToRef"), []).append(node.get("id"))
        longest = _longest_path({n.get("id") for n in nodes}, successors)
        if longest > MAX_PATH_ELEMENTS:
            self.report(scope, "max-path-length",
                        f"{what} '{scope.get('id')}' has a path of {longest:,} elements in a row (the limit is "
                        f"{MAX_PATH_ELEMENTS:,}): SpiffWorkflow looks ahead along a path one nested call per "
                        f"element and would fail on it; move parts of it into sub-processes or call activities")

    # -- one element ------------------------------------------------------------------------------------

    def connections(self, node, inc: list, out: list, adhoc: bool) -> None:
        kind = local(node)
        label = _label(node)
        compensation = node.get("isForCompensation") == "true"
        event_sub = node.get("triggeredByEvent") == "true"
        definitions = {local(d) for d in _event_definitions(node)}
        exempt = adhoc or compensation or event_sub or (kind == "boundaryEvent"
                                                        and "compensateEventDefinition" in definitions)
        if exempt:
            return
        if not inc and not out:
            self.report(node, "no-disconnected", f"{label} is not connected to anything: it would never run; "
                                                 f"connect it with sequence flows or delete it")
            return
        if not inc and kind not in ("startEvent", "boundaryEvent"):
            self.report(node, "no-implicit-start", f"{label} has no incoming sequence flow: it would never run; "
                                                   f"connect it, or use a start event")
        if not out and kind != "endEvent":
            self.report(node, "no-implicit-end", f"{label} has no outgoing sequence flow; end the path with an "
                                                 f"end event")
        if kind in GATEWAYS:
            self.gateway(node, inc, out)
            return
        conditional = [f for f in out if _condition_text(f) is not None]
        if conditional:
            self.report(conditional[0], "conditional-flows",
                        f"sequence flow '{conditional[0].get('id')}' leaving {label} has a condition, which Whistle "
                        f"does not evaluate on flows leaving a {WHAT.get(kind, kind)}; put an exclusive gateway "
                        f"after it and the condition on the gateway's flow")
        if len(out) > 1:
            severity = "warning" if kind == "startEvent" else None
            self.report(node, "no-implicit-split",
                        f"{label} has {len(out)} outgoing sequence flows; split explicitly with a gateway after it "
                        f"(parallel: all paths, exclusive: one path by condition)", severity)
        if len(inc) > 1 and kind not in EVENTS:
            self.report(node, "fake-join", f"{label} has {len(inc)} incoming sequence flows; join them with a gateway "
                                           f"before it (exclusive: whichever arrives, parallel: wait for all)")

    def gateway(self, node, inc: list, out: list) -> None:
        kind = local(node)
        label = _label(node)
        if len(out) > self.max_branches:
            self.report(node, "max-branches", f"{label} splits into {len(out):,} paths (the limit is "
                                              f"{self.max_branches:,}, WHISTLE_DEPLOY_MAX_BRANCHES): every path "
                                              f"is a task the engine runs and stores; use a multi-instance "
                                              f"activity over a list, or fewer paths")
        if len(inc) == 1 and len(out) == 1:
            self.report(node, "superfluous-gateway", f"{label} has one incoming and one outgoing flow: it does "
                                                     f"nothing; delete it")
        if len(inc) > 1 and len(out) > 1:
            self.report(node, "no-gateway-join-fork", f"{label} both joins and splits; use two gateways (a join, "
                                                      f"then a split) so each does one thing")
        if len(out) > 1 and kind != "parallelGateway" and not (node.get("name") or "").strip():
            self.report(node, "label-required", f"{label} splits the flow but has no name; name the question it "
                                                f"decides (like \"Whistle?\")")
        default = node.get("default")
        if default and default not in {f.get("id") for f in out}:
            self.report(node, "conditional-flows", f"{label} names '{default}' as its default flow, which is not one "
                                                   f"of its outgoing flows")
        if kind in CONDITIONAL_GATEWAYS:
            if len(out) > 1:
                for flow in out:
                    if flow.get("id") == default:
                        if _condition_text(flow) is not None:
                            self.report(flow, "conditional-flows",
                                        f"default flow '{flow.get('id')}' of {label} has a condition, which is "
                                        f"ignored (the default is taken when no other condition is true)", "warning")
                    elif _condition_text(flow) is None:
                        self.report(flow, "conditional-flows",
                                    f"sequence flow '{flow.get('id')}' leaving {label} has no condition and is not the "
                                    f"default; add a condition, or make it the gateway's default flow")
        else:
            for flow in out:
                if _condition_text(flow) is not None:
                    self.report(flow, "conditional-flows",
                                f"sequence flow '{flow.get('id')}' leaving {label} has a condition, which a "
                                f"{'parallel' if kind == 'parallelGateway' else 'this kind of'} gateway ignores; "
                                f"use an exclusive or inclusive gateway, or remove the condition")

    def node(self, node) -> None:
        kind = local(node)
        label = _label(node)
        if kind not in GATEWAYS and not (node.get("name") or "").strip():
            self.report(node, "label-required", f"{label} has no name; name it so people see what it is in the "
                                                f"inbox, the diagram and the audit trail")
        if kind in HUMAN_TASKS:
            self.assignment(node, label)
        if kind == "scriptTask":
            script = node.find(_b("script"))
            text = script.text if script is not None else None
            if text is None or not text.strip():
                self.report(node, "script-compiles", f"{label} has no script; write the Python script it runs, or "
                                                     f"make it a plain task")
            else:
                self.script(script if script is not None else node, text, f"the script of {label}", "exec", node)
        ext = node.find(_b("extensionElements"))
        if ext is not None:
            for tag, what in (("preScript", "pre-script"), ("postScript", "post-script")):
                for element in ext.findall(f"{{{SPIFF_NS}}}{tag}"):
                    if element.text and element.text.strip():
                        self.script(element, element.text, f"the {what} of {label}", "exec", node)
            for element in ext.findall(f"{{{SPIFF_NS}}}messagePayload"):
                if element.text and element.text.strip():
                    self.expression(element, element.text, f"the message payload of {label}", owner=node)
        for loop in node.findall(_b("multiInstanceLoopCharacteristics")):
            for tag, what in (("loopCardinality", "loop cardinality"), ("completionCondition", "completion condition")):
                element = loop.find(_b(tag))
                if element is not None and element.text and element.text.strip():
                    self.expression(element, element.text, f"the {what} of {label}", owner=node)
            cardinality = loop.find(_b("loopCardinality"))
            text = (cardinality.text or "").strip() if cardinality is not None else ""
            if text.isdigit() and int(text) > self.max_branches:
                self.report(node, "max-branches", f"{label} runs {int(text):,} instances at once (the limit is "
                                                  f"{self.max_branches:,}, WHISTLE_DEPLOY_MAX_BRANCHES)")
        for loop in node.findall(_b("standardLoopCharacteristics")):
            element = loop.find(_b("loopCondition"))
            if element is not None and element.text and element.text.strip():
                self.expression(element, element.text, f"the loop condition of {label}", owner=node)
        if kind == "boundaryEvent" and node.get("cancelActivity", "true").strip().lower() != "false":
            host = next((el for el in self.root.iter(_b("subProcess"), _b("callActivity"), _b("transaction"))
                         if el.get("id") == node.get("attachedToRef")), None)
            if host is not None and host.find(_b("multiInstanceLoopCharacteristics")) is not None:
                self.report(node, "no-interrupting-multi-instance",
                            f"{label} interrupts the multi-instance {_label(host)}: SpiffWorkflow 3.2 cancels the "
                            f"activity but leaves each instance's sub-process running, and the next step of the case "
                            f"fails; put the interrupting event inside the instances (wrap their work in an embedded "
                            f"sub-process and attach it there) or make it non-interrupting")
        for definition in _event_definitions(node):
            if local(definition) == "timerEventDefinition":
                self.timer(node, definition, label)
            elif local(definition) == "conditionalEventDefinition":
                condition = definition.find(_b("condition"))
                if condition is None or not (condition.text or "").strip():
                    self.report(node, "script-compiles", f"{label} is a conditional event without a condition")
                else:
                    self.expression(condition, condition.text, f"the condition of {label}", owner=node)

    def assignment(self, node, label: str) -> None:
        lane = self._lane_of(node)
        assignment = read_assignment(node, lane)
        values = {"candidate groups": assignment.candidate_groups, "candidate users": assignment.candidate_users,
                  "assignee": assignment.assignee, "form key": assignment.form_key,
                  "due date": assignment.due_date, "priority": assignment.priority}
        for what, value in values.items():
            if value is None:
                continue
            expression = expression_of(value)
            if expression is not None:
                if not expression:
                    self.report(node, "script-compiles", f"the {what} of {label} is an empty expression")
                else:
                    self.expression(node, expression, f"the {what} of {label}", owner=node, rule="script-compiles")
        offered = [v for v in (assignment.candidate_groups, assignment.candidate_users, assignment.assignee)
                   if v is not None and (expression_of(v) is not None or any(x.strip() for x in v.split(",")))]
        if not offered:
            self.report(node, "human-task-assignment",
                        f"{label} is offered to nobody: set candidate groups (camunda:candidateGroups, "
                        f"zeebe:assignmentDefinition, a spiffworkflow property candidateGroups, or put it in a named "
                        f"lane), candidate users or an assignee")

    def _lane_of(self, node) -> str | None:
        current = node
        while current is not None:
            lane = self.lanes.get(current.get("id") or "")
            if lane:
                return lane
            current = current.getparent()
            if current is not None and local(current) == "process":
                break
        return None

    def timer(self, node, definition, label: str) -> None:
        given = [(kind, definition.find(_b(tag))) for kind, tag in
                 (("date", "timeDate"), ("duration", "timeDuration"), ("cycle", "timeCycle"))]
        given = [(kind, el) for kind, el in given if el is not None]
        if not given:
            self.report(node, "timer-expression", f"{label} is a timer without timeDate, timeDuration or timeCycle; "
                                                  f"set one (like PT30M)")
            return
        for kind, element in given:
            tag = local(element)
            expression, literal = timers.normalise_expression(element.text)
            if expression is None:
                self.report(node, "timer-expression", f"the {tag} of {label} is empty; write an ISO 8601 value "
                                                      f"(like PT30M) or an expression")
            elif literal is not None:
                try:
                    iso8601.validate_literal(kind, literal)
                except iso8601.TimerValueError as exc:
                    self.report(node, "timer-expression", f"the {tag} of {label}: {exc}")
            else:
                errors = compile_errors(expression, "eval")
                if errors:
                    self.report(node, "timer-expression",
                                f"the {tag} '{element.text.strip()}' of {label} is neither an ISO 8601 value (like "
                                f"PT30M) nor an expression the sandbox accepts: {'; '.join(errors)}")

    def script(self, element, text: str, what: str, mode: str, owner) -> None:
        errors = compile_errors(text, mode)
        if errors:
            self.report(owner, "script-compiles", f"{what} does not compile in the sandbox: {'; '.join(errors)}")

    def expression(self, element, text: str, what: str, owner=None, rule: str = "script-compiles") -> None:
        text = text.strip()
        errors = compile_errors(text, "eval")
        if errors:
            hint = ""
            if re.search(r"(^|[^=!<>])=([^=]|$)", text) or "&&" in text or "||" in text:
                hint = " (expressions are Python: == for equality, and/or/not; FEEL and JUEL are not supported)"
            self.report(owner if owner is not None else element, rule,
                        f"{what} '{text}' does not compile in the sandbox: {'; '.join(errors)}{hint}")

    def diagram(self, process) -> None:
        elements = [el for el in process.iter() if isinstance(el.tag, str)
                    and (local(el) in FLOW_NODES or local(el) == "sequenceFlow") and el.get("id")]
        missing = [el for el in elements if el.get("id") not in self.di]
        if not missing:
            return
        if len(missing) == len(elements):
            self.report(process, "no-bpmndi", f"process '{process.get('id')}' has no diagram (BPMNDI): it cannot be "
                                              f"drawn in the designer or the admin view; open and save it in a "
                                              f"modeler to lay it out")
            return
        for element in missing:
            self.report(element, "no-bpmndi", f"{_label(element)} is not on the diagram (no BPMNDI shape or edge)")


def _event_definitions(node) -> list:
    return [c for c in node if isinstance(c.tag, str) and local(c).endswith("EventDefinition")]


def _condition_text(flow) -> str | None:
    condition = flow.find(_b("conditionExpression"))
    if condition is None or not (condition.text or "").strip():
        return None
    return " ".join(condition.text.split())


def _label(node) -> str:
    kind = local(node)
    name = (node.get("name") or "").strip()
    what = WHAT.get(kind, kind)
    return f"{what} '{name}' ({node.get('id')})" if name else f"{what} '{node.get('id')}'"


def _longest_path(node_ids: set[str], successors: dict[str, list[str]]) -> int:
    """The most elements on one path along ``successors``, loops cut where they close (no recursion)."""
    depth: dict[str, int] = {}
    on_path: set[str] = set()
    for root in node_ids:
        if root in depth:
            continue
        stack = [(root, iter(successors.get(root, ())))]
        on_path.add(root)
        while stack:
            node, children = stack[-1]
            for child in children:
                if child in node_ids and child not in depth and child not in on_path:
                    on_path.add(child)
                    stack.append((child, iter(successors.get(child, ()))))
                    break
            else:
                stack.pop()
                on_path.discard(node)
                depth[node] = 1 + max((depth[c] for c in successors.get(node, ()) if c in depth), default=0)
    return max(depth.values(), default=0)


def call_cycles(calls: dict[str, list[tuple[str, str, object]]], own: set[str]) -> list[tuple[str, Problem]]:
    """Call activities of the processes in ``own`` that call their own process, directly or through others,
    as (calling process id, problem).

    ``calls`` maps each known process id to its call activities as (called process id, file name, element);
    processes already deployed are in it too, so a cycle through one of them is found."""
    problems = []
    for caller in sorted(own):
        for called, file_name, element in calls.get(caller, ()):
            path = _call_path(calls, called, caller)
            if path is None:
                continue
            label = _label(element)
            if called == caller:
                message = (f"{label} calls its own process '{caller}': every start would start it again, "
                           f"without end")
            else:
                route = " → ".join([f"{caller} [{element.get('id')}]"] + path + [caller])
                message = (f"{label} calls process '{called}', which calls '{caller}' again ({route}): a process "
                           f"cannot call itself through other processes, every start would go round without end")
            problems.append((caller, Problem(file_name, element.sourceline, element.get("id"),
                                             f"{message} [no-call-cycle]")))
    return problems


def _call_path(calls, start: str, goal: str) -> list[str] | None:
    """The processes and call activities from ``start`` back to ``goal`` (breadth first), or None."""
    if start == goal:
        return []
    came_from: dict[str, tuple[str, str]] = {start: None}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for called, _file, element in calls.get(current, ()):
            if called in came_from:
                continue
            came_from[called] = (current, element.get("id"))
            if called == goal:
                steps, node = [], called
                while came_from[node] is not None:
                    previous, element_id = came_from[node]
                    steps.append(f"{previous} [{element_id}]")
                    node = previous
                return list(reversed(steps))
            queue.append(called)
    return None


def lint_bpmn(file_name: str, root) -> list[_Finding]:
    linter = _Linter(file_name, root)
    linter.run()
    # Conditions on sequence flows, wherever they are.
    for flow in root.iter(_b("sequenceFlow")):
        condition = flow.find(_b("conditionExpression"))
        if condition is not None and condition.text and condition.text.strip():
            process = next((a for a in flow.iterancestors(_b("process"))), None)
            if process is None or process.get("isExecutable") != "true":
                continue
            linter.key = process.get("id")
            linter.expression(condition, condition.text, f"the condition of sequence flow '{flow.get('id')}'",
                              owner=flow)
    return linter.findings


# ---------------------------------------------------------------------------------------------------------
# ``whistle lint``: the deploy checks without a database.

_UNRESOLVED = "which is neither in this deployment nor deployed"


class _Offline:
    """Stands in for a database session in ``Deployer.check``: nothing is deployed."""

    class _Nothing:
        def scalar(self):
            return None

        def one(self):
            raise LookupError("nothing is deployed")

    def execute(self, *args, **kwargs):
        return self._Nothing()


def lint_paths(paths: list[str | Path]) -> list[Problem]:
    """Every problem ``whistle deploy`` would report for these files, errors and warnings, without a database.
    A call or decision that is not among the files is a warning (it may be deployed already)."""
    from engine.deploy.deployer import Deployer, SpecCache, read_sources

    sources, problems = read_sources(paths)
    try:
        Deployer(SpecCache()).check(_Offline(), sources, problems)
    except DeploymentInvalid as exc:
        problems = list(exc.problems)
    found = []
    for problem in problems:
        if _UNRESOLVED in problem.message:
            problem = Problem(problem.file, problem.line, problem.element_id,
                              problem.message.replace(_UNRESOLVED, "which is not among the files linted; it must be "
                                                                   "deployed before this file, or with it"),
                              "warning")
        found.append(problem)
    for source in sources:
        for warnings in source.warnings.values():
            found.extend(warnings)
    unique = list(dict.fromkeys(found))
    return sorted(unique, key=lambda p: (p.file, p.line or 0, p.severity != "error", p.message))
