"""An administrator's hold and end of a case: suspend, resume, terminate (docs/adr/0011-suspended-cases.md).

A **suspended** case keeps its state, tasks, timers and subscriptions, but nothing moves it: every command that
would (claim, unclaim, complete, a message, a repair) is refused with ``Conflict`` naming the case and its hold
(``require_running``), its inbox rows read 已挂起 (``human_task.suspended``) and no worker acquires its timer jobs
(``timer_job.suspended``). **Resume** lifts the hold; a timer that fell due meanwhile fires once, at the next
acquire, as after downtime (docs/timers.md). **Terminate** ends a running or suspended case for good: its open
tasks are cancelled, its timer jobs and subscriptions deleted, its open ledger obligations closed as
``terminated`` (``engine.audit.ledger``), status ``terminated`` with ``completed_at``. The SpiffWorkflow state is
left as it stood: no command loads a case that is not running.

Each is one command (the instance locked, its revision checked and bumped) with one audit event in the case's
chain naming the actor and the written reason. Who may is the caller's rule (``engine.management.case_admin``:
administrators only).
"""
from __future__ import annotations

from engine.audit import ledger
from engine.audit.chain import AuditLog
from engine.errors import Conflict, InvalidInput
from engine.store import Session
from engine.store import lifecycle as stored
from engine.store.models import ProcessInstance
from engine.time import clock

REASON_LENGTH = 1000
LIVE_STATUSES = ("running", "suspended")  # a case not finished: it may still move (once resumed)
STATUS_WORDS = {"completed": "已办结 completed", "terminated": "已终止 terminated", "cancelled": "已取消 cancelled",
                "running": "办理中 running", "suspended": "已挂起 suspended"}


def require_running(instance: ProcessInstance, what: str) -> None:
    """Refuse ``what`` (a completion, a claim, a message…) on a case that is not running, naming the case and why."""
    if instance.status == "running":
        return
    if instance.status == "suspended":
        since = instance.suspended_at.isoformat() if instance.suspended_at else "?"
        raise Conflict(f"案件 {instance.id} 已挂起，恢复前不能办理 — instance {instance.id} is suspended "
                       f"(since {since} by {instance.suspended_by or '?'}: {instance.suspended_reason or '-'}); "
                       f"it accepts no {what} until an administrator resumes it; nothing was changed")
    raise Conflict(f"案件 {instance.id} {STATUS_WORDS.get(instance.status, instance.status)} — instance "
                   f"{instance.id} is {instance.status}; it accepts no {what}")


def reason_text(reason: object, action: str, instance_id: int) -> str:
    """The written reason an action needs: text, not blank, at most ``REASON_LENGTH`` characters."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput(f"reason: a written reason is required to {action} instance {instance_id} (请填写原因)")
    text = reason.strip()
    if len(text) > REASON_LENGTH or "\x00" in text:
        raise InvalidInput(f"reason: at most {REASON_LENGTH} characters and no NUL, to {action} instance "
                           f"{instance_id}")
    return text


def suspend(session: Session, audit: AuditLog, instance: ProcessInstance, reason: str, actor: str) -> dict:
    """Hold a running case (``instance`` locked): its tasks read 已挂起, its timers wait."""
    if instance.status == "suspended":
        raise Conflict(f"案件 {instance.id} 已挂起 — instance {instance.id} is suspended already (since "
                       f"{instance.suspended_at.isoformat() if instance.suspended_at else '?'} by "
                       f"{instance.suspended_by or '?'})")
    if instance.status != "running":
        raise Conflict(f"案件 {instance.id} {STATUS_WORDS.get(instance.status, instance.status)}，不能挂起 — instance "
                       f"{instance.id} is {instance.status}; only a running case can be suspended")
    now = clock.now()
    tasks = stored.mark_suspended(session, instance.id, True)
    audit.record("suspended", actor, instance.id, reason=reason, open_tasks=tasks)
    stored.write_status(session, instance, {"status": "suspended", "suspended_at": now, "suspended_by": actor,
                                            "suspended_reason": reason, "updated_at": now})
    return result(instance, "suspended")


def resume(session: Session, audit: AuditLog, instance: ProcessInstance, actor: str, note: str | None) -> dict:
    """Lift the hold of a suspended case; its due timers fire once at the next acquire."""
    if instance.status != "suspended":
        raise Conflict(f"案件 {instance.id} {STATUS_WORDS.get(instance.status, instance.status)}，未挂起 — instance "
                       f"{instance.id} is {instance.status}; only a suspended case can be resumed")
    now = clock.now()
    held_since = instance.suspended_at
    stored.mark_suspended(session, instance.id, False)
    details: dict = {"suspended_at": held_since.isoformat() if held_since else None,
                     "suspended_by": instance.suspended_by}
    if note:
        details["reason"] = note
    audit.record("resumed", actor, instance.id, **details)
    stored.write_status(session, instance, {"status": "running", "suspended_at": None, "suspended_by": None,
                                            "suspended_reason": None, "updated_at": now})
    return result(instance, "resumed")


def terminate(session: Session, audit: AuditLog, instance: ProcessInstance, reason: str, actor: str) -> dict:
    """End a running or suspended case for good: cancel its tasks, timers and subscriptions, close its open
    obligations as terminated."""
    if instance.status not in LIVE_STATUSES:
        raise Conflict(f"案件 {instance.id} {STATUS_WORDS.get(instance.status, instance.status)}，不能终止 — instance "
                       f"{instance.id} is {instance.status}; only a running or suspended case can be terminated")
    now = clock.now()
    tasks = stored.open_tasks(session, instance.id)
    for task_id, name in tasks:
        audit.record("task_cancelled", actor, instance.id, task_id, name=name, by="terminated")
    stored.cancel_tasks(session, [task_id for task_id, _ in tasks], now)
    jobs, subscriptions = stored.drop_waits(session, instance.id)
    obligations = ledger.open_of_case(session, instance.id)
    ledger.write(session, [ledger.terminated_row(o, actor, reason, now) for o in obligations])
    audit.record("terminated", actor, instance.id, reason=reason, previous_status=instance.status,
                 cancelled_tasks=[task_id for task_id, _ in tasks],
                 cancelled_timers=[job.element_id for job in jobs],
                 cancelled_messages=[s.message_name for s in subscriptions],
                 terminated_obligations=[{"task_id": o["task_id"], "kind": o["kind"], "party": o["party"]}
                                         for o in obligations])
    stored.write_status(session, instance, {"status": "terminated", "completed_at": now, "terminated_by": actor,
                                            "terminated_reason": reason, "updated_at": now, "suspended_at": None,
                                            "suspended_by": None, "suspended_reason": None})
    return result(instance, "terminated")


def result(instance: ProcessInstance, action: str) -> dict:
    """What an action answers: small, the same shape for each (a batch runner collects them per case)."""
    return {"instance_id": instance.id, "action": action, "status": instance.status,
            "process_id": instance.process_id}
