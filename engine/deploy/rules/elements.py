"""The rules about one BPMN element's own content: its name, who a human task is offered to, scripts and
expressions (they compile in the sandbox), timers (ISO 8601 or an expression), multi-instance limits,
interrupting events on multi-instance activities, and whether it is on the diagram."""
from __future__ import annotations

import re

from lxml import etree

from engine.bpmn.assignments import expression_of, read_assignment
from engine.bpmn.modelers import local
from engine.bpmn.namespaces import SPIFF_NS, bpmn_tag
from engine.bpmn.timers import normalise_expression
from engine.deploy.rules.common import FLOW_NODES, GATEWAYS, HUMAN_TASKS, Linter, describe, event_definitions
from engine.notifications.events import parse_declaration
from engine.scripting.policy import compile_errors
from engine.time.iso8601 import TimerValueError, validate_literal


def check_node(lint: Linter, node: etree._Element) -> None:  # noqa: C901 - one rule after another
    """The rules about one flow element's own content: its name, assignment, scripts, expressions, timers."""
    kind = local(node)
    label = describe(node)
    if kind not in GATEWAYS and not (node.get("name") or "").strip():
        lint.report(node, "label-required", f"{label} has no name; name it so people see what it is in the "
                                            f"inbox, the diagram and the audit trail")
    if kind in HUMAN_TASKS:
        _assignment(lint, node, label)
    if kind == "scriptTask":
        script = node.find(bpmn_tag("script"))
        text = script.text if script is not None else None
        if text is None or not text.strip():
            lint.report(node, "script-compiles", f"{label} has no script; write the Python script it runs, or "
                                                 f"make it a plain task")
        else:
            check_script(lint, script if script is not None else node, text, f"the script of {label}", "exec", node)
    ext = node.find(bpmn_tag("extensionElements"))
    if ext is not None:
        for tag, what in (("preScript", "pre-script"), ("postScript", "post-script")):
            for element in ext.findall(f"{{{SPIFF_NS}}}{tag}"):
                if element.text and element.text.strip():
                    check_script(lint, element, element.text, f"the {what} of {label}", "exec", node)
        for element in ext.findall(f"{{{SPIFF_NS}}}messagePayload"):
            if element.text and element.text.strip():
                check_expression(lint, element, element.text, f"the message payload of {label}", owner=node)
    for loop in node.findall(bpmn_tag("multiInstanceLoopCharacteristics")):
        for tag, what in (("loopCardinality", "loop cardinality"), ("completionCondition", "completion condition")):
            element = loop.find(bpmn_tag(tag))
            if element is not None and element.text and element.text.strip():
                check_expression(lint, element, element.text, f"the {what} of {label}", owner=node)
        cardinality = loop.find(bpmn_tag("loopCardinality"))
        text = (cardinality.text or "").strip() if cardinality is not None else ""
        if text.isdigit() and int(text) > lint.max_branches:
            lint.report(node, "max-branches", f"{label} runs {int(text):,} instances at once (the limit is "
                                              f"{lint.max_branches:,}, WHISTLE_DEPLOY_MAX_BRANCHES)")
    for loop in node.findall(bpmn_tag("standardLoopCharacteristics")):
        element = loop.find(bpmn_tag("loopCondition"))
        if element is not None and element.text and element.text.strip():
            check_expression(lint, element, element.text, f"the loop condition of {label}", owner=node)
    if kind == "boundaryEvent" and node.get("cancelActivity", "true").strip().lower() != "false":
        hosts = lint.root.iter(bpmn_tag("subProcess"), bpmn_tag("callActivity"), bpmn_tag("transaction"))
        host = next((el for el in hosts if el.get("id") == node.get("attachedToRef")), None)
        if host is not None and host.find(bpmn_tag("multiInstanceLoopCharacteristics")) is not None:
            lint.report(node, "no-interrupting-multi-instance",
                        f"{label} interrupts the multi-instance {describe(host)}: SpiffWorkflow 3.2 cancels the "
                        f"activity but leaves each instance's sub-process running, and the next step of the case "
                        f"fails; put the interrupting event inside the instances (wrap their work in an embedded "
                        f"sub-process and attach it there) or make it non-interrupting")
    for definition in event_definitions(node):
        if local(definition) == "timerEventDefinition":
            _timer(lint, node, definition, label)
        elif local(definition) == "conditionalEventDefinition":
            condition = definition.find(bpmn_tag("condition"))
            if condition is None or not (condition.text or "").strip():
                lint.report(node, "script-compiles", f"{label} is a conditional event without a condition")
            else:
                check_expression(lint, condition, condition.text, f"the condition of {label}", owner=node)


