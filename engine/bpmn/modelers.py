"""Files from real modelers: Camunda Modeler 5 (Camunda 7 ``camunda:`` and Camunda 8 ``zeebe:`` extensions),
bpmn.io, and SpiffArena's modeler (``spiffworkflow:`` extensions).

Two jobs:

* :func:`normalise` rewrites, in the parsed tree only (the stored file is never changed), the few modeler
  dialects that mean something Whistle supports but SpiffWorkflow does not read: ``${…}``/``#{…}``/``=…``
  around conditions, ``zeebe:calledElement``, ``camunda:formRef``, Camunda/Zeebe multi-instance
  collections, Zeebe message subscriptions with a correlation key. ``WhistleParser`` calls it for every
  BPMN document it parses, at deploy and when a version's spec is rebuilt, so both see the same process.
* :func:`check` reports what Whistle cannot run — Java delegates, external tasks, connectors, listeners,
  input/output mappings, job workers, link events, complex gateways… — as deploy problems naming the
  element and its line, instead of a crash (or, worse, silently different behaviour) at run time.
  Extensions that do not change what happens (history time to live, async flags, version tags) are
  accepted silently; a few that Whistle ignores but a designer may rely on are warnings.
"""
from __future__ import annotations

import re

from lxml import etree

from engine.bpmn.parser import BPMN_NS, CAMUNDA_NS, SPIFF_NS, ZEEBE_NS
from engine.dmn.decisions import MAP_DECISION_RESULT
from engine.errors import Problem

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
MODELER_NS = "http://camunda.org/schema/modeler/1.0"
BIOC_NS = "http://bpmn.io/schema/bpmn/biocolor/1.0"
COLOR_NS = "http://www.omg.org/spec/BPMN/non-normative/color/1.0"
# Namespaces whose content only affects how the diagram looks.
DISPLAY_NAMESPACES = {BPMNDI_NS, DC_NS, DI_NS, MODELER_NS, BIOC_NS, COLOR_NS, XSI_NS,
                      "http://www.w3.org/XML/1998/namespace"}

PYTHON_LANGUAGES = {"", "python", "py", "python3", "text/x-python", "application/x-python"}

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _b(name: str) -> str:
    return f"{{{BPMN_NS}}}{name}"


def _c(name: str) -> str:
    return f"{{{CAMUNDA_NS}}}{name}"


def _z(name: str) -> str:
    return f"{{{ZEEBE_NS}}}{name}"


