"""A case runs the same after a restart (issue 10): the whistle reproduction through the CLI and a fresh
web app, timers fired one by one or together, and a case that can never move again made visible.

The systematic guard — every governance scenario run warm and cold — is ``restart_guard`` with the
``cold_warm`` marker on the scenario modules.
"""
from __future__ import annotations

import os
import subprocess
import sys
from base64 import b64encode
from datetime import timedelta

import pytest

from engine.api import Whistle
from engine.bpmn import parser as bpmn
from engine.errors import Conflict, IncidentRaised
from engine.runtime import commands as runtime

from conftest import FIXTURES, PROJECT
from process_helpers import Org

RESTART = FIXTURES / "restart"


def _whistle_until_last_report(org: Org) -> int:
    """A red whistle: housing signs and reports, fire signs; fire's 到场报到 is the last step left."""
    case = _late_fire_case(org)
    org.do("liaison-fire", "签收哨令", {"signed_by": "消防支队值班员"}, case)
    return case


def _cli(db_url: str, manual_clock, *args: str) -> subprocess.CompletedProcess:
    """The CLI in its own process, on the test's time (it reads the shared database clock in test mode)."""
    env = dict(os.environ, WHISTLE_MODE="test")
    run = lambda *a: subprocess.run([sys.executable, "-m", "cli", "--db", db_url, *a],  # noqa: E731
                                    capture_output=True, text=True, cwd=PROJECT, timeout=120, env=env)
    assert run("clock", "set", manual_clock.now().isoformat()).returncode == 0
    result = run(*args)
    assert result.returncode == 0, result.stderr
    return result


def test_the_last_report_done_with_the_cli_moves_the_case_on(whistle, db_url, manual_clock):
    org = Org(whistle)
    case = _whistle_until_last_report(org)
    [report] = org.open("liaison-fire", "到场报到", case)
    _cli(db_url, manual_clock, "complete", report["task_id"], "--user", "liaison-fire",
                  "--data", '{"acted": true, "action": "到场检查消防设施"}')
    assert org.names(case) == ["牵头部门处置"]
    assert whistle.incidents(case) == []
    shown = whistle.show(case)
    assert [r["on_time"] for r in shown["data"]["reports"]] == [True, True]


def test_the_last_report_through_a_restarted_web_server_moves_the_case_on(db_url, manual_clock):
    from webui import create_app

    first = Whistle(db_url)
    org = Org(first)
    case = _whistle_until_last_report(org)
    [report] = org.open("liaison-fire", "到场报到", case)
    first.close()  # the server stops; a new one starts with nothing in memory
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "test"})
    restarted = app.extensions["whistle"]
    restarted.add_user("liaison-fire", ["dept-fire"], password="pw")
    client = app.test_client()
    auth = {"Authorization": "Basic " + b64encode(b"liaison-fire:pw").decode()}
    answer = client.post(f"/api/v1/tasks/{report['task_id']}/complete", headers=auth,
                         json={"data": {"acted": True, "action": "到场检查消防设施"}})
    assert answer.status_code == 200, answer.get_json()
    assert sorted(t["name"] for t in restarted.show(case)["open_tasks"]) == ["牵头部门处置"]


def _late_fire_case(org: Org) -> int:
    """A red whistle where housing signs and reports at once and the fire brigade has done nothing yet."""
    reporter = org.person("grid-worker-wudadao")
    case = org.w.start("whistle", user=reporter, data={
        "street": "wudadao", "community": "sanshengli", "situation": "building-repair-no-property",
        "location": "睦南道12号", "description": "消防设施失修", "photos": [], "reporter": reporter,
        "resident": "resident-a"})
    org.do("command-wudadao", "指挥中心审核", {"decision": "whistle", "tier_override": "red"}, case)
    org.do("liaison-housing", "签收哨令", {"signed_by": "住建委值班员"}, case)
    org.do("liaison-housing", "到场报到", {"acted": True, "action": "到场核查"}, case)
    return case


def _case_record(whistle, org: Org, case: int) -> dict:
    shown = whistle.show(case)
    return {"ledger": org.data_object(case, "ledger"), "open": org.names(case), "status": shown["status"],
            "timeline": [e["event"] for e in shown["audit"] if e["event"] != "timer_fired"]}


def test_timers_fired_one_by_one_or_together_give_the_same_case(db_url, manual_clock):
    """报到提醒 (PT20M) and 报到期满 (PT30M): fired as they come due, or both in one run after a clock jump."""
    records = []
    for together in (False, True):
        manual_clock.set(manual_clock.now().replace(year=2026, month=9, day=28, hour=9, minute=0))
        whistle = Whistle(db_url)
        org = Org(whistle)
        case = _late_fire_case(org)
        if together:
            manual_clock.advance(timedelta(minutes=31))
            whistle.fire_due_jobs()
        else:
            manual_clock.advance(timedelta(minutes=21))
            whistle.fire_due_jobs()
            manual_clock.advance(timedelta(minutes=10))
            whistle.fire_due_jobs()
        records.append(_case_record(whistle, org, case))
        whistle.close()
        from conftest import _truncate_postgres
        if db_url.startswith("postgresql"):
            _truncate_postgres(db_url)
        else:
            _empty_sqlite(db_url)
    one_by_one, together = records
    assert one_by_one["ledger"]["reminded"] == ["dept-fire"] and one_by_one["ledger"]["overdue"] == ["dept-fire"]
    assert together == one_by_one


