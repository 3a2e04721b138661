"""Timer jobs: the projection of waiting timers, and the executor that fires them.

Modelled on Camunda 7's job executor. Each waiting timer is a ``timer_job`` row with its ``due_at``,
written in the same transaction as the instance state (``Runtime.save`` calls ``sync_instance_jobs``);
a timer start event is a row of its deployed version (``schedule_timer_starts``). A worker

1. **acquires** due jobs in one short transaction: ``due_at < now``, retries left, and unlocked or with an
   expired lock; on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent workers take disjoint
   sets, on SQLite inside the ``BEGIN IMMEDIATE`` write transaction. It stamps ``lock_owner`` and
   ``lock_expires_at`` and commits;
2. **fires** each job in its own command transaction: lock the instance, re-check that the job is still
   its own, load, ``refresh_timers()`` + ``do_engine_steps()``, save (which deletes or moves the job) and
   commit. A timer start job starts a new instance of its version and moves to the next slot.

A worker killed mid-job leaves nothing half done (its transaction never committed) and a lock that simply
expires; another worker then takes the job. Locks are short (30 s) and batches small (5), and a live worker
renews the locks of the jobs still waiting in its batch between jobs (``heartbeat``), so a killed worker
delays at most one small batch, by at most one lock. Renewing between jobs rather than from a thread also
lets a worker stuck in one job lose the rest of its batch to the others, which is what they are for; the
job in hand needs no lock of its own once it is being fired: firing holds its instance's row lock, and a
worker that takes the job over meanwhile finds it fired (or moved) and skips it.

A timer fires at most once because firing it and removing (or moving) its job are one transaction, and every
firing is an audit event ``timer_fired``.

A failing job is retried with backoff (``retries`` decremented, ``last_error`` kept, ``due_at`` pushed
back) and becomes an incident after its last attempt; ``retry_job`` gives it new attempts.

Comparisons are strict (``due_at < now``), as SpiffWorkflow's are: a timer due at 09:30:00 fires at any
instant after it.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import func, inspect, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from engine.time import clock
from engine.runtime import incidents
from engine.outbox import delivery as outbox
from engine.bpmn import timer_dues, timers
from engine.audit.chain import AuditLog, PendingEvent
from engine.errors import Conflict, NotFound, first_line, is_lock_conflict
from engine.store.models import DefinitionVersion, Incident, TimerJob

log = logging.getLogger("whistle.jobs")

DEFAULT_RETRIES = 3
DEFAULT_LOCK_SECONDS = 30.0  # longer than a command's engine time budget (runtime.STEP_SECONDS, 20 s)
HEARTBEAT_FRACTION = 1 / 3  # a batch's locks are renewed once this part of a lock has gone by
DEFAULT_BACKOFF_SECONDS = 10.0  # then x4 per failed attempt: 10 s, 40 s, …
DEFAULT_BATCH = 5
DEFAULT_POLL_SECONDS = 0.5
TIMER_ACTOR = "timer"
TEST_HANG_ENV = "WHISTLE_TEST_HANG_IN_JOB"  # test mode only: block before commit, after touching this file


# ---------------------------------------------------------------------------------------------------------
# The projection, written with the instance state.

def sync_instance_jobs(session: Session, audit: AuditLog, actor: str | None, instance, workflow, now: datetime) -> None:
    """Make the instance's job rows match its waiting timers, and audit every timer that fired."""
    fired = timers.take_fired(workflow)
    if not fired and not timer_dues.spec_has_timers(workflow.spec, workflow.subprocess_specs):
        return  # nothing can wait on a timer in this process: no query at all
    waiting = {}
    if instance.status == "running" and not workflow.completed:
        waiting = {(t.task_id, t.element_id): t for t in timer_dues.waiting_timers(workflow)}
    loaded = workflow.__dict__.pop("_whistle_job_rows", None)  # read already by the executor, under the lock
    if loaded is None:
        loaded = session.execute(select(TimerJob).where(TimerJob.instance_id == instance.id)).scalars().all()
    rows = {(row.task_id, row.element_id): row for row in loaded}
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
                                 retries=DEFAULT_RETRIES, created_at=now))
        elif row.last_error is None:
            row.due_at = timer.due_at
        else:
            # Retrying after a failure: the backoff holds unless the timer itself moved later.
            row.due_at = max(row.due_at, timer.due_at)


