"""Notification templates: deployable data, not code. ``processes/notifications/templates.json`` maps each event
(``engine.notifications.events``) to its title and text, Chinese first, English beside it::

    {"task_offered": {"title": "新待办：{task}", "text": "{case_title}：{subject}，请于 {due_at} 前办理。",
                      "title_en": "New task: {task}", "text_en": "{case_title}: {subject}; due {due_at}."}}

Holes name the values of :data:`PLACEHOLDERS` only; ``{{`` and ``}}`` are literal braces. A part in square
brackets is left out when a value it names is empty: ``"请办理[，时限 {due_at}]。"``. The file is deployed with
the processes (a ``templates.json`` in a folder named ``notifications``), checked then — a problem names the file
and the key — and stored as a new version of ``notification_templates`` when its content changed. The text is
rendered when the notification is written, so a message reads as it did when it was sent. An event without a
template reads as its name (``engine.i18n``) and the task's name.
"""
from __future__ import annotations

import hashlib
import json
import re
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import Problem
from engine.forms.templates import DANGLING, EMPTY_BRACKETS, LEADING
from engine.i18n import en, zh
from engine.notifications.events import EVENTS
from engine.store import Session
from engine.store import notifications as stored

FOLDER, FILE = "notifications", "templates.json"
FIELDS = ("title", "text", "title_en", "text_en")
PLACEHOLDERS = ("task", "subject", "case_title", "case_id", "business_key", "process", "due_at", "street",
                "department", "recipient", "actor", "note")
MAX_TITLE = 120
MAX_TEXT = 2000


def is_templates_file(path: Path | str) -> bool:
    """``templates.json`` in a folder named ``notifications`` (``processes/notifications/templates.json``)."""
    parts = str(path).replace("\\", "/").lower().rsplit("/", 2)
    return len(parts) >= 2 and parts[-1] == FILE and parts[-2] == FOLDER


@dataclass(frozen=True)
class Rendered:
    title: str
    text: str
    title_en: str | None
    text_en: str | None


def check(name: str, content: str) -> tuple[dict | None, list[Problem]]:
    """The templates of a file, or None and every problem (each naming the file and the event key)."""
    try:
        parsed = json.loads(content)
    except ValueError as exc:
        return None, [Problem(name, getattr(exc, "lineno", None), None, f"notification templates: not JSON: {exc}")]
    if not isinstance(parsed, dict):
        return None, [Problem(name, None, None, "notification templates: the file is an object of event names, "
                                                "e.g. {\"task_offered\": {\"title\": …, \"text\": …}}")]
    problems: list[Problem] = []
    for key, entry in parsed.items():
        if key.startswith("_"):  # a comment
            continue
        where = f"notification templates: '{key}'"
        if key not in EVENTS:
            problems.append(Problem(name, None, key, f"{where} is not a notification event; known: "
                                                     f"{', '.join(sorted(EVENTS))}"))
            continue
        if not isinstance(entry, dict):
            problems.append(Problem(name, None, key, f"{where} is an object with title and text"))
            continue
        for field in entry:
            if field not in FIELDS:
                problems.append(Problem(name, None, key, f"{where}: unknown field '{field}' (write "
                                                         f"{', '.join(FIELDS)})"))
        for field in FIELDS:
            value = entry.get(field)
            if value is None and field.endswith("_en"):
                continue
            if not isinstance(value, str) or not value.strip():
                problems.append(Problem(name, None, key, f"{where}.{field} is required: a text, Chinese first"))
                continue
            limit = MAX_TITLE if field.startswith("title") else MAX_TEXT
            if len(value) > limit:
                problems.append(Problem(name, None, key, f"{where}.{field} is {len(value)} characters; at most "
                                                         f"{limit}"))
            for why in _hole_problems(value):
                problems.append(Problem(name, None, key, f"{where}.{field}: {why}"))
    return (None if problems else parsed), problems


def _hole_problems(template: str) -> list[str]:
    if template.count("[") != template.count("]") or re.search(r"\[[^\]]*\[", template):
        return ["unbalanced or nested [optional part] brackets"]
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [f"unbalanced braces ({exc}); write {{{{ and }}}} for a literal brace"]
    found = []
    for _literal, hole, spec, conversion in parsed:
        if hole is None:
            continue
        if spec or conversion or hole not in PLACEHOLDERS:
            found.append(f"'{{{hole}}}' is not a value a template may name; write one of "
                         f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}")
    return found


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# At run time

_cache: dict[int, dict] = {}
_lock = threading.Lock()


def current(session: Session) -> dict:
    """The deployed templates (the newest version), parsed once per version and process."""
    latest = stored.latest_templates_id(session)
    if latest is None:
        return {}
    with _lock:
        if latest in _cache:
            return _cache[latest]
    row = stored.latest_templates(session)
    parsed = json.loads(row.content) if row is not None else {}
    with _lock:
        _cache[latest] = parsed
    return parsed


OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


def fill(template: str, values: Mapping[str, Any]) -> str:
    """The template with its holes filled: a ``[part]`` naming an empty value is left out, and an empty value
    leaves no dangling punctuation."""

    def optional(match: re.Match[str]) -> str:
        part = match.group(1)
        try:
            holes = [hole for _, hole, _, _ in string.Formatter().parse(part) if hole is not None]
        except ValueError:
            return part
        return part if all(values.get(h) not in (None, "") for h in holes) else ""

    template = OPTIONAL.sub(optional, template)
    parts: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:  # checked at deploy
        return template
    for literal, hole, _spec, _conversion in parsed:
        parts.append(literal)
        if hole is not None:
            value = values.get(hole)
            parts.append("" if value is None else str(value))
    text = EMPTY_BRACKETS.sub("", "".join(parts))
    return LEADING.sub("", DANGLING.sub("", text)).strip()


def render(templates: dict, event: str, values: Mapping[str, Any]) -> Rendered:
    """An event's title and text over ``values`` (:data:`PLACEHOLDERS`), from the deployed templates or, without
    one, the event's name and the task's."""
    entry = templates.get(event)
    if not entry:
        label_zh = zh.NOTIFY_EVENTS.get(event, event)
        label_en = en.NOTIFY_EVENTS.get(event, event)
        entry = {"title": f"{label_zh}：{{task}}", "text": "{case_title} {subject}",
                 "title_en": f"{label_en}: {{task}}", "text_en": "{case_title} {subject}"}
    title = fill(entry["title"], values)[:255]
    text = fill(entry["text"], values) or title
    title_en = fill(entry["title_en"], values)[:255] if entry.get("title_en") else None
    text_en = (fill(entry["text_en"], values) or title_en) if entry.get("text_en") else None
    return Rendered(title, text, title_en, text_en)
