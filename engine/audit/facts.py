"""The dashboards' aggregates (ADR 13): one ``case_fact`` row per case and one ``obligation_fact`` row per
obligation of the accountability ledger, kept by the engine in the step's transaction so that a dashboard
groups two narrow indexed tables and never reads case JSON.

``case_fact`` holds what a case is counted by — its start month, status, street, tier, call-situation category,
the street's decision, the resident's rating, whether the street accepted the result, whether a department was
called (``whistled``: the ledger assigned it an obligation). It is written from the case data of the step that
changes one of them (``Instances.save``), and its status by the administrators' hold and end
(``engine.runtime.lifecycle``). ``obligation_fact`` folds an obligation's ``assigned`` row and the row that
closed it into one row (``engine.store.facts.record_ledger``, called by ``engine.audit.ledger.write``), with
the seconds from assignment to done; its state at a cut-off is ``engine.audit.ledger.state_of``'s, in SQL.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.time import workdays

# The case data a case is counted by: fact column -> the name of the case data (the whistle process's forms).
CASE_KEYS = {"tier": "tier", "category": "situation_category", "decision": "decision",
             "satisfaction": "satisfaction"}
WIDTHS = {"street": 128, "tier": 16, "category": 64, "decision": 16}
FACT_COLUMNS = ("process_id", "started_at", "month", "status", "street", "tier", "category", "decision",
                "satisfaction", "resolved")


def month_of(at: datetime) -> str:
    """The month (YYYY-MM) of a moment in the calendars' time zone: how the district counts its months."""
    return at.astimezone(workdays.timezone()).strftime("%Y-%m")


def _text(value: Any, width: int) -> str | None:
    if isinstance(value, str) and value.strip() and len(value.strip()) <= width:
        return value.strip()
    return None


def _rating(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, (int, float)) and 1 <= value <= 5 and int(value) == value:
        return int(value)
    return None


def case_fact(process_id: str, started_at: datetime, status: str, street: str | None, data: Any) -> dict:
    """The fact columns of a case as of a step (``street``: the case's projected street). A rating and an
    accepted result count once the case is completed, as the evaluation counts them
    (``engine.scripting.assessment``)."""
    data = data if isinstance(data, dict) else {}
    completed = status == "completed"
    return {"process_id": process_id, "started_at": started_at, "month": month_of(started_at), "status": status,
            "street": _text(street, WIDTHS["street"]),
            "tier": _text(data.get(CASE_KEYS["tier"]), WIDTHS["tier"]),
            "category": _text(data.get(CASE_KEYS["category"]), WIDTHS["category"]),
            "decision": _text(data.get(CASE_KEYS["decision"]), WIDTHS["decision"]),
            "satisfaction": _rating(data.get(CASE_KEYS["satisfaction"])) if completed else None,
            "resolved": (data.get("verification") == "accepted") if completed else None}
