"""The notifications of the task actions (转办, 委派, 催办, 抄送 …, ``engine.runtime.task_actions``): each action
tells the person or group it names, in the action's own command, as ``engine.notifications.writer.notify_task``
writes them (exactly once per event, task, recipient and channel). The events are registered in
``engine.notifications.events`` with the trigger ``action``; their texts are deployable templates
(``processes/notifications/templates.json``)."""
from __future__ import annotations

from engine.notifications import writer
from engine.notifications.writer import CaseFacts, TaskFacts
from engine.store import Session
from engine.store import tasks as task_rows
from engine.store.models import HumanTask, ProcessInstance


def reference(kind: str, name: str) -> str:
    """A person or group as a notification recipient (``user:NAME``, ``group:NAME``)."""
    return f"{'group' if kind == 'group' else 'user'}:{name}"


def notify(session: Session, event: str, row: HumanTask | None, instance: ProcessInstance, actor: str,
           recipients: tuple[str, ...] | None = None, note: str | None = None, once_per: str | None = None) -> int:
    """Write ``event``'s notifications about ``row`` (a task) or, without one, about the case; ``recipients`` as
    the events module spells them (``holder``, ``user:NAME`` …), else the event's own; ``once_per`` what each
    recipient hears of once, when it is not the task (or case)."""
    case = CaseFacts(instance.id, instance.process_id, instance.business_key, instance.started_by)
    if row is None:
        task = TaskFacts(f"instance:{instance.id}", instance.id, instance.process_id)
    else:
        task = TaskFacts(row.id, row.instance_id, row.name, row.assignee,
                         [c.name for c in task_rows.candidates(session, row.id, "group")],
                         [c.name for c in task_rows.candidates(session, row.id, "user")],
                         row.created_at, row.due_at, row.street, row.department)
    return writer.notify_task(session, event, task, case, actor, recipients, note, once_per)
