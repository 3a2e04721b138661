"""The `whistle` command line contract, exercised as a real subprocess."""
import json
import subprocess
import sys

import pytest

from conftest import PROJECT


def whistle_cli(db_url, *args, check=True):
    result = subprocess.run([sys.executable, "-m", "cli", "--db", db_url, *map(str, args)],
                            capture_output=True, text=True, cwd=PROJECT, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    if check:
        assert result.returncode == 0, result.stderr
    return result


def as_json(result):
    return json.loads(result.stdout)


def test_full_cycle_through_the_cli(db_url, fixtures):
    deployed = as_json(whistle_cli(db_url, "deploy", fixtures / "review.bpmn", "--json"))
    # review.bpmn has no diagram layout: a lint warning, stored with the version (engine.deploy.lint).
    assert [(w["element_id"], w["severity"]) for w in deployed[0].pop("warnings")] == [("review", "warning")]
    assert deployed == [{"process_id": "review", "kind": "process", "version": 1, "status": "new",
                         "name": "问题审核", "file": str(fixtures / "review.bpmn")}]
    assert as_json(whistle_cli(db_url, "deploy", fixtures / "review.bpmn", "--json"))[0]["status"] == "unchanged"
    assert [d["version"] for d in as_json(whistle_cli(db_url, "definitions", "--json"))] == [1]

    added = as_json(whistle_cli(db_url, "user", "add", "alice", "--group", "command-centre", "--password", "pw",
                                "--json"))
    assert added == {"username": "alice", "created": True, "groups": ["command-centre"]}
    again = as_json(whistle_cli(db_url, "user", "add", "alice", "--group", "command-centre", "--json"))
    assert again["created"] is False and again["groups"] == ["command-centre"]
    whistle_cli(db_url, "user", "add", "dora", "--group", "dept-police")

    started = as_json(whistle_cli(db_url, "start", "review", "--data", '{"situation": "police"}',
                                  "--business-key", "12345-0001", "--user", "alice", "--json"))
    instance = started["instance_id"]
    [task] = as_json(whistle_cli(db_url, "tasks", "--user", "alice", "--json"))
    assert {k: task[k] for k in ("instance_id", "process_id", "name", "candidate_groups", "assignee", "due_at")} == {
        "instance_id": instance, "process_id": "review", "name": "指挥中心审核",
        "candidate_groups": ["command-centre"], "assignee": None, "due_at": None}
    assert as_json(whistle_cli(db_url, "tasks", "--user", "dora", "--json")) == []

    assert as_json(whistle_cli(db_url, "claim", task["task_id"], "--user", "alice", "--json"))["assignee"] == "alice"
    assert as_json(whistle_cli(db_url, "unclaim", task["task_id"], "--user", "alice", "--json"))["assignee"] is None
    done = as_json(whistle_cli(db_url, "complete", task["task_id"], "--user", "alice",
                               "--data", '{"decision": "whistle"}', "--json"))
    assert done == {"task_id": task["task_id"], "instance_id": instance, "status": "running"}

    shown = as_json(whistle_cli(db_url, "show", instance, "--json"))
    assert (shown["status"], shown["process_id"], shown["version"]) == ("running", "review", 1)
    assert shown["data"] == {"situation": "police", "decision": "whistle", "department": "dept-police"}
    assert [t["name"] for t in shown["open_tasks"]] == ["部门报到"]
    assert shown["incidents"] == []
    assert [e["event"] for e in shown["audit"]] == ["started", "task_created", "task_claimed", "task_unclaimed",
                                                    "task_completed", "task_created"]
    text = whistle_cli(db_url, "show", instance).stdout
    assert "部门报到" in text and "running" in text

    verified = whistle_cli(db_url, "audit", "verify")
    assert "intact" in verified.stdout


def test_errors_are_one_sentence_with_exit_codes(db_url, fixtures):
    bad = whistle_cli(db_url, "deploy", fixtures / "invalid_schema.bpmn", fixtures / "review.bpmn", check=False)
    assert bad.returncode == 1
    assert "nothing was deployed: 2 problems found" in bad.stderr
    assert "invalid_schema.bpmn:6 [task_a]" in bad.stderr
    assert as_json(whistle_cli(db_url, "definitions", "--json")) == []

    missing = whistle_cli(db_url, "start", "nope", check=False)
    assert (missing.returncode, missing.stderr.strip()) == (4, "whistle: no process 'nope' is deployed")
    bad_json = whistle_cli(db_url, "start", "nope", "--data", "{oops", check=False)
    assert bad_json.returncode == 1 and "--data is not valid JSON" in bad_json.stderr
    no_task = whistle_cli(db_url, "complete", "no-such-task", "--user", "x", "--json", check=False)
    assert no_task.returncode == 4 and as_json(no_task) == {"error": "not_found", "message": "no task no-such-task"}


def test_unmigrated_database_is_named(tmp_path):
    result = whistle_cli(f"sqlite:///{tmp_path / 'empty.sqlite'}", "definitions", check=False)
    assert result.returncode == 1
    assert "run `whistle migrate` first" in result.stderr


def test_audit_verify_fails_on_tampering(db_url, fixtures, whistle):
    whistle.deploy([fixtures / "review.bpmn"])
    whistle.add_user("alice", ["command-centre"])
    from sqlalchemy import text
    with whistle.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET details = '{}' WHERE id = 2"))
    result = whistle_cli(db_url, "audit", "verify", check=False)
    assert result.returncode != 0 and "row 2" in result.stdout


def test_two_processes_completing_one_task(db_url, fixtures, whistle):
    whistle.deploy([fixtures / "review.bpmn"])
    whistle.add_user("alice", ["command-centre"])
    whistle.add_user("bob", ["command-centre"])
    whistle.start("review", data={"situation": "x"})
    [task] = whistle.tasks("alice")
    procs = [subprocess.Popen([sys.executable, "-m", "cli", "--db", db_url, "complete", task["task_id"],
                               "--user", user, "--data", '{"decision": "self"}'],
                              cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for user in ("alice", "bob")]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) == [0, 3], results
    loser = next(err for code, err in results if code == 3)
    assert "already completed by" in loser or "changed by someone else" in loser


@pytest.mark.parametrize("argv", [["--help"], ["deploy", "--help"]])
def test_help(argv, tmp_path):
    result = subprocess.run([sys.executable, "-m", "cli", *argv], capture_output=True, text=True, cwd=PROJECT)
    assert result.returncode == 0 and "whistle" in result.stdout
