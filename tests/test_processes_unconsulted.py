"""未征询 (Shanghai Art. 23): a street records that a department decided a major matter without consulting it.

District supervision reviews the report; if it holds, it orders a correction (the department's obligation ``correct``,
due in working days from ``unconsulted-deadlines.dmn``) and/or circulates a criticism; the street acknowledges. Scenarios
run on SQLite and PostgreSQL, warm and cold, through the engine's public commands; the clock starts on Monday
2026-09-28 17:00 Beijing (before the National Day holiday) and is moved by ``manual_clock``.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.audit import ledger
from engine.deploy.lint import lint_paths
from engine.errors import Forbidden, InvalidInput
from engine.time import clock

from process_helpers import PROCESSES, Org, diagram_problems, dmn_problems

pytestmark = pytest.mark.cold_warm

CONSULTATION = PROCESSES / "consultation"
BEIJING = timezone(timedelta(hours=8))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_files_are_complete_for_modelers_and_lint_clean():
    assert diagram_problems(CONSULTATION / "unconsulted.bpmn") == []
    assert dmn_problems(CONSULTATION / "unconsulted-deadlines.dmn") == []
    assert [str(p) for p in lint_paths([CONSULTATION / "unconsulted.bpmn", CONSULTATION / "unconsulted-deadlines.dmn",
                                        CONSULTATION / "major-matters.dmn"])] == []


@pytest.fixture
def org(whistle) -> Org:
    return Org(whistle)


def report(org: Org, **extra) -> int:
    data = {"street": "wudadao", "department": "dept-traffic", "item": "traffic-control-measures",
            "title": "睦南道全天禁止机动车通行", "decided_on": "2026-09-20",
            "description": "交警支队未征求街道意见即决定睦南道全天禁行，沿线居民车辆无法进出，街道从居民投诉中得知。",
            "evidence": ["att-notice"]}
    data.update(extra)
    data = {key: value for key, value in data.items() if value is not None}
    return org.w.start("consultation_unconsulted", data=data, user=org.person("party-wudadao"))


def obligations(org: Org, case: int) -> dict:
    with org.w.db.read() as session:
        found = ledger.obligations(session, clock.now(), instance_ids=[case])
    return {o.kind: (o.party, o.state) for o in found}


def test_a_report_that_holds_brings_a_correction_and_a_circulated_criticism(org):
    # Only the street's party working committee reports, and only for its own street.
    with pytest.raises(Forbidden):
        org.w.start("consultation_unconsulted", user=org.person("liaison-traffic"), data={
            "street": "wudadao", "department": "dept-traffic", "title": "x", "description": "未征求意见"})
    with pytest.raises(InvalidInput, match="只能填写你所在的单位"):
        report(org, street="nanshi")
    case = report(org)
    data = org.data(case)
    assert (data["item_category"], data["review_days"], data["correct_days"]) == ("其他重大决策", 5, 10)
    # Five working days at 17:30: 29, 30 September, 8, 9 and (make-up Saturday) 10 October.
    assert at(data["review_due"]) == datetime(2026, 10, 10, 17, 30, tzinfo=BEIJING)
    [review] = org.open("supervisor", "区委督查室审查", case)
    assert review["candidate_groups"] == ["district-supervision"] and at(review["due_at"]) == at(data["review_due"])

    # A finding that holds needs a measure (the form's rule, on every channel), a correction needs its content.
    with pytest.raises(InvalidInput, match="属实的，须责令改正或通报批评"):
        org.do("supervisor", "区委督查室审查", {"finding": "confirmed", "review_opinion": "经核实属实",
                                             "correction_ordered": False}, case)
    with pytest.raises(InvalidInput, match="correction_required: 此项必须填写"):
        org.do("supervisor", "区委督查室审查", {"finding": "confirmed", "review_opinion": "经核实属实"}, case)
    org.do("supervisor", "区委督查室审查", {
        "finding": "confirmed", "review_opinion": "禁行措施涉及辖区居民出行，属于应征求街道意见的重大事项，交警支队未征求。",
        "correction_ordered": True, "correction_required": "暂停执行全天禁行，征求五大道街道意见后重新研究",
        "criticism_circulated": True, "criticism_text": "交警和平支队未征求街道意见即决定长期交通管制措施，予以通报批评。"}, case)
    data = org.data(case)
    assert data["review_record"]["finding_label"] == "属实" and data["review_record"]["on_time"] is True
    assert data["review_record"]["criticism_circulated"] is True
    # The correction is due in ten working days, at 17:30: 16 October.
    assert at(data["correct_due"]) == datetime(2026, 10, 16, 17, 30, tzinfo=BEIJING)
    [correction] = org.open("liaison-traffic", "部门整改答复", case)
    assert correction["candidate_groups"] == ["dept-traffic"] and at(correction["due_at"]) == at(data["correct_due"])
    assert org.open("party-wudadao", "街道阅知处理结果", case) == []  # the department answers first

    org.do("liaison-traffic", "部门整改答复", {"correction_action": "已暂停全天禁行，改为节假日高峰时段管制，并已书面征求街道意见",
                                          "reconsulted": True, "correction_letter": ["att-letter"]}, case)
    org.do("party-wudadao", "街道阅知处理结果", {"ack_note": "同意调整后的方案"}, case)
    shown = org.w.show(case)
    assert shown["status"] == "completed"
    record = shown["data"]["unconsulted_record"]
    assert (record["street"], record["department"], record["title"]) == ("wudadao", "dept-traffic", "睦南道全天禁止机动车通行")
    assert record["review"]["correction_required"] == "暂停执行全天禁行，征求五大道街道意见后重新研究"
    assert (record["correction"]["on_time"], record["correction"]["reconsulted"]) == (True, True)
    assert record["late_correction"] is None and record["urged"] is None and record["ack_note"] == "同意调整后的方案"
    # The ledger holds both obligations: the district's review and the department's correction, done in time.
    assert obligations(org, case) == {"review": ("district-supervision", ledger.DONE_ON_TIME),
                                      "correct": ("dept-traffic", ledger.DONE_ON_TIME)}


def test_a_late_correction_is_urged_and_counted_late(org, manual_clock):
    case = report(org, item="road-reconstruction", title="睦南道管线施工占道三个月")  # 重大建设项目: 15 working days
    org.do("supervisor", "区委督查室审查", {"finding": "confirmed", "review_opinion": "属实",
                                         "correction_required": "补充征求街道意见，调整施工时段"}, case)
    data = org.data(case)
    assert data["correct_days"] == 15 and data["review_record"]["criticism_circulated"] is False
    due = at(data["correct_due"])
    manual_clock.set(due - timedelta(minutes=1))
    org.w.fire_due_jobs()  # (the monthly analysis starts on 1 October: another process's timer)
    assert org.names(case) == ["部门整改答复"]
    manual_clock.set(due + timedelta(minutes=1))
    org.w.fire_due_jobs()
    # District supervision urges; the department's task stays open: it must still answer.
    assert org.names(case) == ["区委督查室督促整改", "部门整改答复"]
    assert org.data_object(case, "correction_ledger")["late"]["due"] == data["correct_due"]
    org.do("supervisor", "区委督查室督促整改", {"urge_note": "限三日内整改到位"}, case)
    assert obligations(org, case)["correct"] == ("dept-traffic", ledger.OVERDUE)  # open past its due time
    org.do("liaison-traffic", "部门整改答复", {"correction_action": "已调整为夜间施工并征求街道意见"}, case)
    org.do("party-wudadao", "街道阅知处理结果", {}, case)
    record = org.data(case)["unconsulted_record"]
    assert record["correction"]["on_time"] is False and record["late_correction"]["due"] == data["correct_due"]
    assert record["urged"]["note"] == "限三日内整改到位"
    assert obligations(org, case)["correct"] == ("dept-traffic", ledger.DONE_LATE)


def test_a_report_that_does_not_hold_goes_back_to_the_street(org):
    case = report(org)
    # Not confirmed: the measures are not asked for (hidden on the form) and never recorded.
    org.do("supervisor", "区委督查室审查", {"finding": "not_confirmed",
                                         "review_opinion": "交警支队已于9月15日书面征求街道意见，街道未在期限内回复。"}, case)
    assert org.open("liaison-traffic", "部门整改答复", case) == []
    org.do("party-wudadao", "街道阅知处理结果", {}, case)
    record = org.data(case)["unconsulted_record"]
    assert record["review"]["finding_label"] == "不属实"
    assert (record["review"]["correction_ordered"], record["review"]["criticism_circulated"]) == (False, False)
    assert record["correction"] is None and record["correct_due"] == ""
    assert set(obligations(org, case)) == {"review"}


def test_a_criticism_alone_needs_no_correction(org):
    case = report(org, item=None)
    org.do("supervisor", "区委督查室审查", {"finding": "confirmed", "review_opinion": "决定已执行完毕，无法纠正",
                                         "correction_ordered": False, "criticism_circulated": True,
                                         "criticism_text": "予以通报批评"}, case)
    assert org.names(case) == ["街道阅知处理结果"]
    org.do("party-wudadao", "街道阅知处理结果", {}, case)
    record = org.data(case)["unconsulted_record"]
    assert record["item_category"] == "其他重大决策" and record["item_name"] == "睦南道全天禁止机动车通行"
    assert record["review"]["criticism_text"] == "予以通报批评" and record["correction"] is None


def test_an_urge_after_the_correction_leaves_the_record_as_it_was(org, manual_clock):
    case = report(org)
    org.do("supervisor", "区委督查室审查", {"finding": "confirmed", "review_opinion": "属实",
                                         "correction_required": "补充征求街道意见"}, case)
    manual_clock.set(at(org.data(case)["correct_due"]) + timedelta(minutes=1))
    org.w.fire_due_jobs()
    # The department answers and the street reads it before district supervision gets to its urging.
    org.do("liaison-traffic", "部门整改答复", {"correction_action": "已补充征求街道意见"}, case)
    org.do("party-wudadao", "街道阅知处理结果", {"ack_note": "已阅"}, case)
    assert org.w.show(case)["status"] == "running"
    org.do("supervisor", "区委督查室督促整改", {"urge_note": "今后须按规定征求街道意见"}, case)
    data = org.w.show(case)
    assert data["status"] == "completed"
    data = data["data"]
    # The urging path ended last: its copy of the case from the timer's moment does not undo the correction.
    assert data["correction_record"]["action"] == "已补充征求街道意见" and data["ack_note"] == "已阅"
    assert data["unconsulted_record"]["correction"]["on_time"] is False
    assert org.data_object(case, "correction_ledger")["urge"]["note"] == "今后须按规定征求街道意见"
