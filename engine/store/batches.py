"""Batches (``batch``, ``batch_item``; ``engine.jobs.batches``): created with their cases resolved once, their items
acquired and locked by workers like timer jobs, finished (done in the transaction of the operation's own work),
cancelled, counted and listed."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, exists, func, insert, select, update
from sqlalchemy.orm import Session

from engine.store.models import Batch, BatchItem, DefinitionVersion, Incident, ProcessInstance

PENDING, LOCKED, DONE, SKIPPED, FAILED = "pending", "locked", "done", "skipped", "failed"
UNFINISHED = (PENDING, LOCKED)
_CHUNK = 500  # ids per IN list


def existing_instances(session: Session, ids: Iterable[int]) -> set[int]:
    """Which of ``ids`` are cases."""
    wanted = list(ids)
    found: set[int] = set()
    for start in range(0, len(wanted), _CHUNK):
        found.update(session.execute(select(ProcessInstance.id)
                                     .where(ProcessInstance.id.in_(wanted[start:start + _CHUNK]))).scalars())
    return found


def select_instances(session: Session, *, process_id: str | None = None, version: int | None = None,
                     status: str | None = None, business_key: str | None = None,
                     with_incident: bool | None = None, limit: int) -> list[int]:
    """The ids of the cases a (checked) batch filter selects, oldest first, at most ``limit``."""
    query = select(ProcessInstance.id)
    if process_id is not None:
        query = query.where(ProcessInstance.process_id == process_id)
    if version is not None:
        query = query.join(DefinitionVersion, DefinitionVersion.id == ProcessInstance.version_id) \
            .where(DefinitionVersion.version == version)
    if status is not None:
        query = query.where(ProcessInstance.status == status)
    if business_key is not None:
        query = query.where(ProcessInstance.business_key == business_key)
    if with_incident is not None:
        open_incident = exists().where(Incident.instance_id == ProcessInstance.id, Incident.resolved_at.is_(None))
        query = query.where(open_incident if with_incident else ~open_incident)
    return list(session.execute(query.order_by(ProcessInstance.id).limit(limit)).scalars())


def create(session: Session, *, operation: str, params: dict, filter: dict | None, reason: str | None, actor: str,
           now: datetime, instance_ids: list[int]) -> Batch:
    """A queued batch with one pending item per case."""
    batch = Batch(operation=operation, params=params, filter=filter, reason=reason, actor=actor, created_at=now,
                  status="queued", total=len(instance_ids))
    session.add(batch)
    session.flush()
    for start in range(0, len(instance_ids), _CHUNK):
        session.execute(insert(BatchItem), [{"batch_id": batch.id, "instance_id": instance_id, "status": PENDING,
                                             "attempts": 0} for instance_id in instance_ids[start:start + _CHUNK]])
    return batch


def get(session: Session, batch_id: int, *, lock: bool = False) -> Batch | None:
    query = select(Batch).where(Batch.id == batch_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.execute(query).scalar()


def listing(session: Session, limit: int, offset: int = 0) -> list[Batch]:
    """The newest batches first."""
    return list(session.execute(select(Batch).order_by(Batch.id.desc()).limit(limit).offset(offset)).scalars())


def counts(session: Session, batch_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per batch, how many of its items are in each status."""
    result: dict[int, dict[str, int]] = {batch_id: {} for batch_id in batch_ids}
    if batch_ids:
        for batch_id, status, count in session.execute(
                select(BatchItem.batch_id, BatchItem.status, func.count())
                .where(BatchItem.batch_id.in_(batch_ids)).group_by(BatchItem.batch_id, BatchItem.status)):
            result[batch_id][status] = count
    return result


def last_finished_at(session: Session, batch_id: int) -> datetime | None:
    moment = session.execute(select(func.max(BatchItem.finished_at)).where(BatchItem.batch_id == batch_id)).scalar()
    return _aware(moment)


