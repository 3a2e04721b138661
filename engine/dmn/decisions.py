"""DMN decision tables: how Whistle evaluates them inside a business rule task, and how it checks them at
deploy time.

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

Input entries are Python expressions, as in SpiffWorkflow (``"red"``, ``>= 3``, ``? in ("a", "b")``,
``-`` for "any"), plus the common FEEL forms Camunda's DMN editor writes: comma lists (``"a","b"``),
ranges (``[1..5]``, ``]0..10[``), ``not(...)`` and ``true``/``false``/``null``.

Results go into the task data under the output names (each decision overwrites what an earlier run of
the same decision left; when no rule of a single-hit table matches, the outputs keep the values they had,
so a process can set defaults before the task; COLLECT gives empty lists), unless the business rule task names a result variable (``camunda:resultVariable``
with ``camunda:mapDecisionResult``, or ``zeebe:calledDecision resultVariable``).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.task_spec import BusinessRuleTaskParser
from SpiffWorkflow.spiff.specs.defaults import BusinessRuleTask

from engine.errors import Problem
from engine.scripting.sandbox import compile_errors

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

SINGLE_HIT = ("UNIQUE", "FIRST", "ANY")
MULTI_HIT = ("COLLECT", "RULE ORDER")
SUPPORTED_HIT_POLICIES = SINGLE_HIT + MULTI_HIT
AGGREGATIONS = ("SUM", "COUNT", "MIN", "MAX")
MAP_DECISION_RESULT = ("singleEntry", "singleResult", "collectEntries", "resultList")

PLACEHOLDER = "dmninput"  # the input value in an entry's test; the sandbox allows the name (no leading _)


class DecisionError(WorkflowTaskException):
    """A decision could not decide (overlapping UNIQUE rules, disagreeing ANY rules, a bad value)."""


# ---------------------------------------------------------------------------------------------------------
# Input entries: what a designer writes in a cell, as one Python boolean expression over the input value.

_COMPARISON = re.compile(r"^(<=|>=|<|>|==|!=)\s*(.+)$", re.S)
_RANGE = re.compile(r"^([\[\](])\s*(.+?)\s*\.\.\s*(.+?)\s*([\[\])])$", re.S)
_FEEL_CONSTANTS = {"true": "True", "false": "False", "null": "None"}


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """``text`` split at ``separator`` outside quotes and brackets."""
    parts, depth, quote, current = [], 0, None, []
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            current.append(ch)
            if ch == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            current.append(ch)
        elif ch in "([{":
            depth += 1
            current.append(ch)
        elif ch in ")]}":
            depth -= 1
            current.append(ch)
        elif ch == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _replace_question_mark(text: str, name: str) -> str:
    """``?`` outside quotes becomes the input value's name."""
    out, quote = [], None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            out.append(ch)
        elif ch in "\"'":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append(name)
        else:
            out.append(ch)
    return "".join(out)


def _compiles(expression: str) -> bool:
    try:
        ast.parse(expression, mode="eval")
        return True
    except (SyntaxError, MemoryError, RecursionError):  # the last two: nested too deeply (the sandbox says so)
        return False


def is_wildcard(text: str | None) -> bool:
    return text is None or text.strip() in ("", "-")


def entry_test(text: str | None, name: str = PLACEHOLDER) -> str | None:
    """The Python test for an input entry (None: matches anything). Raises ValueError when it cannot be read."""
    if is_wildcard(text):
        return None
    text = text.strip()
    parts = split_top_level(text)
    if len(parts) > 1:
        if any(not p for p in parts):
            raise ValueError(f"'{text}' has an empty alternative")
        return " or ".join(f"({_single_test(p, name)})" for p in parts)
    return _single_test(text, name)


