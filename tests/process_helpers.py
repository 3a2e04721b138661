"""Helpers shared by the governance process scenario tests (consultation, personnel, evaluation).

Scenarios run through the engine's public commands only (deploy, add_user, start, tasks, claim, complete,
show, fire_due_jobs), with the clock moved by the ``manual_clock`` fixture.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

from lxml import etree
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS

from engine.api import Whistle

PROJECT = Path(__file__).parent.parent
PROCESSES = PROJECT / "processes"
DEMO = json.loads((PROCESSES / "demo-accounts.json").read_text(encoding="utf-8"))
GROUPS_OF = {u["username"]: u["groups"] for u in DEMO["users"]}
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"
CHINESE = re.compile(r"[\u4e00-\u9fff]")


class Org:
    """The deployed processes plus the demo people a scenario needs (added on first use, without passwords)."""

    def __init__(self, engine: Whistle) -> None:
        self.w = engine
        self.known: set[str] = set()
        engine.deploy([PROCESSES])

    def person(self, username: str) -> str:
        if username not in self.known:
            self.w.add_user(username, GROUPS_OF[username])
            self.known.add(username)
        return username

    def open(self, username: str, name: str, instance: int | None = None) -> list[dict]:
        self.person(username)
        return [t for t in self.w.tasks(username, limit=1000) if t["name"] == name
                and (instance is None or t["instance_id"] == instance)]

    def do(self, username: str, name: str, data: dict | None = None, instance: int | None = None) -> dict:
        found = self.open(username, name, instance)
        assert len(found) == 1, f"{username} has {len(found)} open '{name}' tasks: {self.w.tasks(username)}"
        self.w.claim(found[0]["task_id"], username)
        self.w.complete(found[0]["task_id"], username, data or {})
        return found[0]

    def data(self, instance: int) -> dict:
        return self.w.show(instance)["data"]

    def task_data(self, task: dict) -> dict:
        """What a form would show for an open task: the case data as of the task (from the instance state)."""
        from uuid import UUID

        with self.w.db.read() as session:
            from engine.store.models import ProcessInstance

            instance = session.get(ProcessInstance, task["instance_id"])
            workflow = self.w.runtime.instances.load(session, instance).workflow
        return workflow.get_task_from_id(UUID(task["task_id"])).data

    def data_object(self, instance_id: int, name: str):
        """A data object of a running instance (the case data projection shows them only once it completes)."""
        with self.w.db.read() as session:
            from engine.store.models import ProcessInstance

            workflow = self.w.runtime.instances.load(session, session.get(ProcessInstance, instance_id)).workflow
        return workflow.data["data_objects"][name]

    def names(self, instance: int) -> list[str]:
        return sorted(t["name"] for t in self.w.show(instance)["open_tasks"])


def diagram_problems(path: Path) -> list[str]:
    """Every BPMN element a modeler draws has DI; every task is named in Chinese and documented."""
    root = etree.parse(str(path)).getroot()
    di = {e.get("bpmnElement") for e in root.iter() if isinstance(e.tag, str) and e.get("bpmnElement")}
    drawable = ("task", "Task", "Event", "Gateway", "subProcess", "sequenceFlow", "lane", "dataObjectReference",
                "Association", "textAnnotation", "association", "participant")
    problems = [f"{e.get('id')}: no DI" for e in root.iter() if isinstance(e.tag, str) and e.tag.startswith(BPMN)
                and e.get("id") and any(etree.QName(e).localname.endswith(k) for k in drawable)
                and e.get("id") not in di]
    for element in root.iter(f"{BPMN}userTask", f"{BPMN}scriptTask", f"{BPMN}businessRuleTask", f"{BPMN}serviceTask",
                             f"{BPMN}subProcess", f"{BPMN}lane", f"{BPMN}startEvent", f"{BPMN}endEvent",
                             f"{BPMN}boundaryEvent"):
        if not CHINESE.search(element.get("name", "")):
            problems.append(f"{element.get('id')}: no Chinese name")
    for element in root.iter(f"{BPMN}userTask", f"{BPMN}scriptTask", f"{BPMN}businessRuleTask", f"{BPMN}serviceTask"):
        if element.find(f"{BPMN}documentation") is None:
            problems.append(f"{element.get('id')}: no documentation")
    # Shapes inside their lane, and the pool around every lane.
    bounds = {}
    for shape in root.iter("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape"):
        b = shape.find("{http://www.omg.org/spec/DD/20100524/DC}Bounds")
        bounds[shape.get("bpmnElement")] = tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))
    for lane in root.iter(f"{BPMN}lane"):
        lx, ly, lw, lh = bounds[lane.get("id")]
        for ref in lane.findall(f"{BPMN}flowNodeRef"):
            x, y, w, h = bounds[ref.text]
            if not (lx <= x and x + w <= lx + lw and ly <= y and y + h <= ly + lh):
                problems.append(f"{ref.text}: drawn outside its lane {lane.get('id')}")
    return problems


def dmn_problems(path: Path) -> list[str]:
    schema = etree.XMLSchema(etree.parse(DMN_SCHEMAS[DMN13]))
    document = etree.parse(str(path))
    if not schema.validate(document):
        return [str(e) for e in schema.error_log]
    return []


def wait_for(condition, what: str, seconds: float = 30.0):
    """Poll ``condition`` until it is truthy: another thread or process doing something (never a timer: the
    clock is moved). Returns its value; fails naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)
