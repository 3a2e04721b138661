"""What a case's diagram marks on each BPMN element: done, active, waiting (for a timer or a message), or an
incident. One of the two reads that load a stored instance (the other is an open task's data)."""
from __future__ import annotations

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.errors import NotFound
from engine.runtime.commands import Runtime
from engine.store import casework as stored
from engine.store import jobs as stored_jobs
from engine.store.db import Database
from engine.store.models import ProcessInstance


class Diagrams:
    def __init__(self, db: Database, runtime: Runtime) -> None:
        self.db, self.runtime = db, runtime

    def element_states(self, instance_id: int) -> dict[str, dict]:
        """Per BPMN element of a case: ``state`` (incident, active, timer, waiting, done) with counts, the
        due time of a waiting timer and the incident message. Loads the instance's stored state once."""
        with self.db.read() as session:
            instance = session.get(ProcessInstance, instance_id)
            if instance is None:
                raise NotFound(f"no instance {instance_id}")
            workflow = self.runtime.instances.load(session, instance).workflow
            jobs = stored_jobs.of_instance_by_due(session, instance_id)
            incidents = stored.unresolved_incidents(session, instance_id)
        states: dict[str, dict] = {}

        def note(element_id: str | None, kind: str) -> dict | None:
            if not element_id:
                return None
            entry = states.setdefault(element_id, {"done": 0, "active": 0, "waiting": 0})
            entry[kind] = entry.get(kind, 0) + 1
            return entry

        for task in _every_task(workflow):
            kind = _kind_of(workflow, task)
            if kind is not None:
                note(getattr(task.task_spec, "bpmn_id", None), kind)
        for job in jobs:
            entry = note(job.element_id, "timers")
            if entry is not None and "due_at" not in entry:
                entry["due_at"] = job.due_at.isoformat()
        for incident in incidents:
            entry = note(incident.element_id, "incidents")
            if entry is not None:
                entry["incident"] = f"{incident.error_type}: {incident.message}"
        for entry in states.values():
            entry["state"] = _state_of(entry)
        return states


def _every_task(workflow: BpmnWorkflow) -> list[Task]:
    tasks = list(workflow.tasks.values())
    for sub in workflow.subprocesses.values():
        tasks.extend(sub.tasks.values())
    return tasks


def _kind_of(workflow: BpmnWorkflow, task: Task) -> str | None:
    """What a task counts as on its element: done, active, waiting (an event), error; None for nothing."""
    if task.state == TaskState.COMPLETED:
        return "done"
    if task.state in (TaskState.READY, TaskState.STARTED):
        return "active"
    if task.state == TaskState.WAITING:
        if getattr(task.task_spec, "event_definition", None) is not None:
            return "waiting"
        if workflow.subprocesses.get(task.id) is not None:  # a call activity or sub-process still running
            return "active"
        return None
    if task.state == TaskState.ERROR:
        return "error"
    return None


def _state_of(entry: dict) -> str:
    if entry.get("incidents") or entry.get("error"):
        return "incident"
    if entry["active"]:
        return "active"
    if entry.get("timers"):
        return "timer"
    if entry["waiting"]:
        return "waiting"
    return "done"
