"""Timer events: how Whistle reads, validates and evaluates them, and where their due times live.

What this module adds to SpiffWorkflow 3.2:

* **Camunda-style literals.** Modelers write ``PT30M``, ``2027-04-01T09:00:00+08:00`` or ``R3/PT1H``
  unquoted; SpiffWorkflow evaluates every timer as a Python expression. The parser rewrites unquoted ISO
  literals into quoted strings, accepts ``"PT30M"``, ``${deadline}`` and any Python expression
  (``deadline``, ``working_days(3)``), and validates literals at deploy time so a bad timer is a deploy
  problem with file, line and element, not a runtime surprise.
* **Explicit offsets.** A date without a UTC offset would follow the server's zone (and ignore daylight
  saving); it is refused at deploy (literals) or raised as an incident (values computed at run time).
* **One clock.** Due times are computed from ``engine.clock`` and compared with it.
* **Event-based gateways fire each timer at its own time.** SpiffWorkflow keeps one ``event_value`` on
  the gateway task, so its timers share the first one's due time; ``GatewayEventDefinition`` keeps one
  value per timer and fires only the earliest that is due.
* **A missed cycle fires once.** After downtime a cycle catches up with one firing and continues with
  the next slot after now (SpiffWorkflow would fire once per missed interval, one per refresh).
* **A record of what fired**, so the runtime can write one ``timer_fired`` audit event per firing, in
  whichever command it happened (a job, or a user's command that found a timer overdue).

Cycles (``timeCycle``) are accepted on start events and boundary events, as BPMN allows; an intermediate
catch event with a cycle is a deploy problem.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from SpiffWorkflow.bpmn.parser.event_parsers import EventBasedGatewayParser
from SpiffWorkflow.bpmn.parser.util import first
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent, EventBasedGateway
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.spiff.parser.event_parsers import (
    SpiffBoundaryEventParser,
    SpiffIntermediateCatchEventParser,
    SpiffStartEventParser,
)
from SpiffWorkflow.util.task import TaskState

from engine.time import clock

EXAMPLE_DATE = "2027-04-01T09:00:00+08:00"


class TimerValueError(ValueError):
    """A timer's value (literal or computed) is not a usable ISO 8601 date, duration or cycle."""


# ---------------------------------------------------------------------------------------------------------
# ISO 8601 values, strictly.

_DURATION_RE = re.compile(r"^P(?=\d|T\d)(\d+(?:[.,]\d+)?Y)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?W)?"
                          r"(\d+(?:[.,]\d+)?D)?(T(?=\d)(\d+(?:[.,]\d+)?H)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?S)?)?$",
                          re.IGNORECASE)
_DATE_RE = re.compile(r"^\d{4}-?(\d{2}-?\d{2}|W\d{2}-?\d)([T ].*)?$", re.IGNORECASE)
_CYCLE_RE = re.compile(r"^R\d*/", re.IGNORECASE)
# Meant as ISO 8601 but mistyped (PT30X, P3): reported as a bad literal rather than run as a Python name.
_ISO_LOOKING_RE = re.compile(r"^(P\d|PT\d|R\d*/)[0-9A-Z.,:/+\-]*$")


def parse_duration(text: str) -> dict:
    """An ISO 8601 duration (``PT30M``, ``P3D``, ``P1Y2M``) as SpiffWorkflow's parts dict."""
    text = str(text).strip()
    if not _DURATION_RE.match(text):
        raise TimerValueError(f"'{text}' is not an ISO 8601 duration (like PT30M, PT2H, P3D)")
    try:
        return TimerEventDefinition.parse_iso_duration(text.upper())
    except Exception:
        raise TimerValueError(f"'{text}' is not an ISO 8601 duration (like PT30M, PT2H, P3D)") from None


def duration_after(text: str, start: datetime) -> datetime:
    return start + TimerEventDefinition.get_timedelta_from_start(parse_duration(text), start)


def parse_date(value) -> datetime:
    """An ISO 8601 date-time with an explicit UTC offset, as an aware UTC datetime."""
    if isinstance(value, datetime):
        when = value
        shown = value.isoformat()
    else:
        shown = str(value).strip()
        if shown.upper().startswith("P"):
            raise TimerValueError(f"'{shown}' is a duration, not a date; use a timeDuration for it, "
                                  f"or a date like {EXAMPLE_DATE}")
        try:
            when = datetime.fromisoformat(shown)
        except ValueError:
            raise TimerValueError(f"'{shown}' is not an ISO 8601 date-time (like {EXAMPLE_DATE})") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise TimerValueError(f"date '{shown}' has no UTC offset; write it with one, like {EXAMPLE_DATE} "
                              f"(a time without an offset would follow the server's zone)")
    return when.astimezone(timezone.utc)


