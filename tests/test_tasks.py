"""Human tasks: candidate groups from every source, claim rules, refusals, incidents."""
from datetime import timedelta

import pytest

from engine.errors import Conflict, Forbidden, IncidentRaised, NotFound

# Every case here also runs cold (a new engine per command, as after a restart) and must leave the same record.
pytestmark = pytest.mark.cold_warm


@pytest.fixture
def people(whistle):
    whistle.add_user("alice", ["command-centre"])
    whistle.add_user("bob", ["command-centre"])
    whistle.add_user("dora", ["dept-police", "departments"])
    whistle.add_user("erin", ["dept-housing"])
    whistle.add_user("sam", ["street-office"])
    whistle.add_user("carol", ["clerks"])
    return whistle


def test_candidate_groups_from_lane_property_expression_and_manual_task(people, fixtures, manual_clock):
    w = people
    w.deploy([fixtures / "lanes.bpmn"])
    instance = w.start("lanes", data={"departments": ["dept-police", "dept-housing"]}, user="sam")
    [by_lane] = w.tasks("sam")
    assert (by_lane["name"], by_lane["candidate_groups"]) == ("泳道任务", ["street-office"])
    w.complete(by_lane["task_id"], "sam")
    [for_dora] = w.tasks("dora")
    [for_erin] = w.tasks("erin")
    assert for_dora["task_id"] == for_erin["task_id"]
    assert for_dora["candidate_groups"] == ["dept-housing", "dept-police"]
    assert for_dora["priority"] == 80
    assert for_dora["due_at"] == (manual_clock.now() + timedelta(days=2)).isoformat()
    assert w.tasks("sam") == []
    w.complete(for_erin["task_id"], "erin")
    [manual] = w.tasks("dora")  # a manual task goes to its lane too
    assert (manual["name"], manual["candidate_groups"]) == ("现场报到", ["departments"])
    w.complete(manual["task_id"], "dora")
    assert w.show(instance)["status"] == "completed"


def test_expression_picks_the_department_a_rule_chose(people, fixtures):
    w = people
    w.deploy([fixtures / "review.bpmn"])
    w.start("review", data={"situation": "police"})
    [review] = w.tasks("alice")
    w.complete(review["task_id"], "alice", {"decision": "whistle"})
    assert [t["name"] for t in w.tasks("dora")] == ["部门报到"]
    assert w.tasks("erin") == []


def test_only_candidates_may_claim_or_complete(people, fixtures):
    w = people
    w.deploy([fixtures / "review.bpmn"])
    w.start("review", data={"situation": "police"})
    [task] = w.tasks("alice")
    with pytest.raises(Forbidden, match="dora may not work on task '指挥中心审核': it is for command-centre"):
        w.complete(task["task_id"], "dora")
    with pytest.raises(Forbidden):
        w.claim(task["task_id"], "dora")
    with pytest.raises(NotFound, match="no user 'mallory'"):
        w.complete(task["task_id"], "mallory")
    assert w.task(task["task_id"])["status"] == "open"


def test_claimed_task_belongs_to_its_assignee(people, fixtures):
    w = people
    w.deploy([fixtures / "review.bpmn"])
    w.start("review", data={"situation": "police"})
    [task] = w.tasks("alice")
    assert w.claim(task["task_id"], "alice")["assignee"] == "alice"
    assert w.claim(task["task_id"], "alice")["assignee"] == "alice"  # claiming twice is harmless
    assert w.tasks("bob") == []  # claimed by a colleague: no longer offered to bob
    with pytest.raises(Conflict, match="already claimed by alice"):
        w.claim(task["task_id"], "bob")
    with pytest.raises(Forbidden, match="claimed by alice"):
        w.complete(task["task_id"], "bob", {"decision": "self"})
    with pytest.raises(Forbidden, match="only they can release it"):
        w.unclaim(task["task_id"], "bob")
    w.unclaim(task["task_id"], "alice")
    assert [t["task_id"] for t in w.tasks("bob")] == [task["task_id"]]
    w.complete(task["task_id"], "bob", {"decision": "self"})
    with pytest.raises(Conflict, match="already completed by bob"):
        w.complete(task["task_id"], "alice")
    events = [e["event"] for e in w.show(task["instance_id"])["audit"]]
    assert events == ["started", "task_created", "task_claimed", "task_unclaimed", "task_completed", "task_created"]


def test_failing_script_leaves_instance_unchanged_and_records_incident(people, fixtures):
    w = people
    w.deploy([fixtures / "failing_script.bpmn"])
    instance = w.start("failing", data={"done": 3, "total": 0})
    before = w.show(instance)
    [task] = before["open_tasks"]
    with pytest.raises(IncidentRaised, match="at 'compute'.*ZeroDivisionError") as caught:
        w.complete(task["task_id"], "carol", {"note": "提交"})
    after = w.show(instance)
    assert after["revision"] == before["revision"]
    assert after["data"] == before["data"] == {"done": 3, "total": 0}
    assert [t["task_id"] for t in after["open_tasks"]] == [task["task_id"]]
    [incident] = after["incidents"]
    assert incident["incident_id"] == caught.value.incident_id
    assert (incident["command"], incident["element_id"]) == ("complete", "compute")
    assert "ZeroDivisionError" in incident["error"]
    assert "Traceback" in w.incidents(instance)[0]["traceback"]
    assert [e["event"] for e in after["audit"]][-1] == "incident"
    assert "task_completed" not in [e["event"] for e in after["audit"]]
    # The instance still works: with good data the same task completes.
    w.complete(task["task_id"], "carol", {"total": 4})
    [review] = w.show(instance)["open_tasks"]
    assert review["name"] == "复核" and w.show(instance)["data"]["ratio"] == 0.75


def test_start_failure_creates_no_instance(people, fixtures, tmp_path):
    w = people
    source = (fixtures / "failing_script.bpmn").read_text(encoding="utf-8")
    # Move the failing script to the very start: the start command itself fails.
    source = source.replace('sourceRef="start" targetRef="fill"', 'sourceRef="start" targetRef="compute"')
    source = source.replace('sourceRef="fill" targetRef="compute"', 'sourceRef="fill" targetRef="end"')
    # (compute -> after stays: every task stays reachable, or lint refuses the file [no-implicit-start])
    source = source.replace('sourceRef="after" targetRef="end"', 'sourceRef="after" targetRef="fill"')
    path = tmp_path / "failing_start.bpmn"
    path.write_text(source.replace('<bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>',
                                   '<bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>'), encoding="utf-8")
    w.deploy([path])
    with pytest.raises(IncidentRaised, match="start failed at 'compute'") as caught:
        w.start("failing", data={"done": 1, "total": 0}, user="carol")
    assert caught.value.instance_id is None
    [incident] = w.incidents()
    assert (incident["instance_id"], incident["process_id"], incident["command"]) == (None, "failing", "start")
    assert w.tasks() == []
    assert w.verify_audit().ok


def test_multi_instance_tasks_each_go_to_their_department(people, fixtures):
    w = people
    w.deploy([fixtures / "multi_instance.bpmn"])
    instance = w.start("fan_out", data={"departments": ["dept-police", "dept-housing"]})
    [police] = w.tasks("dora")
    [housing] = w.tasks("erin")
    assert police["candidate_groups"] == ["dept-police"] and housing["candidate_groups"] == ["dept-housing"]
    assert police["task_id"] != housing["task_id"]
    w.complete(police["task_id"], "dora")
    assert w.show(instance)["status"] == "running"
    w.complete(housing["task_id"], "erin")
    assert w.show(instance)["status"] == "completed"
