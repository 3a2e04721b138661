"""Cold equals warm: the same scenario, with every command on a freshly built engine, must leave the same record.

A *warm* run uses one ``Whistle`` for the whole test, as a long-running server does. A *cold* run builds a new
engine for every command — no spec cache, nothing remembered from the command before — as after a restart, on
another worker, or with the CLI (always a fresh process). Scenario tests marked ``cold_warm`` run in both modes
(``conftest.pytest_generate_tests``); at the end of each run the database is read into a ``snapshot`` (instance
state, case data, inbox rows and candidates, timer jobs, subscriptions, incidents, audit events), and the second
mode's snapshot must equal the first's (``compare_with_twin``).
"""
from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select

from engine.api import Whistle
from engine.store.models import (
    AuditEvent,
    HumanTask,
    Incident,
    LedgerEntry,
    MessageSubscription,
    ProcessInstance,
    TaskCandidate,
    TimerJob,
)

UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Wall-clock stamps SpiffWorkflow writes with time.time(), not the engine clock: they differ between any two runs.
WALL_CLOCK_KEYS = {"last_state_change"}


class ColdWhistle:
    """Looks like a ``Whistle``; every public method call runs on a new engine that is closed afterwards.

    Attributes that are not methods (``db``, ``runtime``, ``executor``…) come from one engine kept for
    inspection, so tests can read the database as they do in the warm mode; nothing a command uses is shared.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._inspect = Whistle(url)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inspect, name)
        if name.startswith("_") or not callable(value) or name == "close":
            return value

        def fresh(*args, **kwargs):
            engine = Whistle(self._url, check_schema=False)
            try:
                return getattr(engine, name)(*args, **kwargs)
            finally:
                engine.close()

        return fresh

    def close(self) -> None:
        self._inspect.close()


def snapshot(engine: Whistle | ColdWhistle, tmp_path: str) -> dict:
    """What the scenario left in the database, with random ids replaced by their order of first appearance
    and the test's own temporary folder by ``<tmp>``."""
    with engine.db.read() as session:
        events = session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
        instances = session.execute(select(ProcessInstance).order_by(ProcessInstance.id)).scalars().all()
        tasks = session.execute(select(HumanTask).order_by(HumanTask.instance_id, HumanTask.created_at,
                                                           HumanTask.element_id, HumanTask.id)).scalars().all()
        raw = {
            "audit": [{"at": e.at.isoformat(), "type": e.event_type, "actor": e.actor, "instance": e.instance_id,
                       "task": e.task_id, "details": e.details} for e in events],
            "instances": [{"id": i.id, "process": i.process_id, "version": i.version_id, "key": i.business_key,
                           "status": i.status, "data": i.data, "revision": i.revision,
                           "completed_at": i.completed_at and i.completed_at.isoformat(),
                           "state": _without_wall_clock(json.loads(i.state))} for i in instances],
            "tasks": [{c: _plain(getattr(t, c)) for c in HumanTask.__table__.columns.keys()} for t in tasks],
            "candidates": [{"task": c.task_id, "kind": c.kind, "name": c.name, "offered": c.offered}
                           for c in session.execute(select(TaskCandidate)).scalars()],
            "jobs": [{"instance": j.instance_id, "element": j.element_id, "task": j.task_id,
                      "due_at": j.due_at.isoformat(), "retries": j.retries, "error": j.last_error}
                     for j in session.execute(select(TimerJob)).scalars()],
            "subscriptions": [{"instance": s.instance_id, "message": s.message_name, "key": s.correlation_key,
                               "element": s.element_id}
                              for s in session.execute(select(MessageSubscription)).scalars()],
            "ledger": [{c: _plain(getattr(e, c)) for c in LedgerEntry.__table__.columns.keys() if c != "id"}
                       for e in session.execute(select(LedgerEntry).order_by(LedgerEntry.id)).scalars()],
            "incidents": [{"instance": i.instance_id, "command": i.command, "element": i.element_id,
                           "error": f"{i.error_type}: {i.message}", "resolved": i.resolved_at is not None}
                          for i in session.execute(select(Incident).order_by(Incident.id)).scalars()],
        }
    # Ids are numbered in the order the ordered parts mention them; the unordered parts are sorted afterwards.
    names: dict[str, str] = {}

    def renamed(value):
        text = json.dumps(value, ensure_ascii=False, default=str).replace(tmp_path, "<tmp>")
        return json.loads(UUID_TEXT.sub(lambda m: names.setdefault(m.group(0), f"<id {len(names) + 1:04}>"), text))

    shot = {part: renamed(raw[part]) for part in ("audit", "instances", "incidents", "ledger")}
    for part in ("tasks", "candidates", "jobs", "subscriptions"):
        shot[part] = sorted(renamed(raw[part]), key=lambda row: json.dumps(row, sort_keys=True, default=str))
    return shot


def compare_with_twin(twins: dict, key: tuple, mode: str, shot: dict) -> None:
    """Keep this run's snapshot; when the other mode's is there already, the two must be equal."""
    runs = twins.setdefault(key, {})
    runs[mode] = shot
    if set(runs) != {"warm", "cold"}:
        return
    warm, cold = twins.pop(key)["warm"], shot if mode == "cold" else runs["cold"]
    for part in warm:
        if warm[part] != cold[part]:
            raise AssertionError(f"the cold run differs from the warm run in '{part}' (a command behaves "
                                 f"differently on a freshly built engine):\n{_first_difference(warm[part], cold[part])}")


def _first_difference(warm, cold, path: str = "") -> str:
    if isinstance(warm, dict) and isinstance(cold, dict):
        for key in sorted(set(warm) | set(cold), key=str):
            if warm.get(key) != cold.get(key):
                return _first_difference(warm.get(key), cold.get(key), f"{path}.{key}")
    if isinstance(warm, list) and isinstance(cold, list):
        for index, (a, b) in enumerate(zip(warm, cold, strict=False)):  # lengths compared below
            if a != b:
                return _first_difference(a, b, f"{path}[{index}]")
        if len(warm) != len(cold):
            return f"{path}: {len(warm)} items warm, {len(cold)} cold"
    return f"{path}: warm {json.dumps(warm, ensure_ascii=False, default=str)[:400]}\n" \
           f"{' ' * len(path)}  cold {json.dumps(cold, ensure_ascii=False, default=str)[:400]}"


def _without_wall_clock(value):
    if isinstance(value, dict):
        return {k: _without_wall_clock(v) for k, v in value.items() if k not in WALL_CLOCK_KEYS}
    if isinstance(value, list):
        return [_without_wall_clock(v) for v in value]
    return value


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value