def schedule_timer_starts(session: Session, audit: AuditLog, version: DefinitionVersion, spec, actor: str) -> None:
    """A newly deployed version takes over its process's timer start schedule."""
    from engine.scripting.script_engine import script_engine

    old = session.execute(select(TimerJob).where(TimerJob.process_id == version.key, TimerJob.kind == "start",
                                                 TimerJob.instance_id.is_(None))).scalars().all()
    for row in old:
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


# ---------------------------------------------------------------------------------------------------------
# Queries.

def job_state(job: TimerJob, now: datetime) -> str:
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
    query = select(TimerJob)
    if not include_scheduled:
        query = query.where(or_(TimerJob.due_at < now, TimerJob.lock_owner.is_not(None), TimerJob.retries <= 0,
                                TimerJob.last_error.is_not(None)))
    rows = session.execute(query.order_by(TimerJob.due_at, TimerJob.id).limit(limit)).scalars().all()
    return [job_dict(row, now) for row in rows]


def instance_timers(session: Session, instance_id: int, now: datetime) -> list[dict]:
    rows = session.execute(select(TimerJob).where(TimerJob.instance_id == instance_id)
                           .order_by(TimerJob.due_at, TimerJob.id)).scalars().all()
    return [job_dict(row, now) for row in rows]


# ---------------------------------------------------------------------------------------------------------
# The executor.

class TimerDidNotFire(RuntimeError):
    """A job was due but its timer did not fire (its instance no longer agrees on the due time)."""


@dataclass
class RunResult:
    acquired: int = 0
    fired: int = 0
    failed: int = 0
    skipped: int = 0
    outcomes: dict = field(default_factory=dict)

    def add(self, other: "RunResult") -> None:
        self.acquired += other.acquired
        self.fired += other.fired
        self.failed += other.failed
        self.skipped += other.skipped
        self.outcomes.update(other.outcomes)


