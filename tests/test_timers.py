"""Every timer kind fires exactly once, at its time: the clock is moved, never slept on."""
from datetime import timedelta

import pytest

from engine.errors import DeploymentInvalid, IncidentRaised

# Every case here also runs cold (a new engine per command, as after a restart) and must leave the same record.
pytestmark = pytest.mark.cold_warm

SECOND = timedelta(seconds=1)


def fired(show: dict) -> list[str]:
    return [e["details"]["element_id"] for e in show["audit"] if e["event"] == "timer_fired"]


def timers_of(whistle, instance_id: int) -> dict[str, dict]:
    return {t["element_id"]: t for t in whistle.show(instance_id)["timers"]}


def open_task_names(whistle, instance_id: int) -> list[str]:
    return [t["name"] for t in whistle.show(instance_id)["open_tasks"]]


def test_reminder_and_deadline_boundary_timers(whistle, fixtures, manual_clock):
    """Non-interrupting reminder after 10 minutes (unquoted PT10M), interrupting deadline after 30 ("PT30M")."""
    whistle.deploy([fixtures / "timer_deadline.bpmn"])
    instance = whistle.start("timer_deadline")
    waiting = timers_of(whistle, instance)
    assert {k: (v["kind"], v["timer_type"], v["due_at"]) for k, v in waiting.items()} == {
        "remind": ("boundary_non_interrupting", "duration", "2026-09-28T09:10:00+00:00"),
        "deadline": ("boundary", "duration", "2026-09-28T09:30:00+00:00")}

    manual_clock.advance(timedelta(minutes=10))
    assert whistle.fire_due_jobs() == 0  # due at 09:10:00 means any instant after it
    manual_clock.advance(SECOND)
    assert whistle.fire_due_jobs() == 1
    assert fired(whistle.show(instance)) == ["remind"]
    assert open_task_names(whistle, instance) == ["现场处置"]  # the reminder does not interrupt
    assert list(timers_of(whistle, instance)) == ["deadline"]
    assert whistle.fire_due_jobs() == 0

    manual_clock.advance(timedelta(minutes=20))
    assert whistle.fire_due_jobs() == 1
    shown = whistle.show(instance)
    assert fired(shown) == ["remind", "deadline"]
    assert [t["name"] for t in shown["open_tasks"]] == ["超时督办"]
    assert shown["timers"] == []
    manual_clock.advance(timedelta(days=1))
    assert whistle.fire_due_jobs() == 0
    assert whistle.jobs(include_scheduled=True) == []
    assert whistle.verify_audit().ok


def test_completing_the_task_cancels_its_timers(whistle, fixtures, manual_clock):
    whistle.deploy([fixtures / "timer_deadline.bpmn"])
    whistle.add_user("li", ["street"])
    instance = whistle.start("timer_deadline")
    [task] = whistle.tasks("li")
    manual_clock.advance(timedelta(minutes=5))
    whistle.complete(task["task_id"], "li")
    shown = whistle.show(instance)
    assert shown["status"] == "completed" and shown["timers"] == []
    manual_clock.advance(timedelta(hours=2))
    assert whistle.fire_due_jobs() == 0
    assert fired(whistle.show(instance)) == []


def test_completion_before_the_worker_runs_wins_over_an_overdue_timer(whistle, fixtures, manual_clock):
    """As in Camunda: until a worker fires it, an overdue boundary timer is only a job; completing the task
    cancels the timer and removes the job, and nothing fires later."""
    whistle.deploy([fixtures / "timer_deadline.bpmn"])
    whistle.add_user("li", ["street"])
    instance = whistle.start("timer_deadline")
    [task] = whistle.tasks("li")
    manual_clock.advance(timedelta(minutes=31))
    assert {j["state"] for j in whistle.jobs()} == {"due"}
    whistle.complete(task["task_id"], "li")
    assert whistle.show(instance)["status"] == "completed"
    assert whistle.fire_due_jobs() == 0
    assert fired(whistle.show(instance)) == [] and whistle.jobs(include_scheduled=True) == []


def test_intermediate_timer_with_a_date_expression(whistle, fixtures, manual_clock):
    whistle.deploy([fixtures / "timer_wait.bpmn"])
    instance = whistle.start("timer_wait", data={"callback_at": "2026-09-28T18:00:00+08:00"})
    assert {k: (v["kind"], v["timer_type"], v["due_at"]) for k, v in timers_of(whistle, instance).items()} == {
        "wait_until": ("intermediate", "date", "2026-09-28T10:00:00+00:00")}
    manual_clock.advance(timedelta(minutes=59))
    assert whistle.fire_due_jobs() == 0
    assert open_task_names(whistle, instance) == []
    manual_clock.advance(timedelta(minutes=1, seconds=1))
    assert whistle.fire_due_jobs() == 1
    assert open_task_names(whistle, instance) == ["回访"]
    assert fired(whistle.show(instance)) == ["wait_until"]


