"""What Whistle cannot run, in files from real modelers: Java delegates, external tasks, connectors, listeners,
input/output mappings, job workers, link events, complex gateways… reported as deploy problems naming the element
and its line, instead of a crash (or, worse, silently different behaviour) at run time. Extensions that do not
change what happens (history time to live, async flags, version tags) are accepted silently; a few that Whistle
ignores but a designer may rely on are warnings. (The dialects Whistle does run are rewritten by
``engine.bpmn.modelers.normalise``.)
"""
from __future__ import annotations

import re

from lxml import etree

from engine.bpmn.modelers import local, plain_name
from engine.bpmn.namespaces import (
    BPMN_NS,
    CAMUNDA_NS,
    DISPLAY_NAMESPACES,
    SPIFF_NS,
    ZEEBE_NS,
    bpmn_tag,
    camunda_tag,
    zeebe_tag,
)
from engine.dmn.decisions import MAP_DECISION_RESULT
from engine.errors import Problem
from engine.scripting.services import operator_problems

PYTHON_LANGUAGES = {"", "python", "py", "python3", "text/x-python", "application/x-python"}


_UNSUPPORTED_ELEMENTS = {
    "complexGateway": "complex gateways cannot run in Whistle (SpiffWorkflow has no complex gateway); model the "
                      "join with an inclusive or parallel gateway and a condition",
    "dataStoreReference": "data stores are not supported; keep the data in the case data (process variables) or "
                          "a catalog file",
    "globalScriptTask": "global tasks are not supported",
    "globalUserTask": "global tasks are not supported",
    "globalManualTask": "global tasks are not supported",
    "globalBusinessRuleTask": "global tasks are not supported",
    "callChoreography": "choreographies are not supported",
    "choreographyTask": "choreographies are not supported",
    "subChoreography": "choreographies are not supported",
}

_CAMUNDA_DELEGATE_ATTRIBUTES = {
    "class": "a Java class (camunda:class)",
    "delegateExpression": "a Java delegate expression (camunda:delegateExpression)",
    "expression": "a JUEL expression (camunda:expression)",
}

# camunda: attributes that change nothing in Whistle and are accepted silently.
_CAMUNDA_IGNORED_ATTRIBUTES = {
    "historyTimeToLive", "versionTag", "isStartableInTasklist", "candidateStarterGroups", "candidateStarterUsers",
    "asyncBefore", "asyncAfter", "exclusive", "jobPriority", "taskPriority", "async", "formHandlerClass",
    "formRefBinding", "formRefVersion", "calledElementTenantId", "decisionRefTenantId", "calledElementBinding",
    "calledElementVersion", "calledElementVersionTag", "decisionRefBinding", "decisionRefVersion",
    "decisionRefVersionTag", "formRef", "variableName", "diagramRelationId",
}
# camunda: attributes Whistle reads.
_CAMUNDA_SUPPORTED_ATTRIBUTES = {
    "candidateGroups", "candidateUsers", "assignee", "formKey", "dueDate", "priority", "decisionRef",
    "resultVariable", "mapDecisionResult", "collection", "elementVariable",
}
# camunda: attributes reported (or read) by the checks below.
_CAMUNDA_KNOWN_ATTRIBUTES = _CAMUNDA_IGNORED_ATTRIBUTES | _CAMUNDA_SUPPORTED_ATTRIBUTES | {
    "class", "delegateExpression", "expression", "type", "topic", "initiator", "resource", "caseRef",
    "variableMappingClass", "variableMappingDelegateExpression", "errorCodeVariable", "errorMessageVariable",
    "escalationCodeVariable", "followUpDate", "caseBinding", "caseVersion", "caseTenantId", "modelerTemplate",
    "modelerTemplateVersion", "modelerTemplateIcon",
}
# camunda: extension elements Whistle reads or that change nothing.
_CAMUNDA_OK_ELEMENTS = {"properties", "property", "failedJobRetryTimeCycle", "potentialStarter", "in", "out",
                        "formData", "formField", "validation", "constraint", "value"}
