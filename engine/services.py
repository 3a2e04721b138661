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
failing script (an incident, nothing changed). Services only read; they never change other instances.

Deploy-time lint (``engine.modelers``) accepts a service task only when its operator is registered here
and its parameters are the ones the service takes (:func:`operator_problems`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import workdays
from .db import current_session
from .models import ProcessInstance, UserGroup
from .sandbox import compile_errors


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

_COUNTS = ("records", "came", "on_time", "late", "reminded", "supervised", "acted", "lead", "resolved", "returned",
           "returns", "rated", "rating_sum")


def _department_groups(session: Session) -> tuple[list[str], list[str]]:
    """The organisation as the accounts know it: department groups ``dept-<id>`` (not their party committees)
    and streets (``street-<id>-command``)."""
    names = session.execute(select(UserGroup.name)).scalars().all()
    departments = sorted(n for n in names if n.startswith("dept-") and not n.endswith("-party"))
    streets = sorted(n[len("street-"):-len("-command")] for n in names
                     if n.startswith("street-") and n.endswith("-command"))
    return departments, streets


@service("whistle.assessment_figures", required=("year",), optional=("process",),
         description="每个部门一年内已结案吹哨案件的考核记录汇总（来没来、干没干、干得好不好）。"
                     "Per department: the year's closed whistle cases' assessment records, counted.")
def assessment_figures(session: Session, year, process: str = "whistle") -> dict:
    """Count the ``assessment`` records of the cases of ``process`` that closed in ``year`` (deployment time
    zone), per department, and list the organisation's departments and streets (from the account groups).

    Per department: ``records`` (cases it was called to), ``came``, ``on_time``, ``late``, ``reminded``,
    ``supervised``, ``acted``, ``lead`` (cases it led), ``resolved`` (led and accepted by the street),
    ``returned`` (led cases sent back at least once), ``returns`` (times sent back), ``rated`` (cases with a
    resident rating) and ``rating_sum``. Per street: ``cases`` and ``whistles`` (the street side of 双考核).
    """
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ServiceError(f"year must be a whole number, got {year!r}") from None
    if not 2000 <= year <= 2200:
        raise ServiceError(f"year {year} is out of range")
    zone = workdays.timezone()
    start, end = datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)
    rows = session.execute(select(ProcessInstance.id, ProcessInstance.data)
                           .where(ProcessInstance.process_id == str(process), ProcessInstance.status == "completed",
                                  ProcessInstance.completed_at >= start, ProcessInstance.completed_at < end)
                           .order_by(ProcessInstance.id)).all()
    roster_departments, roster_streets = _department_groups(session)
    departments = {d: dict.fromkeys(_COUNTS, 0) for d in roster_departments}
    streets: dict[str, dict] = {s: {"cases": 0, "whistles": 0} for s in roster_streets}
    cases = whistles = 0
    for _, data in rows:
        assessment = (data or {}).get("assessment")
        if not isinstance(assessment, dict):
            continue  # rejected cases carry no assessment
        cases += 1
        street = streets.setdefault(str(assessment.get("street") or ""), {"cases": 0, "whistles": 0})
        street["cases"] += 1
        records = assessment.get("departments") or []
        if records:
            whistles += 1
            street["whistles"] += 1
        for record in records:
            name = record.get("department")
            if not name:
                continue
            counts = departments.setdefault(name, dict.fromkeys(_COUNTS, 0))
            counts["records"] += 1
            counts["came"] += bool(record.get("came"))
            counts["on_time"] += bool(record.get("on_time"))
            counts["late"] += not record.get("on_time")
            counts["reminded"] += bool(record.get("reminded"))
            counts["supervised"] += bool(record.get("supervised"))
            counts["acted"] += bool(record.get("acted"))
            if record.get("role") == "lead":
                counts["lead"] += 1
                counts["resolved"] += bool(record.get("resolved"))
                returns = int(record.get("returns") or 0)
                counts["returned"] += returns > 0
                counts["returns"] += returns
            rating = record.get("rating")
            if isinstance(rating, (int, float)) and not isinstance(rating, bool):
                counts["rated"] += 1
                counts["rating_sum"] += rating
    streets.pop("", None)
    return {"year": year, "process": str(process), "from": start.isoformat(), "to": end.isoformat(),
            "cases": cases, "whistles": whistles, "departments": departments, "streets": streets,
            "roster": {"departments": sorted(departments), "streets": sorted(streets)}}
