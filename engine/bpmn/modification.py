"""Moving a case's token by hand (instance modification) on the SpiffWorkflow task tree, without the database:
cancel the task(s) of an active element and make another element ready in their place, or move the token back
to an earlier task (退回). The runtime's command (``engine.management.repairs``) saves the result as every
command does: the inbox, timers, subscriptions, ledger and audit follow.

Refused (``Unsafe``, nothing changed) where the engine cannot tell what a move means:

* the token is inside a running multi-instance activity or a subprocess (the other instances' or the
  subprocess's state would be lost);
* an element has several active tokens (parallel branches, instances): which one moves cannot be told;
* moving back while the case has active branches outside the task moved back to (they would keep running
  beside it); the element named is not in the process, or the case never passed it.

A task made ready again gets a new task id: its earlier inbox row, closed, keeps its history.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.util.task import TaskState

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
PREDICTED = TaskState.PREDICTED_MASK | TaskState.FUTURE


class Unsafe(Exception):
    """A move the engine cannot make safely: ``code`` (``subprocess``, ``multi_instance``, ``ambiguous``,
    ``not_active``, ``not_in_process``, ``never_passed``, ``other_branches``, ``not_started``) and the element."""

    def __init__(self, code: str, element_id: str, detail: str = "") -> None:
        super().__init__(f"{code}: {element_id} {detail}".strip())
        self.code, self.element_id, self.detail = code, element_id, detail


@dataclass
class Modification:
    cancelled: list[str] = field(default_factory=list)  # element ids whose tasks were cancelled
    started: list[str] = field(default_factory=list)  # element ids made ready (or waiting)
    back_to: str | None = None


def _element(task: Any) -> str:
    return getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name


def _unsafe_reason(task: Any) -> str | None:
    if task.workflow is not task.workflow.top_workflow:
        return "subprocess"
    node = task.parent
    while node is not None:
        if isinstance(node.task_spec, LoopTask) and node.has_state(TaskState.STARTED):
            return "multi_instance"
        if isinstance(node.task_spec, SubWorkflowTask) and node.has_state(TaskState.STARTED):
            return "subprocess"
        node = node.parent
    if isinstance(task.task_spec, LoopTask) and task.has_state(TaskState.STARTED):
        return "multi_instance"
    return None


def _active_at(workflow: BpmnWorkflow, element_id: str) -> list[Any]:
    return [t for t in workflow.get_tasks(state=ACTIVE) if _element(t) == element_id
            and not isinstance(t.task_spec, BoundaryEventSplit)]


def _renew_id(workflow: BpmnWorkflow, task: Any) -> None:
    """Give a task made ready again a new id (its earlier inbox row, closed, keeps the old one)."""
    old, new = task.id, uuid4()
    workflow.tasks.pop(old)
    task.id = new
    workflow.tasks[new] = task
    parent = task.parent
    if parent is not None:
        parent._children = [new if child == old else child for child in parent._children]
    for child in task.children:
        child._parent = new


def cancel_and_start(workflow: BpmnWorkflow, cancel: list[str], start: list[str], data: dict | None) -> Modification:
    """Cancel the one active task of each element in ``cancel``; make each element in ``start`` ready where the
    first cancelled task stood (its parent's child)."""
    if not cancel:
        raise Unsafe("no_cancel", ", ".join(start))
    change = Modification()
    anchor = None
    for element_id in cancel:
        found = _active_at(workflow, element_id)
        if not found:
            raise Unsafe("not_active", element_id)
        if len(found) > 1:
            raise Unsafe("ambiguous", element_id, str(len(found)))
        task = found[0]
        reason = _unsafe_reason(task)
        if reason:
            raise Unsafe(reason, element_id)
        if isinstance(task.parent.task_spec, BoundaryEventSplit):
            task = task.parent  # the task with its boundary events
        if anchor is None:
            anchor = task.parent
        workflow._remove_task(task.id)
        change.cancelled.append(element_id)
    assert anchor is not None
    for element_id in start:
        main = workflow.spec.task_specs.get(element_id)
        if main is None or not getattr(main, "bpmn_id", None):
            raise Unsafe("not_in_process", element_id)
        if len(main.inputs) > 1:
            raise Unsafe("join", element_id)
        spec = workflow.spec.task_specs.get(f"{element_id}.BoundaryEventSplit") or main  # with its boundary events
        child = anchor._add_child(spec, TaskState.FUTURE)
        child.task_spec._predict(child, mask=PREDICTED)
        child.task_spec._update(child)
        if data:
            child.data.update(data)
            for grandchild in child.children:
                if grandchild.has_state(ACTIVE):
                    grandchild.data.update(data)
        if not child.has_state(ACTIVE | TaskState.COMPLETED):
            raise Unsafe("not_started", element_id)
        change.started.append(element_id)
    workflow.last_task = anchor
    return change


def back_to(workflow: BpmnWorkflow, element_id: str, data: dict | None) -> Modification:
    """Move the token back to the latest finished task of ``element_id``: what came after it is cancelled, the
    task is ready again with the case's data as it stands (and ``data``)."""
    if element_id not in workflow.spec.task_specs:
        raise Unsafe("not_in_process", element_id)
    passed = [t for t in workflow.get_tasks(state=TaskState.COMPLETED, skip_subprocesses=True)
              if _element(t) == element_id]
    if not passed:
        raise Unsafe("never_passed", element_id)
    target = max(passed, key=lambda t: t.last_state_change)
    reason = _unsafe_reason(target)
    if reason:
        raise Unsafe(reason, element_id)
    active = [t for t in workflow.get_tasks(state=ACTIVE) if not isinstance(t.task_spec, BoundaryEventSplit)]
    outside = sorted({_element(t) for t in active if not t.is_descendant_of(target)})
    if outside:
        raise Unsafe("other_branches", element_id, ", ".join(outside))
    for task in active:
        if isinstance(task.task_spec, (LoopTask, SubWorkflowTask)) and task.has_state(TaskState.STARTED):
            raise Unsafe("multi_instance" if isinstance(task.task_spec, LoopTask) else "subprocess", _element(task))
    change = Modification(back_to=element_id)
    change.cancelled = sorted({_element(t) for t in active if t.has_state(TaskState.READY | TaskState.WAITING)})
    current = next((t for t in active if t.has_state(TaskState.READY)), None)
    case_data = dict(current.data if current is not None else target.data)
    case_data.update(data or {})
    workflow.reset_from_task_id(target.id, data=case_data)
    _renew_id(workflow, target)
    change.started.append(element_id)
    return change
