"""Moving a running workflow onto another version's spec (instance migration), and moving a token by hand
(instance modification) — on the SpiffWorkflow task tree, without the database.

SpiffWorkflow 3.2 has ``SpiffWorkflow.bpmn.util.diff`` (``SpecDiff``, ``WorkflowDiff``, ``migrate_workflow``).
Whistle uses its ``SpecDiff`` only for a hint (the element a removed id was structurally aligned with: "it looks
renamed to …"), and does its own move, because ``migrate_workflow`` resets every READY and WAITING task
(``Task.reset_branch``): their internal data is dropped, so a waiting timer would start counting again from the
migration, and a multi-instance item's data would be replaced by its parent's. Here:

* an element keeps its id from version to version unless the administrator maps it (``OLD=NEW``); an id that
  is gone and not mapped is never guessed;
* a task the case waits at (READY, WAITING, STARTED) must have its element in the new version, of the same kind;
  otherwise the case cannot move (``Blocker``);
* those tasks keep their id, their data and their state; a waiting timer keeps its due time unless its timer
  definition changed (then it is scheduled anew from the moment of the move);
* what was predicted after them (FUTURE, LIKELY, MAYBE) is dropped and predicted again from the new spec;
* finished tasks of elements the new version removed are taken out of the tree, their children handed to their
  parent (their data lives on in the tasks after them; the audit chain keeps what they were);
* the result is written and read back (``engine.bpmn.state``) on the new spec: what would not load is refused.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.util.diff import SpecDiff
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.state import dump_state, load_state, spec_registry

WAITING_STATES = TaskState.READY | TaskState.WAITING | TaskState.STARTED
PREDICTED = TaskState.PREDICTED_MASK | TaskState.FUTURE


@dataclass
class Blocker:
    """Why a case cannot move: ``code`` (``removed``, ``renamed``, ``type_changed``, ``subprocess_removed``)
    names the rule, ``element_id`` the element the case waits at, ``hint`` the new id it looks renamed to."""

    code: str
    element_id: str
    name: str | None = None
    hint: str | None = None
    old_type: str | None = None
    new_type: str | None = None


@dataclass
class Move:
    """What a migration did (or would do): the tasks it kept waiting, by their (new) element ids, the elements
    mapped, the finished tasks taken out of the tree and the timers scheduled anew."""

    waiting: list[str] = field(default_factory=list)
    mapped: dict[str, str] = field(default_factory=dict)
    dropped_history: list[str] = field(default_factory=list)
    timers_rescheduled: list[str] = field(default_factory=list)


def element_of(task: Any) -> str:
    spec = task.task_spec
    return getattr(spec, "bpmn_id", None) or spec.name


def _target_name(name: str, mapping: dict[str, str]) -> str:
    """A task spec's name in the new version: mapped when it is ``OLD`` or derived from it
    (``OLD.BoundaryEventSplit``)."""
    for old, new in mapping.items():
        if name == old:
            return new
        if name.startswith(old + ".") or name.startswith(old + " "):
            return new + name[len(old):]
    return name


def _align(old_spec: Any, new_spec: Any, mapping: dict[str, str]) -> dict[str, Any]:
    """Old task spec name → new task spec (or None)."""
    return {name: new_spec.task_specs.get(_target_name(name, mapping)) for name in old_spec.task_specs}


def _hint(old_spec: Any, new_spec: Any, name: str) -> str | None:
    """The new id an old id that is gone looks renamed to (a hint for the mapping, never applied by itself): the
    task its boundary events are attached to in the new version, else the one added element of its kind with
    its name, else what SpiffWorkflow's ``SpecDiff`` aligned it with by the shape of the flow."""
    old = old_spec.task_specs[name]
    added = [s for s in new_spec.task_specs.values() if s.name not in old_spec.task_specs
             and type(s) is type(old) and getattr(s, "bpmn_id", None)]
    split = old_spec.task_specs.get(f"{name}.BoundaryEventSplit")
    for event in (split.outputs if split is not None else []):
        moved = new_spec.task_specs.get(event.name) if event.name != name else None
        for parent in (moved.inputs if moved is not None else []):
            main = parent.name.removesuffix(".BoundaryEventSplit")
            if main != parent.name and main not in old_spec.task_specs:
                return main
    named = [s.name for s in added if getattr(s, "bpmn_name", None) and s.bpmn_name == getattr(old, "bpmn_name", 0)]
    if len(named) == 1:
        return named[0]
    try:
        diff = SpecDiff(spec_registry(), old_spec, new_spec)
    except Exception:  # a hint only: a diff SpiffWorkflow cannot make gives none
        return None
    aligned = diff.alignment.get(old)
    return aligned.name if aligned is not None and aligned.name != name else None


