"""Form conditions (``visible_when``, ``required_when``, the rules' ``when`` and ``check``) over typed values,
and what counts as filled in or answered."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.forms.files import OPTION_TYPES, option_text


def filled(value: Any) -> bool:
    return value not in (None, "", [], False)


def answered(field: dict, value: Any) -> bool:
    """A required field is answered: a choice (``false`` is a choice), a ticked box, or a non-empty value."""
    kind = field.get("type", "text")
    if kind in OPTION_TYPES:
        return value is not None and value != []
    if kind == "checkbox" and not field.get("options"):
        return value is True
    return filled(value)


def _compare(value: Any, other: Any, op: str) -> bool:
    try:
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            value = float(value)
        return {"gt": value > other, "gte": value >= other, "lt": value < other, "lte": value <= other}[op]
    except (TypeError, ValueError):
        return False


def holds(condition: dict | None, values: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> bool:
    """Evaluate a form condition over typed values (missing values are empty); ``{"data": name, …}`` reads
    the case data (``context``) instead of the form."""
    if not condition:
        return True
    if "all" in condition:
        return all(holds(c, values, context) for c in condition["all"])
    if "any" in condition:
        return any(holds(c, values, context) for c in condition["any"])
    if "not" in condition:
        return not holds(condition["not"], values, context)
    value = (context or {}).get(condition["data"]) if "data" in condition else values.get(condition["field"])
    if "equals" in condition:
        return option_text(value) == option_text(condition["equals"]) if not isinstance(value, list) else \
            option_text(condition["equals"]) in [option_text(v) for v in value]
    if "not_equals" in condition:
        return option_text(value) != option_text(condition["not_equals"])
    if "in" in condition:
        return option_text(value) in [option_text(v) for v in condition["in"]]
    if "not_in" in condition:
        return option_text(value) not in [option_text(v) for v in condition["not_in"]]
    if "filled" in condition:
        return filled(value) == bool(condition["filled"])
    for op in ("gt", "gte", "lt", "lte"):
        if op in condition:
            return value is not None and value != "" and _compare(value, condition[op], op)
    return False


def visible(field: dict, values: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> bool:
    return holds(field.get("visible_when"), values, context)
