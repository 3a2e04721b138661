"""Reading a decision table's outputs when they are literals, outside a workflow: the dashboards take the
吹哨率 band from ``evaluation-weights.dmn`` (``whistle_rate_low``, ``whistle_rate_high``, ``street_min_cases``)
as the evaluation does, so the band lives in the table and never in Python code."""
from __future__ import annotations

import ast
from typing import Any

from lxml import etree

DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"


def _literal(text: str | None) -> Any:
    try:
        return ast.literal_eval((text or "").strip())
    except (ValueError, SyntaxError):
        return None


def rule_outputs(xml: str, decision_id: str, year: int | None = None) -> dict[str, Any]:
    """The outputs of the first rule of ``decision_id`` that applies to every input ("-") or whose first input
    is ``year``, by output name; an output that is not a literal is None. Empty when no rule applies."""
    root = etree.fromstring(xml.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    ns = {"d": DMN13}
    decision = root.find(f"d:decision[@id='{decision_id}']", ns)
    if decision is None:
        return {}
    names = [o.get("name") for o in decision.iterfind("d:decisionTable/d:output", ns)]
    for rule in decision.iterfind("d:decisionTable/d:rule", ns):
        entries = [e.findtext("d:text", default="", namespaces=ns).strip()
                   for e in rule.iterfind("d:inputEntry", ns)]
        first = entries[0] if entries else "-"
        if first in ("-", "") or (year is not None and _literal(first) == year):
            values = [_literal(e.findtext("d:text", default="", namespaces=ns))
                      for e in rule.iterfind("d:outputEntry", ns)]
            return dict(zip(names, values, strict=False))
    return {}
