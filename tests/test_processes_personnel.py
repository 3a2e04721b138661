"""人事建议: the department's letter asking the street's opinion on a candidate, and the street's own suggestion.

Scenarios run on SQLite and PostgreSQL through the engine's public commands; the clock starts on Monday
2026-09-28 17:00 Beijing time and is moved by ``manual_clock``; timers fire through ``fire_due_jobs``.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.errors import InvalidInput

from process_helpers import PROCESSES, Org, diagram_problems, dmn_problems

# Every scenario also runs cold (a new engine per command, as after a restart) and must leave the same record.
pytestmark = pytest.mark.cold_warm

PERSONNEL = PROCESSES / "personnel"
BEIJING = timezone(timedelta(hours=8))
CANDIDATE = {"department": "dept-market", "street": "wudadao", "candidate_name": "王建平", "candidate_post": "五大道市场监管所所长",
             "current_post": "五大道市场监管所副所长", "agency": "五大道市场监管所", "letter": "att-letter-1"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_deadline_table_is_valid_dmn_1_3():
    assert dmn_problems(PERSONNEL / "personnel-deadlines.dmn") == []


@pytest.mark.parametrize("name", ["personnel.bpmn", "suggestion.bpmn"])
def test_diagrams_are_complete_for_modelers(name):
    assert diagram_problems(PERSONNEL / name) == []


@pytest.fixture
def org(whistle) -> Org:
    return Org(whistle)


def send_letter(org: Org, **extra) -> int:
    data = dict(CANDIDATE, **extra)
    return org.w.start("personnel", data=data, user=org.person("party-market"))


def reopened(org: Org, user: str, name: str, case: int, field: str) -> list[str]:
    [task] = org.open(user, name, case)
    return org.task_data(task)[field]


def test_no_objection_goes_to_the_party_committee_to_decide(org):
    case = send_letter(org)
    [reply] = org.open("party-wudadao", "街道党工委研究复函", case)
    assert reply["candidate_groups"] == ["street-wudadao-party"]
    assert at(reply["due_at"]) == datetime(2026, 10, 10, 17, 30, tzinfo=BEIJING)  # 5 working days (promotion)
    assert org.open("command-wudadao", "街道党工委研究复函") == []
    org.do("party-wudadao", "街道党工委研究复函", {"opinion": "no_objection", "reply_letter": "att-reply"}, case)
    [decide] = org.open("party-market", "部门党委研究决定", case)
    assert decide["candidate_groups"] == ["dept-market-party"]
    org.do("party-market", "部门党委研究决定", {"decision": "proceed", "decision_note": "按程序提交常委会"}, case)
    shown = org.w.show(case)
    assert shown["status"] == "completed"
    record = shown["data"]["personnel_record"]
    assert (record["street_opinion"], record["decision"], record["explanation_read"]) == ("no_objection", "proceed", False)
    assert [(r["opinion_label"], r["letter"], r["on_time"]) for r in record["replies"]] == [("无异议", ["att-reply"], True)]
    assert record["candidate"] == {"name": "王建平", "post": "五大道市场监管所所长", "current_post": "五大道市场监管所副所长"}
    assert record["matter_label"] == "提拔任用"


def test_an_objection_needs_reasons_and_proceeding_against_it_a_written_explanation(org):
    case = send_letter(org)
    with pytest.raises(InvalidInput, match="reasons: 有异议的须写明理由"):  # the form's rule, on every channel
        org.do("party-wudadao", "街道党工委研究复函", {"opinion": "objection"}, case)
    org.do("party-wudadao", "街道党工委研究复函", {"opinion": "objection", "reasons": "该同志与街道配合较少，群众反映执法简单粗暴"}, case)
    with pytest.raises(InvalidInput, match="explanation: 街道有异议，继续提拔任用须向街道作出书面说明"):
        org.do("party-market", "部门党委研究决定", {"decision": "proceed"}, case)
    org.do("party-market", "部门党委研究决定", {"decision": "proceed", "explanation": "经核实，群众反映问题已整改到位，该同志业务能力突出",
                                            "explanation_letter": "att-explanation"}, case)
    # The written explanation goes to the street before the file is closed.
    [read] = org.open("party-wudadao", "街道阅知书面说明", case)
    assert org.w.show(case)["status"] == "running"
    org.do("party-wudadao", "街道阅知书面说明", {"read_note": "已阅"}, case)
    record = org.data(case)["personnel_record"]
    assert (record["street_opinion"], record["decision"], record["explanation_read"]) == ("objection", "proceed", True)
    assert record["explanation"].startswith("经核实")
    assert record["replies"][0]["reasons"] == "该同志与街道配合较少，群众反映执法简单粗暴"


def test_withdrawing_after_an_objection_needs_no_explanation(org):
    case = send_letter(org)
    org.do("party-wudadao", "街道党工委研究复函", {"opinion": "objection", "reasons": "群众意见较大"}, case)
    org.do("party-market", "部门党委研究决定", {"decision": "withdraw"}, case)
    shown = org.w.show(case)
    assert shown["status"] == "completed"
    assert org.open("party-wudadao", "街道阅知书面说明") == []
    assert shown["data"]["personnel_record"]["decision"] == "withdraw"


def test_extended_inspection_then_the_street_replies_again(org, manual_clock):
    case = send_letter(org)
    with pytest.raises(InvalidInput, match="inspection_scope: 建议延伸考察的须写明考察范围"):
        org.do("party-wudadao", "街道党工委研究复函", {"opinion": "extended_inspection"}, case)
    org.do("party-wudadao", "街道党工委研究复函", {"opinion": "extended_inspection",
                                                   "inspection_scope": "街道公共安全办公室主任及两名工作人员"}, case)
    [inspect] = org.open("party-market", "延伸考察谈话", case)
    assert inspect["candidate_groups"] == ["dept-market-party"]
    assert at(inspect["due_at"]) == datetime(2026, 10, 10, 17, 30, tzinfo=BEIJING)
    manual_clock.advance(timedelta(days=3))  # Thursday 1 October (a holiday) — the new reply deadline counts from here
    org.do("party-market", "延伸考察谈话", {"interviews": "李明，公共安全办公室主任：配合积极",
                                       "inspection_summary": "与街道公共安全办公室配合良好"}, case)
    [reply] = org.open("party-wudadao", "街道党工委研究复函", case)
    # Back to the street with a fresh deadline: 8, 9, 10, 12, 13 October.
    assert at(reply["due_at"]) == datetime(2026, 10, 13, 17, 30, tzinfo=BEIJING)
    org.do("party-wudadao", "街道党工委研究复函", {"opinion": "extended_inspection", "inspection_scope": "再谈一次"}, case)
    assert reopened(org, "party-wudadao", "街道党工委研究复函", case, "reply_errors") == ["已进行过延伸考察，请复函无异议或有异议"]
    org.do("party-wudadao", "街道党工委研究复函", {"opinion": "no_objection"}, case)
    org.do("party-market", "部门党委研究决定", {"decision": "proceed"}, case)
    record = org.data(case)["personnel_record"]
    assert [r["opinion"] for r in record["replies"]] == ["extended_inspection", "no_objection"]
    [inspection] = record["inspections"]
    assert (inspection["scope"], inspection["summary"]) == ("街道公共安全办公室主任及两名工作人员", "与街道公共安全办公室配合良好")


def test_no_reply_by_the_deadline_is_recorded_and_the_department_decides(org, manual_clock):
    case = send_letter(org, matter="award", candidate_post="市场监管系统先进个人")
    assert at(org.open("party-wudadao", "街道党工委研究复函", case)[0]["due_at"]) == datetime(2026, 10, 8, 17, 30,
                                                                                              tzinfo=BEIJING)  # award: 3 days
    manual_clock.set(datetime(2026, 10, 8, 17, 31, tzinfo=BEIJING))
    org.w.fire_due_jobs()
    assert org.open("party-wudadao", "街道党工委研究复函", case) == []
    org.do("party-market", "部门党委研究决定", {"decision": "proceed"}, case)  # no objection, so no explanation needed
    record = org.data(case)["personnel_record"]
    assert record["street_opinion"] == "no_reply"
    assert [(r["opinion_label"], r["on_time"]) for r in record["replies"]] == [("逾期未复函", False)]


def start_suggestion(org: Org, **extra) -> int:
    data = {"street": "nanyingmen", "department": "dept-police", "subject_name": "赵磊", "subject_post": "南营门派出所所长",
            "kind": "award", "suggestion": "该同志牵头处置吉星北里私占小院停车问题，建议评为年度先进个人", "letter": "att-suggestion"}
    data.update(extra)
    return org.w.start("personnel_suggestion", data=data, user=org.person("party-nanyingmen"))


def test_a_street_suggestion_on_awards_is_answered(org):
    case = start_suggestion(org)
    [answer] = org.open("party-police", "研究答复建议", case)
    assert answer["candidate_groups"] == ["dept-police-party"]
    assert at(answer["due_at"]) == datetime(2026, 10, 16, 17, 30, tzinfo=BEIJING)  # 10 working days
    with pytest.raises(InvalidInput, match="adoption: 所选内容不在可选范围内"):
        org.do("party-police", "研究答复建议", {"adoption": "maybe", "answer": "研究中"}, case)
    org.do("party-police", "研究答复建议", {"adoption": "adopted", "answer": "已列入年度先进个人推荐名单"}, case)
    org.do("party-nanyingmen", "街道阅知答复", {}, case)
    record = org.data(case)["suggestion_record"]
    assert (record["kind_label"], record["answer"]["adoption_label"], record["answer"]["on_time"]) == ("评先评优", "采纳", True)


def test_a_late_answer_to_a_street_suggestion_is_followed_up_by_the_organisation_department(org, manual_clock):
    case = start_suggestion(org, kind="promotion", suggestion="建议提拔使用")
    manual_clock.set(datetime(2026, 10, 16, 17, 31, tzinfo=BEIJING))
    org.w.fire_due_jobs()
    [urge] = org.open("org-officer", "组织部督促答复", case)
    assert urge["candidate_groups"] == ["org-dept"]
    org.do("org-officer", "组织部督促答复", {"supervision_note": "请于三个工作日内答复街道"}, case)
    org.do("party-police", "研究答复建议", {"adoption": "not_adopted", "answer": "该同志任职年限不足，暂不提拔"}, case)
    org.do("party-nanyingmen", "街道阅知答复", {"ack_note": "知悉"}, case)
    shown = org.w.show(case)
    assert shown["status"] == "completed"
    assert shown["data"]["suggestion_record"]["answer"]["on_time"] is False
    assert (shown["data"]["escalation"]["by"], shown["data"]["escalation"]["note"]) == ("org-dept", "请于三个工作日内答复街道")
