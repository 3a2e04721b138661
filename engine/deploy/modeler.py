"""Sources from the browser's modeler: the BPMN XML a designer edited, held in memory as a
:class:`~engine.deploy.sources.SourceFile` under the name of the file it was opened from, so that validating it
is ``whistle lint`` (``engine.deploy.lint.lint_sources``) and deploying it is ``whistle deploy``
(``Deployer.deploy_sources``) of that one file."""
from __future__ import annotations

import re
from xml.sax.saxutils import escape

from engine.bpmn.namespaces import bpmn_tag
from engine.deploy.sources import SourceFile, parse_xml, size_limits
from engine.errors import InvalidInput, Problem

DEFAULT_FILE_NAME = "{process_id}.bpmn"  # a new process's file, until it is deployed


def modeler_source(file_name: str, xml: object) -> tuple[list[SourceFile], list[Problem]]:
    """The diagram as the deployment's only source, with the problem that keeps it from being read (too large,
    empty). ``InvalidInput`` when what was sent is not text at all."""
    if not isinstance(xml, str):
        raise InvalidInput("xml: the diagram must be sent as BPMN XML text")
    file_limit, _total = size_limits()
    size = len(xml.encode("utf-8"))
    if size > file_limit:
        return [], [Problem(file_name, None, None, f"the diagram is {size / 2**20:,.1f} MB; a deployed file may be at "
                                                   f"most {file_limit / 2**20:,.1f} MB (WHISTLE_DEPLOY_MAX_FILE_MB)")]
    if not xml.strip():
        return [], [Problem(file_name, None, None, "the diagram is empty")]
    if "\x00" in xml:
        return [], [Problem(file_name, None, None, "the diagram contains a NUL character, which no XML file may hold")]
    return [SourceFile(file_name, xml, "bpmn")], []


def check_draft(process_id: object, xml: object) -> str:
    """A draft's XML as text no larger than a deployed file may be, for a process id the table can hold (a draft
    is kept unchecked otherwise: it may be half drawn)."""
    if not isinstance(process_id, str) or not 0 < len(process_id) <= 255:
        raise InvalidInput("process_id: a process id of 1 to 255 characters")
    if not isinstance(xml, str):
        raise InvalidInput("xml: the diagram must be sent as BPMN XML text")
    if "\x00" in xml:
        raise InvalidInput("xml: the diagram contains a NUL character, which no XML file may hold")
    file_limit, _total = size_limits()
    if len(xml.encode("utf-8")) > file_limit:
        raise InvalidInput(f"xml: the diagram is larger than {file_limit / 2**20:,.1f} MB "
                           f"(WHISTLE_DEPLOY_MAX_FILE_MB)")
    return xml


PROCESS_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,99}")  # an XML id Whistle's file names and URLs take as is


def check_process_id(process_id: object) -> str:
    """A new process's id: a letter or underscore, then letters, digits, ``_`` or ``-`` (at most 100)."""
    if not isinstance(process_id, str) or not PROCESS_ID.fullmatch(process_id):
        raise InvalidInput("process_id: a process id starts with a letter or _ and has only letters, digits, _ "
                           "and - (at most 100)")
    return process_id


def blank_diagram(process_id: str, name: str) -> str:
    """A new process's first diagram: a named, executable process with one start event, drawn."""
    check_process_id(process_id)
    return BLANK.format(process_id=process_id, name=escape(name or process_id, {'"': "&quot;"}))


BLANK = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" \
xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" \
id="{process_id}_definitions" targetNamespace="http://whistle.example/processes/{process_id}">
  <bpmn:process id="{process_id}" name="{name}" isExecutable="true">
    <bpmn:startEvent id="{process_id}_start" name="开始" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="{process_id}_diagram">
    <bpmndi:BPMNPlane id="{process_id}_plane" bpmnElement="{process_id}">
      <bpmndi:BPMNShape id="{process_id}_start_di" bpmnElement="{process_id}_start">
        <dc:Bounds x="180" y="160" width="36" height="36" />
        <bpmndi:BPMNLabel><dc:Bounds x="186" y="203" width="24" height="14" /></bpmndi:BPMNLabel>
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def defines(sources: list[SourceFile], process_id: str) -> list[Problem]:
    """The diagram must still define the process it was opened for: with its id changed in the properties panel
    it would deploy another process and leave this one as it was."""
    if not sources:
        return []
    source = SourceFile(sources[0].name, sources[0].content, "bpmn")
    if parse_xml(source) is not None or source.tree is None:
        return []  # the deploy checks say why it cannot be read
    ids = [p.get("id") for p in source.tree.getroot().iter(bpmn_tag("process"))]
    if process_id in ids:
        return []
    return [Problem(source.name, None, None, f"the diagram no longer defines process '{process_id}' (it defines "
                                             f"{', '.join(repr(i) for i in ids) or 'none'}); give the process back "
                                             f"its id '{process_id}'")]


# -- a form or decision table edited in the browser (engine.management.editors) ----------------------------------

EDITABLE_KINDS = {"form": "form", "dmn": "dmn"}  # the editor a file opens in, by its kind (engine.bpmn.reading)


def edited_text(file_name: str, content: object, what: str) -> str:
    """What a form or decision editor sent, as text no larger than a deployed file may be; ``InvalidInput``
    naming the file otherwise."""
    if not isinstance(content, str):
        raise InvalidInput(f"content: {file_name}: the {what} must be sent as text")
    if "\x00" in content:
        raise InvalidInput(f"content: {file_name}: the {what} contains a NUL character")
    file_limit, _total = size_limits()
    if len(content.encode("utf-8")) > file_limit:
        raise InvalidInput(f"content: {file_name}: the {what} is larger than {file_limit / 2**20:,.1f} MB "
                           f"(WHISTLE_DEPLOY_MAX_FILE_MB)")
    if not content.strip():
        raise InvalidInput(f"content: {file_name}: the {what} is empty")
    return content


def edited_sources(own: SourceFile | None, file_name: str, kind: str, text: str) -> list[SourceFile]:
    """A deployment of one edited file: with its process's own BPMN file (``own``, as the latest version has it)
    so the process gets a new version holding it; alone for a decision's own versions. Everything else the
    process uses comes from its latest version, as for the modeler (``engine.forms.deployment.carry_over``)."""
    edited = SourceFile(file_name, text, kind)
    return [own, edited] if own is not None else [edited]
