"""The statements behind a clerk's screens (``engine.casework``): who is involved in which case, the case
list and its search, what an inbox item shows beside its task, the sources of a deployed version, drafts,
attachments and what a case diagram marks.

Visibility is a UNION of index ranges (the user's offers, claims, completions and starts), so a department's
few cases are found without reading everyone's.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import CompoundSelect, Select, and_, delete, func, or_, select, union
from sqlalchemy.sql import ColumnElement

from engine.store import Session
from engine.store.facts import department_case_sources, facts_clauses, street_case_sources
from engine.store.models import (
    Attachment,
    DefinitionVersion,
    HumanTask,
    Incident,
    MessageSubscription,
    ProcessInstance,
    SourceBlob,
    TaskCandidate,
    TaskDraft,
    TimerJob,
    VersionSource,
)
from engine.store.task_actions import copied_instance_ids, copied_to

SEARCH_KEYS = ("title", "situation_name", "situation_label", "location", "description")  # case data searched


def offered_ids(user: str, groups: set[str], claimable: bool = False) -> CompoundSelect:
    """SQL: ids of the tasks offered to the user or their groups (driven by the candidate index); with
    ``claimable``, only those open and unclaimed now (a range of the partial index of such offers)."""
    # A UNION, not an OR: each half is a range of the (kind, name) index.
    now_only = (TaskCandidate.offered,) if claimable else ()  # the partial index predicate, as written
    return union(
        select(TaskCandidate.task_id).where(TaskCandidate.kind == "group",
                                            TaskCandidate.name.in_(sorted(groups) or [""]), *now_only),
        select(TaskCandidate.task_id).where(TaskCandidate.kind == "user", TaskCandidate.name == user, *now_only))


def _involved_ids(user: str, groups: set[str]) -> CompoundSelect:
    """SQL: ids of the cases the user is part of — started, offered a task, claimed or completed one."""
    offered = offered_ids(user, groups).subquery("offered")
    return union(
        select(ProcessInstance.id.label("id")).where(ProcessInstance.started_by == user),
        select(HumanTask.instance_id).join(offered, HumanTask.id == offered.c.task_id),
        select(HumanTask.instance_id).where(HumanTask.status.in_(("open", "cancelled")), HumanTask.assignee == user),
        select(HumanTask.instance_id).where(HumanTask.completed_by == user),
        copied_instance_ids(user, groups))  # 抄送: a case copied to them for information (migration 0021)


def involved_in(session: Session, instance_id: int, user: str, groups: set[str]) -> bool:
    """Is the user, or one of their groups, the assignee, completer or a candidate of a task of the case?"""
    offered = offered_ids(user, groups).subquery("offered")
    involved = select(HumanTask.id).where(HumanTask.instance_id == instance_id, or_(
        HumanTask.assignee == user, HumanTask.completed_by == user,
        HumanTask.id.in_(select(offered.c.task_id)))).limit(1)
    return session.execute(involved).first() is not None or copied_to(session, instance_id, user, groups)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def text_match(text: str, with_task_name: bool = True) -> ColumnElement[bool]:
    """A clause for free-text search over a case (its business key, id and ``SEARCH_KEYS``) and, with
    ``with_task_name``, the task's name; the query must join ``process_instance``."""
    pattern = f"%{_escape_like(text.strip())}%"
    terms: list[ColumnElement[bool]] = [ProcessInstance.business_key.ilike(pattern, escape="\\")]
    terms += [ProcessInstance.data[key].as_string().ilike(pattern, escape="\\") for key in SEARCH_KEYS]
    if with_task_name:
        terms.append(HumanTask.name.ilike(pattern, escape="\\"))
    if text.strip().isdigit():
        terms.append(ProcessInstance.id == int(text.strip()))
    return or_(*terms)


