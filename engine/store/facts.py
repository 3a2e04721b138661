"""The statements of the dashboards' aggregates (``engine.audit.facts``, ADR 13): keeping ``case_fact`` and
``obligation_fact`` in the step's transaction, and the grouped reads of the dashboards and of the definition
view. An obligation's state at a cut-off is ``engine.audit.ledger.state_of`` written as SQL (``state_case``):
``done_on_time``, ``done_late``, ``overdue`` (closed without being done after its due time, or open past it),
``withdrawn``, ``terminated``, ``open``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CompoundSelect,
    Select,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.sql import ColumnElement

from engine.store import Session, statements
from engine.store.models import (
    CaseFact,
    DefinitionVersion,
    HumanTask,
    Incident,
    MessageSubscription,
    ObligationFact,
    ProcessInstance,
    TimerJob,
)

# What a dashboard number may select by its obligations' outcome, as the states it takes.
OUTCOMES: dict[str, tuple[str, ...] | None] = {
    "on_time": ("done_on_time",), "late": ("done_late",), "never": ("overdue",), "open": ("open",),
            "done": ("done_on_time", "done_late"), "decided": ("done_on_time", "done_late", "overdue"),
            "missed": ("done_late", "overdue"), "any": None, "overdue_now": None}


# -- keeping the facts -----------------------------------------------------------------------------------------

def put_case_fact(session: Session, instance_id: int, values: dict[str, Any], new: bool) -> None:
    """Write a case's fact columns: an insert for a new case, else an update (the instance is locked)."""
    if new:
        session.execute(insert(CaseFact).values(instance_id=instance_id, whistled=False, **values))
        return
    session.execute(update(CaseFact).where(CaseFact.instance_id == instance_id).values(**values)
                    .execution_options(synchronize_session=False))


def set_case_status(session: Session, instance_id: int, status: str) -> None:
    """An administrator's hold or end changed the case's status (``engine.runtime.lifecycle``)."""
    session.execute(update(CaseFact).where(CaseFact.instance_id == instance_id).values(status=status)
                    .execution_options(synchronize_session=False))


def record_ledger(session: Session, rows: list[dict[str, Any]]) -> None:
    """Fold ledger rows (``engine.audit.ledger``) into ``obligation_fact``: an ``assigned`` row is a new
    obligation (a task given a new obligation by an instance migration starts again), a closing row closes it
    with the seconds from assignment when it was done. A case with an obligation assigned was whistled."""
    assigned = [r for r in rows if r["event"] == "assigned"]
    closing = [r for r in rows if r["event"] != "assigned"]
    if assigned:
        ids = [r["task_id"] for r in assigned]
        session.execute(delete(ObligationFact).where(ObligationFact.task_id.in_(ids))
                        .execution_options(synchronize_session=False))
        session.execute(insert(ObligationFact), [
            {"task_id": r["task_id"], "instance_id": r["instance_id"], "process_id": r["process_id"],
             "element_id": r["element_id"], "kind": r["kind"], "party": r["party"], "assigned_at": r["at"],
             "due_at": r["due_at"], "closed_event": None, "closed_at": None, "seconds": None} for r in assigned])
        session.execute(update(CaseFact).where(CaseFact.instance_id.in_({r["instance_id"] for r in assigned}),
                                               CaseFact.whistled.is_(False))
                        .values(whistled=True).execution_options(synchronize_session=False))
    if closing:
        opened = select(ObligationFact.task_id, ObligationFact.assigned_at).where(
            ObligationFact.task_id.in_({r["task_id"] for r in closing}), ObligationFact.closed_event.is_(None))
        started: dict[str, datetime] = dict(session.execute(opened).tuples().all())
        changes = [{"key": r["task_id"], "event": r["event"], "at": r["at"],
                    "secs": int((r["at"] - started[r["task_id"]]).total_seconds()) if r["event"] == "done" else None}
                   for r in closing if r["task_id"] in started]
        if changes:
            table = cast(Table, ObligationFact.__table__)  # a Core executemany, not the ORM's update by key
            session.execute(update(table).where(table.c.task_id == bindparam("key"), table.c.closed_event.is_(None))
                            .values(closed_event=bindparam("event"), closed_at=bindparam("at"),
                                    seconds=bindparam("secs")), changes)


