"""Human task metadata: who may work on a user or manual task, which form it shows, when it is due — as
Camunda 7 (``camunda:`` attributes), Camunda 8 (``zeebe:`` extensions), SpiffArena (``spiffworkflow:``
properties) or the lane write it."""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from engine.bpmn.namespaces import BPMN_NS, CAMUNDA_NS, SPIFF_NS, ZEEBE_NS


@dataclass(frozen=True)
class Assignment:
    """What the modeler said about a user/manual task. Values may be literals or expressions.

    Expressions are written ``${expr}`` (Camunda style) or ``=expr`` (Zeebe style) and evaluated over the
    task's data when the task becomes ready, so a decision table can choose the department.
    """

    candidate_groups: str | None = None
    candidate_users: str | None = None
    assignee: str | None = None
    form_key: str | None = None
    due_date: str | None = None
    priority: str | None = None
    lane: str | None = None
    sources: dict = field(default_factory=dict)
    outputs: tuple[str, ...] | None = None  # the names a task without a form may set (engine.forms.contracts)
    obligation: str | None = None  # the kind of accountability obligation the task is (engine.audit.ledger)
    notify: str | None = None  # whom its events tell, if not the default rule (engine.notifications.events)
    # the earlier tasks its holder may send it back to (退回, engine.runtime.task_actions): ``returnTo``
    return_to: tuple[str, ...] = ()


_ASSIGNMENT_FIELDS = ("candidateGroups", "candidateUsers", "assignee", "formKey", "dueDate", "priority", "outputs",
                      "obligation", "notify", "returnTo")


def read_assignment(node: etree._Element, lane: str | None) -> Assignment:
    """The assignment of a user or manual task ``node`` in ``lane``; the first dialect to give a field wins."""
    values: dict[str, str] = {}
    sources: dict[str, str] = {}

    def offer(name: str, value: str | None, source: str) -> None:
        if value is not None and value.strip() and name not in values:
            values[name] = value.strip()
            sources[name] = source

    for name in _ASSIGNMENT_FIELDS:
        offer(name, node.get(f"{{{CAMUNDA_NS}}}{name}"), "camunda")
    ext = node.find(f"{{{BPMN_NS}}}extensionElements")
    if ext is not None:
        for prop in ext.iter(f"{{{SPIFF_NS}}}property"):
            if prop.get("name") in _ASSIGNMENT_FIELDS:
                offer(prop.get("name"), prop.get("value"), "spiffworkflow")
        for prop in ext.iter(f"{{{CAMUNDA_NS}}}property"):
            if prop.get("name") in ("outputs", "obligation", "notify", "returnTo"):
                offer(prop.get("name"), prop.get("value"), "camunda")
        for assignment in ext.iter(f"{{{ZEEBE_NS}}}assignmentDefinition"):
            for name in ("candidateGroups", "candidateUsers", "assignee"):
                offer(name, assignment.get(name), "zeebe")
        for form in ext.iter(f"{{{ZEEBE_NS}}}formDefinition"):
            offer("formKey", form.get("formKey") or form.get("formId"), "zeebe")
        for schedule in ext.iter(f"{{{ZEEBE_NS}}}taskSchedule"):
            offer("dueDate", schedule.get("dueDate"), "zeebe")
        for prio in ext.iter(f"{{{ZEEBE_NS}}}priorityDefinition"):
            offer("priority", prio.get("priority"), "zeebe")
    if "candidateGroups" not in values and lane:
        offer("candidateGroups", lane, "lane")
    return Assignment(
        candidate_groups=values.get("candidateGroups"),
        candidate_users=values.get("candidateUsers"),
        assignee=values.get("assignee"),
        form_key=values.get("formKey"),
        due_date=values.get("dueDate"),
        priority=values.get("priority"),
        lane=lane,
        sources=sources,
        outputs=tuple(n.strip() for n in values["outputs"].split(",") if n.strip()) if "outputs" in values else None,
        obligation=values.get("obligation"),
        notify=values.get("notify"),
        return_to=tuple(dict.fromkeys(n.strip() for n in values.get("returnTo", "").split(",") if n.strip())),
    )


def expression_of(value: str) -> str | None:
    """The expression inside ``${...}`` or after ``=``; None for a literal."""
    value = value.strip()
    if value.startswith("${") and value.endswith("}"):
        return value[2:-1].strip()
    if value.startswith("="):
        return value[1:].strip()
    return None