def _where_scoped(query: Select, waiting_at: str | None, street: str | None, department: str | None) -> Select:
    """``query`` narrowed to the cases waiting at an element, in a street, or of a department."""
    # A common street, department or element (``narrowed`` left it here) is a correlated EXISTS, not IN (a set of
    # ids): with the page's ORDER BY started_at … LIMIT the planner walks ix_instance_started and probes each case's
    # own rows by their instance indexes, so the first page reads a few hundred rows, not the whole set
    # (bench/case_search.py, bench/RESULTS.md "Finding cases").
    if waiting_at:
        query = query.where(or_(
            select(HumanTask.id).where(HumanTask.instance_id == ProcessInstance.id, HumanTask.element_id == waiting_at,
                                       HumanTask.status == "open").exists(),
            select(TimerJob.id).where(TimerJob.instance_id == ProcessInstance.id,
                                      TimerJob.element_id == waiting_at).exists(),
            select(MessageSubscription.id).where(MessageSubscription.instance_id == ProcessInstance.id,
                                                 MessageSubscription.element_id == waiting_at).exists()))
    if street:
        # A case is in a street when its data says so (projected, ix_instance_street) or one of its tasks
        # concerns it (ix_human_task_street).
        query = query.where(or_(ProcessInstance.street == street, select(HumanTask.id).where(
            HumanTask.instance_id == ProcessInstance.id, HumanTask.street == street).exists()))
    if department:
        query = query.where(or_(ProcessInstance.department == department, select(HumanTask.id).where(
            HumanTask.instance_id == ProcessInstance.id, HumanTask.department == department).exists()))
    return query


def _visible_query(query: Select, involving: tuple[str, set[str]] | None, *, text: str | None, status: str | None,
                   process_id: str | None, street: str | None = None, department: str | None = None,
                   overdue_at: datetime | None = None,
                   started: tuple[datetime | None, datetime | None] = (None, None), version: int | None = None,
                   business_key: str | None = None, waiting_at: str | None = None,
                   among: frozenset[int] | None = None, facts: dict[str, Any] | None = None) -> Select:
    """``query`` (over ``process_instance``) narrowed to the cases ``involving`` may see and to the filters. Each
    filter is a range of an index (migrations 0013 and 0016): a case's own columns, the ids a rare value names
    (``among``, from ``narrowed``), or an EXISTS over the inbox, timer and subscription indexes; ``facts``: the
    dashboards' filters (``facts_clauses``)."""
    if among is not None:  # the few cases a rare street, department or element names (``narrowed``)
        query = query.where(ProcessInstance.id.in_(sorted(among)))
    if involving is not None:
        visible = _involved_ids(*involving).subquery("visible")
        query = query.join(visible, ProcessInstance.id == visible.c.id)
    if status == "with_incident":  # an incident not resolved yet (ix_incident_instance_id)
        query = query.where(ProcessInstance.id.in_(select(Incident.instance_id).where(
            Incident.instance_id.is_not(None), Incident.resolved_at.is_(None))))
    elif status:
        query = query.where(ProcessInstance.status == status)
    if process_id:
        query = query.where(ProcessInstance.process_id == process_id)
    if version is not None:
        versions = select(DefinitionVersion.id).where(DefinitionVersion.version == version,
                                                      DefinitionVersion.kind == "process")
        if process_id:
            versions = versions.where(DefinitionVersion.key == process_id)
        query = query.where(ProcessInstance.version_id.in_(versions))
    if business_key is not None:
        query = query.where(ProcessInstance.business_key == business_key)
    query = _where_scoped(query, waiting_at, street, department)
    query = query.where(*facts_clauses(ProcessInstance.id, **(facts or {})))
    if overdue_at is not None:  # an open task past its due time (ix_human_task_status_due)
        query = query.where(ProcessInstance.id.in_(select(HumanTask.instance_id).where(
            HumanTask.status == "open", HumanTask.due_at.is_not(None), HumanTask.due_at < overdue_at)))
    low, high = started
    if low is not None:
        query = query.where(ProcessInstance.started_at >= low)
    if high is not None:
        query = query.where(ProcessInstance.started_at < high)
    if text:
        query = query.where(text_match(text, with_task_name=False))
    return query


RARE = 1000  # a filter matching at most this many cases is turned into their ids (``narrowed``)


