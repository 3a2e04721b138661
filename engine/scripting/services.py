"""Named services a BPMN service task can call: computations that need the database, which sandboxed scripts
cannot reach.

A service task names its service with SpiffWorkflow's extension and passes parameters as sandbox
expressions over the case data; the result (JSON) lands in the task data under ``resultVariable``::

    <bpmn:serviceTask id="collect_figures" name="汇总吹哨报到数据">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="whistle.assessment_figures" resultVariable="figures">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="year" type="int" value="year"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
    </bpmn:serviceTask>

The script engine dispatches ``call_service`` here (``engine.scripting``). A service runs inside the current
command's transaction (the session ``Database.write`` publishes in :data:`engine.db.current_session`), so
what it reads is consistent with the step that asked, and a failure rolls the whole step back like a
failing script (an incident, nothing changed). Services only read, with one exception: ``whistle.notify`` records an
outbound webhook of the running case in the outbox (``engine.outbox``), in the same transaction — the transactional
outbox, so an event exists exactly when its step committed. No service changes another instance.

Deploy-time lint (``engine.modelers``) accepts a service task only when its operator is registered here
and its parameters are the ones the service takes (:func:`operator_problems`).
"""
from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import ledger
from engine.scripting.policy import compile_errors
from engine.store.db import current_session
from engine.store.models import ProcessInstance, UserGroup
from engine.time import clock, workdays


class ServiceError(Exception):
    """A service could not run (unknown name, bad parameters, no transaction)."""


@dataclass(frozen=True)
class Service:
    name: str
    function: Callable[..., Any]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    description: str = ""
    extra: dict = field(default_factory=dict)


SERVICES: dict[str, Service] = {}


def service(name: str, required: tuple[str, ...] = (), optional: tuple[str, ...] = (), description: str = ""):
    """Register ``function(session, **parameters)`` as the service ``name``."""

    def register(function):
        SERVICES[name] = Service(name, function, tuple(required), tuple(optional), description)
        return function

    return register


def _session() -> Session:
    session = current_session.get()
    if session is None:
        raise ServiceError("a service can only run inside an engine command (no transaction is open)")
    return session


def _plain(params: dict) -> dict:
    """SpiffWorkflow hands evaluated parameters as ``{name: {"value": ..., "type": ...}}``."""
    return {name: (value.get("value") if isinstance(value, dict) and "value" in value else value)
            for name, value in (params or {}).items()}


def call(name: str, params: dict) -> str:
    """Run service ``name`` with SpiffWorkflow's evaluated parameters; the result as JSON text."""
    found = SERVICES.get(name)
    if found is None:
        raise ServiceError(f"no service '{name}'; known services: {', '.join(sorted(SERVICES)) or 'none'}")
    values = _plain(params)
    problems = _parameter_problems(found, set(values))
    if problems:
        raise ServiceError(f"service '{name}': {'; '.join(problems)}")
    result = found.function(_session(), **values)
    return json.dumps(result, ensure_ascii=False, default=_json_default)


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"a service result cannot hold a {type(value).__name__}")


def _parameter_problems(found: Service, given: set[str]) -> list[str]:
    problems = []
    missing = [p for p in found.required if p not in given]
    if missing:
        problems.append(f"parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing")
    unknown = sorted(given - set(found.required) - set(found.optional))
    if unknown:
        takes = ", ".join(found.required + found.optional) or "none"
        problems.append(f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} (it takes {takes})")
    return problems


def operator_problems(operator) -> list[str]:
    """What is wrong with a ``spiffworkflow:serviceTaskOperator`` element (empty: it can run). For lint."""
    name = (operator.get("id") or "").strip()
    found = SERVICES.get(name)
    if found is None:
        return [f"no such service (Whistle's services: {', '.join(sorted(SERVICES)) or 'none'}); "
                f"scripts cannot reach the database, services can — see engine/services.py"]
    params = {}
    for element in operator.iter():
        if isinstance(element.tag, str) and element.tag.endswith("}parameter"):
            params[element.get("id")] = element.get("value")
    problems = _parameter_problems(found, set(params))
    for param, value in params.items():
        if value is None or not value.strip():
            problems.append(f"parameter {param} has no value (an expression over the case data, like year)")
            continue
        errors = compile_errors(value, "eval")
        if errors:
            problems.append(f"parameter {param} '{value}' does not compile in the sandbox: {'; '.join(errors)}")
    return problems


# ---------------------------------------------------------------------------------------------------------
# whistle.assessment_figures: the year's whistle cases, per department (考核评价的客观数据)

