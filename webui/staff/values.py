"""How case data reads on a page: every value becomes a small tree of nodes that ``_value.html`` draws — text,
files, a record (label: value), a table or a list — labelled and formatted as the version's forms declare
(``engine.forms.labels``: ``case_labels`` with ``format``, ``view``, ``fields``, ``key`` and ``item``).

No value reaches a person as JSON: a structured value without a declared view is shown as a record or a table
of the keys the forms label; keys no form labels are the engine's own bookkeeping and are left out (an
administrator finds them in the technical view of the case page).
"""
from __future__ import annotations

import re
import string
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from engine.casework import audiences
from engine.forms import templates
from webui.i18n import current
from webui.i18n import gettext as _
from webui.staff.display import duration_text, local_time, short_time

ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CJK = re.compile(r"[\u3400-\u9fff]")  # a key in Chinese (优秀, 良好) reads as it is
ID_WORD = re.compile(r"(?<![\w-])[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?![\w-])")
EMPTY: tuple[Any, ...] = (None, "", [], {})
MAX_DEPTH = 4  # deeper values are summarised as text


class Presenter:
    """Turns a version's case data into nodes, with the names of groups and people and the attachments known."""

    def __init__(self, labels: dict[str, dict], groups: dict[str, str], people: dict[str, str],
                 attachments: dict[str, dict] | None = None) -> None:
        self.labels, self.groups, self.people = labels, groups, people
        self.attachments = attachments or {}
        self.option_index = _option_index(labels)

    # -- labels ------------------------------------------------------------------------------------------------
    def label(self, name: str, entry: dict | None = None) -> str:
        entry = entry if entry is not None else self.labels.get(name) or {}
        if current() == "en" and entry.get("label_en"):
            return str(entry["label_en"])
        return str(entry.get("label") or name)

    def is_labelled(self, name: str) -> bool:
        return name in self.labels

    # -- nodes -------------------------------------------------------------------------------------------------
    def field(self, name: str, value: Any) -> dict:
        """One labelled row of a data list: ``{"label", "name", "node"}``."""
        return {"label": self.label(name), "name": name, "node": self.node(name, value)}

    def fields(self, names: Iterable[str], data: dict) -> list[dict]:
        """The rows of ``names`` that ``data`` holds (empty values left out)."""
        return [self.field(name, data[name]) for name in names if data.get(name) not in EMPTY]

    def node(self, name: str, value: Any, entry: dict | None = None, depth: int = 0) -> dict:
        entry = entry if entry is not None else self.labels.get(name) or {}
        if value in EMPTY:
            return {"kind": "text", "text": "—"}
        if self._is_files(entry, value):
            return {"kind": "files", "files": [self.attachments[v] for v in value]}
        if entry.get("format") == "location" and is_location(value):
            return location_node(value)
        if depth >= MAX_DEPTH and isinstance(value, (dict, list)):
            return {"kind": "text", "text": self.summary(name, value, entry)}
        view = entry.get("view")
        if isinstance(value, dict):
            if view == "table" or (view is None and _is_mapping_of_records(value, self)):
                return self._mapping_table(name, value, entry, depth)
            if view == "list":
                return self._list([{**v, "key": k} if isinstance(v, dict) else v for k, v in value.items()],
                                  entry, depth)
            return self._record(value, entry, depth)
        if isinstance(value, list):
            if all(isinstance(v, dict) for v in value):
                if view == "list" or (view is None and depth > 0 and not entry.get("columns")):
                    return self._list(value, entry, depth)
                if view == "record" and len(value) == 1:
                    return self._record(value[0], entry, depth)
                return self._table(value, entry, depth)
            if view == "list" or any(isinstance(v, (dict, list)) for v in value):
                return self._list(value, entry, depth)
            return {"kind": "text", "text": "、".join(self.text(name, v, entry) for v in value)}
        return {"kind": "text", "text": self.text(name, value, entry)}

    def _record(self, value: dict, entry: dict, depth: int) -> dict:
        rows = []
        for key in self._keys([value], entry):
            if value.get(key) in EMPTY:
                continue
            sub = self._entry(key, entry)
            rows.append({"label": self.label(key, sub), "node": self.node(key, value[key], sub, depth + 1)})
        return {"kind": "record", "rows": rows}

    def _table(self, items: list[dict], entry: dict, depth: int, key_column: tuple[str, list[Any]] | None = None
               ) -> dict:
        keys = self._keys(items, entry)
        keys = [k for k in keys if any(item.get(k) not in EMPTY for item in items)]
        columns = [self.label(k, self._entry(k, entry)) for k in keys]
        rows = []
        for index, item in enumerate(items):
            cells = [self.node(k, item.get(k), self._entry(k, entry), depth + 1) for k in keys]
            if key_column is not None:
                key_name, key_values = key_column
                cells.insert(0, {"kind": "text", "text": self.text(key_name, key_values[index],
                                                                   self.labels.get(key_name) or {})})
            rows.append(cells)
        if key_column is not None:
            columns.insert(0, self.label(key_column[0]) if key_column[0] in self.labels else "")
        return {"kind": "table", "columns": columns, "rows": rows}

    def _mapping_table(self, name: str, value: dict, entry: dict, depth: int) -> dict:
        """``{"dept-police": {…}, …}``: a row per key, the key (``entry["key"]`` labels it) in the first column."""
        items = [v if isinstance(v, dict) else {"value": v} for v in value.values()]
        return self._table(items, entry, depth, key_column=(entry.get("key") or "", list(value)))

    def _list(self, items: list[Any], entry: dict, depth: int) -> dict:
        template = entry.get("item_en") if current() == "en" and entry.get("item_en") else entry.get("item")
        lines = []
        for item in items:
            if template and isinstance(item, dict):
                lines.append({"kind": "text", "text": self._fill(template, item, entry)})
            elif isinstance(item, dict):
                lines.append(self._record(item, entry, depth))
            else:
                lines.append(self.node("", item, {k: v for k, v in entry.items() if k in ("format", "options")},
                                       depth + 1))
        return {"kind": "list", "lines": lines}

    def _fill(self, template: str, item: dict, entry: dict) -> str:
        """``{street}：{score} 分，{reason}`` with each name formatted; punctuation left dangling by an empty value
        goes."""
        parts = []
        for literal, field_name, _spec, _conversion in string.Formatter().parse(template):
            parts.append(literal)
            if field_name:
                value = item.get(field_name)
                parts.append("" if value in EMPTY else self.summary(field_name, value,
                                                                      self._entry(field_name, entry)))
        text = "".join(parts)
        text = re.sub(r"[，,；;、：:]\s*(?=[，,；;、。)）]|$)", "", text)
        return re.sub(r"[（(]\s*[)）]", "", text).strip()

    def _keys(self, items: list[dict], entry: dict) -> list[str]:
        """The keys a record or table shows: the declared ``fields``, else the labelled keys the items have."""
        if entry.get("fields"):
            return [f["name"] if isinstance(f, dict) else f for f in entry["fields"]]
        columns = entry.get("columns") or {}
        keys: list[str] = list(columns)
        for item in items:
            for key in item:
                if key not in keys and (key in columns or self.is_labelled(key) or CJK.search(key)):
                    keys.append(key)
        return keys

    def _entry(self, key: str, parent: dict) -> dict:
        """The label entry of a key inside a structured value: the view's own ``fields`` entry, a dynamiclist's
        column, else the version's (an own entry adds to the version's: a label here, the format there)."""
        own = next((f for f in parent.get("fields") or () if isinstance(f, dict) and f.get("name") == key), None)
        columns = parent.get("columns") or {}
        base = columns.get(key) or self.labels.get(key) or {}
        if parent.get("view") and parent.get("format") and "format" not in base and not (own or {}).get("format"):
            base = {**base, "format": parent["format"]}  # a record's format is its values' (weights: percent)
        return {**base, **own} if own else base

    def _is_files(self, entry: dict, value: Any) -> bool:
        if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            return False
        return all(v in self.attachments for v in value)

    # -- text --------------------------------------------------------------------------------------------------
    def text(self, name: str, value: Any, entry: dict | None = None) -> str:
        """A single value as a clerk reads it: option labels, group and person names, local times, yes/no."""
        entry = entry if entry is not None else self.labels.get(name) or {}
        options = entry.get("options") or {}
        if isinstance(value, bool):
            key = "true" if value else "false"
            return _pick(options[key]) if key in options else (_("是") if value else _("否"))
        if value in (None, ""):
            return "—"
        text = str(value)
        if text in options:
            return _pick(options[text])
        kind = entry.get("format")
        if isinstance(value, (int, float)):
            return _number(value, kind)
        if isinstance(value, (dict, list)):
            return self.summary(name, value, entry)
        if kind == "date" or (kind is None and ISO_DATE.match(text)):
            return text[:10]
        if kind == "datetime" or ISO_MOMENT.match(text):
            return local_time(text)
        if kind == "group" or (kind is None and text in self.groups):
            return self.groups.get(text, text)
        if kind == "user" or (kind is None and self.people.get(text, text) != text):
            return self.people.get(text, text)
        duration = duration_text(text)
        if duration and kind in (None, "duration"):
            return duration
        if kind is None and text in self.option_index:  # a street's id inside a record: 五大道街
            return _pick(self.option_index[text])
        return text

    def humanize(self, text: str) -> str:
        """A sentence the engine wrote (a check's message) with the ids in it as names: dept-fire → 区消防救援支队."""
        def name_of(match: re.Match) -> str:
            word = match.group(0)
            named = self.text("", word, {})
            return named if named != word else word
        return ID_WORD.sub(name_of, text)

    def summary(self, name: str, value: Any, entry: dict | None = None, limit: int = 120) -> str:
        """A value on one line (a timeline entry, a table cell of a deep value): records as label：value."""
        entry = entry if entry is not None else self.labels.get(name) or {}
        if entry.get("format") == "location" and is_location(value):
            text = location_text(value)
        elif isinstance(value, dict):
            parts = [f"{self.label(k, self._entry(k, entry))}：{self.summary(k, v, self._entry(k, entry))}"
                     for k, v in value.items() if v not in EMPTY and (k in self._keys([value], entry))]
            text = "；".join(parts)
        elif isinstance(value, list):
            if self._is_files(entry, value):
                text = "、".join(self.attachments[v]["file_name"] for v in value)
            elif value and all(isinstance(v, dict) for v in value):  # a dynamiclist's rows, or records
                text = _("{n} 行", n=len(value)) if entry.get("columns") else _("{n} 项", n=len(value))
            else:
                text = "、".join(self.summary(name, v, entry) for v in value)
        else:
            text = self.text(name, value, entry)
        return text if len(text) <= limit else text[: limit - 1] + "…"


