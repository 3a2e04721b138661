"""The events people are told of, whom each tells by default, and what a diagram may declare instead.

An event is one registration (:func:`register`): its name (the template key in ``templates.json``), what makes it
happen (its *trigger*), whom it tells when the diagram says nothing (its default recipients, if it applies by
default) and whether it is about a task or the whole case. A later task action (转办, 催办, 退回 …) registers
its event with the trigger ``action`` and calls ``engine.notifications.writer.notify_task`` in its command.

Triggers: ``offered`` (a task enters the inbox), ``completed`` (a person completes a task), ``due_soon`` and
``overdue`` (the worker's due-date scan, ``engine.notifications.writer.scan_due``), ``action`` (a command names the
event itself).

The declaration: a user or manual task may carry an extension property ``notify`` (``camunda:property`` or
``spiffworkflow:property``), clauses separated by ``;``, each ``EVENT`` or ``EVENT: RECIPIENT, RECIPIENT``::

    <camunda:property name="notify" value="supervision_opened; task_overdue: holder, group:district-supervision"/>

Declaring any event of a trigger replaces that trigger's default events for the task (``task_offered: none``
silences the offer). Recipients: ``candidates`` (the candidate groups' active members and the candidate users),
``assignee``, ``holder`` (the assignee, else the candidates), ``starter`` (who started the case),
``street-command`` (the command centre of the task's street, ``street-<id>-command``), ``group:NAME``,
``user:NAME``, ``none``. Checked at deploy (lint rule ``notify-declaration``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

TRIGGERS = ("offered", "completed", "due_soon", "overdue", "action")
RECIPIENT_WORDS = ("candidates", "assignee", "holder", "starter", "street-command", "none")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
REFERENCE = re.compile(r"^(group|user):[^\s,;:]{1,128}$")


@dataclass(frozen=True)
class Event:
    name: str
    trigger: str
    recipients: tuple[str, ...]  # whom it tells when the declaration does not say
    default: bool = False  # applies to every task without a declaration
    about: str = "task"  # task | instance: one notification per task, or per case


EVENTS: dict[str, Event] = {}


def register(event: Event) -> Event:
    """Make an event known (its template key, trigger and default recipients). Registering a name twice is a
    programming error."""
    if not NAME.match(event.name) or event.trigger not in TRIGGERS or event.about not in ("task", "instance"):
        raise ValueError(f"bad notification event {event!r}")
    if event.name in EVENTS:
        raise ValueError(f"notification event {event.name!r} is registered already")
    for recipient in event.recipients:
        recipient_problem(recipient, event.name)
    EVENTS[event.name] = event
    return event


Declaration = dict[str, tuple[str, ...]]  # event name -> recipients


def recipient_problem(recipient: str, event: str) -> None:
    if recipient not in RECIPIENT_WORDS and not REFERENCE.match(recipient):
        raise ValueError(f"'{recipient}' (for {event}) is not a recipient: write one of "
                         f"{', '.join(RECIPIENT_WORDS)}, group:NAME or user:NAME")


register(Event("task_offered", "offered", ("holder",), default=True))
register(Event("task_due_soon", "due_soon", ("holder",), default=True))
register(Event("task_overdue", "overdue", ("holder", "street-command"), default=True))
register(Event("task_claimed_for_you", "action", ("assignee",)))
register(Event("supervision_opened", "offered", ("candidates",)))
register(Event("case_returned", "offered", ("holder",)))
register(Event("result_published", "completed", ("starter",), about="instance"))
# the task actions (engine.runtime.task_actions), written by engine.runtime.action_notices in the action's command
register(Event("task_transferred", "action", ("holder",)))
register(Event("task_delegated", "action", ("assignee",)))
register(Event("task_delegation_resolved", "action", ("assignee",)))
register(Event("task_urged", "action", ("holder",)))
register(Event("case_copied", "action", ("none",), about="instance"))


def parse_declaration(text: str | None) -> Declaration:
    """A task's ``notify`` property as {event: recipients}; ValueError saying what is wrong."""
    declared: Declaration = {}
    for clause in (text or "").split(";"):
        clause = clause.strip()
        if not clause:
            continue
        name, _, rest = clause.partition(":")
        name = name.strip()
        event = EVENTS.get(name)
        if event is None:
            raise ValueError(f"'{name}' is not a notification event; known: {', '.join(sorted(EVENTS))}")
        if name in declared:
            raise ValueError(f"'{name}' is declared twice")
        recipients = tuple(r.strip() for r in rest.split(",") if r.strip()) if rest.strip() else event.recipients
        for recipient in recipients:
            recipient_problem(recipient, name)
        declared[name] = recipients
    return declared


def events_for(trigger: str, declared: Declaration) -> list[tuple[Event, tuple[str, ...]]]:
    """The events a trigger sets off for a task with this declaration, each with its recipients: the declared
    events of the trigger, else the trigger's default events."""
    mine = [(EVENTS[name], recipients) for name, recipients in declared.items() if EVENTS[name].trigger == trigger]
    if mine:
        return [(event, recipients) for event, recipients in mine if "none" not in recipients]
    return [(event, event.recipients) for event in EVENTS.values() if event.trigger == trigger and event.default]
