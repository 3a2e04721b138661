"""The rule about 退回 (``returnTo``): a user or manual task may be sent back only to earlier human tasks of its
own process or sub-process, named by id (engine.runtime.task_actions reads the same property)."""
from __future__ import annotations

from lxml import etree

from engine.bpmn.assignments import read_assignment
from engine.bpmn.modelers import local
from engine.bpmn.namespaces import bpmn_tag
from engine.deploy.rules.common import HUMAN_TASKS, SUBPROCESSES, Linter, describe


def check_returns(lint: Linter, scope: etree._Element) -> None:
    """Every ``returnTo`` of a human task in ``scope`` (and its sub-processes) names a human task of the same
    scope from which a path of sequence flows leads to the task: an earlier step the case has passed."""
    nodes = {el.get("id"): el for el in scope if isinstance(el.tag, str) and el.get("id")}
    incoming: dict[str, set[str]] = {}
    for flow in scope.findall(bpmn_tag("sequenceFlow")):
        incoming.setdefault(flow.get("targetRef") or "", set()).add(flow.get("sourceRef") or "")
    for node_id, node in nodes.items():
        kind = local(node)
        if kind in SUBPROCESSES:
            check_returns(lint, node)
        if kind not in HUMAN_TASKS:
            continue
        targets = read_assignment(node, None).return_to
        if not targets:
            continue
        earlier = _before(node_id, incoming)
        for target in targets:
            other = nodes.get(target)
            label = describe(node)
            if other is None:
                lint.report(node, "return-to", f"{label} may return to '{target}', which is not an element of "
                                               f"its process (or sub-process); name an earlier user task by id")
            elif local(other) not in HUMAN_TASKS:
                lint.report(node, "return-to", f"{label} may return to {describe(other)}, which is not a user or "
                                               f"manual task; a case is returned to a person's step")
            elif target not in earlier:
                lint.report(node, "return-to", f"{label} may return to {describe(other)}, which does not come "
                                               f"before it (no path of sequence flows leads from it to this task)")


def _before(node_id: str, incoming: dict[str, set[str]]) -> set[str]:
    """The ids from which a path of sequence flows leads to ``node_id``."""
    seen: set[str] = set()
    todo = list(incoming.get(node_id, ()))
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(incoming.get(current, ()))
    return seen
