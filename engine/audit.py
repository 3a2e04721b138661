"""The audit log (一次一留痕): append-only rows, each hashing its content and the previous row's hash.

Appends are serialised so the chain has no forks: on PostgreSQL by a transaction-scoped advisory lock
(taken as late as possible, just before the rows are written), on SQLite by the write transaction itself.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from . import clock
from .models import AuditEvent

GENESIS = "0" * 64
_ADVISORY_LOCK_KEY = 0x5748_4953  # "WHIS"


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def row_hash(prev_hash: str, at: datetime, event_type: str, actor: str | None, instance_id: int | None,
             task_id: str | None, details: str) -> str:
    payload = canonical_json([prev_hash, at.isoformat(), event_type, actor, instance_id, task_id, details])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class PendingEvent:
    event_type: str
    actor: str | None
    instance_id: int | None = None
    task_id: str | None = None
    details: dict | None = None


class AuditLog:
    """Collects a command's events and writes them, chained, when the command is about to commit."""

    def __init__(self) -> None:
        self.pending: list[PendingEvent] = []

    def record(self, event_type: str, actor: str | None, instance_id: int | None = None,
               task_id: str | None = None, **details) -> None:
        self.pending.append(PendingEvent(event_type, actor, instance_id, task_id, details))

    def flush(self, session: Session) -> None:
        if not self.pending:
            return
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
        last = session.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
        prev = last or GENESIS
        at = clock.now()
        rows = []
        for event in self.pending:
            details = canonical_json(event.details or {})
            digest = row_hash(prev, at, event.event_type, event.actor, event.instance_id, event.task_id, details)
            rows.append({"at": at, "event_type": event.event_type, "actor": event.actor,
                         "instance_id": event.instance_id, "task_id": event.task_id, "details": details,
                         "prev_hash": prev, "hash": digest})
            prev = digest
        session.flush()  # the rows these events refer to are written first
        session.execute(insert(AuditEvent), rows)  # one batched statement, ids in chain order
        self.pending.clear()


@dataclass
class VerifyReport:
    ok: bool
    rows: int
    first_bad_id: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return {"ok": self.ok, "rows": self.rows, "first_bad_id": self.first_bad_id, "reason": self.reason}


def verify(session: Session, batch: int = 5000) -> VerifyReport:
    prev = GENESIS
    count = 0
    last_id = 0
    while True:
        rows = session.execute(select(AuditEvent).where(AuditEvent.id > last_id)
                               .order_by(AuditEvent.id).limit(batch)).scalars().all()
        if not rows:
            return VerifyReport(True, count)
        for row in rows:
            count += 1
            if row.prev_hash != prev:
                return VerifyReport(False, count, row.id, "its link to the previous row is broken "
                                                          "(a row before it was changed, removed or inserted)")
            expected = row_hash(row.prev_hash, row.at, row.event_type, row.actor, row.instance_id,
                                row.task_id, row.details)
            if expected != row.hash:
                return VerifyReport(False, count, row.id, "its content does not match its hash (the row was modified)")
            prev = row.hash
            last_id = row.id
        session.expunge_all()


def events_for_instance(session: Session, instance_id: int) -> list[dict]:
    rows = session.execute(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                           .order_by(AuditEvent.id)).scalars()
    return [{"id": r.id, "at": r.at.isoformat(), "event": r.event_type, "actor": r.actor,
             "task_id": r.task_id, "details": json.loads(r.details)} for r in rows]
