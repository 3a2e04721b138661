"""Running instances: start, claim, unclaim, complete — one command, one transaction.

Each command loads the instance (locked), works on the SpiffWorkflow object, then saves the state
together with its projections (the inbox rows, the case data) and the audit events. Any exception rolls
everything back and drops the in-memory workflow; unexpected ones are recorded as incidents.
"""
from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable
from uuid import UUID

from sqlalchemy import Row, bindparam, func, insert, or_, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.util.task import TaskState

from engine.time import clock
from engine.forms import contracts
from engine.jobs import executor as jobs
from engine.audit import ledger
from engine.bpmn import timer_dues
from engine.time import workdays
from engine.identity.accounts import identity
from engine.audit.chain import AuditLog
from engine.bpmn.assignments import Assignment, expression_of
from engine.bpmn.parser import merge_finished_children
from engine.bpmn.state import dump_state, load_state, to_json_value
from engine.time import iso8601
from engine.store.columns import UTCDateTime
from engine.store.db import Database
from engine.deploy.deployer import SpecCache, find_version
from engine.errors import (Conflict, Forbidden, IncidentRaised, InvalidInput, NotFound, WhistleError, first_line,
                     is_lock_conflict)
from engine.forms.limits import check_data
from engine.runtime.messages import WAITED_ON_LOAD, deliver_to_task, sync_subscriptions, waiting_message_tasks
from engine.store.models import (AuditEvent, DefinitionVersion, HumanTask, Incident, Membership, MessageStart, MessageSubscription,
                     ProcessInstance, TaskCandidate, UserAccount)
from engine.scripting.script_engine import script_engine


@dataclass
class InboxChanges:
    """What a step changes in the inbox projection: rows to close, rows (and their candidates) to create."""

    closed: list[dict] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)
    candidates: list[dict] = field(default_factory=list)
    ledger: list[dict] = field(default_factory=list)  # obligations assigned and closed (engine.ledger)


@dataclass
class CommandContext:
    """What a command is working on, so a failure can be pinned on the right instance and task."""

    command: str
    actor: str | None
    instance_id: int | None = None
    process_id: str | None = None
    version_id: int | None = None
    task_id: str | None = None
    element_id: str | None = None
    new_instance: bool = False  # a failed start rolls its instance back: the incident cannot point at it
    completing: str | None = None  # the task a user completes: its inbox row records them as completed_by
    completed_data: dict | None = None  # what they submitted (the ledger's done row keeps it)


class EngineBudgetExceeded(RuntimeError):
    """A command's engine steps went past their step or time budget (an incident)."""


NO_WAY_FORWARD = "NoWayForward"  # the incident type of a running case that can never move again by itself
STEP_BUDGET = int(os.environ.get("WHISTLE_STEP_BUDGET", "5000"))  # engine steps one command may run
STEP_SECONDS = float(os.environ.get("WHISTLE_STEP_SECONDS", "20"))  # and for how long


