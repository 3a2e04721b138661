"""Human tasks as the commands change them: the task a user works on (locked with its instance), its candidates,
whether it is offered to them. The inbox's reads are ``engine.store.inbox``."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from engine.store.models import HumanTask, Membership, ProcessInstance, TaskCandidate, UserAccount

TASK_FIELDS = ("id", "instance_id", "process_id", "name", "element_id", "assignee", "status", "form_key", "priority",
               "created_at", "due_at", "completed_at", "completed_by", "suspended",
               "delegated_by", "delegation_state")


def _task_with_locked_instance_statement() -> Any:
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
_CANDIDATES = cast(Table, TaskCandidate.__table__)
_SET_OFFERED = (update(_CANDIDATES).where(_CANDIDATES.c.task_id == bindparam("of_task"))
                .values(offered=bindparam("offer", type_=_CANDIDATES.c.offered.type)))


def lock_with_instance(session: Session, task_id: str,
                       username: str) -> tuple[HumanTask, ProcessInstance, bool | None, bool] | None:
    """The task row and its instance, both locked (instance and task in one statement), with whether
    ``username`` is an active account (None: no such account) and a candidate of the task; None: no such task.

    A concurrent command that got there first is seen: PostgreSQL re-reads locked rows after waiting, and
    SQLite's BEGIN IMMEDIATE made this transaction wait before it read anything."""
    found = session.execute(_TASK_WITH_LOCKED_INSTANCE, {"task_id": task_id, "username": username}).first()
    if found is None:
        return None
    row, instance, active, candidate = found
    return row, instance, active, bool(candidate)


def candidates(session: Session, task_id: str, kind: str) -> list[TaskCandidate]:
    """The task's candidate groups (``kind`` "group") or users ("user")."""
    return list(session.execute(select(TaskCandidate).where(TaskCandidate.task_id == task_id,
                                                            TaskCandidate.kind == kind)).scalars())


def set_offered(session: Session, task_id: str, offered: bool) -> None:
    """Offer the task to its candidates again (released), or withdraw it (claimed)."""
    session.execute(_SET_OFFERED, {"of_task": task_id, "offer": offered})


def columns_of(row: HumanTask | Row | dict[str, Any]) -> dict[str, Any]:
    """A task's columns (``TASK_FIELDS``) by name, from an ORM object, a column row, or a dict of them."""
    if isinstance(row, dict):
        return row
    if isinstance(row, Row):
        # A column row's attributes are slow to read one by one; as a dict, 50 inbox rows cost half as much.
        return row._asdict()
    return {key: getattr(row, key) for key in TASK_FIELDS}


MOVED_FIELDS = ("element_id", "name", "lane", "form_key", "documentation", "subject")  # what a new version changes


def rewrite_open(session: Session, rows: list[dict[str, Any]]) -> None:
    """Rewrite open inbox rows after their instance moved to another version: each dict has the row's ``id`` and
    its ``MOVED_FIELDS`` as the new version reads them. Assignee, candidates, due time and history stay."""
    for row in rows:
        session.execute(update(HumanTask).where(HumanTask.id == row["id"], HumanTask.status == "open")
                        .values({key: row[key] for key in MOVED_FIELDS})
                        .execution_options(synchronize_session=False))
