"""Process instances: locking one for a command, and writing the state an engine step left it in."""
from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from engine.store import statements
from engine.store.models import HumanTask, ProcessInstance, TimerJob

# Built once: the hot path of every command that works on an instance.
_LOCK = (select(ProcessInstance).where(ProcessInstance.id == bindparam("instance_id")).with_for_update()
         .execution_options(populate_existing=True))


def lock(session: Session, instance_id: int) -> ProcessInstance | None:
    """The instance, locked for the rest of the transaction and read afresh (after any wait for the lock)."""
    return session.execute(_LOCK, {"instance_id": instance_id}).scalar()


def in_session(session: Session) -> list[ProcessInstance]:
    """The instances the session's transaction has loaded or created (the cases the running step works on)."""
    return [obj for obj in session.identity_map.values() if isinstance(obj, ProcessInstance)]


def process_and_version(session: Session, instance_id: int) -> tuple[str, int]:
    """The process id and the version id an instance runs."""
    process_id, version_id = session.execute(select(ProcessInstance.process_id, ProcessInstance.version_id)
                                             .where(ProcessInstance.id == instance_id)).one()
    return process_id, version_id


def write_step(session: Session, instance: ProcessInstance, values: dict[str, Any], audit_head: str | None,
               events: list[dict], closed: list[dict], tasks: list[dict], candidates: list[dict]) -> None:
    """Write a locked instance's new state (``values``: state, data, status, updated_at, completed_at, street,
    department), its inbox rows to close and to create with their candidates, and its audit events; check and
    bump its optimistic ``revision``. The hot path of every command: on PostgreSQL one statement
    (``engine.store.postgres``), on SQLite a few prebuilt Core statements (``engine.store.portable``). The ORM
    object is updated in place, so the session has nothing left to flush for it."""
    revision = instance.revision
    params = {"instance_id": instance.id, "old_revision": revision, "new_revision": revision + 1,
              "new_state": values["state"], "new_data": values["data"], "new_status": values["status"],
              "new_updated_at": values["updated_at"], "new_completed_at": values["completed_at"],
              "new_audit_head": audit_head, "new_street": values["street"],
              "new_department": values["department"]}
    if statements(session).write_step(session, params, closed, tasks, candidates, events) != 1:
        raise StaleDataError(f"instance {instance.id} changed since it was read (revision {revision})")
    for key, value in values.items():
        set_committed_value(instance, key, value)
    set_committed_value(instance, "revision", revision + 1)
    set_committed_value(instance, "audit_head", audit_head)


def move_to_version(session: Session, instance: ProcessInstance, version_id: int) -> None:
    """Point a locked instance, its waiting timer jobs and its open inbox rows at another version of its process
    (an instance migration; the step written after it bumps the revision). The ORM object is updated in place."""
    session.execute(update(ProcessInstance).where(ProcessInstance.id == instance.id)
                    .values(version_id=version_id).execution_options(synchronize_session=False))
    session.execute(update(TimerJob).where(TimerJob.instance_id == instance.id)
                    .values(version_id=version_id).execution_options(synchronize_session=False))
    session.execute(update(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == "open")
                    .values(version_id=version_id).execution_options(synchronize_session=False))
    set_committed_value(instance, "version_id", version_id)


def running_of(session: Session, process_id: str, version_ids: list[int] | None = None,
               instance_ids: list[int] | None = None) -> list[tuple[int, int]]:
    """(instance id, version id) of the running cases of a process, oldest first: of these versions, among these
    instances (each None: any)."""
    query = (select(ProcessInstance.id, ProcessInstance.version_id)
             .where(ProcessInstance.process_id == process_id, ProcessInstance.status == "running")
             .order_by(ProcessInstance.id))
    if version_ids is not None:
        query = query.where(ProcessInstance.version_id.in_(version_ids))
    if instance_ids is not None:
        query = query.where(ProcessInstance.id.in_(instance_ids))
    return [(row[0], row[1]) for row in session.execute(query).all()]