class Runtime:
    def __init__(self, db: Database, specs: SpecCache) -> None:
        self.db = db
        self.specs = specs
        self.step_budget = STEP_BUDGET
        self.step_seconds = STEP_SECONDS

    # -- the command envelope ---------------------------------------------------------------------------

    def run_command(self, ctx: CommandContext, work: Callable[[Session, AuditLog], Any]) -> Any:
        try:
            with self.db.write() as session:
                audit = AuditLog()
                result = work(session, audit)
                audit.flush(session)
            return result
        except WhistleError:
            raise
        except StaleDataError:
            raise Conflict("the case was changed by someone else at the same time; reload and try again")
        except OperationalError as exc:
            if is_lock_conflict(exc):
                raise Conflict("the case is busy (locked by another command); try again")
            raise
        except Exception as exc:  # a script, condition or expression failed inside the process
            if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                raise  # the database went away (a 503 for the caller): not the process's fault, no incident
            incident_id = self._record_incident(ctx, exc)
            where = f" at '{ctx.element_id}'" if ctx.element_id else ""
            raise IncidentRaised(
                f"{ctx.command} failed{where}: {exc.__class__.__name__}: {first_line(exc)}; nothing was changed "
                f"and incident {incident_id} was recorded", incident_id, ctx.instance_id) from exc

    def _record_incident(self, ctx: CommandContext, exc: Exception) -> int:
        if ctx.new_instance:
            ctx.instance_id = ctx.task_id = None
        with self.db.write() as session:
            incident = Incident(instance_id=ctx.instance_id, process_id=ctx.process_id, version_id=ctx.version_id,
                                task_id=ctx.task_id, element_id=ctx.element_id, command=ctx.command, actor=ctx.actor,
                                error_type=exc.__class__.__name__, message=first_line(exc),
                                traceback="".join(traceback.format_exception(exc)), created_at=clock.now())
            session.add(incident)
            session.flush()
            audit = AuditLog()
            audit.record("incident", ctx.actor, ctx.instance_id, ctx.task_id, incident_id=incident.id,
                         command=ctx.command, element_id=ctx.element_id, error=f"{exc.__class__.__name__}: "
                                                                               f"{first_line(exc)}")
            audit.flush(session)
            return incident.id

    # -- loading and saving -----------------------------------------------------------------------------

    def lock_instance(self, session: Session, instance_id: int) -> ProcessInstance:
        instance = session.execute(select(ProcessInstance).where(ProcessInstance.id == instance_id)
                                   .with_for_update().execution_options(populate_existing=True)).scalar()
        if instance is None:
            raise NotFound(f"no instance {instance_id}")
        return instance

    def load(self, session: Session, instance: ProcessInstance) -> BpmnWorkflow:
        spec, subprocess_specs = self.specs.get(session, instance.version_id)
        workflow = load_state(instance.state, spec, subprocess_specs)
        workflow.script_engine = script_engine()
        setattr(workflow, WAITED_ON_LOAD, len(waiting_message_tasks(workflow)))
        _remember_open_tasks(workflow)
        return workflow

    def save(self, session: Session, audit: AuditLog, ctx: CommandContext, instance: ProcessInstance,
             workflow: BpmnWorkflow) -> None:
        """Write the instance's state with its inbox rows and its audit events (``_write_step``)."""
        now = clock.now()
        jobs.sync_instance_jobs(session, audit, ctx.actor, instance, workflow, now)  # timers fired, timers waiting
        inbox = self._inbox_changes(audit, ctx, instance, workflow, now)
        sync_subscriptions(session, instance, workflow, now)
        values = {"state": dump_state(workflow), "data": _case_data(workflow), "updated_at": now,
                  "status": instance.status, "completed_at": instance.completed_at}
        if workflow.completed and instance.status == "running":
            values["status"], values["completed_at"] = "completed", now
            audit.record("finished", ctx.actor, instance.id)
        stuck = _remember_open_tasks(workflow)
        if values["status"] == "running" and (stuck or (not getattr(workflow, OPEN_ON_LOAD)
                                                       and not workflow.waiting_events())):
            self._report_no_way_forward(session, audit, ctx, instance, workflow, stuck, now)
        self._write_step(session, audit, instance, values, inbox)

    def _report_no_way_forward(self, session: Session, audit: AuditLog, ctx: CommandContext,
                               instance: ProcessInstance, workflow: BpmnWorkflow, stuck: list[str],
                               now: datetime) -> None:
        """A running case that can never move again by itself — no open task and no waiting timer or message,
        or a multi-instance activity whose every instance is done but that never went on — is recorded as an
        incident in the same transaction as the step that left it so: administrators see it (``whistle
        incidents``) and can repair it. The step itself stands: what people did is kept. One open incident per
        case is enough: a timer that fires on a case already reported adds none."""
        already = session.execute(select(Incident.id).where(
            Incident.instance_id == instance.id, Incident.error_type == NO_WAY_FORWARD,
            Incident.resolved_at.is_(None)).limit(1)).first()
        if already is not None:
            return
        if stuck:
            message = (f"the case is running but has no way forward: every instance of {', '.join(stuck)} is "
                       f"done but the activity never went on")
        else:
            stuck = sorted({t.task_spec.bpmn_id or t.task_spec.name for t in workflow.get_tasks(
                state=TaskState.STARTED | TaskState.WAITING | TaskState.READY)} - {None})
            message = ("the case is running but has no way forward: no open task, no waiting timer or message"
                       + (f"; waiting at {', '.join(stuck)}" if stuck else ""))
        incident = Incident(instance_id=instance.id, process_id=instance.process_id, version_id=instance.version_id,
                            task_id=None, element_id=stuck[0] if stuck else None, command=ctx.command,
                            actor=ctx.actor, error_type=NO_WAY_FORWARD, message=message, traceback="",
                            created_at=now)
        session.add(incident)
        session.flush()
        audit.record("incident", ctx.actor, instance.id, None, incident_id=incident.id, command=ctx.command,
                     element_id=incident.element_id, error=f"{NO_WAY_FORWARD}: {message}")

    def _inbox_changes(self, audit, ctx, instance, workflow, now) -> InboxChanges:
        """The inbox rows to close and to create so that the open rows are the READY user/manual tasks."""
        ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
        was_open: dict[str, str] = getattr(workflow, OPEN_ON_LOAD, {})
        changes = InboxChanges()
        for task_id, name in was_open.items():
            if task_id in ready:
                continue
            spiff_task = workflow.get_task_from_id(UUID(task_id)) if _has_task(workflow, task_id) else None
            completed = spiff_task is not None and spiff_task.state == TaskState.COMPLETED
            by = ctx.actor if completed and task_id == ctx.completing else None
            changes.closed.append({"task_id": task_id, "closed_as": "completed" if completed else "cancelled",
                                   "closed_by": by, "closed_at": now})
            if not completed:
                audit.record("task_cancelled", ctx.actor, instance.id, task_id, name=name)
            obligation = _obligation_of(spiff_task)
            if obligation is not None:
                done = completed and task_id == ctx.completing
                changes.ledger.append(ledger.closed_row(instance, task_id, spiff_task.task_spec.bpmn_id, obligation,
                                                        _party(spiff_task), done, by, ctx.completed_data, now))
        for task_id, task in ready.items():
            if task_id in was_open:
                continue
            ctx.task_id, ctx.element_id = task_id, task.task_spec.bpmn_id
            row, groups, users = self._new_human_task(instance, task, now)
            changes.tasks.append(row)
            offer = {"task_id": task_id, "offered": row["assignee"] is None, "process_id": row["process_id"],
                     "due_at": row["due_at"], "priority": row["priority"], "created_at": now}
            changes.candidates += [dict(offer, kind="group", name=name) for name in groups]
            changes.candidates += [dict(offer, kind="user", name=name) for name in users]
            obligation = _obligation_of(task)
            extra = {}
            if obligation is not None:
                party = groups[0] if groups else row["assignee"] or (users[0] if users else None)
                changes.ledger.append(ledger.assigned_row(instance, task_id, row["element_id"], obligation, party,
                                                          row["due_at"], now))
                extra = {"obligation": obligation, "party": party}  # so the audit chain covers the ledger
            audit.record("task_created", ctx.actor, instance.id, task_id, name=row["name"],
                         element_id=row["element_id"], candidate_groups=groups, assignee=row["assignee"],
                         due_at=row["due_at"].isoformat() if row["due_at"] else None, **extra)
        ctx.task_id = ctx.element_id = None
        return changes

    def _write_step(self, session: Session, audit: AuditLog, instance: ProcessInstance, values: dict,
                    inbox: InboxChanges) -> None:
        """Write a locked instance's new state, its inbox changes and its pending audit events; check and bump
        its optimistic ``revision``. The hot path of every command: on PostgreSQL it is one statement (a
        data-modifying CTE, so one round trip to the server), on SQLite a few prebuilt Core statements.
        The ORM object is updated in place, so the session has nothing left to flush for it."""
        ledger.write(session, inbox.ledger)
        events, head = audit.take_chain(instance)
        revision = instance.revision
        params = {"instance_id": instance.id, "old_revision": revision, "new_revision": revision + 1,
                  "new_state": values["state"], "new_data": values["data"], "new_status": values["status"],
                  "new_updated_at": values["updated_at"], "new_completed_at": values["completed_at"],
                  "new_audit_head": head}
        if session.get_bind().dialect.name == "postgresql":
            completing = next((c for c in inbox.closed if c["closed_by"]), None)
            result = session.execute(_PG_WRITE_STEP, dict(
                params, new_data=json.dumps(values["data"], ensure_ascii=False),
                closed_ids=[c["task_id"] for c in inbox.closed],
                completed_ids=[c["task_id"] for c in inbox.closed if c["closed_as"] == "completed"],
                completing=completing and completing["task_id"], actor=completing and completing["closed_by"],
                closed_at=values["updated_at"], tasks=_json_rows(inbox.tasks),
                candidates=_json_rows(inbox.candidates), events=_json_rows(events)))
        else:
            if inbox.closed:
                session.execute(_CLOSE_TASK, inbox.closed)
                session.execute(_WITHDRAW_OFFERS, {"task_ids": [c["task_id"] for c in inbox.closed]})
            if inbox.tasks:
                session.execute(_INSERT_TASK, inbox.tasks)
            if inbox.candidates:
                session.execute(_INSERT_CANDIDATE, inbox.candidates)
            if events:
                session.execute(_INSERT_EVENTS, events)
            result = session.execute(_WRITE_INSTANCE, params)
        if result.rowcount != 1:
            raise StaleDataError(f"instance {instance.id} changed since it was read (revision {revision})")
        for key, value in values.items():
            set_committed_value(instance, key, value)
        set_committed_value(instance, "revision", revision + 1)
        set_committed_value(instance, "audit_head", head)

    def _new_human_task(self, instance: ProcessInstance, task, now: datetime) -> tuple[dict, list[str], list[str]]:
        spec = task.task_spec
        assignment: Assignment = getattr(spec, "assignment", None) or Assignment(lane=spec.lane)
        groups = _names(evaluate_setting(task, assignment.candidate_groups))
        users = _names(evaluate_setting(task, assignment.candidate_users))
        assignee = evaluate_setting(task, assignment.assignee)
        form_key = evaluate_setting(task, assignment.form_key)
        row = {"id": str(task.id), "instance_id": instance.id, "process_id": instance.process_id,
               "version_id": instance.version_id, "element_id": spec.bpmn_id, "name": spec.bpmn_name or spec.bpmn_id,
               "lane": spec.lane, "form_key": str(form_key) if form_key else None,
               "documentation": getattr(spec, "documentation", None),
               "priority": _priority(evaluate_setting(task, assignment.priority)), "status": "open",
               "assignee": str(assignee) if assignee else None, "created_at": now,
               "due_at": _due_at(evaluate_setting(task, assignment.due_date), now),
               "completed_at": None, "completed_by": None}
        return row, groups, users

    # -- commands ---------------------------------------------------------------------------------------

    def start(self, process_id: str, version: int | None = None, data: dict | None = None,
              business_key: str | None = None, user: str | None = None, lang: str = "zh",
              within: Callable[[Session, AuditLog, int], None] | None = None) -> int:
        """Start a case. A person (``user``) must be one of the process's candidate starters when it names any,
        and the start data must keep its start form's contract (``engine.contracts``); a start without a
        user is the system's (messages, timers, an operator's CLI) and is taken as given. ``within`` runs in the
        same transaction, before the step is written (a page links the uploads and drops the draft)."""
        if data is not None and not isinstance(data, dict):
            raise InvalidInput("start data must be a JSON object")
        check_data(data)  # engine.limits: integers within 64 bits, finite numbers, no NUL, nesting ≤ 64
        ctx = CommandContext("start", user or "system", process_id=process_id, new_instance=True)

        def work(session: Session, audit: AuditLog) -> int:
            definition = find_version(session, process_id, version)
            start_data = data
            if user:
                account = self._account(session, user)
                spec, _ = self.specs.get(session, definition.id)
                facts = contracts.start_of(spec)
                if facts.declares_starters and not facts.admits(user, account.groups):
                    raise Forbidden(f"{user} may not start '{process_id}': it is started by "
                                    f"{', '.join(facts.starter_groups + facts.starter_users)}")
                form = contracts.forms_of(spec).get(facts.form_key) if facts.form_key else None
                start_data = contracts.check(form, None, data or {}, account, {}, what=f"start of '{process_id}'",
                                             lang=lang, tz=workdays.timezone())
            instance, workflow = self._new_instance(session, audit, ctx, definition, start_data, business_key, user)
            if within is not None:
                within(session, audit, instance.id)
            self._engine_steps(workflow, ctx)
            self.save(session, audit, ctx, instance, workflow)
            return instance.id

        return self.run_command(ctx, work)

    def _new_instance(self, session: Session, audit: AuditLog, ctx: CommandContext, definition: DefinitionVersion,
                      data: dict | None, business_key: str | None, user: str | None, start_event: str | None = None):
        ctx.version_id, ctx.process_id = definition.id, definition.key
        spec, subprocess_specs = self.specs.get(session, definition.id)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine())
        workflow.task_tree.data.update(data or {})
        setattr(workflow, WAITED_ON_LOAD, 0)
        _remember_open_tasks(workflow)  # none yet: the engine has not stepped
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
        return instance, workflow

    def deliver_message(self, name: str, key: str | None = None, data: dict | None = None,
                        actor: str = "system") -> dict:
        """Deliver an outside message to exactly the instances waiting for it (or start the processes it starts)."""
        if data is not None and not isinstance(data, dict):
            raise InvalidInput("message data must be a JSON object")
        check_data(data)  # engine.limits: integers within 64 bits, finite numbers, no NUL, nesting ≤ 64
        ctx = CommandContext("message", actor)

        def work(session: Session, audit: AuditLog) -> dict:
            key_match = MessageSubscription.correlation_key.is_(None) if key is None \
                else MessageSubscription.correlation_key == key
            subscriptions = session.execute(select(MessageSubscription).where(
                MessageSubscription.message_name == name, key_match).order_by(MessageSubscription.id)).scalars().all()
            delivered: list[int] = []
            for instance_id in dict.fromkeys(s.instance_id for s in subscriptions):
                ctx.instance_id = instance_id
                instance = self.lock_instance(session, instance_id)
                workflow = self.load(session, instance)
                caught = False
                for sub in (s for s in subscriptions if s.instance_id == instance_id):
                    task = workflow.get_task_from_id(UUID(sub.task_id)) if _has_task(workflow, sub.task_id) else None
                    if task is None or task.state != TaskState.WAITING:
                        continue  # delivered by a concurrent command a moment ago
                    ctx.task_id, ctx.element_id = sub.task_id, sub.element_id
                    deliver_to_task(task, data or {}, key)
                    audit.record("message_received", actor, instance_id, sub.task_id, message=name, key=key,
                                 element_id=sub.element_id, data=to_json_value(data or {}))
                    caught = True
                if caught:
                    self._engine_steps(workflow, ctx)
                    self.save(session, audit, ctx, instance, workflow)
                    delivered.append(instance_id)
            started: list[int] = []
            if not subscriptions:
                for start in session.execute(select(MessageStart).where(MessageStart.message_name == name)
                                             .order_by(MessageStart.process_key)).scalars().all():
                    definition = session.get(DefinitionVersion, start.version_id)
                    instance, workflow = self._new_instance(session, audit, ctx, definition, {}, key, actor)
                    ctx.new_instance = True
                    self._engine_steps(workflow, ctx)
                    [task] = [t for t in waiting_message_tasks(workflow) if t.task_spec.bpmn_id == start.element_id]
                    deliver_to_task(task, data or {}, key)
                    audit.record("message_received", actor, instance.id, str(task.id), message=name, key=key,
                                 element_id=start.element_id, data=to_json_value(data or {}))
                    self._engine_steps(workflow, ctx)
                    self.save(session, audit, ctx, instance, workflow)
                    started.append(instance.id)
            if not delivered and not started:
                for_key = f" with key '{key}'" if key is not None else " without a key"
                raise NotFound(f"no instance is waiting for message '{name}'{for_key}, and no process starts with it; "
                               f"nothing was changed")
            return {"message": name, "key": key, "delivered_to": delivered, "started": started}

        return self.run_command(ctx, work)

    def claim(self, task_id: str, user: str) -> dict:
        ctx = CommandContext("claim", user, task_id=task_id)

        def work(session: Session, audit: AuditLog) -> dict:
            row, _, may = self._open_task(session, task_id, ctx, user)
            self._authorize(session, row, user, may)
            if row.assignee == user:
                return task_dict(session, row)
            if row.assignee:
                raise Conflict(f"task '{row.name}' is already claimed by {row.assignee}")
            row.assignee = user
            session.execute(_SET_OFFERED, {"of_task": row.id, "offer": False})
            audit.record("task_claimed", user, row.instance_id, row.id, name=row.name)
            return task_dict(session, row)

        return self.run_command(ctx, work)

    def unclaim(self, task_id: str, user: str) -> dict:
        ctx = CommandContext("unclaim", user, task_id=task_id)

        def work(session: Session, audit: AuditLog) -> dict:
            row, _, _ = self._open_task(session, task_id, ctx, user)
            if row.assignee is None:
                raise Conflict(f"task '{row.name}' is not claimed")
            if row.assignee != user:
                raise Forbidden(f"task '{row.name}' is claimed by {row.assignee}; only they can release it")
            row.assignee = None
            session.execute(_SET_OFFERED, {"of_task": row.id, "offer": True})
            audit.record("task_unclaimed", user, row.instance_id, row.id, name=row.name)
            return task_dict(session, row)

        return self.run_command(ctx, work)

    def complete(self, task_id: str, user: str, data: dict | None = None, lang: str = "zh",
                 within: Callable[[Session, AuditLog, int], None] | None = None) -> dict:
        """Complete a task with what its form (or declared outputs) lets ``user`` set (``engine.contracts``).
        ``within`` runs in the same transaction before the step is written (see ``start``)."""
        if data is not None and not isinstance(data, dict):
            raise InvalidInput("task data must be a JSON object")
        check_data(data)  # engine.limits: integers within 64 bits, finite numbers, no NUL, nesting ≤ 64
        ctx = CommandContext("complete", user, task_id=task_id)

        def work(session: Session, audit: AuditLog) -> dict:
            row, instance, may = self._open_task(session, task_id, ctx, user)
            self._authorize(session, row, user, may)
            if row.assignee and row.assignee != user:
                raise Forbidden(f"task '{row.name}' is claimed by {row.assignee}; only they can complete it")
            if instance.status != "running":
                raise Conflict(f"instance {instance.id} is {instance.status}")
            workflow = self.load(session, instance)
            spiff_task = workflow.get_task_from_id(UUID(task_id)) if _has_task(workflow, task_id) else None
            if spiff_task is None or spiff_task.state != TaskState.READY:
                raise Conflict(f"task '{row.name}' is no longer waiting to be completed")
            form = contracts.forms_of(workflow.spec).get(row.form_key) if row.form_key else None
            assignment = getattr(spiff_task.task_spec, "assignment", None)
            outputs = list(assignment.outputs) if assignment is not None and assignment.outputs is not None else None
            account = self._account(session, user) if form is not None else contracts.Account(user)
            clean = contracts.check(form, outputs, data or {}, account, spiff_task.data, what=f"task '{row.name}'",
                                    lang=lang, tz=workdays.timezone())
            spiff_task.data.update(clean)
            ctx.element_id = row.element_id
            spiff_task.run()
            ctx.task_id = ctx.element_id = None
            ctx.completing = task_id  # save() closes its inbox row, with the user as completed_by
            ctx.completed_data = to_json_value(clean)
            audit.record("task_completed", user, row.instance_id, row.id, name=row.name, data=to_json_value(clean))
            if within is not None:
                within(session, audit, instance.id)
            self._engine_steps(workflow, ctx)
            self.save(session, audit, ctx, instance, workflow)
            session.expire(row)  # written by a Core statement: read again if anyone looks
            return {"task_id": task_id, "instance_id": instance.id, "status": instance.status}

        return self.run_command(ctx, work)

    def repair(self, instance_id: int, actor: str) -> dict:
        """Move a case that has no way forward again, where the engine can tell how: finished loop and
        multi-instance children handed to their parent (``bpmn.merge_finished_children``), then the engine's
        own steps. Its open "no way forward" incidents are resolved. A case that would still be stuck is
        refused and nothing changes (its incident stays open)."""
        ctx = CommandContext("repair", actor, instance_id=instance_id)

        def work(session: Session, audit: AuditLog) -> dict:
            instance = self.lock_instance(session, instance_id)
            ctx.process_id, ctx.version_id = instance.process_id, instance.version_id
            if instance.status != "running":
                raise Conflict(f"instance {instance.id} is {instance.status}; only a running case can be repaired")
            workflow = self.load(session, instance)
            moved = merge_finished_children(workflow)
            self._engine_steps(workflow, ctx)
            open_tasks, stuck = _open_and_stuck(workflow)
            if not workflow.completed and (stuck or (not open_tasks and not workflow.waiting_events())):
                raise Conflict(f"instance {instance.id} still has no way forward; the engine cannot tell how to "
                               f"move it (fix the diagram and migrate the case); nothing was changed")
            now = clock.now()
            resolved = []
            for incident in session.execute(select(Incident).where(
                    Incident.instance_id == instance.id, Incident.error_type == NO_WAY_FORWARD,
                    Incident.resolved_at.is_(None))).scalars():
                incident.resolved_at = now
                resolved.append(incident.id)
            audit.record("instance_repaired", actor, instance.id, moved=moved, resolved_incidents=resolved)
            self.save(session, audit, ctx, instance, workflow)
            return {"instance_id": instance.id, "moved": moved, "resolved_incidents": resolved,
                    "status": instance.status}

        return self.run_command(ctx, work)

    # -- helpers ----------------------------------------------------------------------------------------

    def _engine_steps(self, workflow: BpmnWorkflow, ctx: CommandContext) -> None:
        """Run what the engine runs by itself, within a budget: a sequence-flow cycle with no wait state, or
        an absurd fan-out, becomes an incident (nothing changed) instead of a command that never ends."""
        steps = 0
        deadline = time.monotonic() + self.step_seconds

        def will_run(task) -> None:
            nonlocal steps
            ctx.task_id, ctx.element_id = str(task.id), task.task_spec.bpmn_id
            steps += 1
            if steps > self.step_budget:
                raise EngineBudgetExceeded(f"the command ran more than {self.step_budget} engine steps without "
                                           f"reaching a wait state (a loop with no task or timer in it?)")
            if not steps % 64 and time.monotonic() > deadline:
                raise EngineBudgetExceeded(f"the command's engine steps ran longer than {self.step_seconds:g} s")

        workflow.do_engine_steps(will_complete_task=will_run)
        ctx.task_id = ctx.element_id = None

    @staticmethod
    def _account(session: Session, username: str) -> contracts.Account:
        display_name, groups = identity(session, username)
        return contracts.Account(username, frozenset(groups), display_name)

    def _open_task(self, session: Session, task_id: str, ctx: CommandContext,
                   username: str) -> tuple[HumanTask, ProcessInstance, tuple[bool | None, bool]]:
        """Lock the task's instance (and the task row) in one statement, then check the task is still open.
        The same statement says whether ``username`` is an active account and a candidate of the task.

        A concurrent command that got there first is seen: PostgreSQL re-reads locked rows after waiting,
        and SQLite's BEGIN IMMEDIATE made this transaction wait before it read anything.
        """
        found = session.execute(_TASK_WITH_LOCKED_INSTANCE, {"task_id": task_id, "username": username}).first()
        if found is None:
            raise NotFound(f"no task {task_id}")
        row, instance, active, candidate = found
        ctx.instance_id, ctx.process_id, ctx.version_id = row.instance_id, row.process_id, row.version_id
        if row.status != "open":
            by = f" by {row.completed_by}" if row.completed_by else ""
            raise Conflict(f"task '{row.name}' is already {row.status}{by}")
        return row, instance, (active, bool(candidate))

    def _authorize(self, session: Session, row: HumanTask, username: str, may: tuple[bool | None, bool]) -> None:
        """The user exists, and is the assignee, a candidate user, or in a candidate group (``_open_task``)."""
        active, candidate = may
        if not active:
            raise NotFound(f"no user '{username}'")
        if row.assignee == username or candidate:
            return
        groups = sorted(c.name for c in row_candidates(session, row.id, "group"))
        raise Forbidden(f"{username} may not work on task '{row.name}': it is for {', '.join(groups) or 'nobody'}")


