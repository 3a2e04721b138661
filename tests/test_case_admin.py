"""Administrators keep cases flowing (issue 16, parts 1 and 2), on SQLite and PostgreSQL: a suspended case accepts
no completion, claim or message from any channel and its timers wait, then fire once after the resume; a
terminated case ends its tasks, timers, subscriptions and ledger obligations; finding cases filters by every
field on an index; only administrators may do any of it (engine, CLI, REST); the audit chain verifies after each.
"""
from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from cli.main import run as cli_run
from engine.audit import ledger
from engine.casework.listing import CaseQuery
from engine.errors import Conflict, Forbidden, InvalidInput
from engine.time import clock
from webui import create_app

from process_helpers import Org

PASSWORD = "pw-测试"


def basic(user: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()}


@pytest.fixture
def deadline_case(whistle, fixtures):
    """A case of timer_deadline waiting at 现场处置 (reminder after 10 min, deadline after 30), an admin and a
    clerk of the street."""
    whistle.deploy([fixtures / "timer_deadline.bpmn", fixtures / "messages.bpmn"])
    whistle.add_user("boss", ["admins"], password=PASSWORD)
    whistle.add_user("clerk", ["street", "clerks"], password=PASSWORD)
    return whistle.start("timer_deadline", business_key="K-1")


def audit_ok(whistle) -> None:
    report = whistle.verify_audit()
    assert report.ok, report


def events(whistle, instance_id: int, kind: str) -> list[dict]:
    return [e for e in whistle.history(instance_id) if e["event"] == kind]


def test_a_suspended_case_refuses_work_and_its_due_timer_fires_once_after_resume(whistle, deadline_case,
                                                                                  manual_clock):
    case = deadline_case
    [task] = whistle.tasks("clerk")
    with pytest.raises(InvalidInput, match="reason"):
        whistle.suspend_instance(case, "  ", "boss")
    assert whistle.suspend_instance(case, "当事人申请暂缓", "boss") == {
        "instance_id": case, "action": "suspended", "status": "suspended", "process_id": "timer_deadline"}
    audit_ok(whistle)
    shown = whistle.show(case)
    assert shown["suspended"] and shown["suspended_by"] == "boss" and shown["suspended_reason"] == "当事人申请暂缓"
    assert [t["suspended"] for t in whistle.tasks("clerk")] == [True]
    for attempt in (lambda: whistle.claim(task["task_id"], "clerk"),
                    lambda: whistle.complete(task["task_id"], "clerk", {})):
        with pytest.raises(Conflict, match=f"instance {case} is suspended"):
            attempt()
    with pytest.raises(Conflict, match="suspended already"):
        whistle.suspend_instance(case, "again", "boss")

    manual_clock.advance(timedelta(minutes=45))  # both timers fall due while it is suspended
    assert whistle.fire_due_jobs() == 0
    assert whistle.executor.next_due() is None  # no worker is woken for a suspended case's jobs
    assert events(whistle, case, "timer_fired") == []
    assert [t["name"] for t in whistle.show(case)["open_tasks"]] == ["现场处置"]

    assert whistle.resume_instance(case, "boss")["status"] == "running"
    audit_ok(whistle)
    assert not whistle.show(case)["suspended"]
    whistle.fire_due_jobs()
    assert whistle.fire_due_jobs() == 0
    fired = [e["details"]["element_id"] for e in events(whistle, case, "timer_fired")]
    assert sorted(fired) == ["deadline", "remind"]  # each once
    assert [t["name"] for t in whistle.show(case)["open_tasks"]] == ["超时督办"]
    manual_clock.advance(timedelta(hours=2))
    assert whistle.fire_due_jobs() == 0
    with pytest.raises(Conflict, match="only a suspended case can be resumed"):
        whistle.resume_instance(case, "boss")
    assert [e["details"]["reason"] for e in events(whistle, case, "suspended")] == ["当事人申请暂缓"]
    assert [e["actor"] for e in events(whistle, case, "resumed")] == ["boss"]
    audit_ok(whistle)


