"""Files saved by real modelers (engine.modelers): Camunda Modeler 5 for Camunda 7 and Camunda 8, and
SpiffArena, deploy and run end to end; what Whistle cannot run is refused at deploy, naming element and line."""
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.api import Whistle
from engine.deploy.lint import lint_paths
from engine.errors import DeploymentInvalid
from engine.store.definitions import latest_version
from engine.store.models import HumanTask, SourceBlob

from conftest import FIXTURES

MODELERS = FIXTURES / "modelers"
UNSUPPORTED = MODELERS / "unsupported"
CAMUNDA8 = [MODELERS / "camunda8_dispatch.bpmn", MODELERS / "camunda8_onsite.bpmn", MODELERS / "camunda8_routing.dmn"]


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def spec_of(whistle, key):
    with whistle.db.read() as session:
        return whistle.specs.get(session, latest_version(session, key).id)[0]


def test_modeler_files_lint_clean():
    assert lint_paths([MODELERS / name for name in ("camunda7_hotline.bpmn", "camunda8_dispatch.bpmn",
                                                     "camunda8_onsite.bpmn", "camunda8_routing.dmn",
                                                     "spiffarena_verify.bpmn")]) == []


def test_camunda7_file_deploys_and_runs_end_to_end(whistle, manual_clock):
    path = MODELERS / "camunda7_hotline.bpmn"
    [result] = whistle.deploy([path])
    assert (result.key, result.status, result.to_dict()["warnings"]) == ("camunda7_hotline", "new", [])
    with whistle.db.read() as session:  # the stored file is the modeler's, byte for byte
        assert session.execute(select(SourceBlob.content)).scalar() == path.read_text(encoding="utf-8")
    for name in ("cc", "sup", "pol"):
        whistle.add_user(name, {"cc": ["command-centre"], "sup": ["supervisors"], "pol": ["dept-police"]}[name])

    late = whistle.start("camunda7_hotline", data={"situation": "police"})
    [triage] = whistle.tasks("cc")
    assert (triage["name"], triage["candidate_groups"], triage["form_key"], triage["priority"]) == \
        ("指挥中心研判", ["command-centre"], "triage-form", 70)
    with whistle.db.read() as session:
        assert session.get(HumanTask, triage["task_id"]).documentation == "核实诉求是否属实，判断是否需要吹哨。"
    properties = spec_of(whistle, "camunda7_hotline").task_specs["Activity_triage"].extensions["properties"]
    assert properties == {"channel": "12345", "sla": "30 分钟内研判"}  # camunda:properties

    # The unquoted PT30M boundary timer fires after 30 minutes: the case goes to the supervisors.
    manual_clock.advance(timedelta(minutes=29))
    assert whistle.fire_due_jobs() == 0
    manual_clock.advance(timedelta(minutes=2))
    assert whistle.fire_due_jobs() == 1
    [escalation] = whistle.show(late)["open_tasks"]
    assert (escalation["name"], escalation["candidate_groups"], escalation["assignee"]) == \
        ("督办超时研判", ["supervisors"], "supervisor")

    # In time, the ${...} condition (Camunda style) sends the case to the department the script picked.
    quick = whistle.start("camunda7_hotline", data={"situation": "police"})
    [triage] = whistle.tasks("cc")
    whistle.complete(triage["task_id"], "cc", {"decision": "whistle"})
    [report] = whistle.tasks("pol")
    assert (report["instance_id"], report["name"], report["form_key"]) == (quick, "部门报到", "report-form")
    whistle.complete(report["task_id"], "pol")
    assert whistle.show(quick)["status"] == "completed"
    assert whistle.jobs(include_scheduled=True) == []