# The inbox projection's writes (Runtime.save): Core statements on the tables, built once.
OPEN_ON_LOAD = "whistle_open_tasks"  # set on a loaded workflow: {task id: name} of its open inbox rows
_TASKS, _CANDIDATES = HumanTask.__table__, TaskCandidate.__table__
_INSERT_TASK = insert(_TASKS)
_INSERT_CANDIDATE = insert(_CANDIDATES)
_CLOSE_TASK = (update(_TASKS).where(_TASKS.c.id == bindparam("task_id"), _TASKS.c.status == "open")
               .values(status=bindparam("closed_as", type_=_TASKS.c.status.type),
                       completed_by=bindparam("closed_by", type_=_TASKS.c.completed_by.type),
                       completed_at=bindparam("closed_at", type_=_TASKS.c.completed_at.type),
                       assignee=func.coalesce(_TASKS.c.assignee, bindparam("closed_by"))))
_WITHDRAW_OFFERS = (update(_CANDIDATES).where(_CANDIDATES.c.task_id.in_(bindparam("task_ids", expanding=True)))
                    .values(offered=False))
_INSERT_EVENTS = insert(AuditEvent.__table__)


def _write_instance_statement():
    table = ProcessInstance.__table__
    c = table.c
    return (update(table).where(c.id == bindparam("instance_id"), c.revision == bindparam("old_revision"))
            .values(state=bindparam("new_state", type_=c.state.type), data=bindparam("new_data", type_=c.data.type),
                    status=bindparam("new_status", type_=c.status.type),
                    updated_at=bindparam("new_updated_at", type_=c.updated_at.type),
                    completed_at=bindparam("new_completed_at", type_=c.completed_at.type),
                    revision=bindparam("new_revision", type_=c.revision.type),
                    audit_head=bindparam("new_audit_head", type_=c.audit_head.type)))


