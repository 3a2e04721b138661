"""Timer events: how Whistle reads, validates and evaluates them, and where their due times live.

What this module adds to SpiffWorkflow 3.2:

* **Camunda-style literals.** Modelers write ``PT30M``, ``2027-04-01T09:00:00+08:00`` or ``R3/PT1H``
  unquoted; SpiffWorkflow evaluates every timer as a Python expression. The parser rewrites unquoted ISO
  literals into quoted strings, accepts ``"PT30M"``, ``${deadline}`` and any Python expression
  (``deadline``, ``working_days(3)``), and validates literals at deploy time (``engine.time.iso8601``) so a
  bad timer is a deploy problem with file, line and element, not a runtime surprise.
* **Explicit offsets.** A date without a UTC offset would follow the server's zone (and ignore daylight
  saving); it is refused at deploy (literals) or raised as an incident (values computed at run time).
* **One clock.** Due times are computed from ``engine.time.clock`` and compared with it.
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
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any, NoReturn

from SpiffWorkflow.bpmn.parser.event_parsers import EventBasedGatewayParser
from SpiffWorkflow.bpmn.parser.util import first
from SpiffWorkflow.bpmn.serializer.default.event_definition import (
    MultipleEventDefinitionConverter,
    TimerConditionalEventDefinitionConverter,
)
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

from engine.time import clock
from engine.time.iso8601 import (
    TimerValueError,
    duration_after,
    looks_like_iso8601,
    parse_cycle,
    parse_date,
    slots_before,
    validate_literal,
)

# ---------------------------------------------------------------------------------------------------------
# Telling the runtime what fired: while a command runs, engine.runtime sets ``fired_timers`` to a callback that
# takes the top workflow and the firing, and audits the firing when it saves the instance.

fired_timers: ContextVar[Callable[[Any, dict], None] | None] = ContextVar("whistle_fired_timers", default=None)


def _note_fired(my_task, element_id: str, due: datetime | None, **details) -> None:
    heard = fired_timers.get()
    if heard is not None:
        heard(my_task.workflow.top_workflow, {"task_id": str(my_task.id), "element_id": element_id,
                                              "kind": kind_of(my_task.task_spec),
                                              "due_at": due.isoformat() if due else None, **details})


def _evaluate(my_task, expression: str):
    return my_task.workflow.script_engine.evaluate(my_task, expression)


def element_id_of(my_task) -> str:
    """The BPMN id of the element ``my_task`` runs."""
    return my_task.task_spec.bpmn_id or my_task.task_spec.name


def _fail(my_task, exc: Exception) -> NoReturn:
    raise TimerValueError(f"timer '{element_id_of(my_task)}': {exc}") from None


def kind_of(spec) -> str:
    """How a timer event's task spec waits: boundary, boundary_non_interrupting, event_gateway, start or
    intermediate."""
    if isinstance(spec, BoundaryEvent):
        return "boundary" if spec.cancel_activity else "boundary_non_interrupting"
    if isinstance(spec, EventBasedGateway):
        return "event_gateway"
    if isinstance(spec, StartEvent):
        return "start"
    return "intermediate"


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
        if due is not None and due < clock.now():
            my_task._set_internal_data(event_fired=True)
            _note_fired(my_task, element_id_of(my_task), due)
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
                    _note_fired(my_task, element_id_of(my_task), slot, missed_slots=missed - 1)
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
    if looks_like_iso8601(text):
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
    # Provided by the SpiffWorkflow event parser the mixin is combined with.
    bpmn_id: str
    xpath: Callable[[str], list]
    raise_validation_exception: Callable[[str], NoReturn]
    get_event_description: Callable[[Any], Any]

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
    for cls in TIMER_CLASSES.values():
        TimerConditionalEventDefinitionConverter(cls, registry)
    MultipleEventDefinitionConverter(GatewayEventDefinition, registry)
