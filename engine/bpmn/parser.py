"""SpiffWorkflow integration: XSD validation, the parser Whistle uses, and spec-free state (de)serialization."""
from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from uuid import UUID

from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import XSD_PATH, full_tag
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator, TaskState
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.spiff.parser.process import SPIFF_XSD, SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import SpiffTaskParser, UserTaskParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent, EventBasedGateway, IntermediateCatchEvent, StartEvent
from SpiffWorkflow.spiff.specs.defaults import BusinessRuleTask, ManualTask, UserTask

from engine.dmn import decisions as dmn
from engine.bpmn import timers

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"


# ---------------------------------------------------------------------------------------------------------
# XSD validation, built once per process (building the schema costs a few milliseconds).

class SchemaValidator:
    """Validates a BPMN document against the BPMN 2.0 XSD and reports *every* error, not just the last."""

    def __init__(self) -> None:
        with open(XSD_PATH, "rb") as xsd:
            schema = etree.parse(xsd)
        imported = etree.Element("{http://www.w3.org/2001/XMLSchema}import",
                                 namespace=SPIFF_NS, schemaLocation=SPIFF_XSD)
        schema.getroot().insert(0, imported)
        self._schema = etree.XMLSchema(schema)

    def errors(self, document: etree._ElementTree) -> list[tuple[int, str]]:
        _retag_correlation_expressions(document)
        if self._schema.validate(document):
            return []
        return [(error.line, _tidy_xsd_message(error.message)) for error in self._schema.error_log]


def _retag_correlation_expressions(document) -> None:
    # bpmn-js writes correlation retrieval expressions in a form the XSD rejects; SpiffWorkflow rewrites it too.
    for expr in document.xpath(".//bpmn:correlationPropertyRetrievalExpression/bpmn:formalExpression",
                               namespaces={"bpmn": BPMN_NS}):
        expr.tag = f"{{{BPMN_NS}}}messagePath"


def _tidy_xsd_message(message: str) -> str:
    return message.replace(f"{{{BPMN_NS}}}", "bpmn:")


_validator: SchemaValidator | None = None


def schema_validator() -> SchemaValidator:
    global _validator
    if _validator is None:
        _validator = SchemaValidator()
    return _validator


# ---------------------------------------------------------------------------------------------------------
# The one way BPMN and DMN text becomes a tree: deploy, lint and the spec cache all read through it.

class XmlRefused(ValueError):
    """A BPMN/DMN document Whistle will not read; ``line`` is where (1-based), when known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


_UTF8_NAMES = frozenset({"utf-8", "utf8"})
_DECLARED_ENCODING = re.compile(r"""^\ufeff?\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")


def _xml_parser() -> etree.XMLParser:
    # Decoded as UTF-8 whatever the declaration says (the text was read as UTF-8); no DTD is loaded, no
    # entity resolved, nothing fetched; no tree deeper or text longer than libxml2's default limits.
    return etree.XMLParser(encoding="utf-8", resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False)


def _doctype_line(text: str) -> int | None:
    """The line of a ``<!DOCTYPE`` before the root element, or None. A DTD is only allowed there."""
    index, length = 0, len(text)
    while index < length:
        if text[index] in " \t\r\n\ufeff":
            index += 1
        elif text.startswith("<?", index):
            end = text.find("?>", index)
            index = length if end < 0 else end + 2
        elif text.startswith("<!--", index):
            end = text.find("-->", index)
            index = length if end < 0 else end + 3
        elif text.startswith("<!", index):
            return text.count("\n", 0, index) + 1  # <!DOCTYPE, in any spelling the parser would reach
        else:
            return None  # the root element (or something the parser will call malformed)
    return None