_CAMUNDA_UNSUPPORTED_ELEMENTS = {
    "inputOutput": "input/output mappings (camunda:inputOutput) are not applied by Whistle; compute the "
                   "values in a script task or a pre-/post-script (spiffworkflow:preScript) instead",
    "connector": "connectors (camunda:connector) cannot run in Whistle",
    "executionListener": "execution listeners (camunda:executionListener) cannot run in Whistle; use a script "
                         "task or a pre-/post-script",
    "taskListener": "task listeners (camunda:taskListener) cannot run in Whistle; use a pre-/post-script",
    "errorEventDefinition": "error event definitions of external tasks (camunda:errorEventDefinition) are not "
                            "supported",
}
_ZEEBE_OK_ELEMENTS = {"assignmentDefinition", "formDefinition", "taskSchedule", "priorityDefinition", "userTask",
                      "properties", "property", "taskHeaders", "header", "calledDecision", "calledElement",
                      "versionTag", "subscription", "userTaskForm", "loopCharacteristics"}
_ZEEBE_UNSUPPORTED_ELEMENTS = {
    "ioMapping": "input/output mappings (zeebe:ioMapping) are not applied by Whistle; compute the values in a "
                 "script task or a pre-/post-script instead",
    "taskDefinition": "job workers (zeebe:taskDefinition type '{type}') cannot run in Whistle: nothing would pick "
                      "the job up",
    "script": "FEEL script tasks (zeebe:script) are not supported; write the script task in Python",
    "executionListeners": "execution listeners (zeebe:executionListeners) cannot run in Whistle",
    "executionListener": "execution listeners (zeebe:executionListeners) cannot run in Whistle",
    "taskListeners": "task listeners (zeebe:taskListeners) cannot run in Whistle",
    "taskListener": "task listeners (zeebe:taskListeners) cannot run in Whistle",
    "linkedResources": "linked resources (zeebe:linkedResources) are not supported",
    "adHoc": "ad-hoc sub-process collections (zeebe:adHoc) are not supported",
}


def check(file_name: str, root: etree._Element) -> list[Problem]:
    """Deploy problems for modeler extensions and BPMN elements Whistle cannot run (errors) or ignores
    although a designer may rely on them (warnings)."""
    problems: list[Problem] = []
    seen: set[tuple] = set()

    def report(element, message: str, severity: str = "error") -> None:
        target = _owner(element)
        if target.get("id") and target.get("id") not in message:
            message = f"{_describe(target)}: {message}"
        # The line of the offending element itself (an extension, an event definition), the id of its owner.
        line = element.sourceline or target.sourceline
        key = (line, message)
        if key in seen:
            return
        seen.add(key)
        problems.append(Problem(file_name, line, target.get("id"), message, severity))

    processes = root.findall(bpmn_tag("process"))
    if processes and not any(p.get("isExecutable") == "true" for p in processes):
        report(processes[0], "no process in this file is executable (isExecutable=\"true\"): nothing would be "
                             "deployed; tick \"Executable\" in the modeler's properties panel")
    for process in processes:
        if process.get("isExecutable") != "true" and any(p.get("isExecutable") == "true" for p in processes):
            report(process, f"process '{process.get('id')}' is not executable: it is not deployed (only its "
                            f"executable neighbours are)", "warning")

    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        namespace = etree.QName(element).namespace
        name = local(element)
        if namespace == BPMN_NS:
            _check_bpmn_element(element, name, report)
        elif namespace == CAMUNDA_NS:
            _check_camunda_element(element, name, report)
        elif namespace == ZEEBE_NS:
            _check_zeebe_element(element, name, report)
        elif namespace in (SPIFF_NS, *DISPLAY_NAMESPACES) or namespace is None:
            pass
        elif element.getparent() is not None and local(element.getparent()) == "extensionElements":
            report(element, f"extension <{element.prefix or namespace}:{name}> is not understood by Whistle and "
                            f"is ignored", "warning")
    return problems


def _describe(element) -> str:
    kind = re.sub(r"(?<!^)([A-Z])", r" \1", local(element)).lower()
    name = (element.get("name") or "").strip()
    return f"{kind} '{name}' ({element.get('id')})" if name else f"{kind} '{element.get('id')}'"


def _owner(element):
    """The nearest enclosing element with an id (problems are pinned on BPMN elements, not extensions)."""
    node = element
    while node is not None:
        if isinstance(node.tag, str) and node.get("id") and etree.QName(node).namespace == BPMN_NS \
                and not local(node).endswith("EventDefinition"):
            return node
        node = node.getparent()
    return element


