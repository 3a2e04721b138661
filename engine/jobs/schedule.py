"""Timer start events: a deployed version's timer start events are ``timer_job`` rows of their own (no instance
yet); a newly deployed version takes over its process's schedule (called by ``engine.deploy.deployer``)."""
from __future__ import annotations

from typing import Any

from engine.audit.chain import AuditLog
from engine.bpmn import timer_dues
from engine.runtime.timer_jobs import DEFAULT_RETRIES
from engine.scripting.script_engine import script_engine
from engine.store import Session
from engine.store import jobs as job_rows
from engine.store.models import DefinitionVersion, TimerJob
from engine.time import clock


def schedule_timer_starts(session: Session, audit: AuditLog, version: DefinitionVersion, spec: Any,
                          actor: str) -> None:
    """Unschedule the process's timer starts and schedule those of ``version`` (its first due slot each)."""
    for row in job_rows.scheduled_starts(session, version.key):
        audit.record("timer_unscheduled", actor, None, None, process_id=version.key, job_id=row.id,
                     element_id=row.element_id, replaced_by_version=version.version)
        session.delete(row)
    now = clock.now()
    for start in timer_dues.start_timers(spec):
        due, schedule = timer_dues.first_start_due(start, script_engine(), now)
        if due is None:
            continue
        row = TimerJob(instance_id=None, version_id=version.id, process_id=version.key, task_id=None,
                       element_id=start.element_id, kind="start", timer_type=start.timer_type, due_at=due,
                       schedule=schedule or None, retries=DEFAULT_RETRIES, created_at=now)
        session.add(row)
        session.flush()
        audit.record("timer_scheduled", actor, None, None, process_id=version.key, version=version.version,
                     job_id=row.id, element_id=start.element_id, due_at=due.isoformat())