def read_xml(content: str) -> etree._ElementTree:
    """Parse BPMN/DMN text with the hardened parser. Raises :class:`XmlRefused` for a DOCTYPE (any DTD,
    entity declaration or external reference) and for an encoding declaration other than UTF-8 on text
    that is not plain ASCII (the file was read as UTF-8, so its names would be garbled);
    ``etree.XMLSyntaxError`` for malformed XML."""
    line = _doctype_line(content)
    if line is not None:
        raise XmlRefused("a DOCTYPE declaration is not allowed in BPMN or DMN files (no DTDs, entities or "
                         "external references are read): remove the <!DOCTYPE …> block", line)
    declared = _DECLARED_ENCODING.match(content)
    if declared and declared.group(1).strip().lower() not in _UTF8_NAMES and not content.isascii():
        raise XmlRefused(f'the XML declaration says encoding="{declared.group(1)}", but the file is UTF-8 (Whistle '
                         f'reads BPMN and DMN files as UTF-8), so its Chinese names would be misread: change the '
                         f'declaration to encoding="UTF-8"', 1)
    tree = etree.ElementTree(etree.fromstring(content.encode("utf-8"), _xml_parser()))
    if tree.docinfo.internalDTD is not None or tree.docinfo.externalDTD is not None:
        raise XmlRefused("a DOCTYPE declaration is not allowed in BPMN or DMN files", 1)
    return tree


# SpiffWorkflow builds a process spec by following its sequence flows recursively, two Python frames per
# element, so Python's default limit (1,000) refuses a chain of about 490 elements. While a spec is built the
# limit is raised; in CPython 3.11 a Python-to-Python call does not grow the C stack, so a deeper Python
# stack costs memory only (about 0.5 KB a frame).
PARSE_RECURSION_LIMIT = 5_000  # a chain of about 2,400 elements (deploy refuses paths over 600: engine.lint)
_recursion = {"users": 0, "saved": None}
_recursion_lock = threading.Lock()


@contextmanager
def deep_recursion(limit: int = PARSE_RECURSION_LIMIT) -> Iterator[None]:
    """Raise Python's recursion limit to ``limit`` while SpiffWorkflow builds a spec (process-wide, so it is
    counted: the last user puts the old limit back)."""
    with _recursion_lock:
        if _recursion["users"] == 0:
            _recursion["saved"] = sys.getrecursionlimit()
            sys.setrecursionlimit(max(_recursion["saved"], limit))
        _recursion["users"] += 1
    try:
        yield
    finally:
        with _recursion_lock:
            _recursion["users"] -= 1
            if _recursion["users"] == 0:
                sys.setrecursionlimit(_recursion["saved"])


# ---------------------------------------------------------------------------------------------------------
# Human task metadata: who may work on it, which form, when it is due.

@dataclass(frozen=True)
class Assignment:
    """What the modeler said about a user/manual task. Values may be literals or expressions.

    Expressions are written ``${expr}`` (Camunda style) or ``=expr`` (Zeebe style) and evaluated over the
    task's data when the task becomes ready, so a decision table can choose the department.
    """

    candidate_groups: str | None = None
    candidate_users: str | None = None
    assignee: str | None = None
    form_key: str | None = None
    due_date: str | None = None
    priority: str | None = None
    lane: str | None = None
    sources: dict = field(default_factory=dict)
    outputs: tuple[str, ...] | None = None  # the names a task without a form may set (engine.contracts)
    obligation: str | None = None  # the kind of accountability obligation the task is (engine.ledger)


_ASSIGNMENT_FIELDS = ("candidateGroups", "candidateUsers", "assignee", "formKey", "dueDate", "priority", "outputs",
                      "obligation")