def test_a_message_to_a_suspended_case_is_refused_and_delivered_after_resume(whistle, deadline_case):
    ticket = whistle.start("ticket", data={"ticket_id": "T-9"})
    whistle.suspend_instance(ticket, "核查中", "boss")
    with pytest.raises(Conflict, match=f"instance {ticket} is suspended"):
        whistle.message("ticket-reply", "T-9", {"reply": "ok"})
    assert [m["element_id"] for m in whistle.show(ticket)["messages"]] == ["wait_reply"]
    whistle.resume_instance(ticket, "boss", "核查完毕")
    assert whistle.message("ticket-reply", "T-9", {"reply": "ok"})["delivered_to"] == [ticket]
    assert events(whistle, ticket, "resumed")[0]["details"]["reason"] == "核查完毕"


def test_terminate_ends_tasks_timers_and_subscriptions(whistle, deadline_case):
    ticket = whistle.start("ticket", data={"ticket_id": "T-1"})
    whistle.suspend_instance(deadline_case, "暂缓", "boss")  # a suspended case can be terminated too
    for case in (deadline_case, ticket):
        with pytest.raises(InvalidInput, match="reason"):
            whistle.terminate_instance(case, "", "boss")
        assert whistle.terminate_instance(case, "重复立案", "boss")["status"] == "terminated"
        shown = whistle.show(case)
        assert shown["terminated"] and not shown["suspended"] and shown["terminated_reason"] == "重复立案"
        assert shown["completed_at"] and shown["open_tasks"] == shown["timers"] == shown["messages"] == []
        [event] = events(whistle, case, "terminated")
        assert event["actor"] == "boss" and event["details"]["reason"] == "重复立案"
    assert events(whistle, deadline_case, "terminated")[0]["details"]["cancelled_timers"] == ["remind", "deadline"]
    assert events(whistle, ticket, "terminated")[0]["details"]["cancelled_messages"] == ["ticket-reply"]
    assert whistle.tasks("clerk") == []
    with pytest.raises(Conflict, match="only a running case can be suspended"):
        whistle.suspend_instance(ticket, "x", "boss")
    with pytest.raises(Conflict, match="only a running or suspended case can be terminated"):
        whistle.terminate_instance(ticket, "x", "boss")
    with pytest.raises(Exception, match="no instance is waiting"):
        whistle.message("ticket-reply", "T-1", {})
    audit_ok(whistle)


def test_only_administrators_may(whistle, deadline_case):
    whistle.add_user("designer", ["designers"])
    for user in ("clerk", "designer", "nobody", "system"):
        for attempt in (lambda u: whistle.suspend_instance(deadline_case, "x", u),
                        lambda u: whistle.resume_instance(deadline_case, u),
                        lambda u: whistle.terminate_instance(deadline_case, "x", u),
                        lambda u: whistle.search_instances(u, CaseQuery()),
                        lambda u: whistle.export_instances(u, CaseQuery())):
            with pytest.raises(Forbidden, match="only administrators"):
                attempt(user)
    assert whistle.show(deadline_case)["status"] == "running"


def test_terminate_closes_open_obligations_as_terminated(whistle, manual_clock):
    org = Org(whistle)
    org.person("admin")
    reporter = org.person("grid-worker-wudadao")
    case = whistle.start("whistle", user=reporter, data={
        "situation": "building-repair-no-property", "location": "睦南道12号", "description": "消防设施失修，楼道堆物",
        "resident": "resident-a"})
    org.do("command-wudadao", "指挥中心审核", {"decision": "whistle", "tier_override": "red"}, case)
    manual_clock.advance(timedelta(minutes=20))  # signing was due in 15 minutes, on site in 30
    org.do("liaison-housing", "签收哨令", {}, case)
    whistle.terminate_instance(case, "误报，撤销", "admin")
    with whistle.db.read() as session:
        found = {(o.party, o.kind): o.state
                 for o in ledger.obligations(session, clock.now() + timedelta(days=1), instance_ids=[case])}
    assert found[("dept-housing", "sign")] == ledger.DONE_LATE
    assert found[("dept-fire", "sign")] == ledger.OVERDUE  # missed before the case was terminated: still counted
    assert found[("dept-housing", "on_site")] == found[("dept-fire", "on_site")] == ledger.TERMINATED
    assert whistle.show(case)["open_tasks"] == []
    audit_ok(whistle)


