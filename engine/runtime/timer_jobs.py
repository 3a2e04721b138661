"""An instance's timer jobs: one ``timer_job`` row per waiting timer, written with the instance's state (so a
timer fires at most once: firing it and removing or moving its row are one transaction), and a ``timer_fired``
audit event for every timer that fired in the step. The job executor (``engine.jobs``) fires the rows."""
from __future__ import annotations

from datetime import datetime

from engine.audit.chain import AuditLog
from engine.bpmn.timer_dues import spec_has_timers, waiting_timers
from engine.runtime.loaded import LoadedInstance
from engine.store import Session
from engine.store import jobs as job_rows
from engine.store.models import TimerJob

DEFAULT_RETRIES = 3  # attempts a timer job has before its failure becomes an incident


def sync(session: Session, audit: AuditLog, actor: str | None, loaded: LoadedInstance, now: datetime) -> None:
    """Make the instance's job rows match its waiting timers, and audit every timer that fired."""
    fired, loaded.fired = loaded.fired, []
    instance, workflow = loaded.row, loaded.workflow
    if not fired and not spec_has_timers(workflow.spec, workflow.subprocess_specs):
        return  # nothing can wait on a timer in this process: no query at all
    waiting = {}
    if instance.status in ("running", "suspended") and not workflow.completed:  # a suspended case's timers wait
        waiting = {(t.task_id, t.element_id): t for t in waiting_timers(workflow)}
    # Read already by the timer executor, under the instance's lock; they are stale once this save changes them.
    known, loaded.timer_jobs = loaded.timer_jobs, None
    rows = {(row.task_id, row.element_id): row
            for row in (known if known is not None else job_rows.of_instance(session, instance.id))}
    for record in fired:
        row = rows.get((record["task_id"], record["element_id"]))
        details = {k: v for k, v in record.items() if k != "task_id" and v not in (None, 0)}
        audit.record("timer_fired", actor, instance.id, record["task_id"], job_id=row.id if row else None, **details)
    for key, row in rows.items():
        if key not in waiting:
            session.delete(row)
    for key, timer in waiting.items():
        row = rows.get(key)
        if row is None:
            session.add(TimerJob(instance_id=instance.id, version_id=instance.version_id,
                                 process_id=instance.process_id, task_id=timer.task_id, element_id=timer.element_id,
                                 kind=timer.kind, timer_type=timer.timer_type, due_at=timer.due_at,
                                 retries=DEFAULT_RETRIES, created_at=now,
                                 suspended=instance.status == "suspended"))
        elif row.last_error is None:
            row.due_at = timer.due_at
        else:
            # Retrying after a failure: the backoff holds unless the timer itself moved later.
            row.due_at = max(row.due_at, timer.due_at)
