"""How things read on screen: local times, time left to a deadline, labelled case data, the timeline (its
sentences are in the catalogs, ``engine.i18n``)."""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from engine.time import clock
from engine.time.workdays import timezone as local_zone
from webui.i18n import current, event_template
from webui.i18n import gettext as _

CJK = re.compile(r"[\u3400-\u9fff]")
ISO_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
TIER_CLASSES = {"red": "tier-red", "yellow": "tier-yellow", "blue": "tier-blue"}
TIER_NAMES = {"red": "红色", "yellow": "黄色", "blue": "蓝色"}
SYSTEM_ACTORS = {"timer": "系统计时器", "system": "系统", None: "系统"}
DURATION_UNITS = ("周", "天", "小时", "分钟", "秒")  # the groups of ISO_DURATION


def _parse(value: object) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def local_time(value: object) -> str:
    moment = _parse(value)
    if moment is None:
        return "" if value is None else str(value)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M")


def short_time(value: object) -> str:
    """``09-28 17:30`` this year, with the year otherwise."""
    moment = _parse(value)
    if moment is None or moment.tzinfo is None:
        return local_time(value)
    local = moment.astimezone(local_zone())
    now = clock.now().astimezone(local_zone())
    return local.strftime("%m-%d %H:%M" if local.year == now.year else "%Y-%m-%d %H:%M")


def span(seconds: int | float, round_up: bool = True) -> tuple[str, int]:
    """The unit and count people say: days from two days on, hours from two hours on, else minutes. Time left
    rounds up (14:30 left is 15 minutes), time overdue rounds down (16:40 late is 16 minutes)."""
    seconds = abs(int(seconds))
    if seconds >= 2 * 86400:
        return "天", seconds // 86400
    if seconds >= 2 * 3600:
        return "小时", seconds // 3600
    return "分钟", max(1, (seconds + 59) // 60 if round_up else seconds // 60)


def time_left(deadline: dict | None) -> str:
    """剩余 3 小时 / 已超时 20 分钟."""
    if not deadline:
        return ""
    unit, count = span(deadline["seconds"], round_up=deadline["state"] != "overdue")
    if deadline["state"] == "overdue":
        return _(f"已超时 {{n}} {unit}", n=count)
    return _(f"剩余 {{n}} {unit}", n=count)


def seconds_until(value: object) -> int | None:
    moment = _parse(value)
    if moment is None or moment.tzinfo is None:
        return None
    return int((moment - clock.now()).total_seconds())


def until_text(value: object) -> str:
    seconds = seconds_until(value)
    if seconds is None:
        return ""
    return time_left({"state": "overdue" if seconds <= 0 else "blue", "seconds": seconds})


def duration_text(text: str) -> str | None:
    """``PT30M`` → 30 分钟, ``P3D`` → 3 天 (None when the text is not such a duration)."""
    match = ISO_DURATION.match(text or "")
    if not match or text in ("P", "PT"):
        return None
    parts = [_(f"{{n}} {DURATION_UNITS[i]}", n=int(v)) for i, v in enumerate(match.groups()) if v]
    return " ".join(parts) if parts else None


def file_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def tier_class(tier: str | None) -> str:
    return TIER_CLASSES.get(tier or "", "")


def tier_name(tier: str | None) -> str:
    return _(TIER_NAMES[tier]) if tier in TIER_NAMES else ""


def doc_text(documentation: str | None) -> str:
    """The documentation in the reader's language: Chinese lines, or the English ones (bilingual BPMN docs)."""
    if not documentation:
        return ""
    lines = [line.strip() for line in documentation.strip().splitlines() if line.strip()]
    chinese = [line for line in lines if CJK.search(line)]
    english = [line for line in lines if not CJK.search(line)]
    chosen = english if current() == "en" and english else chinese or lines
    return "\n".join(chosen)


def first_sentence(documentation: str | None, limit: int = 90) -> str:
    text = doc_text(documentation).replace("\n", "")
    cut = re.split(r"(?<=[。.!！？?])", text, maxsplit=1)[0]
    return cut if len(cut) <= limit else cut[: limit - 1] + "…"


def group_list(groups: Iterable[str], labels: dict) -> str:
    return "、".join(labels.get(g, g) for g in groups)


def is_file_list(value: object, attachments: dict) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v in attachments for v in value)


