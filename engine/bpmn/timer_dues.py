"""When timers are due: the timers a loaded workflow waits for (the runtime keeps one timer row per waiting
timer), and the timer start events of a process (the job schedule starts instances from them).

The event definitions themselves, and how they are parsed, are in ``engine.bpmn.timers``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.timers import GatewayEventDefinition, element_id_of, kind_of
from engine.time import clock
from engine.time.iso8601 import TimerValueError, duration_after, parse_cycle, parse_date, slots_before

# ---------------------------------------------------------------------------------------------------------
# Reading a workflow: which timers wait, and when they are due.

@dataclass(frozen=True)
class WaitingTimer:
    task_id: str
    element_id: str
    kind: str  # boundary | boundary_non_interrupting | intermediate | event_gateway | start
    timer_type: str  # date | duration | cycle
    due_at: datetime


def _timer_type(definition) -> str:
    if isinstance(definition, CycleTimerEventDefinition):
        return "cycle"
    if isinstance(definition, DurationTimerEventDefinition):
        return "duration"
    return "date"


def _stock_due(definition, value) -> datetime | None:
    if value is None:
        return None
    if isinstance(definition, CycleTimerEventDefinition):
        return parse_date(value["next"]) if value.get("cycles", 0) != 0 else None
    if isinstance(definition, DurationTimerEventDefinition):
        return parse_date(value)
    return parse_date(TimerEventDefinition.parse_time_or_duration(value))


def waiting_timers(workflow) -> list[WaitingTimer]:
    """Every timer the workflow (with its subprocesses) waits for, with its due time."""
    found: list[WaitingTimer] = []
    for task in list(workflow.event_manager.tasks.values()):
        if task.state != TaskState.WAITING:
            continue
        spec = task.task_spec
        definition = spec.event_definition
        if isinstance(definition, GatewayEventDefinition):
            for element_id, timer_type, due in definition.timer_dues(task):
                found.append(WaitingTimer(str(task.id), element_id, "event_gateway", timer_type, due))
            continue
        if isinstance(definition, MultipleEventDefinition):
            timers = [d for d in definition.event_definitions if isinstance(d, TimerEventDefinition)]
            if not timers:
                continue
            definition = timers[0]  # SpiffWorkflow shares one value between them
        elif not isinstance(definition, TimerEventDefinition):
            continue
        value = task.internal_data.get("event_value")
        due_at = definition.due_of(value) if hasattr(definition, "due_of") else _stock_due(definition, value)
        if due_at is not None:
            found.append(WaitingTimer(str(task.id), element_id_of(task), kind_of(spec), _timer_type(definition),
                                      due_at))
    return found


def spec_has_timers(spec, subprocess_specs: dict | None = None) -> bool:
    """Whether any timer can ever wait in instances of this spec (cached on the spec object)."""
    cached = getattr(spec, "_whistle_has_timers", None)
    if cached is not None:
        return cached
    specs = [spec, *(subprocess_specs or {}).values()]
    result = False
    for wf_spec in specs:
        for task_spec in wf_spec.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            if isinstance(definition, TimerEventDefinition) or (
                    isinstance(definition, MultipleEventDefinition)
                    and any(isinstance(d, TimerEventDefinition) for d in definition.event_definitions)):
                result = True
                break
        if result:
            break
    spec._whistle_has_timers = result
    return result


# ---------------------------------------------------------------------------------------------------------
# Timer start events.

@dataclass(frozen=True)
class StartTimer:
    element_id: str
    timer_type: str
    expression: str


def start_timers(spec) -> list[StartTimer]:
    """The process's own timer start events (not those of event subprocesses), in document order."""
    found = []
    for task_spec in spec.start.outputs:
        targets = task_spec.outputs if not isinstance(task_spec, StartEvent) else [task_spec]
        for target in targets:  # several start events hang off a StartEventSplit
            definition = getattr(target, "event_definition", None)
            if isinstance(target, StartEvent) and isinstance(definition, TimerEventDefinition):
                found.append(StartTimer(target.bpmn_id, _timer_type(definition), definition.expression))
    return found


def evaluate_start_expression(expression: str, script_engine: Any) -> Any:
    """A timer start event's expression is evaluated without instance data."""
    return script_engine.environment.evaluate(expression, {})


def first_start_due(timer: StartTimer, script_engine, now: datetime) -> tuple[datetime | None, dict]:
    """When a freshly deployed timer start event first fires, and the schedule state to keep."""
    try:
        try:
            value = evaluate_start_expression(timer.expression, script_engine)
        except Exception as exc:
            raise TimerValueError(f"'{timer.expression}' cannot be evaluated when the process is deployed (a "
                                  f"timer start event has no instance data): {exc.__class__.__name__}: {exc}") from exc
        if timer.timer_type == "date":
            return parse_date(value), {}
        if timer.timer_type == "duration":
            if isinstance(value, timedelta):
                return now + value, {}
            return duration_after(value, now), {}
        cycle = parse_cycle(value, now)
    except TimerValueError as exc:
        error = TimerValueError(f"timer start event '{timer.element_id}': {exc}")
        error.element_id = timer.element_id
        raise error from None
    if cycle.repetitions == 0:
        return None, {}
    return cycle.start, {"repetitions": cycle.repetitions, "period_seconds": cycle.period.total_seconds()}


def next_start_due(due: datetime, schedule: dict, now: datetime) -> tuple[datetime | None, dict]:
    """After a timer start fired for ``due``: the next slot after ``now`` (missed slots are skipped)."""
    if not schedule:
        return None, {}
    period = timedelta(seconds=schedule["period_seconds"])
    slots = max(1, slots_before(due, period, now))
    repetitions = schedule["repetitions"]
    if repetitions > 0:
        repetitions = max(0, repetitions - slots)
        if repetitions == 0:
            return None, {}
    return due + slots * period, {**schedule, "repetitions": repetitions}


def fire_start_event(workflow, element_id: str | None = None) -> str | None:
    """Let a new instance begin at a timer start event now (a due timer-start job, or an explicit start).

    With ``element_id``, that start event fires and the process's other start events are cancelled. Without
    it, a process whose start events are all timers fires its first one; a process that also has another
    kind of start event is left to SpiffWorkflow (its none start event begins at once and the timer start
    events are cancelled). Returns the element id of the start event fired, if any.
    """
    timers = start_timers(workflow.spec)
    if not timers:
        return None
    starts = [t for t in workflow.get_tasks() if isinstance(t.task_spec, StartEvent)
              and t.task_spec in _top_start_events(workflow.spec)]
    if element_id is None:
        if len(timers) != len(_top_start_events(workflow.spec)):
            return None
        element_id = timers[0].element_id
    for task in starts:
        if task.task_spec.bpmn_id == element_id:
            definition = task.task_spec.event_definition
            if isinstance(definition, CycleTimerEventDefinition):
                past = (clock.now() - timedelta(seconds=1)).isoformat()
                task.internal_data["event_value"] = {"cycles": 1, "next": past, "duration": 1.0}
                task.internal_data["whistle_forced"] = True
            else:
                task.internal_data["event_fired"] = True
        elif not task.has_state(TaskState.FINISHED_MASK):
            task.cancel()
    return element_id


def _top_start_events(spec) -> list:
    found = []
    for task_spec in spec.start.outputs:
        if isinstance(task_spec, StartEvent):
            found.append(task_spec)
        else:
            found.extend(t for t in task_spec.outputs if isinstance(t, StartEvent))
    return found
