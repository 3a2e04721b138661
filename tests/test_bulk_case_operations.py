"""The case search's bulk actions (issue 16, parts 1, 2, 5 and 6 together): the administrator filters cases on
案件管理, chooses 挂起 / 恢复 / 终止 for the checked cases or for everything the filter found, confirms the count,
and the batch suspends, resumes or terminates each case exactly once through its own command; a migration to a
new version runs as a batch too, skipping a case that cannot move with the reason. SQLite and PostgreSQL."""
from __future__ import annotations

import re

import pytest
from test_upgrade import cases  # noqa: F401  (the fixture: four cases of version 1, version 2 deployed)
from test_web_pages import Client, text

from engine.errors import InvalidInput
from webui import create_app

PASSWORD = "s3cret-pw"


def events(whistle, instance_id: int, event: str) -> int:
    return sum(1 for e in whistle.show(instance_id)["audit"] if e["event"] == event)


@pytest.fixture
def site(whistle):
    whistle.add_user("boss", ["admins"], password=PASSWORD, display_name="管理员")
    return create_app({"ENGINE": whistle, "TESTING": True})


def test_bulk_suspend_from_the_case_search_then_resume_all_found(whistle, site, fixtures):
    whistle.deploy([fixtures / "bulk_wait.bpmn"])
    ids = [whistle.start("bulk_wait") for _ in range(5)]
    other = ids[0]
    boss = Client(site, "boss")
    page = text(boss.get("/admin/cases?process=bulk_wait"))
    assert 'id="bulk-form"' in page and 'name="filter_process" value="bulk_wait"' in page

    # The checked cases only: the confirmation names their count.
    chosen = ids[1:4]
    confirm = boss.post("/admin/batches", {"operation": "suspend", "scope": "selected", "filter_process": "bulk_wait",
                                           "instance_id": [str(i) for i in chosen], "back": "/admin/cases"})
    html = text(confirm)
    assert "将对 3 个案件执行「挂起」" in html
    refused = boss.post("/admin/batches", {"operation": "suspend", "confirm": "1", "expected_count": "3",
                                           "instance_id": [str(i) for i in chosen]}, follow_redirects=True)
    assert "reason is required" in text(refused)
    created = boss.post("/admin/batches", {"operation": "suspend", "confirm": "1", "expected_count": "3",
                                           "instance_id": [str(i) for i in chosen], "reason": "排查数据"})
    assert created.status_code == 302
    worked = whistle.batch_runner("worker-1").work_all()
    assert (worked.done, worked.skipped, worked.failed) == (3, 0, 0)
    assert [whistle.show(i)["status"] for i in ids] == ["running", "suspended", "suspended", "suspended", "running"]
    assert all(events(whistle, i, "suspended") == 1 for i in chosen)

    # Everything the filter finds: suspended ones resume, the running ones are skipped with the reason.
    confirm = boss.post("/admin/batches", {"operation": "resume", "scope": "all", "filter_process": "bulk_wait",
                                           "instance_id": [str(other)]})
    assert "将对 5 个案件执行「恢复」" in text(confirm)
    filter_json = re.search(r'name="filter" value="([^"]+)"', text(confirm)).group(1)
    created = boss.post("/admin/batches", {"operation": "resume", "confirm": "1", "expected_count": "5",
                                           "filter": filter_json.replace("&#34;", '"')})
    assert created.status_code == 302, text(created)
    worked = whistle.batch_runner("worker-2").work_all()
    assert (worked.done, worked.skipped) == (3, 2)
    assert {whistle.show(i)["status"] for i in ids} == {"running"}
    assert whistle.verify_audit().ok


