"""Moving a loaded case's token within a command (instance modification, ``engine.bpmn.modification``), with
what the move means for the ledger: an administrator's repair (``engine.management.repairs``) and a clerk's 退回
and 撤回 (``engine.runtime.task_actions``) share it. The caller saves the instance afterwards, as every command
does: the inbox rows, timers and audit follow."""
from __future__ import annotations

from collections.abc import Callable

from SpiffWorkflow.bpmn import BpmnWorkflow

from engine.audit import ledger
from engine.bpmn import modification
from engine.bpmn.state import dump_state, load_state
from engine.runtime.inbox import obligation_and_party
from engine.runtime.loaded import LoadedInstance, track
from engine.scripting.script_engine import script_engine
from engine.store import Session
from engine.time import clock

UNSAFE = {  # why a move is refused (``modification.Unsafe.code``), naming the element
    "subprocess": "'{element}' is inside a running subprocess; its state would be lost",
    "multi_instance": "'{element}' is inside a running multi-instance activity; the other instances would be lost",
    "ambiguous": "'{element}' has {detail} active tokens (parallel branches or instances); which one moves "
                 "cannot be told",
    "not_active": "no active task at '{element}'",
    "no_cancel": "--start needs --cancel: say which token moves to '{element}'",
    "not_in_process": "'{element}' is not an element of this process",
    "join": "'{element}' joins several flows; a token cannot be started there by hand",
    "never_passed": "the case never passed '{element}'; it can only move back to a task it has done",
    "other_branches": "the case has active branches beside '{element}' ({detail}); moving back would leave "
                      "them running: cancel them first",
    "not_started": "'{element}' cannot start here (it waits for something the case does not have)",
}


def unsafe_text(refused: modification.Unsafe) -> str:
    """Why the engine refused a move, in a sentence naming the element."""
    return UNSAFE.get(refused.code, refused.code).format(element=refused.element_id, detail=refused.detail)


def move_token(session: Session, loaded: LoadedInstance,
               move: Callable[[BpmnWorkflow], modification.Modification]) -> modification.Modification:
    """Apply ``move`` to the loaded workflow, read it back from its state (SpiffWorkflow's event manager still
    knows the tasks removed) and close the obligations of the tasks it removed as ``cancelled`` in the ledger
    (their inbox rows close when the instance is saved). ``modification.Unsafe`` passes through."""
    instance = loaded.row
    before = {task_id: loaded.task(task_id) for task_id in loaded.open_tasks}
    obligations = {task_id: (obligation_and_party(task), task.task_spec.bpmn_id)
                   for task_id, task in before.items() if task is not None}
    change = move(loaded.workflow)
    loaded.workflow = load_state(dump_state(loaded.workflow), loaded.workflow.spec, loaded.workflow.subprocess_specs)
    loaded.workflow.script_engine = script_engine()
    track(loaded)
    now = clock.now()
    gone = [task_id for task_id in before if loaded.task(task_id) is None]
    ledger.write(session, [ledger.closed_row(instance, task_id, element, kind, party, False, None, None, now)
                           for task_id in gone
                           for (kind, party), element in [obligations.get(task_id, ((None, None), ""))]
                           if kind])
    return change
