"""DMN decision tables: how Whistle evaluates them inside a business rule task. (Input entries are read in
``engine.dmn.entries``, tables checked at deploy in ``engine.dmn.checks``; which decision a business rule task
calls is read by ``engine.bpmn.business_rules``.)

SpiffWorkflow 3.2 parses decision tables and evaluates them with ``DMNEngine``, which

* knows the hit policies UNIQUE and COLLECT only, and treats UNIQUE as "the first match" (an overlap goes
  unnoticed) and every other policy as FIRST, after evaluating every rule;
* evaluates each input expression again for every entry of every rule;
* reads the decision reference from ``spiffworkflow:calledDecisionId`` only.

:class:`DecisionEngine` replaces it. Every input expression, input entry and output entry is evaluated
through the workflow's script engine (``engine.scripting.script_engine()``: the sandbox), never with
plain ``eval``. Hit policies:

===============  ==============================================================================
UNIQUE           at most one rule may match; two matching rules are an incident (and overlapping
                 rules that can be detected are a deploy problem)
FIRST            the first matching rule, in table order
ANY              every matching rule must give the same outputs
RULE ORDER       all matching rules' outputs, in table order (lists, like COLLECT)
COLLECT          all matching rules' outputs as lists; with ``aggregation`` SUM, COUNT, MIN or MAX
                 the single output is aggregated
===============  ==============================================================================

PRIORITY and OUTPUT ORDER need output value priorities, which Whistle does not read: a deploy problem.

Results go into the task data under the output names (each decision overwrites what an earlier run of
the same decision left; when no rule of a single-hit table matches, the outputs keep the values they had,
so a process can set defaults before the task; COLLECT gives empty lists), unless the business rule task
names a result variable (``camunda:resultVariable`` with ``camunda:mapDecisionResult``, or
``zeebe:calledDecision resultVariable``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.dmn.entries import column_name, entry_test

SINGLE_HIT = ("UNIQUE", "FIRST", "ANY")
MULTI_HIT = ("COLLECT", "RULE ORDER")
SUPPORTED_HIT_POLICIES = SINGLE_HIT + MULTI_HIT
AGGREGATIONS = ("SUM", "COUNT", "MIN", "MAX")
MAP_DECISION_RESULT = ("singleEntry", "singleResult", "collectEntries", "resultList")


class DecisionError(WorkflowTaskException):
    """A decision could not decide (overlapping UNIQUE rules, disagreeing ANY rules, a bad value)."""


def _set_path(target: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        nested = target.get(key)
        if not isinstance(nested, dict):
            nested = target[key] = {}
        target = nested
    target[keys[-1]] = value


@dataclass
class ResultMapping:
    """Where a business rule task puts the decision's result."""

    variable: str | None = None  # None: the outputs go into the task data under their own names
    style: str = "outputs"  # outputs | singleEntry | singleResult | collectEntries | resultList | zeebe


@dataclass
class _Compiled:
    rule_tests: list[str | None] = field(default_factory=list)  # one combined test per rule


