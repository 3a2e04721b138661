"""The statements behind an administrator's listings (``engine.management``): deployed definitions with their
running cases, and incidents."""
from __future__ import annotations

from sqlalchemy import func, select

from engine.store import Session
from engine.store.models import DefinitionVersion, Incident, ProcessInstance


def definitions_with_running_counts(session: Session) -> list[tuple[DefinitionVersion, int]]:
    """Every deployed version (processes first, then decisions; by key and version), with how many of its
    instances are running."""
    rows = session.execute(select(DefinitionVersion).order_by(DefinitionVersion.kind.desc(), DefinitionVersion.key,
                                                              DefinitionVersion.version)).scalars().all()
    running: dict[int, int] = {version_id: count for version_id, count in session.execute(
        select(ProcessInstance.version_id, func.count()).where(ProcessInstance.status == "running")
        .group_by(ProcessInstance.version_id))}
    return [(row, running.get(row.id, 0)) for row in rows]


def incidents(session: Session, instance_id: int | None = None) -> list[Incident]:
    """Incidents, oldest first: every one, or a case's."""
    query = select(Incident).order_by(Incident.id)
    if instance_id is not None:
        query = query.where(Incident.instance_id == instance_id)
    return list(session.execute(query).scalars())