def test_finding_cases_by_each_filter(whistle, fixtures, manual_clock):
    whistle.deploy([fixtures / "timer_deadline.bpmn", fixtures / "messages.bpmn", fixtures / "review.bpmn"])
    whistle.add_user("boss", ["admins"])
    first = whistle.start("timer_deadline", business_key="A-1", data={"street": "wudadao"})
    manual_clock.advance(timedelta(days=2))
    second = whistle.start("timer_deadline", business_key="A-2", data={"department": "dept-housing"})
    ticket = whistle.start("ticket", data={"ticket_id": "T-5"}, business_key="B-1")
    review = whistle.start("review", data={"situation": "police"})
    whistle.suspend_instance(second, "暂缓", "boss")
    whistle.terminate_instance(ticket, "重复", "boss")

    def ids(**filters) -> list[int]:
        found = whistle.search_instances("boss", CaseQuery(**filters))
        assert found["total"] == len(found["instances"])
        return [row["instance_id"] for row in found["instances"]]

    assert ids() == [review, ticket, second, first]  # newest first
    assert ids(sort="oldest") == [first, second, ticket, review]
    assert ids(process_id="timer_deadline") == [second, first]
    assert ids(process_id="timer_deadline", version=1) == [second, first]
    assert ids(process_id="timer_deadline", version=2) == []
    assert ids(status="suspended") == [second]
    assert ids(status="terminated") == [ticket]
    assert ids(status="running") == [review, first]
    assert ids(status="with_incident") == []
    assert ids(business_key="A-1") == [first]
    assert ids(waiting_at="handle") == [second, first]  # an open task
    assert ids(waiting_at="deadline") == [second, first]  # a waiting timer
    assert ids(waiting_at="wait_reply") == []  # the terminated ticket waits for nothing any more
    assert ids(street="wudadao") == [first]
    assert ids(department="dept-housing") == [second]
    day = manual_clock.now().date()
    assert ids(started_from=day) == [review, ticket, second]
    assert ids(started_to=day - timedelta(days=1)) == [first]
    page = whistle.search_instances("boss", CaseQuery(), limit=3, page=2)
    assert (page["total"], page["more"], [r["instance_id"] for r in page["instances"]]) == (4, False, [first])
    assert whistle.search_instances("boss", CaseQuery(), limit=3)["more"]
    [row] = whistle.search_instances("boss", CaseQuery(business_key="A-2"))["instances"]
    assert (row["process_id"], row["version"], row["status"], row["suspended_reason"]) == (
        "timer_deadline", 1, "suspended", "暂缓")
    assert row["waiting_at"] == ["handle", "remind", "deadline"] and row["open_tasks"] == ["现场处置"]
    with pytest.raises(InvalidInput, match="status"):
        CaseQuery.from_args({"status": "paused"})
    with pytest.raises(InvalidInput, match="version"):
        CaseQuery.from_args({"version": "x"})
    exported = whistle.export_instances("boss", CaseQuery(process_id="timer_deadline"))
    assert exported.startswith("\ufeff案件编号")
    assert len(exported.strip().splitlines()) == 3 and "暂缓" in exported


