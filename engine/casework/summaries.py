"""How a case and a task are shown in lists (the case list, an inbox item, a case's open tasks)."""
from __future__ import annotations

from engine.casework.versions import VersionFacts
from engine.runtime.inbox import task_dict
from engine.store import Session
from engine.store import inbox as stored_inbox
from engine.store.models import HumanTask, ProcessInstance


def case_summary(instance: ProcessInstance, versions: VersionFacts) -> dict:
    """A case's key facts, with its title (``VersionFacts.case_title``), tier and location from its data."""
    data = instance.data or {}
    return {"instance_id": instance.id, "business_key": instance.business_key, "process_id": instance.process_id,
            "version_id": instance.version_id, "status": instance.status, "started_by": instance.started_by,
            "started_at": instance.started_at.isoformat(),
            "completed_at": instance.completed_at.isoformat() if instance.completed_at else None,
            "title": versions.case_title(instance.version_id, data), "tier": data.get("tier") or None,
            "location": data.get("location")}


def task_dicts(session: Session, rows: list[HumanTask]) -> list[dict]:
    """Tasks as ``task_dict`` shows them, their candidates read in one query."""
    if not rows:
        return []
    candidates = stored_inbox.candidates_by_task(session, [r.id for r in rows])
    return [task_dict(session, row, candidates) for row in rows]
