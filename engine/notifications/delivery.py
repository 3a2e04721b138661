"""Delivering notifications: the worker loop (beside the timers and the outbox, ``engine.jobs.executor``) scans for
tasks due soon or overdue now and then (:func:`scan`) and sends what is pending (:func:`deliver_due`):

1. **acquire** due rows in one short write transaction (``state = pending``, ``next_attempt_at`` passed, unlocked or
   with an expired lock; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two workers take disjoint rows), stamping
   ``lock_owner``/``lock_expires_at`` — after a cheap read, so an idle worker writes nothing;
2. **send** each through its channel's adapter (``engine.notifications.channels``), outside any transaction;
3. **record** the outcome, if the row is still this worker's: ``sent``; or another attempt after a backoff
   (``WHISTLE_NOTIFY_BACKOFF_SECONDS``, default 30 s, × 4 per attempt); or, after the last attempt
   (``WHISTLE_NOTIFY_MAX_ATTEMPTS``, default 5) or a refusal that no retry can change (test mode, no address),
   ``failed`` with ``last_error``.

A row is sent by one worker at a time and recorded once; a worker that dies between sending and recording leaves a
lock that expires, and the message goes again (at least once; the row's id travels with it, in the e-mail header
``X-Whistle-Notification``). Times come from the engine clock, so tests move the backoff with the clock.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import timedelta

from engine.definitions import SpecCache
from engine.errors import first_line
from engine.notifications import channels as channel_adapters
from engine.notifications import writer
from engine.notifications.channels import Message, NotSent
from engine.store import notifications as stored
from engine.store.db import Database
from engine.time import clock

log = logging.getLogger("whistle.notifications")

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_SECONDS = 30.0  # then x4: 30 s, 2 min, 8 min, 32 min
LOCK_SECONDS = 60.0
BATCH = 20
DEFAULT_SCAN_SECONDS = 15.0


def max_attempts() -> int:
    return max(1, int(os.environ.get("WHISTLE_NOTIFY_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)))


def backoff(attempts: int) -> timedelta:
    seconds = max(0.0, float(os.environ.get("WHISTLE_NOTIFY_BACKOFF_SECONDS", DEFAULT_BACKOFF_SECONDS)))
    return timedelta(seconds=seconds * 4 ** max(0, attempts - 1))


@dataclass
class DeliveryResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0  # taken over by another worker

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def scan(db: Database, specs: SpecCache) -> dict[str, int]:
    """One due-date scan (``engine.notifications.writer.scan_due``) in its own write transaction."""
    with db.write() as session:
        return writer.scan_due(session, clock.now(), specs)


def deliver_due(db: Database, owner: str | None = None, limit: int = BATCH) -> DeliveryResult:
    """Send what is due now (one batch); what happened."""
    owner = owner or f"notify:{os.getpid()}:{threading.get_ident()}"
    result = DeliveryResult()
    now = clock.now()
    with db.read() as session:
        if not stored.due_exists(session, now):
            return result
    with db.write() as session:
        ids = stored.acquire(session, owner, now, now + timedelta(seconds=LOCK_SECONDS), limit)
    for notification_id in ids:
        outcome = _deliver_one(db, notification_id, owner)
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def _deliver_one(db: Database, notification_id: int, owner: str) -> str:
    with db.read() as session:
        row = stored.get(session, notification_id)
        if row is None or row.lock_owner != owner:
            return "skipped"
        message = Message(row.id, row.event, row.recipient, row.channel, row.address, row.title, row.text,
                          row.title_en, row.text_en, row.instance_id, row.task_id)
    error, final = None, False
    adapter = channel_adapters.ADAPTERS.get(message.channel)
    try:
        if adapter is None:
            raise NotSent(f"no channel {message.channel!r}", final=True)
        adapter.send(message)
    except NotSent as exc:
        error, final = str(exc), exc.final
    except Exception as exc:  # refused, timed out, an SMTP error …
        error = f"{exc.__class__.__name__}: {first_line(exc)}"
    return _record(db, notification_id, owner, error, final)


def _record(db: Database, notification_id: int, owner: str, error: str | None, final: bool) -> str:
    with db.write() as session:
        row = stored.lock(session, notification_id)
        if row is None or row.lock_owner != owner or row.state != stored.PENDING:
            return "skipped"
        now = clock.now()
        row.attempts += 1
        row.lock_owner = row.lock_expires_at = None
        if error is None:
            row.state, row.sent_at, row.last_error = stored.SENT, now, None
            return "sent"
        row.last_error = error[:2000]
        if final or row.attempts >= max_attempts():
            row.state, row.next_attempt_at = stored.FAILED, None
            log.warning("notification %s (%s to %s by %s) failed: %s", row.id, row.event, row.recipient,
                        row.channel, error)
            return "failed"
        row.next_attempt_at = now + backoff(row.attempts)
        return "retrying"


def run_in_background(db: Database, specs: SpecCache, stop: threading.Event, owner: str | None = None,
                      poll_seconds: float = 1.0) -> threading.Thread:
    """Scan for due tasks every ``WHISTLE_NOTIFY_SCAN_SECONDS`` (default 15) and send pending notifications
    until ``stop`` is set, in a daemon thread beside the timer worker (a slow mail server holds up no timer)."""
    scan_every = max(1.0, float(os.environ.get("WHISTLE_NOTIFY_SCAN_SECONDS", DEFAULT_SCAN_SECONDS)))

    def loop() -> None:
        next_scan = 0.0
        waited = 0.0
        while not stop.is_set():
            try:
                if waited >= next_scan:
                    scan(db, specs)
                    next_scan, waited = scan_every, 0.0
                while not stop.is_set() and any(deliver_due(db, owner).to_dict().values()):
                    pass  # the batch did something: more may be due
            except Exception:
                log.exception("notifications: could not scan or deliver; trying again in %.1f s", poll_seconds)
            stop.wait(poll_seconds)
            waited += poll_seconds

    thread = threading.Thread(target=loop, name="whistle-notifications", daemon=True)
    thread.start()
    return thread