def _single_test(text: str, name: str) -> str:
    if text.startswith("not(") and text.endswith(")") and _balanced(text[4:-1]):
        inner = entry_test(text[4:-1], name)
        return "True" if inner is None else f"not ({inner})"
    if text in _FEEL_CONSTANTS:
        return f"{name} == {_FEEL_CONSTANTS[text]}"
    ranged = _RANGE.match(text)
    if ranged and not _compiles(text):
        opening, low, high, closing = ranged.groups()
        low_op = "<=" if opening == "[" else "<"
        high_op = "<=" if closing == "]" else "<"
        return f"({low}) {low_op} {name} {high_op} ({high})"
    if "?" in _strip_strings(text):
        return _replace_question_mark(text, name)
    compared = _COMPARISON.match(text)
    if compared and not _compiles(text):
        return f"{name} {compared.group(1)} ({compared.group(2)})"
    if _compiles(text):
        return f"{name} == ({text})"
    if _compiles(f"{name} {text}"):  # "in (1, 2)", "not in [...]", "is None"
        return f"{name} {text}"
    raise ValueError(f"'{text}' is neither a value nor a test (like \"red\", >= 3, [1..5], \"a\",\"b\" or ? in (...))")


def _balanced(text: str) -> bool:
    depth = 0
    for ch in _strip_strings(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth < 0:
            return False
    return depth == 0


def _strip_strings(text: str) -> str:
    return re.sub(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'", '""', text)


def _entries(count: int, what: str) -> str:
    return f"{count} {what} entr{'y' if count == 1 else 'ies'}"


def column_name(index: int) -> str:
    return f"{PLACEHOLDER}{index}"


# ---------------------------------------------------------------------------------------------------------
# The run-time engine.

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
        for rule, test in zip(self.decision_table.rules, self._tests()):
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
        values = {}
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


# ---------------------------------------------------------------------------------------------------------
# Parsing: which decision a business rule task calls, and where its result goes.

def decision_ref(node: etree._Element) -> str | None:
    """The decision a business rule task calls: spiffworkflow:calledDecisionId, camunda:decisionRef or
    zeebe:calledDecision decisionId."""
    for called in node.iter(f"{{{SPIFF_NS}}}calledDecisionId"):
        if called.text and called.text.strip():
            return called.text.strip()
    ref = node.get(f"{{{CAMUNDA_NS}}}decisionRef")
    if ref and ref.strip():
        return ref.strip()
    for called in node.iter(f"{{{ZEEBE_NS}}}calledDecision"):
        if called.get("decisionId", "").strip():
            return called.get("decisionId").strip()
    return None


def result_mapping(node: etree._Element) -> ResultMapping:
    variable = node.get(f"{{{CAMUNDA_NS}}}resultVariable")
    if variable and variable.strip():
        style = node.get(f"{{{CAMUNDA_NS}}}mapDecisionResult") or "resultList"
        return ResultMapping(variable.strip(), style)
    for called in node.iter(f"{{{ZEEBE_NS}}}calledDecision"):
        if called.get("resultVariable", "").strip():
            return ResultMapping(called.get("resultVariable").strip(), "zeebe")
    return ResultMapping()


class WhistleBusinessRuleTaskParser(BusinessRuleTaskParser):
    """SpiffWorkflow's business rule task parser, reading Camunda 7 and Camunda 8 decision references too."""

    def create_task(self):
        ref = self.get_decision_ref(self.node)
        if not ref:
            self.raise_validation_exception("business rule task names no decision (spiffworkflow:calledDecisionId, "
                                            "camunda:decisionRef or zeebe:calledDecision)")
        extensions = self.parse_extensions()
        return BusinessRuleTask(self.spec, self.bpmn_id,
                                dmnEngine=self.process_parser.parser.get_engine(ref, self.node),
                                prescript=extensions.get("preScript"), postscript=extensions.get("postScript"),
                                **self.bpmn_attributes)

    @staticmethod
    def get_decision_ref(node):
        return decision_ref(node)


def engine_for(parser, ref: str, node) -> DecisionEngine:
    """What ``WhistleParser.get_engine`` returns: the decision's table in a :class:`DecisionEngine`."""
    if ref not in parser.dmn_parsers:
        available = ", ".join(sorted(parser.dmn_parsers)) or "none"
        raise ValidationException(f"uses decision '{ref}', which is not deployed with it (decisions available: "
                                  f"{available})", node=node, file_name="")
    dmn_parser = parser.dmn_parsers[ref]
    dmn_parser.parse()
    table = dmn_parser.decision.decisionTables[0]
    table_node = dmn_parser.node.find(".//{*}decision/{*}decisionTable")
    aggregation = table_node.get("aggregation") if table_node is not None else None
    return DecisionEngine(table, ref, aggregation, result_mapping(node))


# ---------------------------------------------------------------------------------------------------------
# Deploy-time checks of a DMN file (engine.lint calls this).

@dataclass(frozen=True)
class _Cell:
    kind: str  # any | set | interval | notset | opaque
    values: frozenset = frozenset()
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    high_open: bool = False
    text: str = ""


def _literal(text: str):
    value = ast.literal_eval(text.strip())
    hash(value)
    return value


def _literal_set(parts: list[str]) -> frozenset | None:
    try:
        return frozenset(_literal(_FEEL_CONSTANTS.get(p, p)) for p in parts)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _number(text: str) -> float | None:
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def classify(text: str | None) -> _Cell:
    """What an input entry accepts, as far as a table check can tell without running it."""
    if is_wildcard(text):
        return _Cell("any")
    text = text.strip()
    plain = " ".join(text.split())
    parts = split_top_level(text)
    if text.startswith("not(") and text.endswith(")") and _balanced(text[4:-1]):
        inner = classify(text[4:-1])
        if inner.kind == "set":
            return _Cell("notset", inner.values, text=plain)
        return _Cell("opaque", text=plain)
    values = _literal_set(parts)
    if values is not None:
        return _Cell("set", values, text=plain)
    if len(parts) == 1:
        membership = re.match(r"^(\?\s+)?(not\s+)?in\s+(.+)$", text, re.S)
        if membership:
            try:
                collection = ast.literal_eval(membership.group(3).strip())
                members = frozenset(collection) if isinstance(collection, (list, tuple, set, frozenset)) else None
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                members = None
            if members is not None:
                return _Cell("notset" if membership.group(2) else "set", members, text=plain)
        compared = _COMPARISON.match(text)
        if compared:
            op, number = compared.group(1), _number(compared.group(2))
            if op in ("==",):
                single = _literal_set([compared.group(2)])
                if single is not None:
                    return _Cell("set", single, text=plain)
            if op == "!=":
                single = _literal_set([compared.group(2)])
                if single is not None:
                    return _Cell("notset", single, text=plain)
            if number is not None and op in ("<", "<=", ">", ">="):
                if op.startswith("<"):
                    return _Cell("interval", high=number, high_open=op == "<", text=plain)
                return _Cell("interval", low=number, low_open=op == ">", text=plain)
        ranged = _RANGE.match(text)
        if ranged:
            low, high = _number(ranged.group(2)), _number(ranged.group(3))
            if low is not None and high is not None:
                return _Cell("interval", low=low, low_open=ranged.group(1) != "[", high=high,
                             high_open=ranged.group(4) != "]", text=plain)
    return _Cell("opaque", text=plain)


def _in_interval(value, cell: _Cell) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    if cell.low is not None and (value < cell.low or (cell.low_open and value == cell.low)):
        return False
    if cell.high is not None and (value > cell.high or (cell.high_open and value == cell.high)):
        return False
    return True


def _interval_empty(cell: _Cell) -> bool:
    if cell.low is None or cell.high is None:
        return False
    return cell.low > cell.high or (cell.low == cell.high and (cell.low_open or cell.high_open))


def cells_overlap(a: _Cell, b: _Cell) -> bool | None:
    """True: some input value matches both; False: none does; None: cannot tell."""
    if a.kind == "any" or b.kind == "any":
        other = b if a.kind == "any" else a
        if other.kind == "interval":
            return not _interval_empty(other)
        if other.kind == "set":
            return bool(other.values)
        return True if other.kind in ("any", "notset") else None
    if a.kind == "opaque" or b.kind == "opaque":
        return True if a.kind == b.kind and a.text == b.text else None
    if a.kind == "set" and b.kind == "set":
        return bool(a.values & b.values)
    if a.kind == "notset" and b.kind == "notset":
        return True
    if {a.kind, b.kind} == {"set", "notset"}:
        included, excluded = (a, b) if a.kind == "set" else (b, a)
        return bool(included.values - excluded.values)
    if {a.kind, b.kind} == {"set", "interval"}:
        values, interval = (a, b) if a.kind == "set" else (b, a)
        return any(_in_interval(v, interval) for v in values.values)
    if a.kind == "interval" and b.kind == "interval":
        low, low_open = max(((a.low, a.low_open), (b.low, b.low_open)),
                            key=lambda x: (float("-inf") if x[0] is None else x[0], x[1]))
        high, high_open = min(((a.high, a.high_open), (b.high, b.high_open)),
                              key=lambda x: (float("inf") if x[0] is None else x[0], not x[1]))
        return not _interval_empty(_Cell("interval", low=low, low_open=low_open, high=high, high_open=high_open))
    if {a.kind, b.kind} == {"notset", "interval"}:
        interval = a if a.kind == "interval" else b
        excluded = b if interval is a else a
        if _interval_empty(interval):
            return False
        if interval.low is not None and interval.low == interval.high:
            return interval.low not in excluded.values
        return True
    return None


def _text(element) -> str | None:
    node = element.find("{*}text")
    return node.text if node is not None else None


def check_dmn(file_name: str, root: etree._Element) -> list[Problem]:
    """Deploy problems of one DMN document: structure, expressions that do not compile in the sandbox,
    and overlapping rules under hit policy UNIQUE (ANY: overlapping rules with different outputs)."""
    problems: list[Problem] = []

    def problem(element, message: str, severity: str = "error", element_id: str | None = None) -> None:
        problems.append(Problem(file_name, element.sourceline, element_id or element.get("id"), message, severity))

    decisions = root.findall("{*}decision")
    if not decisions:
        problems.append(Problem(file_name, root.sourceline, root.get("id"), "the DMN file defines no decision"))
    if len(decisions) > 1:
        problem(decisions[1], f"the DMN file defines {len(decisions)} decisions ("
                              f"{', '.join(str(d.get('id')) for d in decisions)}); Whistle deploys one decision per "
                              f"file: put each decision table in its own .dmn file")
    for decision in decisions[:1]:
        did = decision.get("id")
        tables = decision.findall("{*}decisionTable")
        if not tables:
            other = next((c for c in decision if isinstance(c.tag, str)
                          and etree.QName(c).localname in ("literalExpression", "context", "invocation",
                                                             "relation", "list", "functionDefinition")), None)
            what = f"a {etree.QName(other).localname}" if other is not None else "no decision table"
            problem(decision, f"decision '{did}' has {what}; Whistle runs decision tables only")
            continue
        if len(tables) > 1:
            problem(tables[1], f"decision '{did}' has {len(tables)} decision tables; Whistle runs one per decision")
        _check_table(did, tables[0], problem)
    return problems


def _check_table(did: str, table, problem) -> None:
    policy = (table.get("hitPolicy") or "UNIQUE").upper()
    aggregation = table.get("aggregation")
    if policy not in SUPPORTED_HIT_POLICIES:
        hint = "; use FIRST with the rules in priority order" if policy in ("PRIORITY", "OUTPUT ORDER") else ""
        problem(table, f"decision '{did}': hit policy {policy} is not supported (supported: "
                       f"{', '.join(SUPPORTED_HIT_POLICIES)}){hint}")
    if aggregation is not None:
        if policy != "COLLECT":
            problem(table, f"decision '{did}': aggregation {aggregation} is only allowed with hit policy COLLECT")
        elif aggregation.upper() not in AGGREGATIONS:
            problem(table, f"decision '{did}': aggregation {aggregation} is not one of {', '.join(AGGREGATIONS)}")
    inputs = table.findall("{*}input")
    outputs = table.findall("{*}output")
    rules = table.findall("{*}rule")
    for child in table:
        if isinstance(child.tag, str) and etree.QName(child).localname not in ("input", "output", "rule"):
            problem(child, f"decision '{did}': <{etree.QName(child).localname}> directly inside the decision table "
                           f"cannot be read; remove it (a table holds only input, output and rule elements)")
    if not outputs:
        problem(table, f"decision '{did}' has no output column: it would decide nothing")
    if aggregation is not None and len(outputs) > 1:
        problem(table, f"decision '{did}': aggregation {aggregation} needs exactly one output column, "
                       f"the table has {len(outputs)}")
    if not rules:
        problem(table, f"decision '{did}' has no rules: the table is empty")

    for index, column in enumerate(inputs, start=1):
        expression = column.find("{*}inputExpression")
        text = _text(expression) if expression is not None else None
        label = column.get("label") or column.get("id")
        if text is None or not text.strip():
            problem(column, f"decision '{did}': input column {index} ('{label}') has no input expression "
                            f"(name the variable it reads, like situation)")
            continue
        for error in compile_errors(text.strip(), "eval"):
            problem(expression, f"decision '{did}': input expression '{text.strip()}' of column {index} "
                                f"('{label}') does not compile: {error}",
                    element_id=expression.get("id") or column.get("id"))

    names = []
    for index, column in enumerate(outputs, start=1):
        name = column.get("name") or column.get("label")
        if not name:
            problem(column, f"decision '{did}': output column {index} has no name: its value would have "
                            f"nowhere to go")
        elif not re.match(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$", name):
            problem(column, f"decision '{did}': output name '{name}' is not a variable name (letters, digits "
                            f"and _; dots for nested values)")
        elif name in names:
            problem(column, f"decision '{did}': output name '{name}' is used by two columns")
        names.append(name)

    cells_by_rule = []
    for row, rule in enumerate(rules, start=1):
        rid = rule.get("id")
        entries = rule.findall("{*}inputEntry")
        results = rule.findall("{*}outputEntry")
        if len(entries) != len(inputs):
            problem(rule, f"decision '{did}': rule {row} ('{rid}') has {_entries(len(entries), 'input')} but the table "
                          f"has {len(inputs)} input columns"
                    + ("; an entry refers to an input column that does not exist" if len(entries) > len(inputs)
                       else ""))
        if len(results) != len(outputs):
            problem(rule, f"decision '{did}': rule {row} ('{rid}') has {_entries(len(results), 'output')} but the "
                          f"table has {len(outputs)} output columns"
                    + ("; an entry refers to an output column that does not exist" if len(results) > len(outputs)
                       else ""))
        cells = []
        for column, entry in enumerate(entries[:len(inputs)]):
            text = _text(entry)
            try:
                test = entry_test(text, column_name(column))
            except ValueError as exc:
                problem(entry, f"decision '{did}': rule {row} ('{rid}'), input column {column + 1}: {exc}")
                cells.append(_Cell("opaque", text=f"#{row}-{column}"))
                continue
            if test is not None:
                for error in compile_errors(test, "eval"):
                    problem(entry, f"decision '{did}': rule {row} ('{rid}'), input entry '{text.strip()}' does not "
                                   f"compile: {error}")
            cells.append(classify(text))
        for column, entry in enumerate(results[:len(outputs)]):
            text = _text(entry)
            if text is None or not text.strip():
                continue
            for error in compile_errors(text.strip(), "eval"):
                problem(entry, f"decision '{did}': rule {row} ('{rid}'), output entry '{text.strip()}' does not "
                               f"compile: {error}")
        outputs_text = tuple(" ".join((_text(e) or "").split()) for e in results)
        cells_by_rule.append((row, rule, cells, outputs_text,
                              len(entries) == len(inputs) and len(results) == len(outputs)))

    if policy in ("UNIQUE", "ANY"):
        _check_overlaps(did, policy, inputs, cells_by_rule, problem)


def _check_overlaps(did, policy, inputs, cells_by_rule, problem) -> None:
    labels = [(c.get("label") or _text(c.find("{*}inputExpression")) or c.get("id") or "?").strip() for c in inputs]
    reported = 0
    for i, (row_a, rule_a, cells_a, out_a, ok_a) in enumerate(cells_by_rule):
        if not ok_a:
            continue
        for row_b, rule_b, cells_b, out_b, ok_b in cells_by_rule[i + 1:]:
            if not ok_b:
                continue
            if policy == "ANY" and out_a == out_b:
                continue
            verdicts = [cells_overlap(a, b) for a, b in zip(cells_a, cells_b)]
            if not all(v is True for v in verdicts):
                continue
            if reported >= 20:
                return
            reported += 1
            shared = "; ".join(f"{label}: {a.text or 'any'} / {b.text or 'any'}"
                               for label, a, b in zip(labels, cells_a, cells_b)) or "the table has no inputs"
            if policy == "UNIQUE":
                message = (f"decision '{did}' (hit policy UNIQUE): rules {row_a} ('{rule_a.get('id')}') and "
                           f"{row_b} ('{rule_b.get('id')}') overlap: an input can match both ({shared}); make "
                           f"their entries exclusive, or use hit policy FIRST if the first match should win")
            else:
                message = (f"decision '{did}' (hit policy ANY): rules {row_a} ('{rule_a.get('id')}') and "
                           f"{row_b} ('{rule_b.get('id')}') overlap but give different outputs ({shared})")
            problem(rule_b, message)