_COUNTS = ("records", "came", "on_time", "late", "never", "open", "supervised", "acted", "signed_on_time",
           "signed_late", "never_signed", "lead", "resolved", "returned", "returns", "handled_late", "rated",
           "rating_sum")


def _department_groups(session: Session) -> tuple[list[str], list[str]]:
    """The organisation as the accounts know it: department groups ``dept-<id>`` (not their party committees)
    and streets (``street-<id>-command``)."""
    names = session.execute(select(UserGroup.name)).scalars().all()
    departments = sorted(n for n in names if n.startswith("dept-") and not n.endswith("-party"))
    streets = sorted(n[len("street-"):-len("-command")] for n in names
                     if n.startswith("street-") and n.endswith("-command"))
    return departments, streets


@service("whistle.assessment_figures", required=("year",), optional=("process",),
         description="每个部门一年内吹哨案件的履职记录（来自问责台账：来没来、干没干、干得好不好），含未结案件。"
                     "Per department: the obligations of the year's whistle cases, from the accountability ledger.")
def assessment_figures(session: Session, year, process: str = "whistle") -> dict:
    """Count, per department, the obligations of every case of ``process`` whistled in ``year`` (deployment
    time zone), open or closed, as they stand now (``engine.ledger``): an obligation still open after its due
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
    cases = session.execute(select(ProcessInstance.id, ProcessInstance.data, ProcessInstance.status)
                            .where(ProcessInstance.process_id == str(process), ProcessInstance.started_at >= start,
                                   ProcessInstance.started_at < end).order_by(ProcessInstance.id)).all()
    roster_departments, roster_streets = _department_groups(session)
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
    counts = dict.fromkeys(_STREET_COUNTS, 0)
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
    counts = dict.fromkeys(_COUNTS, 0)
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


# ---------------------------------------------------------------------------------------------------------
# whistle.monthly_analysis: the month's cases together, per street (分析研判)

def _place_of(data: dict) -> tuple[str, str]:
    """Where a case is, for finding repeats: the community when the report names one, else the address, compared
    without spaces and with full-width characters folded (``睦南道 １２号`` is ``睦南道12号``). Returns (kind, place)."""
    community = str(data.get("community") or "").strip()
    if community:
        return "community", community
    return "location", "".join(unicodedata.normalize("NFKC", str(data.get("location") or "")).split())


@service("whistle.monthly_analysis", required=("year", "month"), optional=("min_repeats", "top", "process"),
         description="某月的吹哨案件按街道汇总：同一地点同一情形的重复问题、呼叫情形、逾期或未报到最多的部门（分析研判）。"
                     "The month's cases per street: repeated problems by place and situation, late departments.")
def monthly_analysis(session: Session, year, month, min_repeats=2, top=5, process: str = "whistle") -> dict:
    """Every case of ``process`` reported in the month (deployment time zone), open or closed, as it stands now.

    Per street: ``cases``, ``whistles`` (the ledger has department obligations), ``self_handled``, ``rejected``,
    ``open``; ``situations`` (call situations, most frequent first); ``repeats`` — the same situation at the same
    place ``min_repeats`` times or more (the place is the community when the report names one, else the address as
    written, spaces and full-width forms aside), with the addresses as written and the case ids; ``late_departments`` — the departments whose on-site reports
    of the street's cases were late or never came (from the accountability ledger, an obligation still open past
    its due time counting as never), most first, at most ``top``. ``district`` has the same for the whole district.
    """
    try:
        year, month, min_repeats, top = int(year), int(month), int(min_repeats), int(top)
    except (TypeError, ValueError):
        raise ServiceError(f"year, month, min_repeats and top must be whole numbers, got {year!r}, {month!r}, "
                           f"{min_repeats!r}, {top!r}") from None
    if not 2000 <= year <= 2200 or not 1 <= month <= 12:
        raise ServiceError(f"{year}-{month} is not a month Whistle can analyse")
    if min_repeats < 2 or top < 1:
        raise ServiceError("min_repeats must be 2 or more (a repeat is a problem seen twice) and top 1 or more")
    zone = workdays.timezone()
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    cutoff = clock.now()
    cases = session.execute(select(ProcessInstance.id, ProcessInstance.data, ProcessInstance.status)
                            .where(ProcessInstance.process_id == str(process), ProcessInstance.started_at >= start,
                                   ProcessInstance.started_at < end).order_by(ProcessInstance.id)).all()
    by_case: dict[int, list] = {}
    for obligation in ledger.obligations(session, cutoff, process_id=str(process), started_from=start,
                                         started_before=end):
        by_case.setdefault(obligation.instance_id, []).append(obligation)
    _, roster_streets = _department_groups(session)
    gathered: dict[str, list] = {s: [] for s in roster_streets}
    for instance_id, data, status in cases:
        gathered.setdefault(str((data or {}).get("street") or ""), []).append((instance_id, data or {}, status))
    gathered.pop("", None)
    everything = [case for found in gathered.values() for case in found]
    return {"year": year, "month": month, "process": str(process), "from": start.isoformat(), "to": end.isoformat(),
            "cutoff": cutoff.isoformat(), "min_repeats": min_repeats, "cases": len(everything),
            "district": _analyse(everything, by_case, min_repeats, top),
            "streets": {street: dict(_analyse(found, by_case, min_repeats, top), street=street)
                        for street, found in sorted(gathered.items())}}


def _analyse(cases: list, by_case: dict, min_repeats: int, top: int) -> dict:
    counts = {"cases": len(cases), "whistles": 0, "self_handled": 0, "rejected": 0, "open": 0}
    situations: dict[str, dict] = {}
    places: dict[tuple, dict] = {}
    late: dict[str, dict] = {}
    for instance_id, data, status in cases:
        whistled = bool(by_case.get(instance_id))
        counts["whistles"] += whistled
        counts["self_handled"] += data.get("decision") == "self" and not whistled
        counts["rejected"] += data.get("decision") == "reject"
        counts["open"] += status == "running"
        situation = str(data.get("situation") or "")
        name = str(data.get("situation_name") or "") or situation
        entry = situations.setdefault(situation, {"situation": situation, "situation_name": name, "count": 0,
                                                  "cases": []})
        entry["count"] += 1
        entry["cases"].append(instance_id)
        if name and entry["situation_name"] == situation:
            entry["situation_name"] = name
        kind, place = _place_of(data)
        if place and situation:
            spot = places.setdefault((situation, kind, place), {
                "situation": situation, "situation_name": name, "place_kind": kind, "place": place,
                "community": str(data.get("community") or ""), "locations": [], "count": 0, "cases": []})
            spot["count"] += 1
            spot["cases"].append(instance_id)
            location = " ".join(str(data.get("location") or "").split())
            if location and location not in spot["locations"]:
                spot["locations"].append(location)
        for o in by_case.get(instance_id, []):
            if o.kind != "on_site" or not o.party:
                continue
            row = late.setdefault(o.party, {"department": o.party, "calls": 0, "late": 0, "never": 0, "cases": []})
            row["calls"] += 1
            if o.state in (ledger.DONE_LATE, ledger.OVERDUE):
                row["late" if o.state == ledger.DONE_LATE else "never"] += 1
                if instance_id not in row["cases"]:
                    row["cases"].append(instance_id)
    repeats = sorted((p for p in places.values() if p["count"] >= min_repeats),
                     key=lambda p: (-p["count"], p["situation"], p["place"]))
    departments = sorted((r for r in late.values() if r["late"] or r["never"]),
                         key=lambda r: (-(r["late"] + r["never"]), -r["never"], r["department"]))[:top]
    return dict(counts, situations=sorted(situations.values(), key=lambda s: (-s["count"], s["situation"])),
                repeats=repeats, late_departments=departments)


# ---------------------------------------------------------------------------------------------------------
# whistle.notify: an outbound webhook of the running case (the outbox), the one service that writes

@service("whistle.notify", required=("channel", "event", "key"), optional=("payload",),
         description="向外部系统（如12345热线）发送本案件的一个事件：与本步骤同一事务写入发件箱，由工作进程签名投递、失败重试。"
                     "An outbound webhook event of this case, written with this step, delivered (signed, retried) later.")
def notify(session: Session, channel, event, key, payload=None) -> dict:
    """Record ``event`` of the running case for ``channel`` (``WHISTLE_<CHANNEL>_WEBHOOK_URL``), with the receiver's
    correlation ``key`` (the 12345 ticket number) and ``payload`` (an object), in this step's transaction
    (``engine.outbox``): it is sent after the step commits, once per case and event. The one service that writes —
    its own case's outbox row, nothing else. Returns ``{"event_id", "delivery_id", "status"}``."""
    from engine.outbox import delivery as outbox

    try:
        return outbox.enqueue(session, channel, event, key, payload)
    except outbox.OutboxError as exc:
        raise ServiceError(str(exc)) from None