def read_assignment(node: etree._Element, lane: str | None) -> Assignment:
    values: dict[str, str] = {}
    sources: dict[str, str] = {}

    def offer(name: str, value: str | None, source: str) -> None:
        if value is not None and value.strip() and name not in values:
            values[name] = value.strip()
            sources[name] = source

    for name in _ASSIGNMENT_FIELDS:
        offer(name, node.get(f"{{{CAMUNDA_NS}}}{name}"), "camunda")
    ext = node.find(f"{{{BPMN_NS}}}extensionElements")
    if ext is not None:
        for prop in ext.iter(f"{{{SPIFF_NS}}}property"):
            if prop.get("name") in _ASSIGNMENT_FIELDS:
                offer(prop.get("name"), prop.get("value"), "spiffworkflow")
        for prop in ext.iter(f"{{{CAMUNDA_NS}}}property"):
            if prop.get("name") in ("outputs", "obligation"):
                offer(prop.get("name"), prop.get("value"), "camunda")
        for assignment in ext.iter(f"{{{ZEEBE_NS}}}assignmentDefinition"):
            for name in ("candidateGroups", "candidateUsers", "assignee"):
                offer(name, assignment.get(name), "zeebe")
        for form in ext.iter(f"{{{ZEEBE_NS}}}formDefinition"):
            offer("formKey", form.get("formKey") or form.get("formId"), "zeebe")
        for schedule in ext.iter(f"{{{ZEEBE_NS}}}taskSchedule"):
            offer("dueDate", schedule.get("dueDate"), "zeebe")
        for prio in ext.iter(f"{{{ZEEBE_NS}}}priorityDefinition"):
            offer("priority", prio.get("priority"), "zeebe")
    if "candidateGroups" not in values and lane:
        offer("candidateGroups", lane, "lane")
    return Assignment(
        candidate_groups=values.get("candidateGroups"),
        candidate_users=values.get("candidateUsers"),
        assignee=values.get("assignee"),
        form_key=values.get("formKey"),
        due_date=values.get("dueDate"),
        priority=values.get("priority"),
        lane=lane,
        sources=sources,
        outputs=tuple(n.strip() for n in values["outputs"].split(",") if n.strip()) if "outputs" in values else None,
        obligation=values.get("obligation"),
    )


def expression_of(value: str) -> str | None:
    """The expression inside ``${...}`` or after ``=``; None for a literal."""
    value = value.strip()
    if value.startswith("${") and value.endswith("}"):
        return value[2:-1].strip()
    if value.startswith("="):
        return value[1:].strip()
    return None


class _AssignmentMixin:
    def create_task(self):
        # Attached to the task spec itself, not in parse_node: for a multi-instance task parse_node ends
        # holding the wrapper, while the READY instances people work on use this spec.
        task = super().create_task()
        task.assignment = read_assignment(self.node, task.lane)
        return task


class WhistleUserTaskParser(_AssignmentMixin, UserTaskParser):
    pass


class WhistleManualTaskParser(_AssignmentMixin, SpiffTaskParser):
    pass


