"""A clerk's inbox: its tabs (claimed by me, offered to me or my groups, done by me) with their filters and
counts, the fingerprint the pages poll, and what each item shows beside its task (its case, what this task is
about — its subject —, the case's other open tasks, its next timer, what its form asks)."""
from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta

from engine.casework.listing import DEADLINES, InboxQuery, day_range
from engine.casework.people import account_groups
from engine.casework.summaries import case_summary
from engine.casework.versions import VersionFacts
from engine.errors import InvalidInput
from engine.store import Session
from engine.store import casework as stored
from engine.store import inbox as stored_inbox
from engine.store.db import Database
from engine.store.models import HumanTask
from engine.time import clock, workdays

VIEWS = stored_inbox.VIEWS


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


def due_filter(deadline: str, now: datetime) -> tuple[str, datetime | None]:
    """A deadline filter (``DEADLINES``) as ``engine.store.inbox.view_page`` takes it: no due time, overdue, or
    due before the end of today or of this week (Monday to Sunday, in the calendars' time zone)."""
    if deadline not in DEADLINES:
        raise InvalidInput(f"unknown deadline filter '{deadline}' (use {', '.join(DEADLINES)})")
    if deadline == "none":
        return "none", None
    if deadline == "overdue":
        return "overdue", now
    local = now.astimezone(workdays.timezone())
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = midnight + timedelta(days=1) if deadline == "today" else midnight + timedelta(days=7 - local.weekday())
    return "before", end


class Worklist:
    """The staff inbox."""

    def __init__(self, db: Database, versions: VersionFacts) -> None:
        self.db, self.versions = db, versions

    def inbox(self, user: str, view: str | None = None, *, process_id: str | None = None, tier: str | None = None,
              street: str | None = None, department: str | None = None, deadline: str | None = None,
              created_from: date | None = None, created_to: date | None = None, sort: str | None = None,
              text: str | None = None, limit: int = 50, offset: int = 0) -> dict:
        """One tab of a user's inbox (``inbox_page`` with these filters, checked by ``InboxQuery``)."""
        query = InboxQuery(view=view, process_id=process_id, tier=tier, street=street, department=department,
                           deadline=deadline, created_from=created_from, created_to=created_to, sort=sort,
                           text=text.strip() or None if text else None)
        return self.inbox_page(user, query, limit=limit, offset=offset)

    def inbox_page(self, user: str, query: InboxQuery, *, limit: int = 50, offset: int = 0) -> dict:
        """One tab of a user's inbox: ``mine`` (claimed by me), ``group`` (offered to me or my groups, unclaimed)
        or ``done`` (completed by me); with no tab asked for, the one that holds work (mine, else group, else
        mine). Filters: process, tier (case data ``tier``), street and department (``human_task.street`` /
        ``.department``), deadline (overdue, today, week, none), created from / to (days in the calendars' time
        zone) and free text; sorted by deadline (done: newest first) or as ``query.sort`` asks.

        ``counts``: the open tabs' and ``done``'s sizes, unfiltered; ``total``: the tab's size under the
        filters (a COUNT); ``more``: whether a page follows this one."""
        if limit < 1 or offset < 0:
            raise InvalidInput("limit must be at least 1 and offset at least 0")
        now = clock.now()
        with self.db.read() as session:
            groups = account_groups(session, user)
            counts = {v: stored_inbox.view_count(session, v, user, groups) for v in VIEWS}
            view = query.view or ("group" if not counts["mine"] and counts["group"] else "mine")
            filters = {"process_id": query.process_id, "tier": query.tier, "street": query.street,
                       "department": query.department,
                       "due": due_filter(query.deadline, now) if query.deadline else None,
                       "created": day_range(query.created_from, query.created_to),
                       "text_match": stored.text_match(query.text) if query.text else None}
            rows = stored_inbox.view_page(session, view, user, groups, sort=query.sort, limit=limit + 1,
                                          offset=offset, **filters)
            more = len(rows) > limit
            rows = rows[:limit]
            if not query.filtered:
                total = counts[view]
            elif not rows and offset == 0:
                total = 0
            else:
                total = stored_inbox.view_total(session, view, user, groups, **filters)
            return {"view": view, "chosen": query.view is None, "tasks": self.items(session, rows, now),
                    "counts": counts, "total": total, "more": more, "now": now.isoformat(),
                    "sort": query.sort or ("newest" if view == "done" else "deadline")}

    def digest(self, user: str) -> dict:
        """A small fingerprint of the open work offered to or claimed by a user, for polling."""
        now = clock.now()
        with self.db.read() as session:
            rows = stored_inbox.open_work(session, user, account_groups(session, user))
        # A task that becomes overdue changes the fingerprint too, so the badge turns without a reload.
        parts = [f"{task_id}:{assignee or ''}:{int(due is not None and due < now)}" for task_id, assignee, due in rows]
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
        return {"digest": digest, "open": len(rows)}

    def workable_tasks(self, user: str, instance_id: int) -> set[str]:
        """Open tasks of a case that the user may work on now (claimed by them, or offered and unclaimed)."""
        with self.db.read() as session:
            return stored_inbox.workable_task_ids(session, user, account_groups(session, user), instance_id)

    def items(self, session: Session, rows: list[HumanTask], now: datetime) -> list[dict]:
        """Inbox items of these tasks: each with its case, the case's other open tasks, its next timer and
        what its form asks (three queries for the page, whatever its length)."""
        if not rows:
            return []
        instance_ids = sorted({r.instance_id for r in rows})
        instances = stored.instances_by_id(session, instance_ids)
        others = stored.open_tasks_of(session, instance_ids)
        candidates = stored.candidate_groups(session, [r.id for r in rows] + [o.id for o in others])
        timers = stored.next_timers(session, instance_ids)
        items = []
        for row in rows:
            involved = [{"task_id": other.id, "name": other.name, "assignee": other.assignee,
                         "groups": sorted(candidates.get(other.id, [])),
                         "subject": self.versions.subject(other.version_id, other.form_key, other.subject)}
                        for other in others if other.instance_id == row.instance_id and other.id != row.id]
            job = timers.get(row.instance_id)
            next_timer = None
            if job is not None:
                names = self.versions.element_names(job.version_id)
                next_timer = {"element_id": job.element_id, "name": names.get(job.element_id) or job.element_id,
                              "due_at": job.due_at.isoformat(), "overdue": job.due_at <= now}
            items.append({
                "task_id": row.id, "instance_id": row.instance_id, "process_id": row.process_id, "name": row.name,
                "version_id": row.version_id,
                "subject": self.versions.subject(row.version_id, row.form_key, row.subject),
                "element_id": row.element_id, "documentation": row.documentation, "form_key": row.form_key,
                "status": row.status, "assignee": row.assignee, "priority": row.priority,
                "suspended": row.suspended,  # its case is suspended: the item reads 已挂起 (engine.runtime.lifecycle)
                "street": row.street, "department": row.department,
                "candidate_groups": sorted(candidates.get(row.id, [])),
                "created_at": row.created_at.isoformat(), "due_at": row.due_at.isoformat() if row.due_at else None,
                "completed_at": row.completed_at.isoformat() if row.completed_at else None,
                "completed_by": row.completed_by,
                "deadline": deadline_state(row.due_at, row.created_at, now) if row.status == "open" else None,
                "case": case_summary(instances[row.instance_id], self.versions), "involved": involved,
                "next_timer": next_timer, "asks": self.versions.asks(row.version_id, row.form_key)})
        return items
