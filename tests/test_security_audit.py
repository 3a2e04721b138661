"""Issue 19, finding 4: a database writer without the audit key cannot rewrite the audit log unseen.

Each tampering the issue found verifying under plain SHA-256 is repeated here exactly, on both databases, and
must now fail ``verify_audit`` and ``whistle audit verify`` (exit 7) with a reason that names what is wrong.
"""
from __future__ import annotations

import os
import stat

import pytest
from alembic import command
from sqlalchemy import select, text

from cli import main as cli
from engine.api import Whistle
from engine.audit import keys
from engine.audit.chain import GENESIS, row_hash, sign_head, signed_row_hash
from engine.store.db import make_engine
from engine.store.migrate import alembic_config, upgrade
from engine.store.models import AuditEvent, ProcessInstance


@pytest.fixture(autouse=True)
def audit_key(monkeypatch, tmp_path):
    """A key file of this test's own, so key files and rotations never touch the project's var/."""
    monkeypatch.delenv(keys.KEY_ENV, raising=False)
    monkeypatch.delenv(keys.OLD_KEYS_ENV, raising=False)
    monkeypatch.setenv(keys.KEY_FILE_ENV, str(tmp_path / "keys" / "audit_key"))
    keys.reset_cache()
    yield tmp_path / "keys" / "audit_key"
    keys.reset_cache()


def _history(whistle, fixtures) -> int:
    whistle.deploy([fixtures / "review.bpmn"])
    whistle.add_user("alice", ["command-centre"])
    whistle.add_user("dora", ["dept-police"])
    instance = whistle.start("review", data={"situation": "police"}, user="alice")
    [task] = whistle.tasks("alice")
    whistle.complete(task["task_id"], "alice", {"decision": "whistle"})
    return instance


def _sql(whistle, statement: str, **params) -> None:
    with whistle.db.engine.begin() as conn:
        conn.execute(text(statement), params)


def _cli_verify(whistle, capsys) -> tuple[int, str]:
    url = whistle.db.engine.url.render_as_string(hide_password=False)
    capsys.readouterr()
    code = cli.run(["--db", url, "audit", "verify"])
    return code, capsys.readouterr().out


def _tampered(whistle, capsys, *words: str, instance: int | None = None):
    report = whistle.verify_audit()
    assert not report.ok, report
    for word in words:
        assert word in report.reason, report.reason
    if instance is not None:
        assert report.instance_id == instance
    code, out = _cli_verify(whistle, capsys)
    assert code == 7 and "TAMPERED" in out and report.reason in out
    return report


def test_untouched_log_verifies_in_the_cli(whistle, fixtures, capsys, audit_key):
    _history(whistle, fixtures)
    assert whistle.verify_audit().ok
    code, out = _cli_verify(whistle, capsys)
    assert code == 0 and "intact" in out and "2 chains" in out
    assert stat.S_IMODE(os.stat(audit_key).st_mode) == 0o600  # created once, for its owner only
    with whistle.db.read() as s:
        kids = set(s.execute(select(AuditEvent.key_id)).scalars())
    assert kids == {keys.audit_keyring().current_id}


def test_changed_actor_with_recomputed_hashes_and_head_is_detected(whistle, fixtures, capsys):
    """The issue: change a completion's actor and recompute the case's hashes and head (as a writer can,
    without the key: plain SHA-256; or HMAC under a guessed key with the row's key id kept)."""
    instance = _history(whistle, fixtures)
    completed = next(e for e in whistle.show(instance)["audit"] if e["event"] == "task_completed")
    for guess in (None, b"a guessed key, not the real one"):
        with whistle.db.write() as s:
            rows = s.execute(select(AuditEvent).where(AuditEvent.instance_id == instance)
                             .order_by(AuditEvent.id)).scalars().all()
            prev = GENESIS
            for row in rows:
                if row.id == completed["id"]:
                    row.actor = "bob"
                args = (prev, row.at, row.event_type, row.actor, row.instance_id, row.task_id, row.details)
                row.prev_hash = prev
                if guess is None:
                    row.key_id, row.hash = None, row_hash(*args)
                else:
                    row.hash = signed_row_hash(guess, *args)
                prev = row.hash
            head = prev if guess is None else sign_head(rows[-1].key_id, guess, f"case:{instance}", len(rows), prev)
            s.get(ProcessInstance, instance).audit_head = head
        report = _tampered(whistle, capsys, instance=instance)
        if guess is None:  # a plain head is refused before the rows are compared with it
            assert report.first_bad_id == rows[-1].id and "not signed" in report.reason
        else:
            assert report.first_bad_id == rows[0].id and "modified" in report.reason


