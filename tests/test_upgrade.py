"""Administrators keep cases flowing (issue 16, parts 3–5), on SQLite and PostgreSQL: migrating running cases to
a new version (a dry run per case, a mapping for a renamed element, the move with its inbox rows, timers and
audit), incidents (a failed timer retried after a fix, a failed completion replayed by an administrator), and
repair by instance modification (back to an earlier task, cancel one element and start another; refused inside
a multi-instance activity). Only administrators may do any of it.

The process ``upkeep`` (tests/fixtures/upgrade): version 1 is 受理 (accept) → 现场核查 (check) → 办理 (handle,
with a two-hour reminder timer) → end; version 2 removes 现场核查, renames 办理 to 处置 (``deal``, the reminder
now attached to it) and routes 受理登记 to the team named in the case (``${team}``).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from engine.errors import Conflict, Forbidden, IncidentRaised, InvalidInput

PROJECT = Path(__file__).parent.parent
UPGRADE = Path(__file__).parent / "fixtures" / "upgrade"
FIXTURES = Path(__file__).parent / "fixtures"
SECOND = timedelta(seconds=1)


def do(w, instance_id: int, user: str = "cc", data: dict | None = None) -> dict:
    [task] = [t for t in w.tasks(user) if t["instance_id"] == instance_id]
    w.claim(task["task_id"], user)
    w.complete(task["task_id"], user, data or {})
    return task


@pytest.fixture
def cases(whistle):
    """Four cases of version 1: at 受理 (with a team), at 现场核查, at 办理 (its reminder waiting), and at 受理
    without the team version 2 needs; then version 2 deployed."""
    w = whistle
    w.deploy([UPGRADE / "v1"])
    w.add_user("cc", ["command-centre"])
    w.add_user("root", ["admins"])
    at_accept = w.start("upkeep", data={"team": "command-centre"})
    at_check = w.start("upkeep", data={"team": "command-centre"})
    do(w, at_check)
    at_handle = w.start("upkeep", data={"team": "command-centre"})
    do(w, at_handle)
    do(w, at_handle)
    no_team = w.start("upkeep")
    w.deploy([UPGRADE / "v2"])
    return {"accept": at_accept, "check": at_check, "handle": at_handle, "no_team": no_team}


def by_case(result: dict) -> dict[int, dict]:
    return {r["instance_id"]: r for r in result["results"]}


def test_the_dry_run_says_per_case_who_can_move_and_why_not(whistle, cases):
    plan = by_case(whistle.upgrade_cases("upkeep", 2, actor="root", dry_run=True))
    assert plan[cases["accept"]]["can_move"] is True and plan[cases["accept"]]["reason"] is None
    removed = plan[cases["check"]]
    assert (removed["can_move"], removed["code"], removed["element_id"]) == (False, "removed", "check")
    assert removed["reason"] == "等待在「现场核查 (check)」，版本 2 删除了这个环节"
    assert removed["reason_en"] == "waiting at 现场核查 (check), which version 2 removed"
    renamed = plan[cases["handle"]]
    assert (renamed["can_move"], renamed["code"]) == (False, "renamed")
    assert "--map handle=deal" in renamed["reason"]
    lacking = plan[cases["no_team"]]
    assert (lacking["can_move"], lacking["code"], lacking["element_id"]) == (False, "needs_data", "accept")
    assert "team" in lacking["reason"]
    # with the mapping, the renamed one can move too; nothing was changed by either dry run
    mapped = by_case(whistle.upgrade_cases("upkeep", 2, mapping=["handle=deal"], actor="root", dry_run=True))
    assert mapped[cases["handle"]]["can_move"] is True
    assert mapped[cases["handle"]]["waiting_at"] == ["deal", "remind"]
    assert {whistle.show(i)["version"] for i in cases.values()} == {1}
    # the per-case check the batch runner calls is the same answer
    assert whistle.upgrade_check(cases["check"], 2, {}, "root")["code"] == "removed"


def test_migrating_moves_the_others_with_inbox_timers_and_audit(whistle, cases, manual_clock):
    w = whistle
    manual_clock.advance(timedelta(minutes=30))
    [job_before] = w.show(cases["handle"])["timers"]
    result = w.upgrade_cases("upkeep", 2, mapping={"handle": "deal"}, actor="root")
    outcome = {r["instance_id"]: r["outcome"] for r in result["results"]}
    assert outcome == {cases["accept"]: "moved", cases["check"]: "skipped", cases["handle"]: "moved",
                       cases["no_team"]: "skipped"}
    assert (result["moved"], result["skipped"], result["failed"]) == (2, 2, 0)
    # the cases refused stay on version 1, untouched
    assert w.show(cases["check"])["version"] == 1 and w.show(cases["no_team"])["version"] == 1

    handle = w.show(cases["handle"])
    assert handle["version"] == 2
    [task] = handle["open_tasks"]
    assert (task["element_id"], task["name"]) == ("deal", "处置")
    [job] = handle["timers"]
    assert job["element_id"] == "remind" and job["due_at"] == job_before["due_at"]  # the reminder keeps its time
    assert job["version_id"] != job_before["version_id"]
    [migrated] = [e for e in handle["audit"] if e["event"] == "instance_migrated"]
    assert migrated["actor"] == "root"
    assert migrated["details"]["from_version"] == 1 and migrated["details"]["to_version"] == 2
    assert migrated["details"]["mapping"] == {"handle": "deal"}
    inbox = {t["instance_id"]: t for t in w.tasks("cc")}
    assert inbox[cases["accept"]]["name"] == "受理登记" and inbox[cases["check"]]["name"] == "现场核查"

    # the reminder fires on version 2 at its old time, and completing 处置 finishes the case on version 2
    manual_clock.advance(timedelta(hours=1, minutes=30) + SECOND)
    assert w.fire_due_jobs() == 1
    assert sorted(t["name"] for t in w.show(cases["handle"])["open_tasks"]) == ["催办", "处置"]
    [deal] = [t for t in w.tasks("cc") if t["instance_id"] == cases["handle"] and t["name"] == "处置"]
    w.claim(deal["task_id"], "cc")
    w.complete(deal["task_id"], "cc", {})
    # 受理登记 continues on version 2: to 处置, not to the 现场核查 version 2 removed
    do(w, cases["accept"])
    assert [t["element_id"] for t in w.show(cases["accept"])["open_tasks"]] == ["deal"]
    assert w.verify_audit().ok


def test_a_second_migration_of_the_same_case_is_skipped_and_a_bad_mapping_is_refused(whistle, cases):
    w = whistle
    w.upgrade_instance(cases["accept"], 2, None, "root")
    again = w.upgrade_instance(cases["accept"], 2, None, "root")
    assert (again["moved"], again["code"]) == (False, "same_version")
    with pytest.raises(Exception, match="version 2 has no element 'nowhere'"):
        w.upgrade_cases("upkeep", 2, mapping=["handle=nowhere"], actor="root", dry_run=True)


def test_only_administrators_may_migrate_modify_or_handle_incidents(whistle, cases):
    w = whistle
    for call in (lambda: w.upgrade_cases("upkeep", 2, actor="cc", dry_run=True),
                 lambda: w.upgrade_instance(cases["accept"], 2, None, "cc"),
                 lambda: w.upgrade_check(cases["accept"], 2, None, "nobody"),
                 lambda: w.incident_list("cc"),
                 lambda: w.resolve_incident(1, "note", "cc"),
                 lambda: w.retry_incident(1, "cc"),
                 lambda: w.modify_instance(cases["check"], back_to="accept", actor="cc")):
        with pytest.raises(Forbidden):
            call()
    assert w.show(cases["accept"])["version"] == 1


# -- incidents ----------------------------------------------------------------------------------------------

def test_a_failed_timer_is_retried_after_the_fix_is_deployed_and_the_case_migrated(whistle, manual_clock):
    w = whistle
    w.add_user("root", ["admins"])
    w.deploy([FIXTURES / "timer_failing.bpmn"])
    instance = w.start("timer_failing", data={"total": 1, "count": 0})
    manual_clock.advance(timedelta(minutes=5) + SECOND)
    for backoff in (10, 40, 0):
        w.fire_due_jobs()
        manual_clock.advance(timedelta(seconds=backoff) + SECOND)
    listing = w.incident_list("root", open_only=True)
    [incident] = listing["incidents"]
    assert listing["per_element"] == [{"process_id": "timer_failing", "element_id": "compute", "open": 1}]
    shown = w.incident(incident["incident_id"], "root")
    assert shown["retry"] == "timer" and "ZeroDivisionError" in shown["traceback"]
    assert shown["message"].startswith("ZeroDivisionError: division by zero")  # the first line
    w.deploy([UPGRADE / "fix_v2" / "timer_failing.bpmn"])
    assert w.upgrade_instance(instance, 2, None, "root")["moved"] is True
    retried = w.retry_incident(incident["incident_id"], "root")
    assert retried["retry"] == "timer" and retried["resolved"] is True
    assert w.fire_due_jobs() == 1
    case = w.show(instance)
    assert case["status"] == "completed" and case["data"]["ratio"] == 0
    assert w.incident_list("root", open_only=True)["incidents"] == []
    assert w.verify_audit().ok


def test_a_failed_completion_keeps_its_data_and_is_replayed_by_an_administrator(whistle):
    w = whistle
    w.add_user("root", ["admins"])
    w.add_user("cc", ["command-centre"])
    w.deploy([UPGRADE / "fix_v1"])
    instance = w.start("replay")
    [task] = w.tasks("cc")
    w.claim(task["task_id"], "cc")
    with pytest.raises(IncidentRaised) as raised:
        w.complete(task["task_id"], "cc", {"weight": 0, "password": "hunter2", "note": {"api_key": "k"}})
    incident = w.incident(raised.value.incident_id, "root")
    assert incident["command"] == "complete" and incident["actor"] == "cc" and incident["retry"] == "replay"
    assert incident["command_data"]["task_id"] == task["task_id"]
    assert incident["command_data"]["data"] == {"weight": 0, "note": {}}
    assert incident["command_data"]["redacted"] == ["data.note.api_key", "data.password"]
    assert "hunter2" not in json.dumps(w.incidents()) and "hunter2" not in json.dumps(w.show(instance))
    with pytest.raises(InvalidInput, match="data.password"):  # what was never stored cannot be replayed
        w.retry_incident(incident["incident_id"], "root")
    w.resolve_incident(incident["incident_id"], "the secret was not kept; asked cc to submit again", "root")
    resolved = w.incident(incident["incident_id"], "root")
    assert resolved["open"] is False and resolved["resolved_by"] == "root"
    assert resolved["resolution"].startswith("the secret")
    with pytest.raises(Conflict):
        w.resolve_incident(incident["incident_id"], "twice", "root")

    # cc submits without a secret; it fails on version 1, the fix is deployed, the case migrated, and replayed
    with pytest.raises(IncidentRaised) as raised:
        w.complete(task["task_id"], "cc", {"weight": 0})
    with pytest.raises(IncidentRaised):  # replayed on version 1 it fails again: a new incident, this one stays open
        w.retry_incident(raised.value.incident_id, "root")
    assert w.incident(raised.value.incident_id, "root")["open"] is True
    w.deploy([UPGRADE / "fix_v2" / "replay.bpmn"])
    assert w.upgrade_instance(instance, 2, None, "root")["moved"] is True
    replayed = w.retry_incident(raised.value.incident_id, "root")
    assert replayed["retry"] == "replay" and replayed["replay"]["instance_id"] == instance
    case = w.show(instance)
    assert case["data"]["points"] == 0 and [t["name"] for t in case["open_tasks"]] == ["确认得分"]
    [completed] = [e for e in case["audit"] if e["event"] == "task_completed"]
    assert completed["actor"] == "cc" and completed["details"]["replayed_by"] == "root"
    assert any(e["event"] == "incident_replayed" and e["actor"] == "root" for e in case["audit"])
    assert w.incident(raised.value.incident_id, "root")["open"] is False
    assert w.verify_audit().ok


# -- repair by instance modification ------------------------------------------------------------------------

def test_back_to_an_earlier_task_puts_it_in_the_inbox_again(whistle, cases):
    w = whistle
    instance = cases["handle"]
    [before] = w.show(instance)["open_tasks"]
    result = w.modify_instance(instance, back_to="accept", data={"remark": "补充材料"}, actor="root")
    assert result["cancelled"] == ["handle", "remind"] and result["ready"] == ["accept"]
    case = w.show(instance)
    [task] = case["open_tasks"]
    assert (task["element_id"], task["name"]) == ("accept", "受理") and task["task_id"] != before["task_id"]
    assert case["timers"] == []  # the reminder of 办理 went with it
    assert [t["name"] for t in w.tasks("cc") if t["instance_id"] == instance] == ["受理"]
    [event] = [e for e in case["audit"] if e["event"] == "instance_modified"]
    assert event["actor"] == "root" and event["details"]["back_to"] == "accept"
    do(w, instance)
    assert w.show(instance)["data"]["remark"] == "补充材料"
    assert [t["element_id"] for t in w.show(instance)["open_tasks"]] == ["check"]
    assert w.verify_audit().ok


def test_cancel_one_element_and_start_another(whistle, cases):
    w = whistle
    result = w.modify_instance(cases["check"], cancel=["check"], start=["handle"], actor="root")
    assert result["ready"] == ["handle"]
    case = w.show(cases["check"])
    assert [t["element_id"] for t in case["open_tasks"]] == ["handle"]
    assert [j["element_id"] for j in case["timers"]] == ["remind"]  # started with its boundary timer
    with pytest.raises(Conflict, match="not an element of this process"):
        w.modify_instance(cases["check"], cancel=["handle"], start=["nowhere"], actor="root")
    with pytest.raises(Conflict, match="never passed 'handle'"):
        w.modify_instance(cases["accept"], back_to="handle", actor="root")


def test_moving_a_token_inside_a_running_multi_instance_is_refused(whistle):
    w = whistle
    w.add_user("root", ["admins"])
    w.deploy([FIXTURES / "multi_instance.bpmn"])
    instance = w.start("fan_out", data={"departments": ["dept-police", "dept-housing"]})
    with pytest.raises(Conflict, match="multi-instance|active tokens"):
        w.modify_instance(instance, cancel=["report"], start=["end"], actor="root")
    assert len(w.show(instance)["open_tasks"]) == 2


# -- the command line ---------------------------------------------------------------------------------------

def whistle_cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(PROJECT), WHISTLE_DATABASE_URL=db_url)
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env,
                          cwd=PROJECT, timeout=120)


def test_whistle_upgrade_dry_run_then_move_and_incidents_on_the_command_line(whistle, cases, db_url):
    dry = whistle_cli(db_url, "upgrade", "upkeep", "--to-version", "2", "--dry-run", "--map", "handle=deal",
                      "--user", "root", "--json")
    assert dry.returncode == 0, dry.stderr
    rows = {r["instance_id"]: r for r in json.loads(dry.stdout)["results"]}
    assert rows[cases["check"]]["can_move"] is False and "版本 2 删除了" in rows[cases["check"]]["reason"]
    assert rows[cases["handle"]]["can_move"] is True
    moved = whistle_cli(db_url, "upgrade", "upkeep", "--to-version", "2", "--from-version", "1", "--instance",
                        str(cases["handle"]), "--map", "handle=deal", "--user", "root")
    assert moved.returncode == 0, moved.stderr
    assert "1 moved, 0 skipped, 0 failed" in moved.stdout
    assert json.loads(whistle_cli(db_url, "show", str(cases["handle"]), "--json").stdout)["version"] == 2
    refused = whistle_cli(db_url, "upgrade", "upkeep", "--to-version", "2", "--user", "cc")
    assert refused.returncode == 5 and "administrators" in refused.stderr
    back = whistle_cli(db_url, "repair", str(cases["check"]), "--back-to", "accept", "--user", "root", "--json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["ready"] == ["accept"]
    listed = whistle_cli(db_url, "incidents", "--open", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
