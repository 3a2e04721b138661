"""Bulk operations for administrators: a batch runs one registered operation (``engine.jobs.batches``) over a set
of cases chosen by id or by a filter, worked by the job executor's workers.

Every channel (the command line, REST, the admin pages) goes through here, and every method checks first that the
user is an active administrator (``admins``; ``Forbidden`` otherwise). Creating a batch checks its operation's
parameters and reason by the operation's own rules, resolves the cases *once* (the count the confirmation named
is the set that runs, however the cases change meanwhile) and records ``batch_created`` in the audit log;
``preview`` is the same without writing, for the confirmation. Cancelling skips every item not done yet
(``batch_cancelled``). Progress counts the items by status, with the rate so far and the time left; the report
lists each case's outcome and reason, also as CSV for a spreadsheet.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime

from engine.audit.chain import AuditLog
from engine.casework.cases import case_filters
from engine.casework.listing import CaseQuery
from engine.errors import InvalidInput, NotFound
from engine.i18n import translate
from engine.identity import roles
from engine.jobs import batches as batch_ops
from engine.runtime.commands import Runtime
from engine.runtime.context import CommandContext
from engine.store import Session
from engine.store import batches as rows
from engine.store import casework as cases
from engine.store.db import Database
from engine.store.models import Batch, BatchItem
from engine.time import clock

MAX_ITEMS = 100_000  # cases in one batch
FILTER_KEYS = ("process", "process_id", "version", "status", "business_key", "waiting_at", "street", "department",
               "overdue", "from", "to", "q", "with_incident")
FILTER_ALIASES = {"process_id": "process"}
CANCELLED_REASON = "cancelled"
STATUS_LABELS = {"queued": "排队中", "running": "执行中", "done": "已完成", "cancelled": "已取消",
                 "pending": "待处理", "locked": "处理中", "skipped": "已跳过", "failed": "失败"}


def require_admin(session: Session, user: str) -> None:
    """``Forbidden`` unless ``user`` is an active administrator."""
    roles.require(session, user, roles.ADMINS, "run bulk operations")


def require_reader(session: Session, user: str | None) -> None:
    """Reading batches is for administrators; ``None`` is the command line on the server, which reads them as it
    reads every other record (``whistle incidents``, ``whistle jobs``)."""
    if user is not None:
        require_admin(session, user)


def check_filter(value: object) -> dict:
    """A case filter as a batch takes it: the parameters of the case search (案件管理, ``whistle instances``:
    ``process``, ``version``, ``status``, ``business_key``, ``waiting_at``, ``street``, ``department``,
    ``overdue``, ``from``, ``to``, ``q``), checked by ``engine.casework.listing.CaseQuery`` (InvalidInput naming
    the key). ``process_id`` is taken for ``process`` and ``with_incident: true`` for ``status: with_incident``."""
    if not isinstance(value, dict) or not value:
        raise InvalidInput("filter must be a JSON object with at least one of: " + ", ".join(FILTER_KEYS))
    clean: dict = {}
    for key, given in value.items():
        if key not in FILTER_KEYS:
            raise InvalidInput(f"filter has an unknown key '{key}'; known: {', '.join(FILTER_KEYS)}")
        if given is None or given is False and key == "with_incident":
            continue
        if isinstance(given, (dict, list)) or (isinstance(given, bool) and key not in ("overdue", "with_incident")):
            raise InvalidInput(f"filter '{key}' must be text or a number")
        clean[key] = given
    case_query(clean)  # refused here, before anything is selected
    return clean


def case_query(clean: dict) -> CaseQuery:
    """The case search a checked batch filter stands for."""
    args = {FILTER_ALIASES.get(key, key): ("true" if value is True else str(value)) for key, value in clean.items()
            if key != "with_incident"}
    if clean.get("with_incident"):
        if args.get("status") not in (None, "with_incident"):
            raise InvalidInput("filter: with_incident and a status cannot be combined")
        args["status"] = "with_incident"
    return CaseQuery.from_args(args)


def _check_ids(value: object) -> list[int]:
    if not isinstance(value, list) or not value:
        raise InvalidInput("instance_ids must be a non-empty list of case ids")
    ids: list[int] = []
    for given in value:
        if isinstance(given, bool) or not isinstance(given, int) or given <= 0:
            raise InvalidInput(f"instance_ids: '{given}' is not a case id")
        ids.append(given)
    return list(dict.fromkeys(ids))


def _seconds(later: datetime, earlier: datetime) -> float:
    return max(0.0, (later - earlier).total_seconds())


def batch_dict(batch: Batch, counts: dict[str, int], now: datetime, last_finished: datetime | None = None) -> dict:
    """A batch with its progress: counts by item status, the share finished, the rate so far, the time left."""
    done, skipped, failed = (counts.get(s, 0) for s in (rows.DONE, rows.SKIPPED, rows.FAILED))
    locked = counts.get(rows.LOCKED, 0)
    pending = counts.get(rows.PENDING, 0) + locked
    finished = done + skipped + failed
    rate = eta = None
    if batch.started_at is not None and finished:
        end = now if pending else (last_finished or batch.finished_at or now)
        elapsed = _seconds(end, batch.started_at)
        if elapsed > 0:
            rate = round(finished / elapsed, 2)
            eta = round(pending / rate, 1) if pending and rate else (0.0 if not pending else None)
    operation = _label(batch.operation)
    return {"batch_id": batch.id, "operation": batch.operation, "operation_label": operation,
            "params": batch.params or {}, "filter": batch.filter, "reason": batch.reason, "actor": batch.actor,
            "created_at": batch.created_at.isoformat(), "status": batch.status,
            "status_label": STATUS_LABELS.get(batch.status, batch.status),
            "started_at": batch.started_at.isoformat() if batch.started_at else None,
            "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
            "cancelled_by": batch.cancelled_by, "total": batch.total, "done": done, "skipped": skipped,
            "failed": failed, "pending": pending, "locked": locked, "finished": finished,
            "percent": round(100 * finished / batch.total, 1) if batch.total else 100.0,
            "rate_per_second": rate, "eta_seconds": eta}


def item_dict(item: BatchItem, process_id: str, case_status: str) -> dict:
    return {"item_id": item.id, "instance_id": item.instance_id, "process_id": process_id,
            "case_status": case_status, "status": item.status,
            "status_label": STATUS_LABELS.get(item.status, item.status), "reason": item.reason,
            "attempts": item.attempts, "worker": item.lock_owner,
            "finished_at": item.finished_at.isoformat() if item.finished_at else None}


def _label(name: str) -> str:
    try:
        return batch_ops.operation(name).label
    except InvalidInput:
        return name


class Batches:
    """The administrators' batches: operations, preview, create, list, show, items, report, cancel."""

    def __init__(self, db: Database, runtime: Runtime) -> None:
        self.db, self.runtime = db, runtime

    def operations(self, user: str | None) -> list[dict]:
        """The operations a batch may run: name, Chinese label, whether a reason is required (``None``: the server's
        command line, see ``require_reader``)."""
        with self.db.read() as session:
            require_reader(session, user)
        return [{"operation": o.name, "label": o.label, "reason_required": o.reason_required}
                for o in batch_ops.operations()]

    def _selection(self, session: Session, instance_ids: object, filter: object) -> tuple[list[int], dict]:
        """The cases chosen (in order, without repeats) and the selection as the batch keeps it."""
        if (instance_ids is None) == (filter is None):
            raise InvalidInput("choose the cases either by instance_ids or by a filter (one of the two)")
        if instance_ids is not None:
            ids = _check_ids(instance_ids)
            if len(ids) > MAX_ITEMS:
                raise InvalidInput(f"a batch holds at most {MAX_ITEMS} cases; {len(ids)} were given")
            known = rows.existing_instances(session, ids)
            missing = [i for i in ids if i not in known]
            if missing:
                shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
                raise NotFound(f"no case {shown}; nothing was created")
            return ids, {"instance_ids": ids}
        clean = check_filter(filter)
        ids = cases.visible_case_ids(session, None, limit=MAX_ITEMS + 1, **case_filters(case_query(clean)))
        if len(ids) > MAX_ITEMS:
            raise InvalidInput(f"the filter selects more than {MAX_ITEMS} cases; narrow it down")
        return ids, clean

    def preview(self, user: str, operation: str, *, instance_ids: object = None, filter: object = None,
                params: dict | None = None, reason: str | None = None) -> dict:
        """What ``create`` would do, without doing it: the operation and the number of cases (the confirmation
        "将对 N 个案件执行 X，确认？")."""
        chosen = batch_ops.operation(operation)
        with self.db.read() as session:
            require_admin(session, user)
            clean, reason = chosen.check(params, reason, final=False)
            ids, selection = self._selection(session, instance_ids, filter)
        return {"operation": chosen.name, "operation_label": chosen.label, "count": len(ids), "params": clean,
                "reason_required": chosen.reason_required,
                "reason": reason, "filter": selection, "instance_ids": ids[:1000]}

    def create(self, user: str, operation: str, *, instance_ids: object = None, filter: object = None,
               params: dict | None = None, reason: str | None = None, expected_count: int | None = None) -> dict:
        """Create a queued batch: one item per case. ``expected_count``: the count a confirmation named; a
        selection that has changed size since is refused (``InvalidInput``), so nobody confirms one number and
        runs another."""
        chosen = batch_ops.operation(operation)
        ctx = CommandContext("batch create", user)

        def work(session: Session, audit: AuditLog) -> dict:
            require_admin(session, user)
            clean, checked_reason = chosen.check(params, reason)
            ids, selection = self._selection(session, instance_ids, filter)
            if not ids:
                raise InvalidInput("the selection holds no case; nothing was created")
            if expected_count is not None and expected_count != len(ids):
                raise InvalidInput(f"the selection now holds {len(ids)} cases, not the {expected_count} confirmed; "
                                   f"nothing was created")
            now = clock.now()
            batch = rows.create(session, operation=chosen.name, params=clean, filter=selection,
                                reason=checked_reason, actor=user, now=now, instance_ids=ids)
            audit.record("batch_created", user, batch_id=batch.id, operation=chosen.name, count=len(ids),
                         reason=checked_reason, params=clean,
                         filter={k: v for k, v in selection.items() if k != "instance_ids"} or None)
            return batch_dict(batch, {rows.PENDING: len(ids)}, now)

        return self.runtime.run_command(ctx, work)

    def cancel(self, user: str, batch_id: int) -> dict:
        """Skip every item of the batch not done yet ("cancelled"); what was done stays done."""
        ctx = CommandContext("batch cancel", user)

        def work(session: Session, audit: AuditLog) -> dict:
            require_admin(session, user)
            batch = rows.get(session, batch_id, lock=True)
            if batch is None:
                raise NotFound(f"no batch {batch_id}")
            if batch.status in ("done", "cancelled"):
                raise InvalidInput(f"batch {batch_id} is {batch.status} already; nothing to cancel")
            now = clock.now()
            skipped = rows.cancel(session, batch, user, now, CANCELLED_REASON)
            audit.record("batch_cancelled", user, batch_id=batch.id, operation=batch.operation, skipped=skipped)
            session.flush()
            return {**batch_dict(batch, rows.counts(session, [batch.id])[batch.id], now), "cancelled": skipped}

        return self.runtime.run_command(ctx, work)

    def listing(self, user: str | None, limit: int = 50, offset: int = 0) -> list[dict]:
        """The newest batches first, each with its progress."""
        with self.db.read() as session:
            require_reader(session, user)
            batches = rows.listing(session, limit, offset)
            counts = rows.counts(session, [b.id for b in batches])
            now = clock.now()
            return [batch_dict(b, counts[b.id], now) for b in batches]

    def show(self, user: str | None, batch_id: int) -> dict:
        """One batch and its progress."""
        with self.db.read() as session:
            require_reader(session, user)
            batch = self._batch(session, batch_id)
            return batch_dict(batch, rows.counts(session, [batch.id])[batch.id], clock.now(),
                              rows.last_finished_at(session, batch.id))

    def items(self, user: str | None, batch_id: int, status: str | None = None, limit: int | None = 200,
              offset: int = 0) -> list[dict]:
        """The report: each case of the batch with its outcome and reason, in order."""
        if status is not None and status not in (rows.PENDING, rows.LOCKED, rows.DONE, rows.SKIPPED, rows.FAILED):
            raise InvalidInput(f"status '{status}' is not one of pending, locked, done, skipped, failed")
        with self.db.read() as session:
            require_reader(session, user)
            self._batch(session, batch_id)
            return [item_dict(item, process_id, case_status)
                    for item, process_id, case_status in rows.items(session, batch_id, status, limit, offset)]

    def report_csv(self, user: str | None, batch_id: int, lang: str = "zh") -> str:
        """The report as CSV text, starting with a UTF-8 byte order mark so that spreadsheets read the Chinese."""
        items = self.items(user, batch_id, limit=None)
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out, lineterminator="\r\n")
        header = ("案件", "流程", "结果", "原因", "尝试次数", "完成时间", "工作进程")
        writer.writerow([translate(h, lang) for h in header])
        for item in items:
            writer.writerow([item["instance_id"], item["process_id"], translate(item["status_label"], lang),
                             item["reason"] or "", item["attempts"], item["finished_at"] or "", item["worker"] or ""])
        return out.getvalue()

    @staticmethod
    def _batch(session: Session, batch_id: int) -> Batch:
        batch = rows.get(session, batch_id)
        if batch is None:
            raise NotFound(f"no batch {batch_id}")
        return batch
