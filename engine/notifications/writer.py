"""Writing notifications: in the transaction of the step that causes them (``engine.runtime.instances.Instances.
save`` hands over the tasks it offered and the tasks completed), or of the worker's due-date scan
(:func:`scan_due`), or of a task action's command (:func:`notify_task`). Each person is told once per event, task
(or case) and channel: the unique key of ``notification`` leaves out a repeat, so a retried scan or a task
offered again after a loop adds nothing for what was said already.

Whom: the event's recipients (``engine.notifications.events``: the default rule, or the task's ``notify``
declaration) resolved to active accounts, less the person whose command caused it. Which channels: the person's
choice (``user_account.notify_channels``), else the inbox and, with an e-mail address, e-mail. An inbox
notification is the message itself (``sent`` at once); the others wait for the worker (``pending``).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.definitions import SpecCache
from engine.forms import contracts
from engine.forms import labels as form_labels
from engine.forms import templates as data_templates
from engine.notifications import templates
from engine.notifications.channels import configured
from engine.notifications.events import EVENTS, Declaration, parse_declaration
from engine.notifications.events import events_for as _events_for
from engine.store import Session
from engine.store import notifications as stored
from engine.time import clock, workdays

CHANNELS = ("inbox", "email", "webhook", "sms")
INBOX = stored.INBOX
DEFAULT_DUE_SOON_FRACTION = 2 / 3  # "due soon" once two thirds of a task's time have passed
OVERDUE_WINDOW = timedelta(days=1)  # the scan tells of tasks that fell overdue in the last day, not of old ones
SCAN_LIMIT = 500


@dataclass
class TaskFacts:
    """What a notification about a task says and whom it may tell."""

    task_id: str
    instance_id: int
    name: str
    assignee: str | None = None
    groups: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    due_at: datetime | None = None
    street: str | None = None
    department: str | None = None
    subject: str = ""
    declaration: str | None = None


@dataclass
class CaseFacts:
    instance_id: int
    process_id: str
    business_key: str | None = None
    started_by: str | None = None
    title: str = ""


def declared(task: TaskFacts) -> Declaration:
    try:
        return parse_declaration(task.declaration)
    except ValueError:  # checked at deploy (lint rule notify-declaration); an older version's says nothing
        return {}


def for_trigger(session: Session, trigger: str, tasks: Iterable[tuple[TaskFacts, CaseFacts]], actor: str | None,
                now: datetime) -> int:
    """Write the notifications ``trigger`` sets off for each task (the declared events, else the defaults);
    how many rows were offered for writing (repeats are left out by the database)."""
    rows: list[dict] = []
    loaded = templates.current(session)
    for task, case in tasks:
        for event, recipients in _events_for(trigger, declared(task)):
            rows += _rows(session, loaded, event.name, recipients, task, case, actor, now)
    stored.add_once(session, rows)
    return len(rows)


def notify_task(session: Session, event: str, task: TaskFacts, case: CaseFacts, actor: str | None,
                recipients: tuple[str, ...] | None = None, note: str | None = None, once_per: str | None = None) -> int:
    """A task action's notification (转办, 催办, 退回 … registered with the trigger ``action``), written in the
    action's own command; ``recipients`` as the events module spells them, else the event's own. ``once_per``
    replaces the task as what a recipient hears of once (催办: each urge, not only the first)."""
    registered = EVENTS[event]
    rows = _rows(session, templates.current(session), event, recipients or registered.recipients, task, case,
                 actor, clock.now(), note=note, once_per=once_per)
    stored.add_once(session, rows)
    return len(rows)


def _rows(session: Session, loaded: dict, event: str, recipients: tuple[str, ...], task: TaskFacts,
          case: CaseFacts, actor: str | None, now: datetime, note: str | None = None,
          once_per: str | None = None) -> list[dict]:
    people = [p for p in _resolve(session, recipients, task, case) if p != actor]
    if not people:
        return []
    of_task = EVENTS[event].about == "task"
    about = once_per or (task.task_id if of_task else f"instance:{case.instance_id}")
    values = {"task": task.name, "subject": task.subject, "case_title": case.title or task.name,
              "case_id": case.instance_id, "business_key": case.business_key or "", "process": case.process_id,
              "due_at": _local_time(task.due_at), "street": task.street or "", "department": task.department or "",
              "actor": actor or "", "note": note or ""}
    rows = []
    for person, contact in stored.contacts(session, people).items():
        rendered = templates.render(loaded, event, dict(values, recipient=person))
        for channel in channels_of(contact):
            address = contact.email if channel == "email" else None if channel == INBOX else contact.mobile
            inbox = channel == INBOX
            rows.append({"event": event, "about": about, "recipient": person, "channel": channel,
                         "instance_id": case.instance_id, "task_id": task.task_id if of_task else None,
                         "title": rendered.title, "text": rendered.text, "title_en": rendered.title_en,
                         "text_en": rendered.text_en, "address": address, "state": "sent" if inbox else "pending",
                         "attempts": 0, "next_attempt_at": None if inbox else now, "lock_owner": None,
                         "lock_expires_at": None, "last_error": None, "created_at": now,
                         "sent_at": now if inbox else None, "read_at": None})
    return rows


def channels_of(contact: Any) -> list[str]:
    """The channels a person is told on: their choice, less those they have no address for (e-mail without an
    address, SMS without a mobile number) and those the deployment has not set up (``channels.configured``); by
    default the inbox, and e-mail with an address."""
    chosen = contact.notify_channels
    if not isinstance(chosen, list):
        chosen = [INBOX] + (["email"] if contact.email else [])
    ready = configured()
    return [c for c in CHANNELS if c in chosen and c in ready and not (c == "email" and not contact.email)
            and not (c == "sms" and not contact.mobile)]


def _resolve(session: Session, recipients: tuple[str, ...], task: TaskFacts, case: CaseFacts) -> list[str]:
    """The usernames ``recipients`` name for this task, in order, each once (inactive accounts are dropped when
    their contacts are read)."""
    groups: list[str] = []
    users: list[str] = []
    for recipient in recipients:
        if recipient == "candidates" or (recipient == "holder" and not task.assignee):
            groups += task.groups
            users += task.users
        elif recipient in ("assignee", "holder"):
            users += [task.assignee] if task.assignee else []
        elif recipient == "starter":
            users += [case.started_by] if case.started_by else []
        elif recipient == "street-command":
            groups += [f"street-{task.street}-command"] if task.street else []
        elif recipient.startswith("group:"):
            groups.append(recipient.removeprefix("group:"))
        elif recipient.startswith("user:"):
            users.append(recipient.removeprefix("user:"))
    for members in stored.members(session, groups).values():
        users += members
    return list(dict.fromkeys(users))


def _local_time(moment: datetime | None) -> str:
    return workdays.local(moment).strftime("%Y-%m-%d %H:%M") if moment is not None else ""


# ---------------------------------------------------------------------------------------------------------
# What a task and a case read as

def subject_text(forms: dict[str, dict], form_key: str | None, values: dict | None) -> str:
    """A task's subject (its form's ``subject`` template over the values its inbox row keeps), or ""."""
    form = forms.get(form_key) if form_key else None
    if not form or not form.get("subject") or not values:
        return ""
    return data_templates.fill(form["subject"], values, _plain)


def case_title(forms: dict[str, dict], data: dict) -> str:
    """A case's title from its forms' ``case_title`` entries (as ``engine.casework.versions`` reads it, without
    option labels), or ""."""
    for key in form_labels.case_title_keys(forms.values()):
        if "{" in key:
            text = data_templates.fill(key, data_templates.values_of([key], data) or {}, _plain)
            if text:
                return text[:80]
            continue
        value = data.get(key)
        if value not in (None, "", [], {}):
            return str(value)[:80]
    return ""


def _plain(_path: str, value: Any) -> str:
    if isinstance(value, list):
        return "、".join(str(v) for v in value if v not in (None, ""))
    return str(value)


# ---------------------------------------------------------------------------------------------------------
# The due-date scan

def due_soon_fraction() -> float:
    text = os.environ.get("WHISTLE_NOTIFY_DUE_SOON_FRACTION", "").strip()
    try:
        value = float(text) if text else DEFAULT_DUE_SOON_FRACTION
    except ValueError:
        raise ValueError(f"WHISTLE_NOTIFY_DUE_SOON_FRACTION={text!r} is not a number between 0 and 1") from None
    if not 0 < value < 1:
        raise ValueError(f"WHISTLE_NOTIFY_DUE_SOON_FRACTION must be between 0 and 1, got {text!r}")
    return value


def declaration_of(specs: SpecCache, session: Session, version_id: int, element_id: str) -> str | None:
    """The ``notify`` declaration of a task of a deployed version (its spec's, or a sub-process's)."""
    spec, subprocess_specs = specs.get(session, version_id)
    for process in [spec, *subprocess_specs.values()]:
        for task_spec in process.task_specs.values():
            if getattr(task_spec, "bpmn_id", None) == element_id:
                assignment = getattr(task_spec, "assignment", None)
                return getattr(assignment, "notify", None)
    return None


def scan_due(session: Session, now: datetime, specs: SpecCache,
             horizon: timedelta = timedelta(days=60)) -> dict[str, int]:
    """Tell of open tasks now due soon (``WHISTLE_NOTIFY_DUE_SOON_FRACTION`` of their time gone, default two
    thirds) or overdue (their due time passed within the last day); idempotent through the unique key, so any
    number of workers may scan at once. Returns how many rows each event offered for writing."""
    fraction = due_soon_fraction()
    rows = [r for r in stored.open_tasks_due_before(session, now + horizon, SCAN_LIMIT)
            if r.due_at > now - OVERDUE_WINDOW]
    overdue = [r for r in rows if r.due_at < now]
    soon = [r for r in rows if r.due_at >= now and r.created_at + (r.due_at - r.created_at) * fraction <= now]
    result = {}
    for trigger, event, found in (("overdue", "task_overdue", overdue), ("due_soon", "task_due_soon", soon)):
        told = stored.already(session, event, [r.id for r in found])
        found = [r for r in found if r.id not in told]
        candidates = stored.candidates_of(session, [r.id for r in found])
        facts = []
        for r in found:
            forms = contracts.forms_of(specs.get(session, r.version_id)[0])
            groups, users = candidates[r.id]
            task = TaskFacts(r.id, r.instance_id, r.name, r.assignee, groups, users, r.created_at, r.due_at,
                             r.street, r.department, subject_text(forms, r.form_key, r.subject),
                             declaration_of(specs, session, r.version_id, r.element_id))
            case = CaseFacts(r.instance_id, r.process_id, r.business_key, r.started_by,
                             case_title(forms, r.data or {}))
            facts.append((task, case))
        result[trigger] = for_trigger(session, trigger, facts, None, now)
    return result
