"""Input entries of decision tables: what a designer writes in a cell, as one Python boolean expression over the
input value (:func:`entry_test`, evaluated in the sandbox at run time), and what a cell accepts as far as a table
check can tell without running it (:func:`classify`, :func:`cells_overlap`, for deploy-time overlap checks).

Entries are Python expressions, as in SpiffWorkflow (``"red"``, ``>= 3``, ``? in ("a", "b")``, ``-`` for
"any"), plus the common FEEL forms Camunda's DMN editor writes: comma lists (``"a","b"``), ranges (``[1..5]``,
``]0..10[``), ``not(...)`` and ``true``/``false``/``null``.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

PLACEHOLDER = "dmninput"  # the input value in an entry's test; the sandbox allows the name (no leading _)


_COMPARISON = re.compile(r"^(<=|>=|<|>|==|!=)\s*(.+)$", re.S)
_RANGE = re.compile(r"^([\[\](])\s*(.+?)\s*\.\.\s*(.+?)\s*([\[\])])$", re.S)
_FEEL_CONSTANTS = {"true": "True", "false": "False", "null": "None"}


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """``text`` split at ``separator`` outside quotes and brackets."""
    parts, depth, quote, current = [], 0, None, []
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            current.append(ch)
            if ch == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            current.append(ch)
        elif ch in "([{":
            depth += 1
            current.append(ch)
        elif ch in ")]}":
            depth -= 1
            current.append(ch)
        elif ch == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _replace_question_mark(text: str, name: str) -> str:
    """``?`` outside quotes becomes the input value's name."""
    out, quote = [], None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            out.append(ch)
        elif ch in "\"'":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append(name)
        else:
            out.append(ch)
    return "".join(out)


def _compiles(expression: str) -> bool:
    try:
        ast.parse(expression, mode="eval")
        return True
    except (SyntaxError, MemoryError, RecursionError):  # the last two: nested too deeply (the sandbox says so)
        return False


def is_wildcard(text: str | None) -> bool:
    return text is None or text.strip() in ("", "-")


def entry_test(text: str | None, name: str = PLACEHOLDER) -> str | None:
    """The Python test for an input entry (None: matches anything). Raises ValueError when it cannot be read."""
    if text is None or is_wildcard(text):
        return None
    text = text.strip()
    parts = split_top_level(text)
    if len(parts) > 1:
        if any(not p for p in parts):
            raise ValueError(f"'{text}' has an empty alternative")
        return " or ".join(f"({_single_test(p, name)})" for p in parts)
    return _single_test(text, name)


def _single_test(text: str, name: str) -> str:
    if text.startswith("not(") and text.endswith(")") and _balanced(text[4:-1]):
        inner = entry_test(text[4:-1], name)
        return "True" if inner is None else f"not ({inner})"
    if text in _FEEL_CONSTANTS:
        return f"{name} == {_FEEL_CONSTANTS[text]}"
    ranged = _RANGE.match(text)
    if ranged and not _compiles(text):
        opening, low, high, closing = ranged.groups()
        low_op = "<=" if opening == "[" else "<"
        high_op = "<=" if closing == "]" else "<"
        return f"({low}) {low_op} {name} {high_op} ({high})"
    if "?" in _strip_strings(text):
        return _replace_question_mark(text, name)
    compared = _COMPARISON.match(text)
    if compared and not _compiles(text):
        return f"{name} {compared.group(1)} ({compared.group(2)})"
    if _compiles(text):
        return f"{name} == ({text})"
    if _compiles(f"{name} {text}"):  # "in (1, 2)", "not in [...]", "is None"
        return f"{name} {text}"
    raise ValueError(f"'{text}' is neither a value nor a test (like \"red\", >= 3, [1..5], \"a\",\"b\" or ? in (...))")