def test_finding_cases_reads_an_index(whistle, deadline_case):
    """Each filter can be answered from an index, never by scanning the cases, tasks or timers. SQLite's plan is
    deterministic; PostgreSQL's, on a handful of rows, is the planner's choice, so there sequential scans are
    priced out (``enable_seqscan = off``) and the plan must still find an index path (bench/case_search.py
    measures the real plans on a million cases)."""
    from engine.store import casework

    tables = ("process_instance", "human_task", "timer_job", "message_subscription", "incident")
    postgres = whistle.db.url.startswith("postgresql")
    with whistle.db.read() as session:
        if postgres:
            session.execute(text("SET LOCAL enable_seqscan = off"))
        for filters in ({"status": "running"}, {"process_id": "timer_deadline"}, {"business_key": "K-1"},
                        {"street": "wudadao"}, {"department": "dept-housing"}, {"waiting_at": "handle"},
                        {"status": "with_incident"}, {"version": 1, "process_id": "timer_deadline"}):
            given = casework.narrowed(session, {"text": None, "status": None, "process_id": None, **filters})
            query = casework._visible_query(casework.select(casework.ProcessInstance), None, **given) \
                .order_by(casework.ProcessInstance.started_at.desc()).limit(51)
            compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
            if postgres:
                plan = [str(row[0]) for row in session.execute(text(f"EXPLAIN {compiled}"))]
                scans = [step for step in plan if "Seq Scan on" in step and step.split("Seq Scan on ")[1].split()[0]
                         in tables]
            else:
                plan = [str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
                scans = [step for step in plan if step.startswith("SCAN ") and "USING" not in step
                         and step.split()[1] in tables]
            assert not scans, (filters, plan)


# -- the command line -----------------------------------------------------------------------------------------

def cli(db_url: str, *argv: str, capsys) -> tuple[int, object]:
    code = cli_run(["--db", db_url, *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def test_the_command_line(whistle, deadline_case, db_url, capsys):
    case = deadline_case
    code, found = cli(db_url, "instances", "--process", "timer_deadline", "--status", "running", "--waiting-at",
                      "handle", "--business-key", "K-1", "--user", "boss", capsys=capsys)
    assert code == 0 and [(r["instance_id"], r["version"], r["status"]) for r in found["instances"]] == [
        (case, 1, "running")]
    assert {"instance_id", "process_id", "version", "status", "business_key", "started_at",
            "waiting_at"} <= set(found["instances"][0])
    assert cli(db_url, "instances", "--user", "clerk", capsys=capsys)[0] == 5
    assert cli(db_url, "suspend", str(case), "--reason", "暂缓", "--user", "clerk", capsys=capsys)[0] == 5
    code, done = cli(db_url, "suspend", str(case), "--reason", "暂缓", "--user", "boss", capsys=capsys)
    assert code == 0 and done["status"] == "suspended"
    code, shown = cli(db_url, "show", str(case), capsys=capsys)
    assert shown["status"] == "suspended" and shown["suspended"] is True
    [task] = shown["open_tasks"]
    code, problem = cli(db_url, "complete", task["task_id"], "--user", "clerk", capsys=capsys)
    assert code == 3 and "suspended" in problem["message"]
    assert cli(db_url, "audit", "verify", capsys=capsys)[0] == 0
    assert cli(db_url, "resume", str(case), "--user", "boss", capsys=capsys)[0] == 0
    assert cli(db_url, "terminate", str(case), "--reason", "", "--user", "boss", capsys=capsys)[0] == 1
    assert cli(db_url, "terminate", str(case), "--reason", "撤销", "--user", "boss", capsys=capsys)[0] == 0
    code, shown = cli(db_url, "show", str(case), capsys=capsys)
    assert shown["status"] == "terminated" and shown["terminated"] is True
    assert cli(db_url, "resume", str(case), "--user", "boss", capsys=capsys)[0] == 3
    assert cli(db_url, "audit", "verify", capsys=capsys)[0] == 0
    assert cli_run(["--db", db_url, "show", str(case)]) == 0
    assert "terminated at" in capsys.readouterr().out


# -- the REST API -------------------------------------------------------------------------------------------

def test_the_rest_api(whistle, deadline_case):
    from test_api import _documented, assert_matches  # the OpenAPI document's checks

    case = deadline_case
    client = create_app({"ENGINE": whistle, "TESTING": True}).test_client()

    def call(method, path, template, who, **kwargs):
        response = client.open("/api/v1" + path, method=method, headers=basic(who), **kwargs)
        schema = _documented(method, template, response.status_code) if response.is_json else None
        if schema is not None:
            assert_matches(schema, response.json)
        return response

    for method, path, template in (("GET", "/instances", "/instances"),
                                   ("GET", "/instances/export", "/instances/export"),
                                   ("POST", f"/instances/{case}/suspend", "/instances/{instance_id}/suspend"),
                                   ("POST", f"/instances/{case}/resume", "/instances/{instance_id}/resume"),
                                   ("POST", f"/instances/{case}/terminate", "/instances/{instance_id}/terminate")):
        refused = call(method, path, template, "clerk", json={"reason": "x"} if method == "POST" else None)
        assert refused.status_code == 403 and "only administrators" in refused.json["message"], path
    found = call("GET", "/instances?status=running&waiting_at=handle", "/instances", "boss")
    assert found.status_code == 200 and [r["instance_id"] for r in found.json["instances"]] == [case]
    assert call("GET", "/instances?status=nope", "/instances", "boss").status_code == 422
    assert call("POST", f"/instances/{case}/suspend", "/instances/{instance_id}/suspend", "boss",
                json={}).status_code == 422
    done = call("POST", f"/instances/{case}/suspend", "/instances/{instance_id}/suspend", "boss",
                json={"reason": "暂缓"})
    assert done.status_code == 200 and done.json["status"] == "suspended"
    [task] = client.get("/api/v1/tasks", headers=basic("clerk")).json["tasks"]
    assert task["suspended"] is True
    refused = call("POST", f"/tasks/{task['task_id']}/complete", "/tasks/{task_id}/complete", "clerk", json={})
    assert refused.status_code == 409 and "suspended" in refused.json["message"]
    assert call("POST", f"/instances/{case}/suspend", "/instances/{instance_id}/suspend", "boss",
                json={"reason": "again"}).status_code == 409
    shown = client.get(f"/api/v1/instances/{case}", headers=basic("boss")).json
    assert shown["suspended"] and shown["status"] == "suspended"
    exported = client.get("/api/v1/instances/export?process=timer_deadline", headers=basic("boss"))
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert exported.get_data().startswith("\ufeff".encode())
    assert call("POST", f"/instances/{case}/resume", "/instances/{instance_id}/resume", "boss").status_code == 200
    token = whistle.create_token("no-cases", "boss", ["tasks"])["token"]
    assert client.get("/api/v1/instances", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    token = whistle.create_token("cases", "boss", ["admin"])["token"]
    ended = client.post(f"/api/v1/instances/{case}/terminate", json={"reason": "撤销"},
                        headers={"Authorization": f"Bearer {token}"})
    assert ended.status_code == 200 and ended.json["status"] == "terminated"
    audit_ok(whistle)


# -- the 案件管理 page ----------------------------------------------------------------------------------------

def test_the_admin_page_finds_suspends_and_the_inbox_shows_it(whistle, tmp_path):
    from test_web_pages import Site, text

    site = Site(whistle, tmp_path)
    case = site.report()
    admin, centre = site.client("admin"), site.client("command-wudadao")
    assert 'id="case-admin-link"' in text(admin.get("/admin"))
    page = text(admin.get("/admin/cases?status=running&street=wudadao"))
    assert f'data-instance-id="{case}"' in page and 'name="instance_id"' in page and 'id="bulk-form"' in page
    assert admin.get("/admin/cases?status=paused").status_code == 400
    assert centre.get("/admin/cases").status_code == 403
    assert centre.post(f"/admin/cases/{case}/suspend", {"reason": "x"}).status_code == 403
    refused = admin.post(f"/admin/cases/{case}/suspend", {"reason": " "}, follow_redirects=True)
    assert "reason" in text(refused) and whistle.show(case)["status"] == "running"
    done = admin.post(f"/admin/cases/{case}/suspend", {"reason": "当事人申请暂缓",
                                                      "next": "/admin/cases?status=suspended"}, follow_redirects=True)
    assert "案件已挂起" in text(done) and f'data-instance-id="{case}"' in text(done)
    assert "当事人申请暂缓" in text(done)
    assert "已挂起" in text(centre.get("/inbox"))
    assert 'id="case-suspended"' in text(centre.get(f"/cases/{case}"))
    exported = admin.get("/admin/cases/export.csv?status=suspended")
    assert exported.mimetype == "text/csv" and f"\n{case},".encode() in exported.get_data()
    admin.post(f"/admin/cases/{case}/resume", {"reason": ""})
    assert whistle.show(case)["status"] == "running" and "已挂起" not in text(centre.get("/inbox"))
    audit_ok(whistle)
