"""Timer jobs as administrators see them (``whistle jobs``, a case's timers)."""
from __future__ import annotations

from datetime import datetime

from engine.store import Session
from engine.store import jobs as job_rows
from engine.store.models import TimerJob


def job_state(job: TimerJob, now: datetime) -> str:
    """failed (no attempts left), locked (a worker has it), due, retrying (after a failure) or scheduled."""
    if job.retries <= 0:
        return "failed"
    if job.lock_owner is not None and job.lock_expires_at is not None and job.lock_expires_at >= now:
        return "locked"
    if job.due_at < now:
        return "due"
    return "retrying" if job.last_error else "scheduled"


def job_dict(job: TimerJob, now: datetime) -> dict:
    return {"job_id": job.id, "state": job_state(job, now), "instance_id": job.instance_id,
            "process_id": job.process_id, "version_id": job.version_id, "element_id": job.element_id,
            "task_id": job.task_id, "kind": job.kind, "timer_type": job.timer_type,
            "due_at": job.due_at.isoformat(), "lock_owner": job.lock_owner,
            "lock_expires_at": job.lock_expires_at.isoformat() if job.lock_expires_at else None,
            "retries": job.retries, "last_error": job.last_error, "incident_id": job.incident_id,
            "created_at": job.created_at.isoformat()}


def list_jobs(session: Session, now: datetime, include_scheduled: bool = False, limit: int = 500) -> list[dict]:
    """The jobs that need attention (due, locked, failing, failed), or all of them with ``include_scheduled``."""
    return [job_dict(row, now) for row in job_rows.listing(session, now, include_scheduled, limit)]


def instance_timers(session: Session, instance_id: int, now: datetime) -> list[dict]:
    """A case's waiting timers, by due time."""
    return [job_dict(row, now) for row in job_rows.of_instance_by_due(session, instance_id)]