def test_deleted_case_chain_and_head_are_detected(whistle, fixtures, capsys):
    instance = _history(whistle, fixtures)
    _sql(whistle, "DELETE FROM audit_event WHERE instance_id = :i", i=instance)
    _tampered(whistle, capsys, f"instance {instance}", "has 0 rows but its signed head says 4", "all of them",
              instance=instance)
    _sql(whistle, "UPDATE process_instance SET audit_head = NULL WHERE id = :i", i=instance)
    _tampered(whistle, capsys, f"instance {instance}", "no head", "its chain and its head were removed",
              instance=instance)


def test_case_chain_begun_again_after_its_removal_is_detected(whistle, fixtures, capsys):
    """The chain and head removed, then the case goes on: its new chain does not begin with the start."""
    instance = _history(whistle, fixtures)
    _sql(whistle, "DELETE FROM audit_event WHERE instance_id = :i", i=instance)
    _sql(whistle, "UPDATE process_instance SET audit_head = NULL WHERE id = :i", i=instance)
    [task] = whistle.tasks("dora")
    whistle.claim(task["task_id"], "dora")
    _tampered(whistle, capsys, f"instance {instance}", "does not begin with the case's 'started' row",
              instance=instance)


def test_every_row_deleted_is_detected(whistle, fixtures, capsys):
    instance = _history(whistle, fixtures)
    _sql(whistle, "DELETE FROM audit_event")
    _tampered(whistle, capsys, f"instance {instance}", "all of them are missing", instance=instance)
    # ... and with every head too: the cases have none, and the deployments no system chain.
    _sql(whistle, "DELETE FROM audit_chain_head")
    _sql(whistle, "UPDATE process_instance SET audit_head = NULL")
    _tampered(whistle, capsys, "no head", instance=instance)


def test_every_row_and_head_deleted_without_cases_is_detected(whistle, fixtures, capsys):
    whistle.deploy([fixtures / "review.bpmn"])
    whistle.add_user("alice", ["command-centre"])
    _sql(whistle, "DELETE FROM audit_event")
    _tampered(whistle, capsys, "the system chain has 0 rows but its signed head says 2")
    _sql(whistle, "DELETE FROM audit_chain_head")
    _tampered(whistle, capsys, "versions are deployed, but the system chain and its head are gone")
    whistle.add_user("bob", ["command-centre"])  # a new system chain begun: it lacks the deployment
    _tampered(whistle, capsys, "1 versions are deployed, but the system chain records 0 deployments")


def test_deleted_newest_system_row_is_detected(whistle, fixtures, capsys):
    """The issue: deployments, accounts and tokens kept no head, so their newest row could go."""
    _history(whistle, fixtures)
    whistle.create_token("hotline", "alice")  # tokens are on the system chain too
    with whistle.db.read() as s:
        system = s.execute(select(AuditEvent.id).where(AuditEvent.instance_id.is_(None))
                           .order_by(AuditEvent.id)).scalars().all()
    _sql(whistle, "DELETE FROM audit_event WHERE id = :id", id=system[-1])
    _tampered(whistle, capsys, "the system chain", f"has {len(system) - 1} rows but its signed head says "
                                                   f"{len(system)}", "1 are missing")


def test_shortened_case_chain_is_detected(whistle, fixtures, capsys):
    instance = _history(whistle, fixtures)
    with whistle.db.read() as s:
        rows = s.execute(select(AuditEvent).where(AuditEvent.instance_id == instance)
                         .order_by(AuditEvent.id)).scalars().all()
    _sql(whistle, "DELETE FROM audit_event WHERE id = :id", id=rows[-1].id)
    _tampered(whistle, capsys, f"instance {instance}'s chain has 3 rows but its signed head says 4",
              instance=instance)
    # The head of the shorter chain is nowhere in the database: only its SHA-256 went into the next row.
    for candidate in (rows[-1].prev_hash, rows[-2].hash):
        _sql(whistle, "UPDATE process_instance SET audit_head = :h WHERE id = :i", h=candidate, i=instance)
        _tampered(whistle, capsys, "not signed", instance=instance)


