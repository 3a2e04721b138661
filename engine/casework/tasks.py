"""Tasks as the CLI, the REST API and the task page read them: a user's inbox page (the hottest read there is),
one task, a task with what the user may do with it, and the data an open task sees."""
from __future__ import annotations

from typing import cast
from uuid import UUID

from engine.bpmn.state import to_json_value
from engine.casework.inbox import Worklist
from engine.casework.people import People, account_groups
from engine.casework.summaries import task_dicts
from engine.errors import Forbidden, NotFound
from engine.runtime.commands import Runtime
from engine.runtime.inbox import task_dict
from engine.store import Session, statements
from engine.store import casework as stored
from engine.store import inbox as stored_inbox
from engine.store.db import Database
from engine.store.models import HumanTask, ProcessInstance
from engine.time import clock


class TaskViews:
    """Reading tasks."""

    def __init__(self, db: Database, runtime: Runtime, people: People, worklist: Worklist) -> None:
        self.db, self.runtime, self.people, self.worklist = db, runtime, people, worklist

    def open_tasks(self, user: str | None = None, limit: int = 200, offset: int = 0,
                   process_id: str | None = None) -> list[dict]:
        """Open tasks; for a user, those claimed by them or offered to them and not claimed by someone else.

        Sorted by due time (none last), priority (high first), age. A user's page is one statement
        (``engine.store.inbox.page_statement``; ``inbox_page`` of the database's dialect runs it)."""
        if user is not None:
            with self.db.read(snapshot=False) as session:  # the hot read: no BEGIN/COMMIT round trips
                rows = statements(session).inbox_page(session, user, limit, offset, process_id)
                return [task_dict(session, row, stored_inbox.split_candidates(row)) for row in rows]
        with self.db.read() as session:
            return task_dicts(session, stored_inbox.open_tasks_page(session, process_id, limit, offset))

    def task(self, task_id: str) -> dict:
        with self.db.read() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound(f"no task {task_id}")
            return task_dict(session, row)

    def view(self, user: str, task_id: str) -> dict:
        """A task with what the user may do with it: NotFound, or Forbidden unless they may see its case."""
        now = clock.now()
        with self.db.read() as session:
            groups = account_groups(session, user)
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound(f"no task {task_id}")
            [item] = self.worklist.items(session, [row], now)
            offered_ever = stored.ever_offered(session, task_id, user, groups)
            return_to = self._return_targets(session, row) if row.status == "open" else []
        if not self.people.can_see_instance(user, row.instance_id):
            raise Forbidden(f"{user} may not see task {task_id}")
        is_open = row.status == "open"
        offered = is_open and row.assignee is None and offered_ever
        item.update({
            "may_claim": bool(is_open and offered),
            "may_unclaim": bool(is_open and row.assignee == user),
            "may_complete": bool(is_open and (row.assignee == user or (row.assignee is None and offered_ever))),
            "claimed_by_other": bool(is_open and row.assignee and row.assignee != user),
            "version_id": row.version_id,
            # the task actions the page offers (engine.runtime.task_actions decides): transfer, delegate, return
            # while the user holds it and it is not out on delegation; withdraw once they completed it
            "may_act": bool(is_open and row.delegation_state != "pending"
                            and (row.assignee == user or (row.assignee is None and offered_ever))),
            "may_withdraw": bool(row.status == "completed" and row.completed_by == user),
            "return_to": return_to,
            "delegated_by": row.delegated_by, "delegation_state": row.delegation_state,
        })
        return item

    def _return_targets(self, session: Session, row: HumanTask) -> list[dict]:
        """The earlier steps the diagram lets this task return to (``returnTo``), with their names."""
        spec, _ = self.runtime.specs.get(session, row.version_id)
        task_spec = spec.task_specs.get(row.element_id)
        assignment = getattr(task_spec, "assignment", None)
        targets = list(assignment.return_to) if assignment is not None else []
        return [{"element_id": t, "name": getattr(spec.task_specs.get(t), "bpmn_name", None) or t} for t in targets]

    def data(self, task_id: str) -> dict:
        """The data an open task sees (its own branch of the case: e.g. the supervision task sees the late
        departments), read from the stored state; the case data once the task is closed."""
        with self.db.read() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound(f"no task {task_id}")
            instance = session.get(ProcessInstance, row.instance_id)
            assert instance is not None  # a task's instance (a foreign key)
            if row.status != "open" or instance.status != "running":
                return dict(instance.data or {})
            workflow = self.runtime.instances.load(session, instance).workflow
        try:
            task = workflow.get_task_from_id(UUID(task_id))
        except Exception:
            task = None
        return cast(dict, to_json_value(task.data)) if task is not None else dict(instance.data or {})
