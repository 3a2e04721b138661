"""The service ``whistle.assessment_figures``: the year's whistle cases, per department and per street
(考核评价的客观数据), from the accountability ledger."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.audit import ledger
from engine.scripting.service_registry import ServiceError, service
from engine.store import Session, case_figures
from engine.time import clock, workdays

_COUNTS = ("records", "came", "on_time", "late", "never", "open", "supervised", "acted", "signed_on_time",
           "signed_late", "never_signed", "lead", "resolved", "returned", "returns", "handled_late", "rated",
           "rating_sum")


def department_groups(session: Session) -> tuple[list[str], list[str]]:
    """The organisation as the accounts know it: department groups ``dept-<id>`` (not their party committees)
    and streets (``street-<id>-command``)."""
    names = case_figures.group_names(session)
    departments = sorted(n for n in names if n.startswith("dept-") and not n.endswith("-party"))
    streets = sorted(n[len("street-"):-len("-command")] for n in names
                     if n.startswith("street-") and n.endswith("-command"))
    return departments, streets


@service("whistle.assessment_figures", required=("year",), optional=("process",),
         description="每个部门一年内吹哨案件的履职记录（来自问责台账：来没来、干没干、干得好不好），含未结案件。"
                     "Per department: the obligations of the year's whistle cases, from the accountability ledger.")
def assessment_figures(session: Session, year, process: str = "whistle") -> dict:
    """Count, per department, the obligations of every case of ``process`` whistled in ``year`` (deployment
    time zone), open or closed, as they stand now (``engine.audit.ledger``): an obligation still open after its due
    time counts as a failure; one not yet due is ``open`` and counts neither way.

    Per department: ``records`` (cases it was called to whose on-site report is decided), ``came`` (reported,
    in time or late), ``on_time``, ``late`` (reported late or never), ``never`` (never reported), ``open``,
    ``supervised`` (late or never: the cases 督办 was opened for), ``acted`` (reported that it acted),
    ``signed_on_time`` / ``signed_late`` / ``never_signed``, ``lead`` (cases it led), ``resolved`` (led and
    accepted by the street), ``returned`` (led cases sent back at least once), ``returns`` (times sent back),
    ``handled_late``, ``rated`` (cases with a resident rating) and ``rating_sum``; ``cases``: the case ids behind
    each count, so every point lost can be traced.

    Per street (Beijing's 双考核: the street that whistles is assessed too): ``cases`` (reported in the year),
    ``whistles`` (cases with department obligations in the ledger: the whistle blew), ``self_handled`` (the
    command centre handled it itself), ``rejected``, ``pending`` (not reviewed yet), ``closed`` (completed, not
    rejected), ``rated`` / ``rating_sum`` (resident ratings of its closed cases, whatever the mode),
    ``feedback_given`` / ``no_feedback`` (the resident's feedback recorded, or the wait ran out), ``returns``
    (times it sent a lead department's result back); ``case_ids`` names the cases behind the whistles,
    the self-handled, rejected and pending cases, those without feedback and those returned. Rates and bands
    (吹哨率 and its band) are the evaluation's to compute (``evaluation.bpmn``, ``evaluation-weights.dmn``).
    """
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ServiceError(f"year must be a whole number, got {year!r}") from None
    if not 2000 <= year <= 2200:
        raise ServiceError(f"year {year} is out of range")
    zone = workdays.timezone()
    start, end = datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)
    cutoff = clock.now()
    cases = case_figures.cases_started(session, str(process), start, end)
    roster_departments, roster_streets = department_groups(session)
    departments = {d: _empty_counts() for d in roster_departments}
    streets: dict[str, dict] = {s: _empty_street() for s in roster_streets}
    by_case: dict[int, list] = {}
    for obligation in ledger.obligations(session, cutoff, process_id=str(process), started_from=start,
                                         started_before=end):
        by_case.setdefault(obligation.instance_id, []).append(obligation)
    whistles = 0
    for instance_id, data, status in cases:
        data = data or {}
        street = streets.setdefault(str(data.get("street") or ""), _empty_street())
        found = by_case.get(instance_id, [])
        if found:
            whistles += 1
        _count_street_case(street, instance_id, data, status, whistled=bool(found))
        rating = data.get("satisfaction") if status == "completed" else None
        accepted = status == "completed" and data.get("verification") == "accepted"
        for party in dict.fromkeys(o.party for o in found if o.party):
            counts = departments.setdefault(party, _empty_counts())
            _count_case(counts, instance_id, [o for o in found if o.party == party], rating, accepted)
    streets.pop("", None)
    return {"year": year, "process": str(process), "from": start.isoformat(), "to": end.isoformat(),
            "cutoff": cutoff.isoformat(), "cases": len(cases), "whistles": whistles, "departments": departments,
            "streets": streets, "roster": {"departments": sorted(departments), "streets": sorted(streets)}}


_STREET_COUNTS = ("cases", "whistles", "self_handled", "rejected", "pending", "closed", "rated", "rating_sum",
                  "feedback_given", "no_feedback", "returns")
_STREET_TRACED = ("whistles", "self_handled", "rejected", "pending", "no_feedback")  # case ids kept for these


def _empty_street() -> dict:
    counts: dict[str, Any] = dict.fromkeys(_STREET_COUNTS, 0)
    counts["case_ids"] = {}
    return counts


def _count_street_case(street: dict, instance_id: int, data: dict, status: str, whistled: bool) -> None:
    """One case of the street that reported it (双考核): what the street did with it and what residents said."""
    decision = data.get("decision")
    seen = ["cases"]
    if whistled:
        seen.append("whistles")
    elif decision == "self":
        seen.append("self_handled")
    if decision == "reject":
        seen.append("rejected")
    elif decision not in ("self", "whistle") and not whistled:
        seen.append("pending")
    if status == "completed" and decision != "reject":
        seen.append("closed")
        rating = data.get("satisfaction")
        if isinstance(rating, (int, float)) and not isinstance(rating, bool):
            seen.append("rated")
            street["rating_sum"] += rating
        if data.get("feedback_status") == "已评价":
            seen.append("feedback_given")
        elif data.get("feedback_status") == "未评价":
            seen.append("no_feedback")
    returns = data.get("returns")
    if isinstance(returns, int) and not isinstance(returns, bool) and returns > 0:
        street["returns"] += returns
        street["case_ids"].setdefault("returned", []).append(instance_id)
    for what in seen:
        street[what] += 1
        if what in _STREET_TRACED:
            street["case_ids"].setdefault(what, []).append(instance_id)


def _empty_counts() -> dict:
    counts: dict[str, Any] = dict.fromkeys(_COUNTS, 0)
    counts["cases"] = {}
    return counts


def _note(counts: dict, what: str, instance_id: int) -> None:
    counts["cases"].setdefault(what, []).append(instance_id)


def _count_case(counts: dict, instance_id: int, found: list, rating, accepted: bool) -> None:
    """One case's obligations of one department, added to its counts (with the case id behind each)."""
    decided = (ledger.DONE_ON_TIME, ledger.DONE_LATE, ledger.OVERDUE)
    for o in (o for o in found if o.kind == "sign"):
        what = {ledger.DONE_ON_TIME: "signed_on_time", ledger.DONE_LATE: "signed_late",
                ledger.OVERDUE: "never_signed"}.get(o.state)
        if what:
            counts[what] += 1
            _note(counts, what, instance_id)
    on_site = [o for o in found if o.kind == "on_site"]
    for o in on_site:
        if o.state not in decided:
            counts["open"] += o.state == ledger.OPEN
            continue
        counts["records"] += 1
        _note(counts, "records", instance_id)
        if o.state == ledger.DONE_ON_TIME:
            counts["on_time"] += 1
        else:
            counts["late"] += 1
            counts["supervised"] += 1
            _note(counts, "late", instance_id)
        if o.state == ledger.OVERDUE:
            counts["never"] += 1
            _note(counts, "never", instance_id)
        else:
            counts["came"] += 1
            acted = (o.detail or {}).get("acted")
            if acted in (True, 1, "true", "yes", "是"):
                counts["acted"] += 1
            else:
                _note(counts, "not_acted", instance_id)
        if isinstance(rating, (int, float)) and not isinstance(rating, bool):
            counts["rated"] += 1
            counts["rating_sum"] += rating
    handles = [o for o in found if o.kind == "handle"]
    if handles:
        counts["lead"] += 1
        returns = len(handles) - 1  # every return by the street opens the handling again
        counts["returns"] += returns
        if returns > 0:
            counts["returned"] += 1
            _note(counts, "returned", instance_id)
        counts["resolved"] += accepted
        late = sum(1 for o in handles if o.state in (ledger.DONE_LATE, ledger.OVERDUE))
        counts["handled_late"] += late
        if late:
            _note(counts, "handled_late", instance_id)
