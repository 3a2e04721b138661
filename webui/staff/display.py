"""How things read on screen: local times, time left to a deadline, durations, tiers, documentation (case data
reads through ``webui.staff.values``, the timeline through ``webui.staff.timeline``)."""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from engine.time import clock
from engine.time.workdays import timezone as local_zone
from webui.i18n import current
from webui.i18n import gettext as _

CJK = re.compile(r"[\u3400-\u9fff]")
ISO_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
TIER_CLASSES = {"red": "tier-red", "yellow": "tier-yellow", "blue": "tier-blue"}
TIER_NAMES = {"red": "红色", "yellow": "黄色", "blue": "蓝色"}
# actors the timeline names by what they are; "staff" stands for a person a resident is not told the name of
SYSTEM_ACTORS = {"timer": "系统计时器", "system": "系统", None: "系统", "staff": "工作人员"}
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
