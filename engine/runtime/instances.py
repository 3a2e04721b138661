"""How the runtime works on one instance: lock its row, load it (a ``LoadedInstance``) or create it, run the
engine's own steps within a budget, and save it — its state with its projections (timer jobs, inbox rows and
candidates, message subscriptions, the ledger) and its audit events, in one write. Every command and the timer
executor go through these."""
from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow

from engine.audit import facts, ledger
from engine.audit.chain import AuditLog
from engine.bpmn import timer_dues
from engine.bpmn.state import dump_state, load_state, to_json_value
from engine.definitions import SpecCache
from engine.errors import NotFound
from engine.forms import contracts
from engine.notifications import writer
from engine.notifications.writer import CaseFacts, TaskFacts, case_title
from engine.runtime import incidents, timer_jobs
from engine.runtime.context import CommandContext
from engine.runtime.inbox import InboxChanges, inbox_changes, open_and_stuck, task_scope
from engine.runtime.loaded import LoadedInstance, track
from engine.runtime.messages import sync_subscriptions, waiting_message_tasks
from engine.scripting.script_engine import script_engine
from engine.store import Session
from engine.store import facts as stored_facts
from engine.store import instances as instance_rows
from engine.store.models import DefinitionVersion, ProcessInstance, TimerJob
from engine.time import clock

STEP_BUDGET = int(os.environ.get("WHISTLE_STEP_BUDGET", "5000"))  # engine steps one command may run
STEP_SECONDS = float(os.environ.get("WHISTLE_STEP_SECONDS", "20"))  # and for how long


class EngineBudgetExceeded(RuntimeError):
    """A command's engine steps went past their step or time budget (an incident)."""


class Instances:
    def __init__(self, specs: SpecCache) -> None:
        self.specs = specs
        self.step_budget = STEP_BUDGET
        self.step_seconds = STEP_SECONDS

    def lock(self, session: Session, instance_id: int) -> ProcessInstance:
        """The instance's row, locked for the command (the mutex of everything that belongs to the case)."""
        instance = instance_rows.lock(session, instance_id)
        if instance is None:
            raise NotFound(f"no instance {instance_id}")
        return instance

    def load(self, session: Session, instance: ProcessInstance,
             timer_jobs: list[TimerJob] | None = None) -> LoadedInstance:
        """The instance's workflow, from its stored state and its version's spec. ``timer_jobs``: its job rows,
        if the caller read them already (under the instance's lock), so saving it does not read them again."""
        spec, subprocess_specs = self.specs.get(session, instance.version_id)
        workflow = load_state(instance.state, spec, subprocess_specs)
        workflow.script_engine = script_engine()
        open_tasks, _ = open_and_stuck(workflow)  # as the last save left them
        return track(LoadedInstance(instance, workflow, open_tasks, bool(waiting_message_tasks(workflow)),
                                    timer_jobs))

    def create(self, session: Session, audit: AuditLog, ctx: CommandContext, definition: DefinitionVersion,
               data: dict | None, business_key: str | None, user: str | None,
               start_event: str | None = None) -> LoadedInstance:
        """A new instance of ``definition`` with its start data, not stepped yet (audited as "started")."""
        ctx.version_id, ctx.process_id = definition.id, definition.key
        spec, subprocess_specs = self.specs.get(session, definition.id)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine())
        workflow.task_tree.data.update(data or {})
        # A process that starts only with timers begins now; a due timer-start job names its start event.
        timer_dues.fire_start_event(workflow, start_event)
        now = clock.now()
        instance = ProcessInstance(version_id=definition.id, process_id=definition.key, business_key=business_key,
                                   status="running", state="", data={}, started_by=user, started_at=now,
                                   updated_at=now)
        session.add(instance)
        session.flush()
        ctx.instance_id = instance.id
        audit.record("started", ctx.actor, instance.id, process_id=definition.key, version=definition.version,
                     business_key=business_key, data=to_json_value(data or {}))
        # No inbox rows and no subscriptions yet: the engine has not stepped.
        return track(LoadedInstance(instance, workflow, {}, False))

    def run_engine_steps(self, loaded: LoadedInstance, ctx: CommandContext) -> None:
        """Run what the engine runs by itself, within a budget: a sequence-flow cycle with no wait state, or
        an absurd fan-out, becomes an incident (nothing changed) instead of a command that never ends."""
        steps = 0
        deadline = time.monotonic() + self.step_seconds

        def will_run(task: Any) -> None:
            nonlocal steps
            ctx.task_id, ctx.element_id = str(task.id), task.task_spec.bpmn_id
            steps += 1
            if steps > self.step_budget:
                raise EngineBudgetExceeded(f"the command ran more than {self.step_budget} engine steps without "
                                           f"reaching a wait state (a loop with no task or timer in it?)")
            if not steps % 64 and time.monotonic() > deadline:
                raise EngineBudgetExceeded(f"the command's engine steps ran longer than {self.step_seconds:g} s")

        loaded.workflow.do_engine_steps(will_complete_task=will_run)
        ctx.task_id = ctx.element_id = None

    def fire_timers(self, loaded: LoadedInstance, ctx: CommandContext) -> None:
        """Let the instance's due timers fire, then run the engine's steps from there."""
        loaded.workflow.refresh_timers()
        self.run_engine_steps(loaded, ctx)

    def save(self, session: Session, audit: AuditLog, ctx: CommandContext, loaded: LoadedInstance) -> None:
        """Write the instance's state with its projections and its audit events (``write_step``). A running
        case left with no way forward is reported as an incident, in the same write."""
        instance, workflow = loaded.row, loaded.workflow
        now = clock.now()
        timer_jobs.sync(session, audit, ctx.actor, loaded, now)  # timers fired, timers waiting
        inbox = inbox_changes(audit, ctx, loaded, now)
        sync_subscriptions(session, loaded, now)
        data = _case_data(workflow)
        street, department = task_scope([], data if isinstance(data, dict) else {})  # finding cases by them
        values = {"state": dump_state(workflow), "data": data, "updated_at": now, "status": instance.status,
                  "completed_at": instance.completed_at, "street": street, "department": department}
        if workflow.completed and instance.status == "running":
            values["status"], values["completed_at"] = "completed", now
            audit.record("finished", ctx.actor, instance.id)
        loaded.open_tasks, stuck = open_and_stuck(workflow)
        if values["status"] == "running" and (stuck or (not loaded.open_tasks and not workflow.waiting_events())):
            incidents.report_no_way_forward(session, audit, ctx, instance, workflow, stuck, now)
        _case_fact(session, instance, values)
        write_step(session, audit, instance, values, inbox)
        notify_step(session, ctx, loaded, inbox, values["data"], now)


