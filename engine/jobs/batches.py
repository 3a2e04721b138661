"""Batches: one operation (repair, suspend, terminate, retry, upgrade…) over many cases, worked by the job
executor's workers.

**Operations** are registered by name (``register``): a callable ``run(target, instance_id, params, actor)`` that
does one case through one of the facade's per-case commands (``target`` is the facade, ``engine.api.Whistle``,
which registers the standard operations), with a Chinese label, whether it needs a written reason, and a
validator of its parameters. It returns normally when the case is done (or an ``Outcome("skipped", reason)``),
raises a refusal (``Conflict``, ``NotFound``, ``InvalidInput``…: the case is *skipped* with that message), or
fails (anything else: tried again with backoff, then *failed* with the reason).

**Items** are the cases of a batch (``engine.store.batches``), resolved once when it was created. A worker

1. **acquires** a few items in one short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
   workers take disjoint sets; SQLite's write transaction serialises them), stamping ``lock_owner`` and
   ``lock_expires_at`` — items whose lock ran out (a killed worker's) are taken over first;
2. **works** each by calling its operation inside ``engine.runtime.executor.joined(mark)``: ``mark`` sets the
   item ``done`` *in the transaction of the operation's own command*, and only while the item is still this
   worker's. So the case's work and its done mark commit together or not at all: a worker killed between the
   two left neither; a worker whose lock ran out and whose item another worker took finds the mark refused
   (``ItemTakenOver``) and its work is rolled back. Every case is done at most once, and the survivors finish
   the rest: exactly once.
3. renews the locks of the items still waiting in its chunk between items (``heartbeat``), as the timer worker
   does.

A refusal is recorded in a transaction of its own (nothing was done to the case); a conflict with another
command on the same case (a stale revision, a busy lock) is tried again a second later without counting.

An operation is one command: the facade's per-case command it calls runs once. Lock durations, attempts and
backoff are the runner's arguments (``whistle batch run --lock-seconds``); all times come from
``engine.time.clock``, so tests move a killed worker's locks past their end with the clock.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.audit.chain import AuditLog
from engine.errors import Conflict, IncidentRaised, InvalidInput, WhistleError, first_line
from engine.runtime.executor import joined
from engine.store import Session, conflicts
from engine.store import batches as rows
from engine.store.db import Database
from engine.time import clock

log = logging.getLogger("whistle.batches")

DEFAULT_LOCK_SECONDS = 30.0
DEFAULT_CHUNK = 10  # items acquired per round: a killed worker holds few
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF_SECONDS = 10.0  # then x4 per failed attempt
CONFLICT_RETRY_SECONDS = 1.0
HEARTBEAT_FRACTION = 1 / 3
DEFAULT_POLL_SECONDS = 0.5
MAX_REASON = 2000
TEST_HANG_ENV = "WHISTLE_TEST_HANG_IN_BATCH"  # test mode: block before committing an item's work, marker path
TEST_HANG_AFTER_ENV = "WHISTLE_TEST_HANG_AFTER"  # … once this many items were done by this worker

OperationRun = Callable[[Any, int, dict, str], object]


@dataclass(frozen=True)
class Outcome:
    """What an operation may return instead of its command's result: the case was skipped, and why."""

    status: str  # done | skipped
    reason: str | None = None


@dataclass(frozen=True)
class Operation:
    """One case's work in a batch (see the module)."""

    name: str
    run: OperationRun
    label: str  # Chinese, what the confirmation and the pages call it ("修复")
    reason_required: bool = False
    validate: Callable[[dict], dict] | None = None  # the clean parameters, or InvalidInput naming the field

    def check(self, params: dict | None, reason: str | None, *, final: bool = True) -> tuple[dict, str | None]:
        """The parameters and reason a batch of this operation stores: checked by the operation's own rules (a
        preview, not ``final``, may come before the reason is written: the confirmation asks for it)."""
        if params is not None and not isinstance(params, dict):
            raise InvalidInput("params must be a JSON object")
        reason = reason.strip() if isinstance(reason, str) else reason
        if reason is not None and not isinstance(reason, str):
            raise InvalidInput("reason must be text")
        if self.reason_required and not reason and final:
            raise InvalidInput(f"reason is required for '{self.name}': say why these cases are changed")
        if reason and len(reason) > MAX_REASON:
            raise InvalidInput(f"reason is longer than {MAX_REASON} characters")
        clean = dict(params or {})
        clean.pop("reason", None)
        if self.validate is not None:
            clean = self.validate(clean)
        return clean, reason or None