@dataclass(frozen=True)
class Cycle:
    repetitions: int  # -1: unbounded
    start: datetime  # the first slot
    period: timedelta


def parse_cycle(text: str, now: datetime | None = None) -> Cycle:
    """``R[n]/start/period``, ``R[n]/period`` (first slot one period from now) or ``R[n]/period/end``."""
    text = str(text).strip()
    parts = text.split("/")
    if len(parts) not in (2, 3) or not _CYCLE_RE.match(text):
        raise TimerValueError(f"'{text}' is not an ISO 8601 cycle (like R3/PT1H or R/{EXAMPLE_DATE}/P1D)")
    count = parts[0][1:]
    repetitions = int(count) if count else -1
    now = now or clock.now()
    is_period = [p.strip().upper().startswith("P") for p in parts[1:]]
    if len(parts) == 2:
        if not is_period[0]:
            raise TimerValueError(f"cycle '{text}' needs a period, like R3/PT1H")
        start = duration_after(parts[1], now)
        period = start - now
    elif is_period == [False, True]:
        start = parse_date(parts[1])
        period = duration_after(parts[2], start) - start
    elif is_period == [True, False]:
        end = parse_date(parts[2])
        period = TimerEventDefinition.get_timedelta_from_end(parse_duration(parts[1]), end)
        start = end - period
    else:
        raise TimerValueError(f"cycle '{text}' needs one date and one period, like R/{EXAMPLE_DATE}/P1D")
    if period <= timedelta(0):
        raise TimerValueError(f"cycle '{text}' needs a period longer than zero")
    return Cycle(repetitions, start, period)


def validate_literal(kind: str, text: str) -> None:
    if kind == "date":
        parse_date(text)
    elif kind == "duration":
        parse_duration(text)
    else:
        parse_cycle(text, datetime(2000, 1, 1, tzinfo=timezone.utc))


