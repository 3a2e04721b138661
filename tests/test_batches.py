"""Bulk operations (issue 16, part 6): a batch over a set of cases, worked by the job executor's workers with every
case done exactly once; refusals skipped with their reason, failures retried then failed; cancel; only
administrators; the command line; and on PostgreSQL a bulk terminate of 1,000 cases by two worker processes, one
killed half way."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
import test_api as api_checks  # its client checks every answer against the OpenAPI document
from sqlalchemy import func, select

from cli.main import run as cli_run
from engine.api import Whistle
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.jobs import batches as batch_ops
from engine.jobs.executor import start_worker_thread
from engine.runtime.context import CommandContext
from engine.store.models import AuditEvent
from engine.time import clock

from conftest import FIXTURES, PROJECT
from process_helpers import wait_for


def cases(whistle: Whistle, count: int) -> list[int]:
    whistle.deploy([FIXTURES / "bulk_wait.bpmn"])
    return [whistle.start("bulk_wait") for _ in range(count)]


def admin(whistle: Whistle, name: str = "admin") -> str:
    whistle.add_user(name, ["admins"])
    return name


def finish_case(whistle: Whistle, instance_id: int) -> None:
    if not whistle.user_info("clerk"):
        whistle.add_user("clerk", ["command-centre"])
    [task] = whistle.show(instance_id)["open_tasks"]
    whistle.claim(task["task_id"], "clerk")
    whistle.complete(task["task_id"], "clerk", {})


def events(whistle: Whistle, instance_id: int, event: str) -> int:
    return sum(1 for e in whistle.show(instance_id)["audit"] if e["event"] == event)


def test_a_batch_repairs_the_running_cases_and_skips_the_finished_ones_with_the_reason(whistle, manual_clock):
    ids = cases(whistle, 6)
    for instance_id in ids[:2]:
        finish_case(whistle, instance_id)
    user = admin(whistle)
    assert whistle.preview_batch(user, "repair", instance_ids=ids)["count"] == 6
    created = whistle.create_batch(user, "repair", instance_ids=ids, reason="批量修复测试")
    assert (created["status"], created["total"], created["pending"]) == ("queued", 6, 6)

    worked = whistle.batch_runner("worker-1").work_all()
    assert (worked.done, worked.skipped, worked.failed) == (4, 2, 0)
    shown = whistle.batch(user, created["batch_id"])
    assert (shown["status"], shown["done"], shown["skipped"], shown["failed"], shown["pending"]) == ("done", 4, 2, 0, 0)
    assert shown["percent"] == 100.0 and shown["reason"] == "批量修复测试"
    items = {i["instance_id"]: i for i in whistle.batch_items(user, created["batch_id"])}
    for instance_id in ids[:2]:
        assert items[instance_id]["status"] == "skipped"
        assert "it accepts no repair" in items[instance_id]["reason"]
        assert events(whistle, instance_id, "instance_repaired") == 0
    for instance_id in ids[2:]:
        assert (items[instance_id]["status"], items[instance_id]["reason"]) == ("done", None)
        assert events(whistle, instance_id, "instance_repaired") == 1  # the operation's own effect, once
        assert items[instance_id]["worker"] == "worker-1"
    assert whistle.batch_runner("worker-2").work_all().acquired == 0  # nothing is done twice

    report = whistle.batch_report_csv(user, created["batch_id"])
    assert report.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(report[1:])))
    assert table[0][:4] == ["案件", "流程", "结果", "原因"] and len(table) == 7
    assert sorted(row[2] for row in table[1:]) == ["已完成"] * 4 + ["已跳过"] * 2
    english = whistle.batch_report_csv(user, created["batch_id"], "en")
    assert english.splitlines()[0].lstrip("\ufeff").startswith("Case,Process,Result,Reason")
    assert whistle.verify_audit().ok
    listed = [b for b in whistle.batch_list(user) if b["batch_id"] == created["batch_id"]]
    assert listed[0]["done"] == 4


def test_a_filter_is_resolved_once_and_the_confirmed_count_must_still_hold(whistle, manual_clock):
    ids = cases(whistle, 5)
    finish_case(whistle, ids[0])
    user = admin(whistle)
    running = {"process_id": "bulk_wait", "status": "running"}
    preview = whistle.preview_batch(user, "repair", filter=running)
    assert preview["count"] == 4 and preview["operation_label"] == "修复"
    finish_case(whistle, ids[1])  # the selection changed after the confirmation named 4
    with pytest.raises(InvalidInput, match="now holds 3 cases, not the 4 confirmed"):
        whistle.create_batch(user, "repair", filter=running, expected_count=4)
    created = whistle.create_batch(user, "repair", filter=running, expected_count=3)
    assert created["total"] == 3 and created["filter"] == running
    finish_case(whistle, ids[2])  # the batch's set does not drift: the case is in it and is refused
    whistle.batch_runner("w").work_all()
    shown = whistle.batch(user, created["batch_id"])
    assert (shown["done"], shown["skipped"]) == (2, 1)

    with pytest.raises(InvalidInput, match="unknown key 'colour'"):
        whistle.preview_batch(user, "repair", filter={"colour": "red"})
    with pytest.raises(InvalidInput, match="either by instance_ids or by a filter"):
        whistle.preview_batch(user, "repair", instance_ids=[ids[3]], filter=running)
    with pytest.raises(NotFound, match="no case 999"):
        whistle.create_batch(user, "repair", instance_ids=[ids[3], 999])
    with pytest.raises(InvalidInput, match="holds no case"):
        whistle.create_batch(user, "repair", filter={"process_id": "nothing-like-it"})
    with pytest.raises(InvalidInput, match="no batch operation 'explode'; there are: .*repair"):
        whistle.create_batch(user, "explode", instance_ids=[ids[3]])
    assert [b["batch_id"] for b in whistle.batch_list(user)] == [created["batch_id"]]


def test_cancel_skips_what_is_not_done_and_an_item_in_hand_is_rolled_back(whistle, manual_clock):
    ids = cases(whistle, 6)
    user = admin(whistle)
    batch_id = whistle.create_batch(user, "repair", instance_ids=ids)["batch_id"]
    runner = whistle.batch_runner("w")
    first = runner.run_once(limit=2)
    assert first.done == 2
    [(item_id, _, instance_id)] = runner.acquire(1)  # a worker holds the third, about to work it

    cancelled = whistle.cancel_batch(user, batch_id)
    assert (cancelled["status"], cancelled["done"], cancelled["skipped"], cancelled["pending"]) == \
        ("cancelled", 2, 4, 0)
    assert cancelled["cancelled_by"] == user
    assert runner.work(item_id, instance_id, "repair", {}, None, user) == "lost"
    assert events(whistle, instance_id, "instance_repaired") == 0  # its command was rolled back with the mark
    assert runner.work_all().acquired == 0
    reasons = {i["instance_id"]: (i["status"], i["reason"]) for i in whistle.batch_items(user, batch_id)}
    assert [reasons[i] for i in ids[2:]] == [("skipped", "cancelled")] * 4
    assert sum(events(whistle, i, "instance_repaired") for i in ids) == 2
    with pytest.raises(InvalidInput, match="cancelled already"):
        whistle.cancel_batch(user, batch_id)
    assert whistle.verify_audit().ok


def test_a_worker_whose_lock_ran_out_loses_the_item_and_its_work_is_rolled_back(whistle, manual_clock):
    """Worker A takes an item and stalls past its lock; B takes it over and does it; A's late work is refused by
    its own done mark and rolled back: the case is repaired once."""
    [instance_id] = cases(whistle, 1)
    user = admin(whistle)
    batch_id = whistle.create_batch(user, "repair", instance_ids=[instance_id])["batch_id"]
    slow, fast = whistle.batch_runner("slow"), whistle.batch_runner("fast")
    [(item_id, _, _)] = slow.acquire()
    assert fast.acquire() == []  # held
    manual_clock.advance(timedelta(seconds=batch_ops.DEFAULT_LOCK_SECONDS + 1))
    assert fast.run_once().done == 1
    assert slow.work(item_id, instance_id, "repair", {}, None, user) == "lost"
    assert events(whistle, instance_id, "instance_repaired") == 1
    [item] = whistle.batch_items(user, batch_id)
    assert (item["status"], item["worker"]) == ("done", "fast")


def test_failures_are_tried_again_with_backoff_then_failed_and_refusals_or_outcomes_skip(whistle, manual_clock):
    ids = cases(whistle, 3)
    user = admin(whistle)
    calls: list[int] = []

    def flaky(target: Whistle, instance_id: int, params: dict, actor: str) -> object:
        calls.append(instance_id)
        if instance_id == ids[0]:
            raise RuntimeError("the registry is down")
        if instance_id == ids[1]:
            return batch_ops.Outcome("skipped", "nothing to tag here")

        def work(session, audit) -> None:
            audit.record("case_tagged", actor, instance_id, tag=params["tag"], reason=params["reason"])

        return target.runtime.run_command(CommandContext("tag", actor, instance_id=instance_id), work)

    def needs_tag(params: dict) -> dict:
        if not isinstance(params.get("tag"), str):
            raise InvalidInput("params.tag must be text")
        return {"tag": params["tag"]}

    batch_ops.register("test_tag", flaky, label="打标签", reason_required=True, validate=needs_tag)
    with pytest.raises(InvalidInput, match="reason is required for 'test_tag'"):
        whistle.create_batch(user, "test_tag", instance_ids=ids, params={"tag": "x"})
    with pytest.raises(InvalidInput, match="params.tag must be text"):
        whistle.create_batch(user, "test_tag", instance_ids=ids, reason="r", params={"tag": 3})
    batch_id = whistle.create_batch(user, "test_tag", instance_ids=ids, reason="年度检查",
                                    params={"tag": "checked"})["batch_id"]
    runner = whistle.batch_runner("w")
    first = runner.work_all()
    assert (first.done, first.skipped, first.retried) == (1, 1, 1)
    assert events(whistle, ids[2], "case_tagged") == 1
    [tagged] = [e for e in whistle.show(ids[2])["audit"] if e["event"] == "case_tagged"]
    assert tagged["details"] == {"tag": "checked", "reason": "年度检查"} and tagged["actor"] == user
    assert runner.work_all().acquired == 0  # backing off
    manual_clock.advance(timedelta(seconds=batch_ops.DEFAULT_BACKOFF_SECONDS + 1))
    assert runner.work_all().retried == 1
    assert runner.work_all().acquired == 0
    manual_clock.advance(timedelta(seconds=4 * batch_ops.DEFAULT_BACKOFF_SECONDS + 1))
    assert runner.work_all().failed == 1
    assert calls.count(ids[0]) == batch_ops.DEFAULT_ATTEMPTS
    items = {i["instance_id"]: i for i in whistle.batch_items(user, batch_id)}
    assert (items[ids[0]]["status"], items[ids[0]]["reason"], items[ids[0]]["attempts"]) == \
        ("failed", "RuntimeError: the registry is down", 3)
    assert (items[ids[1]]["status"], items[ids[1]]["reason"]) == ("skipped", "nothing to tag here")
    assert whistle.batch(user, batch_id)["status"] == "done"


def test_only_administrators_may_create_cancel_or_read_batches(whistle, manual_clock):
    ids = cases(whistle, 2)
    user = admin(whistle)
    whistle.add_user("clerk", ["command-centre"])
    whistle.add_user("designer", ["designers"])
    batch_id = whistle.create_batch(user, "repair", instance_ids=ids)["batch_id"]
    attempts = {"create": lambda who: whistle.create_batch(who, "repair", instance_ids=ids),
                "preview": lambda who: whistle.preview_batch(who, "repair", instance_ids=ids),
                "cancel": lambda who: whistle.cancel_batch(who, batch_id),
                "list": lambda who: whistle.batch_list(who),
                "show": lambda who: whistle.batch(who, batch_id),
                "items": lambda who: whistle.batch_items(who, batch_id),
                "report": lambda who: whistle.batch_report_csv(who, batch_id),
                "operations": lambda who: whistle.batch_operations(who)}
    for someone in ("clerk", "designer", "nobody"):
        for name, attempt in attempts.items():
            with pytest.raises(Forbidden, match="only administrators"):
                attempt(someone)
                pytest.fail(f"{someone} could {name}")
    assert whistle.batch(user, batch_id)["status"] == "queued"


def test_the_worker_loop_of_serve_works_batch_items_beside_the_timers(whistle, manual_clock):
    ids = cases(whistle, 8)
    user = admin(whistle)
    batch_id = whistle.create_batch(user, "repair", instance_ids=ids)["batch_id"]
    thread, stop = start_worker_thread(whistle.executor, poll_interval=0.05)
    try:
        wait_for(lambda: whistle.batch(user, batch_id)["status"] == "done", "the worker thread to finish the batch")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert whistle.batch(user, batch_id)["done"] == 8
    assert all(events(whistle, i, "instance_repaired") == 1 for i in ids)


def cli(db_url: str, capsys, *args) -> tuple[int, str, str]:
    code = cli_run(["--db", db_url, *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_command_line_confirms_creates_runs_shows_and_cancels(whistle, db_url, manual_clock, capsys,
                                                                    monkeypatch, tmp_path):
    ids = cases(whistle, 4)
    finish_case(whistle, ids[0])
    admin(whistle)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    code, _, err = cli(db_url, capsys, "batch", "create", "repair", "--filter", '{"process_id": "bulk_wait"}',
                       "--user", "admin")
    assert code == 1 and "this would run repair on 4 cases" in err and "--yes" in err
    assert whistle.batch_list("admin") == []
    code, _, err = cli(db_url, capsys, "batch", "create", "repair", "--instance", ids[0], "--user", "clerk", "--yes")
    assert code == 5 and "only administrators" in err

    code, out, _ = cli(db_url, capsys, "batch", "create", "repair", "--filter", '{"process_id": "bulk_wait"}',
                       "--user", "admin", "--reason", "修复", "--yes", "--json")
    assert code == 0
    created = json.loads(out)
    assert (created["total"], created["status"], created["operation"]) == (4, "queued", "repair")

    code, out, _ = cli(db_url, capsys, "batch", "run", "--json", "--name", "cli-worker")
    assert code == 0 and json.loads(out)["done"] == 3 and json.loads(out)["skipped"] == 1
    code, out, _ = cli(db_url, capsys, "batch", "wait", created["batch_id"], "--json")
    assert code == 0 and json.loads(out)["status"] == "done"
    code, out, _ = cli(db_url, capsys, "batch", "show", created["batch_id"], "--items", "--json")
    shown = json.loads(out)
    assert (shown["done"], shown["skipped"]) == (3, 1)
    assert [(i["instance_id"], i["status"]) for i in shown["items"]] == \
        [(ids[0], "skipped")] + [(i, "done") for i in ids[1:]]
    code, out, _ = cli(db_url, capsys, "batch", "show", created["batch_id"])
    assert "[##############################] 4/4 100%" in out
    code, out, _ = cli(db_url, capsys, "batch", "list", "--json")
    assert [b["batch_id"] for b in json.loads(out)] == [created["batch_id"]]
    report = tmp_path / "report.csv"
    code, _, _ = cli(db_url, capsys, "batch", "report", created["batch_id"], "--output", report)
    assert code == 0 and report.read_bytes().startswith(b"\xef\xbb\xbf")
    code, _, err = cli(db_url, capsys, "batch", "cancel", created["batch_id"], "--user", "admin")
    assert code == 1 and "done already" in err
    code, out, _ = cli(db_url, capsys, "batch", "operations", "--json")
    assert {"operation": "repair", "label": "修复", "reason_required": False} in json.loads(out)


# -- a worker killed half way through 1,000 cases (PostgreSQL, two processes) ----------------------------------

@pytest.fixture
def shared_postgres_whistle(postgres_schema_url, monkeypatch):
    """An engine on PostgreSQL and the database clock (test mode), as the worker processes use it."""
    from conftest import _truncate_postgres

    _truncate_postgres(postgres_schema_url)
    monkeypatch.setenv("WHISTLE_MODE", "test")
    clock.install(clock.SystemClock())
    engine = Whistle(postgres_schema_url)
    assert isinstance(clock.active(), clock.DatabaseClock)
    engine.clock_set("2026-09-28T17:00:00+08:00")
    yield engine
    engine.close()
    clock.install(clock.SystemClock())


def batch_worker(db_url: str, name: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli", "--db", db_url, "batch", "run", "--until-done", "--json",
                             "--name", name, "--poll", "0.05"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT,
                            env={**os.environ, "WHISTLE_MODE": "test", **(env or {})})


def test_two_worker_processes_one_killed_half_way_do_every_case_exactly_once(shared_postgres_whistle,
                                                                            postgres_schema_url, tmp_path):
    whistle, url = shared_postgres_whistle, postgres_schema_url
    ids = cases(whistle, 1000)
    user = admin(whistle)
    batch_id = whistle.create_batch(user, "terminate", filter={"process_id": "bulk_wait"}, expected_count=1000,
                                    reason="重复立案，批量终止")["batch_id"]
    marker = tmp_path / "hanging"
    # The doomed worker does 50 cases, then blocks inside the 51st case's transaction (terminated and marked done,
    # not committed) holding that case's lock and the locks of the rest of its chunk, until it is killed.
    doomed = batch_worker(url, "doomed", {batch_ops.TEST_HANG_ENV: str(marker), batch_ops.TEST_HANG_AFTER_ENV: "50"})
    survivor = batch_worker(url, "survivor")
    try:
        wait_for(lambda: marker.exists() or doomed.poll() is not None, "the doomed worker to hang mid-item", 120)
        assert doomed.poll() is None, doomed.communicate()
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
        assert doomed.returncode == -signal.SIGKILL

        def held_by_the_dead() -> list[dict]:
            """Once the survivor has done all it can, only the dead worker's locked items are left."""
            unfinished = whistle.batch_items(user, batch_id, "locked", limit=None) + \
                whistle.batch_items(user, batch_id, "pending", limit=None)
            return unfinished if unfinished and all(i["worker"] == "doomed" for i in unfinished) else []

        stranded = wait_for(held_by_the_dead, "the survivor to do everything but the dead worker's items", 120)
        progress = whistle.batch(user, batch_id)
        assert progress["status"] == "running" and progress["pending"] == len(stranded)
        assert 1 <= len(stranded) <= batch_ops.DEFAULT_CHUNK
        assert survivor.poll() is None  # --until-done: it waits for them
        whistle.clock_advance(f"PT{int(batch_ops.DEFAULT_LOCK_SECONDS) + 1}S")  # the dead worker's locks run out
        survivor.wait(timeout=120)
        out, err = survivor.communicate()
        assert survivor.returncode == 0, err
    finally:
        for process in (doomed, survivor):
            if process.poll() is None:
                process.kill()
                process.wait()
    shown = whistle.batch(user, batch_id)
    assert (shown["status"], shown["done"], shown["skipped"], shown["failed"], shown["pending"]) == \
        ("done", 1000, 0, 0, 0)
    items = whistle.batch_items(user, batch_id, limit=None)
    by_worker = {name: sum(1 for i in items if i["worker"] == name) for name in ("doomed", "survivor")}
    assert by_worker["doomed"] == 50 and by_worker["survivor"] == 950
    assert {i["instance_id"] for i in stranded} <= {i["instance_id"] for i in items if i["worker"] == "survivor"}
    # Exactly once, by the operation's own effect: one "terminated" in each case's audit chain, no task left.
    with whistle.db.read() as session:
        terminated = dict(session.execute(select(AuditEvent.instance_id, func.count())
                                          .where(AuditEvent.event_type == "terminated")
                                          .group_by(AuditEvent.instance_id)).tuples().all())
    assert terminated == {instance_id: 1 for instance_id in ids}
    assert {whistle.show(i)["status"] for i in ids[::97]} == {"terminated"}
    assert not any(whistle.show(i)["open_tasks"] for i in ids[::97])
    assert whistle.verify_audit().ok


