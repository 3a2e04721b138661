"""What the ``whistle`` commands print: JSON with ``--json``, otherwise text and aligned tables."""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any


def emit(args: argparse.Namespace, value: Any, text: Callable[[Any], str]) -> None:
    """Print ``value`` as JSON with ``--json``, else as ``text(value)`` (nothing when that is empty)."""
    if args.json:
        print(json.dumps(value, ensure_ascii=False, indent=2, default=str))
    else:
        output = text(value)
        if output:
            print(output)


def table(rows: list[dict], columns: list[str]) -> str:
    """``rows`` as a table of ``columns``, aligned for a terminal (lists joined with commas)."""
    if not rows:
        return "(none)"
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(_width(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    for row in cells:
        lines.append("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def problem_text(problem: dict) -> str:
    """A deploy or lint problem as ``file:line [element]: message``."""
    where = problem["file"] + (f":{problem['line']}" if problem.get("line") else "")
    if problem.get("element_id"):
        where += f" [{problem['element_id']}]"
    return f"{where}: {problem['message']}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return ", ".join(value) if isinstance(value, list) else str(value)


def _width(text: str) -> int:
    # CJK characters take two columns in a terminal.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
