"""The job executor: acquires due timer jobs and fires them, each as one command of the runtime.

Modelled on Camunda 7's job executor. Each waiting timer is a ``timer_job`` row with its ``due_at``, written in
the same transaction as the instance state (``engine.runtime.timer_jobs``); a timer start event is a row of its
deployed version (``engine.jobs.schedule``). A worker

1. **acquires** due jobs in one short transaction: ``due_at < now``, retries left, and unlocked or with an
   expired lock; on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent workers take disjoint
   sets, on SQLite inside the ``BEGIN IMMEDIATE`` write transaction. It stamps ``lock_owner`` and
   ``lock_expires_at`` and commits;
2. **fires** each job as one command (``engine.runtime.executor``): lock the instance, re-check that the job is
   still its own, load, let the timers fire and the engine step, save (which deletes or moves the job) and
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
back) and becomes an incident after its last attempt; a conflict with another command is tried again a second
later without counting; ``retry`` gives a failed job new attempts. The worker loop also delivers the outbox
(``engine.outbox``) and works the items of bulk operations (``engine.jobs.batches``, when the executor has a
``batches`` runner), each in a thread beside the timers.

Comparisons are strict (``due_at < now``), as SpiffWorkflow's are: a timer due at 09:30:00 fires at any
instant after it.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from engine.audit.chain import AuditLog, PendingEvent
from engine.bpmn import timer_dues
from engine.errors import Conflict, NotFound, first_line
from engine.jobs.batches import BatchRunner
from engine.jobs.queries import job_dict
from engine.notifications import delivery as notification_delivery
from engine.outbox import delivery as outbox
from engine.runtime import incidents
from engine.runtime.commands import Runtime
from engine.runtime.context import CommandContext
from engine.runtime.timer_jobs import DEFAULT_RETRIES
from engine.store import Session
from engine.store import incidents as incident_rows
from engine.store import jobs as job_rows
from engine.store.db import Database
from engine.store.models import DefinitionVersion, TimerJob
from engine.time import clock

log = logging.getLogger("whistle.jobs")

DEFAULT_LOCK_SECONDS = 30.0  # longer than a command's engine time budget (engine.runtime.instances.STEP_SECONDS)
HEARTBEAT_FRACTION = 1 / 3  # a batch's locks are renewed once this part of a lock has gone by
DEFAULT_BACKOFF_SECONDS = 10.0  # then x4 per failed attempt: 10 s, 40 s, …
DEFAULT_BATCH = 5
DEFAULT_POLL_SECONDS = 0.5
TIMER_ACTOR = "timer"
TEST_HANG_ENV = "WHISTLE_TEST_HANG_IN_JOB"  # test mode only: block before commit, after touching this file


class TimerDidNotFire(RuntimeError):
    """A job was due but its timer did not fire (its instance no longer agrees on the due time)."""


@dataclass
class RunResult:
    acquired: int = 0
    fired: int = 0
    failed: int = 0
    skipped: int = 0
    outcomes: dict[int, str] = field(default_factory=dict)

    def add(self, other: RunResult) -> None:
        self.acquired += other.acquired
        self.fired += other.fired
        self.failed += other.failed
        self.skipped += other.skipped
        self.outcomes.update(other.outcomes)


def default_owner() -> str:
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobExecutor:
    """Acquires and fires due timer jobs. One per engine object; several may share a database."""

    def __init__(self, db: Database, runtime: Runtime, *, owner: str | None = None,
                 lock_seconds: float = DEFAULT_LOCK_SECONDS, backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
                 before_commit: Callable[[int], None] | None = None, batches: BatchRunner | None = None) -> None:
        self.db = db
        self.batches = batches  # the items of bulk operations, worked by the same loop (``run``)
        self.runtime = runtime
        self.owner = owner or default_owner()
        self.lock_seconds = lock_seconds
        self.backoff_seconds = backoff_seconds
        self.before_commit = before_commit if before_commit is not None else _test_hang_hook()

    # -- acquiring --------------------------------------------------------------------------------------

    def acquire(self, limit: int = DEFAULT_BATCH) -> list[tuple[int, int | None]]:
        """Lock up to ``limit`` due jobs for this worker: [(job id, instance id or None)]."""
        now = clock.now()
        with self.db.write() as session:
            return job_rows.acquire(session, self.owner, now, now + timedelta(seconds=self.lock_seconds), limit)

    def next_due(self) -> datetime | None:
        """The earliest moment a job may become acquirable (a due time, or a lock running out)."""
        now = clock.now()
        with self.db.read() as session:
            moments = job_rows.next_moments(session, now)
        return min(moments) if moments else None

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
            return job_rows.renew_locks(session, ids, self.owner, now + timedelta(seconds=self.lock_seconds))

    def release(self, ids: list[int]) -> None:
        if not ids:
            return
        with self.db.write() as session:
            job_rows.release(session, ids, self.owner)

    def fire(self, job_id: int, instance_id: int | None = None) -> str:
        """Fire one acquired job as one command: "fired", "skipped" (no longer ours or not due) or "failed"
        (rolled back; retried later or an incident). ``instance_id`` as acquired (else read)."""
        ctx = CommandContext("timer", TIMER_ACTOR)

        def work(session: Session, audit: AuditLog) -> str:
            of_instance = instance_id if instance_id is not None else job_rows.instance_of(session, job_id)
            if of_instance is None:
                return self._fire_start(session, audit, ctx, job_id)
            return self._fire(session, audit, ctx, job_id, of_instance)

        hang = self.before_commit

        def before_commit(outcome: str) -> None:
            if hang is not None and outcome == "fired":
                hang(job_id)

        try:
            return self.runtime.executor.run(ctx, work, record_incident=False,
                                             before_commit=before_commit if hang is not None else None)
        except Exception as exc:
            log.warning("timer job %s failed: %s: %s", job_id, exc.__class__.__name__, exc)
            self._failed(job_id, ctx, exc)
            return "failed"

    def _fire(self, session: Session, audit: AuditLog, ctx: CommandContext, job_id: int, instance_id: int) -> str:
        ctx.instance_id = instance_id
        instances = self.runtime.instances
        # The instance lock is the mutex for its jobs: every command that changes them holds it.
        instance = instances.lock(session, instance_id)
        rows = job_rows.of_instance(session, instance_id, fresh=True)
        job = next((row for row in rows if row.id == job_id), None)
        if job is None or job.lock_owner != self.owner:
            return "skipped"  # done by someone else meanwhile (a user's command, a worker after our lock ran out)
        ctx.process_id, ctx.version_id = job.process_id, job.version_id
        if instance.status == "suspended":
            # Suspended after this worker acquired the job: it waits for the resume (docs/timers.md).
            job.lock_owner = job.lock_expires_at = None
            job.suspended = True
            return "skipped"
        if instance.status != "running":
            session.delete(job)
            return "skipped"
        due_before = job.due_at
        now = clock.now()
        loaded = instances.load(session, instance, timer_jobs=rows)  # saving needs not read the rows again
        instances.fire_timers(loaded, ctx)
        instances.save(session, audit, ctx, loaded)
        session.flush()
        if job_rows.was_deleted(job):
            return "fired"
        if job.due_at == due_before:
            if due_before < now:
                raise TimerDidNotFire(f"timer '{job.element_id}' was due at {due_before.isoformat()} but did not fire")
            job.lock_owner = job.lock_expires_at = None  # not due any more (the clock was set back)
            return "skipped"
        job.lock_owner = job.lock_expires_at = None  # a cycle moved on to its next slot
        job.retries, job.last_error = DEFAULT_RETRIES, None
        return "fired"

    def _fire_start(self, session: Session, audit: AuditLog, ctx: CommandContext, job_id: int) -> str:
        job = job_rows.lock(session, job_id)
        if job is None or job.lock_owner != self.owner:
            return "skipped"
        ctx.process_id, ctx.version_id, ctx.element_id = job.process_id, job.version_id, job.element_id
        now = clock.now()
        if not job.due_at < now:
            job.lock_owner = job.lock_expires_at = None
            return "skipped"
        version = session.get(DefinitionVersion, job.version_id)
        if version is None:
            raise NotFound(f"no deployed version {job.version_id}")
        ctx.new_instance = True
        mark = len(audit.pending)
        loaded = self.runtime.instances.create(session, audit, ctx, version, {}, None, None,
                                               start_event=job.element_id)
        # First in the new case's chain, before "started" (save writes the chain).
        audit.pending.insert(mark, PendingEvent("timer_fired", TIMER_ACTOR, loaded.row.id, None, {
            "job_id": job.id, "element_id": job.element_id, "kind": "start", "due_at": job.due_at.isoformat(),
            "version": version.version}))
        ctx.element_id = None
        self.runtime.instances.run_engine_steps(loaded, ctx)
        self.runtime.instances.save(session, audit, ctx, loaded)
        due, schedule = timer_dues.next_start_due(job.due_at, job.schedule or {}, now)
        if due is None:
            session.delete(job)
        else:
            job.due_at, job.schedule = due, schedule
            job.lock_owner = job.lock_expires_at = None
            job.retries, job.last_error = DEFAULT_RETRIES, None
        return "fired"

    def _failed(self, job_id: int, ctx: CommandContext, exc: Exception) -> None:
        """Count the failed attempt: retry later with backoff, or raise an incident after the last one. A
        conflict with another command (``engine.runtime.executor`` reports it as ``Conflict``) is no attempt:
        the job is simply tried again a second later."""
        try:
            with self.db.write() as session:
                job = self._lock_job_and_instance(session, job_id)
                if job is None or job.lock_owner != self.owner:
                    return
                now = clock.now()
                audit = AuditLog()
                message = f"{exc.__class__.__name__}: {first_line(exc)}"
                job.lock_owner = job.lock_expires_at = None
                if isinstance(exc, Conflict):
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
                    where = replace(ctx, instance_id=job.instance_id, process_id=job.process_id,
                                    version_id=job.version_id, element_id=ctx.element_id or job.element_id,
                                    task_id=None if ctx.new_instance else ctx.task_id or job.task_id)
                    job.incident_id = incidents.record(session, audit, where, exc, now, job_id=job.id).id
                audit.flush(session)
        except Exception:  # the database is away: the lock simply runs out and the job is tried again
            log.exception("could not record the failure of timer job %s", job_id)

    def _lock_job_and_instance(self, session: Session, job_id: int) -> TimerJob | None:
        """The job row, read after locking its instance (instance first, as every command locks)."""
        instance_id = job_rows.instance_of(session, job_id)
        if instance_id is not None:
            self.runtime.instances.lock(session, instance_id)
        return job_rows.lock(session, job_id)

    # -- administration ---------------------------------------------------------------------------------

    def retry(self, job_id: int, actor: str = "system") -> dict:
        """Give a job new attempts, due now; its incident is resolved."""

        def work(session: Session, audit: AuditLog) -> dict:
            job = self._lock_job_and_instance(session, job_id)
            if job is None:
                raise NotFound(f"no timer job {job_id}")
            now = clock.now()
            incident_rows.resolve(session, job.incident_id, now)
            job.retries, job.last_error, job.incident_id = DEFAULT_RETRIES, None, None
            job.lock_owner = job.lock_expires_at = None
            job.due_at = min(job.due_at, now)
            audit.record("timer_retried", actor, job.instance_id, job.task_id, job_id=job.id,
                         element_id=job.element_id)
            return job_dict(job, now)

        return self.runtime.executor.run(CommandContext("timer retry", actor), work, record_incident=False)

    # -- the worker loop --------------------------------------------------------------------------------

    def run(self, stop: threading.Event, poll_interval: float = DEFAULT_POLL_SECONDS, batch: int = DEFAULT_BATCH,
            on_result: Callable[[RunResult], None] | None = None) -> RunResult:
        """Fire due jobs until ``stop`` is set. Idle, it sleeps until the next due time or ``poll_interval``,
        whichever comes first (one small indexed query per wake-up)."""
        total = RunResult()
        outbox.run_in_background(self.db, stop, self.owner)  # outbound webhooks, beside the timers (engine.outbox)
        if self.batches is not None:
            self.batches.run_in_background(stop, poll_interval)  # bulk operations' items (engine.jobs.batches)
        # notifications: the due-date scan and delivery by e-mail, webhook, SMS (engine.notifications.delivery)
        notification_delivery.run_in_background(self.db, self.runtime.instances.specs, stop, self.owner)
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

