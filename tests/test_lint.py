"""Deploy-time lint (engine.lint): each rule on a small fixture, with file, line, element id and severity;
errors block a deployment, warnings are stored with the version; `whistle lint` runs the same checks."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.deploy.lint import lint_paths
from engine.deploy.rules.common import RULES
from engine.errors import DeploymentInvalid
from engine.store.models import DefinitionVersion

from conftest import FIXTURES, PROJECT

LINT = FIXTURES / "lint"


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def rule_of(problem) -> str | None:
    return problem.message.rsplit("[", 1)[-1].rstrip("]") if problem.message.endswith("]") else None


def found(path: Path) -> dict:
    """(rule, element id) -> (line, severity, message) for every problem lint reports on one file."""
    result = {}
    for p in lint_paths([path]):
        assert p.file == str(path)
        result.setdefault((rule_of(p), p.element_id), (p.line, p.severity, p.message))
    return result


def expect(problems: dict, path: Path, rule: str, element_id: str, severity: str, needle: str | None = None,
           contains: str | None = None) -> str:
    assert (rule, element_id) in problems, f"no {rule} on {element_id}: {sorted(problems)}"
    line, got_severity, message = problems[(rule, element_id)]
    assert line == line_of(path, needle or f'id="{element_id}"'), message
    assert got_severity == severity, message
    if contains:
        assert contains in message
    return message


def test_every_rule_is_documented_for_designers():
    doc = (PROJECT / "docs" / "lint.md").read_text(encoding="utf-8")
    for rule in RULES:
        assert f"`{rule}`" in doc, rule


def test_start_end_and_disconnected():
    path = LINT / "no_start_end.bpmn"
    problems = found(path)
    expect(problems, path, "start-event-required", "no_start_end", "error", contains="can never start")
    expect(problems, path, "end-event-required", "no_start_end", "warning")
    expect(problems, path, "no-disconnected", "lonely", "error", contains="not connected")


def test_flow_rules():
    path = LINT / "flows.bpmn"
    problems = found(path)
    expect(problems, path, "single-blank-start-event", "start_again", "error")
    expect(problems, path, "no-implicit-split", "split_task", "error", contains="2 outgoing")
    expect(problems, path, "fake-join", "join_task", "warning", contains="2 incoming")
    expect(problems, path, "conditional-flows", "f_missing", "error", contains="no condition and is not the default")
    expect(problems, path, "conditional-flows", "f_default", "warning", contains="ignored")
    expect(problems, path, "conditional-flows", "f11", "error", contains="does not evaluate")
    expect(problems, path, "no-duplicate-sequence-flows", "f10_copy", "error", contains="duplicates 'f10'")
    expect(problems, path, "superfluous-gateway", "pass_through", "warning")
    expect(problems, path, "no-gateway-join-fork", "join_fork", "warning")
    expect(problems, path, "no-implicit-start", "never_reached", "error", contains="never run")
    expect(problems, path, "no-implicit-end", "dead_end", "warning")
    expect(problems, path, "label-required", "right", "warning")
    expect(problems, path, "label-required", "unnamed_split", "warning", contains="splits the flow")
    # The well-formed parts raise nothing: a named gateway, an end event joining paths, the default flow.
    assert ("label-required", "decide") not in problems
    assert ("fake-join", "end") not in problems
    assert not any(element == "f_yes" for _, element in problems)


def test_sub_process_rules():
    path = LINT / "subprocesses.bpmn"
    problems = found(path)
    expect(problems, path, "sub-process-blank-start-event", "inner_start", "error")
    expect(problems, path, "event-sub-process-typed-start-event", "on_cancel_start", "error")
    # SpiffWorkflow cannot run a sub-process without an end event: an error there, a warning for a process.
    message = expect(problems, path, "end-event-required", "inner", "error")
    assert "SubWorkflow" not in message
    assert ("start-event-required", "on_cancel") not in problems


def test_whistle_rules_assignment_scripts_timers():
    path = LINT / "whistle_rules.bpmn"
    problems = found(path)
    expect(problems, path, "human-task-assignment", "nobody", "error", contains="offered to nobody")
    expect(problems, path, "script-compiles", "bad_group", "error", contains="candidate groups")
    expect(problems, path, "script-compiles", "importer", "error", contains="import os")
    expect(problems, path, "script-compiles", "empty_script", "error", contains="no script")
    expect(problems, path, "script-compiles", "pre_post", "error", contains="pre-script")
    expect(problems, path, "timer-expression", "bad_literal", "error", contains="'PT30X' is not an ISO 8601 duration")
    expect(problems, path, "timer-expression", "sneaky_timer", "error", contains="sandbox")
    message = expect(problems, path, "script-compiles", "f_yes", "error")
    assert "== for equality" in message
    # A task in a named lane is offered to the lane's group; an unquoted ISO literal is a valid timer.
    assert not any(element in ("in_lane", "good_timer") for _, element in problems)


def test_partial_diagram_names_each_missing_element(tmp_path):
    source = FIXTURES / "modelers" / "camunda7_hotline.bpmn"
    path = tmp_path / "partial.bpmn"
    text = source.read_text(encoding="utf-8")
    start = text.index('<bpmndi:BPMNShape id="Activity_self_di"')
    end = text.index("</bpmndi:BPMNShape>", start) + len("</bpmndi:BPMNShape>")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    problems = found(path)
    assert [key for key in problems if key[0] == "no-bpmndi"] == [("no-bpmndi", "Activity_self")]
    expect(problems, path, "no-bpmndi", "Activity_self", "warning")
    # Without any diagram, one warning for the process.
    assert ("no-bpmndi", "review") in found(FIXTURES / "review.bpmn")


def test_existing_fixtures_and_processes_have_no_lint_errors():
    known_bad = {"invalid_schema.bpmn", "not_xml.bpmn", "timer_start_v2.bpmn"}  # bad on purpose / same id as v1
    paths = [p for p in sorted(FIXTURES.glob("*.bpmn")) if p.name not in known_bad] + [FIXTURES / "calls"]
    for path in paths:
        errors = [str(p) for p in lint_paths([path]) if p.severity == "error"]
        assert errors == [], errors
    errors = [str(p) for p in lint_paths([PROJECT / "processes"]) if p.severity == "error"]
    assert errors == [], errors


# -- in a deployment -------------------------------------------------------------------------------------

def test_lint_errors_block_the_deployment_with_every_problem(whistle):
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([FIXTURES / "review.bpmn", LINT / "flows.bpmn", LINT / "whistle_rules.bpmn"])
    problems = caught.value.problems
    assert all(p.severity == "error" for p in problems)
    where = {(Path(p.file).name, p.element_id) for p in problems}
    assert {("flows.bpmn", "split_task"), ("flows.bpmn", "f_missing"), ("whistle_rules.bpmn", "nobody"),
            ("whistle_rules.bpmn", "importer"), ("whistle_rules.bpmn", "sneaky_timer")} <= where
    # SpiffWorkflow's own message for the implicit split is replaced by the lint rule's clearer one.
    [split] = [p for p in problems if p.element_id == "split_task"]
    assert rule_of(split) == "no-implicit-split" and "Multiple outgoing flows" not in split.message
    assert caught.value.to_dict()["problems"][0]["severity"] == "error"
    with whistle.db.read() as s:
        assert s.execute(select(func.count()).select_from(DefinitionVersion)).scalar() == 0


def test_warnings_are_returned_and_stored_with_the_version(whistle, tmp_path):
    path = tmp_path / "lanes.bpmn"
    shutil.copy(FIXTURES / "lanes.bpmn", path)
    [result] = whistle.deploy([path])
    warnings = result.to_dict()["warnings"]
    assert warnings and all(w["severity"] == "warning" for w in warnings)
    by_element = {(w["element_id"], w["message"].rsplit("[", 1)[-1].rstrip("]")) for w in warnings}
    assert {("lanes", "no-bpmndi"), ("start", "label-required"), ("end", "label-required")} <= by_element
    assert {w["line"] for w in warnings if w["element_id"] == "start"} == {line_of(path, 'id="start"')}
    with whistle.db.read() as s:
        stored = s.execute(select(DefinitionVersion.warnings)).scalar()
    assert stored == warnings
    # Deploying the same file again changes nothing and reports the stored warnings.
    [again] = whistle.deploy([path])
    assert (again.status, again.to_dict()["warnings"]) == ("unchanged", warnings)
    assert whistle.definitions()[0]["warnings"] == warnings
    # A clean file deploys without warnings.
    [clean] = whistle.deploy([FIXTURES / "modelers" / "camunda7_hotline.bpmn"])
    assert clean.to_dict()["warnings"] == []


# -- whistle lint --------------------------------------------------------------------------------------------

def lint_cli(*args, cwd=PROJECT):
    result = subprocess.run([sys.executable, "-m", "cli", "lint", *map(str, args)], capture_output=True,
                            text=True, cwd=cwd, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_cli_lint_warnings_only_exits_zero_without_a_database(tmp_path):
    # No database exists anywhere near: lint never opens one.
    result = lint_cli(FIXTURES / "lanes.bpmn", "--db", f"sqlite:///{tmp_path}/nowhere/x.sqlite")
    assert result.returncode == 0, result.stderr
    start_line = line_of(FIXTURES / "lanes.bpmn", 'id="start"')
    assert f"warning: {FIXTURES / 'lanes.bpmn'}:{start_line} [start]:" in result.stdout
    assert result.stdout.strip().endswith("0 errors, 3 warnings — ready to deploy")
    assert not (tmp_path / "nowhere").exists()


def test_cli_lint_errors_exit_one_and_json(tmp_path):
    path = LINT / "whistle_rules.bpmn"
    text = lint_cli(path)
    assert text.returncode == 1
    nobody_line = line_of(path, 'id="nobody"')
    assert f"error: {path}:{nobody_line} [nobody]: user task" in text.stdout
    assert "8 errors, 1 warning" in text.stdout
    as_json = lint_cli(path, "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert (report["ok"], report["errors"], report["warnings"]) == (False, 8, 1)
    nobody = next(p for p in report["problems"] if p["element_id"] == "nobody")
    assert nobody == {"file": str(path), "line": line_of(path, 'id="nobody"'), "element_id": "nobody",
                      "message": nobody["message"], "severity": "error"}
    # A folder is linted file by file; a reference outside the files linted is only a warning.
    folder = lint_cli(FIXTURES / "calls" / "parent.bpmn", "--json")
    assert folder.returncode == 0
    [unresolved] = [p for p in json.loads(folder.stdout)["problems"] if p["element_id"] == "call_child"]
    assert unresolved["severity"] == "warning" and "not among the files linted" in unresolved["message"]


def test_cli_lint_missing_path_and_bad_xml():
    missing = lint_cli(FIXTURES / "nowhere.bpmn")
    assert missing.returncode == 4 and "nowhere.bpmn" in missing.stderr
    broken = lint_cli(FIXTURES / "not_xml.bpmn")
    assert broken.returncode == 1 and "not well-formed XML" in broken.stdout


# -- ids SpiffWorkflow keeps for its own tasks ---------------------------------------------------------------

HAND_WRITTEN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://example">
  <bpmn:process id="hand_written" name="手写流程" isExecutable="true">
    <bpmn:startEvent id="{start}" name="开始"/>
    <bpmn:sequenceFlow id="f1" sourceRef="{start}" targetRef="{task}"/>
    <bpmn:userTask id="{task}" name="审核" camunda:candidateGroups="staff"/>
    <bpmn:sequenceFlow id="f2" sourceRef="{task}" targetRef="{end}"/>
    <bpmn:endEvent id="{end}" name="结束"/>
  </bpmn:process>
</bpmn:definitions>
"""


