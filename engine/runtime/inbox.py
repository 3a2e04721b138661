"""The inbox projection: the ``human_task`` rows (and their candidates) that mirror an instance's READY user and
manual tasks, and the ledger's obligations that go with them. Every save computes what changed from the
instance's open tasks at load (``LoadedInstance.open_tasks``), without reading the rows; ``task_dict`` is a
task as callers see it."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.util.task import TaskState

from engine.audit import ledger
from engine.audit.chain import AuditLog
from engine.bpmn.assignments import Assignment, expression_of
from engine.errors import InvalidInput
from engine.forms import contracts, templates
from engine.runtime.context import CommandContext
from engine.runtime.loaded import LoadedInstance
from engine.store import Session
from engine.store import tasks as task_rows
from engine.store.models import HumanTask, ProcessInstance
from engine.time import iso8601, workdays


@dataclass
class InboxChanges:
    """What a step changes in the inbox projection: rows to close, rows (and their candidates) to create."""

    closed: list[dict] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)
    candidates: list[dict] = field(default_factory=list)
    ledger: list[dict] = field(default_factory=list)  # obligations assigned and closed (engine.audit.ledger)


def inbox_changes(audit: AuditLog, ctx: CommandContext, loaded: LoadedInstance, now: datetime) -> InboxChanges:
    """The inbox rows to close and to create so that the open rows are the READY user/manual tasks."""
    instance, workflow = loaded.row, loaded.workflow
    ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
    was_open = loaded.open_tasks
    changes = InboxChanges()
    forms = contracts.forms_of(workflow.spec)
    for task_id, name in was_open.items():
        if task_id in ready:
            continue
        spiff_task = loaded.task(task_id)
        completed = spiff_task is not None and spiff_task.state == TaskState.COMPLETED
        by = ctx.actor if completed and task_id == ctx.completing else None
        changes.closed.append({"task_id": task_id, "closed_as": "completed" if completed else "cancelled",
                               "closed_by": by, "closed_at": now})
        if not completed:
            audit.record("task_cancelled", ctx.actor, instance.id, task_id, name=name)
        obligation = _obligation_of(spiff_task)
        if obligation is not None and spiff_task is not None:
            done = completed and task_id == ctx.completing
            changes.ledger.append(ledger.closed_row(instance, task_id, spiff_task.task_spec.bpmn_id, obligation,
                                                    _party(spiff_task), done, by, ctx.completed_data, now))
    for task_id, task in ready.items():
        if task_id in was_open:
            continue
        ctx.task_id, ctx.element_id = task_id, task.task_spec.bpmn_id
        row, groups, users = new_task_row(instance, task, now, forms)
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


def new_task_row(instance: ProcessInstance, task: Any, now: datetime,
                 forms: dict[str, dict] | None = None) -> tuple[dict, list[str], list[str]]:
    """The inbox row of a READY user/manual task, with its candidate groups and users: the task's assignment
    (``engine.bpmn.assignments``) evaluated over its data. With the version's ``forms``, the row keeps the values
    its form's ``subject`` names (``task_subject``)."""
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
           "completed_at": None, "completed_by": None, "suspended": False}
    row["street"], row["department"] = task_scope(groups, task.data)
    row["subject"] = task_subject((forms or {}).get(row["form_key"]) if row["form_key"] else None, task.data)
    return row, groups, users


def task_subject(form: dict | None, data: dict) -> dict | None:
    """The values a task's subject names (its form's ``subject`` and ``subject_en`` templates, e.g.
    ``{opinion.street}：{opinion.text}``), read from the task's own data when it becomes READY — a multi-instance
    task's data holds its own item, which the case data does not — and kept on its inbox row, so that the inbox
    tells parallel tasks apart without loading the instance (``engine.casework.versions.VersionFacts.subject``
    writes them out). None when the form has no subject or the data none of its values."""
    if not form or not form.get("subject"):
        return None
    return templates.values_of([form["subject"], form.get("subject_en")], data)


SCOPE_LENGTH = 128  # the width of human_task.street and .department
STREET_GROUP = re.compile(r"(?:street-(?P<street>[^,]+)-(?:command|party)|grid-(?P<grid>[^,]+))")
DEPARTMENT_KEYS = ("department", "lead_department")  # case data naming the department a task concerns


