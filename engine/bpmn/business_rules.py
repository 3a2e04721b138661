"""Business rule tasks: which decision one calls (SpiffArena's ``spiffworkflow:calledDecisionId``, Camunda 7's
``camunda:decisionRef``, Camunda 8's ``zeebe:calledDecision``) and where its result goes, bound at parse time to
the decision table's :class:`~engine.dmn.decisions.DecisionEngine`."""
from __future__ import annotations

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.task_spec import BusinessRuleTaskParser
from SpiffWorkflow.spiff.specs.defaults import BusinessRuleTask

from engine.bpmn.namespaces import CAMUNDA_NS, SPIFF_NS, ZEEBE_NS
from engine.dmn.decisions import DecisionEngine, ResultMapping


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
    """Where the business rule task ``node`` puts its decision's result (``camunda:resultVariable`` with
    ``camunda:mapDecisionResult``, ``zeebe:calledDecision resultVariable``; by default the outputs' own names)."""
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