def _check_bpmn_element(element, name: str, report) -> None:  # noqa: C901 - one case per modeler extension element
    if name in _UNSUPPORTED_ELEMENTS:
        report(element, _UNSUPPORTED_ELEMENTS[name])
    elif name == "serviceTask":
        message = _service_task_message(element)
        if message:
            report(element, message)
    elif name == "linkEventDefinition":
        report(element, "link events are not supported (SpiffWorkflow would end the path at the throw event); "
                        "draw the sequence flow instead")
    elif name == "scriptTask":
        language = (element.get("scriptFormat") or "").strip().lower()
        if language not in PYTHON_LANGUAGES:
            report(element, f"script format '{element.get('scriptFormat')}' is not supported: Whistle runs Python "
                            f"scripts (in its sandbox); rewrite the script in Python and remove scriptFormat")
        if element.get(camunda_tag("resource")):
            report(element, f"external script resources (camunda:resource='{element.get(camunda_tag('resource'))}') "
                            f"are not supported; put the script into the script task")
        if element.get(camunda_tag("resultVariable")):
            report(element, "camunda:resultVariable on a script task is not supported; assign the variable in the "
                            "script (name = value)")
    elif name in ("conditionExpression", "completionCondition", "condition"):
        language = (element.get("language") or "").strip().lower()
        if language not in PYTHON_LANGUAGES:
            report(element, f"expression language '{element.get('language')}' is not supported: conditions are "
                            f"Python expressions")
        if element.get(camunda_tag("resource")):
            report(element, "external condition scripts (camunda:resource) are not supported")
    elif name == "startEvent" and element.get(camunda_tag("initiator")):
        report(element, f"camunda:initiator is not supported: the starting user is not stored in variable "
                        f"'{element.get(camunda_tag('initiator'))}'; pass it in the start data instead")
    elif name == "callActivity":
        if element.get(camunda_tag("caseRef")):
            report(element, "calling a CMMN case (camunda:caseRef) is not supported")
        for attribute in ("variableMappingClass", "variableMappingDelegateExpression"):
            if element.get(camunda_tag(attribute)):
                report(element, f"camunda:{attribute} is not supported; Whistle passes all variables to the called "
                                f"process and back")
    elif name == "multiInstanceLoopCharacteristics":
        collection = element.get(camunda_tag("collection"))
        if collection and plain_name(collection) is None and element.find(bpmn_tag("loopDataInputRef")) is None:
            report(element, f"multi-instance collection '{collection}' must be a variable name (like "
                            f"departments); compute the list in a script task before the activity")
    elif name in ("errorEventDefinition", "escalationEventDefinition"):
        for attribute in ("errorCodeVariable", "errorMessageVariable", "escalationCodeVariable"):
            if element.get(camunda_tag(attribute)):
                report(element, f"camunda:{attribute} is not supported: the variable would never be set")
    elif name in ("messageEventDefinition",) and (element.get(camunda_tag("type"))
                                                 or element.get(camunda_tag("topic"))):
        report(element, "external task topics (camunda:type/camunda:topic) cannot run in Whistle")
    elif name == "lane" and not (element.get("name") or "").strip():
        pass  # lint reports unnamed lanes
    if name == "businessRuleTask":
        style = element.get(camunda_tag("mapDecisionResult"))
        if style is not None and style not in MAP_DECISION_RESULT:
            report(element, f"camunda:mapDecisionResult '{style}' is not one of {', '.join(MAP_DECISION_RESULT)}")
    for attribute in element.attrib:
        if attribute.startswith(f"{{{CAMUNDA_NS}}}"):
            short = attribute.split("}", 1)[1]
            if short not in _CAMUNDA_KNOWN_ATTRIBUTES:
                report(element, f"camunda:{short} is not supported by Whistle and is ignored", "warning")
    if name in ("userTask", "manualTask") and element.get(camunda_tag("followUpDate")):
        report(element, "camunda:followUpDate is ignored (Whistle's inbox has due dates, not follow-up dates)",
               "warning")
    for attribute, what in _CAMUNDA_DELEGATE_ATTRIBUTES.items():
        if element.get(camunda_tag(attribute)) is not None and name != "serviceTask":
            report(element, f"calls {what} '{element.get(camunda_tag(attribute))}': Java code cannot run in Whistle; "
                            f"use a script task (Python) instead")
    if element.get(camunda_tag("type")) == "external" and name not in ("serviceTask", "messageEventDefinition"):
        report(element, f"external tasks (camunda:type=\"external\", topic '{element.get(camunda_tag('topic'))}') "
                        f"cannot run in Whistle: no worker would fetch them")


