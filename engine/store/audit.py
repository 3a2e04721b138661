"""The statements of the audit chains (``engine.audit.chain``): their rows, the system chain's head, a case's
head on its instance row, and the walk ``verify`` takes over every row."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, exists, func, insert, select, update
from sqlalchemy.orm import object_session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from engine.store import Session
from engine.store.models import AuditChainHead, AuditEvent, DefinitionVersion, ProcessInstance

_VERIFY_COLUMNS = (AuditEvent.id, AuditEvent.at, AuditEvent.event_type, AuditEvent.actor, AuditEvent.instance_id,
                   AuditEvent.task_id, AuditEvent.details, AuditEvent.prev_hash, AuditEvent.hash, AuditEvent.key_id)


def session_of(instance: ProcessInstance) -> Session | None:
    """The session an instance row was loaded in (None for a detached one)."""
    return object_session(instance)


def chain_head(session: Session, chain: str) -> str | None:
    """The signed head of a chain kept in ``audit_chain_head`` (the system chain)."""
    return session.execute(select(AuditChainHead.head).where(AuditChainHead.chain == chain)).scalar()


def write_chain_head(session: Session, chain: str, rows: int, head: str | None, now: datetime,
                     *, exists_already: bool) -> None:
    values = {"rows": rows, "head": head, "updated_at": now}
    if exists_already:
        session.execute(update(AuditChainHead).where(AuditChainHead.chain == chain).values(**values)
                        .execution_options(synchronize_session=False))
    else:
        session.execute(insert(AuditChainHead).values(chain=chain, **values))


def row_count(session: Session, instance_id: int | None) -> int:
    """How many rows a case's chain (None: the system chain) has in the table."""
    where = AuditEvent.instance_id.is_(None) if instance_id is None else AuditEvent.instance_id == instance_id
    return session.execute(select(func.count()).select_from(AuditEvent).where(where)).scalar() or 0


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert chained rows in one batched statement."""
    session.execute(insert(AuditEvent), rows)


def locked_instance(session: Session, instance_id: int) -> ProcessInstance:
    """The instance row, locked: already so when the command loaded it, else locked here."""
    instance = session.identity_map.get(identity_key(ProcessInstance, instance_id))
    if instance is None:
        instance = session.execute(select(ProcessInstance).where(ProcessInstance.id == instance_id)
                                   .with_for_update()).scalar_one()
    return instance


def set_case_head(session: Session, instance: ProcessInstance, head: str | None) -> None:
    """Store a case's new chain head on its (locked) instance row. A plain UPDATE: recording history is not a
    change of the case, so the instance's optimistic revision stays as it is."""
    session.execute(update(ProcessInstance).where(ProcessInstance.id == instance.id)
                    .values(audit_head=head).execution_options(synchronize_session=False))
    set_committed_value(instance, "audit_head", head)


def rows_after(session: Session, after_id: int, batch: int) -> list[Row]:
    """The next ``batch`` rows of every chain after row ``after_id``, in id order (the columns ``verify`` reads)."""
    return list(session.execute(select(*_VERIFY_COLUMNS).where(AuditEvent.id > after_id)
                                .order_by(AuditEvent.id).limit(batch)).all())


def case_heads(session: Session) -> list[tuple[int, str | None]]:
    """(instance id, its chain's signed head) of every case, by id."""
    return [(i, head) for i, head in session.execute(select(ProcessInstance.id, ProcessInstance.audit_head)
                                                     .order_by(ProcessInstance.id))]


def deployed_versions(session: Session) -> int:
    """How many definition versions are deployed."""
    return session.execute(select(func.count()).select_from(DefinitionVersion)).scalar() or 0


def any_version_deployed(session: Session) -> bool:
    return bool(session.execute(select(exists().where(DefinitionVersion.id.is_not(None)))).scalar())


def events_of(session: Session, instance_id: int) -> list[AuditEvent]:
    """A case's audit rows, oldest first."""
    return list(session.execute(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                                .order_by(AuditEvent.id)).scalars())


def case_head(session: Session, instance_id: int) -> str | None:
    """The signed head of a case's chain (on its instance row); None for no head or no case."""
    return session.execute(select(ProcessInstance.audit_head).where(ProcessInstance.id == instance_id)).scalar()


def case_exists(session: Session, instance_id: int) -> bool:
    return bool(session.execute(select(exists().where(ProcessInstance.id == instance_id))).scalar())
