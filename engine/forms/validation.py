"""Validating a submission: the submitted strings (a mapping of name to list of strings, as an HTML form posts
them) to typed data and per-field messages in Chinese or English, with the prefills the server sets. Nothing
of the web: the staff pages, the REST API and the CLI all end here (``engine.forms.contracts``)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import tzinfo
from typing import Any

from engine.forms.conditions import answered, filled, holds, visible
from engine.forms.files import LIST_TYPE, OPTION_TYPES, columns_of
from engine.forms.labels import option_label
from engine.forms.rows import CELL_RE, cell_key, check_rows, convert_rows, row_count_problem
from engine.forms.values import InvalidValue, convert, limit_problem, message


def group_parts(pattern: str, groups: Iterable[str]) -> list[str]:
    """The part in place of ``{}`` of every group matching ``pattern`` (``grid-{}`` → the grid worker's street)."""
    regex = re.compile("^" + re.escape(pattern).replace(r"\{\}", "(.+?)") + "$")
    return [m.group(1) for m in (regex.match(g) for g in sorted(groups)) if m]


def prefill(form: dict, username: str | None, groups: Iterable[str], display_name: str | None = None) -> dict:
    """Initial values: defaults, the signed-in user (``"user"``: the account name, ``"display_name"``: the
    person's name), or a part of one of their groups (``{"groups": ["grid-{}"]}``: e.g. the street)."""
    values: dict[str, Any] = {}
    groups = sorted(groups)
    for field in form.get("fields", []):
        if "default" in field:
            values[field["name"]] = field["default"]
        source = field.get("prefill")
        if source == "user" and username:
            values[field["name"]] = username
        elif source == "display_name" and (display_name or username):
            values[field["name"]] = display_name or username
        elif isinstance(source, dict):
            for pattern in source.get("groups", []):
                parts = group_parts(pattern, groups)
                if parts:
                    values[field["name"]] = parts[0]
                    break
    return values


def _typed(field: dict, values: list[str], tz: tzinfo | None) -> Any:
    try:
        return convert(field, values, tz)
    except InvalidValue:
        return None


def required_condition(field: dict, rules: Iterable[dict] | None) -> dict | None:
    """When a field (or a list's column) must be filled, as one condition: its ``required_when``, or the ``when``
    of a rule that requires it (``"require": [name]``; the form's rules for a field, the list's for a column)."""
    found = [field["required_when"]] if isinstance(field.get("required_when"), dict) else []
    found += [rule["when"] for rule in rules or [] if isinstance(rule, dict) and isinstance(rule.get("when"), dict)
              and field.get("name") in (rule.get("require") or [])]
    return None if not found else found[0] if len(found) == 1 else {"any": found}


def required_now(form: dict, submitted: Mapping[str, list[str]], context: Mapping[str, Any] | None = None,
                 tz: tzinfo | None = None) -> set[str]:
    """The names of the fields (and, as ``scores[2][reason]``, the cells) a submission of these values must fill:
    ``required`` ones and those a ``required_when`` or a rule's ``require`` asks for now (``required_condition``).
    A page marks them before anyone submits."""
    fields = form.get("fields", [])
    typed = {f["name"]: _typed(f, list(submitted.get(f["name"], [])), tz) for f in fields
             if f.get("type") not in (LIST_TYPE, "hidden")}
    needed: set[str] = set()
    for field in fields:
        if field.get("type") == LIST_TYPE:
            columns = [(c, required_condition(c, field.get("rules"))) for c in columns_of(field)]
            cells: dict[str, dict[str, list[str]]] = {}
            for key, values in submitted.items():
                match = CELL_RE.match(key) if isinstance(key, str) else None
                if match and match.group(1) == field["name"]:
                    cells.setdefault(match.group(2), {})[match.group(3)] = list(values)
            for index, row in cells.items():
                row_values = {c["name"]: _typed(c, row.get(c["name"], []), tz) for c, _when in columns}
                needed.update(cell_key(field["name"], index, c["name"]) for c, when in columns
                              if when is not None and holds(when, row_values, context))
            continue
        when = required_condition(field, form.get("rules"))
        if field.get("required") or (when is not None and holds(when, typed, context)):
            needed.add(field["name"])
    return needed


def validate(form: dict, submitted: Mapping[str, list[str]], *,  # noqa: C901 - converting, requirements, rules
             username: str | None = None, groups: Iterable[str] = (), display_name: str | None = None,
             context: Mapping[str, Any] | None = None,
             lang: str = "zh", tz: tzinfo | None = None) -> tuple[dict, dict[str, str]]:
    """Typed data and per-field messages for a submission. File fields carry attachment ids (uploaded first).

    Fields hidden by ``visible_when`` are neither required nor submitted; an empty choice, number or date is
    left out (so it does not overwrite case data). Hidden fields take their prefill or default, never what the
    browser sent. ``context`` is the case data, for conditions that read it.

    A dynamiclist's cells come as ``name[i][column]`` (see :func:`submitted_rows`); its value is the list of
    rows (blank rows dropped, each row a dict of its visible columns), stored even when empty. A cell's message
    is keyed by the cell's name and says the row: ``{"scores[2][reason]": "第3行：扣分必须填写扣分原因"}``; the
    number of rows (``required``, ``min_rows``, ``max_rows``) is reported under the list's name.
    """
    fields = form.get("fields", [])
    fixed = prefill(form, username, groups, display_name)
    raw: dict[str, Any] = {}
    errors: dict[str, str] = {}
    cell_errors: dict[str, dict[str, str]] = {}
    for field in fields:
        name = field["name"]
        values = [v for v in submitted.get(name, [])] if field.get("type") != LIST_TYPE else []
        kind = field.get("type", "text")
        if kind == "hidden":
            raw[name] = fixed.get(name)
            continue
        if kind == LIST_TYPE:
            raw[name], cell_errors[name] = convert_rows(field, submitted, tz, lang)
            continue
        try:
            raw[name] = convert(field, values, tz)
        except InvalidValue as exc:  # {label}: the field's, in the reader's language (a location's messages name it)
            label = field.get("label_en") if lang == "en" and field.get("label_en") else field.get("label") or name
            errors[name] = message(exc.code, lang, **{**field, "label": label, **exc.values})
            raw[name] = None
    data: dict[str, Any] = {}
    for field in fields:
        name = field["name"]
        kind = field.get("type", "text")
        if not visible(field, raw, context):
            continue
        value: Any = raw.get(name)  # a dynamiclist's is always its list of rows
        if name in errors:
            continue
        if kind == LIST_TYPE:
            found = dict(cell_errors.get(name) or {})
            data[name] = check_rows(field, value, found, context, lang)
            errors.update(found)
            count = row_count_problem(field, value)
            if count:
                errors[name] = message(count[0], lang, **count[1])
            continue
        required = field.get("required", False) or (
            "required_when" in field and holds(field["required_when"], raw, context))
        if required and not answered(field, value):
            errors[name] = message("choose" if kind in OPTION_TYPES else "required", lang)
            continue
        problem = limit_problem(field, value)
        if problem:
            errors[name] = message(problem, lang, **field)
            continue
        if value is None:
            continue
        data[name] = value
        if field.get("label_to") and value not in (None, ""):
            data[field["label_to"]] = option_label(field, value, "zh")
    for rule in form.get("rules", []):
        if not holds(rule["when"], raw, context):
            continue
        text = rule.get("message_en") if lang == "en" and rule.get("message_en") else rule.get("message")
        for target in rule.get("require", []) or []:
            if not filled(raw.get(target)) and target not in errors:
                errors[target] = text or message("rule", lang)
        if "check" in rule and not holds(rule["check"], raw, context) and rule["field"] not in errors:
            errors[rule["field"]] = text or message("rule", lang)
    return data, errors
