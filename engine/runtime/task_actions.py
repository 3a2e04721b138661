"""What clerks do to a task besides claiming and completing it, as Chinese government workflows require
(docs/task-actions.md): 转办 transfer, 委派 delegate, 退回 return to an earlier step the diagram allows, 撤回
withdraw one's completion, 催办 urge the holder, 抄送 copy a case for information.

Each is one command (``Runtime.run_command``): the task and its case locked, the rule checked here — who may, in
which state — and one audit event in the case's chain naming the actor, the reason and ``notify``: the name of
the notification the event calls for, with its ``recipients`` (the notification outbox is wired to these names;
``NOTIFY_EVENTS``). A suspended or finished case refuses them all but 抄送 (a finished case may still be copied).

Accountability (``engine.audit.ledger``): a transfer or a delegation does not move an obligation. The ledger's
``assigned`` row keeps the party the diagram named, and its closing row names the same party whoever completes
the task — a department that hands a task on keeps answering for it (一次一考核); the audit chain records who
handed it to whom. A return or a withdrawal cancels the open tasks it replaces (their obligations close as
``cancelled``, counted overdue if their time had passed) and the task made ready again opens a new obligation
with its due time evaluated again, as the diagram declares it.
"""
from __future__ import annotations

import os
from datetime import timedelta

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.audit.chain import AuditLog
from engine.bpmn import modification
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.identity import roles
from engine.runtime import action_notices, lifecycle, modify
from engine.runtime.commands import Runtime
from engine.runtime.context import CommandContext
from engine.runtime.inbox import task_dict, task_scope
from engine.store import Session
from engine.store import accounts as stored_accounts
from engine.store import casework as stored_cases
from engine.store import task_actions as stored
from engine.store import tasks as task_rows
from engine.store.models import CaseCopy, HumanTask, ProcessInstance
from engine.time import clock

# The notifications the task actions call for: the ``notify`` of their audit events (the outbox sends them).
NOTIFY_EVENTS = ("task_transferred", "task_delegated", "task_delegation_resolved", "task_returned",
                 "task_withdrawn", "task_urged", "case_copied")
# What may happen after a completion without the next step having started (撤回 is still possible): the engine's
# own steps of that completion, and the actions that do not move the case.
QUIET_EVENTS = frozenset({"task_created", "task_cancelled", "timer_scheduled", "timer_unscheduled", "task_urged",
                          "case_copied", "attachments_linked"})
SEE_ALL = frozenset({roles.ROLE_GROUPS["admin"], roles.ROLE_GROUPS["supervisor"]})
NOTE_LENGTH = 1000
DEFAULT_URGE_MINUTES = 30


def urge_interval() -> timedelta:
    """How often one person may urge one task (``WHISTLE_URGE_MINUTES``, default 30)."""
    text = os.environ.get("WHISTLE_URGE_MINUTES", "").strip()
    if not text:
        return timedelta(minutes=DEFAULT_URGE_MINUTES)
    if not text.isdigit():
        raise ValueError(f"WHISTLE_URGE_MINUTES={text!r} must be a whole number of minutes")
    return timedelta(minutes=int(text))


def _text(value: object, field: str, required: bool, what: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"{field}: a written reason is required to {what} (请填写理由)")
        return None
    if not isinstance(value, str) or len(value.strip()) > NOTE_LENGTH or "\x00" in value:
        raise InvalidInput(f"{field}: text of at most {NOTE_LENGTH} characters, to {what}")
    return value.strip()