def test_a_date_without_offset_is_an_incident_not_a_guess(whistle, fixtures, manual_clock):
    whistle.deploy([fixtures / "timer_wait.bpmn"])
    with pytest.raises(IncidentRaised) as raised:
        whistle.start("timer_wait", data={"callback_at": "2026-09-28T18:00:00"})
    assert "no UTC offset" in raised.value.message and "wait_until" in raised.value.message
    assert whistle.jobs(include_scheduled=True) == []


def test_event_based_gateway_fires_each_timer_at_its_own_time(whistle, fixtures, manual_clock):
    """SpiffWorkflow 3.2 gives all timers after a gateway the first one's due time; Whistle does not."""
    whistle.deploy([fixtures / "timer_gateway.bpmn"])
    quick = whistle.start("timer_gateway", data={"early_after": "PT10M"})
    slow = whistle.start("timer_gateway", data={"early_after": "PT45M"})
    assert {k: (v["kind"], v["due_at"]) for k, v in timers_of(whistle, quick).items()} == {
        "early": ("event_gateway", "2026-09-28T09:10:00+00:00"), "late": ("event_gateway", "2026-09-28T09:30:00+00:00")}
    assert timers_of(whistle, slow)["early"]["due_at"] == "2026-09-28T09:45:00+00:00"

    manual_clock.advance(timedelta(minutes=10) + SECOND)
    assert whistle.fire_due_jobs() == 1
    assert open_task_names(whistle, quick) == ["提前处理"] and timers_of(whistle, quick) == {}
    assert open_task_names(whistle, slow) == []

    manual_clock.advance(timedelta(minutes=20))
    assert whistle.fire_due_jobs() == 1
    assert open_task_names(whistle, slow) == ["迟到处理"] and timers_of(whistle, slow) == {}
    manual_clock.advance(timedelta(hours=1))
    assert whistle.fire_due_jobs() == 0
    assert fired(whistle.show(quick)) == ["early"] and fired(whistle.show(slow)) == ["late"]


def test_cycle_boundary_fires_each_slot_then_stops(whistle, fixtures, manual_clock):
    whistle.deploy([fixtures / "timer_reminders.bpmn"])
    instance = whistle.start("timer_reminders")
    assert timers_of(whistle, instance)["nudge"]["timer_type"] == "cycle"
    for slot in ("09:10", "09:20", "09:30"):
        assert timers_of(whistle, instance)["nudge"]["due_at"] == f"2026-09-28T{slot}:00+00:00"
        manual_clock.advance(timedelta(minutes=10))
        assert whistle.fire_due_jobs() == 0
        manual_clock.advance(SECOND)
        assert whistle.fire_due_jobs() == 1
        manual_clock.advance(-SECOND)
    assert timers_of(whistle, instance) == {}
    manual_clock.advance(timedelta(hours=3))
    assert whistle.fire_due_jobs() == 0
    assert fired(whistle.show(instance)) == ["nudge"] * 3
    assert open_task_names(whistle, instance) == ["部门答复"]


def test_missed_cycle_slots_fire_once(whistle, fixtures, manual_clock):
    whistle.deploy([fixtures / "timer_reminders.bpmn"])
    instance = whistle.start("timer_reminders")
    manual_clock.advance(timedelta(minutes=25))  # 09:10 and 09:20 passed while nobody was looking
    assert whistle.fire_due_jobs() == 1
    events = [e for e in whistle.show(instance)["audit"] if e["event"] == "timer_fired"]
    assert len(events) == 1 and events[0]["details"]["missed_slots"] == 1
    assert timers_of(whistle, instance)["nudge"]["due_at"] == "2026-09-28T09:30:00+00:00"
    manual_clock.advance(timedelta(minutes=6))
    assert whistle.fire_due_jobs() == 1
    manual_clock.advance(timedelta(hours=1))
    assert whistle.fire_due_jobs() == 0  # R3: the missed slots counted, the third was the last
    assert fired(whistle.show(instance)) == ["nudge", "nudge"]


def start_jobs(whistle) -> list[dict]:
    return [j for j in whistle.jobs(include_scheduled=True) if j["kind"] == "start"]


def instances_of(whistle, process_id: str) -> list[dict]:
    return [d for d in whistle.definitions() if d["process_id"] == process_id]


