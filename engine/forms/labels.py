"""Labels for case data, from a version's forms (the case page, the inbox): field labels and option labels,
how a value reads (its ``format``; for records and lists, the ``view`` that shows them), and which data a case
page lists and titles itself with.

A form's ``case_labels`` name case data, and also the keys inside structured values: a record's ``street`` is
labelled and formatted by the ``street`` entry, wherever it sits (docs/forms.md, "How case data reads")."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.forms.files import LIST_TYPE, columns_of, option_text

# How a single value reads (webui.staff.display formats them): ids as names, times in the local zone, numbers.
FORMATS = ("text", "group", "user", "datetime", "date", "number", "score", "percent", "bool", "files", "duration",
           "location")  # location: coordinates with their accuracy and a map link
# How a structured value reads: a record (label: value), a table (a row per item; a mapping's keys become the
# first column, labelled by ``key``) or a list (a line per item, written by the ``item`` template).
VIEWS = ("record", "table", "list")
VIEW_KEYS = ("format", "view", "fields", "key", "item", "item_en", "audience")
# Who may read a case-data name, lowest first (engine.casework.audiences, ADR 9); undeclared: staff ("street").
AUDIENCES = ("resident", "reporter", "street", "department", "district")
FIELD_FORMATS = {"date": "date", "datetime": "datetime", "number": "number", "file": "files", "location": "location"}


def option_label(field: dict, value: Any, lang: str = "zh") -> str | None:
    """The label of the option ``value`` of a select/radio field, in Chinese or English; None if not an option."""
    for option in field.get("options") or []:
        if option_text(option["value"]) == option_text(value):
            return option.get("label_en") if lang == "en" and option.get("label_en") else option["label"]
    return None


def case_labels(forms: Iterable[dict]) -> dict[str, dict]:
    """Labels of data names and their values from a version's forms: field labels and options, then each
    form's ``case_labels`` (which win)."""
    labels: dict[str, dict] = {}
    explicit: dict[str, dict] = {}
    for form in forms:
        for field in form.get("fields", []):
            if field.get("type") != "hidden" or field.get("label"):
                _add_field(labels, field)
        for name, value in (form.get("case_labels") or {}).items():
            _add_declared(explicit.setdefault(name, {"options": {}}), {"label": value} if isinstance(value, str)
                          else value)
    for name, entry in explicit.items():
        base = labels.get(name, {"label": name, "label_en": None, "options": {}})
        labels[name] = {**base, **{k: v for k, v in entry.items() if k != "options"},
                        "options": {**base.get("options", {}), **entry["options"]}}
    return labels


def _add_field(labels: dict[str, dict], field: dict) -> None:
    entry = labels.setdefault(field["name"], {"label": field.get("label") or field["name"],
                                              "label_en": field.get("label_en"), "options": {}})
    for option in field.get("options") or []:
        entry["options"].setdefault(option_text(option["value"]), (option["label"], option.get("label_en")))
    if field.get("type") == "file":
        entry["file"] = True
    if field.get("type") in FIELD_FORMATS:
        entry.setdefault("format", FIELD_FORMATS[field["type"]])
    if field.get("type") == LIST_TYPE:
        entry["columns"] = {
            column["name"]: {"label": column.get("label") or column["name"], "label_en": column.get("label_en"),
                             "options": {option_text(o["value"]): (o["label"], o.get("label_en"))
                                         for o in column.get("options") or []}}
            for column in columns_of(field)}


def _add_declared(entry: dict, value: dict) -> None:
    """A ``case_labels`` entry; one may declare only an audience or a format and keep the field's label."""
    for key in ("label", "label_en"):
        if value.get(key):
            entry[key] = value[key]
    for option_value, option_label_ in (value.get("options") or {}).items():
        if isinstance(option_label_, dict):
            entry["options"][option_value] = (option_label_.get("label"), option_label_.get("label_en"))
        else:
            entry["options"][option_value] = (option_label_, None)
    if value.get("file"):
        entry["file"] = True
    entry.update({key: value[key] for key in VIEW_KEYS if key in value})


def case_fields(forms: Iterable[dict]) -> list[str]:
    """The case data a case page lists, in order (the forms' ``case_fields``; empty: every labelled name)."""
    keys: list[str] = []
    for form in forms:
        for key in form.get("case_fields") or []:
            if key not in keys:
                keys.append(key)
    return keys


def case_title_keys(forms: Iterable[dict]) -> list[str]:
    """What a case is titled by, in order: data names (the first with a value) and templates (a ``case_title``
    written as a sentence, ``"{year} 年度街乡考核评价"``: ``engine.forms.templates``)."""
    keys: list[str] = []
    for form in forms:
        title = form.get("case_title") or []
        for key in [title] if isinstance(title, str) else title:
            if key not in keys:
                keys.append(key)
    return keys or ["title", "situation_name", "situation_label", "subject", "description"]
