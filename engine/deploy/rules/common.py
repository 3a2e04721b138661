"""What the lint rules share: the table of rules (``RULES``), the kinds of BPMN flow element they talk about,
how a message names an element, a finding, and the linter's state while one BPMN file is checked."""
from __future__ import annotations

import os
from dataclasses import dataclass

from lxml import etree

from engine.bpmn.modelers import local
from engine.bpmn.namespaces import bpmn_tag
from engine.errors import Problem

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
    "notify-declaration": ("error", "a task's notify property names registered events and recipients "
                                    "(engine.notifications.events)"),
    "no-interrupting-multi-instance": ("error", "no interrupting boundary event on a multi-instance sub-process or "
                                                "call activity (SpiffWorkflow 3.2 leaves its instances running)"),
    "return-to": ("error", "a task's returnTo (退回) names earlier user or manual tasks of its own process or "
                           "sub-process"),
}

DEFAULT_MAX_BRANCHES = 100
# SpiffWorkflow predicts the tasks ahead of a new or changed case recursively, one frame per element, under
# Python's default recursion limit of 1,000 (less what the engine's own stack takes): a longer path fails at
# run time, so deploy refuses it. Parsing recurses too (two frames per element): engine.bpmn.parser.deep_recursion.
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



@dataclass
class Finding:
    problem: Problem
    key: str | None  # the process or decision it belongs to (None: the whole file)


def tagged(problem: Problem, rule: str) -> Problem:
    """The problem with its rule named in brackets at the end of its message, as every lint message is."""
    return Problem(problem.file, problem.line, problem.element_id, f"{problem.message} [{rule}]", problem.severity)


def describe(node: etree._Element) -> str:
    """How a message names an element: ``user task 'Review' (Task_1)``, or its id if it has no name."""
    kind = local(node)
    name = (node.get("name") or "").strip()
    what = WHAT.get(kind, kind)
    return f"{what} '{name}' ({node.get('id')})" if name else f"{what} '{node.get('id')}'"


def event_definitions(node: etree._Element) -> list[etree._Element]:
    return [c for c in node if isinstance(c.tag, str) and local(c).endswith("EventDefinition")]


def condition_text(flow: etree._Element) -> str | None:
    """A sequence flow's condition, its whitespace folded; None if it has none."""
    condition = flow.find(bpmn_tag("conditionExpression"))
    if condition is None or not (condition.text or "").strip():
        return None
    return " ".join(condition.text.split())


class Linter:
    """The state of linting one BPMN file: its findings so far, the process they belong to (``key``), the
    lanes' names by element id, the elements on the diagram, and the branch limit read once per file."""

    def __init__(self, file_name: str, root: etree._Element) -> None:
        self.file = file_name
        self.root = root
        self.findings: list[Finding] = []
        self.key: str | None = None
        self.lanes: dict[str, str | None] = {}
        for lane in root.iter(bpmn_tag("lane")):
            for ref in lane.findall(bpmn_tag("flowNodeRef")):
                if ref.text and ref.text.strip():
                    self.lanes[ref.text.strip()] = (lane.get("name") or "").strip() or None
        self.di = {el.get("bpmnElement") for el in root.iter() if isinstance(el.tag, str)
                   and local(el) in ("BPMNShape", "BPMNEdge")}
        self.max_branches = max_branches()

    def report(self, element: etree._Element, rule: str, message: str, severity: str | None = None) -> None:
        severity = severity or RULES[rule][0]
        self.findings.append(Finding(Problem(self.file, element.sourceline, element.get("id"),
                                             f"{message} [{rule}]", severity), self.key))
