"""The PostgreSQL forms of the statements in ``engine.store.portable`` (same names; chosen once, when the
database is opened). Whatever is not here is portable and taken from there."""
from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import insert as _pg_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.store import inbox
from engine.store.columns import UTCDateTime
from engine.store.portable import *  # noqa: F401,F403  (what PostgreSQL runs as written)

NAME = "postgresql"
_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def advisory_lock(session: Session, key: int) -> None:
    """A transaction-scoped advisory lock: writers of the same shared thing queue up on ``key``."""
    session.execute(_ADVISORY_LOCK, {"key": key})


def insert_ignoring_duplicates(session: Session, model: Any, values: dict) -> None:
    session.execute(_pg_insert(model).values(**values).on_conflict_do_nothing())


def insert_rows_ignoring_duplicates(session: Session, model: Any, rows: list[dict]) -> None:
    """One INSERT … ON CONFLICT DO NOTHING: a concurrent writer of the same key waits, then adds nothing."""
    if rows:
        session.execute(_pg_insert(model).values(rows).on_conflict_do_nothing())


def inbox_page(session: Session, user: str, limit: int, offset: int, process_id: str | None) -> list[dict]:
    """The portable ``inbox_page`` in one round trip: the statement joins the user's groups in (LATERAL), and,
    compiled once per shape, goes straight to the driver, past SQLAlchemy's per-execution work (the hottest
    read there is). Only an empty page asks who the user is."""
    sql, defaults, columns = _inbox_for_driver(session.get_bind().dialect, process_id is not None)
    driver = session.connection().connection.driver_connection  # psycopg's own connection
    assert driver is not None  # a session's connection is open while it is used
    with driver.cursor() as cursor:
        cursor.execute(sql, {**defaults, **inbox.page_parameters(user, limit, offset, process_id)})
        rows = [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]
    for row in rows:  # as engine.store.columns.UTCDateTime gives them everywhere else
        for key in ("created_at", "due_at", "completed_at"):
            if row[key] is not None:
                row[key] = row[key].astimezone(UTC)
    if not rows and session.execute(inbox.ACTIVE_USER_GROUPS, {"username": user}).first() is None:
        raise NotFound(f"no user '{user}'")
    return rows


@functools.lru_cache(maxsize=8)
def _inbox_for_driver(dialect: Dialect, by_process: bool) -> tuple[str, dict, list[str]]:
    """The inbox statement compiled once: its SQL for the DBAPI driver, its literal parameters and its result
    column names."""
    statement = inbox.page_statement(None, by_process)
    compiled = statement.compile(dialect=dialect)
    defaults = {name: value for name, value in compiled.params.items() if value is not None}
    return compiled.string, defaults, [str(column.key) for column in statement.selected_columns]


# ``write_step`` in one statement, one round trip to the server. New rows travel as JSON and are expanded by the
# server (a column missing from them is inserted as NULL, not its default: the runtime gives every column); rows
# to close are found by id arrays, so that each part is an index lookup whatever the planner guesses of the JSON
# (a join with it became a sequential scan of the inbox). Foreign keys between the parts (a new task's
# candidates) are checked at the end of the statement.
_WRITE_STEP = text("""
WITH closed AS (
    UPDATE human_task h
    SET status = CASE WHEN h.id = ANY(CAST(:completed_ids AS text[])) THEN 'completed' ELSE 'cancelled' END,
        completed_by = CASE WHEN h.id = :completing THEN :actor END, completed_at = :closed_at,
        assignee = coalesce(h.assignee, CASE WHEN h.id = :completing THEN :actor END)
    WHERE h.id = ANY(CAST(:closed_ids AS text[])) AND h.status = 'open'
    RETURNING 1),
withdrawn AS (
    UPDATE task_candidate SET offered = false WHERE task_id = ANY(CAST(:closed_ids AS text[])) RETURNING 1),
new_tasks AS (
    INSERT INTO human_task SELECT * FROM json_populate_recordset(NULL::human_task, CAST(:tasks AS json)) RETURNING 1),
new_candidates AS (
    INSERT INTO task_candidate
    SELECT * FROM json_populate_recordset(NULL::task_candidate, CAST(:candidates AS json)) RETURNING 1),
events AS (
    INSERT INTO audit_event (at, event_type, actor, instance_id, task_id, details, prev_hash, hash, key_id)
    SELECT e.at, e.event_type, e.actor, e.instance_id, e.task_id, e.details, e.prev_hash, e.hash, e.key_id
    FROM json_populate_recordset(NULL::audit_event, CAST(:events AS json)) WITH ORDINALITY AS e
    ORDER BY e.ordinality RETURNING 1)
UPDATE process_instance SET state = :new_state, data = CAST(:new_data AS json), status = :new_status,
       updated_at = :new_updated_at, completed_at = :new_completed_at, revision = :new_revision,
       audit_head = :new_audit_head, street = :new_street, department = :new_department
WHERE id = :instance_id AND revision = :old_revision
""").bindparams(bindparam("new_updated_at", type_=UTCDateTime()), bindparam("new_completed_at", type_=UTCDateTime()),
                bindparam("closed_at", type_=UTCDateTime()))


def write_step(session: Session, instance: dict[str, Any], closed: list[dict], tasks: list[dict],
               candidates: list[dict], events: list[dict]) -> int:
    completing = next((c for c in closed if c["closed_by"]), None)
    return cast(CursorResult, session.execute(_WRITE_STEP, dict(
        instance, new_data=json.dumps(instance["new_data"], ensure_ascii=False),
        closed_ids=[c["task_id"] for c in closed],
        completed_ids=[c["task_id"] for c in closed if c["closed_as"] == "completed"],
        completing=completing and completing["task_id"], actor=completing and completing["closed_by"],
        closed_at=instance["new_updated_at"], tasks=_json_rows(tasks), candidates=_json_rows(candidates),
        events=_json_rows(events)))).rowcount


def _json_rows(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False, default=_json_default)


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def percentile_by_group(session: Session, value: Any, groups: tuple, where: list, fraction: float) -> dict:
    """{group values: the ``fraction`` percentile of ``value`` by nearest rank} (``percentile_disc``)."""
    query = select(*groups, func.percentile_disc(fraction).within_group(value)).where(*where).group_by(*groups)
    return {tuple(row[:-1]): row[-1] for row in session.execute(query).all()}
