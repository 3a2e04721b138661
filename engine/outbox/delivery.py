"""The outbox: outbound webhooks (the 12345 hotline's replies), written with the step that causes them.

A BPMN service task ``whistle.notify`` (``engine.scripting.services``) calls :func:`enqueue` inside the transaction
of the step that reached it, so an ``outbox_delivery`` row exists exactly when that step committed: a step that fails
or is rolled back leaves none, and nothing is sent for a change that did not happen. One row per case and event: its
``event_id`` (``hotline-17-response``) is unique, so a step that runs the same service task again (a loop in the
diagram, a retried command) finds the row already there and adds nothing.

The worker loop (``JobExecutor.run``, so ``whistle worker`` and the worker of ``whistle serve``) runs
:func:`run_in_background`, a thread that calls :func:`deliver_due`; ``whistle outbox deliver`` does the same on its
own. Delivery:

1. **acquire** due rows in one short write transaction (``status = pending``, ``next_attempt_at`` passed, unlocked or
   with an expired lock; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), stamping ``lock_owner``/``lock_expires_at`` —
   a cheap read first, so an idle worker writes nothing;
2. **post** each body, outside any transaction, to the channel's URL (``WHISTLE_<CHANNEL>_WEBHOOK_URL``) with
   ``X-Whistle-Signature: sha256=<HMAC-SHA256 of the body with WHISTLE_<CHANNEL>_WEBHOOK_SECRET>``,
   ``X-Whistle-Event`` and ``X-Whistle-Event-Id``;
3. **record** the outcome in the row and the case's audit chain: a 2xx is ``delivered`` (``webhook_delivered``);
   anything else is another attempt after a backoff (``WHISTLE_WEBHOOK_BACKOFF_SECONDS``, default 30 s, × 4 per
   attempt; ``webhook_failed``), and after the last one (``WHISTLE_WEBHOOK_MAX_ATTEMPTS``, default 6) the row is
   ``failed`` and an incident is recorded on the case. ``whistle outbox retry ID`` gives it new attempts.

Each event is sent until one attempt is answered 2xx, and never again after that; a receiver that answered but whose
answer was lost (a crash between its 200 and our commit) gets the same body again with the same ``event_id``, which
is how any webhook is delivered exactly once: the receiver drops an ``event_id`` it has seen.

A channel without a URL or secret is not attempted: its rows wait (``last_error`` says what to set) and are sent once
it is configured. Times come from the engine clock, so tests and demos move the backoff with the clock.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from engine.audit.chain import AuditLog
from engine.errors import Conflict, NotFound, first_line
from engine.store import Session
from engine.store import incidents as incident_rows
from engine.store import instances as instance_rows
from engine.store import outbox as stored
from engine.store.db import Database
from engine.store.models import OutboxDelivery, ProcessInstance
from engine.time import clock

log = logging.getLogger("whistle.outbox")

NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_BACKOFF_SECONDS = 30.0  # then x4 per failed attempt: 30 s, 2 min, 8 min, 32 min, 2 h 8 min
DEFAULT_TIMEOUT_SECONDS = 10.0
LOCK_SECONDS = 60.0  # longer than a request may take
NOT_CONFIGURED_WAIT = timedelta(seconds=60)
BATCH = 10
MAX_BODY = 256 * 1024
ACTOR = "outbox"
PENDING, DELIVERED, FAILED = stored.PENDING, "delivered", "failed"


class OutboxError(Exception):
    """An event cannot be enqueued (a bad channel or event name, data that is not JSON, no case to tie it to)."""


@dataclass(frozen=True)
class Channel:
    name: str
    url: str | None
    secret: str | None
    max_attempts: int
    backoff_seconds: float
    timeout_seconds: float

    @property
    def missing(self) -> list[str]:
        prefix = f"WHISTLE_{self.name.upper()}_WEBHOOK"
        return [f"{prefix}_{part}" for part, value in (("URL", self.url), ("SECRET", self.secret)) if not value]


def channel(name: str) -> Channel:
    """A channel's configuration from the environment, read at every delivery (a changed URL takes effect at once)."""
    prefix = f"WHISTLE_{name.upper()}_WEBHOOK"
    return Channel(name, os.environ.get(f"{prefix}_URL") or None, os.environ.get(f"{prefix}_SECRET") or None,
                   max(1, int(os.environ.get("WHISTLE_WEBHOOK_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))),
                   max(0.0, float(os.environ.get("WHISTLE_WEBHOOK_BACKOFF_SECONDS", DEFAULT_BACKOFF_SECONDS))),
                   max(0.1, float(os.environ.get("WHISTLE_WEBHOOK_TIMEOUT", DEFAULT_TIMEOUT_SECONDS))))


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of the exact body bytes. A receiver checks it with ``hmac.compare_digest``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def backoff(attempts: int, settings: Channel) -> timedelta:
    return timedelta(seconds=settings.backoff_seconds * 4 ** max(0, attempts - 1))


# ---------------------------------------------------------------------------------------------------------
# Enqueueing, inside the step's transaction

def current_instance(session: Session, key: str | None) -> ProcessInstance:
    """The case whose step is running: the engine loads (or creates) it in this session before any service task
    runs. With several cases in the session (a message delivered to several at once), the one whose business key is
    ``key``."""
    found = instance_rows.in_session(session)
    if len(found) > 1:
        found = [obj for obj in found if key is not None and obj.business_key == str(key)]
    if len(found) != 1:
        raise OutboxError("cannot tell which case this event belongs to" + (
            f" ({len(found)} cases with business key {key!r} in this step)" if found else ""))
    return found[0]


def enqueue(session: Session, channel_name: str, event: str, key: Any, payload: Any) -> dict:
    """Record one outbound event of the running case, to be delivered after this transaction commits."""
    channel_name, event = str(channel_name), str(event)
    for what, value in (("channel", channel_name), ("event", event)):
        if not NAME.match(value):
            raise OutboxError(f"{what} {value!r} must be lower-case letters, digits and _, starting with a letter")
    if payload is not None and not isinstance(payload, dict):
        raise OutboxError(f"payload must be an object (a dict), not {type(payload).__name__}")
    instance = current_instance(session, key)
    event_id = f"{channel_name}-{instance.id}-{event}"
    existing = stored.existing(session, event_id)
    if existing is not None:
        return {"event_id": event_id, "delivery_id": existing.id, "status": existing.status, "repeated": True}
    now = clock.now()
    message = {"event_id": event_id, "channel": channel_name, "event": event,
               "key": None if key is None else str(key), "case_id": instance.id, "process_id": instance.process_id,
               "business_key": instance.business_key, "occurred_at": now.isoformat(), "data": payload or {}}
    try:
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    except (TypeError, ValueError) as exc:
        raise OutboxError(f"the payload cannot be sent as JSON: {exc}") from None
    if len(body.encode("utf-8")) > MAX_BODY:
        raise OutboxError(f"the event is {len(body.encode('utf-8')):,} bytes; at most {MAX_BODY:,} are sent")
    delivery_id = stored.add(session, event_id=event_id, channel=channel_name, event=event, instance_id=instance.id,
                             correlation_key=message["key"], body=body, status=PENDING, attempts=0,
                             next_attempt_at=now, created_at=now)
    return {"event_id": event_id, "delivery_id": delivery_id, "status": PENDING}


def _json_default(value: object) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"a {type(value).__name__} is not JSON")


# ---------------------------------------------------------------------------------------------------------
# Delivering

Post = Callable[[str, bytes, dict, float], int]  # (url, body, headers, timeout) -> HTTP status; raises on no answer


def http_post(url: str, body: bytes, headers: dict, timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (the URL is configured)
            response.read(65536)
            return response.status
    except urllib.error.HTTPError as exc:  # an answer, but not a 2xx
        exc.close()
        return exc.code


@dataclass
class DeliveryResult:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    waiting: int = 0  # the channel is not configured
    skipped: int = 0  # taken over by another worker

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def due_exists(db: Database) -> bool:
    now = clock.now()
    with db.read() as session:
        return stored.due_exists(session, now)


def acquire(db: Database, owner: str, limit: int = BATCH) -> list[int]:
    now = clock.now()
    with db.write() as session:
        return stored.acquire(session, owner, now, now + timedelta(seconds=LOCK_SECONDS), limit)


def deliver_due(db: Database, owner: str | None = None, limit: int = BATCH, post: Post | None = None) -> DeliveryResult:
    """Deliver what is due now (one batch); returns what happened."""
    owner = owner or f"outbox:{os.getpid()}:{threading.get_ident()}"
    result = DeliveryResult()
    if not due_exists(db):
        return result
    for delivery_id in acquire(db, owner, limit):
        outcome = _deliver_one(db, delivery_id, owner, post or http_post)
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def _deliver_one(db: Database, delivery_id: int, owner: str, post: Post) -> str:
    with db.read() as session:
        row = stored.to_send(session, delivery_id)
    if row is None or row.lock_owner != owner:
        return "skipped"
    settings = channel(row.channel)
    url, secret = settings.url, settings.secret
    if url is None or secret is None:  # what ``settings.missing`` names
        return _not_configured(db, delivery_id, owner, settings)
    body = row.body.encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Whistle-outbox/1",
               "X-Whistle-Event": row.event, "X-Whistle-Event-Id": row.event_id,
               "X-Whistle-Signature": signature(secret, body)}
    status, error = None, None
    try:
        status = post(url, body, headers, settings.timeout_seconds)
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except Exception as exc:  # no answer: refused, timed out, DNS…
        error = f"{exc.__class__.__name__}: {first_line(exc)}"
    return _record(db, delivery_id, owner, settings, status, error)


def _not_configured(db: Database, delivery_id: int, owner: str, settings: Channel) -> str:
    with db.write() as session:
        stored.postpone(session, delivery_id, owner, clock.now() + NOT_CONFIGURED_WAIT,
                        f"not sent: set {' and '.join(settings.missing)}")
    return "waiting"


def _record(db: Database, delivery_id: int, owner: str, settings: Channel, status: int | None,
            error: str | None) -> str:
    """The attempt's outcome in the row and in the case's audit chain (the instance is locked after the row, as
    ``retry`` does; a command writes its rows with the instance locked first but never touches existing ones)."""
    with db.write() as session:
        row = stored.lock(session, delivery_id)
        if row is None or row.lock_owner != owner or row.status != PENDING:
            return "skipped"
        now = clock.now()
        audit = AuditLog()
        row.attempts += 1
        row.lock_owner = row.lock_expires_at = None
        row.last_status = status
        details = {"channel": row.channel, "event": row.event, "event_id": row.event_id, "attempt": row.attempts,
                   "http_status": status}
        if error is None:
            row.status, row.delivered_at, row.last_error = DELIVERED, now, None
            audit.record("webhook_delivered", ACTOR, row.instance_id, None, **details)
            outcome = "delivered"
        elif row.attempts >= settings.max_attempts:
            row.status, row.last_error = FAILED, error[:2000]
            process_id: str | None = None
            version_id: int | None = None
            if row.instance_id is not None:
                process_id, version_id = instance_rows.process_and_version(session, row.instance_id)
            message = (f"webhook {row.event_id} to {row.channel} failed {row.attempts} times, the last: {error}; "
                       f"`whistle outbox retry {row.id}` sends it again")
            incident = incident_rows.add(session, instance_id=row.instance_id, process_id=process_id,
                                         version_id=version_id, task_id=None, element_id=None, command="outbox",
                                         actor=ACTOR, error_type="WebhookFailed", message=message, traceback="",
                                         created_at=now)
            row.incident_id = incident.id
            audit.record("incident", ACTOR, row.instance_id, None, incident_id=incident.id, command="outbox",
                         error=f"WebhookFailed: {message}", **details)
            outcome = "failed"
        else:
            row.last_error = error[:2000]
            row.next_attempt_at = now + backoff(row.attempts, settings)
            audit.record("webhook_failed", ACTOR, row.instance_id, None, error=error,
                         retry_at=row.next_attempt_at.isoformat(), **details)
            outcome = "retrying"
        audit.flush(session)
        return outcome


# ---------------------------------------------------------------------------------------------------------
# The worker's thread, administration

def run_in_background(db: Database, stop: threading.Event, owner: str | None = None,
                      poll_seconds: float = 1.0) -> threading.Thread:
    """Deliver due webhooks until ``stop`` is set, in a daemon thread beside the timer worker (a slow receiver never
    holds up a timer)."""

    def loop() -> None:
        while not stop.is_set():
            try:
                while not stop.is_set() and any(deliver_due(db, owner).to_dict().values()):
                    pass  # the batch did something: more may be due
            except Exception:
                log.exception("outbox: could not deliver; trying again in %.1f s", poll_seconds)
            stop.wait(poll_seconds)

    thread = threading.Thread(target=loop, name="whistle-outbox", daemon=True)
    thread.start()
    return thread


def listing(session: Session, status: str | None = None, limit: int = 200) -> list[dict]:
    return [delivery_dict(row) for row in stored.listing(session, status, limit)]


def delivery_dict(row: OutboxDelivery) -> dict:
    return {"delivery_id": row.id, "event_id": row.event_id, "channel": row.channel, "event": row.event,
            "instance_id": row.instance_id, "key": row.correlation_key, "status": row.status,
            "attempts": row.attempts, "next_attempt_at": row.next_attempt_at.isoformat(),
            "last_status": row.last_status, "last_error": row.last_error, "incident_id": row.incident_id,
            "created_at": row.created_at.isoformat(),
            "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None}


def counts(session: Session) -> dict[str, int]:
    return stored.counts(session)


def retry(db: Database, delivery_id: int, actor: str = "system") -> dict:
    """Give a failed (or waiting) delivery new attempts, due now; its incident is resolved. A delivered one is
    refused: it was answered 2xx already."""
    with db.write() as session:
        row = stored.lock(session, delivery_id)
        if row is None:
            raise NotFound(f"no outbox delivery {delivery_id}")
        if row.status == DELIVERED:
            when = row.delivered_at.isoformat() if row.delivered_at else "some time"
            raise Conflict(f"delivery {delivery_id} ({row.event_id}) was delivered at {when}")
        now = clock.now()
        incident_rows.resolve(session, row.incident_id, now)
        row.status, row.attempts, row.next_attempt_at = PENDING, 0, now
        row.lock_owner = row.lock_expires_at = row.incident_id = None
        audit = AuditLog()
        audit.record("webhook_retried", actor, row.instance_id, None, channel=row.channel, event=row.event,
                     event_id=row.event_id, delivery_id=row.id)
        audit.flush(session)
        return delivery_dict(row)