_WRITE_INSTANCE = _write_instance_statement()
# The same writes in one PostgreSQL statement. New rows travel as JSON and are expanded by the server (a
# column missing from them is inserted as NULL, not its default: the runtime gives every column); rows to close
# are found by id arrays, so that each part is an index lookup whatever the planner guesses of the JSON (a
# join with it became a sequential scan of the inbox). Foreign keys between the parts (a new task's
# candidates) are checked at the end of the statement.
_PG_WRITE_STEP = text("""
WITH closed AS (
    UPDATE human_task h
    SET status = CASE WHEN h.id = ANY(CAST(:completed_ids AS text[])) THEN 'completed' ELSE 'cancelled' END,
        completed_by = CASE WHEN h.id = :completing THEN :actor END, completed_at = :closed_at,
        assignee = coalesce(h.assignee, CASE WHEN h.id = :completing THEN :actor END)
    WHERE h.id = ANY(CAST(:closed_ids AS text[])) AND h.status = 'open'
    RETURNING 1),
withdrawn AS (
    UPDATE task_candidate SET offered = false WHERE task_id = ANY(CAST(:closed_ids AS text[])) RETURNING 1),
new_tasks AS (
    INSERT INTO human_task SELECT * FROM json_populate_recordset(NULL::human_task, CAST(:tasks AS json)) RETURNING 1),
new_candidates AS (
    INSERT INTO task_candidate
    SELECT * FROM json_populate_recordset(NULL::task_candidate, CAST(:candidates AS json)) RETURNING 1),
events AS (
    INSERT INTO audit_event (at, event_type, actor, instance_id, task_id, details, prev_hash, hash, key_id)
    SELECT e.at, e.event_type, e.actor, e.instance_id, e.task_id, e.details, e.prev_hash, e.hash, e.key_id
    FROM json_populate_recordset(NULL::audit_event, CAST(:events AS json)) WITH ORDINALITY AS e
    ORDER BY e.ordinality RETURNING 1)
UPDATE process_instance SET state = :new_state, data = CAST(:new_data AS json), status = :new_status,
       updated_at = :new_updated_at, completed_at = :new_completed_at, revision = :new_revision,
       audit_head = :new_audit_head
WHERE id = :instance_id AND revision = :old_revision
""").bindparams(bindparam("new_updated_at", type_=UTCDateTime()), bindparam("new_completed_at", type_=UTCDateTime()),
                bindparam("closed_at", type_=UTCDateTime()))
