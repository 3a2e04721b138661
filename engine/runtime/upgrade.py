"""Moving a running case from one version of its process to another (instance migration): the per-case check
(a dry run: can it move, and why not) and the move itself, one command per case.

The check, on the case as stored (``check``):

* the case is running, of the same process, not already on the target version (nor, when asked, on another
  version than the one named as the source);
* every task it waits at — READY and WAITING tasks, running subprocesses and multi-instance activities, its
  waiting timers and message catches — has its element in the new version, of the same kind, under its own id
  or the one the mapping (``OLD=NEW``) names (``engine.bpmn.migration.blockers``);
* the data the new version reads at once is there: the moved tree is built in memory, and the new version's
  waiting tasks' assignments (candidates, assignee, due date, form, priority) and subjects, its waiting
  timers' due times and its message catches' correlation keys are evaluated over the case's data; an
  expression that fails (a variable the case lacks) is the reason. Conditions further on are not run: they
  read the data of tasks not done yet.

The move (``Upgrader.move``) is one command: the case is locked, checked again, its tree moved
(``engine.bpmn.migration.migrate``), the instance, its timer jobs and open inbox rows pointed at the new
version (the rows take the new element, name, form and subject; assignee, candidates and due time stay), its
message subscriptions written anew, the ledger told of an obligation the new version adds or drops on an open
task (earlier rows stay as they are: obligations keep their history), and ``instance_migrated`` recorded in the
case's audit chain with both versions, the mapping and the actor. Whatever fails rolls back that case only.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from SpiffWorkflow.util.task import TaskState

from engine.audit import ledger
from engine.audit.chain import AuditLog
from engine.bpmn import migration, timer_dues
from engine.bpmn.migration import Blocker
from engine.errors import Conflict, InvalidInput, WhistleError, first_line
from engine.forms import contracts
from engine.i18n import message
from engine.runtime.context import CommandContext
from engine.runtime.inbox import new_task_row, obligation_and_party
from engine.runtime.instances import Instances
from engine.runtime.loaded import LoadedInstance, track
from engine.runtime.messages import correlation_key, waiting_message_tasks
from engine.scripting.script_engine import script_engine
from engine.store import Session
from engine.store import instances as instance_rows
from engine.store import messages as message_rows
from engine.store import tasks as task_rows
from engine.store.models import DefinitionVersion, ProcessInstance
from engine.time import clock


def parse_mapping(items: list[str] | dict[str, str] | None) -> dict[str, str]:
    """``OLD=NEW`` items (the command line's ``--map``, a page's rows) as a dict; InvalidInput names a bad one."""
    if not items:
        return {}
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            old, sep, new = str(item).partition("=")
            if not sep:
                raise InvalidInput(f"mapping '{item}': write it as OLD=NEW (old element id = new element id)")
            pairs.append((old, new))
    mapping: dict[str, str] = {}
    for old, new in pairs:
        old, new = str(old).strip(), str(new).strip()
        if not old or not new:
            raise InvalidInput(f"mapping '{old}={new}': both element ids are needed")
        if old in mapping and mapping[old] != new:
            raise InvalidInput(f"mapping: '{old}' is mapped twice ({mapping[old]}, {new})")
        mapping[old] = new
    return mapping


def outcome(instance_id: int, current: int | None, to_version: int, code: str, **values: Any) -> dict:
    """One case's answer: its version now (``from_version``), ``can_move`` and the reason in Chinese (``reason``)
    and English (``reason_en``)."""
    values = {"to": to_version, **values}
    return {"instance_id": instance_id, "from_version": current, "to_version": to_version,
            "can_move": code == "can_move", "code": code,
            "reason": None if code == "can_move" else message("MIGRATION", code, "zh", **values),
            "reason_en": None if code == "can_move" else message("MIGRATION", code, "en", **values)}


def _blocker_outcome(instance_id: int, from_version: int, to_version: int, blocker: Blocker) -> dict:
    element = f"{blocker.name} ({blocker.element_id})" if blocker.name else blocker.element_id
    result = outcome(instance_id, from_version, to_version, blocker.code, element=element,
                     element_id=blocker.element_id, hint=blocker.hint, old_type=blocker.old_type,
                     new_type=blocker.new_type)
    result["element_id"] = blocker.element_id
    if blocker.hint:
        result["hint"] = blocker.hint  # the new id it looks renamed to: a page offers the mapping
    return result


class CannotMove(Conflict):
    """The case may not move (its outcome says why); nothing was written."""

    def __init__(self, result: dict) -> None:
        super().__init__(f"instance {result['instance_id']} cannot move to version {result['to_version']}: "
                         f"{result['reason_en']}")
        self.outcome = result


class Upgrader:
    """The check and the move of one case (see the module); the facade's commands are in
    ``engine.management.cases``."""

    def __init__(self, instances: Instances) -> None:
        self.instances = instances

    def check(self, session: Session, instance: ProcessInstance, target: DefinitionVersion,
              mapping: dict[str, str], from_version: int | None = None) -> tuple[dict, Any]:
        """The dry run of one case: its outcome, and the moved workflow with what the move did when it can move
        (nothing is written)."""
        source = session.get(DefinitionVersion, instance.version_id)
        assert source is not None  # process_instance.version_id is a foreign key
        number = source.version
        if instance.process_id != target.key:
            return outcome(instance.id, number, target.version, "other_process", process=instance.process_id,
                           wanted=target.key), None
        if instance.status != "running":
            return outcome(instance.id, number, target.version, "not_running", status=instance.status), None
        if instance.version_id == target.id:
            return outcome(instance.id, number, target.version, "same_version"), None
        if from_version is not None and number != from_version:
            return outcome(instance.id, number, target.version, "not_from", version=number,
                           from_version=from_version), None
        old_spec, old_subprocesses = self.instances.specs.get(session, instance.version_id)
        new_spec, new_subprocesses = self.instances.specs.get(session, target.id)
        problems = migration.check_mapping(old_spec, old_subprocesses, new_spec, new_subprocesses, mapping)
        if problems:
            raise InvalidInput("; ".join(p.format(old=number, new=target.version) for p in problems))
        workflow = self.instances.load(session, instance).workflow
        found = migration.blockers(workflow, new_spec, new_subprocesses, mapping)
        if found:
            return _blocker_outcome(instance.id, number, target.version, found[0]), None
        try:
            moved, move = migration.migrate(workflow, new_spec, new_subprocesses, mapping)
        except Exception as exc:  # a tree the new spec cannot carry: the case stays where it is
            return outcome(instance.id, number, target.version, "bad_state",
                           error=f"{exc.__class__.__name__}: {first_line(exc)}"), None
        moved.script_engine = script_engine()
        needs = self._needs_data(instance, moved, target, number)
        if needs is not None:
            return needs, None
        result = outcome(instance.id, number, target.version, "can_move")
        result["waiting_at"] = move.waiting
        return result, (moved, move)

    def _needs_data(self, instance: ProcessInstance, moved: Any, target: DefinitionVersion,
                    number: int) -> dict | None:
        """Evaluate what the new version reads at once (see the module) over the case's data."""
        now = clock.now()
        forms = contracts.forms_of(moved.spec)
        probe = ProcessInstance(id=instance.id, process_id=instance.process_id, version_id=target.id)
        checks: list[tuple[Any, Any]] = [(t, lambda t=t: new_task_row(probe, t, now, forms))
                                         for t in moved.get_tasks(state=TaskState.READY, manual=True)]
        checks += [(t, lambda t=t: correlation_key(t, instance.business_key)) for t in waiting_message_tasks(moved)]
        for task, evaluate in checks:
            try:
                evaluate()
            except Exception as exc:
                return self._data_outcome(instance, target, number, task, exc)
        try:
            timer_dues.waiting_timers(moved)
        except Exception as exc:
            return self._data_outcome(instance, target, number, None, exc)
        return None

    @staticmethod
    def _data_outcome(instance: ProcessInstance, target: DefinitionVersion, number: int, task: Any,
                      exc: Exception) -> dict:
        spec = task.task_spec if task is not None else None
        element_id = migration.element_of(task) if task is not None else "timer"
        name = getattr(spec, "bpmn_name", None)
        element = f"{name} ({element_id})" if name else element_id
        error = str(exc) if isinstance(exc, WhistleError) else f"{exc.__class__.__name__}: {first_line(exc)}"
        result = outcome(instance.id, number, target.version, "needs_data", element=element, error=error)
        result["element_id"] = element_id
        return result

    def move(self, session: Session, audit: AuditLog, ctx: CommandContext, instance_id: int,
             target: DefinitionVersion, mapping: dict[str, str], from_version: int | None = None) -> dict:
        """Move one locked case (the work of one command); Conflict, and nothing written, when it cannot."""
        instance = self.instances.lock(session, instance_id)
        ctx.process_id, ctx.version_id = instance.process_id, instance.version_id
        result, moved = self.check(session, instance, target, mapping, from_version)
        if moved is None:
            raise CannotMove(result)
        workflow, move = moved
        before = self.instances.load(session, instance)  # as stored: its open tasks and obligations
        obligations = {task_id: obligation_and_party(before.task(task_id)) for task_id in before.open_tasks}
        old_number = result["from_version"]
        instance_rows.move_to_version(session, instance, target.id)
        now = clock.now()
        loaded = track(LoadedInstance(instance, workflow, before.open_tasks, True))
        forms = contracts.forms_of(workflow.spec)
        rows, ledger_rows = [], []
        for task in workflow.get_tasks(state=TaskState.READY, manual=True):
            task_id = str(task.id)
            if task_id not in before.open_tasks:
                continue  # a task the new version makes READY: save() creates its row
            row, groups, users = new_task_row(instance, task, now, forms)
            rows.append(row)
            old_obligation, party = obligations.get(task_id, (None, None))
            new_obligation, new_party = obligation_and_party(task)
            if old_obligation and not new_obligation:
                ledger_rows.append(ledger.closed_row(instance, task_id, row["element_id"], old_obligation, party,
                                                     False, None, None, now))
            elif new_obligation and not old_obligation:
                ledger_rows.append(ledger.assigned_row(instance, task_id, row["element_id"], new_obligation,
                                                       new_party, row["due_at"], now))
        task_rows.rewrite_open(session, rows)
        ledger.write(session, ledger_rows)
        message_rows.delete_subscriptions(session, [s.id for s in message_rows.subscriptions_of(session, instance.id)])
        audit.record("instance_migrated", ctx.actor, instance.id, process_id=instance.process_id,
                     from_version=old_number, to_version=target.version, mapping=mapping, waiting_at=move.waiting,
                     dropped_history=move.dropped_history, timers_rescheduled=move.timers_rescheduled)
        self.instances.save(session, audit, ctx, loaded)
        return dict(result, moved=True, move=asdict(move))
