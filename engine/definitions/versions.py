"""Finding the deployed version of a process a command names."""
from __future__ import annotations

from engine.errors import NotFound
from engine.store import Session
from engine.store import definitions as stored
from engine.store.models import DefinitionVersion


def find_version(session: Session, key: str, version: int | None = None) -> DefinitionVersion:
    """Version ``version`` of the process ``key``, or its latest; ``NotFound`` says what is deployed."""
    if version is None:
        found = stored.latest_version(session, key)
        if found is None:
            raise NotFound(f"no process '{key}' is deployed")
        return found
    found = stored.process_version(session, key, version)
    if found is None:
        latest = stored.latest_process_number(session, key)
        raise NotFound(f"process '{key}' has no version {version}"
                       + (f" (latest is {latest})" if latest else " (it is not deployed)"))
    return found


def version_label(version: DefinitionVersion) -> str:
    """How messages name a version: ``process 'whistle' version 2``."""
    return f"process '{version.key}' version {version.version}"
