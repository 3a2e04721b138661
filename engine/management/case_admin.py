"""Administrators keep cases flowing (issue 16): find any case, and suspend, resume or terminate one with a written
reason. Only accounts in the group ``admins`` may — every channel (pages, REST, CLI ``--user``) goes through
``require_admin`` here, as uploads go through ``Management._require_designer``.

The search is ``engine.store.casework.visible_cases`` over every case with a checked ``CaseQuery``
(``engine.casework.listing``): each filter a range of an index, newest first, a page with its total. The
commands are the runtime's (``engine.runtime.lifecycle``) and answer a small dict per case, so a batch runs them
one case at a time.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from engine.casework.cases import case_filters
from engine.casework.listing import CaseQuery
from engine.casework.summaries import case_summary
from engine.casework.versions import VersionFacts
from engine.errors import InvalidInput
from engine.identity import roles
from engine.runtime.commands import Runtime
from engine.store import Session
from engine.store import casework as stored
from engine.store.db import Database
from engine.store.models import ProcessInstance

MAX_PAGE = 500  # rows on one page of a search
COUNT_CAP = 2_000  # the search counts its matches exactly up to here, then says 2000+ (bench/case_search.py)
EXPORT_LIMIT = 100_000  # rows in one export: past it, narrow the filters
EXPORT_BATCH = 500
EXPORT_COLUMNS = (("instance_id", "案件编号 instance"), ("process_id", "流程 process"), ("version", "版本 version"),
                  ("status", "状态 status"), ("business_key", "业务编号 business key"), ("title", "标题 title"),
                  ("street", "街道 street"), ("department", "部门 department"), ("waiting_at", "等待环节 waiting at"),
                  ("open_tasks", "待办任务 open tasks"), ("started_by", "发起人 started by"),
                  ("started_at", "发起时间 started at"), ("completed_at", "结束时间 ended at"),
                  ("open_incidents", "未解决故障 open incidents"), ("suspended_reason", "挂起原因 suspended because"),
                  ("terminated_reason", "终止原因 terminated because"))


class CaseAdmin:
    """Finding every case, and an administrator's hold and end of one."""

    def __init__(self, db: Database, runtime: Runtime, versions: VersionFacts) -> None:
        self.db, self.runtime, self.versions = db, runtime, versions

    def is_admin(self, actor: str) -> bool:
        """Is ``actor`` an active account in the group ``admins``?"""
        with self.db.read() as session:
            return roles.is_member(session, actor, roles.ADMINS)

    def require_admin(self, actor: str, action: str = "find, suspend, resume or terminate cases") -> None:
        """Only administrators (group ``admins``, an active account) may; ``Forbidden`` names who and what."""
        with self.db.read() as session:
            roles.require(session, actor, roles.ADMINS, action)

    # -- finding cases --------------------------------------------------------------------------------------

    def search(self, actor: str, query: CaseQuery, *, limit: int = 50, page: int = 1) -> dict:
        """A page of every case under ``query``: ``instances`` (newest first unless ``query.sort`` says),
        ``total`` under the same filters, ``page``, ``limit``, ``more``."""
        self.require_admin(actor)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be a whole number from 1 to {MAX_PAGE}, got {limit!r}")
        if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= 10**7:
            raise InvalidInput(f"page must be a whole number from 1, got {page!r}")
        filters = case_filters(query)
        with self.db.read() as session:
            rows = stored.visible_cases(session, None, sort=query.sort, limit=limit + 1, offset=(page - 1) * limit,
                                        **filters)
            more = len(rows) > limit
            rows = rows[:limit]
            if page == 1 and not more:
                total = len(rows)
            else:  # exact up to COUNT_CAP, past it "more than": a total of a million costs a full count otherwise
                total = stored.visible_count(session, None, at_most=max(COUNT_CAP, page * limit), **filters)
            found = self._rows(session, rows)
        capped = total > max(COUNT_CAP, page * limit)
        if capped:
            total -= 1
        return {"instances": found, "total": total, "total_capped": capped, "page": page, "limit": limit,
                "more": more,
                "sort": query.sort or "newest", "filters": query.args()}

    def export_rows(self, actor: str, query: CaseQuery) -> Iterator[dict]:
        """Every case under ``query`` as ``search`` gives its rows, read in batches; refused past
        ``EXPORT_LIMIT``."""
        self.require_admin(actor)
        filters = case_filters(query)
        with self.db.read() as session:
            total = stored.visible_count(session, None, **filters)
        if total > EXPORT_LIMIT:
            raise InvalidInput(f"the filters match {total} cases; an export takes at most {EXPORT_LIMIT} "
                               f"(narrow the filters: process, status, dates)")
        return self._export(query, filters)

    def _export(self, query: CaseQuery, filters: dict) -> Iterator[dict]:
        offset = 0
        while True:
            with self.db.read() as session:
                rows = stored.visible_cases(session, None, sort=query.sort, limit=EXPORT_BATCH, offset=offset,
                                            **filters)
                found = self._rows(session, rows)
            yield from found
            if len(rows) < EXPORT_BATCH:
                return
            offset += EXPORT_BATCH

    def export_csv(self, actor: str, query: CaseQuery) -> str:
        """The export as CSV text with a UTF-8 byte order mark (so Excel opens the Chinese right), a header
        row in Chinese and English, one row per case."""
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out)
        writer.writerow([label for _, label in EXPORT_COLUMNS])
        for row in self.export_rows(actor, query):
            writer.writerow([_cell(row.get(key)) for key, _ in EXPORT_COLUMNS])
        return out.getvalue()

    def _rows(self, session: Session, rows: list[ProcessInstance]) -> list[dict]:
        ids = [r.id for r in rows]
        waiting = stored.waiting_elements(session, ids)
        open_tasks = stored.open_task_names(session, ids)
        incidents = stored.open_incident_counts(session, ids)
        numbers = stored.version_numbers(session, {r.version_id for r in rows})
        names = stored.version_names(session, {r.version_id for r in rows})
        return [{**case_summary(r, self.versions), "version": numbers.get(r.version_id),
                 "process_name": names.get(r.version_id) or r.process_id, "street": r.street,
                 "department": r.department, "waiting_at": waiting.get(r.id, []),
                 "open_tasks": open_tasks.get(r.id, []), "open_incidents": incidents.get(r.id, 0),
                 "suspended_at": r.suspended_at.isoformat() if r.suspended_at else None,
                 "suspended_by": r.suspended_by, "suspended_reason": r.suspended_reason,
                 "terminated_by": r.terminated_by, "terminated_reason": r.terminated_reason} for r in rows]

    # -- suspend, resume, terminate (engine.runtime.lifecycle) -------------------------------------------

    def suspend(self, instance_id: int, reason: object, actor: str) -> dict:
        self.require_admin(actor, "suspend cases")
        return self.runtime.suspend(instance_id, reason, actor)

    def resume(self, instance_id: int, actor: str, note: object = None) -> dict:
        self.require_admin(actor, "resume cases")
        return self.runtime.resume(instance_id, actor, note)

    def terminate(self, instance_id: int, reason: object, actor: str) -> dict:
        self.require_admin(actor, "terminate cases")
        return self.runtime.terminate(instance_id, reason, actor)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    text = str(value)
    # A cell that starts like a formula is read as text by spreadsheets (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
