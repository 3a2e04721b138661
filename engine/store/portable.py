"""Statements that differ between databases, in their portable form (what SQLite runs).

``engine.store.postgres`` has the same names for PostgreSQL. ``Database`` chooses one of the two modules when
it is opened and hands it to every session (``statements(session)``); nothing outside ``engine.store`` asks
which database it talks to.
"""
from __future__ import annotations

import math
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as _sqlite_insert
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.store import inbox
from engine.store.models import AuditEvent, HumanTask, ProcessInstance, TaskCandidate

NAME = "sqlite"


def advisory_lock(session: Session, key: int) -> None:
    """Serialise the writers of one shared thing for the rest of the transaction. SQLite's write
    transactions begin ``IMMEDIATE`` (``engine.store.db``): they are serialised already."""


def insert_ignoring_duplicates(session: Session, model: Any, values: dict) -> None:
    """Insert a row unless one with the same key exists (an idempotent upsert of a counter row)."""
    session.execute(_sqlite_insert(model).values(**values).on_conflict_do_nothing())


def inbox_page(session: Session, user: str, limit: int, offset: int, process_id: str | None) -> list[dict]:
    """A user's inbox page (``engine.store.inbox.page_statement``) as dicts of the task's columns and its
    ``candidates``; NotFound for an unknown or inactive user. The user's groups are read first and travel as
    parameters: two round trips."""
    found = session.execute(inbox.ACTIVE_USER_GROUPS, {"username": user}).all()
    if not found:
        raise NotFound(f"no user '{user}'")
    groups = sorted({g for _, g in found if g is not None})
    params = inbox.page_parameters(user, limit, offset, process_id)
    params.update({f"group_{i}": name for i, name in enumerate(groups)})
    statement = inbox.page_statement(len(groups), process_id is not None)
    return [row._asdict() for row in session.execute(statement, params)]


# The write of one engine step (``engine.store.instances.write_step``): the inbox rows it closes and opens, their
# candidates, its audit events and the instance's new state, as prebuilt Core statements (building them costs
# more than running them on SQLite).
_TASKS, _CANDIDATES = cast(Table, HumanTask.__table__), cast(Table, TaskCandidate.__table__)
_INSTANCES = cast(Table, ProcessInstance.__table__)
_INSERT_TASK = insert(_TASKS)
_INSERT_CANDIDATE = insert(_CANDIDATES)
_INSERT_EVENTS = insert(cast(Table, AuditEvent.__table__))
_CLOSE_TASK = (update(_TASKS).where(_TASKS.c.id == bindparam("task_id"), _TASKS.c.status == "open")
               .values(status=bindparam("closed_as", type_=_TASKS.c.status.type),
                       completed_by=bindparam("closed_by", type_=_TASKS.c.completed_by.type),
                       completed_at=bindparam("closed_at", type_=_TASKS.c.completed_at.type),
                       assignee=func.coalesce(_TASKS.c.assignee, bindparam("closed_by"))))
_WITHDRAW_OFFERS = (update(_CANDIDATES).where(_CANDIDATES.c.task_id.in_(bindparam("task_ids", expanding=True)))
                    .values(offered=False))
_WRITE_INSTANCE = (update(_INSTANCES).where(_INSTANCES.c.id == bindparam("instance_id"),
                                            _INSTANCES.c.revision == bindparam("old_revision"))
                   .values(state=bindparam("new_state", type_=_INSTANCES.c.state.type),
                           data=bindparam("new_data", type_=_INSTANCES.c.data.type),
                           status=bindparam("new_status", type_=_INSTANCES.c.status.type),
                           updated_at=bindparam("new_updated_at", type_=_INSTANCES.c.updated_at.type),
                           completed_at=bindparam("new_completed_at", type_=_INSTANCES.c.completed_at.type),
                           revision=bindparam("new_revision", type_=_INSTANCES.c.revision.type),
                           audit_head=bindparam("new_audit_head", type_=_INSTANCES.c.audit_head.type),
                           street=bindparam("new_street", type_=_INSTANCES.c.street.type),
                           department=bindparam("new_department", type_=_INSTANCES.c.department.type)))


def write_step(session: Session, instance: dict[str, Any], closed: list[dict], tasks: list[dict],
               candidates: list[dict], events: list[dict]) -> int:
    """Close and open inbox rows, insert audit events and write the instance's new state if its revision is still
    ``old_revision``; the number of instance rows written (0: someone else wrote it first)."""
    if closed:
        session.execute(_CLOSE_TASK, closed)
        session.execute(_WITHDRAW_OFFERS, {"task_ids": [c["task_id"] for c in closed]})
    if tasks:
        session.execute(_INSERT_TASK, tasks)
    if candidates:
        session.execute(_INSERT_CANDIDATE, candidates)
    if events:
        session.execute(_INSERT_EVENTS, events)
    return cast(CursorResult, session.execute(_WRITE_INSTANCE, instance)).rowcount


def insert_rows_ignoring_duplicates(session: Session, model: Any, rows: list[dict]) -> None:
    """Insert the rows, leaving out each one whose unique key is taken already (notifications: once each)."""
    if rows:
        session.execute(_sqlite_insert(model).values(rows).on_conflict_do_nothing())


def percentile_by_group(session: Session, value: Any, groups: tuple, where: list, fraction: float) -> dict:
    """{group values: the ``fraction`` percentile of ``value`` by nearest rank} (the smallest value with at
    least that share of the group at or below it: PostgreSQL's ``percentile_disc``). SQLite has no
    percentile: the values are read, ordered, in one statement (a district on SQLite is small)."""
    found: dict = {}
    rows = session.execute(select(*groups, value).where(*where).order_by(*groups, value)).all()
    for row in rows:
        found.setdefault(tuple(row[:-1]), []).append(row[-1])
    return {key: values[max(0, math.ceil(fraction * len(values)) - 1)] for key, values in found.items()}