_SET_OFFERED = (update(_CANDIDATES).where(_CANDIDATES.c.task_id == bindparam("of_task"))
                .values(offered=bindparam("offer", type_=_CANDIDATES.c.offered.type)))


def _task_with_locked_instance_statement():
    """The task row and its instance, locked, with whether the user is active and a candidate of the task.
    Built once: constructing this statement costs more than running it on SQLite."""
    active = select(UserAccount.active).where(UserAccount.username == bindparam("username")).scalar_subquery()
    member_of = select(Membership.group_name).join(UserAccount, UserAccount.id == Membership.user_id).where(
        UserAccount.username == bindparam("username"))
    candidate = select(TaskCandidate.task_id).where(TaskCandidate.task_id == HumanTask.id, or_(
        (TaskCandidate.kind == "user") & (TaskCandidate.name == bindparam("username")),
        (TaskCandidate.kind == "group") & TaskCandidate.name.in_(member_of))).exists()
    return (select(HumanTask, ProcessInstance, active, candidate)
            .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .where(HumanTask.id == bindparam("task_id")).with_for_update(of=[HumanTask, ProcessInstance])
            .execution_options(populate_existing=True))


_TASK_WITH_LOCKED_INSTANCE = _task_with_locked_instance_statement()


# -- queries over projections (no instance is deserialized) --------------------------------------------------