def slots_before(first_slot: datetime, period: timedelta, now: datetime) -> int:
    """How many slots ``first_slot + k * period`` (k >= 0) lie strictly before ``now``."""
    if first_slot >= now:
        return 0
    elapsed = (now - first_slot) // timedelta(microseconds=1)
    step = max(1, period // timedelta(microseconds=1))
    return (elapsed - 1) // step + 1


# ---------------------------------------------------------------------------------------------------------
# Recording what fired (read by the runtime when it saves the instance).

def _note_fired(my_task, element_id: str, due: datetime | None, **details) -> None:
    top = my_task.workflow.top_workflow
    fired = top.__dict__.setdefault("_whistle_fired", [])
    fired.append({"task_id": str(my_task.id), "element_id": element_id, "kind": _kind(my_task.task_spec),
                  "due_at": due.isoformat() if due else None, **details})


def take_fired(workflow) -> list[dict]:
    """The timers that fired since the workflow was loaded (and forget them)."""
    return workflow.__dict__.pop("_whistle_fired", [])


def _evaluate(my_task, expression: str):
    return my_task.workflow.script_engine.evaluate(my_task, expression)


def _element_of(my_task) -> str:
    return my_task.task_spec.bpmn_id or my_task.task_spec.name


def _fail(my_task, exc: Exception):
    raise TimerValueError(f"timer '{_element_of(my_task)}': {exc}") from None


# ---------------------------------------------------------------------------------------------------------
# Event definitions. Their ``name`` is the element id (unique), which event-based gateways rely on.

class WhistleTimeDate(TimeDateEventDefinition):
    timer_type = "date"

    def initial_value(self, my_task) -> str:
        value = _evaluate(my_task, self.expression)
        try:
            return parse_date(value).isoformat()
        except TimerValueError as exc:
            _fail(my_task, exc)

    def due_of(self, event_value) -> datetime | None:
        return parse_date(event_value) if event_value is not None else None

    def has_fired(self, my_task):
        if my_task._get_internal_data("event_fired", False):
            return True
        value = my_task._get_internal_data("event_value")
        if value is None:
            value = self.initial_value(my_task)
            my_task._set_internal_data(event_value=value)
        due = self.due_of(value)
        if due < clock.now():
            my_task._set_internal_data(event_fired=True)
            _note_fired(my_task, _element_of(my_task), due)
            return True
        return False


class WhistleDuration(DurationTimerEventDefinition):
    timer_type = "duration"

    def initial_value(self, my_task) -> str:
        value = _evaluate(my_task, self.expression)
        now = clock.now()
        try:
            if isinstance(value, timedelta):
                return (now + value).isoformat()
            return duration_after(value, now).isoformat()
        except TimerValueError as exc:
            _fail(my_task, exc)

    def due_of(self, event_value) -> datetime | None:
        return parse_date(event_value) if event_value is not None else None

    has_fired = WhistleTimeDate.has_fired


class WhistleCycle(CycleTimerEventDefinition):
    timer_type = "cycle"

    def initial_value(self, my_task) -> dict:
        value = _evaluate(my_task, self.expression)
        try:
            cycle = parse_cycle(value)
        except TimerValueError as exc:
            _fail(my_task, exc)
        return {"cycles": cycle.repetitions, "next": cycle.start.isoformat(),
                "duration": cycle.period.total_seconds()}

    def due_of(self, event_value) -> datetime | None:
        if not event_value or event_value.get("cycles", 0) == 0:
            return None
        return parse_date(event_value["next"])

    def cycle_complete(self, my_task):
        value = my_task._get_internal_data("event_value")
        if value is None:
            value = self.initial_value(my_task)
        value = dict(value)
        forced = my_task.internal_data.pop("whistle_forced", False)
        ready = False
        if value["cycles"] != 0:
            slot = parse_date(value["next"])
            period = timedelta(seconds=value["duration"])
            missed = slots_before(slot, period, clock.now())
            if missed:
                # Fire once, however many slots passed while nobody was looking.
                ready = True
                value["next"] = (slot + missed * period).isoformat()
                if value["cycles"] > 0:
                    value["cycles"] = max(0, value["cycles"] - missed)
                if not forced:
                    _note_fired(my_task, _element_of(my_task), slot, missed_slots=missed - 1)
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
            return False
        my_task._set_internal_data(event_value=value)
        return ready


TIMER_CLASSES = {"date": WhistleTimeDate, "duration": WhistleDuration, "cycle": WhistleCycle}


class GatewayEventDefinition(MultipleEventDefinition):
    """The events after an event-based gateway: the first to happen wins; each timer keeps its own due time."""

    def _timers(self):
        return [(i, d) for i, d in enumerate(self.event_definitions) if isinstance(d, TimerEventDefinition)]

    def timer_dues(self, my_task) -> list[tuple[str, str, datetime]]:
        """(element id, timer type, due) of each timer, as evaluated when the gateway was reached."""
        values = my_task.internal_data.get("timer_values") or {}
        outputs = my_task.task_spec.outputs
        result = []
        for index, definition in self._timers():
            value = values.get(str(index))
            if value is not None and hasattr(definition, "due_of"):
                result.append((outputs[index].bpmn_id, definition.timer_type, definition.due_of(value)))
        return result

    def has_fired(self, my_task):
        seen = my_task.internal_data.get("seen_events", [])
        if seen:
            return True
        values = dict(my_task.internal_data.get("timer_values") or {})
        candidates = []
        for index, definition in self._timers():
            key = str(index)
            if key not in values:
                values[key] = definition.initial_value(my_task)
            candidates.append((definition.due_of(values[key]), index, definition))
        my_task.internal_data["timer_values"] = values
        now = clock.now()
        due = [c for c in candidates if c[0] is not None and c[0] < now]
        if not due:
            return False
        when, index, definition = min(due, key=lambda c: (c[0], c[1]))
        my_task.internal_data["seen_events"] = [BpmnEvent(definition)]
        _note_fired(my_task, my_task.task_spec.outputs[index].bpmn_id, when)
        return True

    def reset(self, my_task):
        my_task.internal_data.pop("timer_values", None)
        super().reset(my_task)


# ---------------------------------------------------------------------------------------------------------
# Parsing.

def normalise_expression(text: str | None) -> tuple[str | None, str | None]:
    """(Python expression, literal value or None) for what a modeler wrote in a timer element."""
    if text is None or not text.strip():
        return None, None
    text = text.strip()
    if text.startswith(("${", "#{")) and text.endswith("}"):
        return text[2:-1].strip(), None
    if _CYCLE_RE.match(text) or _DURATION_RE.match(text) or _DATE_RE.match(text) or _ISO_LOOKING_RE.match(text):
        return repr(text), text  # an unquoted ISO 8601 literal, Camunda style (validated by the caller)
    try:
        literal = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        literal = None
    if isinstance(literal, str):
        return text, literal
    return text, None


class TimerParserMixin:
    """Builds Whistle's timer definitions and reports bad timers as deploy problems."""

    timer_allows_cycle = True

    def parse_timer_event(self, event):
        candidates = [("date", first(self.xpath(".//bpmn:timeDate"))),
                      ("duration", first(self.xpath(".//bpmn:timeDuration"))),
                      ("cycle", first(self.xpath(".//bpmn:timeCycle")))]
        given = [(kind, node) for kind, node in candidates if node is not None]
        if not given:
            self.raise_validation_exception("timer has no timeDate, timeDuration or timeCycle")
        if len(given) > 1:
            self.raise_validation_exception("timer has more than one of timeDate, timeDuration and timeCycle")
        kind, node = given[0]
        if kind == "cycle" and not self.timer_allows_cycle:
            self.raise_validation_exception(
                "a repeating timer (timeCycle) is only allowed on a start event or a boundary event; "
                "use timeDuration or timeDate here")
        expression, literal = normalise_expression(node.text)
        element = {"date": "timeDate", "duration": "timeDuration", "cycle": "timeCycle"}[kind]
        if expression is None:
            self.raise_validation_exception(f"timer's {element} is empty")
        if literal is not None:
            try:
                validate_literal(kind, literal)
            except TimerValueError as exc:
                self.raise_validation_exception(f"timer's {element}: {exc}")
        else:
            try:
                compile(expression, "<timer>", "eval")
            except SyntaxError as exc:
                self.raise_validation_exception(
                    f"timer's {element} '{node.text.strip()}' is neither an ISO 8601 value nor a valid "
                    f"expression ({exc.msg})")
        description = self.get_event_description(event)
        return TIMER_CLASSES[kind](self.bpmn_id, expression, description=description)


class WhistleStartEventParser(TimerParserMixin, SpiffStartEventParser):
    pass


class WhistleBoundaryEventParser(TimerParserMixin, SpiffBoundaryEventParser):
    pass


class WhistleIntermediateCatchEventParser(TimerParserMixin, SpiffIntermediateCatchEventParser):
    timer_allows_cycle = False


class WhistleEventBasedGatewayParser(EventBasedGatewayParser):
    def create_task(self):
        return self._create_task(GatewayEventDefinition())


def register_converters(registry) -> None:
    """Teach the state serializer Whistle's event definitions (they appear in caught-event lists)."""
    from SpiffWorkflow.bpmn.serializer.default.event_definition import (
        MultipleEventDefinitionConverter,
        TimerConditionalEventDefinitionConverter,
    )

    for cls in TIMER_CLASSES.values():
        TimerConditionalEventDefinitionConverter(cls, registry)
    MultipleEventDefinitionConverter(GatewayEventDefinition, registry)


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


def _kind(spec) -> str:
    if isinstance(spec, BoundaryEvent):
        return "boundary" if spec.cancel_activity else "boundary_non_interrupting"
    if isinstance(spec, EventBasedGateway):
        return "event_gateway"
    if isinstance(spec, StartEvent):
        return "start"
    return "intermediate"


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
        due = definition.due_of(value) if hasattr(definition, "due_of") else _stock_due(definition, value)
        if due is not None:
            found.append(WaitingTimer(str(task.id), _element_of(task), _kind(spec), _timer_type(definition), due))
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


def evaluate_start_expression(expression: str, script_engine):
    """A timer start event's expression is evaluated without instance data."""
    return script_engine.environment.evaluate(expression, {})


def first_start_due(timer: StartTimer, script_engine, now: datetime) -> tuple[datetime | None, dict]:
    """When a freshly deployed timer start event first fires, and the schedule state to keep."""
    try:
        try:
            value = evaluate_start_expression(timer.expression, script_engine)
        except Exception as exc:
            raise TimerValueError(f"'{timer.expression}' cannot be evaluated when the process is deployed "
                                  f"(a timer start event has no instance data): {exc.__class__.__name__}: {exc}")
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