# -- what the case list and the dashboards select by ------------------------------------------------------------

def street_case_sources(street: str) -> tuple[Select, Select]:
    """The two ways a case is in a street — its data says so (projected, ix_instance_street) or one of its
    tasks concerns it (ix_human_task_street). The case list, its search and the dashboards mean the same by it."""
    return (select(ProcessInstance.id).where(ProcessInstance.street == street),
            select(HumanTask.instance_id).where(HumanTask.street == street))


def department_case_sources(department: str) -> tuple[Select, Select]:
    """The two ways a case is a department's — it leads the case or one of the case's tasks concerns it."""
    return (select(ProcessInstance.id).where(ProcessInstance.department == department),
            select(HumanTask.instance_id).where(HumanTask.department == department))


def street_case_ids(street: str) -> CompoundSelect:
    """SQL: the cases in a street (``street_case_sources``)."""
    return union(*street_case_sources(street))


def department_case_ids(department: str) -> CompoundSelect:
    """SQL: the cases of a department (``department_case_sources``)."""
    return union(*department_case_sources(department))


def state_case(now: datetime) -> ColumnElement[str]:
    """An obligation's state at ``now`` (``engine.audit.ledger.state_of``)."""
    o = ObligationFact
    cut = bindparam("state_now", now, type_=o.due_at.type)
    return case(
        (and_(o.closed_event == "done", or_(o.due_at.is_(None), o.closed_at <= o.due_at)), literal("done_on_time")),
        (o.closed_event == "done", literal("done_late")),
        (and_(o.closed_event.in_(("cancelled", "terminated")), o.due_at.is_not(None), o.due_at < o.closed_at),
         literal("overdue")),
        (o.closed_event == "cancelled", literal("withdrawn")),
        (o.closed_event == "terminated", literal("terminated")),
        (and_(o.due_at.is_not(None), o.due_at < cut), literal("overdue")),
        else_=literal("open"))


def overdue_now(now: datetime) -> ColumnElement[bool]:
    """An obligation open past its due time now (ix_obligation_fact_open_due)."""
    return and_(ObligationFact.closed_event.is_(None), ObligationFact.due_at.is_not(None),
                ObligationFact.due_at < now)


def obligation_case_ids(kind: str | None, outcome: str, party: str | None, now: datetime) -> Select:
    """SQL: the cases with an obligation (of ``kind``, of ``party``) whose outcome is ``outcome``."""
    query = select(ObligationFact.instance_id)
    if kind:
        query = query.where(ObligationFact.kind == kind)
    if party:
        query = query.where(ObligationFact.party == party)
    if outcome == "overdue_now":
        query = query.where(overdue_now(now))
    elif (states := OUTCOMES[outcome]) is not None:
        query = query.where(state_case(now).in_(states))
    return query


def facts_clauses(id_column: Any, *, now: datetime | None = None, tier: str | None = None, category: str | None = None,
                  whistled: bool | None = None, resolved: bool | None = None, rated: bool | None = None,
                  satisfied: bool | None = None, obligation: str | None = None, outcome: str | None = None,
                  party: str | None = None) -> list[ColumnElement[bool]]:
    """Clauses on ``id_column`` (a case id) for the filters a dashboard number links with."""
    clauses: list[ColumnElement[bool]] = []
    fact = []
    for column, value in ((CaseFact.tier, tier), (CaseFact.category, category), (CaseFact.whistled, whistled),
                          (CaseFact.resolved, resolved)):
        if value is not None:
            fact.append(column == value)
    if rated is not None:
        fact.append(CaseFact.satisfaction.is_not(None) if rated else CaseFact.satisfaction.is_(None))
    if satisfied is not None:
        fact.append(CaseFact.satisfaction >= 4 if satisfied else CaseFact.satisfaction < 4)
    if fact:
        clauses.append(id_column.in_(select(CaseFact.instance_id).where(*fact)))
    if obligation or outcome:
        assert now is not None, "an outcome is as of a moment"
        clauses.append(id_column.in_(obligation_case_ids(obligation, outcome or "any", party, now)))
    return clauses


