"""Bounds on what callers may hand the engine, checked before anything is written.

Case data is stored as JSON, read back by the web service's encoder (orjson: 64-bit integers at most), by
PostgreSQL (``bigint``, text without NUL) and by SpiffWorkflow's serializer (recursive). A value outside
those bounds must be refused at the door: the issue that led here (19, finding 6) was a 30-digit integer in
start data that was committed and then broke every answer about its case.
"""
from __future__ import annotations

import math
from typing import Any

from engine.errors import InvalidInput

INT4_MAX = 2**31 - 1  # Integer columns (instance, version, incident ids) on PostgreSQL
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1  # what orjson writes and PostgreSQL bigint holds
MAX_DEPTH = 64  # nesting of case data; form data is at most a few levels (rows of cells)


class DataOutOfBounds(InvalidInput):
    """Case data the engine cannot store and read back faithfully; ``field`` is where (``data.rows[2].n``)."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"'{field}' {reason}; nothing was changed")
        self.field = field
        self.reason = reason

    def to_dict(self) -> dict:
        return {**super().to_dict(), "details": {"field": self.field, "reason": self.reason}}


def data_problem(value: Any, name: str = "data") -> tuple[str, str] | None:
    """Where ``value`` leaves the bounds, and why — or None. Walks without recursion, so a deeply nested
    value is reported rather than overflowing the stack."""
    stack: list[tuple[Any, str, int]] = [(value, name, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int):
            if not BIGINT_MIN <= item <= BIGINT_MAX:
                return where, "is an integer beyond 64 bits (at most 9223372036854775807 in size)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return where, "is not a finite number"
        elif isinstance(item, str):
            if "\x00" in item:
                return where, "contains a NUL character"
        elif isinstance(item, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                return where, f"is nested deeper than {MAX_DEPTH} levels"
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str) and "\x00" in key:
                        return where, "has a field name with a NUL character"
                    stack.append((child, f"{where}.{key}", depth + 1))
            else:
                stack.extend((child, f"{where}[{index}]", depth + 1) for index, child in enumerate(item))
    return None


def check_data(value: Any, name: str = "data") -> None:
    """Refuse (``DataOutOfBounds``, an ``InvalidInput``) data that could not be stored and answered with."""
    problem = data_problem(value, name)
    if problem is not None:
        raise DataOutOfBounds(*problem)