def row_candidates(session: Session, task_id: str, kind: str) -> list[TaskCandidate]:
    return list(session.execute(select(TaskCandidate).where(TaskCandidate.task_id == task_id,
                                                            TaskCandidate.kind == kind)).scalars())


_TASK_FIELDS = ("id", "instance_id", "process_id", "name", "element_id", "assignee", "status", "form_key", "priority",
                "created_at", "due_at", "completed_at", "completed_by")


def task_dict(session: Session, row: HumanTask | Row | dict, candidates: dict | None = None) -> dict:
    """A task as the CLI, the API and the pages show it; ``row`` is an ORM object, a column row, or a dict of
    the task's columns (the inbox)."""
    # A column row's attributes are slow to read one by one; as a dict, 50 inbox rows cost half as much.
    r = row if isinstance(row, dict) else row._asdict() if isinstance(row, Row) \
        else {key: getattr(row, key) for key in _TASK_FIELDS}
    if candidates is None:
        groups = sorted(c.name for c in row_candidates(session, r["id"], "group"))
        users = sorted(c.name for c in row_candidates(session, r["id"], "user"))
    else:
        groups, users = sorted(candidates.get(("group", r["id"]), [])), sorted(candidates.get(("user", r["id"]), []))
    created, due, completed = r["created_at"], r["due_at"], r["completed_at"]
    return {"task_id": r["id"], "instance_id": r["instance_id"], "process_id": r["process_id"], "name": r["name"],
            "element_id": r["element_id"], "candidate_groups": groups, "candidate_users": users,
            "assignee": r["assignee"], "status": r["status"], "form_key": r["form_key"], "priority": r["priority"],
            "created_at": created.isoformat(), "due_at": due.isoformat() if due else None,
            # counted across a year whose official schedule is not loaded yet: it may still move (engine.workdays)
            "due_provisional": workdays.is_provisional(created, due),
            "completed_at": completed.isoformat() if completed else None, "completed_by": r["completed_by"]}