def subject_text(presenter: Presenter, subject: dict | None) -> str:
    """What a task is about (an inbox item's ``subject``: its form's template and the values its row keeps), in the
    reader's language, each value as the case page shows it (a street's id as its name, a group as its name)."""
    if not subject or not subject.get("values"):
        return ""
    template = str(subject.get("template_en") if current() == "en" and subject.get("template_en")
                   else subject["template"])

    def text_of(path: str, value: Any) -> str:
        key = path.rsplit(".", 1)[-1]
        entry = presenter.labels.get(path) or presenter.labels.get(key) or {}
        return presenter.summary(key, value, entry, limit=80)

    return templates.fill(template, subject["values"], text_of)


MAP_URL = "https://uri.amap.com/marker?position={lng},{lat}&coordinate=wgs84&name={name}&src=whistle"


def is_location(value: Any) -> bool:
    """A position as a location field stores it: ``{"lat", "lng", "accuracy"?, "at"?}``."""
    return isinstance(value, dict) and all(isinstance(value.get(k), (int, float)) and not isinstance(value.get(k), bool)
                                           for k in ("lat", "lng"))


def location_text(value: dict) -> str:
    """``39.9042, 116.4074（±15 米）``: latitude and longitude to about 10 m, the accuracy the phone gave."""
    text = f"{value['lat']:.4f}, {value['lng']:.4f}"
    accuracy = value.get("accuracy")
    if isinstance(accuracy, (int, float)) and not isinstance(accuracy, bool):
        text += _("（±{m} 米）", m=f"{accuracy:.0f}")
    return text