class DecisionEngine(DMNEngine):
    """Evaluates one decision table in the sandbox, with proper hit policies (see the module docstring)."""

    def __init__(self, decision_table, decision_id: str | None = None, aggregation: str | None = None,
                 mapping: ResultMapping | None = None):
        super().__init__(decision_table)
        self.decision_id = decision_id or decision_table.id
        self.aggregation = (aggregation or "").upper() or None
        self.mapping = mapping or ResultMapping()
        self._compiled: _Compiled | None = None

    # -- compiling the table once -----------------------------------------------------------------------

    def _tests(self) -> list[str | None]:
        if self._compiled is None:
            compiled = _Compiled()
            for rule in self.decision_table.rules:
                tests = []
                for index, entry in enumerate(rule.inputEntries):
                    text = entry.lhs[0] if entry.lhs else None
                    test = entry_test(text, column_name(index))
                    if test is not None:
                        tests.append(f"({test})")
                compiled.rule_tests.append(" and ".join(tests) if tests else None)
            self._compiled = compiled
        return self._compiled.rule_tests

    # -- SpiffWorkflow's interface ----------------------------------------------------------------------

    def decide(self, task):
        """The rules that match, honouring the hit policy (UNIQUE and ANY look at every rule)."""
        policy = self.decision_table.hit_policy
        engine = task.workflow.script_engine
        inputs = self._input_values(task)
        matched = []
        for rule, test in zip(self.decision_table.rules, self._tests(), strict=True):
            if test is not None:
                try:
                    if not engine.evaluate(task, test, external_context=inputs):
                        continue
                except SpiffWorkflowException as exc:
                    exc.add_note(f"Decision '{self.decision_id}', rule {rule.row_number} ('{rule.id}')")
                    raise
            matched.append(rule)
            if policy == "FIRST":
                break
        if policy == "UNIQUE" and len(matched) > 1:
            rows = ", ".join(f"{r.row_number} ('{r.id}')" for r in matched)
            raise DecisionError(f"decision '{self.decision_id}' has hit policy UNIQUE but rules {rows} all match "
                                f"{self._describe(inputs)}; make the rules exclusive or use hit policy FIRST",
                                task=task)
        return matched

    def result(self, task):
        matched = self.decide(task)
        outputs = [self._outputs(rule, task) for rule in matched]
        policy = self.decision_table.hit_policy
        if policy == "ANY" and any(o != outputs[0] for o in outputs[1:]):
            raise DecisionError(f"decision '{self.decision_id}' has hit policy ANY but its matching rules "
                                f"{', '.join(r.id for r in matched)} give different outputs", task=task)
        names = [o.name or o.label for o in self.decision_table.outputs]
        if self.mapping.variable:
            value = self._mapped(outputs, names, task)
            task.data.pop(self.mapping.variable, None)  # replaced, not merged with an earlier run's value
            return {self.mapping.variable: value}
        result: dict = {}
        if policy in MULTI_HIT:
            for name in names:
                values = [o.get(name) for o in outputs]
                _set_path(result, name, self._aggregate(values, task) if self.aggregation else values)
        elif outputs:
            for name in names:
                _set_path(result, name, outputs[0].get(name))
        else:
            return {}  # no rule matched: the outputs keep the values they had (defaults set before the task)
        for name in names:
            if "." not in name:
                task.data.pop(name, None)  # a list from an earlier run is replaced, not merged into
        return result

    # -- helpers ----------------------------------------------------------------------------------------

    def _input_values(self, task) -> dict:
        engine = task.workflow.script_engine
        values = {}
        for index, column in enumerate(self.decision_table.inputs):
            expression = column.expression
            if expression is None or not expression.strip():
                raise DecisionError(f"decision '{self.decision_id}': input '{column.label or column.id}' has no "
                                    f"expression", task=task)
            try:
                values[column_name(index)] = engine.evaluate(task, expression)
            except SpiffWorkflowException as exc:
                exc.add_note(f"Decision '{self.decision_id}', input '{column.label or column.id}'")
                raise
        return values

    def _describe(self, inputs: dict) -> str:
        shown = []
        for index, column in enumerate(self.decision_table.inputs):
            shown.append(f"{(column.expression or '').strip()} = {inputs.get(column_name(index))!r}")
        return "(" + ", ".join(shown) + ")" if shown else ""

    def _outputs(self, rule, task) -> dict:
        engine = task.workflow.script_engine
        values: dict[str, object] = {}
        for entry in rule.outputEntries:
            name = entry.output.name or entry.output.label
            text = entry.text
            if text is None or not str(text).strip():
                values[name] = None
                continue
            try:
                values[name] = engine.evaluate(task, text)
            except SpiffWorkflowException as exc:
                exc.add_note(f"Decision '{self.decision_id}', rule {rule.row_number} ('{rule.id}'), output '{name}'")
                raise
        return values

    def _aggregate(self, values: list, task):
        if self.aggregation == "COUNT":
            return len(values)
        present = [v for v in values if v is not None]
        if not present:
            return None
        try:
            if self.aggregation == "SUM":
                return sum(present)
            if self.aggregation == "MIN":
                return min(present)
            return max(present)
        except TypeError as exc:
            raise DecisionError(f"decision '{self.decision_id}': cannot {self.aggregation} the outputs "
                                f"{present!r}: {exc}", task=task) from exc

    def _mapped(self, outputs: list[dict], names: list[str], task):
        style = self.mapping.style
        policy = self.decision_table.hit_policy
        if self.aggregation:
            value = self._aggregate([o.get(names[0]) for o in outputs], task)
            return value if style in ("singleEntry", "zeebe") else [value] if style == "collectEntries" \
                else {names[0]: value} if style == "singleResult" else [{names[0]: value}]
        if style == "zeebe":  # the DMN result: a value for one output, a context for several
            shaped = [o[names[0]] if len(names) == 1 else o for o in outputs]
            if policy in MULTI_HIT:
                return shaped
            return shaped[0] if shaped else None
        if style == "resultList":
            return outputs
        if style == "collectEntries":
            if len(names) != 1:
                raise DecisionError(f"decision '{self.decision_id}': mapDecisionResult collectEntries needs exactly "
                                    f"one output, the table has {len(names)}", task=task)
            return [o[names[0]] for o in outputs]
        if len(outputs) > 1:
            raise DecisionError(f"decision '{self.decision_id}': mapDecisionResult {style} needs at most one "
                                f"matching rule, {len(outputs)} matched", task=task)
        if style == "singleResult":
            return outputs[0] if outputs else None
        if len(names) != 1:
            raise DecisionError(f"decision '{self.decision_id}': mapDecisionResult singleEntry needs exactly one "
                                f"output, the table has {len(names)}", task=task)
        return outputs[0][names[0]] if outputs else None