def local(element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def unwrap_expression(text: str | None) -> str | None:
    """``${expr}``, ``#{expr}`` (Camunda) or ``=expr`` (Zeebe) as ``expr``; anything else unchanged."""
    if text is None:
        return None
    stripped = text.strip()
    if len(stripped) > 3 and stripped[:2] in ("${", "#{") and stripped.endswith("}"):
        return stripped[2:-1].strip()
    if stripped.startswith("=") and not stripped.startswith("=="):
        return stripped[1:].strip()
    return text


def _plain_name(text: str | None) -> str | None:
    """A bare variable name written as ``name``, ``${name}`` or ``=name``; None for anything else."""
    if text is None:
        return None
    inner = unwrap_expression(text).strip()
    return inner if _IDENTIFIER.match(inner) else None


# ---------------------------------------------------------------------------------------------------------
# Normalisation (in the parsed tree only)

def normalise(document) -> None:
    """Rewrite modeler dialects Whistle supports into what SpiffWorkflow reads (see the module docstring)."""
    root = document.getroot() if hasattr(document, "getroot") else document
    for condition in root.iter(_b("conditionExpression"), _b("completionCondition"), _b("loopCardinality"),
                               _b("loopCondition"), _b("condition")):
        if condition.text and condition.text.strip():
            condition.text = unwrap_expression(condition.text)
    for element in root.iter(_b("timeDuration"), _b("timeDate"), _b("timeCycle")):
        text = (element.text or "").strip()
        if text.startswith("=") and not text.startswith("=="):
            element.text = text[1:].strip()
    for call in root.iter(_b("callActivity")):
        if not call.get("calledElement"):
            for called in call.iter(_z("calledElement")):
                if called.get("processId"):
                    call.set("calledElement", called.get("processId").strip())
    for node in root.iter(_b("userTask"), _b("manualTask"), _b("startEvent")):
        form_ref = node.get(_c("formRef"))
        if form_ref and not node.get(_c("formKey")):
            node.set(_c("formKey"), form_ref)
    for loop in root.iter(_b("multiInstanceLoopCharacteristics")):
        _normalise_multi_instance(loop)
    for ext in root.iter(_b("extensionElements")):
        _normalise_properties(ext)
    _normalise_subscriptions(root)


def _normalise_properties(ext) -> None:
    """camunda:properties, zeebe:properties and zeebe:taskHeaders become spiffworkflow:properties, which
    SpiffWorkflow keeps on the task spec (``task_spec.extensions["properties"]``)."""
    found = [(p.get("name"), p.get("value")) for p in ext.iter(_c("property"), _z("property"))]
    found += [(h.get("key"), h.get("value")) for h in ext.iter(_z("header"))]
    found = [(name, value or "") for name, value in found if name]
    if not found:
        return
    target = ext.find(f"{{{SPIFF_NS}}}properties")
    if target is None:
        target = etree.SubElement(ext, f"{{{SPIFF_NS}}}properties")
    present = {p.get("name") for p in target.iter(f"{{{SPIFF_NS}}}property")}
    for name, value in found:
        if name not in present:
            etree.SubElement(target, f"{{{SPIFF_NS}}}property", name=name, value=value)
            present.add(name)


def _normalise_multi_instance(loop) -> None:
    if loop.find(_b("loopDataInputRef")) is not None or loop.find(_b("loopCardinality")) is not None:
        return
    collection = _plain_name(loop.get(_c("collection")))
    element = loop.get(_c("elementVariable"))
    output_collection = output_element = None
    for zeebe in loop.iter(_z("loopCharacteristics")):
        collection = collection or _plain_name(zeebe.get("inputCollection"))
        element = element or zeebe.get("inputElement")
        output_collection = _plain_name(zeebe.get("outputCollection"))
        output_element = _plain_name(zeebe.get("outputElement"))
    if collection is None:
        return
    ref = etree.SubElement(loop, _b("loopDataInputRef"))
    ref.text = collection
    # SpiffWorkflow names the item variable by the data item's id (as SpiffArena's modeler writes it).
    if element:
        etree.SubElement(loop, _b("inputDataItem"), id=element.strip(), name=element.strip())
    if output_collection and output_element:
        out = etree.SubElement(loop, _b("loopDataOutputRef"))
        out.text = output_collection
        etree.SubElement(loop, _b("outputDataItem"), id=output_element, name=output_element)


def _normalise_subscriptions(root) -> None:
    """A Zeebe message ``correlationKey="=ticket_id"`` becomes a correlation property over ``ticket_id``."""
    existing = {el.get("messageRef") for el in root.iter(_b("correlationPropertyRetrievalExpression"))}
    for message in root.iter(_b("message")):
        mid = message.get("id")
        if not mid or mid in existing:
            continue
        for subscription in message.iter(_z("subscription")):
            name = _plain_name(subscription.get("correlationKey"))
            if name is None:
                continue
            prop = etree.Element(_b("correlationProperty"), id=f"{mid}_correlation", name=f"{mid}_correlation")
            expression = etree.SubElement(prop, _b("correlationPropertyRetrievalExpression"), messageRef=mid)
            path = etree.SubElement(expression, _b("messagePath"))
            path.text = name
            root.append(prop)


# ---------------------------------------------------------------------------------------------------------
# What Whistle cannot run.

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

    processes = root.findall(_b("process"))
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


def _check_bpmn_element(element, name: str, report) -> None:
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
        if element.get(_c("resource")):
            report(element, f"external script resources (camunda:resource='{element.get(_c('resource'))}') are "
                            f"not supported; put the script into the script task")
        if element.get(_c("resultVariable")):
            report(element, "camunda:resultVariable on a script task is not supported; assign the variable in the "
                            "script (name = value)")
    elif name in ("conditionExpression", "completionCondition", "condition"):
        language = (element.get("language") or "").strip().lower()
        if language not in PYTHON_LANGUAGES:
            report(element, f"expression language '{element.get('language')}' is not supported: conditions are "
                            f"Python expressions")
        if element.get(_c("resource")):
            report(element, "external condition scripts (camunda:resource) are not supported")
    elif name == "startEvent" and element.get(_c("initiator")):
        report(element, f"camunda:initiator is not supported: the starting user is not stored in variable "
                        f"'{element.get(_c('initiator'))}'; pass it in the start data instead")
    elif name == "callActivity":
        if element.get(_c("caseRef")):
            report(element, "calling a CMMN case (camunda:caseRef) is not supported")
        for attribute in ("variableMappingClass", "variableMappingDelegateExpression"):
            if element.get(_c(attribute)):
                report(element, f"camunda:{attribute} is not supported; Whistle passes all variables to the called "
                                f"process and back")
    elif name == "multiInstanceLoopCharacteristics":
        collection = element.get(_c("collection"))
        if collection and _plain_name(collection) is None and element.find(_b("loopDataInputRef")) is None:
            report(element, f"multi-instance collection '{collection}' must be a variable name (like "
                            f"departments); compute the list in a script task before the activity")
    elif name in ("errorEventDefinition", "escalationEventDefinition"):
        for attribute in ("errorCodeVariable", "errorMessageVariable", "escalationCodeVariable"):
            if element.get(_c(attribute)):
                report(element, f"camunda:{attribute} is not supported: the variable would never be set")
    elif name in ("messageEventDefinition",) and (element.get(_c("type")) or element.get(_c("topic"))):
        report(element, "external task topics (camunda:type/camunda:topic) cannot run in Whistle")
    elif name == "lane" and not (element.get("name") or "").strip():
        pass  # lint reports unnamed lanes
    if name == "businessRuleTask":
        style = element.get(_c("mapDecisionResult"))
        if style is not None and style not in MAP_DECISION_RESULT:
            report(element, f"camunda:mapDecisionResult '{style}' is not one of {', '.join(MAP_DECISION_RESULT)}")
    for attribute in element.attrib:
        if attribute.startswith(f"{{{CAMUNDA_NS}}}"):
            short = attribute.split("}", 1)[1]
            if short not in _CAMUNDA_KNOWN_ATTRIBUTES:
                report(element, f"camunda:{short} is not supported by Whistle and is ignored", "warning")
    if name in ("userTask", "manualTask") and element.get(_c("followUpDate")):
        report(element, "camunda:followUpDate is ignored (Whistle's inbox has due dates, not follow-up dates)",
               "warning")
    for attribute, what in _CAMUNDA_DELEGATE_ATTRIBUTES.items():
        if element.get(_c(attribute)) is not None and name != "serviceTask":
            report(element, f"calls {what} '{element.get(_c(attribute))}': Java code cannot run in Whistle; use a "
                            f"script task (Python) instead")
    if element.get(_c("type")) == "external" and name not in ("serviceTask", "messageEventDefinition"):
        report(element, f"external tasks (camunda:type=\"external\", topic '{element.get(_c('topic'))}') cannot "
                        f"run in Whistle: no worker would fetch them")


def _service_task_message(element) -> str | None:
    sid = element.get("id")
    operator = element.find(f".//{{{SPIFF_NS}}}serviceTaskOperator")
    if operator is not None and not any(element.get(_c(a)) for a in ("class", "delegateExpression", "expression",
                                                                     "type", "topic")):
        from engine.scripting.services import operator_problems  # Whistle's own services (engine/services.py) can run

        found = operator_problems(operator)
        return f"service task '{sid}' calls service '{operator.get('id')}': {'; '.join(found)}" if found else None
    if element.get(_c("class")):
        how = f"calls the Java class '{element.get(_c('class'))}' (camunda:class)"
    elif element.get(_c("delegateExpression")):
        how = f"calls the Java delegate '{element.get(_c('delegateExpression'))}' (camunda:delegateExpression)"
    elif element.get(_c("expression")):
        how = f"evaluates the JUEL expression '{element.get(_c('expression'))}' (camunda:expression)"
    elif element.get(_c("type")) == "external" or element.get(_c("topic")):
        how = f"is an external task (topic '{element.get(_c('topic'))}')"
    elif element.find(f".//{_z('taskDefinition')}") is not None:
        task = element.find(f".//{_z('taskDefinition')}")
        how = f"is a Camunda 8 job (zeebe:taskDefinition type '{task.get('type')}')"
    elif element.find(f".//{{{SPIFF_NS}}}serviceTaskOperator") is not None:
        operator = element.find(f".//{{{SPIFF_NS}}}serviceTaskOperator")
        how = f"calls the SpiffArena connector '{operator.get('id')}'"
    elif element.find(f".//{_c('connector')}") is not None:
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
        if _plain_name(element.get("inputCollection")) is None:
            report(element, f"multi-instance input collection '{element.get('inputCollection')}' must be a variable "
                            f"name (like =departments); compute the list in a script task before the activity")
        if element.get("outputCollection") and _plain_name(element.get("outputElement")) is None:
            report(element, f"multi-instance output element '{element.get('outputElement')}' must be a variable "
                            f"name (like =result)")
    elif name == "subscription":
        key = element.get("correlationKey")
        if key and _plain_name(key) is None:
            report(element, f"message correlation key '{key}' must be a variable name (like =ticket_id)")
    elif name == "calledElement" and element.get("propagateAllChildVariables") == "false":
        report(element, "propagateAllChildVariables=\"false\" is ignored: Whistle passes the called process's "
                        "variables back to the caller", "warning")
    elif name in _ZEEBE_OK_ELEMENTS:
        pass
    elif element.getparent() is not None and local(element.getparent()) == "extensionElements":
        report(element, f"extension <zeebe:{name}> is not supported by Whistle and is ignored", "warning")
