"""The accountability ledger: what each party was obliged to do on each case, and whether it did, in time.

A diagram marks a user task as an obligation with an extension property (``obligation`` = ``sign``,
``on_site``, ``handle``, ``reply``, ``feedback``, ``answer``…; docs/processes.md). The runtime writes the rows
in the same transaction as the step (``engine.runtime.inbox.inbox_changes``), from the task itself: an
``assigned`` row when it opens (its party — the candidate group, or the assignee — and its due time), a ``done``
row when someone completes it (when, by whom, what they submitted), a ``cancelled`` row when the process
withdraws it, a ``terminated`` row when an administrator terminates the case (``engine.runtime.lifecycle``). Rows
are only ever added (``engine.store.ledger``). Lateness is the completion time against the due
time, never the order in which timers fired; an obligation still open after its due time at a cut-off is a
failure (``state_of``).

The evaluation and the dashboards read this table, never the case data.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from engine.store import Session
from engine.store import ledger as stored
from engine.store.models import ProcessInstance

DONE_ON_TIME, DONE_LATE, OVERDUE, OPEN, WITHDRAWN = "done_on_time", "done_late", "overdue", "open", "withdrawn"
TERMINATED = "terminated"  # the case was terminated before the obligation fell due: neither done nor failed


def assigned_row(instance: ProcessInstance, task_id: str, element_id: str, kind: str, party: str | None,
                 due_at: datetime | None, now: datetime) -> dict:
    return {"instance_id": instance.id, "process_id": instance.process_id, "task_id": task_id,
            "element_id": element_id, "kind": kind, "party": party, "event": "assigned", "at": now,
            "due_at": due_at, "actor": None, "detail": None}


def closed_row(instance: ProcessInstance, task_id: str, element_id: str, kind: str, party: str | None, done: bool,
               actor: str | None, detail: dict | None, now: datetime) -> dict:
    return {"instance_id": instance.id, "process_id": instance.process_id, "task_id": task_id,
            "element_id": element_id, "kind": kind, "party": party, "event": "done" if done else "cancelled",
            "at": now, "due_at": None, "actor": actor if done else None, "detail": detail if done else None}


def terminated_row(assigned: dict, actor: str, reason: str, now: datetime) -> dict:
    """The row that closes an open obligation of a case an administrator terminated (``assigned``: its
    ``assigned`` row's columns); the reason is kept in ``detail``."""
    return {**{k: assigned[k] for k in ("instance_id", "process_id", "task_id", "element_id", "kind", "party")},
            "event": "terminated", "at": now, "due_at": None, "actor": actor, "detail": {"reason": reason}}


def open_of_case(session: Session, instance_id: int) -> list[dict]:
    """The case's obligations not closed yet: their ``assigned`` rows' columns."""
    return stored.open_assignments(session, instance_id)


def write(session: Session, rows: list[dict]) -> None:
    stored.add_rows(session, rows)


@dataclass(frozen=True)
class Obligation:
    """One obligation as it stood at a cut-off."""

    instance_id: int
    task_id: str
    element_id: str
    kind: str
    party: str | None
    assigned_at: datetime
    due_at: datetime | None
    done_at: datetime | None
    done_by: str | None
    detail: dict | None
    state: str  # done_on_time | done_late | overdue | open | withdrawn | terminated

    def to_dict(self) -> dict:
        return {"instance_id": self.instance_id, "task_id": self.task_id, "element_id": self.element_id,
                "kind": self.kind, "party": self.party, "assigned_at": self.assigned_at.isoformat(),
                "due_at": self.due_at.isoformat() if self.due_at else None,
                "done_at": self.done_at.isoformat() if self.done_at else None, "done_by": self.done_by,
                "state": self.state}


def state_of(due_at: datetime | None, closed_event: str | None, closed_at: datetime | None, cutoff: datetime) -> str:
    """An obligation's state at ``cutoff``. Withdrawn by the process after its due time counts as overdue: the
    party did not do what it was due to do (a case closed without it, 兜底). Terminated by an administrator
    (docs/adr/0011-suspended-cases.md) reads the same way: after its due time the failure had happened already and
    stays counted (一次一考核: terminating a case does not erase a department's missed deadline); before it, the
    obligation is ``terminated`` — neither done nor a failure — and the figures leave it out."""
    if closed_event == "done" and closed_at is not None and closed_at <= cutoff:
        return DONE_ON_TIME if due_at is None or closed_at <= due_at else DONE_LATE
    if closed_event in ("cancelled", "terminated") and closed_at is not None and closed_at <= cutoff:
        if due_at is not None and due_at < closed_at:
            return OVERDUE
        return WITHDRAWN if closed_event == "cancelled" else TERMINATED
    return OVERDUE if due_at is not None and due_at < cutoff else OPEN


def obligations(session: Session, cutoff: datetime, *, process_id: str | None = None,
                started_from: datetime | None = None, started_before: datetime | None = None,
                instance_ids: Iterable[int] | None = None) -> list[Obligation]:
    """Every obligation assigned by ``cutoff`` (of cases of ``process_id`` started in the range), with its state."""
    found = []
    for row, event, at, actor, detail in stored.assignments_with_closing(
            session, cutoff, process_id=process_id, started_from=started_from, started_before=started_before,
            instance_ids=instance_ids):
        state = state_of(row.due_at, event, at, cutoff)
        done = state in (DONE_ON_TIME, DONE_LATE)
        found.append(Obligation(row.instance_id, row.task_id, row.element_id, row.kind, row.party, row.at,
                                row.due_at, at if done else None, actor if done else None,
                                detail if done else None, state))
    return found
