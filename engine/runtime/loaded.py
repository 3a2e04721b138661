"""An instance as a command works on it: its row, its workflow, and what the runtime knew of it when it was
loaded, so that saving it writes what changed without asking the database again.

The instances a command loads are tracked while the command runs (``tracking``, entered by the command
executor): the timers that fire in their engine steps (``engine.bpmn.timers.fired_timers``) are noted on their
``LoadedInstance`` and audited when it is saved.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow

from engine.bpmn import timers
from engine.store.models import ProcessInstance, TimerJob


@dataclass(eq=False)
class LoadedInstance:
    row: ProcessInstance  # locked, when a command loaded it
    workflow: BpmnWorkflow
    open_tasks: dict[str, str]  # {task id: name} of its open inbox rows: its READY user/manual tasks as last saved
    waited_for_messages: bool  # a message catch was waiting, so it has subscription rows to look at
    timer_jobs: list[TimerJob] | None = None  # its timer_job rows, when the caller read them under the lock already
    fired: list[dict] = field(default_factory=list)  # the timers that fired since it was loaded (to audit)

    def task(self, task_id: str) -> Any | None:
        """The workflow's task of that id (an inbox row's, a subscription's), if it still has one."""
        try:
            return self.workflow.get_task_from_id(UUID(task_id))
        except Exception:  # not a UUID, or no such task (SpiffWorkflow raises its own TaskNotFoundException)
            return None


class _Tracked:
    """The instances of one command, by their workflow."""

    def __init__(self) -> None:
        self.by_workflow: dict[int, LoadedInstance] = {}

    def timer_fired(self, workflow: BpmnWorkflow, record: dict) -> None:
        loaded = self.by_workflow.get(id(workflow))
        if loaded is not None:  # a workflow loaded to be read, not to be saved: nothing to audit
            loaded.fired.append(record)


_tracked: ContextVar[_Tracked | None] = ContextVar("whistle_loaded_instances", default=None)


@contextmanager
def tracking() -> Iterator[None]:
    """Track the instances loaded until the block ends (one command), and hear of their timers firing."""
    tracked = _Tracked()
    token = _tracked.set(tracked)
    heard = timers.fired_timers.set(tracked.timer_fired)
    try:
        yield
    finally:
        timers.fired_timers.reset(heard)
        _tracked.reset(token)


def track(loaded: LoadedInstance) -> LoadedInstance:
    """Note ``loaded`` as one of the running command's instances (outside a command: a read; nothing to note)."""
    tracked = _tracked.get()
    if tracked is not None:
        tracked.by_workflow[id(loaded.workflow)] = loaded
    return loaded