def test_a_filter_by_waiting_element_terminates_exactly_those_cases(whistle, fixtures):
    whistle.add_user("boss", ["admins"])
    whistle.deploy([fixtures / "bulk_wait.bpmn"])
    ids = [whistle.start("bulk_wait") for _ in range(4)]
    [task] = whistle.show(ids[0])["open_tasks"]
    element = task["element_id"]
    with pytest.raises(InvalidInput, match="unknown key 'colour'"):
        whistle.preview_batch("boss", "terminate", filter={"colour": "red"}, reason="x")
    with pytest.raises(InvalidInput, match="status"):
        whistle.preview_batch("boss", "terminate", filter={"status": "sleeping"}, reason="x")
    preview = whistle.preview_batch("boss", "terminate", filter={"waiting_at": element, "process": "bulk_wait"},
                                    reason="重复立案")
    assert preview["count"] == 4
    batch = whistle.create_batch("boss", "terminate", filter={"waiting_at": element}, reason="重复立案",
                                 expected_count=4)
    assert whistle.batch_runner("w").work_all().done == 4
    for instance_id in ids:
        shown = whistle.show(instance_id)
        assert shown["status"] == "terminated" and not shown["open_tasks"]
        assert events(whistle, instance_id, "terminated") == 1
    assert whistle.batch("boss", batch["batch_id"])["status"] == "done"


def test_a_migration_runs_as_a_batch_and_skips_the_cases_that_cannot_move(whistle, cases):  # noqa: F811
    with pytest.raises(InvalidInput, match="to_version"):
        whistle.preview_batch("root", "upgrade", instance_ids=list(cases.values()), params={})
    created = whistle.create_batch("root", "upgrade", instance_ids=list(cases.values()),
                                   params={"to_version": 2, "mapping": {"handle": "deal"}})
    worked = whistle.batch_runner("w").work_all()
    assert (worked.done, worked.skipped, worked.failed) == (2, 2, 0)
    items = {i["instance_id"]: i for i in whistle.batch_items("root", created["batch_id"])}
    for name in ("check", "no_team"):  # its element removed; lacking the data version 2 reads
        assert items[cases[name]]["status"] == "skipped" and items[cases[name]]["reason"]
        assert whistle.show(cases[name])["version"] == 1
    for name in ("accept", "handle"):
        assert whistle.show(cases[name])["version"] == 2
        assert sum(1 for e in whistle.show(cases[name])["audit"] if e["event"] == "instance_migrated") == 1
    assert whistle.verify_audit().ok


def test_whistle_upgrade_batch_queues_the_movable_cases_for_the_workers(whistle, cases, db_url):  # noqa: F811
    import json
    import subprocess
    import sys

    from conftest import PROJECT

    run = subprocess.run([sys.executable, "-m", "cli", "--db", db_url, "upgrade", "upkeep", "--to-version", "2",
                          "--map", "handle=deal", "--batch", "--user", "root", "--json"],
                         capture_output=True, text=True, cwd=PROJECT, timeout=120)
    assert run.returncode == 0, run.stderr
    batch = json.loads(run.stdout)
    assert (batch["operation"], batch["total"], batch["status"]) == ("upgrade", 2, "queued")
    assert {whistle.show(i)["version"] for i in cases.values()} == {1}  # nothing moved before a worker runs
    assert whistle.batch_runner("w").work_all().done == 2
    assert [whistle.show(cases[n])["version"] for n in ("accept", "handle", "check", "no_team")] == [2, 2, 1, 1]


def test_the_upgrade_page_hands_many_cases_to_a_batch(whistle, cases, monkeypatch):  # noqa: F811
    from webui.staff import upgrade as upgrade_page

    whistle.add_user("chief", ["admins"], password=PASSWORD)
    monkeypatch.setattr(upgrade_page, "IN_REQUEST", 1)  # two movable cases are "many" here
    root = Client(create_app({"ENGINE": whistle, "TESTING": True}), "chief")
    moved = root.post("/admin/upgrade", {"process": "upkeep", "to": "2", "old": "handle", "new": "deal",
                                         "instances": [str(cases["accept"]), str(cases["handle"])]})
    assert moved.status_code == 302 and "/admin/batches/" in moved.headers["Location"]
    assert whistle.batch_runner("w").work_all().done == 2
    assert whistle.show(cases["handle"])["version"] == 2
