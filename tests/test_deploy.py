"""Deployment: versions, idempotence, atomicity, and problems named by file, line and element."""
import shutil

import pytest
from sqlalchemy import func, select

from engine.api import Whistle
from engine.errors import DeploymentInvalid, NotFound
from engine.store.models import DefinitionVersion, SourceBlob


def _count(whistle, model):
    with whistle.db.read() as s:
        return s.execute(select(func.count()).select_from(model)).scalar()


def _rename_task(src, dst, old="指挥中心审核", new="指挥中心研判"):
    dst.write_text(src.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def test_versions_new_changed_unchanged(whistle, fixtures, tmp_path):
    target = tmp_path / "review.bpmn"
    shutil.copy(fixtures / "review.bpmn", target)
    assert [(r.key, r.version, r.status) for r in whistle.deploy([target])] == [("review", 1, "new")]
    assert [(r.version, r.status) for r in whistle.deploy([target])] == [(1, "unchanged")]
    _rename_task(fixtures / "review.bpmn", target)
    assert [(r.version, r.status) for r in whistle.deploy([target])] == [(2, "new")]
    assert [(r.version, r.status) for r in whistle.deploy([target])] == [(2, "unchanged")]
    versions = [(d["process_id"], d["version"]) for d in whistle.definitions()]
    assert versions == [("review", 1), ("review", 2)]
    # Each distinct file content is stored once.
    assert _count(whistle, SourceBlob) == 2


def test_running_instance_stays_on_its_version(whistle, fixtures, tmp_path):
    whistle.add_user("alice", ["command-centre"])
    target = tmp_path / "review.bpmn"
    shutil.copy(fixtures / "review.bpmn", target)
    whistle.deploy([target])
    old = whistle.start("review", data={"situation": "x"}, user="alice")
    _rename_task(fixtures / "review.bpmn", target)
    whistle.deploy([target])
    new = whistle.start("review", data={"situation": "x"}, user="alice")
    pinned = whistle.start("review", version=1, data={"situation": "x"}, user="alice")
    assert [whistle.show(i)["version"] for i in (old, new, pinned)] == [1, 2, 1]
    names = {t["instance_id"]: t["name"] for t in whistle.tasks("alice")}
    assert names == {old: "指挥中心审核", new: "指挥中心研判", pinned: "指挥中心审核"}
    # The version-1 instance runs to its end on version 1's diagram.
    task = next(t for t in whistle.tasks("alice") if t["instance_id"] == old)
    whistle.complete(task["task_id"], "alice", {"decision": "self"})
    [follow_up] = whistle.show(old)["open_tasks"]
    assert follow_up["name"] == "街道自行处置"
    whistle.complete(follow_up["task_id"], "alice")
    shown = whistle.show(old)
    assert shown["status"] == "completed" and shown["version"] == 1
    with pytest.raises(NotFound, match="has no version 7"):
        whistle.start("review", version=7)


def test_state_survives_restart(db_url, manual_clock, fixtures):
    first = Whistle(db_url)
    first.deploy([fixtures / "review.bpmn"])
    first.add_user("alice", ["command-centre"])
    first.add_user("bob", ["dept-x1"])
    instance = first.start("review", data={"situation": "x1"})
    [task] = first.tasks("alice")
    first.close()
    # A new engine has an empty spec cache: it rebuilds the spec from the stored sources.
    second = Whistle(db_url)
    second.complete(task["task_id"], "alice", {"decision": "whistle"})
    [report] = second.tasks("bob")
    assert report["name"] == "部门报到" and report["candidate_groups"] == ["dept-x1"]
    assert second.show(instance)["data"]["department"] == "dept-x1"
    second.close()


def test_invalid_files_deploy_nothing_and_name_file_line_element(whistle, fixtures):
    paths = [fixtures / "review.bpmn", fixtures / "invalid_schema.bpmn", fixtures / "not_xml.bpmn",
             fixtures / "missing_call.bpmn"]
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy(paths)
    problems = {(p.file.rsplit("/", 1)[-1], p.line, p.element_id) for p in caught.value.problems}
    assert ("invalid_schema.bpmn", 6, "task_a") in problems
    assert ("invalid_schema.bpmn", 10, "weird") in problems
    assert ("not_xml.bpmn", 4, None) in problems
    assert ("missing_call.bpmn", 6, "call_ghost") in problems
    messages = " ".join(p.message for p in caught.value.problems)
    assert "bogusAttribute" in messages and "ghost" in messages
    # Nothing at all was written, not even the valid review.bpmn.
    assert _count(whistle, DefinitionVersion) == 0
    assert _count(whistle, SourceBlob) == 0
    assert whistle.verify_audit().rows == 0


def test_call_activity_resolves_in_batch_or_from_deployed(whistle, fixtures):
    with pytest.raises(DeploymentInvalid, match="1 problem"):
        whistle.deploy([fixtures / "calls" / "parent.bpmn"])
    whistle.deploy([fixtures / "calls" / "child.bpmn"])
    # The child is now deployed, so the parent alone deploys, built with the child's stored source.
    [parent] = whistle.deploy([fixtures / "calls" / "parent.bpmn"])
    assert (parent.key, parent.status) == ("parent", "new")
    whistle.add_user("carol", ["clerks"])
    instance = whistle.start("parent")
    [task] = whistle.tasks("carol")
    assert task["name"] == "子任务"
    whistle.complete(task["task_id"], "carol")
    assert whistle.show(instance)["status"] == "completed"


def test_folder_deploy_is_recursive_and_missing_path_is_named(whistle, fixtures, tmp_path):
    shutil.copytree(fixtures / "calls", tmp_path / "defs" / "calls")
    results = whistle.deploy([tmp_path / "defs"])
    assert sorted(r.key for r in results) == ["child", "parent"]
    with pytest.raises(NotFound, match="nowhere.bpmn"):
        whistle.deploy([tmp_path / "nowhere.bpmn"])


def test_deploy_is_audited(whistle, fixtures):
    whistle.deploy([fixtures / "review.bpmn"], actor="designer1")
    with whistle.db.read() as s:
        from engine.store.models import AuditEvent
        [event] = s.execute(select(AuditEvent)).scalars().all()
    assert (event.event_type, event.actor) == ("deployed", "designer1")
    assert '"key":"review"' in event.details
