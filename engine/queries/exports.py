"""Tables as files (issue 18): any table — columns and rows — as CSV or as an XLSX workbook of one or more
sheets. The dashboards, the case search and the evaluation's workbook all hand their rows here.

Headers are the columns' labels (Chinese first); a cell is written as its column's ``kind`` says: ``date`` and
``datetime`` as real spreadsheet dates (in the calendars' time zone), ``rate`` as a number formatted as a
percentage, ``int`` and ``number`` as numbers, anything else as text. A text cell that starts like a formula is
written as text (CSV and formula injection).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from engine.errors import InvalidInput
from engine.time import workdays

FORMATS = ("csv", "xlsx")
KINDS = ("text", "int", "number", "rate", "date", "datetime", "month")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX_TYPE}


@dataclass(frozen=True)
class Column:
    """One column of an exported table: the row's key, its header, how its cells are written."""

    key: str
    label: str
    kind: str = "text"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column '{self.key}': kind must be one of {', '.join(KINDS)}, got '{self.kind}'")


@dataclass(frozen=True)
class Sheet:
    """A titled table: one CSV file or one sheet of a workbook."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[dict]


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}, got '{str(fmt)[:20]}'")
    return fmt


def _safe_text(text: str) -> str:
    return "'" + text if text[:1] in _FORMULA_START else text


def _moment(value: Any, kind: str) -> Any:
    """A date or datetime cell value: naive, local (spreadsheets know no time zones)."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:7] + "-01") if kind == "month" and len(value) == 7 \
                else datetime.fromisoformat(value) if kind == "datetime" else date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime):
        local = value.astimezone(workdays.timezone()) if value.tzinfo else value
        return local.replace(tzinfo=None) if kind == "datetime" else local.date()
    return value


def cell(value: Any, column: Column) -> Any:
    """The value a spreadsheet cell holds for ``value`` in ``column`` (None for an empty cell)."""
    if value is None or value == "":
        return None
    if column.kind in ("date", "datetime", "month"):
        return _moment(value, column.kind)
    if column.kind in ("int", "number", "rate") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)):
        return _safe_text("、".join(str(v) for v in value))
    return _safe_text(str(value))


def _csv_text(value: Any, column: Column) -> str:
    value = cell(value, column)
    if value is None:
        return ""
    if column.kind == "month" and isinstance(value, date):
        return value.strftime("%Y-%m")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if column.kind == "rate" and isinstance(value, (int, float)):
        return f"{value:.4f}"
    return str(value)


def to_csv(columns: Sequence[Column], rows: Iterable[dict]) -> bytes:
    """The table as CSV in UTF-8 with a byte order mark (Excel opens the Chinese right), a header row."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([c.label for c in columns])
    for row in rows:
        writer.writerow([_csv_text(row.get(c.key), c) for c in columns])
    return out.getvalue().encode("utf-8")


_NUMBER_FORMATS = {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm", "month": "yyyy-mm", "rate": "0.0%",
                   "int": "0", "number": "0.0"}


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    """The tables as one workbook, a sheet each (titles cut to Excel's 31 characters, kept unique)."""
    # Imported here: openpyxl takes about 0.2 s to load, and only an export needs it.
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    used: set[str] = set()
    for sheet in sheets:
        title = _sheet_title(sheet.title, used)
        ws = book.create_sheet(title)
        ws.append([c.label for c in sheet.columns])
        for header in ws[1]:
            header.font = Font(bold=True)
        for row in sheet.rows:
            ws.append([cell(row.get(c.key), c) for c in sheet.columns])
        for index, column in enumerate(sheet.columns, start=1):
            letter = ws.cell(row=1, column=index).column_letter
            ws.column_dimensions[letter].width = max(10, min(40, len(column.label) * 2))
            fmt = _NUMBER_FORMATS.get(column.kind)
            if fmt:
                for (value_cell,) in ws.iter_rows(min_row=2, min_col=index, max_col=index):
                    value_cell.number_format = fmt
        ws.freeze_panes = "A2"
    if not book.worksheets:
        book.create_sheet("Sheet1")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_title(title: str, used: set[str]) -> str:
    base = "".join("_" if ch in "[]:*?/\\" else ch for ch in title)[:31] or "Sheet"
    name, n = base, 2
    while name in used:
        suffix = f" ({n})"
        name, n = base[:31 - len(suffix)] + suffix, n + 1
    used.add(name)
    return name


def export(fmt: str, sheets: Sequence[Sheet]) -> bytes:
    """The sheets in ``fmt``: a workbook for ``xlsx``; for ``csv`` the first sheet (one table per file)."""
    check_format(fmt)
    if fmt == "xlsx":
        return to_xlsx(sheets)
    if not sheets:
        return to_csv([], [])
    return to_csv(sheets[0].columns, sheets[0].rows)
