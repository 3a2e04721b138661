"""Part of the rule ``modeler-compatibility``, checked before SpiffWorkflow parses: no flow element may have
an id SpiffWorkflow gives one of its own tasks."""
from __future__ import annotations

from lxml import etree

from engine.bpmn.modelers import local
from engine.deploy.rules.common import FLOW_NODES, describe
from engine.errors import Problem

# Task spec names SpiffWorkflow gives its own tasks in every process and sub-process: BpmnProcessSpec creates
# 'Start', 'End' and '<process id>.EndJoin'; several start events add 'StartEventSplit' and 'StartEventJoin';
# an activity with boundary events becomes '<id>.BoundaryEventSplit' and '<id>.BoundaryEventJoin'; its serializer
# drops a 'Root'. ProcessParser.parse_node looks element ids up among these names first, so an element with one of
# them is silently replaced by SpiffWorkflow's own task: the file deploys and every start then fails with "No
# output task connected". (A loop's '<id> [child]' cannot collide: an XML id has no spaces.)
RESERVED_IDS = {"Start": "start task", "End": "end task", "Root": "root task",
                "StartEventSplit": "split between several start events",
                "StartEventJoin": "join after several start events"}
RESERVED_SUFFIXES = {".EndJoin": "join before a process ends", ".BoundaryEventSplit": "split before a boundary event",
                     ".BoundaryEventJoin": "join after a boundary event"}


def reserved_ids(file_name: str, root: etree._Element) -> list[Problem]:
    """Flow elements whose ids are names SpiffWorkflow uses for its own tasks (refused: renaming them inside the
    engine would have to be mapped back in every diagram, audit record and API answer)."""
    found = []
    for element in root.iter():
        if not isinstance(element.tag, str) or local(element) not in FLOW_NODES:
            continue
        element_id = element.get("id") or ""
        what = RESERVED_IDS.get(element_id) or next(
            (text for suffix, text in RESERVED_SUFFIXES.items() if element_id.endswith(suffix)), None)
        if what is None:
            continue
        renamed = element_id.replace(".", "_") + "_1" if element_id in RESERVED_IDS else element_id.replace(".", "_")
        found.append(Problem(file_name, element.sourceline, element_id,
                             f"{describe(element)}: the id '{element_id}' is the name SpiffWorkflow gives its own "
                             f"{what}, so the file would deploy and every start fail (\"No output task connected\"); "
                             f"rename it, e.g. to '{renamed}', in the element, in the sourceRef/targetRef of its "
                             f"sequence flows and in the bpmnElement of its diagram shape"))
    return found
