"""The statements of an administrator's hold and end of a case (``engine.runtime.lifecycle``): the instance's
status with its optimistic revision, and the rows of its inbox, timers and subscriptions that follow it."""
from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from engine.store import Session, facts
from engine.store.models import HumanTask, MessageSubscription, ProcessInstance, TaskCandidate, TimerJob


def write_status(session: Session, instance: ProcessInstance, values: dict[str, Any]) -> None:
    """Write a locked instance's status columns (``values``), checking and bumping its revision as a step does
    (``engine.store.instances.write_step``): a command that read the case before sees it changed."""
    revision = instance.revision
    result = session.execute(update(ProcessInstance)
                             .where(ProcessInstance.id == instance.id, ProcessInstance.revision == revision)
                             .values(**values, revision=revision + 1).execution_options(synchronize_session=False))
    if cast(CursorResult, result).rowcount != 1:
        raise StaleDataError(f"instance {instance.id} changed since it was read (revision {revision})")
    if "status" in values:
        facts.set_case_status(session, instance.id, values["status"])  # the dashboards' row follows
    for key, value in values.items():
        set_committed_value(instance, key, value)
    set_committed_value(instance, "revision", revision + 1)


def mark_suspended(session: Session, instance_id: int, suspended: bool) -> int:
    """Mark the case's open inbox rows and its timer jobs suspended (or not); how many open tasks."""
    tasks = session.execute(update(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == "open")
                            .values(suspended=suspended).execution_options(synchronize_session=False))
    session.execute(update(TimerJob).where(TimerJob.instance_id == instance_id)
                    .values(suspended=suspended, lock_owner=None, lock_expires_at=None)
                    .execution_options(synchronize_session=False))
    return cast(CursorResult, tasks).rowcount


def open_tasks(session: Session, instance_id: int) -> list[tuple[str, str]]:
    """(task id, name) of the case's open inbox rows, oldest first."""
    return [(task_id, name) for task_id, name in session.execute(
        select(HumanTask.id, HumanTask.name).where(HumanTask.instance_id == instance_id, HumanTask.status == "open")
        .order_by(HumanTask.created_at, HumanTask.id))]


def cancel_tasks(session: Session, task_ids: list[str], now: datetime) -> None:
    """Close open inbox rows as cancelled, and withdraw their offers."""
    if not task_ids:
        return
    session.execute(update(HumanTask).where(HumanTask.id.in_(task_ids), HumanTask.status == "open")
                    .values(status="cancelled", completed_at=now, suspended=False)
                    .execution_options(synchronize_session=False))
    session.execute(update(TaskCandidate).where(TaskCandidate.task_id.in_(task_ids)).values(offered=False)
                    .execution_options(synchronize_session=False))


def drop_waits(session: Session, instance_id: int) -> tuple[list[TimerJob], list[MessageSubscription]]:
    """Delete the case's timer jobs and message subscriptions; the rows as they were."""
    jobs = list(session.execute(select(TimerJob).where(TimerJob.instance_id == instance_id)
                                .order_by(TimerJob.id)).scalars())
    subscriptions = list(session.execute(select(MessageSubscription)
                                         .where(MessageSubscription.instance_id == instance_id)
                                         .order_by(MessageSubscription.id)).scalars())
    session.execute(delete(TimerJob).where(TimerJob.instance_id == instance_id)
                    .execution_options(synchronize_session=False))
    session.execute(delete(MessageSubscription).where(MessageSubscription.instance_id == instance_id)
                    .execution_options(synchronize_session=False))
    for row in (*jobs, *subscriptions):
        session.expunge(row)
    return jobs, subscriptions
