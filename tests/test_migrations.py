"""Migrations keep what is in the database: 0007 (claimable candidates with the task's inbox order) fills its
new columns from the tasks already there, on SQLite and PostgreSQL, and the inbox then reads them."""
from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from engine.api import Whistle
from engine.store.db import make_engine
from engine.store.migrate import current_revision, head_revision, upgrade

from conftest import POSTGRES_URL

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    """An empty database (not migrated), on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite'}"
        return
    schema = f"whistle_migrate_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    base = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _stamp(value: datetime, sqlite: bool) -> str:
    return (value.replace(tzinfo=None) if sqlite else value).isoformat(sep=" ")


def test_0007_marks_open_unclaimed_candidates_and_copies_the_inbox_order(fresh_url, manual_clock):
    engine = make_engine(fresh_url)
    upgrade(engine, "0006")
    sqlite = engine.dialect.name == "sqlite"
    due = NOW + timedelta(hours=2)
    tasks = [("t-open", "open", None, due, 70), ("t-claimed", "open", "alice", None, 50),
             ("t-done", "completed", "alice", NOW, 50)]
    with engine.begin() as conn:  # rows as an older Whistle wrote them: a version, an instance, three tasks
        conn.execute(text("INSERT INTO definition_version (id, key, kind, version, name, content_hash, source_file, "
                          "deployed_at, deployed_by, warnings) VALUES (1, 'old', 'process', 1, 'old', 'x', "
                          "'old.bpmn', :at, 'system', '[]')"), {"at": _stamp(NOW, sqlite)})
        conn.execute(text("INSERT INTO process_instance (id, version_id, process_id, status, state, data, "
                          "started_at, updated_at, revision) VALUES (1, 1, 'old', 'running', '{}', '{}', :at, :at, 1)"),
                     {"at": _stamp(NOW, sqlite)})
        for task_id, status, assignee, due_at, priority in tasks:
            conn.execute(text("INSERT INTO human_task (id, instance_id, process_id, version_id, element_id, name, "
                              "priority, status, assignee, created_at, due_at) VALUES (:id, 1, 'old', 1, 'work', "
                              "'办理', :priority, :status, :assignee, :created, :due)"),
                         {"id": task_id, "priority": priority, "status": status, "assignee": assignee,
                          "created": _stamp(NOW, sqlite), "due": _stamp(due_at, sqlite) if due_at else None})
            conn.execute(text("INSERT INTO task_candidate (task_id, kind, name) VALUES (:id, 'group', 'clerks')"),
                         {"id": task_id})
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        rows = {r.task_id: r for r in conn.execute(text(
            "SELECT task_id, offered, process_id, priority, due_at, created_at FROM task_candidate"))}
    assert {t: bool(r.offered) for t, r in rows.items()} == {"t-open": True, "t-claimed": False, "t-done": False}
    assert rows["t-open"].process_id == "old" and rows["t-open"].priority == 70
    assert rows["t-open"].due_at is not None and rows["t-claimed"].due_at is None
    engine.dispose()

    whistle = Whistle(fresh_url)
    try:
        whistle.add_user("bob", ["clerks"])
        whistle.add_user("alice", ["clerks"])
        assert [t["task_id"] for t in whistle.tasks("bob")] == ["t-open"]
        assert [t["task_id"] for t in whistle.tasks("alice")] == ["t-open", "t-claimed"]
        [shown] = whistle.tasks("bob")
        assert shown["due_at"] == due.isoformat() and shown["candidate_groups"] == ["clerks"]
    finally:
        whistle.close()