def _ids_of(session: Session, statements: tuple[Select, ...], limit: int) -> set[int] | None:
    """The instance ids the ``statements`` give together, or None as soon as one of them gives more than ``limit``
    (each is read on its own index, at most ``limit`` + 1 rows: no set of a common value is ever built)."""
    found: set[int] = set()
    for statement in statements:
        ids = list(session.execute(statement.limit(limit + 1)).scalars())
        if len(ids) > limit:
            return None
        found.update(ids)
    return None if len(found) > limit else found


def narrowed(session: Session, filters: dict[str, Any]) -> dict[str, Any]:
    """``filters`` with a rare street, department or waiting element replaced by the ids of its cases
    (``among``): each is read from its own indexes, at most ``RARE`` + 1 ids, so a street of ten cases among a
    million is ten primary-key reads instead of a walk through the whole start-time index; a common one stays a
    filter (an EXISTS per case the page reads)."""
    sources: dict[str, tuple[Select, ...]] = {}
    if filters.get("street"):
        sources["street"] = street_case_sources(filters["street"])
    if filters.get("department"):
        sources["department"] = department_case_sources(filters["department"])
    if filters.get("waiting_at"):
        value = filters["waiting_at"]
        sources["waiting_at"] = (
            select(HumanTask.instance_id).where(HumanTask.element_id == value, HumanTask.status == "open"),
            select(TimerJob.instance_id).where(TimerJob.element_id == value, TimerJob.instance_id.is_not(None)),
            select(MessageSubscription.instance_id).where(MessageSubscription.element_id == value))
    result = dict(filters)
    among: set[int] | None = None
    for name, statements in sources.items():
        ids = _ids_of(session, statements, RARE)
        if ids is not None:
            among = ids if among is None else among & ids
            result[name] = None
    if among is not None:
        result["among"] = frozenset(among)
    return result


def visible_cases(session: Session, involving: tuple[str, set[str]] | None, *, text: str | None,
                  status: str | None, process_id: str | None, limit: int, offset: int, sort: str | None = None,
                  **filters: Any) -> list[ProcessInstance]:
    """Cases those ``involving`` (user, groups) is part of, or every case for None; newest first, or as
    ``sort`` asks: ``oldest``, ``deadline`` (the earliest due time of its open tasks first, cases without one
    last). ``filters``: ``street``, ``department``, ``overdue_at`` (an open task due before it), ``started``
    (from, to) a half-open range of start times."""
    query = _visible_query(select(ProcessInstance), involving, text=text, status=status, process_id=process_id,
                           **narrowed(session, filters))
    if sort == "oldest":
        query = query.order_by(ProcessInstance.started_at.asc(), ProcessInstance.id.asc())
    elif sort == "deadline":
        due = (select(func.min(HumanTask.due_at)).where(HumanTask.instance_id == ProcessInstance.id,
                                                         HumanTask.status == "open")
               .correlate(ProcessInstance).scalar_subquery())
        query = query.order_by(due.asc().nulls_last(), ProcessInstance.started_at.desc(), ProcessInstance.id.desc())
    else:
        query = query.order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc())
    return list(session.execute(query.limit(limit).offset(offset)).scalars())


def visible_case_ids(session: Session, involving: tuple[str, set[str]] | None, *, text: str | None,
                     status: str | None, process_id: str | None, limit: int, **filters: Any) -> list[int]:
    """The ids of the cases ``visible_cases`` lists under the same filters, oldest first (a bulk operation's
    selection: ids only, however many rows match)."""
    query = _visible_query(select(ProcessInstance.id), involving, text=text, status=status, process_id=process_id,
                           **narrowed(session, filters))
    return list(session.execute(query.order_by(ProcessInstance.id.asc()).limit(limit)).scalars())


