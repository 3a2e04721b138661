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

The script engine dispatches ``call_service`` here (``engine.scripting.script_engine``). A service runs inside the
current command's transaction (the session ``Database.write`` publishes in :data:`engine.store.db.current_session`), so
what it reads is consistent with the step that asked, and a failure rolls the whole step back like a
failing script (an incident, nothing changed). Services only read, with one exception: ``whistle.notify`` records an
outbound webhook of the running case in the outbox (``engine.outbox``), in the same transaction — the transactional
outbox, so an event exists exactly when its step committed. No service changes another instance.

Deploy-time lint (``engine.bpmn.modeler_checks``) accepts a service task only when its operator is registered here
and its parameters are the ones the service takes (:func:`operator_problems`).
"""
from __future__ import annotations

import json
from datetime import date, datetime

from engine.outbox import delivery as outbox
from engine.scripting.analysis import monthly_analysis
from engine.scripting.assessment import assessment_figures
from engine.scripting.policy import compile_errors
from engine.scripting.service_registry import SERVICES, Service, ServiceError, service
from engine.store import Session
from engine.store.db import current_session

# What a service task and lint reach here. The services are registered (``@service``) where they are defined:
# importing engine.scripting.assessment and engine.scripting.analysis registers theirs.
__all__ = ["SERVICES", "ServiceError", "assessment_figures", "call", "monthly_analysis", "notify", "operator_problems"]


def _command_session() -> Session:
    """The session of the command (or timer job) running now; services read and write in it."""
    session = current_session.get()
    if session is None:
        raise ServiceError("a service can only run inside an engine command (no transaction is open)")
    return session


def _plain_values(params: dict) -> dict:
    """SpiffWorkflow hands evaluated parameters as ``{name: {"value": ..., "type": ...}}``."""
    return {name: (value.get("value") if isinstance(value, dict) and "value" in value else value)
            for name, value in (params or {}).items()}


def call(name: str, params: dict) -> str:
    """Run service ``name`` with SpiffWorkflow's evaluated parameters; the result as JSON text."""
    found = SERVICES.get(name)
    if found is None:
        raise ServiceError(f"no service '{name}'; known services: {', '.join(sorted(SERVICES)) or 'none'}")
    values = _plain_values(params)
    problems = _parameter_problems(found, set(values))
    if problems:
        raise ServiceError(f"service '{name}': {'; '.join(problems)}")
    result = found.function(_command_session(), **values)
    return json.dumps(result, ensure_ascii=False, default=_json_default)


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"a service result cannot hold a {type(value).__name__}")


def _parameter_problems(found: Service, given: set[str]) -> list[str]:
    """Required parameters missing from ``given``, and names in it the service does not take."""
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
                f"scripts cannot reach the database, services can — see engine/scripting/services.py"]
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
# whistle.notify: an outbound webhook of the running case (the outbox), the one service that writes

@service("whistle.notify", required=("channel", "event", "key"), optional=("payload",),
         description="向外部系统（如12345热线）发送本案件的一个事件："
                     "与本步骤同一事务写入发件箱，由工作进程签名投递、失败重试。"
                     "An outbound webhook event of this case, written with this step, delivered (signed, "
                     "retried) later.")
def notify(session: Session, channel, event, key, payload=None) -> dict:
    """Record ``event`` of the running case for ``channel`` (``WHISTLE_<CHANNEL>_WEBHOOK_URL``), with the receiver's
    correlation ``key`` (the 12345 ticket number) and ``payload`` (an object), in this step's transaction
    (``engine.outbox``): it is sent after the step commits, once per case and event. The one service that writes —
    its own case's outbox row, nothing else. Returns ``{"event_id", "delivery_id", "status"}``."""
    try:
        return outbox.enqueue(session, channel, event, key, payload)
    except outbox.OutboxError as exc:
        raise ServiceError(str(exc)) from None