def items(session: Session, batch_id: int, status: str | None = None, limit: int | None = None,
          offset: int = 0) -> list[Row[tuple[BatchItem, str, str]]]:
    """A batch's items in their order, each with its case's process and status."""
    query = (select(BatchItem, ProcessInstance.process_id, ProcessInstance.status)
             .join(ProcessInstance, ProcessInstance.id == BatchItem.instance_id)
             .where(BatchItem.batch_id == batch_id))
    if status is not None:
        query = query.where(BatchItem.status == status)
    query = query.order_by(BatchItem.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query).tuples().all())  # type: ignore[arg-type]


# -- workers --------------------------------------------------------------------------------------------------

def _free(now: datetime) -> ColumnElement[bool]:
    """A pending item never tried (the acquisition index gives them in order)."""
    return and_(BatchItem.status == PENDING, BatchItem.lock_expires_at.is_(None))


def _due_again(now: datetime) -> ColumnElement[bool]:
    """A pending item whose backoff has passed, or a locked one whose worker's lock ran out."""
    return and_(BatchItem.status.in_(UNFINISHED), BatchItem.lock_expires_at < now)


def acquire(session: Session, owner: str, now: datetime, lock_until: datetime,
            limit: int) -> list[Row[tuple[int, int, int]]]:
    """Lock up to ``limit`` items for ``owner`` until ``lock_until``: (item id, batch id, instance id). Items
    whose lock ran out (a killed worker's) and retries due come first, then fresh ones in order. On PostgreSQL
    ``FOR UPDATE SKIP LOCKED``, so concurrent workers take disjoint sets; SQLite's write transaction serialises
    them. The batches taken from are marked running."""
    columns = (BatchItem.id, BatchItem.batch_id, BatchItem.instance_id)
    found = list(session.execute(select(*columns).where(_due_again(now)).order_by(BatchItem.lock_expires_at)
                                 .limit(limit).with_for_update(skip_locked=True)).tuples())
    if len(found) < limit:
        found += session.execute(select(*columns).where(_free(now)).order_by(BatchItem.id)
                                 .limit(limit - len(found)).with_for_update(skip_locked=True)).tuples()
    if found:
        session.execute(update(BatchItem).where(BatchItem.id.in_([row[0] for row in found]))
                        .values(status=LOCKED, lock_owner=owner, lock_expires_at=lock_until)
                        .execution_options(synchronize_session=False))
        session.execute(update(Batch).where(Batch.id.in_({row[1] for row in found}), Batch.status == "queued")
                        .values(status="running", started_at=now).execution_options(synchronize_session=False))
    return found  # type: ignore[return-value]


def batch_facts(session: Session, batch_ids: Iterable[int]) -> dict[int, tuple[str, dict, str | None, str]]:
    """(operation, params, reason, actor) of each batch."""
    return {row[0]: (row[1], row[2] or {}, row[3], row[4]) for row in session.execute(
        select(Batch.id, Batch.operation, Batch.params, Batch.reason, Batch.actor)
        .where(Batch.id.in_(list(batch_ids))))}


def _mine(item_id: int, owner: str) -> tuple[ColumnElement[bool], ...]:
    return BatchItem.id == item_id, BatchItem.status == LOCKED, BatchItem.lock_owner == owner


def finish(session: Session, item_id: int, owner: str, status: str, reason: str | None, now: datetime) -> bool:
    """Mark ``owner``'s locked item finished (done, skipped or failed); False when it is not theirs any more (its
    lock ran out and another worker took it, or the batch was cancelled)."""
    result = session.execute(update(BatchItem).where(*_mine(item_id, owner))
                             .values(status=status, reason=reason, finished_at=now, lock_expires_at=None,
                                     attempts=BatchItem.attempts + 1)
                             .execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))


def postpone(session: Session, item_id: int, owner: str, until: datetime, reason: str | None,
             count_attempt: bool) -> int | None:
    """Give ``owner``'s locked item back, to be tried again after ``until``: its attempts so far (None when it is
    not theirs any more)."""
    values: dict[str, Any] = {"status": PENDING, "lock_owner": None, "lock_expires_at": until, "reason": reason}
    if count_attempt:
        values["attempts"] = BatchItem.attempts + 1
    result = session.execute(update(BatchItem).where(*_mine(item_id, owner)).values(**values)
                             .execution_options(synchronize_session=False))
    if not getattr(result, "rowcount", 0):
        return None
    return session.execute(select(BatchItem.attempts).where(BatchItem.id == item_id)).scalar()