def visible_count(session: Session, involving: tuple[str, set[str]] | None, *, text: str | None,
                  status: str | None, process_id: str | None, at_most: int | None = None, **filters: Any) -> int:
    """How many cases ``visible_cases`` lists under the same filters (one COUNT); with ``at_most``, counting
    stops past it (the answer is then ``at_most + 1``), so a total over a million cases costs what the cap does."""
    filters = narrowed(session, filters)
    if at_most is None:
        query = _visible_query(select(func.count()).select_from(ProcessInstance), involving, text=text,
                               status=status, process_id=process_id, **filters)
        return session.execute(query).scalar() or 0
    capped = _visible_query(select(ProcessInstance.id), involving, text=text, status=status, process_id=process_id,
                            **filters).limit(at_most + 1).subquery()
    return session.execute(select(func.count()).select_from(capped)).scalar() or 0


def open_task_names(session: Session, instance_ids: list[int]) -> dict[int, list[str]]:
    """The names of each case's open tasks, oldest first."""
    found: dict[int, list[str]] = {}
    if instance_ids:
        for instance_id, name in session.execute(select(HumanTask.instance_id, HumanTask.name).where(
                HumanTask.instance_id.in_(instance_ids), HumanTask.status == "open").order_by(HumanTask.created_at)):
            found.setdefault(instance_id, []).append(name)
    return found


def waiting_elements(session: Session, instance_ids: list[int]) -> dict[int, list[str]]:
    """The element ids each case waits at: its open tasks, timers and message subscriptions, each once."""
    found: dict[int, list[str]] = {}
    if not instance_ids:
        return found
    parts = (select(HumanTask.instance_id, HumanTask.element_id).where(HumanTask.instance_id.in_(instance_ids),
                                                                       HumanTask.status == "open"),
             select(TimerJob.instance_id, TimerJob.element_id).where(TimerJob.instance_id.in_(instance_ids)),
             select(MessageSubscription.instance_id, MessageSubscription.element_id)
             .where(MessageSubscription.instance_id.in_(instance_ids)))
    for part in parts:
        for instance_id, element_id in session.execute(part):
            elements = found.setdefault(instance_id, [])
            if element_id not in elements:
                elements.append(element_id)
    return found


def open_incident_counts(session: Session, instance_ids: list[int]) -> dict[int, int]:
    """How many unresolved incidents each case has (those with any)."""
    if not instance_ids:
        return {}
    return {instance_id: count for instance_id, count in session.execute(
        select(Incident.instance_id, func.count()).where(Incident.instance_id.in_(instance_ids),
                                                         Incident.resolved_at.is_(None))
        .group_by(Incident.instance_id))}


def version_numbers(session: Session, version_ids: set[int]) -> dict[int, int]:
    """The version number of each definition version id."""
    if not version_ids:
        return {}
    return {version_id: number for version_id, number in session.execute(
        select(DefinitionVersion.id, DefinitionVersion.version).where(DefinitionVersion.id.in_(version_ids)))}


def version_names(session: Session, version_ids: set[int]) -> dict[int, str | None]:
    """The names the versions were deployed with (None for a version without one)."""
    if not version_ids:
        return {}
    return {version_id: name for version_id, name in session.execute(
        select(DefinitionVersion.id, DefinitionVersion.name).where(DefinitionVersion.id.in_(version_ids)))}


# -- a case: what it waits for -------------------------------------------------------------------------------

def open_tasks_of_case(session: Session, instance_id: int) -> list[HumanTask]:
    """The case's open tasks, oldest first."""
    return list(session.execute(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                        HumanTask.status == "open")
                                .order_by(HumanTask.created_at)).scalars())


def message_subscriptions(session: Session, instance_id: int) -> list[MessageSubscription]:
    """The messages a case waits for, in the order it began waiting."""
    return list(session.execute(select(MessageSubscription).where(MessageSubscription.instance_id == instance_id)
                                .order_by(MessageSubscription.id)).scalars())


# -- what an inbox item shows beside its task ------------------------------------------------------------------

def instances_by_id(session: Session, instance_ids: list[int]) -> dict[int, ProcessInstance]:
    return {i.id: i for i in session.execute(select(ProcessInstance)
                                             .where(ProcessInstance.id.in_(instance_ids))).scalars()}


def open_tasks_of(session: Session, instance_ids: list[int]) -> list[HumanTask]:
    return list(session.execute(select(HumanTask).where(HumanTask.instance_id.in_(instance_ids),
                                                        HumanTask.status == "open")).scalars())


