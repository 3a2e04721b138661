"""The statements of the accountability ledger (``engine.audit.ledger``): rows are only ever added; an
obligation is its ``assigned`` row joined to the row that closed it, if any."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, insert, select
from sqlalchemy.orm import aliased

from engine.store import Session, facts
from engine.store.models import LedgerEntry, ProcessInstance

_INSERT = insert(cast(Table, LedgerEntry.__table__))


def add_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Append ledger rows, and fold them into the dashboards' ``obligation_fact`` in the same transaction."""
    if rows:
        session.execute(_INSERT, rows)
        facts.record_ledger(session, rows)


def open_assignments(session: Session, instance_id: int) -> list[dict[str, Any]]:
    """The columns of a case's ``assigned`` rows that no row closed yet (``ix_ledger_entry_instance``)."""
    assigned, closed = aliased(LedgerEntry), aliased(LedgerEntry)
    query = (select(assigned).outerjoin(closed, and_(closed.task_id == assigned.task_id,
                                                     closed.event != "assigned"))
             .where(assigned.instance_id == instance_id, assigned.event == "assigned", closed.id.is_(None))
             .order_by(assigned.id))
    return [{c: getattr(row, c) for c in ("instance_id", "process_id", "task_id", "element_id", "kind", "party")}
            for row in session.execute(query).scalars()]


def assignments_with_closing(session: Session, cutoff: datetime, *, process_id: str | None,
                             started_from: datetime | None, started_before: datetime | None,
                             instance_ids: Iterable[int] | None) -> list[tuple]:
    """(assigned row, closing event, its time, actor, detail) of every obligation assigned by ``cutoff``, of
    the cases (of ``process_id``, started in the range, among ``instance_ids``) by case and assignment; the
    closing columns are None while the obligation is open."""
    assigned, closed = aliased(LedgerEntry), aliased(LedgerEntry)
    query = (select(assigned, closed.event, closed.at, closed.actor, closed.detail)
             .join(ProcessInstance, ProcessInstance.id == assigned.instance_id)
             .outerjoin(closed, and_(closed.task_id == assigned.task_id, closed.event != "assigned"))
             .where(assigned.event == "assigned", assigned.at <= cutoff)
             .order_by(assigned.instance_id, assigned.id))
    if process_id is not None:
        query = query.where(assigned.process_id == process_id)
    if started_from is not None:
        query = query.where(ProcessInstance.started_at >= started_from)
    if started_before is not None:
        query = query.where(ProcessInstance.started_at < started_before)
    if instance_ids is not None:
        query = query.where(assigned.instance_id.in_(list(instance_ids)))
    return [tuple(row) for row in session.execute(query).all()]
