"""The parser Whistle builds specs with: SpiffWorkflow's (``spiffworkflow:`` extensions, DMN) reading the
modelers' dialects (``engine.bpmn.modelers``), task assignments (``engine.bpmn.assignments``), Whistle's timer
events (``engine.bpmn.timers``) and business rule tasks (``engine.bpmn.business_rules``); and the wiring that
makes a parsed spec behave the same in every process.

Reading the XML itself is ``engine.bpmn.reading``; an instance's saved state is ``engine.bpmn.state``.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent, EventBasedGateway, IntermediateCatchEvent, StartEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import SpiffTaskParser, UserTaskParser
from SpiffWorkflow.spiff.specs.defaults import BusinessRuleTask, ManualTask, UserTask
from SpiffWorkflow.util.task import TaskIterator, TaskState

from engine.bpmn import business_rules, timers
from engine.bpmn.assignments import read_assignment
from engine.bpmn.modelers import normalise

# SpiffWorkflow builds a process spec by following its sequence flows recursively, two Python frames per
# element, so Python's default limit (1,000) refuses a chain of about 490 elements. While a spec is built the
# limit is raised; in CPython 3.11 a Python-to-Python call does not grow the C stack, so a deeper Python
# stack costs memory only (about 0.5 KB a frame).
PARSE_RECURSION_LIMIT = 5_000  # a chain of about 2,400 elements (deploy refuses paths over 600: engine.deploy.lint)
_recursion: dict[str, int] = {"users": 0, "saved": 0}  # saved: the limit before the first user
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


def _assigned(task, node):
    # Attached to the task spec itself, not in parse_node: for a multi-instance task parse_node ends
    # holding the wrapper, while the READY instances people work on use this spec.
    task.assignment = read_assignment(node, task.lane)
    return task


class WhistleUserTaskParser(UserTaskParser):
    def create_task(self):
        return _assigned(super().create_task(), self.node)


class WhistleManualTaskParser(SpiffTaskParser):
    def create_task(self):
        return _assigned(super().create_task(), self.node)


class WhistleParser(SpiffBpmnParser):
    """SpiffWorkflow's parser (spiffworkflow: extensions, DMN) that also reads task assignment metadata,
    and Whistle's timer events (``engine.bpmn.timers``: Camunda-style literals, strict dates, gateway timers)."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (WhistleUserTaskParser, UserTask),
        full_tag("manualTask"): (WhistleManualTaskParser, ManualTask),
        full_tag("startEvent"): (timers.WhistleStartEventParser, StartEvent),
        full_tag("boundaryEvent"): (timers.WhistleBoundaryEventParser, BoundaryEvent),
        full_tag("intermediateCatchEvent"): (timers.WhistleIntermediateCatchEventParser, IntermediateCatchEvent),
        full_tag("eventBasedGateway"): (timers.WhistleEventBasedGatewayParser, EventBasedGateway),
        full_tag("businessRuleTask"): (business_rules.WhistleBusinessRuleTaskParser, BusinessRuleTask),
    }

    def add_bpmn_xml(self, bpmn, filename=None):
        normalise(bpmn)  # the modelers' dialects, in the parsed tree only (the stored file is never changed)
        super().add_bpmn_xml(bpmn, filename)

    def get_engine(self, decision_ref, node):
        return business_rules.engine_for(self, decision_ref, node)  # sandboxed, proper hit policies (engine.dmn)

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
                              for name, value in zip(names, init.__defaults__, strict=True))


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