def default_owner() -> str:
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobExecutor:
    """Acquires and fires due timer jobs. One per engine object; several may share a database."""

    def __init__(self, db, runtime, *, owner: str | None = None, lock_seconds: float = DEFAULT_LOCK_SECONDS,
                 backoff_seconds: float = DEFAULT_BACKOFF_SECONDS, before_commit: Callable[[int], None] | None = None):
        self.db = db
        self.runtime = runtime
        self.owner = owner or default_owner()
        self.lock_seconds = lock_seconds
        self.backoff_seconds = backoff_seconds
        self.before_commit = before_commit if before_commit is not None else _test_hang_hook()

    # -- acquiring --------------------------------------------------------------------------------------

    def _acquirable(self, now: datetime):
        return (TimerJob.due_at < now, TimerJob.retries > 0,
                or_(TimerJob.lock_owner.is_(None), TimerJob.lock_expires_at < now))

    def acquire(self, limit: int = DEFAULT_BATCH) -> list[tuple[int, int | None]]:
        """Lock up to ``limit`` due jobs for this worker: [(job id, instance id or None)]."""
        now = clock.now()
        with self.db.write() as session:
            found = session.execute(select(TimerJob.id, TimerJob.instance_id).where(*self._acquirable(now))
                                    .order_by(TimerJob.due_at).limit(limit)
                                    .with_for_update(skip_locked=True)).all()
            ids = [row[0] for row in found]
            if ids:
                session.execute(update(TimerJob).where(TimerJob.id.in_(ids))
                                .values(lock_owner=self.owner,
                                        lock_expires_at=now + timedelta(seconds=self.lock_seconds))
                                .execution_options(synchronize_session=False))
        return [(row[0], row[1]) for row in found]

    def next_due(self) -> datetime | None:
        """The earliest moment a job may become acquirable (a due time, or a lock running out). Both
        queries walk the ``due_at`` index from its start, so an idle worker's poll stays cheap however many
        timers wait in the future."""
        now = clock.now()
        with self.db.read() as session:
            free = session.execute(select(func.min(TimerJob.due_at)).where(
                TimerJob.retries > 0, TimerJob.lock_owner.is_(None))).scalar()
            held = session.execute(select(func.min(func.coalesce(TimerJob.lock_expires_at, TimerJob.due_at))).where(
                TimerJob.due_at < now, TimerJob.retries > 0, TimerJob.lock_owner.is_not(None))).scalar()
        moments = [m for m in (free, held) if m is not None]
        if not moments:
            return None
        return min(m if m.tzinfo else m.replace(tzinfo=timezone.utc) for m in moments)

    # -- firing -----------------------------------------------------------------------------------------

    def run_once(self, limit: int = DEFAULT_BATCH, stop: threading.Event | None = None) -> RunResult:
        """Acquire one batch of due jobs and fire them one by one."""
        result = RunResult()
        jobs = self.acquire(limit)
        result.acquired = len(jobs)
        beat = timedelta(seconds=self.lock_seconds * HEARTBEAT_FRACTION)
        next_beat = clock.now() + beat
        held: set[int] | None = None  # as the last heartbeat found them
        for position, (job_id, instance_id) in enumerate(jobs):
            if stop is not None and stop.is_set():
                self.release([j for j, _ in jobs[position:]])
                break
            if clock.now() >= next_beat:
                try:
                    held = self.heartbeat([j for j, _ in jobs[position:]])
                except Exception:  # the database is away: fire() finds out, and the locks simply run out
                    log.exception("timer worker: could not renew the locks of its batch")
                next_beat = clock.now() + beat
            if held is not None and job_id not in held:
                result.outcomes[job_id] = "skipped"  # taken over by another worker after our lock ran out
                result.skipped += 1
                continue
            outcome = self.fire(job_id, instance_id)
            result.outcomes[job_id] = outcome
            setattr(result, outcome, getattr(result, outcome) + 1)
        return result

    def fire_due(self, limit: int | None = None, batch: int = DEFAULT_BATCH,
                 stop: threading.Event | None = None) -> RunResult:
        """Fire everything that is due now (until nothing due is left, or ``limit`` jobs were taken)."""
        total = RunResult()
        while stop is None or not stop.is_set():
            size = batch if limit is None else min(batch, limit - total.acquired)
            if size <= 0:
                break
            result = self.run_once(size, stop)
            total.add(result)
            if result.acquired == 0:
                break
        return total

    def heartbeat(self, ids: list[int]) -> set[int]:
        """Renew this worker's locks on ``ids`` for another ``lock_seconds``; the ids still held (a lock that
        ran out may have been taken by another worker meanwhile: that job is theirs now)."""
        if not ids:
            return set()
        now = clock.now()
        with self.db.write() as session:
            mine = (TimerJob.id.in_(ids), TimerJob.lock_owner == self.owner)
            session.execute(update(TimerJob).where(*mine)
                            .values(lock_expires_at=now + timedelta(seconds=self.lock_seconds))
                            .execution_options(synchronize_session=False))
            return set(session.execute(select(TimerJob.id).where(*mine)).scalars())

    def release(self, ids: list[int]) -> None:
        if not ids:
            return
        with self.db.write() as session:
            session.execute(update(TimerJob).where(TimerJob.id.in_(ids), TimerJob.lock_owner == self.owner)
                            .values(lock_owner=None, lock_expires_at=None)
                            .execution_options(synchronize_session=False))

    def fire(self, job_id: int, instance_id: int | None = None) -> str:
        """Fire one acquired job in its own transaction: "fired", "skipped" (no longer ours or not due)
        or "failed" (rolled back; retried later or an incident). ``instance_id`` as acquired (else read)."""
        from engine.runtime.commands import CommandContext

        ctx = CommandContext("timer", TIMER_ACTOR)
        try:
            with self.db.write() as session:
                audit = AuditLog()
                if instance_id is None:
                    instance_id = session.execute(select(TimerJob.instance_id).where(TimerJob.id == job_id)).scalar()
                if instance_id is None:
                    outcome = self._fire_start(session, audit, ctx, job_id)
                else:
                    outcome = self._fire(session, audit, ctx, job_id, instance_id)
                audit.flush(session)
                if self.before_commit is not None and outcome == "fired":
                    self.before_commit(job_id)
            return outcome
        except Exception as exc:
            log.warning("timer job %s failed: %s: %s", job_id, exc.__class__.__name__, exc)
            self._failed(job_id, ctx, exc)
            return "failed"

    def _relock(self, session: Session, job_id: int) -> TimerJob | None:
        job = session.execute(select(TimerJob).where(TimerJob.id == job_id).with_for_update()
                              .execution_options(populate_existing=True)).scalar()
        return job if job is not None and job.lock_owner == self.owner else None

    def _fire(self, session: Session, audit: AuditLog, ctx, job_id: int, instance_id: int) -> str:
        ctx.instance_id = instance_id
        # The instance lock is the mutex for its jobs: every command that changes them holds it.
        instance = self.runtime.lock_instance(session, instance_id)
        rows = session.execute(select(TimerJob).where(TimerJob.instance_id == instance_id)
                               .execution_options(populate_existing=True)).scalars().all()
        job = next((row for row in rows if row.id == job_id), None)
        if job is None or job.lock_owner != self.owner:
            return "skipped"  # done by someone else meanwhile (a user's command, a worker after our lock ran out)
        ctx.process_id, ctx.version_id = job.process_id, job.version_id
        if instance.status != "running":
            session.delete(job)
            return "skipped"
        due_before = job.due_at
        now = clock.now()
        workflow = self.runtime.load(session, instance)
        workflow.__dict__["_whistle_job_rows"] = rows  # saves sync_instance_jobs reading them again
        workflow.refresh_timers()
        self.runtime._engine_steps(workflow, ctx)
        self.runtime.save(session, audit, ctx, instance, workflow)
        session.flush()
        if inspect(job).deleted or inspect(job).was_deleted:
            return "fired"
        if job.due_at == due_before:
            if due_before < now:
                raise TimerDidNotFire(f"timer '{job.element_id}' was due at {due_before.isoformat()} but did not fire")
            job.lock_owner = job.lock_expires_at = None  # not due any more (the clock was set back)
            return "skipped"
        job.lock_owner = job.lock_expires_at = None  # a cycle moved on to its next slot
        job.retries, job.last_error = DEFAULT_RETRIES, None
        return "fired"

    def _fire_start(self, session: Session, audit: AuditLog, ctx, job_id: int) -> str:
        job = self._relock(session, job_id)
        if job is None:
            return "skipped"
        ctx.process_id, ctx.version_id, ctx.element_id = job.process_id, job.version_id, job.element_id
        now = clock.now()
        if not job.due_at < now:
            job.lock_owner = job.lock_expires_at = None
            return "skipped"
        version = session.get(DefinitionVersion, job.version_id)
        ctx.new_instance = True
        mark = len(audit.pending)
        instance, workflow = self.runtime._new_instance(session, audit, ctx, version, {}, None, None,
                                                        start_event=job.element_id)
        # First in the new case's chain, before "started" (save writes the chain).
        audit.pending.insert(mark, PendingEvent("timer_fired", TIMER_ACTOR, instance.id, None, {
            "job_id": job.id, "element_id": job.element_id, "kind": "start", "due_at": job.due_at.isoformat(),
            "version": version.version}))
        ctx.element_id = None
        self.runtime._engine_steps(workflow, ctx)
        self.runtime.save(session, audit, ctx, instance, workflow)
        due, schedule = timer_dues.next_start_due(job.due_at, job.schedule or {}, now)
        if due is None:
            session.delete(job)
        else:
            job.due_at, job.schedule = due, schedule
            job.lock_owner = job.lock_expires_at = None
            job.retries, job.last_error = DEFAULT_RETRIES, None
        return "fired"

    def _failed(self, job_id: int, ctx, exc: Exception) -> None:
        """Count the failed attempt: retry later with backoff, or raise an incident after the last one."""
        transient = isinstance(exc, Conflict) or (isinstance(exc, OperationalError) and is_lock_conflict(exc))
        try:
            with self.db.write() as session:
                job = self._lock_job_and_instance(session, job_id)
                if job is None or job.lock_owner != self.owner:
                    return
                now = clock.now()
                audit = AuditLog()
                message = f"{exc.__class__.__name__}: {first_line(exc)}"
                job.lock_owner = job.lock_expires_at = None
                if transient:
                    job.due_at = max(job.due_at, now + timedelta(seconds=1))
                    return
                job.retries = max(0, job.retries - 1)
                job.last_error = message[:2000]
                attempt = DEFAULT_RETRIES - job.retries
                if job.retries > 0:
                    delay = timedelta(seconds=self.backoff_seconds * 4 ** max(0, attempt - 1))
                    job.due_at = now + delay
                    audit.record("timer_failed", TIMER_ACTOR, job.instance_id, job.task_id, job_id=job.id,
                                 element_id=job.element_id, error=message, retries_left=job.retries,
                                 retry_at=job.due_at.isoformat())
                else:
                    incident = Incident(
                        instance_id=job.instance_id, process_id=job.process_id, version_id=job.version_id,
                        task_id=None if ctx.new_instance else ctx.task_id or job.task_id,
                        element_id=ctx.element_id or job.element_id, command="timer", actor=TIMER_ACTOR,
                        error_type=exc.__class__.__name__, message=first_line(exc),
                        traceback="".join(traceback.format_exception(exc)), created_at=now)
                    session.add(incident)
                    session.flush()
                    job.incident_id = incident.id
                    audit.record("incident", TIMER_ACTOR, job.instance_id, incident.task_id, incident_id=incident.id,
                                 command="timer", element_id=incident.element_id, error=message, job_id=job.id)
                audit.flush(session)
        except Exception:  # the database is away: the lock simply runs out and the job is tried again
            log.exception("could not record the failure of timer job %s", job_id)

    def _lock_job_and_instance(self, session: Session, job_id: int) -> TimerJob | None:
        """The job row, read after locking its instance (instance first, as every command locks)."""
        instance_id = session.execute(select(TimerJob.instance_id).where(TimerJob.id == job_id)).scalar()
        if instance_id is not None:
            self.runtime.lock_instance(session, instance_id)
        return session.execute(select(TimerJob).where(TimerJob.id == job_id).with_for_update()
                               .execution_options(populate_existing=True)).scalar()

    # -- administration ---------------------------------------------------------------------------------

    def retry(self, job_id: int, actor: str = "system") -> dict:
        with self.db.write() as session:
            job = self._lock_job_and_instance(session, job_id)
            if job is None:
                raise NotFound(f"no timer job {job_id}")
            now = clock.now()
            incidents.resolve(session, job.incident_id, now)
            job.retries, job.last_error, job.incident_id = DEFAULT_RETRIES, None, None
            job.lock_owner = job.lock_expires_at = None
            job.due_at = min(job.due_at, now)
            audit = AuditLog()
            audit.record("timer_retried", actor, job.instance_id, job.task_id, job_id=job.id,
                         element_id=job.element_id)
            audit.flush(session)
            return job_dict(job, now)

    # -- the worker loop --------------------------------------------------------------------------------

    def run(self, stop: threading.Event, poll_interval: float = DEFAULT_POLL_SECONDS, batch: int = DEFAULT_BATCH,
            on_result: Callable[[RunResult], None] | None = None) -> RunResult:
        """Fire due jobs until ``stop`` is set. Idle, it sleeps until the next due time or ``poll_interval``,
        whichever comes first (one small indexed query per wake-up)."""
        total = RunResult()
        outbox.run_in_background(self.db, stop, self.owner)  # outbound webhooks, beside the timers (engine.outbox)
        while not stop.is_set():
            try:
                upcoming = self.next_due()
                now = clock.now()
                if upcoming is not None and upcoming < now:
                    result = self.run_once(batch, stop)
                    total.add(result)
                    if on_result is not None and result.acquired:
                        on_result(result)
                    if result.acquired:
                        continue
                    wait = 0.05  # due but held by others: look again soon
                elif upcoming is not None:
                    wait = min(poll_interval, (upcoming - now).total_seconds() + 0.002)
                else:
                    wait = poll_interval
            except Exception:
                log.exception("timer worker: database error; retrying in %.1f s", poll_interval)
                wait = poll_interval
            stop.wait(max(0.0, wait))
        return total


def start_worker_thread(executor: JobExecutor, poll_interval: float = DEFAULT_POLL_SECONDS,
                        batch: int = DEFAULT_BATCH) -> tuple[threading.Thread, threading.Event]:
    """Run the executor loop in a daemon thread (``whistle serve``); set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=executor.run, args=(stop, poll_interval, batch), name="whistle-timer-worker",
                              daemon=True)
    thread.start()
    return thread, stop


def _test_hang_hook() -> Callable[[int], None] | None:
    """Test mode only: block forever just before committing a fired job, so a test can kill the process
    while it holds the job's lock (``WHISTLE_TEST_HANG_IN_JOB=/path/to/marker``)."""
    marker = os.environ.get(TEST_HANG_ENV)
    if not marker or clock.mode() != "test":
        return None

    def hang(job_id: int) -> None:
        with open(marker, "w") as handle:
            handle.write(f"{os.getpid()} {job_id}\n")
        while True:
            time.sleep(3600)

    return hang