def test_camunda8_files_deploy_and_run_end_to_end(whistle, manual_clock, db_url):
    deployed = {r.key: (r.kind, r.to_dict()["warnings"]) for r in whistle.deploy(CAMUNDA8)}
    assert deployed == {"camunda8_dispatch": ("process", []), "camunda8_onsite": ("process", []),
                        "camunda8_routing": ("decision", [])}
    whistle.add_user("parker", ["dept-parking"])
    instance = whistle.start("camunda8_dispatch", data={"situation": "illegal-parking", "ticket_id": "T-7"})

    # zeebe:calledDecision resultVariable, zeebe:assignmentDefinition "=lead", form, schedule, priority.
    [sign] = whistle.tasks("parker")
    assert (sign["name"], sign["candidate_groups"], sign["form_key"], sign["priority"]) == \
        ("签收哨令", ["dept-parking"], "sign-form", 80)
    assert sign["due_at"] == (manual_clock.now() + timedelta(hours=1)).isoformat()
    assert whistle.show(instance)["data"]["lead"] == "dept-parking"
    extensions = spec_of(whistle, "camunda8_dispatch").task_specs["Activity_sign"].extensions
    assert extensions["properties"] == {"channel": "12345", "category": "吹哨报到"}  # taskHeaders, properties

    # "=accepted" condition, then the call activity named by zeebe:calledElement — run by a fresh engine,
    # which rebuilds the spec from the stored files and must read them the same way.
    whistle.complete(sign["task_id"], "parker", {"accepted": True})
    other = Whistle(db_url)
    try:
        [arrive] = other.tasks("parker")
        assert (arrive["name"], arrive["process_id"], arrive["form_key"]) == ("到场报到", "camunda8_dispatch",
                                                                             "arrive-form")
        other.specs = type(other.specs)()  # no cached specs at all
        other.runtime.specs = other.specs
        other.complete(arrive["task_id"], "parker")
        # The message waits with the correlation key of zeebe:subscription correlationKey="=ticket_id".
        assert [(m["message"], m["key"]) for m in other.show(instance)["messages"]] == [("citizen-feedback", "T-7")]
        assert other.message("citizen-feedback", key="T-7", data={"rating": 5})["delivered_to"] == [instance]
        shown = other.show(instance)
        assert (shown["status"], shown["data"]["rating"]) == ("completed", 5)
    finally:
        other.close()

    # The default flow: a returned order ends at once.
    returned = whistle.start("camunda8_dispatch", data={"situation": "noise", "ticket_id": "T-8"})
    assert whistle.show(returned)["data"]["lead"] == "street-office"


def test_spiffarena_file_deploys_and_runs_end_to_end(whistle):
    [result] = whistle.deploy([MODELERS / "spiffarena_verify.bpmn"])
    assert result.to_dict()["warnings"] == []
    whistle.add_user("cc", ["command-centre"])
    whistle.add_user("st", ["street-office"])
    instance = whistle.start("spiffarena_verify", data={"caller": "张先生"})
    [call] = whistle.tasks("cc")  # from the lane's name
    assert (call["name"], call["candidate_groups"], call["form_key"]) == ("电话回访", ["command-centre"], "call-back")
    whistle.complete(call["task_id"], "cc", {"rating": 2})
    [revisit] = whistle.tasks("st")  # a manual task in the other lane
    assert revisit["name"] == "上门复核"
    whistle.complete(revisit["task_id"], "st")
    data = whistle.show(instance)["data"]
    assert whistle.show(instance)["status"] == "completed"
    assert data["called_back"] is True and data["call_opened_at"]  # pre- and post-script ran (sandboxed)

    happy = whistle.start("spiffarena_verify", data={"caller": "李女士"})
    [call] = whistle.tasks("cc")
    whistle.complete(call["task_id"], "cc", {"rating": 5})
    assert whistle.show(happy)["data"]["satisfaction"] == "满意"


# -- what Whistle cannot run ----------------------------------------------------------------------------------

def refused(whistle, path: Path) -> dict:
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([path])
    assert whistle.definitions() == []
    return {(p.line, p.element_id): p.message for p in caught.value.problems}


def test_camunda7_extensions_that_cannot_run_are_refused_naming_element_and_line(whistle):
    path = UNSUPPORTED / "camunda7_java.bpmn"
    found = refused(whistle, path)
    expected = {
        (line_of(path, 'id="StartEvent_1"'), "StartEvent_1"): "camunda:initiator",
        (line_of(path, 'id="Activity_notify"'), "Activity_notify"): "Java class 'gov.whistle.SmsDelegate'",
        (line_of(path, "<camunda:inputOutput>"), "Activity_review"): "camunda:inputOutput",
        (line_of(path, "<camunda:taskListener"), "Activity_review"): "camunda:taskListener",
        (line_of(path, 'id="Activity_groovy"'), "Activity_groovy"): "script format 'groovy'",
        (line_of(path, 'id="Activity_send"'), "Activity_send"): "camunda:delegateExpression",
        (line_of(path, 'id="Gateway_complex"'), "Gateway_complex"): "complex gateway",
        (line_of(path, "<camunda:executionListener"), "Event_end"): "camunda:executionListener",
    }
    for key, needle in expected.items():
        assert key in found, (key, sorted(found))
        assert needle in found[key] and found[key].endswith("[modeler-compatibility]"), found[key]
    assert found[(line_of(path, "<camunda:inputOutput>"), "Activity_review")].startswith("user task '审核' (Activity_review)")
    assert len(found) == len(expected)