def notify_step(session: Session, ctx: CommandContext, loaded: LoadedInstance, inbox: InboxChanges, data: Any,
                now: datetime) -> None:
    """The notifications of the step, in its transaction (``engine.notifications.writer``): the tasks it offered
    (trigger ``offered``) and the task a person completed (``completed``)."""
    if not inbox.tasks and not ctx.completing:
        return
    instance, workflow = loaded.row, loaded.workflow
    forms = contracts.forms_of(workflow.spec)
    case = CaseFacts(instance.id, instance.process_id, instance.business_key, instance.started_by,
                     case_title(forms, data if isinstance(data, dict) else {}))
    candidates: dict[str, tuple[list[str], list[str]]] = {}
    for candidate in inbox.candidates:
        groups, users = candidates.setdefault(candidate["task_id"], ([], []))
        (groups if candidate["kind"] == "group" else users).append(candidate["name"])
    offered = []
    for row in inbox.tasks:
        groups, users = candidates.get(row["id"], ([], []))
        offered.append((_facts(loaded, row, groups, users, forms), case))
    writer.for_trigger(session, "offered", offered, ctx.actor, now)
    completed = [c for c in inbox.closed if c["closed_as"] == "completed" and c["task_id"] == ctx.completing]
    if completed:
        spiff_task = loaded.task(ctx.completing or "")
        name = spiff_task.task_spec.bpmn_name or spiff_task.task_spec.bpmn_id if spiff_task is not None else ""
        facts = TaskFacts(str(ctx.completing), instance.id, name, declaration=_declaration(spiff_task))
        writer.for_trigger(session, "completed", [(facts, case)], ctx.actor, now)


def _facts(loaded: LoadedInstance, row: dict, groups: list[str], users: list[str], forms: dict) -> TaskFacts:
    return TaskFacts(row["id"], row["instance_id"], row["name"], row["assignee"], groups, users, row["created_at"],
                     row["due_at"], row["street"], row["department"],
                     writer.subject_text(forms, row["form_key"], row["subject"]),
                     _declaration(loaded.task(row["id"])))


def _declaration(spiff_task: Any) -> str | None:
    assignment = getattr(spiff_task.task_spec, "assignment", None) if spiff_task is not None else None
    return getattr(assignment, "notify", None)


def write_step(session: Session, audit: AuditLog, instance: ProcessInstance, values: dict,
               inbox: InboxChanges) -> None:
    """The ledger's rows, then the instance's state with its inbox rows and its pending audit events in one
    write, checking its optimistic revision (``engine.store.instances.write_step``)."""
    ledger.write(session, inbox.ledger)
    events, head = audit.take_chain(instance)
    instance_rows.write_step(session, instance, values, head, events, inbox.closed, inbox.tasks, inbox.candidates)


def _case_fact(session: Session, instance: ProcessInstance, values: dict) -> None:
    """The dashboards' row of the case (``engine.audit.facts``), written when a step changes it: a new case
    (its state not saved yet) is inserted, a changed one updated, an unchanged one left alone."""
    new = not instance.state
    fact = facts.case_fact(instance.process_id, instance.started_at, values["status"], values["street"],
                           values["data"])
    if new or fact != facts.case_fact(instance.process_id, instance.started_at, instance.status, instance.street,
                                      instance.data):
        stored_facts.put_case_fact(session, instance.id, fact, new)


def _case_data(workflow: BpmnWorkflow) -> Any:
    if workflow.completed:
        return to_json_value(workflow.data)
    source = workflow.last_task or workflow.task_tree
    return to_json_value(source.data)
