"""Deploy-time checks of a DMN file (``engine.deploy.lint`` calls :func:`check_dmn`): structure, expressions
that do not compile in the sandbox, and overlapping rules under hit policy UNIQUE (ANY: overlapping rules with
different outputs)."""
from __future__ import annotations

import re

from lxml import etree

from engine.dmn.decisions import AGGREGATIONS, SUPPORTED_HIT_POLICIES
from engine.dmn.entries import Cell, cells_overlap, classify, column_name, entry_test
from engine.errors import Problem
from engine.scripting.policy import compile_errors


def _entries(count: int, what: str) -> str:
    return f"{count} {what} entr{'y' if count == 1 else 'ies'}"


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


def _check_table(did: str, table, problem) -> None:  # noqa: C901 - the table's checks, one after another
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
                cells.append(Cell("opaque", text=f"#{row}-{column}"))
                continue
            if test is not None:
                for error in compile_errors(test, "eval"):
                    problem(entry, f"decision '{did}': rule {row} ('{rid}'), input entry '{(text or '').strip()}' "
                                   f"does not compile: {error}")
            cells.append(classify(text))
        for entry in results[:len(outputs)]:
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
            verdicts = [cells_overlap(a, b) for a, b in zip(cells_a, cells_b, strict=False)]
            if not all(v is True for v in verdicts):
                continue
            if reported >= 20:
                return
            reported += 1
            shared = "; ".join(f"{label}: {a.text or 'any'} / {b.text or 'any'}"
                               for label, a, b in zip(labels, cells_a, cells_b, strict=False)) \
                or "the table has no inputs"
            if policy == "UNIQUE":
                message = (f"decision '{did}' (hit policy UNIQUE): rules {row_a} ('{rule_a.get('id')}') and "
                           f"{row_b} ('{rule_b.get('id')}') overlap: an input can match both ({shared}); make "
                           f"their entries exclusive, or use hit policy FIRST if the first match should win")
            else:
                message = (f"decision '{did}' (hit policy ANY): rules {row_a} ('{rule_a.get('id')}') and "
                           f"{row_b} ('{rule_b.get('id')}') overlap but give different outputs ({shared})")
            problem(rule_b, message)
