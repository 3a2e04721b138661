"""What a clerk's screens ask of the engine: who may see and start what, the inbox with its filters, task forms
and drafts, attachments, and a case's diagram states. A mixin of ``engine.api.Whistle`` (no Flask here).

Authorization lives here, not in templates: a user sees a case if they started it, are or were the assignee,
completer or a candidate (user, or member of a candidate group) of one of its tasks, or belong to a group that
sees everything (admins, district supervision). Queries read projections; only ``case_diagram`` loads one
instance's stored state.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import and_, delete, func, or_, select, union
from sqlalchemy.orm import Session

from engine.time import clock
from engine.forms import contracts
from engine.forms import schema as form_lib
from engine.identity.accounts import authenticate, find_user, groups_of
from engine.bpmn.namespaces import BPMN_NS
from engine.bpmn.reading import read_xml
from engine.store.db import PROJECT_ROOT
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.store.models import (Attachment, DefinitionVersion, HumanTask, Incident, ProcessInstance, SourceBlob,
                     TaskCandidate, TaskDraft, UserAccount, UserGroup, VersionSource)

try:  # the timer job table (engine.jobs); the inbox shows the next timer of a case when it exists
    from engine.store.models import TimerJob
except ImportError:  # pragma: no cover - older engines
    TimerJob = None

ROLE_GROUPS = {"designer": "designers", "admin": "admins", "supervisor": "district-supervision"}
SEE_ALL_GROUPS = frozenset({"admins", "district-supervision"})
VIEWS = ("mine", "group", "done")
DEADLINES = ("overdue", "today", "week", "none")
TIERS = ("red", "yellow", "blue")
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ATTACHMENT_TYPES = {  # content type: (magic prefixes, extensions)
    "image/jpeg": ((b"\xff\xd8\xff",), (".jpg", ".jpeg")),
    "image/png": ((b"\x89PNG\r\n\x1a\n",), (".png",)),
    "application/pdf": ((b"%PDF-",), (".pdf",)),
}
SEARCH_KEYS = ("title", "situation_name", "situation_label", "location", "description")


class AttachmentRejected(InvalidInput):
    """An upload that is empty, too large, or not a JPEG/PNG/PDF. ``code``: empty | too_large | type."""

    def __init__(self, code: str, message: str, limit: int | None = None):
        super().__init__(message)
        self.code = code
        self.limit = limit


def see_all_groups() -> frozenset:
    """Groups whose members may read every case (administrators, district supervision)."""
    return SEE_ALL_GROUPS


def roles_of(groups: Iterable[str]) -> list[str]:
    groups = set(groups)
    return ["staff"] + [role for role, group in ROLE_GROUPS.items() if group in groups]


def deadline_state(due_at: datetime | None, created_at: datetime | None, now: datetime) -> dict | None:
    """How close a deadline is: overdue, or red / yellow / blue by the share of the allotted time left."""
    if due_at is None:
        return None
    left = (due_at - now).total_seconds()
    if left <= 0:
        return {"state": "overdue", "seconds": int(left)}
    window = (due_at - created_at).total_seconds() if created_at else 0
    share = left / window if window > 0 else 1.0
    state = "red" if share <= 0.25 else "yellow" if share <= 0.5 else "blue"
    return {"state": state, "seconds": int(left)}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _VersionCache:
    """Facts derived from a deployed version's sources; versions never change, so entries never go stale."""

    def __init__(self) -> None:
        self._values: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple, build):
        with self._lock:
            if key in self._values:
                return self._values[key]
        value = build()
        with self._lock:
            self._values[key] = value
        return value



def inbox_order(due_at, priority, created_at, task_id) -> tuple:
    """The order of every inbox list, over the columns given (a task's, or the copies on its candidate rows):
    due time with none last, then priority (high first), then age. ``due ASC NULLS LAST`` is PostgreSQL's index
    order, so an index on the due time serves it."""
    return due_at.asc().nulls_last(), priority.desc(), created_at, task_id

