"""The engine clock: one shifted time for every process in demo and test mode, the system time otherwise."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from engine.api import Whistle
from engine.errors import Forbidden, InvalidInput
from engine.time import clock

from conftest import PROJECT


def cli(db_url: str, *args, mode: str = "test") -> subprocess.CompletedProcess:
    env = {**os.environ, "WHISTLE_MODE": mode}
    result = subprocess.run([sys.executable, "-m", "cli", "--db", db_url, *map(str, args)],
                            capture_output=True, text=True, cwd=PROJECT, timeout=60, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def system_clock():
    clock.install(clock.SystemClock())
    yield
    clock.install(clock.SystemClock())


def test_every_process_sees_the_same_shifted_time(db_url, system_clock, monkeypatch):
    monkeypatch.setenv("WHISTLE_MODE", "test")
    engine = Whistle(db_url)
    try:
        assert isinstance(clock.active(), clock.DatabaseClock)
        done = json.loads(cli(db_url, "clock", "set", "2027-04-01T09:00:00+08:00", "--json").stdout)
        assert abs(when(done["now"]) - datetime(2027, 4, 1, 1, 0, tzinfo=UTC)) < timedelta(seconds=30)

        shown = json.loads(cli(db_url, "clock", "show", "--json").stdout)  # another process
        assert shown["source"] == "database offset" and shown["mode"] == "test"
        assert abs(when(shown["now"]) - datetime(2027, 4, 1, 1, 0, tzinfo=UTC)) < timedelta(seconds=30)
        before = shown["offset_seconds"]

        advanced = json.loads(cli(db_url, "clock", "advance", "PT31M", "--json").stdout)
        assert advanced["offset_seconds"] == pytest.approx(before + 31 * 60, abs=0.01)

        clock.active().invalidate()  # this process would see it within its cache time anyway
        assert abs(clock.now() - datetime(2027, 4, 1, 1, 31, tzinfo=UTC)) < timedelta(seconds=30)
        engine.clock_advance("-PT1M")
        assert engine.clock_show()["offset_seconds"] == pytest.approx(before + 30 * 60, abs=0.01)
        shifted = [e for e in _audit(engine) if e == "clock_shifted"]
        assert len(shifted) == 3
    finally:
        engine.close()


def _audit(engine: Whistle) -> list[str]:
    from sqlalchemy import select

    from engine.store.models import AuditEvent

    with engine.db.read() as session:
        return list(session.execute(select(AuditEvent.event_type).order_by(AuditEvent.id)).scalars())


def test_clock_cannot_be_moved_outside_demo_and_test_mode(db_url, system_clock, monkeypatch):
    refused = cli(db_url, "clock", "advance", "PT31M", mode="production")
    assert refused.returncode == 5
    assert "only be moved in demo or test mode" in refused.stderr
    assert cli(db_url, "clock", "set", "2027-04-01T09:00:00+08:00", mode="production").returncode == 5
    shown = cli(db_url, "clock", "show", "--json", mode="production")
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["offset_seconds"] == 0 and json.loads(shown.stdout)["source"] == "system"

    monkeypatch.setenv("WHISTLE_MODE", "production")
    engine = Whistle(db_url)
    try:
        assert isinstance(clock.active(), clock.SystemClock)
        with pytest.raises(Forbidden):
            engine.clock_advance("PT31M")
    finally:
        engine.close()


def test_clock_values_need_iso_and_an_offset(db_url, system_clock, monkeypatch):
    naive = cli(db_url, "clock", "set", "2027-04-01T09:00:00")
    assert naive.returncode == 1 and "no UTC offset" in naive.stderr
    assert cli(db_url, "clock", "advance", "30 minutes").returncode == 1
    monkeypatch.setenv("WHISTLE_MODE", "demo")
    engine = Whistle(db_url)
    try:
        with pytest.raises(InvalidInput):
            engine.clock_advance("P")
    finally:
        engine.close()


def test_a_test_clock_installed_first_is_kept(db_url, manual_clock, monkeypatch):
    monkeypatch.setenv("WHISTLE_MODE", "test")
    engine = Whistle(db_url)
    try:
        assert clock.active() is manual_clock
        assert engine.clock_show()["source"] == "manual (tests)"
    finally:
        engine.close()


def test_database_clock_reads_the_offset_at_most_once_per_ttl(db_url, system_clock, monkeypatch):
    monkeypatch.setenv("WHISTLE_MODE", "test")
    engine = Whistle(db_url)
    other = Whistle(db_url)
    try:
        mine = clock.DatabaseClock(engine.db.engine, ttl=3600)
        assert abs(mine.now() - datetime.now(UTC)) < timedelta(seconds=5)
        other.clock_advance("P2D")
        assert abs(mine.now() - datetime.now(UTC)) < timedelta(seconds=5)  # cached
        mine.invalidate()
        assert abs(mine.now() - datetime.now(UTC) - timedelta(days=2)) < timedelta(seconds=5)
    finally:
        engine.close()
        other.close()
