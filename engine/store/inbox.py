"""The inbox statements: the order of every inbox list, the inbox page of one user (the hottest read there is),
the open tasks of everyone, and the staff inbox's tabs (mine, offered to my groups, done by me).

The page statement is built here once per shape; how it runs is the database's: ``engine.store.portable`` and
``engine.store.postgres`` each have ``inbox_page`` (PostgreSQL's joins the user's groups in with LATERAL and
goes straight to the driver).
"""
from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select, true, union_all
from sqlalchemy.sql import ColumnElement

from engine.store import Session
from engine.store.casework import offered_ids
from engine.store.models import HumanTask, Membership, ProcessInstance, TaskCandidate, UserAccount

SEPARATOR, KIND_SEPARATOR = "\x1e", "\x1f"  # ASCII record and unit separators: never in a group or user name
VIEWS = ("mine", "group", "done")


def inbox_order(due_at: Any, priority: Any, created_at: Any, task_id: Any) -> tuple:
    """The order of every inbox list, over the columns given (a task's, or the copies on its candidate rows):
    due time with none last, then priority (high first), then age. ``due ASC NULLS LAST`` is PostgreSQL's index
    order, so an index on the due time serves it."""
    return due_at.asc().nulls_last(), priority.desc(), created_at, task_id


TASK_ORDER = inbox_order(HumanTask.due_at, HumanTask.priority, HumanTask.created_at, HumanTask.id)

# The active account of a name with its groups (one row per group; one row with no group for a user in none).
ACTIVE_USER_GROUPS = (select(UserAccount.id, Membership.group_name)
                      .outerjoin(Membership, Membership.user_id == UserAccount.id)
                      .where(UserAccount.username == bindparam("username"), UserAccount.active.is_(True)))


def page_parameters(user: str, limit: int, offset: int, process_id: str | None) -> dict:
    """The parameters of ``page_statement`` for a user's page (the group names are the dialect's to add)."""
    params: dict[str, Any] = {"username": user, "need": offset + limit, "page_limit": limit, "page_offset": offset}
    if process_id is not None:
        params["process_id"] = process_id
    return params


def split_candidates(row: dict) -> dict[tuple[str, str], list[str]]:
    """The candidates of an inbox page row, from its ``candidates`` column (kind and name pairs), keyed as
    ``engine.runtime``'s ``task_dict`` takes them: ``(kind, task id)``."""
    found: dict[tuple[str, str], list[str]] = {}
    for pair in (row["candidates"] or "").split(SEPARATOR):
        if pair:
            kind, _, name = pair.partition(KIND_SEPARATOR)
            found.setdefault((kind, row["id"]), []).append(name)
    return found


