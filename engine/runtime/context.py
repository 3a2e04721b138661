"""What a command is working on, so that a failure can be pinned on the right instance and task."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CommandContext:
    """The command's name and actor, and what it works on as it goes: the engine fills the instance, task and
    element in as it reaches them, and an incident records them (``engine.runtime.incidents``)."""

    command: str
    actor: str | None
    instance_id: int | None = None
    process_id: str | None = None
    version_id: int | None = None
    task_id: str | None = None
    element_id: str | None = None
    new_instance: bool = False  # a failed start rolls its instance back: the incident cannot point at it
    completing: str | None = None  # the task a user completes: its inbox row records them as completed_by
    completed_data: dict | None = None  # what they submitted (the ledger's done row keeps it)
    submitted: dict | None = None  # a user command as given (task id and data, or message): its incident keeps it