def test_heads_swapped_between_cases_are_detected(whistle, fixtures, capsys):
    first = _history(whistle, fixtures)
    second = whistle.start("review", data={"situation": "police"}, user="alice")
    [task] = [t for t in whistle.tasks("alice") if t["instance_id"] == second]
    whistle.complete(task["task_id"], "alice", {"decision": "whistle"})
    with whistle.db.read() as s:
        heads = dict(s.execute(select(ProcessInstance.id, ProcessInstance.audit_head)).all())
    assert heads[first].split(":")[0] == heads[second].split(":")[0]  # as long as each other
    _sql(whistle, "UPDATE process_instance SET audit_head = :h WHERE id = :i", h=heads[second], i=first)
    _tampered(whistle, capsys, f"the signed head of instance {first}'s chain does not match", instance=first)


def test_deleted_case_with_its_chain_left_is_detected(whistle, fixtures, capsys):
    instance = _history(whistle, fixtures)
    # Everything that refers to the case goes with it (its tasks, timers, subscriptions, ledger, notifications,
    # facts …): only the audit chain is left behind, as someone covering the case's tracks would leave it.
    from engine.store.models import Base

    referring = [t.name for t in reversed(Base.metadata.sorted_tables)
                 if "instance_id" in t.c and t.name not in ("audit_event", "audit_chain_head")]
    _sql(whistle, "DELETE FROM task_candidate WHERE task_id IN (SELECT id FROM human_task WHERE instance_id = :i)",
         i=instance)
    for table in referring:
        _sql(whistle, f"DELETE FROM {table} WHERE instance_id = :i", i=instance)
    _sql(whistle, "DELETE FROM process_instance WHERE id = :i", i=instance)
    _tampered(whistle, capsys, f"instance {instance} is gone, but 4 rows of its audit chain remain",
              instance=instance)


# -- the key ---------------------------------------------------------------------------------------------

def test_key_from_the_environment_wins_and_short_keys_are_refused(monkeypatch, audit_key):
    monkeypatch.setenv(keys.KEY_ENV, "k" * 32)
    ring = keys.audit_keyring()
    assert ring.source == "environment" and ring.current == b"k" * 32 and not audit_key.exists()
    monkeypatch.setenv(keys.KEY_ENV, "short")
    with pytest.raises(keys.AuditKeyError, match="shorter than 16"):
        keys.audit_keyring()
    monkeypatch.delenv(keys.KEY_ENV)
    first = keys.audit_keyring()
    keys.reset_cache()
    assert keys.audit_keyring().current == first.current == audit_key.read_text().strip().encode()


def test_rotated_key_in_the_environment(whistle, fixtures, monkeypatch, capsys):
    monkeypatch.setenv(keys.KEY_ENV, "first-audit-key-of-2026")
    instance = _history(whistle, fixtures)
    old_id = keys.audit_keyring().current_id
    monkeypatch.setenv(keys.KEY_ENV, "second-audit-key-of-2027")
    monkeypatch.setenv(keys.OLD_KEYS_ENV, "first-audit-key-of-2026")
    new_id = keys.audit_keyring().current_id
    [task] = whistle.tasks("dora")
    whistle.complete(task["task_id"], "dora", {})
    whistle.add_user("erin", ["dept-police"])
    assert whistle.verify_audit().ok
    with whistle.db.read() as s:
        kids = [k for k, in s.execute(select(AuditEvent.key_id).where(AuditEvent.instance_id == instance)
                                      .order_by(AuditEvent.id))]
    assert kids[0] == old_id and kids[-1] == new_id
    monkeypatch.delenv(keys.OLD_KEYS_ENV)  # the retired key lost: its rows cannot be checked
    _tampered(whistle, capsys, f"audit key {old_id}", "not in the keyring")


def test_rotate_key_command(whistle, fixtures, capsys, audit_key):
    instance = _history(whistle, fixtures)
    old_id = keys.audit_keyring().current_id
    capsys.readouterr()
    assert cli.run(["audit", "rotate-key"]) == 0
    assert f"audit key {old_id} retired" in capsys.readouterr().out
    retired = keys.old_keys_file(audit_key)
    assert stat.S_IMODE(os.stat(retired).st_mode) == 0o600 and stat.S_IMODE(os.stat(audit_key).st_mode) == 0o600
    ring = keys.audit_keyring()
    assert ring.current_id != old_id and ring.describe()["retired"] == [old_id]
    [task] = whistle.tasks("dora")
    whistle.complete(task["task_id"], "dora", {})
    assert whistle.verify_audit().ok
    assert cli.run(["audit", "keys"]) == 0
    assert f"current audit key {ring.current_id}" in capsys.readouterr().out
    retired.unlink()
    keys.reset_cache()
    _tampered(whistle, capsys, f"audit key {old_id}", "not in the keyring")
    with whistle.db.read() as s:
        assert s.get(ProcessInstance, instance).audit_head.split(":")[1] == ring.current_id