# -- REST ----------------------------------------------------------------------------------------------------

def test_rest_batches_for_administrators_only_and_as_documented(whistle, manual_clock):
    from webui import create_app

    ids = cases(whistle, 3)
    finish_case(whistle, ids[0])
    whistle.add_user("admin", ["admins"], password=api_checks.PASSWORD)
    whistle.add_user("command-1", ["command-centre"], password=api_checks.PASSWORD)
    plain = whistle.create_token("admin-read", "admin", [])["token"]
    scoped = whistle.create_token("admin-batches", "admin", ["admin"])["token"]
    api = api_checks.Api(create_app({"ENGINE": whistle, "TESTING": True}))
    as_admin, as_clerk = api_checks.basic("admin"), api_checks.basic("command-1")

    body = {"operation": "repair", "instance_ids": ids, "reason": "接口批量修复"}
    preview = api.call("POST", "/batches", as_admin, json={**body, "dry_run": True})
    assert preview.status_code == 200 and preview.json["count"] == 3 and preview.json["operation_label"] == "修复"
    assert whistle.batch_list("admin") == []
    stale = api.call("POST", "/batches", as_admin, json={**body, "expected_count": 2})
    assert stale.status_code == 422 and "not the 2 confirmed" in stale.json["message"]
    created = api.call("POST", "/batches", as_admin, json={**body, "expected_count": 3})
    assert created.status_code == 201 and created.headers["Location"] == f"/api/v1/batches/{created.json['batch_id']}"
    batch_id = created.json["batch_id"]
    assert api.call("GET", "/batches/{batch_id}", as_admin, batch_id=batch_id).json["status"] == "queued"

    for who in (as_clerk, api_checks.bearer(plain)):
        assert api.call("POST", "/batches", who, json=body).status_code == 403
        assert api.call("POST", "/batches/{batch_id}/cancel", who, batch_id=batch_id).status_code == 403
    for path in ("/batches", "/batches/{batch_id}", "/batches/{batch_id}/items"):
        assert api.call("GET", path, as_clerk, batch_id=batch_id).status_code == 403
        assert api.call("GET", path, api_checks.bearer(plain), batch_id=batch_id).status_code == 200  # reads as admin
    assert api.call("GET", "/batches", None).status_code == 401
    assert api.call("POST", "/batches", as_admin, json={"operation": "explode", "instance_ids": ids}).status_code == 422
    assert api.call("POST", "/batches", as_admin, json={"operation": "repair", "instance_ids": [10**6]}) \
        .status_code == 404
    assert api.call("GET", "/batches/{batch_id}", as_admin, batch_id=batch_id + 1).status_code == 404

    whistle.batch_runner("w").work_all()
    shown = api.call("GET", "/batches/{batch_id}", as_admin, batch_id=batch_id).json
    assert (shown["status"], shown["done"], shown["skipped"], shown["percent"]) == ("done", 2, 1, 100.0)
    skipped = api.call("GET", "/batches/{batch_id}/items", as_admin, batch_id=batch_id, query={"status": "skipped"})
    assert [(i["instance_id"], "accepts no repair" in i["reason"]) for i in skipped.json["items"]] == [(ids[0], True)]
    assert api.call("GET", "/batches/{batch_id}/items", as_admin, batch_id=batch_id,
                    query={"status": "lost"}).status_code == 422
    assert [b["batch_id"] for b in api.call("GET", "/batches", as_admin).json["batches"]] == [batch_id]
    assert api.call("POST", "/batches/{batch_id}/cancel", as_admin, batch_id=batch_id).status_code == 422

    second = api.call("POST", "/batches", api_checks.bearer(scoped), json={"operation": "repair",
                                                                           "filter": {"status": "running"}})
    assert second.status_code == 201 and second.json["total"] == 2
    cancelled = api.call("POST", "/batches/{batch_id}/cancel", api_checks.bearer(scoped),
                         batch_id=second.json["batch_id"])
    assert (cancelled.status_code, cancelled.json["status"], cancelled.json["skipped"]) == (200, "cancelled", 2)


