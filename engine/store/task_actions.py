"""The rows the task actions (engine.runtime.task_actions) read and change: a task's candidates replaced when it
is transferred, whether a group exists, the case's audit events since a completion (撤回), the last urge of a
task by a user (催办), and the copies of cases (抄送)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, desc, exists, or_, select
from sqlalchemy.orm import Session

from engine.store.models import AuditEvent, CaseCopy, HumanTask, TaskCandidate, UserGroup


def group_exists(session: Session, name: str) -> bool:
    return bool(session.execute(select(exists().where(UserGroup.name == name))).scalar())


def replace_candidates(session: Session, row: HumanTask, kind: str, name: str, offered: bool) -> None:
    """The task is offered to one candidate now (a user or a group), in place of those it had."""
    session.execute(delete(TaskCandidate).where(TaskCandidate.task_id == row.id))
    session.add(TaskCandidate(task_id=row.id, kind=kind, name=name, offered=offered, process_id=row.process_id,
                              due_at=row.due_at, priority=row.priority, created_at=row.created_at))
    session.flush()


def last_completer(session: Session, instance_id: int, element_id: str) -> str | None:
    """Who last completed the case's task at ``element_id``, if anyone."""
    return session.execute(select(HumanTask.completed_by).where(
        HumanTask.instance_id == instance_id, HumanTask.element_id == element_id, HumanTask.status == "completed")
        .order_by(desc(HumanTask.completed_at)).limit(1)).scalar()


def event_types_since(session: Session, instance_id: int, event_type: str, task_id: str) -> list[str] | None:
    """The types of the case's audit events after its last ``event_type`` event of ``task_id``, oldest first;
    None when it has no such event."""
    last = session.execute(select(AuditEvent.id).where(
        AuditEvent.instance_id == instance_id, AuditEvent.event_type == event_type, AuditEvent.task_id == task_id)
        .order_by(desc(AuditEvent.id)).limit(1)).scalar()
    if last is None:
        return None
    return list(session.execute(select(AuditEvent.event_type).where(
        AuditEvent.instance_id == instance_id, AuditEvent.id > last).order_by(AuditEvent.id)).scalars())


def last_event_at(session: Session, instance_id: int, event_type: str, task_id: str, actor: str) -> datetime | None:
    """When ``actor`` last recorded ``event_type`` on the task (the case's chain), if ever."""
    return session.execute(select(AuditEvent.at).where(
        AuditEvent.instance_id == instance_id, AuditEvent.event_type == event_type, AuditEvent.task_id == task_id,
        AuditEvent.actor == actor).order_by(desc(AuditEvent.id)).limit(1)).scalar()


def open_row_of(session: Session, task_id: str) -> HumanTask | None:
    return session.get(HumanTask, task_id)


def add_copy(session: Session, instance_id: int, kind: str, name: str, by: str, note: str | None,
             now: datetime) -> CaseCopy:
    copy = CaseCopy(instance_id=instance_id, kind=kind, name=name, copied_by=by, note=note, copied_at=now)
    session.add(copy)
    session.flush()
    return copy


def _copied_to(user: str, groups: set[str]) -> Any:
    return or_((CaseCopy.kind == "user") & (CaseCopy.name == user),
               (CaseCopy.kind == "group") & CaseCopy.name.in_(sorted(groups) or [""]))


def copied_instance_ids(user: str, groups: set[str]) -> Any:
    """SQL: the ids of the cases copied to the user or one of their groups."""
    return select(CaseCopy.instance_id.label("id")).where(_copied_to(user, groups))


def copied_to(session: Session, instance_id: int, user: str, groups: set[str]) -> bool:
    return session.execute(select(CaseCopy.id).where(CaseCopy.instance_id == instance_id,
                                                     _copied_to(user, groups)).limit(1)).first() is not None


def copies_for(session: Session, user: str, groups: set[str], limit: int) -> list[CaseCopy]:
    """The copies addressed to the user or their groups, newest first."""
    return list(session.execute(select(CaseCopy).where(_copied_to(user, groups))
                                .order_by(desc(CaseCopy.copied_at), desc(CaseCopy.id)).limit(limit)).scalars())