def _assignment(lint: Linter, node: etree._Element, label: str) -> None:
    lane = _lane_of(lint, node)
    assignment = read_assignment(node, lane)
    values = {"candidate groups": assignment.candidate_groups, "candidate users": assignment.candidate_users,
              "assignee": assignment.assignee, "form key": assignment.form_key,
              "due date": assignment.due_date, "priority": assignment.priority}
    for what, value in values.items():
        if value is None:
            continue
        expression = expression_of(value)
        if expression is not None:
            if not expression:
                lint.report(node, "script-compiles", f"the {what} of {label} is an empty expression")
            else:
                check_expression(lint, node, expression, f"the {what} of {label}", owner=node, rule="script-compiles")
    if assignment.notify is not None:
        try:
            parse_declaration(assignment.notify)
        except ValueError as exc:
            lint.report(node, "notify-declaration", f"the notify property of {label}: {exc}")
    offered = [v for v in (assignment.candidate_groups, assignment.candidate_users, assignment.assignee)
               if v is not None and (expression_of(v) is not None or any(x.strip() for x in v.split(",")))]
    if not offered:
        lint.report(node, "human-task-assignment",
                    f"{label} is offered to nobody: set candidate groups (camunda:candidateGroups, "
                    f"zeebe:assignmentDefinition, a spiffworkflow property candidateGroups, or put it in a named "
                    f"lane), candidate users or an assignee")


def _lane_of(lint: Linter, node: etree._Element) -> str | None:
    current = node
    while current is not None:
        lane = lint.lanes.get(current.get("id") or "")
        if lane:
            return lane
        current = current.getparent()
        if current is not None and local(current) == "process":
            break
    return None


def _timer(lint: Linter, node: etree._Element, definition: etree._Element, label: str) -> None:
    given = [(kind, definition.find(bpmn_tag(tag))) for kind, tag in
             (("date", "timeDate"), ("duration", "timeDuration"), ("cycle", "timeCycle"))]
    given = [(kind, el) for kind, el in given if el is not None]
    if not given:
        lint.report(node, "timer-expression", f"{label} is a timer without timeDate, timeDuration or timeCycle; "
                                              f"set one (like PT30M)")
        return
    for kind, element in given:
        tag = local(element)
        expression, literal = normalise_expression(element.text)
        if expression is None:
            lint.report(node, "timer-expression", f"the {tag} of {label} is empty; write an ISO 8601 value "
                                                  f"(like PT30M) or an expression")
        elif literal is not None:
            try:
                validate_literal(kind, literal)
            except TimerValueError as exc:
                lint.report(node, "timer-expression", f"the {tag} of {label}: {exc}")
        else:
            errors = compile_errors(expression, "eval")
            if errors:
                lint.report(node, "timer-expression",
                            f"the {tag} '{element.text.strip()}' of {label} is neither an ISO 8601 value (like "
                            f"PT30M) nor an expression the sandbox accepts: {'; '.join(errors)}")


def check_script(lint: Linter, element: etree._Element, text: str, what: str, mode: str,
                 owner: etree._Element) -> None:
    errors = compile_errors(text, mode)
    if errors:
        lint.report(owner, "script-compiles", f"{what} does not compile in the sandbox: {'; '.join(errors)}")


def check_expression(lint: Linter, element: etree._Element, text: str, what: str,
                     owner: etree._Element | None = None, rule: str = "script-compiles") -> None:
    text = text.strip()
    errors = compile_errors(text, "eval")
    if errors:
        hint = ""
        if re.search(r"(^|[^=!<>])=([^=]|$)", text) or "&&" in text or "||" in text:
            hint = " (expressions are Python: == for equality, and/or/not; FEEL and JUEL are not supported)"
        lint.report(owner if owner is not None else element, rule,
                    f"{what} '{text}' does not compile in the sandbox: {'; '.join(errors)}{hint}")


def check_diagram(lint: Linter, process: etree._Element) -> None:
    """Every flow element and sequence flow of a process is drawn (has a BPMNDI shape or edge)."""
    elements = [el for el in process.iter() if isinstance(el.tag, str)
                and (local(el) in FLOW_NODES or local(el) == "sequenceFlow") and el.get("id")]
    missing = [el for el in elements if el.get("id") not in lint.di]
    if not missing:
        return
    if len(missing) == len(elements):
        lint.report(process, "no-bpmndi", f"process '{process.get('id')}' has no diagram (BPMNDI): it cannot be "
                                          f"drawn in the designer or the admin view; open and save it in a "
                                          f"modeler to lay it out")
        return
    for element in missing:
        lint.report(element, "no-bpmndi", f"{describe(element)} is not on the diagram (no BPMNDI shape or edge)")