def _workflows(workflow: BpmnWorkflow) -> list[Any]:
    """The workflow and its running subworkflows (embedded subprocesses, call activities)."""
    return [workflow, *workflow.subprocesses.values()]


def _new_spec_of(sub: Any, top: BpmnWorkflow, new_spec: Any, new_subprocess_specs: dict,
                 mapping: dict[str, str]) -> Any | None:
    if sub is top:
        return new_spec
    return new_subprocess_specs.get(_target_name(sub.spec.name, mapping))


def blockers(workflow: BpmnWorkflow, new_spec: Any, new_subprocess_specs: dict,
             mapping: dict[str, str]) -> list[Blocker]:
    """Why this workflow cannot move onto ``new_spec`` with ``mapping``: every task it waits at must have its
    element, of the same kind, in the new version."""
    found: list[Blocker] = []
    for sub in _workflows(workflow):
        target = _new_spec_of(sub, workflow, new_spec, new_subprocess_specs, mapping)
        if target is None:
            found.append(Blocker("subprocess_removed", sub.spec.name, getattr(sub.spec, "description", None)))
            continue
        alignment = _align(sub.spec, target, mapping)
        for task in sub.get_tasks(state=WAITING_STATES, skip_subprocesses=True):
            spec = task.task_spec
            new = alignment.get(spec.name)
            name = getattr(spec, "bpmn_name", None)
            if new is None:
                hint = _hint(sub.spec, target, spec.name)
                found.append(Blocker("renamed" if hint else "removed", element_of(task), name, hint))
            elif type(new).__name__ != type(spec).__name__:
                found.append(Blocker("type_changed", element_of(task), name, None, type(spec).__name__,
                                     type(new).__name__))
    return _unique(found)


def _unique(found: list[Blocker]) -> list[Blocker]:
    seen, result = set(), []
    for blocker in found:
        key = (blocker.code, blocker.element_id)
        if key not in seen:
            seen.add(key)
            result.append(blocker)
    return result


def check_mapping(old_spec: Any, old_subprocess_specs: dict, new_spec: Any, new_subprocess_specs: dict,
                  mapping: dict[str, str]) -> list[str]:
    """What is wrong with a mapping: an old id version N does not have, a new id version M does not have."""
    old_ids = _ids(old_spec, old_subprocess_specs)
    new_ids = _ids(new_spec, new_subprocess_specs)
    problems = [f"{old}: version {{old}} has no element '{old}'" for old in mapping if old not in old_ids]
    problems += [f"{old}={new}: version {{new}} has no element '{new}'" for old, new in mapping.items()
                 if new not in new_ids]
    return problems


def _ids(spec: Any, subprocess_specs: dict) -> set[str]:
    ids = set(subprocess_specs)
    for wf_spec in [spec, *subprocess_specs.values()]:
        ids.update(ts.name for ts in wf_spec.task_specs.values())
    return ids


def migrate(workflow: BpmnWorkflow, new_spec: Any, new_subprocess_specs: dict,
            mapping: dict[str, str]) -> tuple[BpmnWorkflow, Move]:
    """The workflow moved onto ``new_spec`` (see the module), read back from its state on the new spec. Call
    only when ``blockers`` found none. The workflow given is changed; use the one returned."""
    move = Move(mapped={k: v for k, v in mapping.items()})
    for sub in _workflows(workflow):
        target = _new_spec_of(sub, workflow, new_spec, new_subprocess_specs, mapping)
        assert target is not None  # blockers() refuses a running subprocess the new version removed
        _move_tree(sub, target, mapping, move)
    workflow.subprocess_specs = new_subprocess_specs
    moved = load_state(dump_state(workflow), new_spec, new_subprocess_specs)
    move.waiting = sorted({element_of(t) for t in moved.get_tasks(state=WAITING_STATES)})
    return moved, move


