"""Repeating rows (``dynamiclist``): the cells a browser posts as ``name[i][column]``, read into rows and
written back, each row's cells converted and checked, and messages that say the row ("第3行：…")."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import tzinfo
from typing import Any

from engine.forms.conditions import answered, filled, holds, visible
from engine.forms.files import OPTION_TYPES, columns_of, option_text
from engine.forms.values import InvalidValue, as_posted, convert, limit_problem, message

ROW_LIMIT = 500  # rows a list accepts when its form sets no max_rows
CELL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\[(\d{1,4})\]\[([A-Za-z][A-Za-z0-9_]*)\]$")


def cell_key(name: str, index: int | str, column: str) -> str:
    """The name a row's cell is posted under: ``scores[0][department]`` (rows counted from 0)."""
    return f"{name}[{index}][{column}]"

def _blank(field: dict, row: Mapping[str, list[str]]) -> bool:
    """A row nobody filled in (every cell empty or as its default): dropped, like a spreadsheet's empty lines."""
    for column in columns_of(field):
        given = [v.strip() for v in row.get(column["name"], []) if isinstance(v, str) and v.strip()]
        if given and given != as_posted(column.get("default")):
            return False
    return True


def submitted_rows(field: dict, submitted: Mapping[str, Any], keep_blank: bool = False) -> list[dict[str, list[str]]]:
    """A dynamiclist's rows as posted: cells ``name[i][column]`` in the order of ``i`` (gaps closed), or a list
    of dicts under the list's own name (the same values as JSON). Blank rows are dropped unless kept."""
    name = field["name"]
    known = {c["name"] for c in columns_of(field)}
    by_index: dict[int, dict[str, list[str]]] = {}
    for key, value in submitted.items():
        match = CELL_RE.match(key) if isinstance(key, str) and key.startswith(name + "[") else None
        if match and match.group(1) == name and match.group(3) in known:
            by_index.setdefault(int(match.group(2)), {})[match.group(3)] = as_posted(value)
    rows = [by_index[i] for i in sorted(by_index)]
    if not by_index and isinstance(submitted.get(name), list):
        rows = [{c: as_posted(v) for c, v in row.items() if c in known}
                for row in submitted[name] if isinstance(row, dict)]
    return rows if keep_blank else [row for row in rows if not _blank(field, row)]


def flat_rows(name: str, rows: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Rows as the cells a browser posts (``scores[0][department]``: ["dept-police"])."""
    return {cell_key(name, index, column): as_posted(value)
            for index, row in enumerate(rows) for column, value in row.items()}


def _row_text(code_or_text: str, lang: str, row: int, label: str | None = None) -> str:
    if label:
        return message("row_cell", lang, row=row, label=label, text=code_or_text)
    return message("row", lang, row=row, text=code_or_text)


def _column_label(field: dict, lang: str) -> str:
    return (field.get("label_en") if lang == "en" and field.get("label_en") else field.get("label")) or field["name"]


def convert_rows(field: dict, submitted: Mapping[str, Any], tz: tzinfo | None,
                 lang: str) -> tuple[list[dict], dict[str, str]]:
    """Typed rows (every column; a cell that does not convert is None) and the conversion messages by cell."""
    typed: list[dict] = []
    errors: dict[str, str] = {}
    for index, row in enumerate(submitted_rows(field, submitted)):
        values: dict[str, Any] = {}
        for column in columns_of(field):
            try:
                values[column["name"]] = convert(column, row.get(column["name"], []), tz)
            except InvalidValue as exc:
                values[column["name"]] = None
                errors[cell_key(field["name"], index, column["name"])] = _row_text(
                    message(exc.code, lang, **{**column, **exc.values}), lang, index + 1, _column_label(column, lang))
        typed.append(values)
    return typed, errors


def check_rows(field: dict, rows: list[dict], errors: dict[str, str],
               context: Mapping[str, Any] | None, lang: str) -> list[dict]:
    """Per row and per column: visibility, required and required_when, limits, the list's rules, unique columns.
    Messages go to ``errors`` under the cell's name and say the row ("第3行：扣分必须填写扣分原因"). Returns the rows
    to store: the visible columns of each row."""
    name = field["name"]
    columns = columns_of(field)
    stored: list[dict] = []
    seen: dict[tuple, int] = {}
    for index, row in enumerate(rows):
        number = index + 1
        shown = [c for c in columns if visible(c, row, context)]
        for column in shown:
            key = cell_key(name, index, column["name"])
            if key in errors:
                continue
            value = row.get(column["name"])
            kind = column.get("type", "text")
            required = column.get("required", False) or (
                "required_when" in column and holds(column["required_when"], row, context))
            if required and not answered(column, value):
                errors[key] = _row_text(message("choose" if kind in OPTION_TYPES else "required", lang), lang,
                                        number, _column_label(column, lang))
                continue
            problem = limit_problem(column, value)
            if problem:
                errors[key] = _row_text(message(problem, lang, **column), lang, number, _column_label(column, lang))
        visible_names = {c["name"] for c in shown}
        for rule in field.get("rules") or []:
            if not holds(rule["when"], row, context):
                continue
            text = rule.get("message_en") if lang == "en" and rule.get("message_en") else rule.get("message")
            text = _row_text(text or message("rule", lang), lang, number)
            for target in rule.get("require", []) or []:
                key = cell_key(name, index, target)
                if target in visible_names and not filled(row.get(target)) and key not in errors:
                    errors[key] = text
            if "check" in rule and not holds(rule["check"], row, context):
                errors.setdefault(cell_key(name, index, rule["field"]), text)
        unique = [u for u in field.get("unique") or [] if u in visible_names]
        if unique:
            marker = tuple(option_text(row.get(u)) for u in unique)
            if all(marker) and marker in seen:
                column = next(c for c in columns if c["name"] == unique[0])
                errors.setdefault(cell_key(name, index, unique[0]), _row_text(
                    message("duplicate", lang, other=seen[marker]), lang, number, _column_label(column, lang)))
            elif all(marker):
                seen[marker] = number
        stored.append({c["name"]: row.get(c["name"]) for c in shown})
    return stored


def row_count_problem(field: dict, rows: list) -> tuple[str, dict] | None:
    """The message code (and its values) if the list has too few or too many rows."""
    if field.get("required") and not rows:
        return "rows_required", {}
    if "min_rows" in field and rows and len(rows) < field["min_rows"]:
        return "min_rows", {"min_rows": field["min_rows"]}
    if "min_rows" in field and not rows and field["min_rows"] > 0:
        return "min_rows", {"min_rows": field["min_rows"]}
    limit = field.get("max_rows", ROW_LIMIT)
    if len(rows) > limit:
        return "max_rows", {"max_rows": limit}
    return None


def row_errors(errors: Mapping[str, str], name: str) -> dict[str, str]:
    """The messages of a list's cells (``scores[2][reason]``: "第3行：…")."""
    return {k: v for k, v in errors.items() if k.startswith(name + "[")}