_OPERATIONS: dict[str, Operation] = {}


def register(name: str, run: OperationRun, *, label: str, reason_required: bool = False,
             validate: Callable[[dict], dict] | None = None) -> Operation:
    """Make ``name`` an operation batches may run (registering a name again replaces it)."""
    operation = Operation(name, run, label, reason_required, validate)
    _OPERATIONS[name] = operation
    return operation


def operation(name: str) -> Operation:
    """The registered operation ``name``; InvalidInput naming those there are."""
    found = _OPERATIONS.get(name)
    if found is None:
        raise InvalidInput(f"no batch operation '{name}'; there are: {', '.join(sorted(_OPERATIONS)) or 'none'}")
    return found


def operations() -> list[Operation]:
    return [_OPERATIONS[name] for name in sorted(_OPERATIONS)]


class ItemTakenOver(Conflict):
    """The item is no longer this worker's (its lock ran out and another took it, or the batch was cancelled):
    the work done for it in this transaction is rolled back."""


@dataclass
class BatchRunResult:
    acquired: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    lost: int = 0
    outcomes: dict[int, str] = field(default_factory=dict)

    def add(self, other: BatchRunResult) -> None:
        for name in ("acquired", "done", "skipped", "failed", "retried", "lost"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.outcomes.update(other.outcomes)

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in ("acquired", "done", "skipped", "failed", "retried", "lost")}


@dataclass
class _Mark:
    """Whether an item's done mark has committed (set by the command's transaction after its commit)."""

    committed: bool = False

    def commit(self) -> None:
        self.committed = True