def _service_task_message(element) -> str | None:
    sid = element.get("id")
    operator = element.find(f".//{{{SPIFF_NS}}}serviceTaskOperator")
    implemented_otherwise = ("class", "delegateExpression", "expression", "type", "topic")
    if operator is not None and not any(element.get(camunda_tag(a)) for a in implemented_otherwise):
        found = operator_problems(operator)
        return f"service task '{sid}' calls service '{operator.get('id')}': {'; '.join(found)}" if found else None
    if element.get(camunda_tag("class")):
        how = f"calls the Java class '{element.get(camunda_tag('class'))}' (camunda:class)"
    elif element.get(camunda_tag("delegateExpression")):
        how = f"calls the Java delegate '{element.get(camunda_tag('delegateExpression'))}' (camunda:delegateExpression)"
    elif element.get(camunda_tag("expression")):
        how = f"evaluates the JUEL expression '{element.get(camunda_tag('expression'))}' (camunda:expression)"
    elif element.get(camunda_tag("type")) == "external" or element.get(camunda_tag("topic")):
        how = f"is an external task (topic '{element.get(camunda_tag('topic'))}')"
    elif element.find(f".//{zeebe_tag('taskDefinition')}") is not None:
        task = element.find(f".//{zeebe_tag('taskDefinition')}")
        how = f"is a Camunda 8 job (zeebe:taskDefinition type '{task.get('type')}')"
    elif element.find(f".//{{{SPIFF_NS}}}serviceTaskOperator") is not None:
        operator = element.find(f".//{{{SPIFF_NS}}}serviceTaskOperator")
        how = f"calls the SpiffArena connector '{operator.get('id')}'"
    elif element.find(f".//{camunda_tag('connector')}") is not None:
        how = "uses a Camunda connector"
    else:
        how = "has no implementation"
    return (f"it {how}: Whistle cannot run it (it runs no Java code, connectors or job workers; a service task "
            f"may only call one of Whistle's named services with spiffworkflow:serviceTaskOperator); use a script "
            f"task (Python, sandboxed) for computations, or a message event to talk to other systems")


def _check_camunda_element(element, name: str, report) -> None:
    if local(_owner(element)) == "serviceTask" and name in ("connector", "inputOutput", "errorEventDefinition"):
        return  # the service task itself is reported
    if name in _CAMUNDA_UNSUPPORTED_ELEMENTS:
        report(element, _CAMUNDA_UNSUPPORTED_ELEMENTS[name])
    elif name in ("in", "out"):
        owner = _owner(element)
        if local(owner) != "callActivity":
            report(element, f"camunda:{name} mappings are only meaningful on call activities")
        elif element.get("variables") != "all" or element.get("local") == "true":
            what = element.get("source") or element.get("sourceExpression") or element.get("businessKey") or "?"
            report(element, f"camunda:{name} mapping '{what}' is not supported: Whistle passes all variables to the "
                            f"called process and back (camunda:{name} variables=\"all\")")
    elif name == "formData":
        report(element, "generated task forms (camunda:formData) are not shown by Whistle; the task still works, "
                        "but use a formKey for the form", "warning")
    elif name in _CAMUNDA_OK_ELEMENTS:
        pass
    elif element.getparent() is not None and local(element.getparent()) == "extensionElements":
        report(element, f"extension <camunda:{name}> is not supported by Whistle and is ignored", "warning")


def _check_zeebe_element(element, name: str, report) -> None:
    if local(_owner(element)) == "serviceTask" and name in ("taskDefinition", "ioMapping", "taskHeaders", "header"):
        return  # the service task itself is reported
    if name in _ZEEBE_UNSUPPORTED_ELEMENTS:
        report(element, _ZEEBE_UNSUPPORTED_ELEMENTS[name].format(type=element.get("type")))
    elif name == "loopCharacteristics":
        if plain_name(element.get("inputCollection")) is None:
            report(element, f"multi-instance input collection '{element.get('inputCollection')}' must be a variable "
                            f"name (like =departments); compute the list in a script task before the activity")
        if element.get("outputCollection") and plain_name(element.get("outputElement")) is None:
            report(element, f"multi-instance output element '{element.get('outputElement')}' must be a variable "
                            f"name (like =result)")
    elif name == "subscription":
        key = element.get("correlationKey")
        if key and plain_name(key) is None:
            report(element, f"message correlation key '{key}' must be a variable name (like =ticket_id)")
    elif name == "calledElement" and element.get("propagateAllChildVariables") == "false":
        report(element, "propagateAllChildVariables=\"false\" is ignored: Whistle passes the called process's "
                        "variables back to the caller", "warning")
    elif name in _ZEEBE_OK_ELEMENTS:
        pass
    elif element.getparent() is not None and local(element.getparent()) == "extensionElements":
        report(element, f"extension <zeebe:{name}> is not supported by Whistle and is ignored", "warning")