class WhistleParser(SpiffBpmnParser):
    """SpiffWorkflow's parser (spiffworkflow: extensions, DMN) that also reads task assignment metadata,
    and Whistle's timer events (``engine.timers``: Camunda-style literals, strict dates, gateway timers)."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (WhistleUserTaskParser, UserTask),
        full_tag("manualTask"): (WhistleManualTaskParser, ManualTask),
        full_tag("startEvent"): (timers.WhistleStartEventParser, StartEvent),
        full_tag("boundaryEvent"): (timers.WhistleBoundaryEventParser, BoundaryEvent),
        full_tag("intermediateCatchEvent"): (timers.WhistleIntermediateCatchEventParser, IntermediateCatchEvent),
        full_tag("eventBasedGateway"): (timers.WhistleEventBasedGatewayParser, EventBasedGateway),
        full_tag("businessRuleTask"): (dmn.WhistleBusinessRuleTaskParser, BusinessRuleTask),
    }

    def add_bpmn_xml(self, bpmn, filename=None):
        from engine.bpmn.modelers import normalise  # modeler dialects (engine.modelers), in the parsed tree only

        normalise(bpmn)
        super().add_bpmn_xml(bpmn, filename)

    def get_engine(self, decision_ref, node):
        return dmn.engine_for(self, decision_ref, node)  # sandboxed, with proper hit policies (engine.dmn)

    def get_spec(self, process_id, required=True):
        spec = super().get_spec(process_id, required)  # get_subprocess_specs comes through here as well
        if spec is not None:
            wire_spec(spec)
        return spec


# SpiffWorkflow's task iterator stops silently at depth 1,000 of the task tree, and every loop iteration
# (a case returned for rework, a reminder cycle) makes the tree deeper: a long case would stop finding its
# ready tasks. The iteration is not recursive, so depth costs nothing; the engine's step budget
# (``Runtime._engine_steps``) is what stops a loop with no wait state.
def _no_depth_limit(iterator_class) -> None:
    init = iterator_class.__init__
    names = init.__code__.co_varnames[init.__code__.co_argcount - len(init.__defaults__):init.__code__.co_argcount]
    init.__defaults__ = tuple(10 ** 9 if name == "max_depth" else value
                              for name, value in zip(names, init.__defaults__))


_no_depth_limit(TaskIterator)
_no_depth_limit(BpmnTaskIterator)


def wire_spec(spec) -> None:
    """Make a parsed spec behave the same in every process, whatever that process ran before.

    1. **Loop and multi-instance children report to their parent from the start.** SpiffWorkflow connects a
       child spec's ``completed_event`` to the loop task's ``merge_child`` only when it *creates* a child
       (``create_child``), and the connection lives on the shared, in-memory spec. A process that loads an
       instance whose children were created elsewhere (after a restart, in the CLI, on another worker) never
       made that connection: the last child completes, the parent stays STARTED and the case stalls with
       nothing to do. Connecting at parse time makes the behaviour a property of the spec, not of history.
    2. **Data objects are read when a task runs, not when it became ready.** SpiffWorkflow copies a task's
       input data objects into its data in ``_update_hook``, i.e. when it becomes READY, and writes them
       back when it completes. Two tasks READY at the same time (two boundary timers fired in one run) each
       work on the copy taken before the other ran, and the second write discards the first one's change
       (a reminder recorded and then lost). Reading again just before the task runs makes the outcome the
       same whether they fire one by one or together.
    """
    if getattr(spec, "_whistle_wired", False):
        return
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, LoopTask):
            child = spec.task_specs[task_spec.task_spec]
            if not child.completed_event.is_connected(task_spec.merge_child):
                child.completed_event.connect(task_spec.merge_child)
        if getattr(task_spec, "data_input_associations", None):
            task_spec._run_hook = _reading_inputs_first(task_spec, task_spec._run_hook)
    spec._whistle_wired = True


def merge_finished_children(workflow: BpmnWorkflow) -> list[str]:
    """Hand the finished children of loop and multi-instance tasks to their parent when that never happened
    (cases saved by a process that ran without ``wire_spec``): returns the ids of the parents that moved."""
    moved = []
    for task in workflow.get_tasks(state=TaskState.STARTED):
        spec = task.task_spec
        if not isinstance(spec, LoopTask):
            continue
        merged = set(task.internal_data.get("merged", []))
        for child in list(spec._instances(task)):
            if child.state == TaskState.COMPLETED and str(child.id) not in merged:
                spec.merge_child(task.workflow, child)
                moved.append(spec.bpmn_id or spec.name)
    return sorted(set(moved))


def _reading_inputs_first(task_spec, run_hook):
    def run(my_task):
        for data_object in task_spec.data_input_associations:
            data_object.get(my_task)
        return run_hook(my_task)
    return run


# ---------------------------------------------------------------------------------------------------------
# Instance state without the spec. The spec is rebuilt from the version's stored sources and cached.

class _SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)  # the task tree and data only
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_registry():
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _SpecFreeWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    timers.register_converters(registry)
    return registry


_registry = _make_registry()
STATE_FORMAT = "whistle-1"


def dump_state(workflow: BpmnWorkflow) -> str:
    dct = _registry.convert(workflow)
    dct["format"] = STATE_FORMAT
    return json.dumps(dct, separators=(",", ":"), ensure_ascii=False)


def load_state(state: str, spec, subprocess_specs: dict) -> BpmnWorkflow:
    dct = json.loads(state)
    fmt = dct.pop("format", None)
    if fmt != STATE_FORMAT:
        raise ValueError(f"unknown instance state format {fmt!r}")
    return _registry.restore(dct, spec=spec, subprocess_specs=subprocess_specs)


def to_json_value(value):
    """Task data as plain JSON (for projections and the audit log)."""
    return json.loads(json.dumps(_registry.convert(_registry.clean(value)) if isinstance(value, dict) else value,
                                 default=str, ensure_ascii=False))


def file_kind(path: str) -> str | None:
    ext = os.path.splitext(path)[1].lower()
    return {".bpmn": "bpmn", ".bpmn20.xml": "bpmn", ".dmn": "dmn"}.get(ext)
