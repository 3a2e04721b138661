"""The XML namespaces of BPMN files and of the modelers' extensions, and Clark-notation tags in them.

A leaf: it imports nothing of the engine, so every module that reads BPMN (the parser, the modeler dialects,
lint, forms, deploy) can use it without importing each other.
"""
from __future__ import annotations

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"  # Camunda 7 (camunda:)
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"  # Camunda 8 (zeebe:)
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"  # SpiffArena (spiffworkflow:)

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XML_NS = "http://www.w3.org/XML/1998/namespace"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
MODELER_NS = "http://camunda.org/schema/modeler/1.0"
BIOC_NS = "http://bpmn.io/schema/bpmn/biocolor/1.0"
COLOR_NS = "http://www.omg.org/spec/BPMN/non-normative/color/1.0"
# Namespaces whose content only affects how the diagram looks.
DISPLAY_NAMESPACES = frozenset({BPMNDI_NS, DC_NS, DI_NS, MODELER_NS, BIOC_NS, COLOR_NS, XSI_NS, XML_NS})


def bpmn_tag(name: str) -> str:
    """``{BPMN_NS}name``: the tag lxml gives a BPMN element."""
    return f"{{{BPMN_NS}}}{name}"


def camunda_tag(name: str) -> str:
    """``{CAMUNDA_NS}name``: a ``camunda:`` attribute or element."""
    return f"{{{CAMUNDA_NS}}}{name}"


def zeebe_tag(name: str) -> str:
    """``{ZEEBE_NS}name``: a ``zeebe:`` element."""
    return f"{{{ZEEBE_NS}}}{name}"


def spiff_tag(name: str) -> str:
    """``{SPIFF_NS}name``: a ``spiffworkflow:`` element."""
    return f"{{{SPIFF_NS}}}{name}"
