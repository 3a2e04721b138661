"""Cases as people read them: one case (``show``, its history, the case page) and the list of the cases a user
may see. Queries read projections; no stored instance is loaded here."""
from __future__ import annotations

from typing import Any

from engine.audit import chain as audit_log
from engine.casework import audiences
from engine.casework.attachments import attachment_dict
from engine.casework.listing import CaseQuery, day_range
from engine.casework.people import People, account_groups, see_all_groups
from engine.casework.summaries import case_summary, task_dicts
from engine.casework.versions import VersionFacts
from engine.errors import InvalidInput, NotFound
from engine.jobs import queries as timer_jobs
from engine.store import Session
from engine.store import casework as stored
from engine.store import management as stored_management
from engine.store.db import Database
from engine.store.models import DefinitionVersion, ProcessInstance
from engine.time import clock


class Cases:
    """One case, its history and page, and the case list."""

    def __init__(self, db: Database, people: People, versions: VersionFacts) -> None:
        self.db, self.people, self.versions = db, people, versions

    def show(self, instance_id: int) -> dict:
        """A case: its state and data, open tasks, incidents, the messages and timers it waits for, its audit."""
        with self.db.read() as session:
            instance, version = _instance_and_version(session, instance_id)
            return {
                "instance_id": instance.id, "status": instance.status, "process_id": instance.process_id,
                "version": version.version, "business_key": instance.business_key,
                "started_by": instance.started_by, "started_at": instance.started_at.isoformat(),
                "completed_at": instance.completed_at.isoformat() if instance.completed_at else None,
                "revision": instance.revision, "data": instance.data,
                "suspended": instance.status == "suspended", "terminated": instance.status == "terminated",
                "suspended_at": instance.suspended_at.isoformat() if instance.suspended_at else None,
                "suspended_by": instance.suspended_by, "suspended_reason": instance.suspended_reason,
                "terminated_by": instance.terminated_by, "terminated_reason": instance.terminated_reason,
                "open_tasks": task_dicts(session, stored.open_tasks_of_case(session, instance_id)),
                "incidents": [{"incident_id": i.id, "command": i.command, "element_id": i.element_id,
                               "task_id": i.task_id, "error": f"{i.error_type}: {i.message}",
                               "created_at": i.created_at.isoformat(),
                               "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None}
                              for i in stored_management.incidents(session, instance_id)],
                "messages": [{"message": m.message_name, "key": m.correlation_key, "element_id": m.element_id,
                              "since": m.created_at.isoformat()}
                             for m in stored.message_subscriptions(session, instance_id)],
                "timers": timer_jobs.instance_timers(session, instance_id, clock.now()),
                "audit": audit_log.events_for_instance(session, instance_id),
            }

    def history(self, instance_id: int) -> list[dict]:
        """The instance's audit events, oldest first (who did what when)."""
        with self.db.read() as session:
            if session.get(ProcessInstance, instance_id) is None:
                raise NotFound(f"no instance {instance_id}")
            return audit_log.events_for_instance(session, instance_id)

    def page(self, user: str, instance_id: int) -> dict:
        """Everything the case page shows, for a user who may see the case: ``show()`` plus the version id,
        title, tier, process name and the attachments — as the user's audience may read it (``audiences``)."""
        self.people.require_case(user, instance_id)
        return self._page(instance_id, user)

    def record_page(self, instance_id: int) -> dict:
        """The case page's content for the district audience (everything staff may read): what an operator of the
        command line, who holds the database, gets (``whistle dossier`` without ``--user``)."""
        return self._page(instance_id, None)

    def _page(self, instance_id: int, user: str | None) -> dict:
        shown = self.show(instance_id)
        with self.db.read() as session:
            instance, version = _instance_and_version(session, instance_id)
            summary = case_summary(instance, self.versions)
            summary["process_name"] = version.name or version.key
            shown["attachments"] = [attachment_dict(r) for r in stored.attachments_of(session, instance_id)]
            audience = "district" if user is None else \
                audiences.audience_of(user, account_groups(session, user), instance.started_by)
        shown.update({k: summary[k] for k in ("version_id", "title", "tier", "location", "process_name")})
        return audiences.visible_case(shown, self.versions.case_labels(instance.version_id), audience, user or "")

    def shown_to(self, user: str, instance_id: int) -> dict:
        """``show()`` for a reader who may see the case, as their audience may read it (the REST API)."""
        self.people.require_case(user, instance_id)
        shown = self.show(instance_id)
        with self.db.read() as session:
            instance, _version = _instance_and_version(session, instance_id)
            audience = audiences.audience_of(user, account_groups(session, user), instance.started_by)
        return audiences.visible_case(shown, self.versions.case_labels(instance.version_id), audience, user)

    def visible_to(self, user: str, *, text: str | None = None, status: str | None = None,
                   process_id: str | None = None, limit: int = 50, offset: int = 0) -> list[dict]:
        """The cases a user may see, newest first, with title, tier and open tasks."""
        with self.db.read() as session:
            groups = account_groups(session, user)
            involving = None if groups & see_all_groups() else (user, groups)
            rows = stored.visible_cases(session, involving, text=text, status=status, process_id=process_id,
                                        limit=limit, offset=offset)
            open_tasks = stored.open_task_names(session, [r.id for r in rows])
            names = stored.version_names(session, {r.version_id for r in rows})
            return [{**case_summary(r, self.versions), "process_name": names.get(r.version_id) or r.process_id,
                     "open_tasks": open_tasks.get(r.id, [])} for r in rows]

    def case_list(self, user: str, query: CaseQuery, *, limit: int = 50, offset: int = 0) -> dict:
        """A page of the cases a user may see under a checked query (``CaseQuery``): ``cases`` (as
        ``visible_to`` gives them), ``total`` (a COUNT under the same filters) and ``more`` (a page follows)."""
        if limit < 1 or offset < 0:
            raise InvalidInput("limit must be at least 1 and offset at least 0")
        filters = case_filters(query)
        with self.db.read() as session:
            groups = account_groups(session, user)
            involving = None if groups & see_all_groups() else (user, groups)
            rows = stored.visible_cases(session, involving, sort=query.sort, limit=limit + 1, offset=offset,
                                        **filters)
            more = len(rows) > limit
            rows = rows[:limit]
            if not rows and offset == 0:
                total = 0
            elif not more and offset == 0:
                total = len(rows)
            else:
                total = stored.visible_count(session, involving, **filters)
            open_tasks = stored.open_task_names(session, [r.id for r in rows])
            names = stored.version_names(session, {r.version_id for r in rows})
            cases = [{**case_summary(r, self.versions), "process_name": names.get(r.version_id) or r.process_id,
                      "open_tasks": open_tasks.get(r.id, [])} for r in rows]
        return {"cases": cases, "total": total, "more": more, "sort": query.sort or "newest"}


def case_filters(query: CaseQuery) -> dict[str, Any]:
    """A checked query as the filters of ``engine.store.casework.visible_cases`` and ``visible_count``."""
    return {"text": query.text, "status": query.status, "process_id": query.process_id, "version": query.version,
            "business_key": query.business_key, "waiting_at": query.waiting_at, "street": query.street,
            "department": query.department, "overdue_at": clock.now() if query.overdue else None,
            "started": day_range(query.started_from, query.started_to), "facts": facts_filters(query)}


def facts_filters(query: CaseQuery) -> dict[str, Any] | None:
    """The dashboards' filters of a query (``engine.store.facts.facts_clauses``), None without any."""
    given = {"tier": query.tier, "category": query.category, "whistled": query.whistled or None,
             "resolved": query.resolved or None, "rated": query.rated or None, "satisfied": query.satisfied or None,
             "obligation": query.obligation, "outcome": query.outcome}
    if not any(v is not None for v in given.values()):
        return None
    return {**given, "now": clock.now(), "party": query.department}


def _instance_and_version(session: Session, instance_id: int) -> tuple[ProcessInstance, DefinitionVersion]:
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"no instance {instance_id}")
    version = session.get(DefinitionVersion, instance.version_id)
    assert version is not None  # an instance's version (a foreign key)
    return instance, version
