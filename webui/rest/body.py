"""Reading a request: a JSON object body, its fields by kind, whole-number query parameters. A malformed
request is 400; a well-formed one with a wrong field or an unknown one is 422, naming it."""
from __future__ import annotations

import json
from typing import Any, NoReturn

from flask import request

from engine.forms.limits import BIGINT_MAX, data_problem
from webui.rest.shell import ApiError


def json_body(allowed: set[str]) -> dict:
    """The request body as a JSON object (an empty body is ``{}``); 400 when it is not one, 422 for unknown
    fields."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_request", f"the request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ApiError(400, "bad_request", "the request body is nested too deeply") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "bad_request", f"the request body must be a JSON object, not {_json_type(value)}")
    # Before anything runs: what the engine could not store and answer with (engine.forms.limits) is refused here.
    problem = data_problem(value, "body")
    if problem is not None:
        field_path, reason = problem
        raise ApiError(422, "invalid", f"'{field_path}' {reason}; nothing was changed",
                       {"field": field_path, "reason": reason})
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ApiError(422, "invalid", f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                                       f"allowed: {', '.join(sorted(allowed)) or 'none'}",
                       {"unknown_fields": unknown})
    return value


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")  # json.loads accepts NaN and Infinity; JSON does not


def _json_type(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def field(body: dict, name: str, kind: str, *, maximum: int | None = None) -> Any:
    """One optional field, checked: ``object``, ``string`` or ``integer`` (≥ 1); 422 with the field named."""
    if name not in body:
        return None
    value = body[name]
    ok = {"object": isinstance(value, dict),
          "string": isinstance(value, str) or value is None,
          "integer": (isinstance(value, int) and not isinstance(value, bool) and value >= 1) or value is None}[kind]
    if not ok:
        wanted = {"object": "a JSON object", "string": "a string or null",
                  "integer": "a whole number ≥ 1 or null"}[kind]
        raise ApiError(422, "invalid", f"'{name}' must be {wanted}, not {_json_type(value)}",
                       {"field": name, "expected": kind})
    if kind == "string" and value is not None and maximum is not None and len(value) > maximum:
        raise ApiError(422, "invalid", f"'{name}' is longer than {maximum} characters", {"field": name})
    return value


def int_arg(name: str, default: int, low: int, high: int = BIGINT_MAX) -> int:
    """A whole-number query parameter within ``low``..``high``: 400 when it is not a number, 422 outside."""
    text = request.args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError as exc:
        raise ApiError(400, "bad_request", f"query parameter '{name}' must be a whole number, not {text!r}",
                       {"parameter": name}) from exc
    if value < low or value > high:  # the database holds bigint at most: beyond that is a 422, not a 500
        bounds = f"between {low} and {high}"
        raise ApiError(422, "invalid", f"query parameter '{name}' must be {bounds}", {"parameter": name})
    return value