def test_camunda8_extensions_that_cannot_run_are_refused_naming_element_and_line(whistle):
    path = UNSUPPORTED / "camunda8_jobs.bpmn"
    found = refused(whistle, path)
    expected = {
        (line_of(path, 'id="Activity_sms"'), "Activity_sms"): "zeebe:taskDefinition type 'send-sms'",
        (_nth_line(path, "<zeebe:ioMapping>", 2), "Activity_check"): "zeebe:ioMapping",
        (line_of(path, "<zeebe:script "), "Activity_feel"): "zeebe:script",
        (line_of(path, 'id="LinkEventDefinition_1"'), "Event_goto"): "link events",
        (line_of(path, 'id="LinkEventDefinition_2"'), "Event_landing"): "link events",
    }
    for key, needle in expected.items():
        assert key in found, (key, sorted(found))
        assert needle in found[key], found[key]
    # The service task's own ioMapping is not reported twice: the task as a whole cannot run.
    assert not any(element == "Activity_sms" and "ioMapping" in message for (_, element), message in found.items())


def _nth_line(path: Path, needle: str, n: int) -> int:
    lines = [number for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if needle in line]
    return lines[n - 1]


def test_ignored_extensions_are_warnings_and_non_executable_files_errors(tmp_path):
    source = (MODELERS / "camunda7_hotline.bpmn").read_text(encoding="utf-8")
    warned = tmp_path / "warned.bpmn"
    warned.write_text(source.replace(
        'camunda:priority="70"', 'camunda:priority="70" camunda:followUpDate="P1D"').replace(
        "<camunda:properties>", '<camunda:formData><camunda:formField id="ok" type="boolean" /></camunda:formData>'
                                "<camunda:properties>"), encoding="utf-8")
    problems = lint_paths([warned])
    assert {p.severity for p in problems} == {"warning"}
    assert {(p.element_id, p.line) for p in problems} == {("Activity_triage", line_of(warned, 'id="Activity_triage"')),
                                                          ("Activity_triage", line_of(warned, "<camunda:formData>"))}
    not_executable = tmp_path / "sketch.bpmn"
    not_executable.write_text(source.replace('isExecutable="true"', 'isExecutable="false"'), encoding="utf-8")
    [problem] = [p for p in lint_paths([not_executable]) if p.severity == "error"]
    assert problem.element_id == "camunda7_hotline" and "nothing would be deployed" in problem.message


MULTI_INSTANCE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    id="Definitions_mi" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="mi_dialects" name="多实例写法" isExecutable="true">
    <bpmn:startEvent id="start" name="开始"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="camunda_each" name="各部门报到" camunda:candidateGroups="${department}">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics camunda:collection="${departments}" camunda:elementVariable="department" />
    </bpmn:userTask>
    <bpmn:userTask id="zeebe_each" name="各部门反馈">
      <bpmn:extensionElements><zeebe:assignmentDefinition candidateGroups="=dept" /></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics isSequential="true">
        <bpmn:extensionElements>
          <zeebe:loopCharacteristics inputCollection="=departments" inputElement="dept" outputCollection="answers"
                                     outputElement="=answer" />
        </bpmn:extensionElements>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:endEvent id="end" name="结束"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="camunda_each" />
    <bpmn:sequenceFlow id="f2" sourceRef="camunda_each" targetRef="zeebe_each" />
    <bpmn:sequenceFlow id="f3" sourceRef="zeebe_each" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_camunda_and_zeebe_multi_instance_collections_run(whistle, tmp_path):
    path = tmp_path / "mi.bpmn"
    path.write_text(MULTI_INSTANCE, encoding="utf-8")
    whistle.deploy([path])
    whistle.add_user("ann", ["dept-a"])
    whistle.add_user("ben", ["dept-b"])
    instance = whistle.start("mi_dialects", data={"departments": ["dept-a", "dept-b"]})
    for user in ("ann", "ben"):  # camunda:collection / elementVariable: one task per department, in parallel
        [task] = whistle.tasks(user)
        assert task["name"] == "各部门报到"
        whistle.complete(task["task_id"], user)
    for user, answer in (("ann", "ok"), ("ben", "late")):  # zeebe:loopCharacteristics, sequential, with output
        [task] = whistle.tasks(user)
        assert task["name"] == "各部门反馈"
        whistle.complete(task["task_id"], user, {"answer": answer})
    shown = whistle.show(instance)
    assert (shown["status"], shown["data"]["answers"]) == ("completed", ["ok", "late"])
    # A collection that is not a variable name is refused at deploy.
    path.write_text(MULTI_INSTANCE.replace('camunda:collection="${departments}"',
                                           'camunda:collection="${departmentService.all()}"'), encoding="utf-8")
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([path])
    [problem] = caught.value.problems
    assert problem.element_id == "camunda_each" and "must be a variable name" in problem.message