@functools.lru_cache(maxsize=64)
def page_statement(group_count: int | None, by_process: bool) -> Select:
    """A user's inbox page in one statement (bench/RESULTS.md, "HTTP"): the first ``offset + limit`` tasks
    claimed by the user (an ordered range of ``ix_human_task_status_assignee_due``), and as many offered
    to each of their groups and to them by name (each an ordered range of the partial index
    ``ix_task_candidate_offered``: only tasks open and unclaimed now, however long a group's history);
    the union of those ids, deduplicated, sorted and cut to the page, each row with its candidates.
    Reads are bounded by the page end and the number of groups, not by how many tasks are open.

    Built once per shape. With ``group_count`` the user's group names travel as parameters ``group_0``,
    ``group_1``…; with None (PostgreSQL) the statement reads the user's groups itself and ranks each group's
    offers in a LATERAL subquery."""
    tasks, offers = HumanTask.__table__, TaskCandidate.__table__

    def ranked_offers(kind: str, name: Any) -> Select:
        query = select(offers.c.task_id).where(offers.c.offered, offers.c.kind == kind, offers.c.name == name)
        if by_process:
            query = query.where(offers.c.process_id == bindparam("process_id"))
        return query.order_by(*inbox_order(offers.c.due_at, offers.c.priority, offers.c.created_at,
                                           offers.c.task_id)).limit(bindparam("need"))

    def offered_to(kind: str, name: Any) -> Select:
        ranked = ranked_offers(kind, name).subquery()
        return select(ranked.c.task_id)

    claimed = select(tasks.c.id).where(tasks.c.status == "open", tasks.c.assignee == bindparam("username"))
    if by_process:
        claimed = claimed.where(tasks.c.process_id == bindparam("process_id"))
    in_inbox_order = inbox_order(tasks.c.due_at, tasks.c.priority, tasks.c.created_at, tasks.c.id)
    claimed_ids = claimed.order_by(*in_inbox_order).limit(bindparam("need")).subquery()
    branches = [select(claimed_ids.c.id), offered_to("user", bindparam("username"))]
    active = (select(UserAccount.id).where(UserAccount.username == bindparam("username"), UserAccount.active.is_(True))
              .scalar_subquery())
    if group_count is None:
        member = select(Membership.group_name).where(Membership.user_id == active).subquery("member")
        ranked = ranked_offers("group", member.c.group_name).lateral("ranked")
        branches.append(select(ranked.c.task_id).select_from(member).join(ranked, true()))
    else:
        branches += [offered_to("group", bindparam(f"group_{i}")) for i in range(group_count)]
    every_candidate = (select(func.aggregate_strings(offers.c.kind + KIND_SEPARATOR + offers.c.name, SEPARATOR))
                       .where(offers.c.task_id == tasks.c.id).scalar_subquery().label("candidates"))
    # An unknown or inactive user has no inbox, whatever is still assigned to the name.
    return (select(tasks, every_candidate).where(tasks.c.id.in_(union_all(*branches).scalar_subquery()),
                                                 active.is_not(None))
            .order_by(*in_inbox_order).limit(bindparam("page_limit")).offset(bindparam("page_offset")))


def open_tasks_page(session: Session, process_id: str | None, limit: int, offset: int) -> list[HumanTask]:
    """Everyone's open tasks (of one process), in inbox order."""
    query = select(HumanTask).where(HumanTask.status == "open")
    if process_id is not None:
        query = query.where(HumanTask.process_id == process_id)
    return list(session.execute(query.order_by(*TASK_ORDER).limit(limit).offset(offset)).scalars())


def candidates_by_task(session: Session, task_ids: list[str]) -> dict[tuple[str, str], list[str]]:
    """The candidates of these tasks keyed ``(kind, task id)``, as ``task_dict`` takes them."""
    found: dict[tuple[str, str], list[str]] = {}
    if task_ids:
        for c in session.execute(select(TaskCandidate.task_id, TaskCandidate.kind, TaskCandidate.name)
                                 .where(TaskCandidate.task_id.in_(task_ids))):
            found.setdefault((c.kind, c.task_id), []).append(c.name)
    return found


# -- the staff inbox's tabs ---------------------------------------------------------------------------------

def _view_clause(view: str, user: str, groups: set[str]) -> ColumnElement[bool]:
    if view == "mine":
        return and_(HumanTask.status == "open", HumanTask.assignee == user)
    if view == "done":
        return and_(HumanTask.completed_by == user, HumanTask.status == "completed")
    return and_(HumanTask.id.in_(offered_ids(user, groups, claimable=True)), HumanTask.status == "open",
                HumanTask.assignee.is_(None))


def _view_query(view: str, user: str, groups: set[str], *columns: Any) -> Select:
    """``select(columns)`` over one inbox view. The group view is driven by the candidate index: a join
    with the (small) set of task ids offered to the user, which every planner starts from."""
    if view != "group":
        return select(*columns).select_from(HumanTask).where(_view_clause(view, user, groups))
    offered = offered_ids(user, groups, claimable=True).subquery("offered")
    return (select(*columns).select_from(HumanTask).join(offered, HumanTask.id == offered.c.task_id)
            .where(HumanTask.status == "open", HumanTask.assignee.is_(None)))


