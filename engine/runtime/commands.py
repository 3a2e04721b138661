"""The runtime's commands on running instances: start, deliver a message, claim, unclaim, complete, repair; and an
administrator's suspend, resume and terminate (``engine.runtime.lifecycle``).

Each is one command (``engine.runtime.executor``): it loads the instance, locked (``engine.runtime.instances``),
works on the SpiffWorkflow object, then saves the state together with its projections and its audit events.
Any exception rolls everything back; unexpected ones are recorded as incidents.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

from SpiffWorkflow.util.task import TaskState

from engine.audit.chain import AuditLog
from engine.bpmn.parser import merge_finished_children
from engine.bpmn.state import to_json_value
from engine.definitions import SpecCache, find_version
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.forms import contracts
from engine.forms.limits import check_data
from engine.identity.accounts import identity
from engine.runtime import action_notices, lifecycle
from engine.runtime.context import CommandContext
from engine.runtime.executor import CommandExecutor
from engine.runtime.inbox import open_and_stuck, task_dict
from engine.runtime.incidents import NO_WAY_FORWARD
from engine.runtime.instances import Instances
from engine.runtime.loaded import LoadedInstance
from engine.runtime.messages import deliver_to_task, waiting_message_tasks
from engine.store import Session
from engine.store import incidents as incident_rows
from engine.store import messages as message_rows
from engine.store import tasks as task_rows
from engine.store.db import Database
from engine.store.models import DefinitionVersion, HumanTask, ProcessInstance
from engine.time import clock, workdays

T = TypeVar("T")
Within = Callable[[Session, AuditLog, int], None]  # more work in the command's transaction, given the instance id


class Runtime:
    def __init__(self, db: Database, specs: SpecCache) -> None:
        self.db = db
        self.specs = specs
        self.executor = CommandExecutor(db)
        self.instances = Instances(specs)

    def run_command(self, ctx: CommandContext, work: Callable[[Session, AuditLog], T]) -> T:
        """Run ``work`` as one command: one transaction, a conflict raised as such, a failure as an incident."""
        return self.executor.run(ctx, work)

    # -- commands ---------------------------------------------------------------------------------------

    def start(self, process_id: str, version: int | None = None, data: dict | None = None,
              business_key: str | None = None, user: str | None = None, lang: str = "zh",
              within: Within | None = None) -> int:
        """Start a case. A person (``user``) must be one of the process's candidate starters when it names any,
        and the start data must keep its start form's contract (``engine.forms.contracts``); a start without a
        user is the system's (messages, timers, an operator's CLI) and is taken as given. ``within`` runs in the
        same transaction, before the step is written (a page links the uploads and drops the draft)."""
        if data is not None and not isinstance(data, dict):
            raise InvalidInput("start data must be a JSON object")
        check_data(data)  # engine.forms.limits: integers within 64 bits, finite numbers, no NUL, nesting ≤ 64
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
            loaded = self.instances.create(session, audit, ctx, definition, start_data, business_key, user)
            if within is not None:
                within(session, audit, loaded.row.id)
            self.instances.run_engine_steps(loaded, ctx)
            self.instances.save(session, audit, ctx, loaded)
            return loaded.row.id

        return self.executor.run(ctx, work)

    def deliver_message(self, name: str, key: str | None = None, data: dict | None = None,
                        actor: str = "system", within: Callable[[Session, AuditLog], None] | None = None) -> dict:
        """Deliver an outside message to exactly the instances waiting for it (or start the processes it starts).
        ``within`` runs in the same transaction at the end (an administrator's replay resolves the incident)."""
        if data is not None and not isinstance(data, dict):
            raise InvalidInput("message data must be a JSON object")
        check_data(data)  # engine.forms.limits: integers within 64 bits, finite numbers, no NUL, nesting ≤ 64
        ctx = CommandContext("message", actor, submitted={"message": name, "key": key, "data": data or {}})

        def work(session: Session, audit: AuditLog) -> dict:
            subscriptions = message_rows.waiting_for(session, name, key)
            delivered: list[int] = []
            for instance_id in dict.fromkeys(s.instance_id for s in subscriptions):
                ctx.instance_id = instance_id
                instance = self.instances.lock(session, instance_id)
                lifecycle.require_running(instance, f"message ('{name}')")  # a suspended case: nothing delivered
                loaded = self.instances.load(session, instance)
                caught = False
                for sub in (s for s in subscriptions if s.instance_id == instance_id):
                    task = loaded.task(sub.task_id)
                    if task is None or task.state != TaskState.WAITING:
                        continue  # delivered by a concurrent command a moment ago
                    ctx.task_id, ctx.element_id = sub.task_id, sub.element_id
                    deliver_to_task(task, data or {}, key)
                    audit.record("message_received", actor, instance_id, sub.task_id, message=name, key=key,
                                 element_id=sub.element_id, data=to_json_value(data or {}))
                    caught = True
                if caught:
                    self.instances.run_engine_steps(loaded, ctx)
                    self.instances.save(session, audit, ctx, loaded)
                    delivered.append(instance_id)
            started: list[int] = []
            if not subscriptions:
                for start in message_rows.starts_of(session, name):
                    definition = session.get(DefinitionVersion, start.version_id)
                    assert definition is not None  # message_start.version_id is a foreign key
                    loaded = self.instances.create(session, audit, ctx, definition, {}, key, actor)
                    ctx.new_instance = True
                    self.instances.run_engine_steps(loaded, ctx)
                    [task] = [t for t in waiting_message_tasks(loaded.workflow)
                              if t.task_spec.bpmn_id == start.element_id]
                    deliver_to_task(task, data or {}, key)
                    audit.record("message_received", actor, loaded.row.id, str(task.id), message=name, key=key,
                                 element_id=start.element_id, data=to_json_value(data or {}))
                    self.instances.run_engine_steps(loaded, ctx)
                    self.instances.save(session, audit, ctx, loaded)
                    started.append(loaded.row.id)
            if not delivered and not started:
                for_key = f" with key '{key}'" if key is not None else " without a key"
                raise NotFound(f"no instance is waiting for message '{name}'{for_key}, and no process starts with it; "
                               f"nothing was changed")
            if within is not None:
                within(session, audit)
            return {"message": name, "key": key, "delivered_to": delivered, "started": started}

        return self.executor.run(ctx, work)

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
            task_rows.set_offered(session, row.id, False)
            audit.record("task_claimed", user, row.instance_id, row.id, name=row.name)
            return task_dict(session, row)

        return self.executor.run(ctx, work)

    def unclaim(self, task_id: str, user: str) -> dict:
        ctx = CommandContext("unclaim", user, task_id=task_id)

        def work(session: Session, audit: AuditLog) -> dict:
            row, _, _ = self._open_task(session, task_id, ctx, user)
            if row.assignee is None:
                raise Conflict(f"task '{row.name}' is not claimed")
            if row.assignee != user:
                raise Forbidden(f"task '{row.name}' is claimed by {row.assignee}; only they can release it")
            row.assignee = None
            task_rows.set_offered(session, row.id, True)
            audit.record("task_unclaimed", user, row.instance_id, row.id, name=row.name)
            return task_dict(session, row)

        return self.executor.run(ctx, work)

    def complete(self, task_id: str, user: str, data: dict | None = None, lang: str = "zh",
                 within: Within | None = None, replayed_by: str | None = None) -> dict:
        """Complete a task with what its form (or declared outputs) lets ``user`` set (``engine.forms.contracts``).
        ``within`` runs in the same transaction before the step is written (see ``start``). ``replayed_by``: an
        administrator replays ``user``'s failed command (its incident); the audit says so."""
        if data is not None and not isinstance(data, dict):
            raise InvalidInput("task data must be a JSON object")
        check_data(data)  # engine.forms.limits: integers within 64 bits, finite numbers, no NUL, nesting ≤ 64
        ctx = CommandContext("complete", user, task_id=task_id,
                             submitted={"task_id": task_id, "data": data or {}, "lang": lang})

        def work(session: Session, audit: AuditLog) -> dict:
            row, instance, may = self._open_task(session, task_id, ctx, user)
            self._authorize(session, row, user, may)
            if row.assignee and row.assignee != user:
                raise Forbidden(f"task '{row.name}' is claimed by {row.assignee}; only they can complete it")
            loaded = self.instances.load(session, instance)
            spiff_task = loaded.task(task_id)
            if spiff_task is None or spiff_task.state != TaskState.READY:
                raise Conflict(f"task '{row.name}' is no longer waiting to be completed")
            form = contracts.forms_of(loaded.workflow.spec).get(row.form_key) if row.form_key else None
            assignment = getattr(spiff_task.task_spec, "assignment", None)
            outputs = list(assignment.outputs) if assignment is not None and assignment.outputs is not None else None
            account = self._account(session, user) if form is not None else contracts.Account(user)
            clean = contracts.check(form, outputs, data or {}, account, spiff_task.data, what=f"task '{row.name}'",
                                    lang=lang, tz=workdays.timezone())
            spiff_task.data.update(clean)
            if row.delegation_state == "pending":  # 委派: the delegate hands it back; the owner completes it
                return self._resolve_delegation(session, audit, ctx, loaded, row, user, clean, within)
            ctx.element_id = row.element_id
            spiff_task.run()
            ctx.task_id = ctx.element_id = None
            ctx.completing = task_id  # save() closes its inbox row, with the user as completed_by
            ctx.completed_data = cast(dict, to_json_value(clean))
            replay = {"replayed_by": replayed_by} if replayed_by else {}
            audit.record("task_completed", user, row.instance_id, row.id, name=row.name, data=to_json_value(clean),
                         **replay)
            if within is not None:
                within(session, audit, instance.id)
            self.instances.run_engine_steps(loaded, ctx)
            self.instances.save(session, audit, ctx, loaded)
            session.expire(row)  # written by a Core statement: read again if anyone looks
            return {"task_id": task_id, "instance_id": instance.id, "status": instance.status}

        return self.executor.run(ctx, work)

    def _resolve_delegation(self, session: Session, audit: AuditLog, ctx: CommandContext, loaded: LoadedInstance,
                            row: HumanTask, user: str, clean: dict, within: Within | None) -> dict:
        """A delegate's completion of a delegated task (委派, ``engine.runtime.task_actions``): what they submitted
        stays on the task, the task goes back to its owner (``delegated_by``) to confirm; the BPMN task does not
        complete."""
        owner = row.delegated_by
        row.assignee, row.delegation_state = owner, "resolved"
        audit.record("task_delegation_resolved", user, row.instance_id, row.id, name=row.name, owner=owner,
                     data=to_json_value(clean), notify="task_delegation_resolved", recipients=[owner])
        action_notices.notify(session, "task_delegation_resolved", row, loaded.row, user, (f"user:{owner}",))
        if within is not None:  # a page's uploads are linked to the case, its draft dropped, as on completion
            within(session, audit, loaded.row.id)
        self.instances.save(session, audit, ctx, loaded)
        return {"task_id": row.id, "instance_id": row.instance_id, "status": loaded.row.status,
                "delegation_state": "resolved", "assignee": owner}

    def repair(self, instance_id: int, actor: str) -> dict:
        """Move a case that has no way forward again, where the engine can tell how: finished loop and
        multi-instance children handed to their parent (``engine.bpmn.parser.merge_finished_children``), then the
        engine's own steps. Its open "no way forward" incidents are resolved. A case that would still be stuck is
        refused and nothing changes (its incident stays open)."""
        ctx = CommandContext("repair", actor, instance_id=instance_id)

        def work(session: Session, audit: AuditLog) -> dict:
            instance = self.instances.lock(session, instance_id)
            ctx.process_id, ctx.version_id = instance.process_id, instance.version_id
            lifecycle.require_running(instance, "repair")
            loaded = self.instances.load(session, instance)
            moved = merge_finished_children(loaded.workflow)
            self.instances.run_engine_steps(loaded, ctx)
            open_tasks, stuck = open_and_stuck(loaded.workflow)
            if not loaded.workflow.completed and (stuck or (not open_tasks and not loaded.workflow.waiting_events())):
                raise Conflict(f"instance {instance.id} still has no way forward; the engine cannot tell how to "
                               f"move it (fix the diagram and migrate the case); nothing was changed")
            resolved = incident_rows.resolve_open(session, instance.id, NO_WAY_FORWARD, clock.now())
            audit.record("instance_repaired", actor, instance.id, moved=moved, resolved_incidents=resolved)
            self.instances.save(session, audit, ctx, loaded)
            return {"instance_id": instance.id, "moved": moved, "resolved_incidents": resolved,
                    "status": instance.status}

        return self.executor.run(ctx, work)

    # -- an administrator's hold and end of a case (engine.runtime.lifecycle; who may: engine.management) ---------

    def suspend(self, instance_id: int, reason: object, actor: str) -> dict:
        """Suspend a running case with a written reason: nothing moves it until it is resumed."""
        text = lifecycle.reason_text(reason, "suspend", instance_id)
        return self._on_instance("suspend", instance_id, actor,
                                 lambda s, a, i: lifecycle.suspend(s, a, i, text, actor))

    def resume(self, instance_id: int, actor: str, note: object = None) -> dict:
        """Resume a suspended case; a timer that fell due meanwhile fires once, at the next acquire."""
        text = lifecycle.reason_text(note, "resume", instance_id) if note not in (None, "") else None
        return self._on_instance("resume", instance_id, actor,
                                 lambda s, a, i: lifecycle.resume(s, a, i, actor, text))

    def terminate(self, instance_id: int, reason: object, actor: str) -> dict:
        """Terminate a running or suspended case with a written reason (its tasks, timers, subscriptions and
        open obligations end with it)."""
        text = lifecycle.reason_text(reason, "terminate", instance_id)
        return self._on_instance("terminate", instance_id, actor,
                                 lambda s, a, i: lifecycle.terminate(s, a, i, text, actor))

    def _on_instance(self, command: str, instance_id: int, actor: str,
                     action: Callable[[Session, AuditLog, ProcessInstance], dict]) -> dict:
        ctx = CommandContext(command, actor, instance_id=instance_id)

        def work(session: Session, audit: AuditLog) -> dict:
            instance = self.instances.lock(session, instance_id)
            ctx.process_id, ctx.version_id = instance.process_id, instance.version_id
            return action(session, audit, instance)

        return self.executor.run(ctx, work)

    # -- helpers ----------------------------------------------------------------------------------------

    @staticmethod
    def _account(session: Session, username: str) -> contracts.Account:
        display_name, groups = identity(session, username)
        return contracts.Account(username, frozenset(groups), display_name)

    def _open_task(self, session: Session, task_id: str, ctx: CommandContext,
                   username: str) -> tuple[HumanTask, ProcessInstance, tuple[bool | None, bool]]:
        """Lock the task's instance (and the task row), then check the task is still open. Also says whether
        ``username`` is an active account and a candidate of the task (``engine.store.tasks``)."""
        found = task_rows.lock_with_instance(session, task_id, username)
        if found is None:
            raise NotFound(f"no task {task_id}")
        row, instance, active, candidate = found
        ctx.instance_id, ctx.process_id, ctx.version_id = row.instance_id, row.process_id, row.version_id
        if row.status != "open":
            by = f" by {row.completed_by}" if row.completed_by else ""
            raise Conflict(f"task '{row.name}' is already {row.status}{by}")
        what = {"complete": "completion", "unclaim": "release"}.get(ctx.command, ctx.command)
        lifecycle.require_running(instance, f"{what} of task '{row.name}'")  # suspended: nobody works on it
        return row, instance, (active, candidate)

    def _authorize(self, session: Session, row: HumanTask, username: str, may: tuple[bool | None, bool]) -> None:
        """The user exists, and is the assignee, a candidate user, or in a candidate group (``_open_task``)."""
        active, candidate = may
        if not active:
            raise NotFound(f"no user '{username}'")
        if row.assignee == username or candidate:
            return
        groups = sorted(c.name for c in task_rows.candidates(session, row.id, "group"))
        raise Forbidden(f"{username} may not work on task '{row.name}': it is for {', '.join(groups) or 'nobody'}")
