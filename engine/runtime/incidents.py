"""Incidents an administrator's retry resolves (timer jobs, outbox deliveries)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from engine.store.models import Incident


def resolve(session: Session, incident_id: int | None, now: datetime) -> None:
    """Mark the incident resolved, once (a retry of something that failed for good)."""
    if incident_id is None:
        return
    incident = session.get(Incident, incident_id)
    if incident is not None and incident.resolved_at is None:
        incident.resolved_at = now