# -- the dashboards' reads ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """The cases a dashboard counts: of a process, started in [low, high), in a street, of a department."""

    process_id: str
    low: datetime | None
    high: datetime | None
    street: str | None = None
    department: str | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = [CaseFact.process_id == self.process_id]
        if self.low is not None:
            found.append(CaseFact.started_at >= self.low)
        if self.high is not None:
            found.append(CaseFact.started_at < self.high)
        if self.street:
            found.append(CaseFact.instance_id.in_(street_case_ids(self.street)))
        if self.department:
            found.append(CaseFact.instance_id.in_(department_case_ids(self.department)))
        return found


CASE_DIMENSIONS = {"tier": CaseFact.tier, "status": CaseFact.status, "street": CaseFact.street,
                   "category": CaseFact.category, "month": CaseFact.month}


def case_counts(session: Session, scope: Scope, dimension: str) -> list[tuple[Any, int]]:
    """(value, cases) of the scope's cases grouped by one of ``CASE_DIMENSIONS``, by value."""
    column = CASE_DIMENSIONS[dimension]
    rows = session.execute(select(column, func.count()).where(*scope.clauses()).group_by(column)).all()
    return sorted(((value, count) for value, count in rows), key=lambda r: (r[0] is None, r[0] or ""))


def street_rates(session: Session, scope: Scope) -> list[tuple[str | None, int, int]]:
    """(street, cases, whistled cases) of the scope's cases, by street."""
    whistled = func.sum(case((CaseFact.whistled.is_(True), 1), else_=0))
    rows = session.execute(select(CaseFact.street, func.count(), whistled).where(*scope.clauses())
                           .group_by(CaseFact.street)).all()
    return sorted(((s, c, int(w or 0)) for s, c, w in rows), key=lambda r: (r[0] is None, r[0] or ""))


def obligation_counts(session: Session, scope: Scope, now: datetime,
                      outcomes: tuple[str, ...]) -> dict[tuple[str, str], dict[str, int]]:
    """{(party, kind): {outcome: distinct cases}} of the scope's cases' obligations, with ``all:<outcome>``
    keys for every kind together (the departments most often late), and the done obligations' ``seconds`` sum
    and ``done_count``."""
    state = state_case(now)
    o = ObligationFact
    cases_in = o.instance_id.in_(select(CaseFact.instance_id).where(*scope.clauses()))

    def counts(outcome: str) -> ColumnElement[int]:
        if outcome == "overdue_now":
            condition: ColumnElement[bool] = overdue_now(now)
        elif (states := OUTCOMES[outcome]) is None:
            condition = o.instance_id.is_not(None)
        else:
            condition = state.in_(states)
        return func.count(func.distinct(case((condition, o.instance_id))))

    columns = [counts(name).label(name) for name in outcomes]
    done = state.in_(("done_on_time", "done_late"))
    found: dict[tuple[str, str], dict[str, int]] = {}
    by_kind = select(o.party, o.kind, *columns, func.sum(case((done, o.seconds))).label("seconds"),
                     func.count(case((done, 1))).label("done_count")).where(cases_in, o.party.is_not(None))
    for row in session.execute(by_kind.group_by(o.party, o.kind)).mappings():
        found[(row["party"], row["kind"])] = {k: int(v or 0) for k, v in row.items() if k not in ("party", "kind")}
    every = select(o.party, *columns).where(cases_in, o.party.is_not(None)).group_by(o.party)
    for row in session.execute(every).mappings():
        found[(row["party"], "")] = {k: int(v or 0) for k, v in row.items() if k != "party"}
    return found


def seconds_p90(session: Session, scope: Scope, now: datetime, kinds: tuple[str, ...]) -> dict[tuple[str, str], int]:
    """{(party, kind): the 90th percentile (nearest rank) of seconds from assignment to done} of the scope's
    done obligations of ``kinds``."""
    o = ObligationFact
    where = [o.instance_id.in_(select(CaseFact.instance_id).where(*scope.clauses())), o.party.is_not(None),
             o.kind.in_(kinds), o.closed_event == "done", o.seconds.is_not(None)]
    result: dict[tuple[str, str], int] = statements(session).percentile_by_group(
        session, o.seconds, (o.party, o.kind), where, 0.9)
    return result


