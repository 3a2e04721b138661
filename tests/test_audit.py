"""The audit log is a signed chain: it verifies, and a changed or removed row is detected."""
from sqlalchemy import text

from engine.audit.chain import link_after, sign_head
from engine.audit.keys import audit_keyring


def _busy_history(whistle, fixtures):
    whistle.deploy([fixtures / "review.bpmn"])
    whistle.add_user("alice", ["command-centre"])
    instance = whistle.start("review", data={"situation": "x"}, user="alice")
    [task] = whistle.tasks("alice")
    whistle.complete(task["task_id"], "alice", {"decision": "self", "意见": "街道自行处置"})
    return instance


def test_chain_verifies(whistle, fixtures):
    _busy_history(whistle, fixtures)
    report = whistle.verify_audit()
    assert report.ok and report.rows == 6 and report.first_bad_id is None


def test_modified_row_is_detected(whistle, fixtures):
    instance = _busy_history(whistle, fixtures)
    completed = next(e for e in whistle.show(instance)["audit"] if e["event"] == "task_completed")
    with whistle.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor = 'bob' WHERE id = :id"), {"id": completed["id"]})
    report = whistle.verify_audit()
    assert not report.ok and report.first_bad_id == completed["id"]
    assert "modified" in report.reason


def test_removed_row_is_detected(whistle, fixtures):
    _busy_history(whistle, fixtures)
    with whistle.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id = 3"))
    report = whistle.verify_audit()
    assert not report.ok and report.first_bad_id == 4
    assert "link" in report.reason


def test_completed_data_is_recorded(whistle, fixtures):
    instance = _busy_history(whistle, fixtures)
    completed = next(e for e in whistle.show(instance)["audit"] if e["event"] == "task_completed")
    assert completed["details"]["data"] == {"decision": "self", "意见": "街道自行处置"}
    assert completed["actor"] == "alice"


def test_removed_newest_row_of_a_case_is_detected(whistle, fixtures):
    instance = _busy_history(whistle, fixtures)
    newest = whistle.show(instance)["audit"][-1]
    with whistle.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": newest["id"]})
    report = whistle.verify_audit()
    assert not report.ok and f"instance {instance}" in report.reason


def test_each_case_has_its_own_chain(whistle, fixtures):
    instance = _busy_history(whistle, fixtures)
    events = whistle.show(instance)["audit"]
    with whistle.db.read() as s:
        rows = s.execute(text("SELECT id, instance_id, prev_hash, hash FROM audit_event ORDER BY id")).all()
        head = s.execute(text("SELECT audit_head FROM process_instance WHERE id = :id"), {"id": instance}).scalar()
    case_rows = [r for r in rows if r.instance_id == instance]
    assert [r.id for r in case_rows] == [e["id"] for e in events]
    assert case_rows[0].prev_hash == "0" * 64
    # Each row links to the SHA-256 of its chain's signed head before it; the head says how long the chain is.
    ring = audit_keyring()
    heads = [sign_head(ring.current_id, ring.current, f"case:{instance}", n, r.hash)
             for n, r in enumerate(case_rows, 1)]
    assert all(b.prev_hash == link_after(h) for h, b in zip(heads[:-1], case_rows[1:], strict=True))
    assert head == heads[-1] and head.startswith(f"{len(case_rows)}:{ring.current_id}:")
    assert head not in {r.prev_hash for r in rows} | {r.hash for r in rows}