def _move_tree(sub: Any, target: Any, mapping: dict[str, str], move: Move) -> None:
    alignment = _align(sub.spec, target, mapping)
    frontier = [t for t in sub.get_tasks(state=WAITING_STATES, skip_subprocesses=True)]
    predicted_as = _drop_predictions(sub, frontier)
    for task in list(sub.tasks.values()):
        _respec(sub, task, alignment.get(task.task_spec.name), move)
    sub.spec = target
    _predict_again(sub, frontier, predicted_as)
    if sub.last_task is not None and sub.last_task.id not in sub.tasks:
        sub.last_task = None


def _drop_predictions(sub: Any, frontier: list[Any]) -> dict[Any, int]:
    """Drop what was predicted after the waiting tasks; the state it had, by task id (a READY task's
    successors are FUTURE, a boundary event's MAYBE), to predict it again from the new spec in the same state."""
    predicted_as: dict[Any, int] = {}
    for task in frontier:
        for child in list(task.children):
            if child.has_state(PREDICTED):
                predicted_as.setdefault(task.id, child.state)
            if child.has_state(PREDICTED) and child.id in sub.tasks:
                _remove_subtree(sub, child)
    return predicted_as


def _respec(sub: Any, task: Any, new: Any, move: Move) -> None:
    """Put a task on its new spec, or take it out of the tree when the new version has none for it."""
    if task.id not in sub.tasks:
        return
    old = task.task_spec
    if new is None:
        if task.has_state(PREDICTED):
            _remove_subtree(sub, task)
        else:  # finished: blockers() refused cases waiting at a removed element
            _splice(sub, task)
            move.dropped_history.append(element_of(task))
        return
    if isinstance(old, CatchingEvent) and task.has_state(TaskState.WAITING) and _event_json(old) != _event_json(new):
        for key in ("event_value", "event_fired"):
            task.internal_data.pop(key, None)
        move.timers_rescheduled.append(new.name)
    task.task_spec = new


def _predict_again(sub: Any, frontier: list[Any], predicted_as: dict[Any, int]) -> None:
    for task in frontier:
        if task.id not in sub.tasks or task.children:
            continue
        if task.id in predicted_as:
            task._sync_children(task.task_spec.outputs, predicted_as[task.id])
            for child in task.children:
                child.task_spec._predict(child, mask=PREDICTED)
        else:
            task.task_spec._predict(task, mask=PREDICTED | task.state)
    for task in frontier:
        if task.id in sub.tasks and isinstance(task.task_spec, CatchingEvent) and task.has_state(TaskState.WAITING) \
                and "event_value" not in task.internal_data:
            task.task_spec._update_hook(task)  # evaluate the changed timer now (its due time from the move)


def _event_json(spec: Any) -> str:
    definition = getattr(spec, "event_definition", None)
    if definition is None:
        return ""
    try:
        return json.dumps(spec_registry().convert(definition), sort_keys=True, default=str)
    except Exception:  # not serializable: compare what can be compared
        return repr(definition)


def _remove_subtree(sub: Any, task: Any) -> None:
    if task.parent is not None:
        sub._remove_task(task.id)  # SpiffWorkflow's own: the subtree, and the parent's child list
    else:
        for node in list(task):
            sub.tasks.pop(node.id, None)


def _splice(sub: Any, task: Any) -> None:
    """Take a finished task out of the tree; its children become its parent's (the tree links are ids)."""
    parent = task.parent
    children = list(task._children)
    if parent is None:
        if not children:
            return
        sub.task_tree = sub.tasks[children[0]]
        for child_id in children:
            sub.tasks[child_id]._parent = None
    else:
        index = parent._children.index(task.id)
        parent._children[index:index + 1] = children
        for child_id in children:
            sub.tasks[child_id]._parent = parent.id
    task._children = []
    sub.tasks.pop(task.id, None)