def test_rotate_key_refuses_a_key_in_the_environment(monkeypatch, capsys):
    monkeypatch.setenv(keys.KEY_ENV, "k" * 32)
    assert cli.run(["audit", "rotate-key"]) == 1
    assert "rotate it there" in capsys.readouterr().err


# -- rows from before migration 0009 ------------------------------------------------------------------------

@pytest.fixture
def private_db(db_url, tmp_path):
    """A database of this test alone, which it may downgrade: a SQLite file or a PostgreSQL schema."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'legacy.sqlite'}"
        yield url
        return
    schema = f"whistle_legacy_{os.getpid()}"
    admin = make_engine(db_url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield db_url.split("?")[0] + f"?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _as_before_0009(engine) -> None:
    """Rewrite the log as revision 0008 wrote it: plain SHA-256 rows, each case's head its newest hash."""
    with engine.begin() as conn:
        rows = conn.execute(select(AuditEvent.__table__).order_by(AuditEvent.id)).all()
        last: dict = {}
        for row in rows:
            prev = last.get(row.instance_id, GENESIS)
            digest = row_hash(prev, row.at, row.event_type, row.actor, row.instance_id, row.task_id, row.details)
            conn.execute(text("UPDATE audit_event SET prev_hash = :p, hash = :h, key_id = NULL WHERE id = :id"),
                         {"p": prev, "h": digest, "id": row.id})
            last[row.instance_id] = digest
        for instance_id, digest in last.items():
            if instance_id is not None:
                conn.execute(text("UPDATE process_instance SET audit_head = :h WHERE id = :i"),
                             {"h": digest, "i": instance_id})
        conn.execute(text("DELETE FROM audit_chain_head"))


def test_rows_from_before_the_migration_verify_and_stay_covered(private_db, fixtures, manual_clock, capsys):
    engine = make_engine(private_db)
    upgrade(engine)
    whistle = Whistle(private_db)
    try:
        instance = _history(whistle, fixtures)
        _as_before_0009(engine)
        config = alembic_config(private_db)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0008")
        upgrade(engine)  # 0009 signs the heads over the plain rows
        report = whistle.verify_audit()
        assert report.ok and report.rows == 7, report
        with whistle.db.read() as s:
            assert set(s.execute(select(AuditEvent.key_id)).scalars()) == {None}
        # The case goes on with signed rows after its plain ones; so does the system chain.
        [task] = whistle.tasks("dora")
        whistle.complete(task["task_id"], "dora", {})
        whistle.add_user("erin", ["dept-police"])
        assert whistle.verify_audit().ok
        # A plain row changed and its chain recomputed in plain SHA-256, as before: the signed rows after it,
        # or the signed head, no longer match.
        with whistle.db.write() as s:
            rows = s.execute(select(AuditEvent).where(AuditEvent.instance_id == instance)
                             .order_by(AuditEvent.id)).scalars().all()
            plain = [r for r in rows if r.key_id is None]
            plain[-1].actor = "mallory"
            plain[-1].hash = row_hash(plain[-1].prev_hash, plain[-1].at, plain[-1].event_type, "mallory",
                                      instance, plain[-1].task_id, plain[-1].details)
        _tampered(whistle, capsys, "link", instance=instance)
    finally:
        whistle.close()
        engine.dispose()


def test_plain_rows_removed_before_any_signed_row_are_detected(private_db, fixtures, manual_clock, capsys):
    engine = make_engine(private_db)
    upgrade(engine)
    whistle = Whistle(private_db)
    try:
        instance = _history(whistle, fixtures)
        _as_before_0009(engine)
        config = alembic_config(private_db)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0008")
        upgrade(engine)
        _sql(whistle, "DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event WHERE instance_id = :i)",
             i=instance)
        _tampered(whistle, capsys, f"instance {instance}'s chain has 3 rows but its signed head says 4",
                  instance=instance)
    finally:
        whistle.close()
        engine.dispose()
