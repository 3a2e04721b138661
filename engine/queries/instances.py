"""What the case pages read about process instances beyond ``Whistle.show``."""
from __future__ import annotations

from engine.errors import NotFound
from engine.store import queries
from engine.store.db import Database


def version_id(db: Database, instance_id: int) -> int:
    """The id of the definition version the instance runs on; NotFound for an unknown instance."""
    with db.read() as session:
        found = queries.instance_version_id(session, instance_id)
    if found is None:
        raise NotFound(f"no instance {instance_id}")
    return found