# -- the admin pages ---------------------------------------------------------------------------------------------

def _signed_in(whistle: Whistle, username: str):
    from webui import create_app

    client = create_app({"ENGINE": whistle, "TESTING": True}).test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": username, "password": "pw", "csrf_token": token})
    page = client.get("/inbox").get_data(as_text=True)  # signing in gives the session a new token
    return client, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_the_admin_pages_confirm_the_count_create_show_progress_report_and_cancel(whistle, manual_clock):
    ids = cases(whistle, 3)
    finish_case(whistle, ids[0])
    whistle.add_user("admin", ["admins"], password="pw")
    whistle.add_user("clerk-2", ["command-centre"], password="pw")
    client, token = _signed_in(whistle, "admin")
    assert "/admin/batches" in client.get("/admin").get_data(as_text=True)
    assert "还没有批量操作" in client.get("/admin/batches").get_data(as_text=True)

    # What the case search posts: an operation and the checked cases; the answer is the confirmation.
    posted = {"csrf_token": token, "operation": "repair", "instance_id": [str(i) for i in ids], "reason": "页面批量"}
    confirm = client.post("/admin/batches", data=posted)
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "将对 3 个案件执行「修复」，确认？" in page
    assert 'name="expected_count" value="3"' in page and page.count('name="instance_id"') == 3
    assert whistle.batch_list("admin") == []
    created = client.post("/admin/batches", data={**posted, "confirm": "1", "expected_count": "3"})
    assert created.status_code in (302, 303)
    [batch] = whistle.batch_list("admin")
    assert created.headers["Location"].endswith(f"/admin/batches/{batch['batch_id']}")
    detail = client.get(f"/admin/batches/{batch['batch_id']}").get_data(as_text=True)
    assert 'data-status="queued"' in detail and "batch.js" in detail and "取消批量操作" in detail
    progress = client.get(f"/admin/batches/{batch['batch_id']}/progress").get_json()
    assert (progress["finished"], progress["total"], progress["status_label"]) == (0, 3, "排队中")

    whistle.batch_runner("w").work_all()
    progress = client.get(f"/admin/batches/{batch['batch_id']}/progress").get_json()
    assert (progress["finished"], progress["percent"], progress["status"]) == (3, 100.0, "done")
    report = client.get(f"/admin/batches/{batch['batch_id']}/report").get_data(as_text=True)
    assert report.count("outcome-done") == 2 and report.count("outcome-skipped") == 1
    assert "it accepts no repair" in report
    exported = client.get(f"/admin/batches/{batch['batch_id']}/report.csv")
    assert exported.mimetype == "text/csv" and exported.data.startswith(b"\xef\xbb\xbf")
    refused = client.post(f"/admin/batches/{batch['batch_id']}/cancel", data={"csrf_token": token},
                          follow_redirects=True)
    assert "done already" in refused.get_data(as_text=True)

    # A filter from the form; a stale confirmation is refused with the new count; bad ids are named.
    form = {"csrf_token": token, "operation": "repair", "filter_process_id": "bulk_wait", "filter_status": "running"}
    assert "将对 2 个案件执行" in client.post("/admin/batches", data=form).get_data(as_text=True)
    stale = client.post("/admin/batches", data={**form, "confirm": "1", "expected_count": "5"}, follow_redirects=True)
    assert "not the 5 confirmed" in stale.get_data(as_text=True)
    wrong = client.post("/admin/batches", data={"csrf_token": token, "operation": "repair", "instance_ids": "12, x"},
                        follow_redirects=True)
    assert "「x」不是案件编号" in wrong.get_data(as_text=True)
    second = client.post("/admin/batches", data={**form, "confirm": "1", "expected_count": "2"})
    second_id = int(second.headers["Location"].rsplit("/", 1)[1])
    cancelled = client.post(f"/admin/batches/{second_id}/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert "批量操作已取消：2 个案件未执行" in cancelled.get_data(as_text=True)

    clerk, clerk_token = _signed_in(whistle, "clerk-2")
    for path in ("/admin/batches", f"/admin/batches/{second_id}", f"/admin/batches/{second_id}/progress",
                 f"/admin/batches/{second_id}/report", f"/admin/batches/{second_id}/report.csv"):
        assert clerk.get(path).status_code == 403, path
    assert clerk.post("/admin/batches", data={**posted, "csrf_token": clerk_token}).status_code == 403
    assert clerk.post(f"/admin/batches/{second_id}/cancel", data={"csrf_token": clerk_token}).status_code == 403
