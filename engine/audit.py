"""The audit log (一次一留痕): append-only rows, each hashing its content and the previous row's hash.

Every case has its own chain: a row's ``prev_hash`` is the hash of the previous row *of the same
instance*, and the instance row keeps the hash of its newest audit row (``audit_head``). Appends to a
case's chain are serialised by the instance row lock every command already holds, so commands on
different cases never wait for each other here. Events that belong to no case (deployments, accounts,
timer schedules) form the system chain, serialised on PostgreSQL by a transaction-scoped advisory lock and
on SQLite by the write transaction itself. Verification walks every chain and compares each case's last
row with its ``audit_head``, so a changed, inserted or removed row — even the newest — is detected.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from . import clock
from .models import AuditEvent, ProcessInstance

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
        session.flush()  # the rows these events refer to are written first
        heads: dict[int | None, str] = {}
        instances: dict[int, ProcessInstance] = {}
        for instance_id in dict.fromkeys(e.instance_id for e in self.pending):
            if instance_id is None:
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
                last = session.execute(select(AuditEvent.hash).where(AuditEvent.instance_id.is_(None))
                                       .order_by(AuditEvent.id.desc()).limit(1)).scalar()
                heads[None] = last or GENESIS
            else:
                instance = _locked_instance(session, instance_id)
                instances[instance_id] = instance
                heads[instance_id] = instance.audit_head or GENESIS
        session.execute(insert(AuditEvent), _chain(self.pending, heads))  # one batched statement, chain order
        for instance_id, instance in instances.items():
            # A plain UPDATE under the row lock: recording history is not a change of the case, so the
            # instance's optimistic revision stays as it is.
            session.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id)
                            .values(audit_head=heads[instance_id]).execution_options(synchronize_session=False))
            set_committed_value(instance, "audit_head", heads[instance_id])
        self.pending.clear()

    def take_chain(self, instance: ProcessInstance) -> tuple[list[dict], str | None]:
        """Take this instance's pending events as chained rows, for the caller to insert together with the
        instance's own write (``Runtime._write_step``); returns the rows and the instance's new chain head."""
        mine = [e for e in self.pending if e.instance_id == instance.id]
        heads = {instance.id: instance.audit_head or GENESIS}
        if not mine:
            return [], instance.audit_head
        self.pending = [e for e in self.pending if e.instance_id != instance.id]
        return _chain(mine, heads), heads[instance.id]


def _chain(events: list[PendingEvent], heads: dict[int | None, str]) -> list[dict]:
    """The rows for ``events``, each hashed onto the previous row of its chain; ``heads`` moves along."""
    at = clock.now()
    rows = []
    for event in events:
        details = canonical_json(event.details or {})
        prev = heads[event.instance_id]
        digest = row_hash(prev, at, event.event_type, event.actor, event.instance_id, event.task_id, details)
        rows.append({"at": at, "event_type": event.event_type, "actor": event.actor,
                     "instance_id": event.instance_id, "task_id": event.task_id, "details": details,
                     "prev_hash": prev, "hash": digest})
        heads[event.instance_id] = digest
    return rows


def _locked_instance(session: Session, instance_id: int) -> ProcessInstance:
    """The instance row, locked: already so when the command loaded it, else locked here."""
    instance = session.identity_map.get(identity_key(ProcessInstance, instance_id))
    if instance is None:
        instance = session.execute(select(ProcessInstance).where(ProcessInstance.id == instance_id)
                                   .with_for_update()).scalar_one()
    return instance


@dataclass
class VerifyReport:
    ok: bool
    rows: int
    first_bad_id: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return {"ok": self.ok, "rows": self.rows, "first_bad_id": self.first_bad_id, "reason": self.reason}


def verify(session: Session, batch: int = 5000) -> VerifyReport:
    heads: dict[int | None, str] = {}
    count = 0
    last_id = 0
    while True:
        rows = session.execute(select(AuditEvent).where(AuditEvent.id > last_id)
                               .order_by(AuditEvent.id).limit(batch)).scalars().all()
        if not rows:
            break
        for row in rows:
            count += 1
            if row.prev_hash != heads.get(row.instance_id, GENESIS):
                return VerifyReport(False, count, row.id, "its link to the previous row of its chain is broken "
                                                          "(a row before it was changed, removed or inserted)")
            expected = row_hash(row.prev_hash, row.at, row.event_type, row.actor, row.instance_id,
                                row.task_id, row.details)
            if expected != row.hash:
                return VerifyReport(False, count, row.id, "its content does not match its hash (the row was modified)")
            heads[row.instance_id] = row.hash
            last_id = row.id
        session.expunge_all()
    for instance_id, audit_head in session.execute(select(ProcessInstance.id, ProcessInstance.audit_head)
                                                   .order_by(ProcessInstance.id)):
        if heads.get(instance_id, GENESIS) != (audit_head or GENESIS):
            last = session.execute(select(func.max(AuditEvent.id)).where(AuditEvent.instance_id == instance_id)).scalar()
            return VerifyReport(False, count, last, f"instance {instance_id}'s newest audit rows are missing "
                                                    f"(its chain does not end where the instance says)")
    return VerifyReport(True, count)


def events_for_instance(session: Session, instance_id: int) -> list[dict]:
    rows = session.execute(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                           .order_by(AuditEvent.id)).scalars()
    return [{"id": r.id, "at": r.at.isoformat(), "event": r.event_type, "actor": r.actor,
             "task_id": r.task_id, "details": json.loads(r.details)} for r in rows]