class TaskActions:
    """The task actions over the runtime's commands (see the module)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # -- 转办 and 委派 -------------------------------------------------------------------------------------------

    def transfer(self, task_id: str, user: str, to: str, reason: object) -> dict:
        """转办: the task's holder (its assignee, or a candidate while nobody has claimed it) hands it to another
        person (who holds it then) or group (offered to it); its candidates are replaced, the inbox follows."""
        text = _text(reason, "reason", True, f"transfer task {task_id}")
        ctx = CommandContext("transfer", user, task_id=task_id)

        def work(session: Session, audit: AuditLog) -> dict:
            row, instance = self._held(session, task_id, ctx, user, "transfer")
            kind, name = self._recipient(session, to)
            if (kind, name) == ("user", user):
                raise InvalidInput(f"to: task '{row.name}' is yours already; name someone else")
            before = {"assignee": row.assignee,
                      "candidate_groups": sorted(c.name for c in task_rows.candidates(session, row.id, "group")),
                      "candidate_users": sorted(c.name for c in task_rows.candidates(session, row.id, "user"))}
            row.assignee = name if kind == "user" else None
            stored.replace_candidates(session, row, kind, name, offered=kind == "group")
            if kind == "group":
                street, department = task_scope([name], {})
                row.street, row.department = street or row.street, department or row.department
            audit.record("task_transferred", user, row.instance_id, row.id, name=row.name, to=name, to_kind=kind,
                         reason=text, before=before, notify="task_transferred", recipients=[name])
            session.flush()
            action_notices.notify(session, "task_transferred", row, instance, user,
                                  (action_notices.reference(kind, name),), text)
            return task_dict(session, row)

        return self.runtime.run_command(ctx, work)

    def delegate(self, task_id: str, user: str, to: str, note: object = None) -> dict:
        """委派: the holder gives the task to a person, who works on it and hands it back (their completion
        returns it to the owner, ``Runtime.complete``); the owner then completes it for real."""
        text = _text(note, "note", False, f"delegate task {task_id}")
        ctx = CommandContext("delegate", user, task_id=task_id)

        def work(session: Session, audit: AuditLog) -> dict:
            row, instance = self._held(session, task_id, ctx, user, "delegate")
            kind, name = self._recipient(session, to)
            if kind != "user":
                raise InvalidInput(f"to: a task is delegated to a person, and '{to}' is a group (转办 hands it to "
                                   f"a group)")
            if name == user:
                raise InvalidInput(f"to: task '{row.name}' is yours already; name someone else")
            row.delegated_by, row.delegation_state, row.assignee = user, "pending", name
            task_rows.set_offered(session, row.id, False)
            audit.record("task_delegated", user, row.instance_id, row.id, name=row.name, to=name, note=text,
                         notify="task_delegated", recipients=[name])
            action_notices.notify(session, "task_delegated", row, instance, user, (f"user:{name}",), text)
            return task_dict(session, row)

        return self.runtime.run_command(ctx, work)

    # -- 退回 and 撤回 -------------------------------------------------------------------------------------------

    def return_to(self, task_id: str, user: str, element_id: str, reason: object) -> dict:
        """退回: the holder sends the case back to an earlier step the diagram lets this task return to
        (``returnTo``); the open task is cancelled and the earlier one is ready again (a new task, its due time
        evaluated again), offered as the diagram says."""
        text = _text(reason, "reason", True, f"return task {task_id}")
        target = (element_id or "").strip()
        ctx = CommandContext("return", user, task_id=task_id)

        def work(session: Session, audit: AuditLog) -> dict:
            row, instance = self._held(session, task_id, ctx, user, "return")
            loaded = self.runtime.instances.load(session, instance)
            spiff_task = loaded.task(task_id)
            if spiff_task is None or spiff_task.state != TaskState.READY:
                raise Conflict(f"task '{row.name}' is no longer waiting to be completed")
            assignment = getattr(spiff_task.task_spec, "assignment", None)
            allowed = list(assignment.return_to) if assignment is not None else []
            if target not in allowed:
                may = f"only to {', '.join(allowed)}" if allowed else "to no earlier step"
                raise InvalidInput(f"to: task '{row.name}' ({row.element_id}) may be returned {may} (returnTo in "
                                   f"the diagram), not to '{target}' (不允许退回到该步骤)")
            try:
                modify.move_token(session, loaded, lambda workflow: modification.back_to(workflow, target, None))
            except modification.Unsafe as refused:
                raise Conflict(f"task '{row.name}' cannot be returned: {modify.unsafe_text(refused)}; nothing was "
                               f"changed") from None
            previous = stored.last_completer(session, instance.id, target)
            audit.record("task_returned", user, instance.id, row.id, name=row.name, element_id=row.element_id,
                         to=target, reason=text, notify="task_returned",
                         recipients=[previous] if previous else [])
            self.runtime.instances.run_engine_steps(loaded, ctx)
            self.runtime.instances.save(session, audit, ctx, loaded)
            return {"task_id": task_id, "instance_id": instance.id, "returned_to": target,
                    "new_task_ids": _ready_at(loaded.workflow, target)}

        return self.runtime.run_command(ctx, work)

    def withdraw(self, task_id: str, user: str) -> dict:
        """撤回: the person who completed a task takes it back while the next step has not started — nothing
        but the engine's own steps of that completion happened on the case since (no task claimed or completed,
        no timer fired, no message). The task is ready again, held by them."""
        ctx = CommandContext("withdraw", user, task_id=task_id)

        def work(session: Session, audit: AuditLog) -> dict:
            found = task_rows.lock_with_instance(session, task_id, user)
            if found is None:
                raise NotFound(f"no task {task_id}")
            row, instance, active, _ = found
            ctx.instance_id, ctx.process_id, ctx.version_id = row.instance_id, row.process_id, row.version_id
            if not active:
                raise NotFound(f"no user '{user}'")
            if row.status != "completed":
                raise Conflict(f"task '{row.name}' is {row.status}; only a completed task can be withdrawn")
            if row.completed_by != user:
                raise Forbidden(f"{user} may not withdraw task '{row.name}': it was completed by "
                                f"{row.completed_by or 'nobody'}")
            lifecycle.require_running(instance, f"withdrawal of task '{row.name}'")
            since = stored.event_types_since(session, instance.id, "task_completed", row.id) or []
            moved = sorted(set(since) - QUIET_EVENTS)
            if moved:
                raise Conflict(f"task '{row.name}' cannot be withdrawn: the case has moved on since it was completed "
                               f"({', '.join(moved)}) (下一步已开始办理，不能撤回)")
            loaded = self.runtime.instances.load(session, instance)
            try:
                modify.move_token(session, loaded,
                                  lambda workflow: modification.back_to(workflow, row.element_id, None))
            except modification.Unsafe as refused:
                raise Conflict(f"task '{row.name}' cannot be withdrawn: {modify.unsafe_text(refused)}; nothing "
                               f"was changed") from None
            cancelled = [name for tid, name in loaded.open_tasks.items() if loaded.task(tid) is None]
            self.runtime.instances.run_engine_steps(loaded, ctx)
            self.runtime.instances.save(session, audit, ctx, loaded)
            new_ids = _ready_at(loaded.workflow, row.element_id)
            for new_id in new_ids:  # held by whoever withdrew it, as when they completed it
                new_row = stored.open_row_of(session, new_id)
                if new_row is not None:
                    new_row.assignee = user
                    task_rows.set_offered(session, new_id, False)
            audit.record("task_withdrawn", user, instance.id, row.id, name=row.name, element_id=row.element_id,
                         new_task_ids=new_ids, cancelled=cancelled, notify="task_withdrawn", recipients=[])
            return {"task_id": task_id, "instance_id": instance.id, "new_task_ids": new_ids, "cancelled": cancelled}

        return self.runtime.run_command(ctx, work)

    # -- 催办 and 抄送 -------------------------------------------------------------------------------------------

    def urge(self, task_id: str, user: str, note: object = None) -> dict:
        """催办: someone who may read the case urges whoever holds an open task (its assignee, else its
        candidates), at most once per ``urge_interval`` per task and person."""
        text = _text(note, "note", False, f"urge task {task_id}")
        ctx = CommandContext("urge", user, task_id=task_id)

        def work(session: Session, audit: AuditLog) -> dict:
            row, instance, _ = self.runtime._open_task(session, task_id, ctx, user)
            self._require_reader(session, instance, user)
            now, interval = clock.now(), urge_interval()
            last = stored.last_event_at(session, instance.id, "task_urged", row.id, user)
            if last is not None and now < last + interval:
                raise Conflict(f"{user} urged task '{row.name}' at {last.isoformat()}; urge it again after "
                               f"{(last + interval).isoformat()} (催办过于频繁，请稍后再试)")
            recipients = [row.assignee] if row.assignee else sorted(
                c.name for kind in ("group", "user") for c in task_rows.candidates(session, row.id, kind))
            audit.record("task_urged", user, instance.id, row.id, name=row.name, note=text, notify="task_urged",
                         recipients=recipients)
            # each urge is heard of (not only a task's first): once per urge, named by its moment and who urged
            action_notices.notify(session, "task_urged", row, instance, user, ("holder",), text,
                                  once_per=f"urge:{row.id[:18]}:{int(now.timestamp())}:{user[:24]}")
            return {"task_id": row.id, "instance_id": instance.id, "urged_at": now.isoformat(),
                    "recipients": recipients, "next_allowed_at": (now + interval).isoformat()}

        return self.runtime.run_command(ctx, work)

    def cc(self, instance_id: int, user: str, to: str, note: object = None) -> dict:
        """抄送: someone who may read the case copies it to a person or a group for information — a read-only
        item in their inbox that lets them read the case."""
        text = _text(note, "note", False, f"copy case {instance_id}")
        ctx = CommandContext("cc", user, instance_id=instance_id)

        def work(session: Session, audit: AuditLog) -> dict:
            instance = self.runtime.instances.lock(session, instance_id)
            ctx.process_id, ctx.version_id = instance.process_id, instance.version_id
            self._require_reader(session, instance, user)
            kind, name = self._recipient(session, to)
            if (kind, name) == ("user", user):
                raise InvalidInput("to: name someone else to copy the case to")
            copy = stored.add_copy(session, instance.id, kind, name, user, text, clock.now())
            audit.record("case_copied", user, instance.id, to=name, to_kind=kind, note=text, copy_id=copy.id,
                         notify="case_copied", recipients=[name])
            action_notices.notify(session, "case_copied", None, instance, user,
                                  (action_notices.reference(kind, name),), text)
            return copy_dict(copy)

        return self.runtime.run_command(ctx, work)

    def copies(self, user: str, limit: int = 100) -> list[dict]:
        """The cases copied to the user or their groups, newest first (their inbox's 抄送我的)."""
        with self.runtime.db.read() as session:
            groups = roles.groups_of_active(session, user)
            return [copy_dict(c) for c in stored.copies_for(session, user, groups, limit)]

    # -- helpers -----------------------------------------------------------------------------------------------

    def _held(self, session: Session, task_id: str, ctx: CommandContext, user: str,
              what: str) -> tuple[HumanTask, ProcessInstance]:
        """The open task, locked with its case, that ``user`` holds: its assignee, or a candidate of it while
        nobody has claimed it. A task delegated and not handed back yet is its delegate's to finish."""
        row, instance, may = self.runtime._open_task(session, task_id, ctx, user)
        self.runtime._authorize(session, row, user, may)
        if row.assignee and row.assignee != user:
            raise Forbidden(f"task '{row.name}' is claimed by {row.assignee}; only they can {what} it")
        if row.delegation_state == "pending":
            raise Conflict(f"task '{row.name}' is delegated by {row.delegated_by} to {row.assignee}; it must come "
                           f"back first (委派中)")
        return row, instance

    @staticmethod
    def _recipient(session: Session, to: object) -> tuple[str, str]:
        """A user or a group to hand a task or a copy to: ``user:NAME`` or ``group:NAME``, else an active
        account of that name, else a group."""
        if not isinstance(to, str) or not to.strip():
            raise InvalidInput("to: name a user or a group")
        name = to.strip()
        kind, _, rest = name.partition(":")
        wanted = kind if rest and kind in ("user", "group") else None
        name = rest.strip() if wanted else name
        if wanted in (None, "user"):
            account = stored_accounts.account_named(session, name)
            if account is not None and account.active:
                return "user", name
        if wanted in (None, "group") and stored.group_exists(session, name):
            return "group", name
        raise NotFound(f"to: no {'active user' if wanted == 'user' else 'group' if wanted else 'active user or group'}"
                       f" '{name}'")

    @staticmethod
    def _require_reader(session: Session, instance: ProcessInstance, user: str) -> None:
        """The user may read the case (as ``engine.casework.people.can_see_instance`` decides)."""
        account = stored_accounts.account_named(session, user)
        if account is None or not account.active:
            raise NotFound(f"no user '{user}'")
        groups = roles.groups_of_active(session, user)
        if instance.started_by == user or groups & SEE_ALL or stored_cases.involved_in(session, instance.id, user,
                                                                                        groups):
            return
        raise Forbidden(f"{user} may not see case {instance.id}")


def _ready_at(workflow: BpmnWorkflow, element_id: str) -> list[str]:
    return sorted(str(t.id) for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.bpmn_id == element_id)


def copy_dict(copy: CaseCopy) -> dict:
    """A copy (抄送) as the CLI, the API and the inbox show it."""
    return {"copy_id": copy.id, "instance_id": copy.instance_id, "to": copy.name, "to_kind": copy.kind,
            "copied_by": copy.copied_by, "note": copy.note, "copied_at": copy.copied_at.isoformat()}
