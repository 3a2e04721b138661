"""Files from real modelers: Camunda Modeler 5 (Camunda 7 ``camunda:`` and Camunda 8 ``zeebe:`` extensions),
bpmn.io, and SpiffArena's modeler (``spiffworkflow:`` extensions).

Two jobs:

* :func:`normalise` rewrites, in the parsed tree only (the stored file is never changed), the few modeler
  dialects that mean something Whistle supports but SpiffWorkflow does not read: ``${…}``/``#{…}``/``=…``
  around conditions, ``zeebe:calledElement``, ``camunda:formRef``, Camunda/Zeebe multi-instance
  collections, Zeebe message subscriptions with a correlation key. ``WhistleParser`` calls it for every
  BPMN document it parses, at deploy and when a version's spec is rebuilt, so both see the same process.
* :func:`engine.bpmn.modeler_checks.check` reports what Whistle cannot run (Java delegates, external tasks,
  connectors, listeners, job workers…) as deploy problems naming the element and its line.
"""
from __future__ import annotations

import re

from lxml import etree

from engine.bpmn.namespaces import SPIFF_NS, bpmn_tag, camunda_tag, zeebe_tag

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def local(element: etree._Element) -> str:
    """The element's tag without its namespace (empty for comments and processing instructions)."""
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


def plain_name(text: str | None) -> str | None:
    """A bare variable name written as ``name``, ``${name}`` or ``=name``; None for anything else."""
    if text is None:
        return None
    inner = (unwrap_expression(text) or "").strip()
    return inner if _IDENTIFIER.match(inner) else None


# ---------------------------------------------------------------------------------------------------------
# Normalisation (in the parsed tree only)

def normalise(document) -> None:
    """Rewrite modeler dialects Whistle supports into what SpiffWorkflow reads (see the module docstring)."""
    root = document.getroot() if hasattr(document, "getroot") else document
    for condition in root.iter(bpmn_tag("conditionExpression"), bpmn_tag("completionCondition"),
                               bpmn_tag("loopCardinality"), bpmn_tag("loopCondition"), bpmn_tag("condition")):
        if condition.text and condition.text.strip():
            condition.text = unwrap_expression(condition.text)
    for element in root.iter(bpmn_tag("timeDuration"), bpmn_tag("timeDate"), bpmn_tag("timeCycle")):
        text = (element.text or "").strip()
        if text.startswith("=") and not text.startswith("=="):
            element.text = text[1:].strip()
    for call in root.iter(bpmn_tag("callActivity")):
        if not call.get("calledElement"):
            for called in call.iter(zeebe_tag("calledElement")):
                if called.get("processId"):
                    call.set("calledElement", called.get("processId").strip())
    for node in root.iter(bpmn_tag("userTask"), bpmn_tag("manualTask"), bpmn_tag("startEvent")):
        form_ref = node.get(camunda_tag("formRef"))
        if form_ref and not node.get(camunda_tag("formKey")):
            node.set(camunda_tag("formKey"), form_ref)
    for loop in root.iter(bpmn_tag("multiInstanceLoopCharacteristics")):
        _normalise_multi_instance(loop)
    for ext in root.iter(bpmn_tag("extensionElements")):
        _normalise_properties(ext)
    _normalise_subscriptions(root)


def _normalise_properties(ext) -> None:
    """camunda:properties, zeebe:properties and zeebe:taskHeaders become spiffworkflow:properties, which
    SpiffWorkflow keeps on the task spec (``task_spec.extensions["properties"]``)."""
    found = [(p.get("name"), p.get("value")) for p in ext.iter(camunda_tag("property"), zeebe_tag("property"))]
    found += [(h.get("key"), h.get("value")) for h in ext.iter(zeebe_tag("header"))]
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
    if loop.find(bpmn_tag("loopDataInputRef")) is not None or loop.find(bpmn_tag("loopCardinality")) is not None:
        return
    collection = plain_name(loop.get(camunda_tag("collection")))
    element = loop.get(camunda_tag("elementVariable"))
    output_collection = output_element = None
    for zeebe in loop.iter(zeebe_tag("loopCharacteristics")):
        collection = collection or plain_name(zeebe.get("inputCollection"))
        element = element or zeebe.get("inputElement")
        output_collection = plain_name(zeebe.get("outputCollection"))
        output_element = plain_name(zeebe.get("outputElement"))
    if collection is None:
        return
    ref = etree.SubElement(loop, bpmn_tag("loopDataInputRef"))
    ref.text = collection
    # SpiffWorkflow names the item variable by the data item's id (as SpiffArena's modeler writes it).
    if element:
        etree.SubElement(loop, bpmn_tag("inputDataItem"), id=element.strip(), name=element.strip())
    if output_collection and output_element:
        out = etree.SubElement(loop, bpmn_tag("loopDataOutputRef"))
        out.text = output_collection
        etree.SubElement(loop, bpmn_tag("outputDataItem"), id=output_element, name=output_element)


def _normalise_subscriptions(root) -> None:
    """A Zeebe message ``correlationKey="=ticket_id"`` becomes a correlation property over ``ticket_id``."""
    existing = {el.get("messageRef") for el in root.iter(bpmn_tag("correlationPropertyRetrievalExpression"))}
    for message in root.iter(bpmn_tag("message")):
        mid = message.get("id")
        if not mid or mid in existing:
            continue
        for subscription in message.iter(zeebe_tag("subscription")):
            name = plain_name(subscription.get("correlationKey"))
            if name is None:
                continue
            prop = etree.Element(bpmn_tag("correlationProperty"), id=f"{mid}_correlation", name=f"{mid}_correlation")
            expression = etree.SubElement(prop, bpmn_tag("correlationPropertyRetrievalExpression"), messageRef=mid)
            path = etree.SubElement(expression, bpmn_tag("messagePath"))
            path.text = name
            root.append(prop)
