"""Shared fixtures: every integration test runs on SQLite and on PostgreSQL.

PostgreSQL comes from WHISTLE_TEST_POSTGRES_URL (default: the CI server at 127.0.0.1:5432, database
``test``). The tests do not skip when it is missing: they fail, because CI must exercise it.
Each test session migrates a private schema once; each test starts from empty tables.
"""
from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine.api import Whistle
from engine.store.db import make_engine
from engine.store.migrate import upgrade
from engine.store.models import Base
from engine.time import clock

from restart_guard import ColdWhistle, compare_with_twin, snapshot

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT = Path(__file__).parent.parent
POSTGRES_URL = os.environ.get("WHISTLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
START = datetime(2026, 9, 28, 9, 0, tzinfo=UTC)


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


@pytest.fixture(autouse=True)
def cheap_password_hashes(request, monkeypatch):
    """Test accounts hash with a small scrypt cost (the format is unchanged); a test marked
    ``real_password_cost`` keeps the module's own."""
    from engine.identity import accounts

    if not request.node.get_closest_marker("real_password_cost"):
        monkeypatch.setattr(accounts, "_N", 2**4)


@pytest.fixture
def manual_clock():
    manual = clock.ManualClock(START)
    clock.install(manual)
    yield manual
    clock.install(clock.SystemClock())


def pytest_configure(config):
    config.addinivalue_line("markers", "cold_warm: runs warm (one engine) and cold (a new engine per command, as "
                                       "after a restart) and checks both leave the same record (restart_guard)")
    config.addinivalue_line("markers", "fresh_process: its commands run in another process (the CLI): already cold")
    config.addinivalue_line("markers", "real_password_cost: hash passwords at the real scrypt cost (no cheap fixture)")


def pytest_generate_tests(metafunc):
    if "engine_mode" in metafunc.fixturenames and metafunc.definition.get_closest_marker("cold_warm") \
            and not metafunc.definition.get_closest_marker("fresh_process"):
        metafunc.parametrize("engine_mode", ["warm", "cold"])


@pytest.fixture
def engine_mode() -> str:
    """``warm`` unless the test is marked ``cold_warm`` (then both, by ``pytest_generate_tests``)."""
    return "warm"


_TWINS: dict = {}  # snapshots of cold_warm runs waiting for their other mode (restart_guard.compare_with_twin)


@pytest.fixture
def whistle(request, db_url, manual_clock, engine_mode) -> Whistle:
    engine = Whistle(db_url) if engine_mode == "warm" else ColdWhistle(db_url)
    yield engine
    if _guarded(request.node) and not _failed(request.node):
        params = {k: v for k, v in request.node.callspec.params.items() if k != "engine_mode"}
        compare_with_twin(_TWINS, (request.node.originalname, tuple(sorted(params.items(), key=str))),
                          engine_mode, snapshot(engine, str(request.getfixturevalue("tmp_path"))))
    engine.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.whistle_call_failed = report.failed
    return report


def _guarded(node) -> bool:
    return "engine_mode" in getattr(getattr(node, "callspec", None), "params", {})


def _failed(node) -> bool:
    return getattr(node, "whistle_call_failed", False)


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