def rating_counts(session: Session, scope: Scope, departments: list[str]) -> dict[str, tuple[int, int, int]]:
    """{department: (rated cases, sum of ratings, satisfied cases: 4 or 5)} of the scope's cases of each (a
    department's cases as ``department_case_ids`` says), in one grouped statement."""
    if not departments:
        return {}
    of = union(select(ProcessInstance.id.label("case_id"), ProcessInstance.department.label("department"))
               .where(ProcessInstance.department.in_(departments)),
               select(HumanTask.instance_id, HumanTask.department).where(HumanTask.department.in_(departments))
               ).subquery("of")
    rows = session.execute(select(of.c.department, func.count(CaseFact.satisfaction), func.sum(CaseFact.satisfaction),
                                  func.count(case((CaseFact.satisfaction >= 4, 1))))
                           .join(CaseFact, CaseFact.instance_id == of.c.case_id)
                           .where(*scope.clauses()).group_by(of.c.department)).all()
    return {d: (int(n or 0), int(total or 0), int(happy or 0)) for d, n, total, happy in rows}


def resolved_leads(session: Session, scope: Scope) -> dict[str, tuple[int, int]]:
    """{department: (cases it led, of them resolved)}: led is a ``handle`` obligation of it."""
    o = ObligationFact
    led = (select(o.party, o.instance_id).where(o.kind == "handle", o.party.is_not(None),
                                                o.instance_id.in_(select(CaseFact.instance_id)
                                                                  .where(*scope.clauses())))
           .distinct().subquery("led"))
    rows = session.execute(select(led.c.party, func.count(), func.count(case((CaseFact.resolved.is_(True), 1))))
                           .join(CaseFact, CaseFact.instance_id == led.c.instance_id).group_by(led.c.party)).all()
    return {party: (int(total), int(resolved)) for party, total, resolved in rows}


def scope_total(session: Session, scope: Scope, now: datetime, overdue: bool = False) -> int:
    """How many of the scope's cases there are (with ``overdue``: with an obligation open past due now)."""
    query = select(func.count()).select_from(CaseFact).where(*scope.clauses())
    if overdue:
        query = query.where(CaseFact.instance_id.in_(select(ObligationFact.instance_id).where(overdue_now(now))))
    return int(session.execute(query).scalar() or 0)


# -- the definition view: what waits where --------------------------------------------------------------------

def element_counts(session: Session, version_id: int, now: datetime) -> dict[str, dict[str, int]]:
    """{element id: {"waiting", "overdue", "incidents"}} of a version's running cases, by element: cases with
    an open task, a timer there (waiting), an open task past its due time (overdue), an unresolved incident."""
    found: dict[str, dict[str, int]] = {}

    def add(rows: Any, what: str) -> None:
        for element_id, count in rows:
            if element_id:
                found.setdefault(element_id, {"waiting": 0, "overdue": 0, "incidents": 0})[what] += int(count)

    waiting = union(
        select(HumanTask.element_id, HumanTask.instance_id).where(HumanTask.version_id == version_id,
                                                                  HumanTask.status == "open"),
        select(TimerJob.element_id, TimerJob.instance_id)
        .join(ProcessInstance, ProcessInstance.id == TimerJob.instance_id)
        .where(ProcessInstance.version_id == version_id),
        select(MessageSubscription.element_id, MessageSubscription.instance_id)
        .join(ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id)
        .where(ProcessInstance.version_id == version_id)).subquery("waiting")
    add(session.execute(select(waiting.c.element_id, func.count(func.distinct(waiting.c.instance_id)))
                        .group_by(waiting.c.element_id)).all(), "waiting")
    add(session.execute(select(HumanTask.element_id, func.count(func.distinct(HumanTask.instance_id)))
                        .where(HumanTask.version_id == version_id, HumanTask.status == "open",
                               HumanTask.due_at.is_not(None), HumanTask.due_at < now)
                        .group_by(HumanTask.element_id)).all(), "overdue")
    add(session.execute(select(Incident.element_id, func.count(func.distinct(Incident.instance_id)))
                        .join(ProcessInstance, ProcessInstance.id == Incident.instance_id)
                        .where(ProcessInstance.version_id == version_id, Incident.resolved_at.is_(None))
                        .group_by(Incident.element_id)).all(), "incidents")
    return found


def version_id_of(session: Session, key: str, number: int) -> int | None:
    found: int | None = session.execute(select(DefinitionVersion.id).where(
        DefinitionVersion.key == key, DefinitionVersion.kind == "process", DefinitionVersion.version == number)
    ).scalar()
    return found
