"""Notifications (``notification``, ``notification_templates``, the contact columns of ``user_account``;
``engine.notifications``): written once each in the step that causes them, acquired and locked by a delivering
worker, read and marked read by their recipient."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from engine.store import statements
from engine.store.models import (
    HumanTask,
    Membership,
    Notification,
    NotificationTemplates,
    ProcessInstance,
    TaskCandidate,
    UserAccount,
)

PENDING, SENT, FAILED, READ = "pending", "sent", "failed", "read"
INBOX = "inbox"


def add_once(session: Session, rows: list[dict]) -> None:
    """Insert the notifications, leaving out those already written (same event, task or case, recipient and
    channel): the unique key makes every writer idempotent, the step and the due-date scan alike."""
    statements(session).insert_rows_ignoring_duplicates(session, Notification, rows)


# ---------------------------------------------------------------------------------------------------------
# Whom to tell

def contacts(session: Session, usernames: Iterable[str]) -> dict[str, Row]:
    """The active accounts among ``usernames``: their ``username``, ``email``, ``mobile`` and ``notify_channels``."""
    names = sorted(set(usernames))
    if not names:
        return {}
    rows = session.execute(select(UserAccount.username, UserAccount.email, UserAccount.mobile,
                                  UserAccount.notify_channels)
                           .where(UserAccount.username.in_(names), UserAccount.active.is_(True))).all()
    return {row.username: row for row in rows}


def members(session: Session, groups: Iterable[str]) -> dict[str, list[str]]:
    """The active members of each group: {group: [username, …]}."""
    names = sorted(set(groups))
    if not names:
        return {}
    found: dict[str, list[str]] = {name: [] for name in names}
    for group, username in session.execute(
            select(Membership.group_name, UserAccount.username).join(UserAccount, UserAccount.id == Membership.user_id)
            .where(Membership.group_name.in_(names), UserAccount.active.is_(True))
            .order_by(Membership.group_name, UserAccount.username)).all():
        found[group].append(username)
    return found


def set_contact(session: Session, username: str, **columns: Any) -> None:
    """Set ``email``, ``mobile`` or ``notify_channels`` of an account."""
    session.execute(update(UserAccount).where(UserAccount.username == username).values(**columns))


def contact_of(session: Session, username: str) -> Row | None:
    return session.execute(select(UserAccount.username, UserAccount.email, UserAccount.mobile,
                                  UserAccount.notify_channels)
                           .where(UserAccount.username == username)).first()


# ---------------------------------------------------------------------------------------------------------
# The due-date scan

def open_tasks_due_before(session: Session, until: datetime, limit: int) -> list[Row]:
    """Open tasks with a due time before ``until`` (the scan's horizon), earliest first: the task's columns the
    templates name, with its case's starter and business key."""
    return list(session.execute(
        select(HumanTask.id, HumanTask.instance_id, HumanTask.process_id, HumanTask.version_id,
               HumanTask.element_id, HumanTask.name, HumanTask.assignee, HumanTask.created_at, HumanTask.due_at,
               HumanTask.street, HumanTask.department, HumanTask.subject, HumanTask.form_key,
               ProcessInstance.started_by, ProcessInstance.business_key, ProcessInstance.data)
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
        .where(HumanTask.status == "open", HumanTask.due_at.is_not(None), HumanTask.due_at < until)
        .order_by(HumanTask.due_at, HumanTask.id).limit(limit)).all())


def candidates_of(session: Session, task_ids: list[str]) -> dict[str, tuple[list[str], list[str]]]:
    """{task id: (candidate groups, candidate users)}."""
    found: dict[str, tuple[list[str], list[str]]] = {task_id: ([], []) for task_id in task_ids}
    if task_ids:
        for task_id, kind, name in session.execute(
                select(TaskCandidate.task_id, TaskCandidate.kind, TaskCandidate.name)
                .where(TaskCandidate.task_id.in_(task_ids)).order_by(TaskCandidate.name)).all():
            found[task_id][0 if kind == "group" else 1].append(name)
    return found


def already(session: Session, event: str, abouts: list[str]) -> set[str]:
    """Which of ``abouts`` (task ids) have any notification of ``event`` (the scan skips them cheaply)."""
    if not abouts:
        return set()
    return set(session.execute(select(Notification.about).where(Notification.event == event,
                                                                 Notification.about.in_(abouts))
                               .distinct()).scalars())


# ---------------------------------------------------------------------------------------------------------
# Delivering

def _acquirable(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (Notification.state == PENDING, Notification.next_attempt_at <= now,
            or_(Notification.lock_owner.is_(None), Notification.lock_expires_at < now))


def due_exists(session: Session, now: datetime) -> bool:
    """Whether any notification may be sent now (a cheap read on ``ix_notification_due``)."""
    return session.execute(select(Notification.id).where(*_acquirable(now)).limit(1)).first() is not None


def acquire(session: Session, owner: str, now: datetime, lock_until: datetime, limit: int) -> list[int]:
    """Lock up to ``limit`` due notifications for ``owner`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: concurrent
    workers take disjoint sets; SQLite's write transactions are serialised), oldest due first."""
    ids = list(session.execute(select(Notification.id).where(*_acquirable(now))
                               .order_by(Notification.next_attempt_at, Notification.id).limit(limit)
                               .with_for_update(skip_locked=True)).scalars())
    if ids:
        session.execute(update(Notification).where(Notification.id.in_(ids))
                        .values(lock_owner=owner, lock_expires_at=lock_until)
                        .execution_options(synchronize_session=False))
    return ids


def get(session: Session, notification_id: int) -> Notification | None:
    return session.get(Notification, notification_id)


def lock(session: Session, notification_id: int) -> Notification | None:
    """The notification's row, locked and read afresh."""
    return session.execute(select(Notification).where(Notification.id == notification_id).with_for_update()
                           .execution_options(populate_existing=True)).scalar()


# ---------------------------------------------------------------------------------------------------------
# Reading and marking read

def for_user(session: Session, user: str, channel: str | None, unread: bool, limit: int,
             after_id: int = 0) -> list[Notification]:
    """A person's notifications, newest first: of one channel or all; ``unread``: inbox ones not read yet."""
    query = select(Notification).where(Notification.recipient == user, Notification.id > after_id)
    if channel:
        query = query.where(Notification.channel == channel)
    if unread:
        query = query.where(Notification.channel == INBOX, Notification.state == SENT)
    return list(session.execute(query.order_by(Notification.id.desc()).limit(limit)).scalars())


def unread_count(session: Session, user: str) -> int:
    return int(session.execute(select(func.count()).select_from(Notification).where(
        Notification.recipient == user, Notification.channel == INBOX, Notification.state == SENT)).scalar_one())


def newest_inbox_id(session: Session, user: str) -> int:
    """The id of the person's newest inbox notification (0: none), where a live stream starts."""
    return int(session.execute(select(func.max(Notification.id)).where(
        Notification.recipient == user, Notification.channel == INBOX)).scalar() or 0)


def mark_read(session: Session, user: str, notification_id: int | None, now: datetime) -> int:
    """Mark one of the person's inbox notifications read, or all (``None``); how many changed."""
    condition = and_(Notification.recipient == user, Notification.channel == INBOX, Notification.state == SENT)
    if notification_id is not None:
        condition = and_(condition, Notification.id == notification_id)
    result = session.execute(update(Notification).where(condition).values(state=READ, read_at=now)
                             .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def counts(session: Session) -> dict[str, int]:
    """How many notifications there are of each state."""
    return {state: count for state, count in session.execute(
        select(Notification.state, func.count()).group_by(Notification.state)).all()}


# ---------------------------------------------------------------------------------------------------------
# Templates

def latest_templates(session: Session) -> NotificationTemplates | None:
    return session.execute(select(NotificationTemplates).order_by(NotificationTemplates.version.desc())
                           .limit(1)).scalar()


def latest_templates_id(session: Session) -> int | None:
    return session.execute(select(func.max(NotificationTemplates.id))).scalar()


def add_templates(session: Session, **columns: Any) -> None:
    session.execute(insert(NotificationTemplates).values(**columns))
