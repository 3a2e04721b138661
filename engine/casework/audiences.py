"""Who may see what of a case (ADR 9): every reader of a case belongs to one audience, and every piece of case
data and every timeline event declares the lowest audience that may see it.

Audiences, lowest first: ``resident`` (a person the case concerns: gives feedback), ``reporter`` (who started the
case), ``street`` (street offices and their grid workers), ``department`` (district departments), ``district``
(supervision, the organisation department, administrators). A case-data name declares its audience in a form's
``case_labels`` (``"audience": "resident"``); undeclared data is for staff (``street`` and up). Residents and
reporters read the problem, its progress and its result; never internal notes, accountability, timers, incidents
or the names of the staff who worked on it.

The filter runs in the engine, so the case page and the REST API show a reader the same case.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from engine.forms.labels import AUDIENCES

DEFAULT_AUDIENCE = "street"
# Which groups put a reader in which audience: the district's naming of its groups (processes/organisation).
DISTRICT_GROUPS = frozenset({"admins", "district-supervision", "org-dept"})
DEPARTMENT_PREFIXES = ("dept-",)
STREET_PREFIXES = ("street-", "grid-")
# The public: residents, who take part in a case (its feedback) without working for the district. Every other
# account that may open a case works on it (a clerk, a system client acting for the 12345 hotline): staff.
PUBLIC_GROUPS = frozenset({"residents"})
# What a reader below the staff sees of the timeline: the case taken up, each step done, the case closed.
PUBLIC_EVENTS = frozenset({"started", "task_completed", "finished"})


def rank(audience: str) -> int:
    return AUDIENCES.index(audience)


def audience_of(username: str, groups: Iterable[str], started_by: str | None) -> str:
    """The audience a reader of one case belongs to."""
    groups = set(groups)
    if groups & DISTRICT_GROUPS:
        return "district"
    if any(g.startswith(DEPARTMENT_PREFIXES) for g in groups):
        return "department"
    if any(g.startswith(STREET_PREFIXES) for g in groups) or not groups & PUBLIC_GROUPS:
        return "street"
    return "reporter" if username == started_by else "resident"


def is_staff(audience: str) -> bool:
    return rank(audience) >= rank(DEFAULT_AUDIENCE)


def may_see(name: str, labels: dict[str, dict], audience: str) -> bool:
    """May this audience see the case data ``name``?"""
    declared = (labels.get(name) or {}).get("audience") or DEFAULT_AUDIENCE
    return rank(audience) >= rank(declared)


def visible_data(data: dict[str, Any], labels: dict[str, dict], audience: str) -> dict[str, Any]:
    return {name: value for name, value in data.items() if may_see(name, labels, audience)}


def visible_events(events: list[dict], labels: dict[str, dict], audience: str, viewer: str) -> list[dict]:
    """The timeline a reader may see: for staff every event, with the submitted data they may see; below the
    staff the public events only, without staff names (the reader's own steps keep their name)."""
    shown = []
    for event in events:
        if not is_staff(audience) and event["event"] not in PUBLIC_EVENTS:
            continue
        details = dict(event.get("details") or {})
        if isinstance(details.get("data"), dict):
            details["data"] = visible_data(details["data"], labels, audience)
        actor = event.get("actor")
        if not is_staff(audience) and actor not in (viewer, "system", "timer", None):
            actor = "staff"
        shown.append({**event, "actor": actor, "details": details})
    return shown


def visible_case(shown: dict, labels: dict[str, dict], audience: str, viewer: str) -> dict:
    """A case (``Cases.show`` with its attachments) as this audience may read it."""
    data = visible_data(shown["data"], labels, audience)
    case = {**shown, "audience": audience, "data": data,
            "audit": visible_events(shown.get("audit") or [], labels, audience, viewer)}
    if is_staff(audience):
        return case
    referenced = set(strings_in(data))
    case.update({
        "started_by": shown["started_by"] if shown["started_by"] == viewer else None,
        "open_tasks": [{**t, "assignee": t["assignee"] if t.get("assignee") == viewer else None}
                       for t in shown["open_tasks"]],
        "incidents": [], "timers": [], "messages": [],
        # an administrator's hold or end: the status shows, who and why are internal
        "suspended_by": None, "suspended_reason": None, "terminated_by": None, "terminated_reason": None,
        "attachments": [a for a in shown.get("attachments", [])
                        if a["attachment_id"] in referenced or a.get("uploaded_by") == viewer],
    })
    return case


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a JSON value (the attachment ids and account names it may name)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