def task_scope(groups: list[str], data: dict) -> tuple[str | None, str | None]:
    """Whom a task concerns, for the inbox's and case list's filters: its street (an id such as ``wudadao``)
    and its department (a group such as ``dept-housing``). A candidate group says it first (``street-<id>-
    command``, ``street-<id>-party``, ``grid-<id>``; ``dept-<id>``, ``dept-<id>-party``), then the task's data
    (``street``; ``department``, ``lead_department``) — a multi-instance task's data holds its own item.
    Migration 0013 fills the rows written before with the same rule (over the case's data)."""
    street = department = None
    for name in groups:
        match = STREET_GROUP.fullmatch(name)
        if match and street is None:
            street = match.group("street") or match.group("grid")
        if name.startswith("dept-") and department is None:
            department = name.removesuffix("-party")
    if street is None:
        street = _scope_value(data.get("street"))
    if department is None:
        department = next((v for v in (_scope_value(data.get(k)) for k in DEPARTMENT_KEYS) if v), None)
    return street, department


def _scope_value(value: Any) -> str | None:
    if isinstance(value, str) and value.strip() and len(value.strip()) <= SCOPE_LENGTH:
        return value.strip()
    return None


def open_and_stuck(workflow: BpmnWorkflow) -> tuple[dict[str, str], list[str]]:
    """The inbox rows that are open after a save — exactly the READY user/manual tasks, {task id: name} — and,
    from the same walk of the task tree, the loop and multi-instance activities that are stuck: STARTED with
    every instance finished (their parent would have gone on; see ``engine.bpmn.parser.wire_spec``)."""
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


def task_dict(session: Session, row: HumanTask | Any, candidates: dict | None = None) -> dict:
    """A task as the CLI, the API and the pages show it; ``row`` is an ORM object, a column row, or a dict of
    the task's columns (the inbox); ``candidates`` {(kind, task id): names}, else read."""
    r = task_rows.columns_of(row)
    if candidates is None:
        groups = sorted(c.name for c in task_rows.candidates(session, r["id"], "group"))
        users = sorted(c.name for c in task_rows.candidates(session, r["id"], "user"))
    else:
        groups, users = sorted(candidates.get(("group", r["id"]), [])), sorted(candidates.get(("user", r["id"]), []))
    created, due, completed = r["created_at"], r["due_at"], r["completed_at"]
    return {"task_id": r["id"], "instance_id": r["instance_id"], "process_id": r["process_id"], "name": r["name"],
            "element_id": r["element_id"], "candidate_groups": groups, "candidate_users": users,
            "assignee": r["assignee"], "status": r["status"], "form_key": r["form_key"], "priority": r["priority"],
            "created_at": created.isoformat(), "due_at": due.isoformat() if due else None,
            # counted across a year whose official schedule is not loaded yet: it may still move (engine.time.workdays)
            "due_provisional": workdays.is_provisional(created, due),
            "completed_at": completed.isoformat() if completed else None, "completed_by": r["completed_by"],
            # its case is suspended (engine.runtime.lifecycle): shown as 已挂起, nobody may work on it
            "suspended": bool(r.get("suspended")),
            # 委派 (engine.runtime.task_actions): who delegated it to its assignee, pending until handed back
            "delegated_by": r.get("delegated_by"), "delegation_state": r.get("delegation_state")}


def evaluate_setting(task: Any, value: str | None) -> Any:
    """A literal, or the value of a ``${expr}`` / ``=expr`` expression over the task's data."""
    if value is None:
        return None
    expression = expression_of(value)
    if expression is None:
        return value
    return task.workflow.script_engine.evaluate(task, expression)


def obligation_and_party(task: Any) -> tuple[str | None, str | None]:
    """The ledger obligation a task declares and whom it falls on (an instance migration compares them)."""
    obligation = _obligation_of(task)
    return obligation, _party(task) if obligation is not None else None


def _obligation_of(task: Any) -> str | None:
    assignment = getattr(task.task_spec, "assignment", None) if task is not None else None
    return assignment.obligation if assignment is not None else None


def _party(task: Any) -> str | None:
    """Whom a closed obligation fell on: its candidate group (or assignee), as when it was assigned."""
    assignment = task.task_spec.assignment
    groups = _names(evaluate_setting(task, assignment.candidate_groups))
    if groups:
        return groups[0]
    assignee = evaluate_setting(task, assignment.assignee)
    users = _names(evaluate_setting(task, assignment.candidate_users))
    return str(assignee) if assignee else (users[0] if users else None)


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple, set)):
        items = [str(v) for v in value]
    else:
        raise InvalidInput(f"candidate list must be text or a list, got {type(value).__name__}")
    return sorted({item.strip() for item in items if item and item.strip()})


def _priority(value: Any) -> int:
    if value is None or value == "":
        return 50
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"task priority must be a whole number, got {value!r}") from None


def _due_at(value: Any, now: datetime) -> datetime | None:
    """A task's due date: an ISO date-time with an offset, or an ISO duration from now (as timers read them)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().upper().startswith("P"):
        return iso8601.duration_after(value, now)
    return iso8601.parse_date(value)