class CaseWork:
    """Mixin for ``engine.api.Whistle`` (uses ``self.db``, ``self.runtime``, ``self.start``, ``self.complete``,
    ``self.show``)."""

    attachments_dir: Path | None = None
    max_attachment_bytes: int | None = None

    # -- small caches -----------------------------------------------------------------------------------

    @property
    def _cache(self) -> _VersionCache:
        cache = self.__dict__.get("_casework_cache")
        if cache is None:
            cache = self.__dict__.setdefault("_casework_cache", _VersionCache())
        return cache

    # -- people -----------------------------------------------------------------------------------------

    def _user_info(self, session: Session, account: UserAccount) -> dict:
        groups = sorted(groups_of(session, account))
        return {"username": account.username, "display_name": account.display_name or account.username,
                "groups": groups, "roles": roles_of(groups)}

    def sign_in(self, username: str, password: str) -> dict | None:
        """The user's name, groups and roles when the password is right; None otherwise."""
        with self.db.read() as session:
            account = authenticate(session, username.strip(), password)
            return self._user_info(session, account) if account else None

    def user_info(self, username: str) -> dict | None:
        """Name, groups and roles of an active user (None when unknown or deactivated)."""
        with self.db.read() as session:
            account = session.execute(select(UserAccount).where(UserAccount.username == username)).scalar()
            if account is None or not account.active:
                return None
            return self._user_info(session, account)

    def group_labels(self) -> dict[str, str]:
        """Display names of groups (``dept-police`` → 公安和平分局联络员…), refreshed every minute."""
        cached = self.__dict__.get("_group_labels")
        if cached and cached[0] > time.monotonic():
            return cached[1]
        with self.db.read() as session:
            labels = {name: label or name for name, label in
                      session.execute(select(UserGroup.name, UserGroup.display_name)).all()}
        self.__dict__["_group_labels"] = (time.monotonic() + 60, labels)
        return labels

    def user_labels(self, usernames: Iterable[str | None]) -> dict[str, str]:
        names = sorted({u for u in usernames if u})
        if not names:
            return {}
        with self.db.read() as session:
            rows = session.execute(select(UserAccount.username, UserAccount.display_name)
                                   .where(UserAccount.username.in_(names))).all()
        found = {name: label or name for name, label in rows}
        return {name: found.get(name, name) for name in names}

    # -- who sees which case ----------------------------------------------------------------------------

    @staticmethod
    def _offered_ids(user: str, groups: set[str], claimable: bool = False):
        """SQL: ids of the tasks offered to the user or their groups (driven by the candidate index); with
        ``claimable``, only those open and unclaimed now (a range of the partial index of such offers)."""
        # A UNION, not an OR: each half is a range of the (kind, name) index.
        now_only = (TaskCandidate.offered,) if claimable else ()  # the partial index predicate, as written
        return union(
            select(TaskCandidate.task_id).where(TaskCandidate.kind == "group",
                                                TaskCandidate.name.in_(sorted(groups) or [""]), *now_only),
            select(TaskCandidate.task_id).where(TaskCandidate.kind == "user", TaskCandidate.name == user, *now_only))

    @classmethod
    def _involved_ids(cls, user: str, groups: set[str]):
        """SQL: ids of the cases the user is part of — started, offered a task, claimed or completed one. A
        UNION of index ranges, so a department's few cases are found without reading everyone's."""
        offered = cls._offered_ids(user, groups).subquery("offered")
        return union(
            select(ProcessInstance.id.label("id")).where(ProcessInstance.started_by == user),
            select(HumanTask.instance_id).join(offered, HumanTask.id == offered.c.task_id),
            select(HumanTask.instance_id).where(HumanTask.status.in_(("open", "cancelled")), HumanTask.assignee == user),
            select(HumanTask.instance_id).where(HumanTask.completed_by == user))

    def _account(self, session: Session, user: str) -> tuple[UserAccount, set[str]]:
        account = find_user(session, user)
        return account, groups_of(session, account)

    def sees_everything(self, user: str) -> bool:
        info = self.user_info(user)
        return bool(info and set(info["groups"]) & see_all_groups())

    def can_see_instance(self, user: str, instance_id: int) -> bool:
        """May ``user`` read this case? Yes if they started it, are or were the assignee, completer or a
        candidate (user or group) of one of its tasks, or belong to ``SEE_ALL_GROUPS``. NotFound when there
        is no such case; False for an unknown or inactive user."""
        with self.db.read() as session:
            instance = session.get(ProcessInstance, instance_id)
            if instance is None:
                raise NotFound(f"no instance {instance_id}")
            account = session.execute(select(UserAccount).where(UserAccount.username == user)).scalar()
            if account is None or not account.active:
                return False
            groups = groups_of(session, account)
            if instance.started_by == user or groups & see_all_groups():
                return True
            offered = self._offered_ids(user, groups).subquery("offered")
            involved = select(HumanTask.id).where(HumanTask.instance_id == instance_id, or_(
                HumanTask.assignee == user, HumanTask.completed_by == user,
                HumanTask.id.in_(select(offered.c.task_id)))).limit(1)
            return session.execute(involved).first() is not None

    def require_case(self, user: str, instance_id: int) -> None:
        """NotFound if there is no such case, Forbidden if the user may not see it."""
        if not self.can_see_instance(user, instance_id):
            raise Forbidden(f"{user} may not see case {instance_id}")

    def cases_for(self, user: str, *, text: str | None = None, status: str | None = None,
                  process_id: str | None = None, limit: int = 50, offset: int = 0) -> list[dict]:
        """The cases a user may see, newest first, with title, tier and open tasks."""
        with self.db.read() as session:
            _, groups = self._account(session, user)
            query = select(ProcessInstance)
            if not groups & see_all_groups():
                visible = self._involved_ids(user, groups).subquery("visible")
                query = query.join(visible, ProcessInstance.id == visible.c.id)
            if status:
                query = query.where(ProcessInstance.status == status)
            if process_id:
                query = query.where(ProcessInstance.process_id == process_id)
            if text:
                query = query.where(self._text_match(text, with_task_name=False))
            rows = session.execute(query.order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc())
                                   .limit(limit).offset(offset)).scalars().all()
            ids = [r.id for r in rows]
            open_tasks: dict[int, list[str]] = {}
            if ids:
                for instance_id, name in session.execute(select(HumanTask.instance_id, HumanTask.name).where(
                        HumanTask.instance_id.in_(ids), HumanTask.status == "open").order_by(HumanTask.created_at)):
                    open_tasks.setdefault(instance_id, []).append(name)
            names = self._version_names(session, {r.version_id for r in rows})
            return [{**self._case_summary(r), "process_name": names.get(r.version_id) or r.process_id,
                     "open_tasks": open_tasks.get(r.id, [])} for r in rows]

    def _version_names(self, session: Session, version_ids: set[int]) -> dict[int, str]:
        if not version_ids:
            return {}
        return dict(session.execute(select(DefinitionVersion.id, DefinitionVersion.name)
                                    .where(DefinitionVersion.id.in_(version_ids))).all())

    def _case_summary(self, instance: ProcessInstance) -> dict:
        data = instance.data or {}
        return {"instance_id": instance.id, "business_key": instance.business_key, "process_id": instance.process_id,
                "version_id": instance.version_id, "status": instance.status, "started_by": instance.started_by,
                "started_at": instance.started_at.isoformat(),
                "completed_at": instance.completed_at.isoformat() if instance.completed_at else None,
                "title": self.case_title(instance.version_id, data), "tier": data.get("tier") or None,
                "location": data.get("location")}

    def case_title(self, version_id: int, data: dict) -> str:
        for key in self.case_title_keys(version_id):
            value = data.get(key)
            if value not in (None, "", [], {}):
                text = str(value)
                label = self.case_labels(version_id).get(key, {}).get("options", {}).get(text)
                return (label[0] if label else text)[:80]
        return ""

    @staticmethod
    def _text_match(text: str, with_task_name: bool = True):
        pattern = f"%{_escape_like(text.strip())}%"
        terms = [ProcessInstance.business_key.ilike(pattern, escape="\\")]
        terms += [ProcessInstance.data[key].as_string().ilike(pattern, escape="\\") for key in SEARCH_KEYS]
        if with_task_name:
            terms.append(HumanTask.name.ilike(pattern, escape="\\"))
        if text.strip().isdigit():
            terms.append(ProcessInstance.id == int(text.strip()))
        return or_(*terms)

    # -- the inbox --------------------------------------------------------------------------------------

    def inbox(self, user: str, view: str = "mine", *, process_id: str | None = None, tier: str | None = None,
              deadline: str | None = None, text: str | None = None, limit: int = 50, offset: int = 0) -> dict:
        """One tab of a user's inbox: ``mine`` (claimed by me), ``group`` (offered to me or my groups, unclaimed)
        or ``done`` (completed by me). Filters: process, tier (case data ``tier``), deadline (overdue, today,
        week, none) and free text. Sorted by deadline (done: most recent first)."""
        if view not in VIEWS:
            raise InvalidInput(f"unknown inbox view '{view}' (use {', '.join(VIEWS)})")
        now = clock.now()
        with self.db.read() as session:
            _, groups = self._account(session, user)
            query = self._view_query(view, user, groups, HumanTask)
            filters = []
            if process_id:
                filters.append(HumanTask.process_id == process_id)
            if deadline:
                filters.append(self._deadline_clause(deadline, now))
            if tier or text:
                query = query.join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                if tier:
                    filters.append(ProcessInstance.data["tier"].as_string() == tier)
                if text:
                    filters.append(self._text_match(text))
            query = query.where(*filters)
            if view == "done":
                query = query.order_by(HumanTask.completed_at.desc(), HumanTask.id)
            else:
                query = query.order_by(*inbox_order(HumanTask.due_at, HumanTask.priority, HumanTask.created_at,
                                                    HumanTask.id))
            rows = session.execute(query.limit(limit + 1).offset(offset)).scalars().all()
            more = len(rows) > limit
            rows = rows[:limit]
            counts = {v: session.execute(self._view_query(v, user, groups, func.count())).scalar()
                      for v in ("mine", "group")}
            return {"view": view, "tasks": self._inbox_items(session, rows, now), "counts": counts, "more": more,
                    "now": now.isoformat()}

    @classmethod
    def _view_query(cls, view: str, user: str, groups: set[str], *columns):
        """``select(columns)`` over one inbox view. The group view is driven by the candidate index: a join
        with the (small) set of task ids offered to the user, which every planner starts from."""
        if view != "group":
            return select(*columns).select_from(HumanTask).where(cls._view_clause(view, user, groups))
        offered = cls._offered_ids(user, groups, claimable=True).subquery("offered")
        return (select(*columns).select_from(HumanTask).join(offered, HumanTask.id == offered.c.task_id)
                .where(HumanTask.status == "open", HumanTask.assignee.is_(None)))

    @classmethod
    def _view_clause(cls, view: str, user: str, groups: set[str]):
        if view == "mine":
            return and_(HumanTask.status == "open", HumanTask.assignee == user)
        if view == "done":
            return and_(HumanTask.completed_by == user, HumanTask.status == "completed")
        return and_(HumanTask.id.in_(cls._offered_ids(user, groups, claimable=True)), HumanTask.status == "open",
                    HumanTask.assignee.is_(None))

    @staticmethod
    def _deadline_clause(deadline: str, now: datetime):
        from engine.time.workdays import timezone as local_zone

        if deadline not in DEADLINES:
            raise InvalidInput(f"unknown deadline filter '{deadline}' (use {', '.join(DEADLINES)})")
        if deadline == "none":
            return HumanTask.due_at.is_(None)
        if deadline == "overdue":
            return HumanTask.due_at < now
        local = now.astimezone(local_zone())
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = midnight + timedelta(days=1) if deadline == "today" else midnight + timedelta(days=7 - local.weekday())
        return and_(HumanTask.due_at.is_not(None), HumanTask.due_at < end)

    def workable_tasks(self, user: str, instance_id: int) -> set[str]:
        """Open tasks of a case that the user may work on now (claimed by them, or offered and unclaimed)."""
        with self.db.read() as session:
            _, groups = self._account(session, user)
            return set(session.execute(select(HumanTask.id).where(
                HumanTask.instance_id == instance_id,
                or_(self._view_clause("mine", user, groups), self._view_clause("group", user, groups)))).scalars())

    def process_names(self) -> dict[str, str]:
        """Deployed processes by id, with the name of their latest version (for filters)."""
        cached = self.__dict__.get("_process_names")
        if cached and cached[0] > time.monotonic():
            return cached[1]
        with self.db.read() as session:
            names = {v.key: v.name or v.key for v in self._latest_processes(session)}
        self.__dict__["_process_names"] = (time.monotonic() + 30, names)
        return names

    def inbox_digest(self, user: str) -> dict:
        """A small fingerprint of the open work offered to or claimed by a user, for polling."""
        now = clock.now()
        with self.db.read() as session:
            _, groups = self._account(session, user)
            columns = (HumanTask.id, HumanTask.assignee, HumanTask.due_at)
            rows = sorted(set(session.execute(self._view_query("mine", user, groups, *columns)).all())
                          | set(session.execute(self._view_query("group", user, groups, *columns)).all()))
        # A task that becomes overdue changes the fingerprint too, so the badge turns without a reload.
        parts = [f"{task_id}:{assignee or ''}:{int(due is not None and due < now)}" for task_id, assignee, due in rows]
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
        return {"digest": digest, "open": len(rows)}

    def _inbox_items(self, session: Session, rows: list[HumanTask], now: datetime) -> list[dict]:
        if not rows:
            return []
        instance_ids = sorted({r.instance_id for r in rows})
        instances = {i.id: i for i in session.execute(select(ProcessInstance)
                                                      .where(ProcessInstance.id.in_(instance_ids))).scalars()}
        task_ids = [r.id for r in rows]
        others = session.execute(select(HumanTask).where(HumanTask.instance_id.in_(instance_ids),
                                                         HumanTask.status == "open")).scalars().all()
        candidates: dict[str, list[str]] = {}
        for task_id, name in session.execute(select(TaskCandidate.task_id, TaskCandidate.name).where(
                TaskCandidate.task_id.in_(task_ids + [o.id for o in others]), TaskCandidate.kind == "group")):
            candidates.setdefault(task_id, []).append(name)
        timers: dict[int, Any] = {}
        if TimerJob is not None:
            for job in session.execute(select(TimerJob).where(TimerJob.instance_id.in_(instance_ids))
                                       .order_by(TimerJob.due_at)).scalars():
                timers.setdefault(job.instance_id, job)
        items = []
        for row in rows:
            instance = instances[row.instance_id]
            summary = self._case_summary(instance)
            involved = []
            for other in others:
                if other.instance_id != row.instance_id or other.id == row.id:
                    continue
                involved.append({"task_id": other.id, "name": other.name, "assignee": other.assignee,
                                 "groups": sorted(candidates.get(other.id, []))})
            job = timers.get(row.instance_id)
            next_timer = None
            if job is not None:
                names = self.element_names(job.version_id)
                next_timer = {"element_id": job.element_id, "name": names.get(job.element_id) or job.element_id,
                              "due_at": job.due_at.isoformat(), "overdue": job.due_at <= now}
            items.append({
                "task_id": row.id, "instance_id": row.instance_id, "process_id": row.process_id, "name": row.name,
                "element_id": row.element_id, "documentation": row.documentation, "form_key": row.form_key,
                "status": row.status, "assignee": row.assignee, "priority": row.priority,
                "candidate_groups": sorted(candidates.get(row.id, [])),
                "created_at": row.created_at.isoformat(), "due_at": row.due_at.isoformat() if row.due_at else None,
                "completed_at": row.completed_at.isoformat() if row.completed_at else None,
                "completed_by": row.completed_by,
                "deadline": deadline_state(row.due_at, row.created_at, now) if row.status == "open" else None,
                "case": summary, "involved": involved, "next_timer": next_timer,
                "asks": self._asks(row.version_id, row.form_key)})
        return items

    def _asks(self, version_id: int, form_key: str | None) -> dict | None:
        """What a task asks, in the clerk's words: its form's description (Chinese and English)."""
        form = self.version_forms(version_id).get(form_key) if form_key else None
        if not form or not form.get("description"):
            return None
        return {"description": form["description"], "description_en": form.get("description_en")}

    # -- one task ---------------------------------------------------------------------------------------

    def task_view(self, user: str, task_id: str) -> dict:
        """A task with what the user may do with it: NotFound, or Forbidden unless they may see its case."""
        now = clock.now()
        with self.db.read() as session:
            _, groups = self._account(session, user)
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound(f"no task {task_id}")
            [item] = self._inbox_items(session, [row], now)
            offered_ever = session.execute(select(TaskCandidate.task_id).where(
                TaskCandidate.task_id == task_id, or_(
                    (TaskCandidate.kind == "group") & TaskCandidate.name.in_(sorted(groups) or [""]),
                    (TaskCandidate.kind == "user") & (TaskCandidate.name == user))).limit(1)).first() is not None
        if not self.can_see_instance(user, row.instance_id):
            raise Forbidden(f"{user} may not see task {task_id}")
        is_open = row.status == "open"
        offered = is_open and row.assignee is None and offered_ever
        item.update({
            "may_claim": bool(is_open and offered),
            "may_unclaim": bool(is_open and row.assignee == user),
            "may_complete": bool(is_open and (row.assignee == user or (row.assignee is None and offered_ever))),
            "claimed_by_other": bool(is_open and row.assignee and row.assignee != user),
            "version_id": row.version_id,
        })
        return item

    def task_data(self, task_id: str) -> dict:
        """The data an open task sees (its own branch of the case: e.g. the supervision task sees the late
        departments), read from the stored state; the case data once the task is closed."""
        from uuid import UUID

        from engine.bpmn.state import to_json_value

        with self.db.read() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound(f"no task {task_id}")
            instance = session.get(ProcessInstance, row.instance_id)
            if row.status != "open" or instance.status != "running":
                return dict(instance.data or {})
            workflow = self.runtime.load(session, instance)
        try:
            task = workflow.get_task_from_id(UUID(task_id))
        except Exception:
            task = None
        return to_json_value(task.data) if task is not None else dict(instance.data or {})

    # -- starting work ----------------------------------------------------------------------------------

    def _start_info(self, session: Session, version: DefinitionVersion) -> dict:
        def build() -> dict:
            content = self._own_source(session, version)
            process = None
            if content is not None:
                root = read_xml(content).getroot()
                process = next((p for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("id") == version.key), None)
            facts = contracts.start_facts(process)  # the same facts the start command checks
            info = {"process_id": version.key, "version": version.version, "version_id": version.id,
                    "name": version.name or version.key, "starter_groups": list(facts.starter_groups),
                    "starter_users": list(facts.starter_users), "form_key": facts.form_key,
                    "start_event": facts.start_event, "documentation": facts.documentation}
            if facts.start_name is not None:
                info["start_name"] = facts.start_name
            return info

        return self._cache.get(("start", version.id), build)

    def _latest_processes(self, session: Session) -> list[DefinitionVersion]:
        latest = select(DefinitionVersion.key, func.max(DefinitionVersion.version).label("version")).where(
            DefinitionVersion.kind == "process").group_by(DefinitionVersion.key).subquery()
        return list(session.execute(select(DefinitionVersion).join(latest, and_(
            DefinitionVersion.key == latest.c.key, DefinitionVersion.version == latest.c.version))
            .where(DefinitionVersion.kind == "process").order_by(DefinitionVersion.key)).scalars())

    def startable(self, user: str) -> list[dict]:
        """Processes the user may start: their latest version has a none start event and names one of the
        user's groups (glob patterns allowed, like ``grid-*``) in ``candidateStarterGroups``, or the user in
        ``candidateStarterUsers`` (on the process or its start event; Camunda attribute or spiffworkflow
        property)."""
        with self.db.read() as session:
            _, groups = self._account(session, user)
            found = []
            for version in self._latest_processes(session):
                info = self._start_info(session, version)
                if info["start_event"] and _admits(info, user, groups):
                    found.append(info)
            return found

    def start_info(self, user: str, process_id: str) -> dict:
        """The start of a process the user may start (NotFound / Forbidden otherwise)."""
        with self.db.read() as session:
            _, groups = self._account(session, user)
            version = next((v for v in self._latest_processes(session) if v.key == process_id), None)
            if version is None:
                raise NotFound(f"no process '{process_id}' is deployed")
            info = self._start_info(session, version)
        if not info["start_event"] or not _admits(info, user, groups):
            raise Forbidden(f"{user} may not start '{process_id}'")
        return info

    def start_case(self, process_id: str, user: str, data: dict, business_key: str | None = None,
                   attachment_ids: Iterable[str] = (), lang: str = "zh") -> int:
        """Start a process as a person, in one transaction: the start (who may start it, the start form's
        contract), the uploaded files linked to the new case, the draft dropped — all or nothing."""
        info = self.start_info(user, process_id)
        ids = list(dict.fromkeys(attachment_ids))
        bad = self.foreign_attachments(user, ids, None)
        if bad:
            raise Forbidden(f"attachments {', '.join(bad)} are not {user}'s uploads")

        def within(session: Session, audit, instance_id: int) -> None:
            _link_uploads(session, audit, user, ids, instance_id, None)
            _drop_draft(session, f"start:{process_id}", user)

        return self.runtime.start(process_id, info["version"], data, business_key, user, lang, within)

    def complete_task(self, task_id: str, user: str, data: dict, attachment_ids: Iterable[str] = (),
                      lang: str = "zh") -> dict:
        """Complete a task as a person, in one transaction: the completion (the form's contract), the uploaded
        files linked to the case, the draft dropped — a failure in any part leaves nothing changed."""
        ids = list(dict.fromkeys(attachment_ids))
        with self.db.read() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound(f"no task {task_id}")
            instance_id = row.instance_id
        bad = self.foreign_attachments(user, ids, instance_id)
        if bad:
            raise Forbidden(f"attachments {', '.join(bad)} are not {user}'s uploads")

        def within(session: Session, audit, instance_id: int) -> None:
            _link_uploads(session, audit, user, ids, instance_id, task_id)
            _drop_draft(session, task_id, user)

        return self.runtime.complete(task_id, user, data, lang, within)

    # -- forms ------------------------------------------------------------------------------------------

    def version_forms(self, version_id: int) -> dict[str, dict]:
        """The forms stored with a deployed version, by form key."""
        def build() -> dict[str, dict]:
            with self.db.read() as session:
                rows = session.execute(select(VersionSource.file_name, SourceBlob.content)
                                       .join(SourceBlob, SourceBlob.sha256 == VersionSource.blob_sha256)
                                       .where(VersionSource.version_id == version_id)).all()
            return form_lib.forms_in(rows)

        return self._cache.get(("forms", version_id), build)

    def form(self, form_key: str | None, *, version_id: int | None = None, instance_id: int | None = None,
             task_id: str | None = None) -> dict | None:
        """The form named ``form_key`` as deployed with a version (given directly, or as a case's or task's)."""
        if not form_key:
            return None
        if version_id is None:
            with self.db.read() as session:
                if task_id is not None:
                    row = session.get(HumanTask, task_id)
                    if row is None:
                        raise NotFound(f"no task {task_id}")
                    version_id = row.version_id
                elif instance_id is not None:
                    instance = session.get(ProcessInstance, instance_id)
                    if instance is None:
                        raise NotFound(f"no instance {instance_id}")
                    version_id = instance.version_id
                else:
                    raise InvalidInput("name a version, an instance or a task")
        return self.version_forms(version_id).get(form_key)

    def case_labels(self, version_id: int) -> dict[str, dict]:
        return self._cache.get(("labels", version_id),
                               lambda: form_lib.case_labels(self.version_forms(version_id).values()))

    def case_fields(self, version_id: int) -> list[str]:
        """Case data names in the order the case page lists them (labelled names when no form orders them)."""
        def build() -> list[str]:
            ordered = form_lib.case_fields(self.version_forms(version_id).values())
            return ordered or list(self.case_labels(version_id))

        return self._cache.get(("fields", version_id), build)

    def case_title_keys(self, version_id: int) -> list[str]:
        return self._cache.get(("title", version_id),
                               lambda: form_lib.case_title_keys(self.version_forms(version_id).values()))

    # -- drafts -----------------------------------------------------------------------------------------

    def save_draft(self, task_key: str, user: str, data: dict) -> None:
        """Keep a form's values for later (per user; ``task_key`` is a task id or ``start:<process id>``)."""
        if not isinstance(data, dict):
            raise InvalidInput("a draft is a JSON object")
        with self.db.write() as session:
            find_user(session, user)
            row = session.get(TaskDraft, (task_key, user))
            if row is None:
                session.add(TaskDraft(task_key=task_key, username=user, data=data, updated_at=clock.now()))
            else:
                row.data, row.updated_at = data, clock.now()

    def draft(self, task_key: str, user: str) -> dict | None:
        with self.db.read() as session:
            row = session.get(TaskDraft, (task_key, user))
            return None if row is None else {"data": row.data, "updated_at": row.updated_at.isoformat()}

    def delete_draft(self, task_key: str, user: str) -> None:
        with self.db.write() as session:
            _drop_draft(session, task_key, user)

    # -- attachments ------------------------------------------------------------------------------------

    def _attachments_root(self) -> Path:
        configured = self.attachments_dir or os.environ.get("WHISTLE_ATTACHMENTS_DIR")
        return Path(configured) if configured else PROJECT_ROOT / "var" / "attachments"

    def _attachment_limit(self) -> int:
        if self.max_attachment_bytes:
            return int(self.max_attachment_bytes)
        megabytes = os.environ.get("WHISTLE_ATTACHMENT_MAX_MB")
        return int(float(megabytes) * 1024 * 1024) if megabytes else MAX_ATTACHMENT_BYTES

    def add_attachment(self, user: str, file_name: str, content: bytes, *, instance_id: int | None = None,
                       task_id: str | None = None, field: str | None = None) -> dict:
        """Store an uploaded JPEG, PNG or PDF (checked by its first bytes and its extension) under a random
        name. Without ``instance_id`` (a start form) only the uploader may read it until the case starts."""
        limit = self._attachment_limit()
        if not content:
            raise AttachmentRejected("empty", "the file is empty")
        if len(content) > limit:
            raise AttachmentRejected("too_large", f"the file is larger than {limit // (1024 * 1024)} MB", limit)
        content_type = _sniff(content)
        extension = os.path.splitext(file_name or "")[1].lower()
        if content_type is None or extension not in ATTACHMENT_TYPES[content_type][1]:
            raise AttachmentRejected("type", "only JPG, PNG and PDF files can be attached")
        if instance_id is not None:
            self.require_case(user, instance_id)
        root = self._attachments_root()
        storage_name = secrets.token_hex(16)
        folder = root / storage_name[:2]
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / storage_name
        temporary = folder / f".{storage_name}.part"
        with open(temporary, "xb") as handle:
            handle.write(content)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
        safe_name = _safe_file_name(file_name, extension)
        sha256 = hashlib.sha256(content).hexdigest()
        attachment_id = secrets.token_hex(12)

        def work(session: Session, audit) -> dict:
            find_user(session, user)
            row = Attachment(id=attachment_id, instance_id=instance_id, task_id=task_id, field=field,
                             file_name=safe_name, content_type=content_type, size=len(content), sha256=sha256,
                             storage_name=storage_name, uploaded_by=user, uploaded_at=clock.now())
            session.add(row)
            session.flush()
            audit.record("attachment_added", user, instance_id, task_id if task_id and len(task_id) <= 36 else None,
                         attachment_id=attachment_id, file_name=safe_name, content_type=content_type,
                         size=len(content), sha256=sha256, field=field)
            return _attachment_dict(row)

        from engine.runtime.commands import CommandContext

        try:
            return self.runtime.run_command(CommandContext("attach", user, instance_id=instance_id), work)
        except Exception:
            path.unlink(missing_ok=True)
            raise

    def attachment(self, user: str, attachment_id: str) -> tuple[dict, Path]:
        """An attachment's description and file, if the user may read it (uploader, or may see its case)."""
        with self.db.read() as session:
            row = session.get(Attachment, attachment_id)
            if row is None:
                raise NotFound(f"no attachment {attachment_id}")
            meta = _attachment_dict(row)
            storage = row.storage_name
        if meta["uploaded_by"] != user:
            if meta["instance_id"] is None:
                raise Forbidden(f"{user} may not read attachment {attachment_id}")
            self.require_case(user, meta["instance_id"])
        return meta, self._attachments_root() / storage[:2] / storage

    def attachments_of(self, instance_id: int) -> list[dict]:
        with self.db.read() as session:
            return [_attachment_dict(r) for r in session.execute(
                select(Attachment).where(Attachment.instance_id == instance_id)
                .order_by(Attachment.uploaded_at, Attachment.id)).scalars()]

    def attachments_by_id(self, ids: Iterable[str]) -> dict[str, dict]:
        ids = [i for i in ids if isinstance(i, str)]
        if not ids:
            return {}
        with self.db.read() as session:
            return {r.id: _attachment_dict(r) for r in session.execute(
                select(Attachment).where(Attachment.id.in_(ids))).scalars()}

    def foreign_attachments(self, user: str, ids: Iterable[str], instance_id: int | None) -> list[str]:
        """Ids that are neither the user's own unlinked uploads nor already attached to this case."""
        ids = list(ids)
        known = self.attachments_by_id(ids)
        bad = []
        for attachment_id in ids:
            row = known.get(attachment_id)
            if row is None:
                bad.append(attachment_id)
            elif row["instance_id"] is None and row["uploaded_by"] == user:
                continue
            elif instance_id is not None and row["instance_id"] == instance_id:
                continue
            else:
                bad.append(attachment_id)
        return bad

    def link_attachments(self, user: str, ids: Iterable[str], instance_id: int, task_id: str | None) -> int:
        """Attach the user's unlinked uploads to a case (after its start form or a task was submitted)."""
        ids = list(ids)

        from engine.runtime.commands import CommandContext

        return self.runtime.run_command(CommandContext("attach", user, instance_id=instance_id),
                                        lambda session, audit: _link_uploads(session, audit, user, ids, instance_id,
                                                                             task_id))

    # -- the case page ----------------------------------------------------------------------------------

    def case(self, user: str, instance_id: int) -> dict:
        """Everything the case page shows, for a user who may see the case: ``show()`` plus the version id,
        title, tier, process name and the attachments."""
        self.require_case(user, instance_id)
        shown = self.show(instance_id)
        with self.db.read() as session:
            instance = session.get(ProcessInstance, instance_id)
            summary = self._case_summary(instance)
            version = session.get(DefinitionVersion, instance.version_id)
            summary["process_name"] = version.name or version.key
        shown.update({k: summary[k] for k in ("version_id", "title", "tier", "location", "process_name")})
        shown["attachments"] = self.attachments_of(instance_id)
        return shown

    def _own_source(self, session: Session, version: DefinitionVersion) -> str | None:
        return session.execute(select(SourceBlob.content)
                               .join(VersionSource, SourceBlob.sha256 == VersionSource.blob_sha256)
                               .where(VersionSource.version_id == version.id,
                                      VersionSource.file_name == version.source_file)).scalar()

    def diagram_xml(self, version_id: int) -> str | None:
        def build():
            with self.db.read() as session:
                version = session.get(DefinitionVersion, version_id)
                return None if version is None else self._own_source(session, version)

        return self._cache.get(("xml", version_id), build)

    def element_names(self, version_id: int) -> dict[str, str]:
        """Names of the BPMN elements of a version's own file, by id."""
        def build() -> dict[str, str]:
            content = self.diagram_xml(version_id)
            if not content:
                return {}
            root = read_xml(content).getroot()
            return {e.get("id"): e.get("name") for e in root.iter() if isinstance(e.tag, str)
                    and e.get("id") and e.get("name")}

        return self._cache.get(("names", version_id), build)

    def element_states(self, instance_id: int) -> dict[str, dict]:
        """Per BPMN element of a case: ``state`` (incident, active, timer, message, done) with counts, the
        due time of a waiting timer and the incident message. Loads the instance's stored state once."""
        from SpiffWorkflow.util.task import TaskState

        with self.db.read() as session:
            instance = session.get(ProcessInstance, instance_id)
            if instance is None:
                raise NotFound(f"no instance {instance_id}")
            workflow = self.runtime.load(session, instance)
            jobs = [] if TimerJob is None else session.execute(
                select(TimerJob).where(TimerJob.instance_id == instance_id).order_by(TimerJob.due_at)).scalars().all()
            incidents = session.execute(select(Incident).where(Incident.instance_id == instance_id,
                                                               Incident.resolved_at.is_(None))).scalars().all() \
                if hasattr(Incident, "resolved_at") else session.execute(
                select(Incident).where(Incident.instance_id == instance_id)).scalars().all()
        states: dict[str, dict] = {}

        def note(element_id: str | None, kind: str) -> dict | None:
            if not element_id:
                return None
            entry = states.setdefault(element_id, {"done": 0, "active": 0, "waiting": 0})
            entry[kind] = entry.get(kind, 0) + 1
            return entry

        tasks = list(workflow.tasks.values())
        for sub in workflow.subprocesses.values():
            tasks.extend(sub.tasks.values())
        for task in tasks:
            spec = task.task_spec
            element_id = getattr(spec, "bpmn_id", None)
            if not element_id:
                continue
            if task.state == TaskState.COMPLETED:
                note(element_id, "done")
            elif task.state in (TaskState.READY, TaskState.STARTED):
                note(element_id, "active")
            elif task.state == TaskState.WAITING:
                if getattr(spec, "event_definition", None) is not None:
                    note(element_id, "waiting")
                elif workflow.subprocesses.get(task.id) is not None:
                    note(element_id, "active")
            elif task.state == TaskState.ERROR:
                note(element_id, "error")
        for job in jobs:
            entry = note(job.element_id, "timers")
            if entry is not None and "due_at" not in entry:
                entry["due_at"] = job.due_at.isoformat()
        for incident in incidents:
            entry = note(incident.element_id, "incidents")
            if entry is not None:
                entry["incident"] = f"{incident.error_type}: {incident.message}"
        for entry in states.values():
            if entry.get("incidents") or entry.get("error"):
                entry["state"] = "incident"
            elif entry["active"]:
                entry["state"] = "active"
            elif entry.get("timers"):
                entry["state"] = "timer"
            elif entry["waiting"]:
                entry["state"] = "waiting"
            else:
                entry["state"] = "done"
        return states