def candidate_groups(session: Session, task_ids: list[str]) -> dict[str, list[str]]:
    """The candidate groups of each task."""
    found: dict[str, list[str]] = {}
    for task_id, name in session.execute(select(TaskCandidate.task_id, TaskCandidate.name).where(
            TaskCandidate.task_id.in_(task_ids), TaskCandidate.kind == "group")):
        found.setdefault(task_id, []).append(name)
    return found


def next_timers(session: Session, instance_ids: list[int]) -> dict[int, TimerJob]:
    """Each case's timer job due first."""
    found: dict[int, TimerJob] = {}
    for job in session.execute(select(TimerJob).where(TimerJob.instance_id.in_(instance_ids))
                               .order_by(TimerJob.due_at)).scalars():
        if job.instance_id is not None:
            found.setdefault(job.instance_id, job)
    return found


def ever_offered(session: Session, task_id: str, user: str, groups: set[str]) -> bool:
    """Was the task offered to the user or one of their groups (open or not now)?"""
    return session.execute(select(TaskCandidate.task_id).where(
        TaskCandidate.task_id == task_id, or_(
            (TaskCandidate.kind == "group") & TaskCandidate.name.in_(sorted(groups) or [""]),
            (TaskCandidate.kind == "user") & (TaskCandidate.name == user))).limit(1)).first() is not None


# -- deployed versions -----------------------------------------------------------------------------------------

def latest_processes(session: Session) -> list[DefinitionVersion]:
    """The latest version of every deployed process, by process id."""
    latest = select(DefinitionVersion.key, func.max(DefinitionVersion.version).label("version")).where(
        DefinitionVersion.kind == "process").group_by(DefinitionVersion.key).subquery()
    return list(session.execute(select(DefinitionVersion).join(latest, and_(
        DefinitionVersion.key == latest.c.key, DefinitionVersion.version == latest.c.version))
        .where(DefinitionVersion.kind == "process").order_by(DefinitionVersion.key)).scalars())


def own_source(session: Session, version: DefinitionVersion) -> str | None:
    """The content of the file a version was deployed from."""
    return session.execute(select(SourceBlob.content)
                           .join(VersionSource, SourceBlob.sha256 == VersionSource.blob_sha256)
                           .where(VersionSource.version_id == version.id,
                                  VersionSource.file_name == version.source_file)).scalar()


def version_files(session: Session, version_id: int) -> list[tuple[str, str]]:
    """(file name, content) of every file stored with a version."""
    return [(name, content) for name, content in session.execute(
        select(VersionSource.file_name, SourceBlob.content)
        .join(SourceBlob, SourceBlob.sha256 == VersionSource.blob_sha256)
        .where(VersionSource.version_id == version_id)).all()]


# -- drafts and attachments ------------------------------------------------------------------------------------

def drop_draft(session: Session, task_key: str, user: str) -> None:
    session.execute(delete(TaskDraft).where(TaskDraft.task_key == task_key, TaskDraft.username == user))


def attachments_of(session: Session, instance_id: int) -> list[Attachment]:
    return list(session.execute(select(Attachment).where(Attachment.instance_id == instance_id)
                                .order_by(Attachment.uploaded_at, Attachment.id)).scalars())


def attachments_by_id(session: Session, ids: Iterable[str]) -> list[Attachment]:
    return list(session.execute(select(Attachment).where(Attachment.id.in_(list(ids)))).scalars())


def unlinked_uploads(session: Session, user: str, ids: list[str]) -> list[Attachment]:
    """The user's uploads among ``ids`` that belong to no case yet."""
    return list(session.execute(select(Attachment).where(Attachment.id.in_(ids), Attachment.uploaded_by == user,
                                                         Attachment.instance_id.is_(None))).scalars())


# -- what a case diagram marks (its timers: engine.store.jobs.of_instance_by_due) -----------------------------

def unresolved_incidents(session: Session, instance_id: int) -> list[Incident]:
    return list(session.execute(select(Incident).where(Incident.instance_id == instance_id,
                                                       Incident.resolved_at.is_(None))).scalars())
