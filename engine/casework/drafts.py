"""Forms saved for later, per user: ``task_key`` is a task id, or ``start:<process id>`` for a start form. A
submission drops its draft in its own transaction (``engine.casework.submissions``)."""
from __future__ import annotations

from engine.errors import InvalidInput
from engine.identity.accounts import find_user
from engine.store.db import Database
from engine.store.models import TaskDraft
from engine.time import clock


def start_key(process_id: str) -> str:
    """The draft key of a process's start form."""
    return f"start:{process_id}"


class Drafts:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, task_key: str, user: str, data: dict) -> None:
        """Keep a form's values for later (replacing the user's earlier draft of it)."""
        if not isinstance(data, dict):
            raise InvalidInput("a draft is a JSON object")
        with self.db.write() as session:
            find_user(session, user)
            row = session.get(TaskDraft, (task_key, user))
            if row is None:
                session.add(TaskDraft(task_key=task_key, username=user, data=data, updated_at=clock.now()))
            else:
                row.data, row.updated_at = data, clock.now()

    def get(self, task_key: str, user: str) -> dict | None:
        with self.db.read() as session:
            row = session.get(TaskDraft, (task_key, user))
            return None if row is None else {"data": row.data, "updated_at": row.updated_at.isoformat()}