def hand_written(tmp_path: Path, start="Start", task="review", end="End") -> Path:
    path = tmp_path / f"{start}-{task}-{end}.bpmn".replace("/", "_")
    path.write_text(HAND_WRITTEN.format(start=start, task=task, end=end), encoding="utf-8")
    return path


def test_start_and_end_ids_are_refused_naming_the_element_line_and_fix(whistle, tmp_path):
    path = hand_written(tmp_path)
    problems = found(path)
    start = expect(problems, path, "modeler-compatibility", "Start", "error", needle='<bpmn:startEvent id="Start"')
    assert "SpiffWorkflow gives its own start task" in start and "No output task connected" in start
    assert "rename it, e.g. to 'Start_1'" in start
    end = expect(problems, path, "modeler-compatibility", "End", "error", needle='<bpmn:endEvent id="End"')
    assert "its own end task" in end
    with pytest.raises(DeploymentInvalid) as caught:  # the deployment checks are the same: nothing deployed
        whistle.deploy([path])
    assert {(p.element_id, p.line) for p in caught.value.problems} >= {
        ("Start", line_of(path, '<bpmn:startEvent id="Start"')), ("End", line_of(path, '<bpmn:endEvent id="End"'))}
    assert whistle.definitions() == []
    # Renamed as the message says, the same process deploys and runs.
    whistle.deploy([hand_written(tmp_path, start="Start_1", end="End_1")])
    instance = whistle.start("hand_written")
    assert [t["element_id"] for t in whistle.show(instance)["open_tasks"]] == ["review"]


@pytest.mark.parametrize("ids", [
    {"start": "Root"}, {"task": "StartEventSplit"}, {"task": "StartEventJoin"},
    {"task": "hand_written.EndJoin"}, {"task": "check.BoundaryEventSplit"}, {"end": "check.BoundaryEventJoin"}])
def test_other_names_spiffworkflow_uses_for_its_own_tasks_are_refused(tmp_path, ids):
    values = {"start": "start", "task": "review", "end": "end", **ids}
    path = hand_written(tmp_path, **values)
    [reserved] = ids.values()
    problems = found(path)
    message = expect(problems, path, "modeler-compatibility", reserved, "error", needle=f'id="{reserved}" name')
    assert f"the id '{reserved}' is the name SpiffWorkflow gives its own" in message
    assert [element for rule, element in problems if rule == "modeler-compatibility"] == [reserved]


def test_an_interrupting_event_on_a_multi_instance_activity_is_refused():
    path = LINT / "interrupting_multi_instance.bpmn"
    problems = found(path)
    expect(problems, path, "no-interrupting-multi-instance", "cut_off", "error", contains="leaves each instance")
    assert ("no-interrupting-multi-instance", "reminder") not in problems  # non-interrupting is fine
