"""Shared fixtures: every integration test runs on SQLite and on PostgreSQL.

PostgreSQL comes from WHISTLE_TEST_POSTGRES_URL (default: the CI server at 127.0.0.1:5432, database
``test``). The tests do not skip when it is missing: they fail, because CI must exercise it.
Each test session migrates a private schema once; each test starts from empty tables.
"""
from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine import clock
from engine.api import Whistle
from engine.db import make_engine
from engine.migrate import upgrade
from engine.models import Base

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT = Path(__file__).parent.parent
POSTGRES_URL = os.environ.get("WHISTLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
START = datetime(2026, 9, 28, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "whistle.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_schema_url():
    schema = f"whistle_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    base = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _truncate_postgres(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "whistle.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_schema_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def manual_clock():
    manual = clock.ManualClock(START)
    clock.install(manual)
    yield manual
    clock.install(clock.SystemClock())


@pytest.fixture
def whistle(db_url, manual_clock) -> Whistle:
    engine = Whistle(db_url)
    yield engine
    engine.close()


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