def _remember_open_tasks(workflow: BpmnWorkflow) -> list[str]:
    """Note on the workflow which inbox rows are open now: exactly its READY user/manual tasks, as every save
    leaves them. The next save closes those no longer READY without reading the rows (``_inbox_changes``).

    The same walk of the task tree returns the loop and multi-instance activities that are stuck: STARTED
    with every instance finished (their parent would have gone on; see ``bpmn.wire_spec``)."""
    open_tasks, stuck = _open_and_stuck(workflow)
    setattr(workflow, OPEN_ON_LOAD, open_tasks)
    return stuck


def _obligation_of(task) -> str | None:
    assignment = getattr(task.task_spec, "assignment", None) if task is not None else None
    return assignment.obligation if assignment is not None else None


def _party(task) -> str | None:
    """Whom a closed obligation fell on: its candidate group (or assignee), as when it was assigned."""
    assignment = task.task_spec.assignment
    groups = _names(evaluate_setting(task, assignment.candidate_groups))
    if groups:
        return groups[0]
    assignee = evaluate_setting(task, assignment.assignee)
    users = _names(evaluate_setting(task, assignment.candidate_users))
    return str(assignee) if assignee else (users[0] if users else None)


def _open_and_stuck(workflow: BpmnWorkflow) -> tuple[dict[str, str], list[str]]:
    open_tasks, stuck = {}, []
    for task in workflow.get_tasks(state=TaskState.READY | TaskState.STARTED):
        spec = task.task_spec
        if task.state == TaskState.READY:
            if spec.manual:
                open_tasks[str(task.id)] = spec.bpmn_name or spec.bpmn_id
        elif isinstance(spec, LoopTask):
            instances = list(spec._instances(task))
            if instances and all(child.has_state(TaskState.FINISHED_MASK) for child in instances):
                stuck.append(spec.bpmn_id or spec.name)
    return open_tasks, stuck