def location_node(value: dict) -> dict:
    """A position with its map link (高德地图, which converts the browser's WGS-84 coordinates itself) and the time
    the phone took it."""
    name = _("定位点")
    return {"kind": "location", "text": location_text(value),
            "when": short_time(value["at"]) if value.get("at") else "",
            "href": MAP_URL.format(lng=value["lng"], lat=value["lat"], name=quote(name)),
            "title": _("浏览器定位的 WGS-84 坐标，在高德地图中打开")}


def strings_in(value: Any) -> Iterable[str]:
    """The short strings inside a value that are not times (the candidates for account names to look up)."""
    return (text for text in audiences.strings_in(value) if len(text) < 64 and not ISO_MOMENT.match(text))


def _is_mapping_of_records(value: dict, presenter: Presenter) -> bool:
    """``{"dept-police": {…}, "dept-fire": {…}}``: keyed by groups (or other ids no form labels)."""
    return bool(value) and all(isinstance(v, dict) for v in value.values()) and all(
        k in presenter.groups or k in presenter.people or not presenter.is_labelled(k) for k in value)


def _option_index(labels: dict[str, dict]) -> dict[str, Any]:
    """Option values and their label across the version's fields, for values inside records that no entry labels.
    A value two fields label differently ("yes" as 同意 and as 属实) reads as neither; one labelled 五大道街 here and
    五大道街道 there reads as the first."""
    seen: dict[str, Any] = {}
    clashes: set[str] = set()
    for entry in labels.values():
        for value, option in (entry.get("options") or {}).items():
            label = _chinese(option)
            if value in seen:
                first = _chinese(seen[value])
                if not (label.startswith(first) or first.startswith(label)):
                    clashes.add(value)
            else:
                seen[value] = option
    return {value: option for value, option in seen.items() if value not in clashes}


def _chinese(option: Any) -> str:
    return str(option[0] if isinstance(option, (tuple, list)) else option)


def _number(value: float, kind: str | None) -> str:
    if kind == "percent":
        return f"{value * 100:.1f}".rstrip("0").rstrip(".") + "%"
    if kind == "score" or isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _pick(option: str | tuple | list) -> str:
    label, label_en = option if isinstance(option, (tuple, list)) else (option, None)
    return str(label_en if current() == "en" and label_en else label)