def _empty_sqlite(url: str) -> None:
    from sqlalchemy import create_engine, text

    from engine.store.models import Base

    engine = create_engine(url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f'DELETE FROM "{table.name}"'))
    engine.dispose()


def _stall_like_the_old_engine(whistle, db_url: str, monkeypatch) -> tuple[Org, int]:
    """The last report done by an engine whose specs were never wired (as before the fix): the case stalls."""
    org = Org(whistle)
    case = _whistle_until_last_report(org)
    [report] = org.open("liaison-fire", "到场报到", case)
    with monkeypatch.context() as patched:
        patched.setattr(bpmn, "wire_spec", lambda spec: None)
        old = Whistle(db_url)
        done = old.complete(report["task_id"], "liaison-fire", {"acted": True, "action": "到场"})
        old.close()
    assert done["status"] == "running" and org.names(case) == []
    return org, case


def test_a_case_left_with_no_way_forward_is_an_incident(whistle, db_url, manual_clock, monkeypatch):
    org, case = _stall_like_the_old_engine(whistle, db_url, monkeypatch)
    audit = whistle.show(case)["audit"]
    assert ("task_completed", "liaison-fire") in [(e["event"], e["actor"]) for e in audit]  # what was done stands
    [incident] = whistle.incidents(case)
    assert incident["error"].startswith("NoWayForward: the case is running but has no way forward")
    assert "department_reports" in incident["error"] and incident["command"] == "complete"
    assert incident["resolved_at"] is None
    assert [e["event"] for e in whistle.show(case)["audit"]][-1] == "incident"
    manual_clock.advance(timedelta(minutes=21))  # the reminder fires on the stalled case: no second incident
    whistle.fire_due_jobs()
    assert len(whistle.incidents(case)) == 1
    # The engine cannot tell how to move it: nothing changes and the incident stays open.
    with monkeypatch.context() as patched:
        patched.setattr(runtime, "merge_finished_children", lambda workflow: [])
        with pytest.raises(Conflict, match="still has no way forward"):
            whistle.repair(case, "admin")
    assert whistle.incidents(case)[0]["resolved_at"] is None


def test_a_case_stalled_by_the_old_engine_is_repaired_with_the_cli(whistle, db_url, manual_clock, monkeypatch):
    org, case = _stall_like_the_old_engine(whistle, db_url, monkeypatch)
    result = _cli(db_url, manual_clock, "repair", str(case), "--user", "admin")
    assert "department_reports" in result.stdout
    assert org.names(case) == ["牵头部门处置"]
    assert whistle.incidents(case)[0]["resolved_at"] is not None
    assert "instance_repaired" in [e["event"] for e in whistle.show(case)["audit"]]
    assert [r["on_time"] for r in whistle.show(case)["data"]["reports"]] == [True, True]


def test_a_cycle_without_a_wait_state_is_an_incident_not_an_endless_command(whistle):
    whistle.deploy([RESTART / "endless.bpmn"])
    whistle.runtime.instances.step_budget = 300
    with pytest.raises(IncidentRaised, match="more than 300 engine steps"):
        whistle.start("endless", data={"n": 0})
    [incident] = whistle.incidents()
    assert "EngineBudgetExceeded" in incident["error"] and incident["instance_id"] is None


def test_a_long_case_is_not_cut_off_at_depth_one_thousand(whistle):
    """Many rework loops make the task tree deeper than SpiffWorkflow's iterator used to look (1,000)."""
    whistle.deploy([RESTART / "endless.bpmn"])
    whistle.runtime.instances.step_budget = 10 ** 6
    with pytest.raises(IncidentRaised, match="engine steps"):
        whistle.runtime.instances.step_seconds = 3
        whistle.start("endless", data={"n": 0})
    [incident] = whistle.incidents()
    assert "EngineBudgetExceeded" in incident["error"]  # never a silent stop with nothing ready


def test_an_administrator_repairs_a_stalled_case_from_the_admin_page(whistle, db_url, manual_clock, monkeypatch):
    import re

    from webui import create_app

    org, case = _stall_like_the_old_engine(whistle, db_url, monkeypatch)
    whistle.add_user("admin", ["admins"], password="pw")
    client = create_app({"ENGINE": whistle, "TESTING": True}).test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "admin", "password": "pw", "csrf_token": token})
    page = client.get("/admin").get_data(as_text=True)
    assert "NoWayForward" in page and f"/admin/instances/{case}/repair" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post(f"/admin/instances/{case}/repair", data={"csrf_token": token})
    assert answer.status_code in (302, 303)
    assert org.names(case) == ["牵头部门处置"]
    assert f"/admin/instances/{case}/repair" not in client.get("/admin").get_data(as_text=True)