def value_text(name: str, value: Any, labels: dict, groups: dict, users: dict) -> str:
    """A case data value as a clerk reads it: option labels, group and person names, yes/no."""
    entry = labels.get(name) or {}
    options = entry.get("options") or {}

    def one(item: Any) -> str:
        if isinstance(item, bool):
            key = "true" if item else "false"
            if key in options:
                return _pick_option(options[key])
            return _("是") if item else _("否")
        if item is None or item == "":
            return "—"
        text = str(item)
        if text in options:
            return _pick_option(options[text])
        if isinstance(item, str):
            duration = duration_text(item)
            if duration:
                return duration
            if item in groups:
                return groups[item]
            if item in users:
                return users[item]
        if isinstance(item, (dict, list)):
            return json.dumps(item, ensure_ascii=False)
        return text

    if entry.get("columns") and is_rows(value):  # a dynamiclist's rows (the case page shows them as a table)
        return _("{n} 行", n=len(value))
    if isinstance(value, list):
        return "、".join(one(v) for v in value) if value else "—"
    return one(value)


def is_rows(value: object) -> bool:
    """A dynamiclist's value: a non-empty list of rows (dicts)."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def rows_table(name: str, value: Any, labels: dict, groups: dict, users: dict) -> dict | None:
    """A dynamiclist's submitted rows, read-only: ``{"columns": [label…], "rows": [[text…]…]}`` with option labels,
    group and person names; the columns are the form's (``case_labels`` keeps them), then any other keys the rows
    have. None for anything else (other lists of objects keep their plain display)."""
    entry = labels.get(name) or {}
    if not entry.get("columns") or not is_rows(value):
        return None
    columns = dict(entry.get("columns") or {})
    for row in value:
        for key in row:
            columns.setdefault(key, {"label": key, "options": {}})
    names = list(columns)
    cell_labels = {key: {"label": c.get("label"), "label_en": c.get("label_en"), "options": c.get("options") or {}}
                   for key, c in columns.items()}
    return {
        "columns": [label_of(key, cell_labels) for key in names],
        "rows": [[value_text(key, row.get(key), cell_labels, groups, users) for key in names] for row in value],
    }


def _pick_option(option: str | tuple | list) -> str:
    label, label_en = option if isinstance(option, (tuple, list)) else (option, None)
    return label_en if current() == "en" and label_en else label


def label_of(name: str, labels: dict) -> str:
    entry = labels.get(name)
    if not entry:
        return name
    return entry.get("label_en") if current() == "en" and entry.get("label_en") else entry.get("label") or name


def timeline(events: list[dict], users: dict, groups: dict, element_names: dict, labels: dict) -> list[dict]:
    """The audit trail of a case as sentences (一次一留痕: who did what when)."""
    rows = []
    for event in events:
        details = event.get("details") or {}
        template = event_template(event["event"])
        values = {"name": details.get("name", ""), "message": details.get("message", ""),
                  "error": details.get("error", ""), "file_name": details.get("file_name", ""),
                  "files": "、".join(details.get("files") or []),
                  "element": element_names.get(details.get("element_id"), details.get("element_id") or "")}
        text = template.format(**values)
        extra = []
        if event["event"] == "task_created" and details.get("candidate_groups"):
            extra.append(_("交 {groups}", groups=group_list(details["candidate_groups"], groups)))
        if event["event"] == "task_created" and details.get("due_at"):
            extra.append(_("时限 {when}", when=short_time(details["due_at"])))
        if event["event"] in ("task_completed", "started"):
            data = details.get("data") or {}
            shown = [(k, v) for k, v in data.items() if k in labels and v not in (None, "", [])]
            for key, value in shown[:4]:
                if labels.get(key, {}).get("file"):
                    value = f"{len(value)} 个文件" if isinstance(value, list) else value
                    extra.append(f"{label_of(key, labels)}：{value}")
                else:
                    extra.append(f"{label_of(key, labels)}：{value_text(key, value, labels, groups, users)[:60]}")
        actor = event.get("actor")
        who: str | None = _(SYSTEM_ACTORS[actor]) if actor in SYSTEM_ACTORS else users.get(actor, actor)
        rows.append({"at": event["at"], "who": who, "text": text, "extra": "；".join(extra),
                     "event": event["event"]})
    return rows


def shown_fields(keys: list[str], data: dict, labels: dict, groups: dict, people: dict,
                 attachments: dict) -> list[dict]:
    """The case data named by ``keys``, labelled, for a task's "about the case" and a case's page: a table for
    a dynamiclist's rows, the files of an attachment list, else the value as text; empty values left out."""
    rows = []
    for key in keys:
        if key not in data or data[key] in (None, "", [], {}):
            continue
        value = data[key]
        table = rows_table(key, value, labels, groups, people)
        if table:
            rows.append({"label": label_of(key, labels), "table": table})
        elif is_file_list(value, attachments):
            rows.append({"label": label_of(key, labels), "files": [attachments[v] for v in value]})
        else:
            rows.append({"label": label_of(key, labels), "text": value_text(key, value, labels, groups, people)})
    return rows