def _balanced(text: str) -> bool:
    depth = 0
    for ch in _strip_strings(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth < 0:
            return False
    return depth == 0


def _strip_strings(text: str) -> str:
    return re.sub(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'", '""', text)


def column_name(index: int) -> str:
    return f"{PLACEHOLDER}{index}"


# ---------------------------------------------------------------------------------------------------------
# What a cell accepts, for the deploy-time checks of overlapping rules.

@dataclass(frozen=True)
class Cell:
    kind: str  # any | set | interval | notset | opaque
    values: frozenset = frozenset()
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    high_open: bool = False
    text: str = ""


def _literal(text: str):
    value = ast.literal_eval(text.strip())
    hash(value)
    return value


def _literal_set(parts: list[str]) -> frozenset | None:
    try:
        return frozenset(_literal(_FEEL_CONSTANTS.get(p, p)) for p in parts)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _number(text: str) -> float | None:
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def classify(text: str | None) -> Cell:  # noqa: C901 - one case per FEEL entry form
    """What an input entry accepts, as far as a table check can tell without running it."""
    if text is None or is_wildcard(text):
        return Cell("any")
    text = text.strip()
    plain = " ".join(text.split())
    parts = split_top_level(text)
    if text.startswith("not(") and text.endswith(")") and _balanced(text[4:-1]):
        inner = classify(text[4:-1])
        if inner.kind == "set":
            return Cell("notset", inner.values, text=plain)
        return Cell("opaque", text=plain)
    values = _literal_set(parts)
    if values is not None:
        return Cell("set", values, text=plain)
    if len(parts) == 1:
        membership = re.match(r"^(\?\s+)?(not\s+)?in\s+(.+)$", text, re.S)
        if membership:
            try:
                collection = ast.literal_eval(membership.group(3).strip())
                members = frozenset(collection) if isinstance(collection, (list, tuple, set, frozenset)) else None
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                members = None
            if members is not None:
                return Cell("notset" if membership.group(2) else "set", members, text=plain)
        compared = _COMPARISON.match(text)
        if compared:
            op, number = compared.group(1), _number(compared.group(2))
            if op in ("==",):
                single = _literal_set([compared.group(2)])
                if single is not None:
                    return Cell("set", single, text=plain)
            if op == "!=":
                single = _literal_set([compared.group(2)])
                if single is not None:
                    return Cell("notset", single, text=plain)
            if number is not None and op in ("<", "<=", ">", ">="):
                if op.startswith("<"):
                    return Cell("interval", high=number, high_open=op == "<", text=plain)
                return Cell("interval", low=number, low_open=op == ">", text=plain)
        ranged = _RANGE.match(text)
        if ranged:
            low, high = _number(ranged.group(2)), _number(ranged.group(3))
            if low is not None and high is not None:
                return Cell("interval", low=low, low_open=ranged.group(1) != "[", high=high,
                             high_open=ranged.group(4) != "]", text=plain)
    return Cell("opaque", text=plain)


def _in_interval(value, cell: Cell) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    if cell.low is not None and (value < cell.low or (cell.low_open and value == cell.low)):
        return False
    if cell.high is not None and (value > cell.high or (cell.high_open and value == cell.high)):
        return False
    return True


def _interval_empty(cell: Cell) -> bool:
    if cell.low is None or cell.high is None:
        return False
    return cell.low > cell.high or (cell.low == cell.high and (cell.low_open or cell.high_open))


def cells_overlap(a: Cell, b: Cell) -> bool | None:
    """True: some input value matches both; False: none does; None: cannot tell."""
    if a.kind == "any" or b.kind == "any":
        other = b if a.kind == "any" else a
        if other.kind == "interval":
            return not _interval_empty(other)
        if other.kind == "set":
            return bool(other.values)
        return True if other.kind in ("any", "notset") else None
    if a.kind == "opaque" or b.kind == "opaque":
        return True if a.kind == b.kind and a.text == b.text else None
    if a.kind == "set" and b.kind == "set":
        return bool(a.values & b.values)
    if a.kind == "notset" and b.kind == "notset":
        return True
    if {a.kind, b.kind} == {"set", "notset"}:
        included, excluded = (a, b) if a.kind == "set" else (b, a)
        return bool(included.values - excluded.values)
    if {a.kind, b.kind} == {"set", "interval"}:
        values, interval = (a, b) if a.kind == "set" else (b, a)
        return any(_in_interval(v, interval) for v in values.values)
    if a.kind == "interval" and b.kind == "interval":
        low, low_open = max(((a.low, a.low_open), (b.low, b.low_open)),
                            key=lambda x: (float("-inf") if x[0] is None else x[0], x[1]))
        high, high_open = min(((a.high, a.high_open), (b.high, b.high_open)),
                              key=lambda x: (float("inf") if x[0] is None else x[0], not x[1]))
        return not _interval_empty(Cell("interval", low=low, low_open=low_open, high=high, high_open=high_open))
    if {a.kind, b.kind} == {"notset", "interval"}:
        interval = a if a.kind == "interval" else b
        excluded = b if interval is a else a
        if _interval_empty(interval):
            return False
        if interval.low is not None and interval.low == interval.high:
            return interval.low not in excluded.values
        return True
    return None
