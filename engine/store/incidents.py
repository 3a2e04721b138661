"""Incidents: what went wrong in a command, a timer job or a webhook delivery, kept for an administrator to see
(``whistle incidents``) and resolved when a retry or a repair deals with it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from engine.store.models import Incident


def add(session: Session, *, instance_id: int | None, process_id: str | None, version_id: int | None,
        task_id: str | None, element_id: str | None, command: str, actor: str | None, error_type: str,
        message: str, traceback: str, created_at: datetime, command_data: dict | None = None) -> Incident:
    """Record an incident in the session's transaction; flushed, so its ``id`` is known (the audit names it)."""
    incident = Incident(instance_id=instance_id, process_id=process_id, version_id=version_id, task_id=task_id,
                        element_id=element_id, command=command, actor=actor, error_type=error_type,
                        message=message, traceback=traceback, created_at=created_at, command_data=command_data)
    session.add(incident)
    session.flush()
    return incident


def resolve(session: Session, incident_id: int | None, now: datetime) -> None:
    """Mark the incident resolved, once (a retry of something that failed for good)."""
    if incident_id is None:
        return
    incident = session.get(Incident, incident_id)
    if incident is not None and incident.resolved_at is None:
        incident.resolved_at = now


def get(session: Session, incident_id: int, lock: bool = False) -> Incident | None:
    """One incident (locked for the command that resolves it)."""
    query = select(Incident).where(Incident.id == incident_id)
    return session.execute(query.with_for_update() if lock else query).scalar()


def listing(session: Session, open_only: bool = False, instance_id: int | None = None,
            limit: int | None = None, *, resolved_only: bool = False, process_id: str | None = None,
            element_id: str | None = None) -> list[Incident]:
    """Incidents, newest first: the open (or the resolved) ones only, a case's, a process's or an element's, at
    most ``limit``."""
    query = select(Incident).order_by(Incident.id.desc())
    if open_only:
        query = query.where(Incident.resolved_at.is_(None))
    if resolved_only:
        query = query.where(Incident.resolved_at.is_not(None))
    if instance_id is not None:
        query = query.where(Incident.instance_id == instance_id)
    if process_id is not None:
        query = query.where(Incident.process_id == process_id)
    if element_id is not None:
        query = query.where(Incident.element_id == element_id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query).scalars())


def open_counts(session: Session, process_id: str | None = None) -> list[tuple[str | None, str | None, int]]:
    """(process id, element id, open incidents) for every element that has some (of one process, if asked), most
    first."""
    count = func.count(Incident.id)
    query = select(Incident.process_id, Incident.element_id, count).where(Incident.resolved_at.is_(None))
    if process_id is not None:
        query = query.where(Incident.process_id == process_id)
    query = (query.group_by(Incident.process_id, Incident.element_id).order_by(count.desc(), Incident.process_id,
                                                                           Incident.element_id))
    return [(row[0], row[1], row[2]) for row in session.execute(query).all()]


_OPEN_OF_TYPE = select(Incident.id).where(Incident.instance_id == bindparam("instance_id"),
                                          Incident.error_type == bindparam("error_type"),
                                          Incident.resolved_at.is_(None)).limit(1)


def has_open(session: Session, instance_id: int, error_type: str) -> bool:
    """Whether the instance has an unresolved incident of this type."""
    found = session.execute(_OPEN_OF_TYPE, {"instance_id": instance_id, "error_type": error_type}).first()
    return found is not None


def resolve_open(session: Session, instance_id: int, error_type: str, now: datetime) -> list[int]:
    """Resolve the instance's open incidents of this type; their ids."""
    resolved = []
    for incident in session.execute(select(Incident).where(
            Incident.instance_id == instance_id, Incident.error_type == error_type,
            Incident.resolved_at.is_(None))).scalars():
        incident.resolved_at = now
        resolved.append(incident.id)
    return resolved