def attempts_of(session: Session, item_id: int) -> int:
    return session.execute(select(BatchItem.attempts).where(BatchItem.id == item_id)).scalar() or 0


def renew_locks(session: Session, ids: list[int], owner: str, lock_until: datetime) -> set[int]:
    """Extend ``owner``'s locks on ``ids``; the ids it still holds."""
    mine = (BatchItem.id.in_(ids), BatchItem.status == LOCKED, BatchItem.lock_owner == owner)
    session.execute(update(BatchItem).where(*mine).values(lock_expires_at=lock_until)
                    .execution_options(synchronize_session=False))
    return set(session.execute(select(BatchItem.id).where(*mine)).scalars())


def release(session: Session, ids: list[int], owner: str) -> None:
    """Give up ``owner``'s locks on ``ids`` untouched (a worker told to stop)."""
    session.execute(update(BatchItem).where(BatchItem.id.in_(ids), BatchItem.status == LOCKED,
                                            BatchItem.lock_owner == owner)
                    .values(status=PENDING, lock_owner=None, lock_expires_at=None)
                    .execution_options(synchronize_session=False))


def cancel(session: Session, batch: Batch, actor: str, now: datetime, reason: str) -> int:
    """Skip every unfinished item of ``batch`` (``reason``) and mark it cancelled; how many were skipped. An item a
    worker is working on right now is skipped too unless its work commits first: its done mark then finds it
    skipped and the work is rolled back."""
    result = session.execute(update(BatchItem).where(BatchItem.batch_id == batch.id,
                                                     BatchItem.status.in_(UNFINISHED))
                             .values(status=SKIPPED, reason=reason, finished_at=now, lock_expires_at=None)
                             .execution_options(synchronize_session=False))
    batch.status, batch.cancelled_by, batch.finished_at = "cancelled", actor, now
    return int(getattr(result, "rowcount", 0))


def _finished_batches() -> Select[tuple[int]]:
    unfinished = exists().where(BatchItem.batch_id == Batch.id, BatchItem.status.in_(UNFINISHED))
    return select(Batch.id).where(Batch.status.in_(("queued", "running")), ~unfinished)


def close_candidates(session: Session) -> bool:
    """Whether a queued or running batch has no unfinished item left (a read: an idle worker writes nothing)."""
    return session.execute(_finished_batches().limit(1)).first() is not None


def close_finished(session: Session, now: datetime) -> list[int]:
    """Mark done the queued or running batches with no unfinished item left; their ids."""
    ids = list(session.execute(_finished_batches().with_for_update()).scalars())
    if ids:
        session.execute(update(Batch).where(Batch.id.in_(ids)).values(status="done", finished_at=now)
                        .execution_options(synchronize_session=False))
    return ids


def unfinished_count(session: Session, batch_id: int | None = None) -> int:
    """Items still pending or locked (of one batch, or of all)."""
    query = select(func.count()).select_from(BatchItem).where(BatchItem.status.in_(UNFINISHED))
    if batch_id is not None:
        query = query.where(BatchItem.batch_id == batch_id)
    return int(session.execute(query).scalar() or 0)


def next_moment(session: Session, now: datetime) -> datetime | None:
    """When an item may next be acquired: ``now`` when a fresh one waits, else the earliest moment a lock or a
    backoff runs out (None: nothing is left to do)."""
    if session.execute(select(BatchItem.id).where(_free(now)).limit(1)).first() is not None:
        return now
    moment = session.execute(select(func.min(BatchItem.lock_expires_at))
                             .where(BatchItem.status.in_(UNFINISHED))).scalar()
    return _aware(moment)


def _aware(moment: datetime | None) -> datetime | None:
    # An aggregate's result is not typed by the column: SQLite hands back a naive datetime.
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

