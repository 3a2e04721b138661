"""Incidents the runtime records: a command that failed inside the process (a script, a condition, an
expression; nothing it did is kept), and a case left with no way forward (the step that left it so is kept)."""
from __future__ import annotations

import re
import traceback
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.audit.chain import AuditLog
from engine.errors import first_line
from engine.runtime.context import CommandContext
from engine.store import Session
from engine.store import incidents as stored
from engine.store.models import Incident, ProcessInstance

NO_WAY_FORWARD = "NoWayForward"  # the incident type of a running case that can never move again by itself
SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|credential|pin$", re.IGNORECASE)


def command_data(submitted: dict | None) -> dict | None:
    """What a failed user command submitted, as its incident keeps it for an administrator to read and replay:
    without any value under a key that names a secret (a password, a token, an API key…), at any depth; the
    keys taken out are listed under ``redacted``."""
    if submitted is None:
        return None
    redacted: list[str] = []

    def clean(value: Any, path: str) -> Any:
        if isinstance(value, dict):
            kept = {}
            for key, item in value.items():
                if SECRET_KEY.search(str(key)):
                    redacted.append(f"{path}{key}")
                    continue
                kept[key] = clean(item, f"{path}{key}.")
            return kept
        if isinstance(value, list):
            return [clean(item, path) for item in value]
        return value

    kept: dict = clean(submitted, "")
    if redacted:
        kept["redacted"] = sorted(redacted)
    return kept


def record(session: Session, audit: AuditLog, ctx: CommandContext, exc: BaseException, now: datetime,
           **details: Any) -> Incident:
    """Record that ``exc`` failed the command where ``ctx`` says, with its audit event (``details`` added)."""
    message = first_line(exc)
    incident = stored.add(session, instance_id=ctx.instance_id, process_id=ctx.process_id,
                          version_id=ctx.version_id, task_id=ctx.task_id, element_id=ctx.element_id,
                          command=ctx.command, actor=ctx.actor, error_type=exc.__class__.__name__, message=message,
                          traceback="".join(traceback.format_exception(exc)), created_at=now,
                          command_data=command_data(ctx.submitted))
    audit.record("incident", ctx.actor, ctx.instance_id, ctx.task_id, incident_id=incident.id, command=ctx.command,
                 element_id=ctx.element_id, error=f"{exc.__class__.__name__}: {message}", **details)
    return incident


def report_no_way_forward(session: Session, audit: AuditLog, ctx: CommandContext, instance: ProcessInstance,
                          workflow: BpmnWorkflow, stuck: list[str], now: datetime) -> None:
    """A running case that can never move again by itself — no open task and no waiting timer or message,
    or a multi-instance activity whose every instance is done but that never went on — is recorded as an
    incident in the same transaction as the step that left it so: administrators see it (``whistle
    incidents``) and can repair it. The step itself stands: what people did is kept. One open incident per
    case is enough: a timer that fires on a case already reported adds none."""
    if stored.has_open(session, instance.id, NO_WAY_FORWARD):
        return
    if stuck:
        message = (f"the case is running but has no way forward: every instance of {', '.join(stuck)} is "
                   f"done but the activity never went on")
    else:
        stuck = sorted({t.task_spec.bpmn_id or t.task_spec.name for t in workflow.get_tasks(
            state=TaskState.STARTED | TaskState.WAITING | TaskState.READY)} - {None})
        message = ("the case is running but has no way forward: no open task, no waiting timer or message"
                   + (f"; waiting at {', '.join(stuck)}" if stuck else ""))
    incident = stored.add(session, instance_id=instance.id, process_id=instance.process_id,
                          version_id=instance.version_id, task_id=None, element_id=stuck[0] if stuck else None,
                          command=ctx.command, actor=ctx.actor, error_type=NO_WAY_FORWARD, message=message,
                          traceback="", created_at=now)
    audit.record("incident", ctx.actor, instance.id, None, incident_id=incident.id, command=ctx.command,
                 element_id=incident.element_id, error=f"{NO_WAY_FORWARD}: {message}")
