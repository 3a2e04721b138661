"""What the designers' pages read about deployed definitions."""
from __future__ import annotations

from engine.store import queries
from engine.store.db import Database


def version_ids(db: Database) -> dict[tuple[str, int], int]:
    """Every deployed version's id by ``(key, version)``: the definitions list names versions by number."""
    with db.read() as session:
        return queries.version_ids(session)