def _filtered_view(query: Select, *, process_id: str | None, tier: str | None, street: str | None,
                   department: str | None, due: tuple[str, datetime | None] | None,
                   created: tuple[datetime | None, datetime | None], text_match: ColumnElement[bool] | None) -> Select:
    filters: list[ColumnElement[bool]] = []
    if process_id:
        filters.append(HumanTask.process_id == process_id)
    if street:
        filters.append(HumanTask.street == street)  # ix_human_task_street (migration 0013)
    if department:
        filters.append(HumanTask.department == department)  # ix_human_task_department
    if due is not None:
        filters.append(_due_clause(*due))
    low, high = created
    if low is not None:
        filters.append(HumanTask.created_at >= low)
    if high is not None:
        filters.append(HumanTask.created_at < high)
    if tier or text_match is not None:
        query = query.join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        if tier:
            filters.append(ProcessInstance.data["tier"].as_string() == tier)
        if text_match is not None:
            filters.append(text_match)
    return query.where(*filters)


def view_page(session: Session, view: str, user: str, groups: set[str], *, sort: str | None = None,
              limit: int, offset: int, **filters: Any) -> list[HumanTask]:
    """One page of a tab (``VIEWS``), ``limit`` rows at most. ``sort``: ``deadline`` (inbox order), ``newest``
    or ``oldest`` (by creation; on ``done`` by completion); None is ``deadline`` on the open tabs and ``newest``
    on ``done``. Filters (``view_total`` counts the same): ``process_id``, ``tier``, ``street``, ``department``;
    ``due`` is ``("none", None)``, ``("before", moment)`` or ``("overdue", now)``; ``created`` (from, to) a
    half-open range; ``text_match`` a clause of ``engine.store.casework.text_match`` (it reads the case, like
    ``tier``)."""
    query = _filtered_view(_view_query(view, user, groups, HumanTask), **filters)
    sort = sort or ("newest" if view == "done" else "deadline")
    moment = HumanTask.completed_at if view == "done" else HumanTask.created_at
    if sort == "deadline":
        query = query.order_by(*TASK_ORDER)
    elif sort == "newest":
        query = query.order_by(moment.desc(), HumanTask.id)
    else:
        query = query.order_by(moment.asc(), HumanTask.id)
    return list(session.execute(query.limit(limit).offset(offset)).scalars())


def view_total(session: Session, view: str, user: str, groups: set[str], **filters: Any) -> int:
    """How many tasks the tab holds under these filters (``view_page``'s): one COUNT over the same ranges."""
    query = _filtered_view(_view_query(view, user, groups, func.count()), **filters)
    return session.execute(query).scalar() or 0


def _due_clause(kind: str, moment: datetime | None) -> ColumnElement[bool]:
    if kind == "none":
        return HumanTask.due_at.is_(None)
    if kind == "overdue":
        return HumanTask.due_at < moment
    return and_(HumanTask.due_at.is_not(None), HumanTask.due_at < moment)


def view_count(session: Session, view: str, user: str, groups: set[str]) -> int:
    return session.execute(_view_query(view, user, groups, func.count())).scalar() or 0


def open_work(session: Session, user: str, groups: set[str]) -> list[tuple[str, str | None, datetime | None]]:
    """(task id, assignee, due time) of every open task claimed by or offered to the user, sorted."""
    columns = (HumanTask.id, HumanTask.assignee, HumanTask.due_at)
    return sorted({tuple(r) for view in ("mine", "group")
                   for r in session.execute(_view_query(view, user, groups, *columns)).all()})


def workable_task_ids(session: Session, user: str, groups: set[str], instance_id: int) -> set[str]:
    """Open tasks of a case that the user may work on now (claimed by them, or offered and unclaimed)."""
    return set(session.execute(select(HumanTask.id).where(
        HumanTask.instance_id == instance_id,
        or_(_view_clause("mine", user, groups), _view_clause("group", user, groups)))).scalars())
