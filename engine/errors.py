"""Errors the engine reports to its callers (CLI, web).

Each carries an exit code for the CLI and an HTTP-ish kind for the web layer, and a message that is
one clear sentence a clerk or a designer can act on.
"""
from __future__ import annotations

from dataclasses import dataclass


class WhistleError(Exception):
    exit_code = 1
    kind = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict:
        return {"error": self.kind, "message": self.message}


class NotFound(WhistleError):
    exit_code = 4
    kind = "not_found"


class Forbidden(WhistleError):
    exit_code = 5
    kind = "forbidden"


class Conflict(WhistleError):
    """Someone else changed the same thing first (optimistic concurrency, claimed tasks)."""

    exit_code = 3
    kind = "conflict"


class InvalidInput(WhistleError):
    exit_code = 1
    kind = "invalid"


class NotMigrated(WhistleError):
    exit_code = 1
    kind = "not_migrated"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file handed to deploy or lint."""

    file: str
    line: int | None
    element_id: str | None
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
        if self.element_id:
            where += f" [{self.element_id}]"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "element_id": self.element_id,
                "message": self.message, "severity": self.severity}


class DeploymentInvalid(WhistleError):
    exit_code = 1
    kind = "invalid_deployment"

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0))
        count = len(problems)
        super().__init__(f"nothing was deployed: {count} problem{'s' if count != 1 else ''} found")

    def to_dict(self) -> dict:
        return {**super().to_dict(), "problems": [p.to_dict() for p in self.problems]}


class IncidentRaised(WhistleError):
    """A command failed inside the process (a script, a condition); nothing changed, an incident is recorded."""

    exit_code = 6
    kind = "incident"

    def __init__(self, message: str, incident_id: int | None, instance_id: int | None):
        super().__init__(message)
        self.incident_id = incident_id
        self.instance_id = instance_id

    def to_dict(self) -> dict:
        return {**super().to_dict(), "incident_id": self.incident_id, "instance_id": self.instance_id}


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its class name): what incidents and errors show."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def is_lock_conflict(exc: BaseException) -> bool:
    """A database error that means "someone else holds this row" rather than a fault: retry or report a conflict."""
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc).lower()
    return "database is locked" in message or "deadlock detected" in message or "could not serialize" in message
