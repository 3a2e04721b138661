"""Database connection: SQLite (WAL) by default, PostgreSQL by URL.

Commands run in write transactions. On SQLite a write transaction begins with ``BEGIN IMMEDIATE`` so
that two writers queue up instead of one failing late on a stale snapshot; on PostgreSQL instance rows
are locked with ``SELECT ... FOR UPDATE`` by the runtime.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.store import portable, postgres

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# The session of the write transaction the current code runs in (a command, a timer job), for services a BPMN
# service task calls (engine.scripting.services): they read inside the same transaction as the step that asked.
current_session: ContextVar[Session | None] = ContextVar("whistle_current_session", default=None)
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "whistle.sqlite"


def default_url() -> str:
    return os.environ.get("WHISTLE_DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str | None = None) -> Engine:
    url = normalise_url(url or default_url())
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_pre_ping=True)
        _configure_sqlite(engine)
        return engine
    # Pre-ping: a connection that died while pooled (a restarted server, a terminated backend) is replaced
    # before a command uses it, for one short round trip per checkout; one that dies mid-request is the web
    # layer's to retry or answer 503 (webui.dbloss).
    return create_engine(url, pool_recycle=1800, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("whistle_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def statements_for(dialect_name: str) -> ModuleType:
    """The module of dialect-specific statements for a database (``engine.store.portable`` or ``.postgres``)."""
    return postgres if dialect_name == postgres.NAME else portable


class Database:
    """Owns the SQLAlchemy engine and hands out one session per command."""

    def __init__(self, url: str | None = None):
        self.url = normalise_url(url or default_url())
        self.engine = make_engine(self.url)
        # Chosen once: every session carries its database's statements (engine.store.statements).
        self.statements = statements_for(self.engine.dialect.name)
        info = {"statements": self.statements}
        self._write_engine = self.engine.execution_options(whistle_write=True)
        self._reader = sessionmaker(bind=self.engine, expire_on_commit=False, info=info)
        self._hot_engine = _hot_read_engine(self.url) if self.statements is postgres else None
        self._autocommit_reader = sessionmaker(bind=self._hot_engine, expire_on_commit=False, info=info) \
            if self._hot_engine is not None else None
        self._writer = sessionmaker(bind=self._write_engine, expire_on_commit=False, info=info)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One command = one transaction: commit on success, roll back on any exception."""
        session = self._writer()
        token = current_session.set(session)
        try:
            with session.begin():
                yield session
            for callback in session.info.pop("after_commit", []):
                callback()
        finally:
            current_session.reset(token)
            session.close()

    @contextmanager
    def read(self, snapshot: bool = True) -> Iterator[Session]:
        """A read-only session. ``snapshot=False`` is for hot reads whose statements need not see one
        snapshot (the inbox): on PostgreSQL it runs them in autocommit mode, without the BEGIN and COMMIT
        round trips; SQLite always reads in a transaction."""
        session = self._autocommit_reader() if not snapshot and self._autocommit_reader else self._reader()
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._hot_engine is not None:
            self._hot_engine.dispose()


def _hot_read_engine(url: str) -> Engine:
    """PostgreSQL connections for the hot reads (``Database.read(snapshot=False)``): autocommit, and generic
    plans for their prepared statements. The inbox statement takes longer to plan than to run, and its best
    plan (ordered index ranges cut by LIMIT) does not depend on the user (bench/RESULTS.md, "HTTP")."""
    parsed = make_url(url)
    given = parsed.query.get("options")
    given = " ".join(given) if isinstance(given, tuple) else given  # a URL may repeat a query key
    options = " ".join(filter(None, [given, "-c plan_cache_mode=force_generic_plan"]))
    return create_engine(parsed.update_query_dict({"options": options}), isolation_level="AUTOCOMMIT",
                         pool_recycle=1800, pool_size=5, max_overflow=20, pool_pre_ping=True)
