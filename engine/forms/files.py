"""Task forms as data: ``<form-key>.form.json`` files deployed and versioned with the processes that use them.

A designer changes a form without code: edit the JSON file next to the BPMN file and deploy the folder.
A process version stores the form files its ``formKey`` attributes name (literal keys on user tasks, manual
tasks and start events, including those inside sub-processes), so the content hash covers them and a changed
form makes a new version; running cases keep the forms of the version they started on.

The format (documented for designers in ``docs/forms.md``)::

    {"key": "whistle-review", "title": "指挥中心审核", "title_en": "Command centre review",
     "description": "…", "show": ["situation_label", "location", "description", "photos"],
     "fields": [{"name": "decision", "label": "审核结论", "type": "radio", "required": true,
                 "options": [{"value": "whistle", "label": "吹哨"}, {"value": "reject", "label": "驳回"}]},
                {"name": "reject_reason", "label": "驳回理由", "type": "textarea",
                 "visible_when": {"field": "decision", "equals": "reject"}}],
     "rules": [{"when": {"field": "decision", "equals": "reject"}, "require": ["reject_reason"],
                "message": "驳回必须填写驳回理由", "message_en": "A rejection needs a reason"}]}

Field types: text, textarea, number, select, radio, checkbox, date, datetime, file (``"capture": "environment"``:
a photo taken with the phone's camera), hidden, ``location`` (the phone's position from browser geolocation, on the
user's click: ``{"lat": 39.9042, "lng": 116.4074, "accuracy": 15, "at": ISO time}``), and ``dynamiclist``
(repeating rows, form-js's name: ``{"name": "scores", "type": "dynamiclist", "components": [columns…],
"rules": [per-row rules…], "min_rows": 0, "max_rows": 26, "unique": ["department"]}``; its value is a list of
dicts, one per row; the browser posts cells as ``scores[0][department]``). Conditions are
``{"field": NAME, OP: VALUE}`` with OP one of equals, not_equals, in, not_in, gt, gte, lt, lte, filled, or
``{"all": [...]}`` / ``{"any": [...]}`` / ``{"not": {...}}``.

This module holds the format's vocabulary and reads the forms stored with a version. The rest of the package:
``checks`` (a form file at deploy time), ``deployment`` (which forms a process version stores), ``validation``
with ``values``, ``conditions`` and ``rows`` (a submission: the submitted strings, as an HTML form posts them,
to typed data and per-field messages in Chinese or English; nothing of the web), ``labels`` (case data shown
with the forms' labels) and ``contracts`` (what a submission may set, checked in the engine command).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

FORM_SUFFIX = ".form.json"
FIELD_TYPES = ("text", "textarea", "number", "select", "radio", "checkbox", "date", "datetime", "file", "hidden",
               "dynamiclist", "location")
LOCATION_TYPE = "location"  # where the phone was: {"lat", "lng", "accuracy" (m), "at"} from browser geolocation
CAPTURE_MODES = ("environment", "user")  # a file field's camera hint: the back or the front camera
LIST_TYPE = "dynamiclist"
COLUMN_TYPES = ("text", "textarea", "number", "select", "radio", "checkbox", "date", "datetime")
OPTION_TYPES = ("select", "radio")
OPERATORS = ("equals", "not_equals", "in", "not_in", "gt", "gte", "lt", "lte", "filled")
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
FIELD_KEYS = {"name", "label", "label_en", "type", "required", "required_when", "visible_when", "options",
              "multiple", "min", "max", "min_length", "max_length", "integer", "step", "help", "help_en",
              "placeholder", "placeholder_en", "default", "prefill", "label_to", "max_files", "rows",
              "capture",  # file fields: take the photo with the phone's camera (<input capture>)
              "from_account",  # the value states the actor's own organisation: one their groups give (contracts)
              # form-js spellings, read by ``normalize`` (``key``/``path`` name a field, ``values`` are its options,
              # ``validate`` holds required/min/max/minLength/maxLength) or ignored (``id``, ``layout``)
              "key", "path", "values", "validate", "subtype", "id", "layout"}
# settings of a dynamiclist only (form-js: components, path, defaultRepetitions, allowAddRemove, isRepeating,
# nonCollapsedItems, showOutline)
LIST_KEYS = {"components", "rules", "min_rows", "max_rows", "unique", "add_label", "add_label_en",
             "defaultRepetitions", "allowAddRemove", "isRepeating", "nonCollapsedItems", "showOutline"}
COLUMN_KEYS = FIELD_KEYS - {"prefill", "label_to", "max_files", "path", "from_account"}
FORMJS_TYPES = {"textfield": "text", "checklist": "checkbox"}
FORM_KEYS = {"key", "title", "title_en", "description", "description_en", "fields", "rules", "show",
             "case_labels", "case_title", "case_fields", "submit", "submit_en", "business_key_prefix",
             "unknown_fields",  # "ignore": names the form does not have are dropped, not refused (contracts)
             "subject", "subject_en"}  # what a task is about, a template over its data (engine.forms.templates)


def is_form_file(name: str) -> bool:
    return str(name).lower().endswith(FORM_SUFFIX)


def key_of_file(name: str) -> str:
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    return base[: -len(FORM_SUFFIX)]


def forms_in(files: Iterable[tuple[str, str]]) -> dict[str, dict]:
    """The forms among a version's stored files (name, content), normalized, by form key."""
    found: dict[str, dict] = {}
    for name, content in files:
        if is_form_file(name):
            try:
                found[key_of_file(name)] = normalize(json.loads(content))
            except json.JSONDecodeError:  # checked at deploy; never stored broken
                continue
    return found


def option_text(value: Any) -> str:
    """How an option value is compared: ``true``/``false`` for booleans, ``""`` for None, else ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def columns_of(field: dict) -> list[dict]:
    """A dynamiclist's columns (its ``components`` that have a name)."""
    return [c for c in field.get("components") or [] if isinstance(c, dict) and "name" in c]


def normalize(form: Any) -> Any:
    """Read the form-js spellings of a form in place (returns the form): a field named by ``key`` (or, for a
    dynamiclist, ``path``), ``textfield``/``checklist`` types, options as ``values``, and ``validate`` holding
    required/min/max/minLength/maxLength. Forms written for Whistle are left as they are."""
    if isinstance(form, dict):
        for field in form.get("fields") or []:
            _normalize_field(field)
    return form


def _normalize_field(field: Any) -> None:
    if not isinstance(field, dict):
        return
    if "name" not in field:
        for alias in ("path", "key"):
            if isinstance(field.get(alias), str):
                field["name"] = field[alias]
                break
    kind = field.get("type")
    if kind in FORMJS_TYPES:
        field["type"] = FORMJS_TYPES[kind]
    elif kind == "datetime" and field.get("subtype") == "date":
        field["type"] = "date"
    if "options" not in field and isinstance(field.get("values"), list):
        field["options"] = field["values"]
    checks = field.get("validate")
    if isinstance(checks, dict):
        for source, target in (("required", "required"), ("min", "min"), ("max", "max"),
                               ("minLength", "min_length"), ("maxLength", "max_length")):
            if source in checks and target not in field:
                field[target] = checks[source]
    for column in field.get("components") or [] if isinstance(field.get("components"), list) else []:
        _normalize_field(column)