# ---------------------------------------------------------------------------------------------------------
# helpers

def _link_uploads(session: Session, audit, user: str, ids: list[str], instance_id: int, task_id: str | None) -> int:
    if not ids:
        return 0
    rows = session.execute(select(Attachment).where(Attachment.id.in_(ids), Attachment.uploaded_by == user,
                                                    Attachment.instance_id.is_(None))).scalars().all()
    for row in rows:
        row.instance_id = instance_id
        row.task_id = row.task_id or task_id
    if rows:
        audit.record("attachments_linked", user, instance_id, task_id,
                     attachments=[r.id for r in rows], files=[r.file_name for r in rows])
    return len(rows)


def _drop_draft(session: Session, task_key: str, user: str) -> None:
    session.execute(delete(TaskDraft).where(TaskDraft.task_key == task_key, TaskDraft.username == user))


def _admits(info: dict, user: str, groups: set[str]) -> bool:
    return contracts.StartFacts(tuple(info["starter_groups"]), tuple(info["starter_users"])).admits(user, groups)


def _sniff(content: bytes) -> str | None:
    for content_type, (magics, _extensions) in ATTACHMENT_TYPES.items():
        if any(content.startswith(magic) for magic in magics):
            return content_type
    return None


def _safe_file_name(name: str, extension: str) -> str:
    base = os.path.basename(str(name or "").replace("\\", "/"))
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"/\\|?*').strip(" .")
    if not cleaned:
        cleaned = "attachment" + extension
    return cleaned[-120:]


def _attachment_dict(row: Attachment) -> dict:
    return {"attachment_id": row.id, "instance_id": row.instance_id, "task_id": row.task_id, "field": row.field,
            "file_name": row.file_name, "content_type": row.content_type, "size": row.size, "sha256": row.sha256,
            "uploaded_by": row.uploaded_by, "uploaded_at": row.uploaded_at.isoformat()}
