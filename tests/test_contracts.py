"""Data contracts (issue 11, item 1; issue 19, finding 1): what a submission may set is checked in the engine,
the same on the staff pages, the REST API and the CLI, with the same messages; nothing is merged that the form
does not name, the process's computed records cannot be written, fields that say who acts come from the
account, and a staff submission is one transaction.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from base64 import b64encode

import pytest

from engine.errors import Forbidden, IncidentRaised, InvalidInput
from engine.store import casework as casework_store
from webui import create_app

from conftest import PROJECT
from process_helpers import Org

PASSWORD = "pw"


class Channels:
    """The three ways a person submits: the engine command itself (what the pages call), REST and the CLI."""

    def __init__(self, whistle, db_url: str) -> None:
        self.w = whistle
        self.url = db_url
        self.app = create_app({"ENGINE": whistle, "TESTING": True})
        self.client = self.app.test_client()

    def rest_complete(self, task_id: str, user: str, data: dict):
        return self.client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": data}, headers=_basic(user))

    def rest_start(self, process_id: str, user: str, data: dict):
        return self.client.post(f"/api/v1/processes/{process_id}/instances", json={"data": data},
                                headers=_basic(user))

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", "--db", self.url, *args], capture_output=True,
                              text=True, cwd=PROJECT, timeout=120, env=dict(os.environ, WHISTLE_MODE="test"))


def _basic(user: str) -> dict:
    return {"Authorization": "Basic " + b64encode(f"{user}:{PASSWORD}".encode()).decode()}


@pytest.fixture
def org(whistle) -> Org:
    found = Org(whistle)
    found.person = lambda username: _person(found, username)
    return found


def _person(org: Org, username: str) -> str:
    from process_helpers import GROUPS_OF

    if username not in org.known:
        org.w.add_user(username, GROUPS_OF[username], password=PASSWORD)
        org.known.add(username)
    return username


@pytest.fixture
def channels(whistle, db_url, org) -> Channels:
    return Channels(whistle, db_url)


def _report(org: Org, **extra) -> int:
    reporter = org.person("grid-worker-wudadao")
    data = {"street": "wudadao", "community": "sanshengli", "situation": "building-repair-no-property",
            "location": "睦南道12号", "description": "消防设施失修，楼道堆物", "photos": [], "resident": "resident-a"}
    data.update(extra)
    return org.w.start("whistle", data=data, user=reporter)


def _until_lead_handles(org: Org) -> tuple[int, dict]:
    case = _report(org)
    org.do("command-wudadao", "指挥中心审核", {"decision": "whistle"}, case)
    for dept in ("housing", "fire"):
        org.do(f"liaison-{dept}", "签收哨令", {}, case)
        org.do(f"liaison-{dept}", "到场报到", {"acted": True, "action": "到场核查"}, case)
    [handle] = org.open("liaison-housing", "牵头部门处置", case)
    org.w.claim(handle["task_id"], "liaison-housing")
    return case, handle


# -- unknown fields, on every channel ---------------------------------------------------------------------

def test_unknown_fields_are_refused_on_rest_cli_and_pages_with_the_same_message(org, channels):
    case, handle = _until_lead_handles(org)
    before = org.w.show(case)
    tampering = {"handling_result": "已维修", "returns": 0, "reports": []}
    expected = re.compile(r"returns: 表单中没有这些字段：returns；可填写：handling_result")

    with pytest.raises(InvalidInput) as engine_error:  # the command the staff pages call
        org.w.complete_task(handle["task_id"], "liaison-housing", tampering)
    assert expected.search(engine_error.value.message)
    assert engine_error.value.to_dict()["details"]["unknown_fields"] == ["reports", "returns"]

    answer = channels.rest_complete(handle["task_id"], "liaison-housing", tampering)
    assert answer.status_code == 422
    assert answer.get_json()["details"]["unknown_fields"] == ["reports", "returns"]
    assert expected.search(answer.get_json()["message"])

    cli = channels.cli("complete", handle["task_id"], "--user", "liaison-housing", "--data",
                       json.dumps(tampering, ensure_ascii=False))
    assert cli.returncode == 1 and expected.search(cli.stderr), cli.stderr

    after = org.w.show(case)
    assert (after["data"], after["open_tasks"]) == (before["data"], before["open_tasks"])  # nothing changed
    assert [e["event"] for e in after["audit"]] == [e["event"] for e in before["audit"]]


def test_the_pages_show_the_engines_message_next_to_the_field(org, channels, whistle):
    case = _report(org)
    [review] = org.open("command-wudadao", "指挥中心审核", case)
    client = channels.client
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    signed_in = client.post("/login", data={"username": "command-wudadao", "password": PASSWORD, "csrf_token": token})
    assert signed_in.status_code in (302, 303)
    page = client.get(f"/tasks/{review['task_id']}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    answer = client.post(f"/tasks/{review['task_id']}", data={"csrf_token": token, "decision": "reject"})
    assert answer.status_code == 422
    assert "驳回必须填写驳回理由" in answer.get_data(as_text=True)
    assert org.names(case) == ["指挥中心审核"]


def test_computed_records_cannot_be_written_by_any_submission(org):
    case, handle = _until_lead_handles(org)
    ledger = org.data_object(case, "ledger")
    for computed in ({"assessment": {"departments": []}}, {"ledger": {"overdue": []}}, {"responders": []},
                     {"data_objects": {}}, {"situation_label": "改写"}):
        with pytest.raises(InvalidInput, match="表单中没有这些字段"):
            org.w.complete(handle["task_id"], "liaison-housing", {"handling_result": "已维修", **computed})
    org.w.complete(handle["task_id"], "liaison-housing", {"handling_result": "已维修"})
    assert org.data_object(case, "ledger") == ledger
    assert org.data(case)["responders"] == ["dept-housing", "dept-fire"]


def test_a_form_may_choose_to_ignore_unknown_fields(whistle, tmp_path):
    from conftest import FIXTURES

    folder = tmp_path / "ignoring"
    folder.mkdir()
    (folder / "review.bpmn").write_text((FIXTURES / "review.bpmn").read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "review-form.form.json").write_text(json.dumps({
        "key": "review-form", "title": "审核", "unknown_fields": "ignore",
        "fields": [{"name": "decision", "label": "结论", "type": "radio", "required": True,
                    "options": [{"value": "whistle", "label": "吹哨"}, {"value": "self", "label": "自行处置"}]}]},
        ensure_ascii=False), encoding="utf-8")
    whistle.deploy([folder])
    whistle.add_user("alice", ["command-centre"])
    case = whistle.start("review", data={"situation": "police"})
    [task] = whistle.tasks("alice")
    whistle.complete(task["task_id"], "alice", {"decision": "whistle", "department": "dept-fire"})
    assert whistle.show(case)["data"]["department"] == "dept-police"  # computed by the script, not the submission


# -- who acts: server-set fields and starters -------------------------------------------------------------

def test_a_grid_worker_cannot_file_a_case_in_another_street_under_another_name(org, channels):
    org.person("grid-worker-wudadao")
    answer = channels.rest_start("whistle", "grid-worker-wudadao", {
        "street": "nanshi", "reporter": "grid-worker-nanshi", "situation": "street-lighting", "location": "荣业大街",
        "description": "路灯不亮已有一周"})
    assert answer.status_code == 422, answer.get_json()
    fields = answer.get_json()["details"]["fields"]
    assert fields["street"] == "只能填写你所在的单位：wudadao"
    assert fields["reporter"] == "由系统按你的账号填写，不能更改"
    # Left out, both come from the account.
    case = org.w.start("whistle", user="grid-worker-wudadao", data={
        "situation": "street-lighting", "location": "睦南道", "description": "路灯不亮已有一周"})
    data = org.data(case)
    assert (data["street"], data["reporter"]) == ("wudadao", "grid-worker-wudadao")


def test_a_liaison_cannot_open_a_consultation_in_another_departments_name(org, channels):
    liaison = org.person("liaison-police")
    data = {"department": "dept-culture-tourism", "title": "海棠花节方案", "streets": ["wudadao"]}
    with pytest.raises(InvalidInput, match="department: 只能填写你所在的单位：dept-police"):
        org.w.start("consultation", data=data, user=liaison)
    case = org.w.start("consultation", data=dict(data, department="dept-police"), user=liaison)
    assert org.data(case)["department"] == "dept-police"


def test_a_resident_cannot_start_the_organisation_departments_evaluation(org, channels):
    org.person("resident-a")
    answer = channels.rest_start("evaluation", "resident-a", {"year": 2026, "departments": ["dept-police"],
                                                              "streets": ["wudadao"]})
    assert answer.status_code == 403
    assert "may not start 'evaluation'" in answer.get_json()["message"]
    with pytest.raises(Forbidden):
        org.w.start("evaluation", user="resident-a", data={"year": 2026})
    assert org.w.incidents() == []


def test_a_written_adoption_reply_needs_a_letter_or_a_text(org):
    from engine.forms.contracts import Account, check

    form = {"fields": [{"name": "feedback_letter", "label": "反馈函", "type": "file", "multiple": True},
                       {"name": "feedback_note", "label": "反馈内容", "type": "textarea"}],
            "rules": [{"when": {"field": "feedback_letter", "filled": False}, "require": ["feedback_note"],
                       "message": "请上传反馈函或填写反馈内容"}]}
    with pytest.raises(InvalidInput, match="feedback_note: 请上传反馈函或填写反馈内容"):
        check(form, None, {}, Account("liaison-culture-tourism"), {}, what="task '书面反馈街道'")
    assert check(form, None, {"feedback_letter": ["att-1"]}, Account("x"), {}, what="t")["feedback_letter"] == ["att-1"]


# -- one transaction ----------------------------------------------------------------------------------------

def test_a_staff_submission_that_fails_half_way_leaves_nothing(org, monkeypatch):
    case = _report(org)
    [review] = org.open("command-wudadao", "指挥中心审核", case)
    org.w.save_draft(review["task_id"], "command-wudadao", {"values": {"decision": ["self"]}})
    upload = org.w.add_attachment("command-wudadao", "现场.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    before = org.w.show(case)

    def broken(session, task_key, user):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(casework_store, "drop_draft", broken)  # the last part of the submission fails
    # the executor turns the failure into an incident and says nothing was changed
    with pytest.raises(IncidentRaised, match="the disk is full; nothing was changed"):
        org.w.complete_task(review["task_id"], "command-wudadao", {"decision": "self", "review_note": "自行处置"},
                            [upload["attachment_id"]])
    after = org.w.show(case)
    assert after["open_tasks"] == before["open_tasks"] and after["data"] == before["data"]
    assert org.w.draft(review["task_id"], "command-wudadao") is not None
    assert org.w.attachments_by_id([upload["attachment_id"]])[upload["attachment_id"]]["instance_id"] is None
    monkeypatch.undo()
    org.w.complete_task(review["task_id"], "command-wudadao", {"decision": "self", "review_note": "自行处置"},
                        [upload["attachment_id"]])
    assert org.w.draft(review["task_id"], "command-wudadao") is None
    assert org.w.attachments_by_id([upload["attachment_id"]])[upload["attachment_id"]]["instance_id"] == case


# -- tasks without a form ------------------------------------------------------------------------------------

def test_a_task_without_a_form_may_only_add_what_the_case_does_not_have(whistle, fixtures):
    whistle.deploy([fixtures / "review.bpmn"])
    whistle.add_user("alice", ["command-centre"])
    whistle.add_user("dora", ["dept-police"])
    case = whistle.start("review", data={"situation": "police"})
    [review] = whistle.tasks("alice")
    whistle.complete(review["task_id"], "alice", {"decision": "whistle"})
    [report] = whistle.tasks("dora")
    with pytest.raises(InvalidInput, match="the case already has department, situation|案件中已有这些数据"):
        whistle.complete(report["task_id"], "dora", {"department": "dept-fire", "situation": "fire"})
    whistle.complete(report["task_id"], "dora", {"arrived": True, "situation": "police"})  # the same value: fine
    assert whistle.show(case)["data"]["department"] == "dept-police"