def _json_rows(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False, default=_json_default)


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _has_task(workflow: BpmnWorkflow, task_id: str) -> bool:
    try:
        return workflow.get_task_from_id(UUID(task_id)) is not None
    except Exception:
        return False


def _case_data(workflow: BpmnWorkflow) -> dict:
    if workflow.completed:
        return to_json_value(workflow.data)
    source = workflow.last_task or workflow.task_tree
    return to_json_value(source.data)


def evaluate_setting(task, value: str | None):
    """A literal, or the value of a ``${expr}`` / ``=expr`` expression over the task's data."""
    if value is None:
        return None
    expression = expression_of(value)
    if expression is None:
        return value
    return task.workflow.script_engine.evaluate(task, expression)


def _names(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple, set)):
        items = [str(v) for v in value]
    else:
        raise InvalidInput(f"candidate list must be text or a list, got {type(value).__name__}")
    return sorted({item.strip() for item in items if item and item.strip()})


def _priority(value) -> int:
    if value is None or value == "":
        return 50
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"task priority must be a whole number, got {value!r}")


def _due_at(value, now: datetime) -> datetime | None:
    """A task's due date: an ISO date-time with an offset, or an ISO duration from now (as timers read them)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().upper().startswith("P"):
        return iso8601.duration_after(value, now)
    return iso8601.parse_date(value)