def test_timer_start_belongs_to_the_newest_version(whistle, fixtures, manual_clock):
    [v1] = whistle.deploy([fixtures / "timer_start_v1.bpmn"])
    [job] = start_jobs(whistle)
    assert (job["process_id"], job["element_id"], job["timer_type"], job["due_at"], job["instance_id"]) == (
        "patrol", "hourly", "cycle", "2026-09-28T10:00:00+00:00", None)
    [again] = whistle.deploy([fixtures / "timer_start_v1.bpmn"])
    assert again.status == "unchanged"
    assert start_jobs(whistle) == [job]  # an identical redeploy neither re-triggers nor reschedules

    [v2] = whistle.deploy([fixtures / "timer_start_v2.bpmn"])
    assert (v1.version, v2.version) == (1, 2)
    [job2] = start_jobs(whistle)
    assert job2["due_at"] == "2026-09-28T10:30:00+00:00" and job2["job_id"] != job["job_id"]

    manual_clock.advance(timedelta(hours=1, seconds=1))  # version 1 would have fired at 10:00
    assert whistle.fire_due_jobs() == 0
    manual_clock.advance(timedelta(minutes=30))
    assert whistle.fire_due_jobs() == 1
    [started] = [d for d in whistle.definitions() if d["running_instances"]]
    assert (started["process_id"], started["version"], started["running_instances"]) == ("patrol", 2, 1)
    whistle.add_user("grid1", ["grid"])
    [task] = whistle.tasks("grid1")
    shown = whistle.show(task["instance_id"])
    assert shown["version"] == 2 and [e["event"] for e in shown["audit"]][:2] == ["timer_fired", "started"]
    assert shown["audit"][0]["details"]["kind"] == "start"
    [job3] = start_jobs(whistle)
    assert job3["due_at"] == "2026-09-28T11:30:00+00:00" and job3["retries"] == 3


def test_timer_start_after_downtime_fires_once(whistle, fixtures, manual_clock):
    whistle.deploy([fixtures / "timer_start_v1.bpmn"])
    manual_clock.advance(timedelta(hours=5, minutes=30))  # slots 10:00 … 14:00 all missed
    assert whistle.fire_due_jobs() == 1
    assert whistle.fire_due_jobs() == 0
    assert sum(d["running_instances"] for d in whistle.definitions()) == 1
    [job] = start_jobs(whistle)
    assert job["due_at"] == "2026-09-28T15:00:00+00:00"


def test_timer_start_date_fires_once(whistle, fixtures, manual_clock):
    whistle.deploy([fixtures / "timer_start_date.bpmn"])  # unquoted 2026-09-28T17:30:00+08:00
    [job] = start_jobs(whistle)
    assert (job["timer_type"], job["due_at"]) == ("date", "2026-09-28T09:30:00+00:00")
    manual_clock.advance(timedelta(minutes=30, seconds=1))
    assert whistle.fire_due_jobs() == 1
    manual_clock.advance(timedelta(days=400))
    assert whistle.fire_due_jobs() == 0
    assert start_jobs(whistle) == []
    assert sum(d["running_instances"] for d in whistle.definitions()) == 1


def test_explicit_start_of_a_timer_start_process_begins_now(whistle, fixtures, manual_clock):
    whistle.deploy([fixtures / "timer_start_date.bpmn"])
    instance = whistle.start("annual_check")
    assert open_task_names(whistle, instance) == ["安全检查"]
    assert whistle.show(instance)["timers"] == []
    assert len(start_jobs(whistle)) == 1  # the schedule is untouched


TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="http://x">
  <bpmn:process id="bad_timer" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:{element}>{value}</bpmn:{element}></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.mark.parametrize("element, value, expected", [
    ("timeDate", "2027-04-01T09:00:00", "no UTC offset"),
    ("timeDate", '"2027-04-01T09:00:00"', "no UTC offset"),
    ("timeDate", "PT30M", "is a duration, not a date"),
    ("timeDuration", "PT30X", "not an ISO 8601 duration"),
    ("timeDuration", "due +", "neither an ISO 8601 value"),
    ("timeCycle", "R3/PT1H", "only allowed on a start event or a boundary event"),
])
def test_deploy_rejects_bad_timers_with_file_line_and_element(whistle, tmp_path, element, value, expected):
    path = tmp_path / "bad_timer.bpmn"
    path.write_text(TEMPLATE.format(element=element, value=value), encoding="utf-8")
    with pytest.raises(DeploymentInvalid) as raised:
        whistle.deploy([path])
    [problem] = raised.value.problems
    assert expected in problem.message, problem.message
    assert (problem.file, problem.line, problem.element_id) == (str(path), 5, "wait")
    assert whistle.definitions() == []


def test_timer_start_with_a_naive_cycle_start_is_a_deploy_problem(whistle, fixtures, tmp_path):
    text = (fixtures / "timer_start_v1.bpmn").read_text(encoding="utf-8")
    path = tmp_path / "patrol.bpmn"
    path.write_text(text.replace("2026-09-28T18:00:00+08:00", "2026-09-28T18:00:00"), encoding="utf-8")
    with pytest.raises(DeploymentInvalid) as raised:
        whistle.deploy([path])
    [problem] = raised.value.problems
    assert "no UTC offset" in problem.message and problem.element_id == "hourly" and problem.line