class BatchRunner:
    """Works batch items (see the module). One per worker; several may share a database. ``target`` is what the
    operations are given to work with: the facade."""

    def __init__(self, db: Database, target: object, *, owner: str, lock_seconds: float = DEFAULT_LOCK_SECONDS,
                 chunk: int = DEFAULT_CHUNK, attempts: int = DEFAULT_ATTEMPTS,
                 backoff_seconds: float = DEFAULT_BACKOFF_SECONDS) -> None:
        self.db, self.target, self.owner = db, target, owner
        self.lock_seconds, self.chunk, self.attempts = lock_seconds, chunk, attempts
        self.backoff_seconds = backoff_seconds
        self.done_here = 0  # items this runner has done (committed)
        self._hang = _test_hang_hook()

    # -- acquiring --------------------------------------------------------------------------------------

    def acquire(self, limit: int | None = None) -> list[tuple[int, int, int]]:
        """Lock up to ``limit`` items for this worker: [(item id, batch id, instance id)]."""
        now = clock.now()
        with self.db.write() as session:
            found = rows.acquire(session, self.owner, now, now + timedelta(seconds=self.lock_seconds),
                                 limit or self.chunk)
        return [(item_id, batch_id, instance_id) for item_id, batch_id, instance_id in found]

    def next_moment(self) -> datetime | None:
        """When an item may next be taken (now, when one waits), None when no batch has work left."""
        with self.db.read() as session:
            return rows.next_moment(session, clock.now())

    def unfinished(self, batch_id: int | None = None) -> int:
        with self.db.read() as session:
            return rows.unfinished_count(session, batch_id)

    def close_finished(self) -> list[int]:
        """Mark done the batches whose last item has finished."""
        with self.db.read() as session:
            if not rows.close_candidates(session):
                return []
        with self.db.write() as session:
            return rows.close_finished(session, clock.now())

    def heartbeat(self, ids: list[int]) -> set[int]:
        if not ids:
            return set()
        with self.db.write() as session:
            return rows.renew_locks(session, ids, self.owner, clock.now() + timedelta(seconds=self.lock_seconds))

    def release(self, ids: list[int]) -> None:
        if ids:
            with self.db.write() as session:
                rows.release(session, ids, self.owner)

    # -- working ----------------------------------------------------------------------------------------

    def run_once(self, limit: int | None = None, stop: threading.Event | None = None,
                 on_item: Callable[[str], None] | None = None) -> BatchRunResult:
        """Acquire one chunk of items and work them one by one."""
        result = BatchRunResult()
        items = self.acquire(limit)
        result.acquired = len(items)
        if not items:
            return result
        with self.db.read() as session:
            facts = rows.batch_facts(session, {batch_id for _, batch_id, _ in items})
        beat = timedelta(seconds=self.lock_seconds * HEARTBEAT_FRACTION)
        next_beat = clock.now() + beat
        held: set[int] | None = None
        for position, (item_id, batch_id, instance_id) in enumerate(items):
            if stop is not None and stop.is_set():
                self.release([i for i, _, _ in items[position:]])
                break
            if clock.now() >= next_beat:
                try:
                    held = self.heartbeat([i for i, _, _ in items[position:]])
                except Exception:  # the database is away: the work finds out, and the locks simply run out
                    log.exception("batch worker: could not renew the locks of its items")
                next_beat = clock.now() + beat
            if held is not None and item_id not in held:
                outcome = "lost"  # taken over after our lock ran out, or the batch was cancelled
            else:
                outcome = self.work(item_id, instance_id, *facts[batch_id])
            result.outcomes[item_id] = outcome
            setattr(result, outcome, getattr(result, outcome) + 1)
            if on_item is not None:
                on_item(outcome)
        return result

    def work_all(self, stop: threading.Event | None = None,
                 on_item: Callable[[str], None] | None = None) -> BatchRunResult:
        """Work every item that can be taken now, until none is left to take."""
        total = BatchRunResult()
        while stop is None or not stop.is_set():
            result = self.run_once(None, stop, on_item)
            total.add(result)
            if result.acquired == 0:
                break
        self.close_finished()
        return total

    def work(self, item_id: int, instance_id: int, operation_name: str, params: dict, reason: str | None,
             actor: str) -> str:
        """Do one acquired item: "done", "skipped", "failed", "retried" (tried again later) or "lost" (no longer
        this worker's; nothing was done)."""
        mark = _Mark()

        def mark_done(session: Session, audit: AuditLog) -> None:
            if mark.committed:
                return  # an earlier command of this operation committed the mark
            if not rows.finish(session, item_id, self.owner, rows.DONE, None, clock.now()):
                raise ItemTakenOver(f"batch item {item_id} (case {instance_id}) is no longer this worker's")
            session.info.setdefault("after_commit", []).append(mark.commit)
            if self._hang is not None and self.done_here >= self._hang[1]:
                self._hang[0](item_id)

        chosen = _OPERATIONS.get(operation_name)
        if chosen is None:  # registered in another process (a plug-in) but not in this one: leave it to others
            return self._failed(item_id, instance_id, LookupError(f"no batch operation '{operation_name}' here"))
        given = {**params, **({"reason": reason} if reason else {})}
        try:
            with joined(mark_done):
                result = chosen.run(self.target, instance_id, given, actor)
        except ItemTakenOver:
            return "lost"
        except Exception as exc:
            if mark.committed:
                self.done_here += 1
                return "done"  # the case's command committed; what failed after it changes nothing
            return self._failed(item_id, instance_id, exc)
        if mark.committed:
            self.done_here += 1
            return "done"
        outcome = result if isinstance(result, Outcome) else Outcome(rows.DONE)
        status = rows.SKIPPED if outcome.status == rows.SKIPPED else rows.DONE
        with self.db.write() as session:  # nothing was done to the case by a command: mark it on its own
            if not rows.finish(session, item_id, self.owner, status, _clip(outcome.reason), clock.now()):
                return "lost"
        if status == rows.DONE:
            self.done_here += 1
        return status

    def _failed(self, item_id: int, instance_id: int, exc: Exception) -> str:
        """Record a refusal (skipped), a conflict (again soon), an incident (failed) or another failure (again
        with backoff, failed after the last attempt). Nothing was done to the case."""
        message = exc.message if isinstance(exc, WhistleError) else f"{exc.__class__.__name__}: {first_line(exc)}"
        now = clock.now()
        try:
            with self.db.write() as session:
                if isinstance(exc, Conflict) and _contention(exc):
                    until = now + timedelta(seconds=CONFLICT_RETRY_SECONDS)
                    found = rows.postpone(session, item_id, self.owner, until, _clip(message), count_attempt=False)
                    return "retried" if found is not None else "lost"
                if isinstance(exc, WhistleError):
                    status = rows.FAILED if isinstance(exc, IncidentRaised) else rows.SKIPPED
                    return status if rows.finish(session, item_id, self.owner, status, _clip(message), now) else "lost"
                log.warning("batch item %s (case %s) failed: %s", item_id, instance_id, message)
                attempt = rows.attempts_of(session, item_id) + 1
                if attempt >= self.attempts:
                    return "failed" if rows.finish(session, item_id, self.owner, rows.FAILED, _clip(message),
                                                   now) else "lost"
                until = now + timedelta(seconds=self.backoff_seconds * 4 ** (attempt - 1))
                found = rows.postpone(session, item_id, self.owner, until, _clip(message), count_attempt=True)
                return "retried" if found is not None else "lost"
        except Exception:  # the database is away: the lock simply runs out and the item is tried again
            log.exception("could not record the outcome of batch item %s", item_id)
            return "retried"

    # -- the worker loop --------------------------------------------------------------------------------

    def run(self, stop: threading.Event, poll_interval: float = DEFAULT_POLL_SECONDS,
            on_item: Callable[[str], None] | None = None, until_done: bool = False) -> BatchRunResult:
        """Work items until ``stop`` is set (or, ``until_done``, until no batch has an unfinished item). Idle, it
        reads (never writes) once per ``poll_interval``, or sooner when a lock or a backoff runs out."""
        total = BatchRunResult()
        while not stop.is_set():
            try:
                upcoming = self.next_moment()
                now = clock.now()
                if upcoming is not None and upcoming <= now:
                    result = self.run_once(None, stop, on_item)
                    total.add(result)
                    if result.acquired:
                        if result.acquired < self.chunk:
                            self.close_finished()
                        continue
                    wait = 0.05  # held by others, or due at this very instant: look again soon
                else:
                    self.close_finished()
                    if upcoming is None and until_done:
                        break
                    wait = poll_interval if upcoming is None else \
                        min(poll_interval, (upcoming - now).total_seconds() + 0.002)
            except Exception:
                log.exception("batch worker: database error; retrying in %.1f s", poll_interval)
                wait = poll_interval
            stop.wait(max(0.0, wait))
        return total

    def run_in_background(self, stop: threading.Event,
                          poll_interval: float = DEFAULT_POLL_SECONDS) -> threading.Thread:
        """Work batch items in a daemon thread beside the timer worker (a long batch never holds up a timer)."""
        thread = threading.Thread(target=self.run, args=(stop, poll_interval), name="whistle-batches", daemon=True)
        thread.start()
        return thread


def _contention(exc: Conflict) -> bool:
    """A conflict with another command at the same moment (``engine.runtime.executor`` raises it from a stale
    write or a busy lock), rather than the operation refusing the case."""
    cause = exc.__cause__
    return cause is not None and (conflicts.is_stale_write(cause) or conflicts.is_lock_conflict(cause))


def _clip(text: str | None) -> str | None:
    return text[:MAX_REASON] if text else text


def _test_hang_hook() -> tuple[Callable[[int], None], int] | None:
    """Test mode only: once this worker has done ``WHISTLE_TEST_HANG_AFTER`` items, block forever inside the
    next item's transaction, after its work and its done mark, just before the commit (touching the marker
    ``WHISTLE_TEST_HANG_IN_BATCH``), so a test can kill the process there."""
    marker = os.environ.get(TEST_HANG_ENV)
    if not marker or clock.mode() != "test":
        return None

    def hang(item_id: int) -> None:
        with open(marker, "w") as handle:
            handle.write(f"{os.getpid()} {item_id}\n")
        while True:
            time.sleep(3600)

    return hang, int(os.environ.get(TEST_HANG_AFTER_ENV, "0"))
