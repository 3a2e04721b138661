"""重大事项建议: the department-initiated consultation and the street's own proposal.

Data-file tests run once; scenarios run on SQLite and PostgreSQL through the engine's public commands, with the
clock moved by ``manual_clock`` (2026-09-28 17:00 Beijing, a Monday before the National Day holiday) and timers
fired by ``fire_due_jobs``.
"""
from __future__ import annotations

import csv
import importlib.util
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

from engine.errors import InvalidInput

from process_helpers import DMN13, PROCESSES, Org, diagram_problems, dmn_problems

# Every scenario also runs cold (a new engine per command, as after a restart) and must leave the same record.
pytestmark = pytest.mark.cold_warm

CONSULTATION = PROCESSES / "consultation"
BEIJING = timezone(timedelta(hours=8))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---------------------------------------------------------------------------------------------------------
# Files

def test_catalog_table_is_in_step_with_the_catalog():
    spec = importlib.util.spec_from_file_location("major_matters_tool", PROCESSES / "tools" / "major_matters.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(["--check"]) == 0
    rules = etree.parse(str(CONSULTATION / "major-matters.dmn")).getroot().findall(f".//{{{DMN13}}}rule")
    assert len(rules) == 41  # 40 catalog items and the catch-all


def test_form_option_lists_are_in_step_with_the_data_files():
    spec = importlib.util.spec_from_file_location("governance_forms_tool", PROCESSES / "tools" / "governance_forms.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(["--check"]) == 0


@pytest.mark.parametrize("name", ["consultation-deadlines.dmn", "major-matters.dmn"])
def test_decision_tables_are_valid_dmn_1_3(name):
    assert dmn_problems(CONSULTATION / name) == []


def test_every_catalog_category_has_a_deadline_row():
    with (PROCESSES / "catalogs" / "major-matters.csv").open(encoding="utf-8", newline="") as f:
        categories = {row["category"] for row in csv.DictReader(f)}
    root = etree.parse(str(CONSULTATION / "consultation-deadlines.dmn")).getroot()
    entries = [e.text for e in root.iterfind(f".//{{{DMN13}}}inputEntry/{{{DMN13}}}text")]
    named = {e.strip('"') for e in entries if e.startswith('"')}
    assert named | {"其他重大决策"} == categories
    assert any(e.startswith("? not in") for e in entries)  # other and future categories


@pytest.mark.parametrize("name", ["consultation.bpmn", "proposal.bpmn"])
def test_diagrams_are_complete_for_modelers(name):
    assert diagram_problems(CONSULTATION / name) == []


# ---------------------------------------------------------------------------------------------------------
# Scenarios

@pytest.fixture
def org(whistle) -> Org:
    return Org(whistle)


def open_consultation(org: Org, streets: list[str], item: str = "festival-management", **extra) -> int:
    liaison = org.person("liaison-culture-tourism")
    data = {"department": "dept-culture-tourism", "item": item, "title": "2027年海棠花节活动方案",
            "summary": "交通管制、区域管控、商贩经营安排", "streets": streets, "documents": ["att-plan"]}
    data.update(extra)
    if item is None:
        del data["item"]
    return org.w.start("consultation", data=data, user=liaison)


def adoption_task(org: Org, case: int, opinion_id: str) -> dict:
    found = [t for t in org.open("liaison-culture-tourism", "研究采纳意见", case)
             if org.task_data(t)["opinion"]["id"] == opinion_id]
    assert len(found) == 1, found
    return found[0]


def feedback_task(org: Org, case: int, street: str) -> dict:
    found = [t for t in org.open("liaison-culture-tourism", "书面反馈街道", case)
             if org.task_data(t)["opinion_street"] == street]
    assert len(found) == 1, found
    return found[0]


def adopt(org: Org, case: int, opinion_id: str, adoption: str, reason: str = "") -> None:
    complete(org, "liaison-culture-tourism", adoption_task(org, case, opinion_id),
             {"adoption": adoption, "adoption_reason": reason})


def complete(org: Org, user: str, task: dict, data: dict) -> None:
    org.w.claim(task["task_id"], user)
    org.w.complete(task["task_id"], user, data)


def test_streets_reply_and_the_department_answers_each_opinion_in_writing(org):
    case = open_consultation(org, ["wudadao", "nanyingmen", "xiaobailou", "wudadao"])
    data = org.data(case)
    assert (data["item_category"], data["item_listed"], data["streets"]) == (
        "其他重大决策", True, ["wudadao", "nanyingmen", "xiaobailou"])
    # 5 working days at 17:30: 29, 30 September, then 8, 9 and (make-up Saturday) 10 October.
    assert at(data["reply_due"]) == datetime(2026, 10, 10, 17, 30, tzinfo=BEIJING)
    [reply] = org.open("party-wudadao", "街道回复意见", case)
    assert reply["candidate_groups"] == ["street-wudadao-party"]
    assert at(reply["due_at"]) == at(data["reply_due"])
    assert org.open("command-wudadao", "街道回复意见") == []  # the party working committee replies, not the centre

    # An empty reply is not accepted, on every channel, with the form's message; nothing changes.
    with pytest.raises(InvalidInput, match="opinions: 请填写意见建议，或选择“无意见”"):
        org.do("party-wudadao", "街道回复意见", {}, case)
    # Each line of the textarea is one opinion; a JSON client sends the same text.
    complete(org, "party-wudadao", reply, {"opinions": "海棠花节期间对睦南道实行错峰交通管制\n划定临时摊位区，规范商贩经营",
                                           "reply_letter": "att-reply-wdd"})
    org.do("party-nanyingmen", "街道回复意见", {"no_opinion": True}, case)
    org.do("party-xiaobailou", "街道回复意见", {"opinions": "增加景区周边保洁频次\n"}, case)  # a form's textarea: one per line

    data = org.data(case)
    assert [o["id"] for o in data["all_opinions"]] == ["wudadao-1", "wudadao-2", "xiaobailou-1"]
    assert data["opinion_streets"] == ["wudadao", "xiaobailou"]  # nanyingmen had no opinion: nothing to answer
    assert org.names(case) == ["研究采纳意见", "研究采纳意见", "研究采纳意见"]  # one per opinion

    # Partial adoption needs a reason: refused with the form's message, and the task stays as it was.
    adopt(org, case, "wudadao-1", "adopted")
    with pytest.raises(InvalidInput, match="adoption_reason: 此项必须填写"):
        adopt(org, case, "wudadao-2", "partly")
    task = adoption_task(org, case, "wudadao-2")
    assert org.task_data(task)["opinion"]["text"] == "划定临时摊位区，规范商贩经营"
    adopt(org, case, "wudadao-2", "partly", "摊位区设在五大道外围，核心区禁止摆摊")
    adopt(org, case, "xiaobailou-1", "not_adopted", "由街道保洁队伍负责，区里不再增派")
    # Then one written answer per street, carrying its opinions' outcomes.
    task = feedback_task(org, case, "wudadao")
    assert [r["adoption_label"] for r in org.task_data(task)["adoption_record"]] == ["采纳", "部分采纳"]
    for street in ("wudadao", "xiaobailou"):
        complete(org, "liaison-culture-tourism", feedback_task(org, case, street), {"feedback_letter": [f"att-feedback-{street}"]})

    shown = org.w.show(case)
    assert shown["status"] == "completed"
    record = shown["data"]["consultation_record"]
    assert record["no_reply_streets"] == [] and record["feedback_on_time"] is True
    assert [(o["opinion_id"], o["adoption_label"], o["reason"]) for o in record["opinions"]] == [
        ("wudadao-1", "采纳", ""), ("wudadao-2", "部分采纳", "摊位区设在五大道外围，核心区禁止摆摊"),
        ("xiaobailou-1", "未采纳", "由街道保洁队伍负责，区里不再增派")]
    feedback = {f["street"]: f for f in record["feedback"]}
    assert (feedback["wudadao"]["adopted"], feedback["wudadao"]["partly"], feedback["wudadao"]["letter"]) == (
        1, 1, ["att-feedback-wudadao"])
    assert feedback["xiaobailou"]["not_adopted"] == 1
    replies = {r["street"]: r for r in record["replies"]}
    assert replies["nanyingmen"]["no_opinion"] is True and replies["wudadao"]["letter"] == ["att-reply-wdd"]
    assert org.open("supervisor", "区委督查室督办（未回复）") == []
    assert shown["data"]["data_objects"]["ledger"]["supervision"] == []


def test_a_street_that_does_not_reply_is_reminded_then_recorded_and_reported(org, manual_clock):
    case = open_consultation(org, ["wudadao", "nanshi"])
    org.do("party-wudadao", "街道回复意见", {"opinions": ["节日期间增设公交接驳"]}, case)
    # The reminder is due at 17:30 on the 4th working day (9 October), the deadline a working day later.
    manual_clock.set(datetime(2026, 10, 9, 17, 29, tzinfo=BEIJING))
    org.w.fire_due_jobs()
    assert org.data_object(case, "ledger")["reminded"] == []
    manual_clock.set(datetime(2026, 10, 9, 17, 31, tzinfo=BEIJING))
    org.w.fire_due_jobs()
    assert org.data_object(case, "ledger")["reminded"] == ["nanshi"]  # only the street still silent
    assert len(org.open("party-nanshi", "街道回复意见", case)) == 1
    manual_clock.set(datetime(2026, 10, 10, 17, 31, tzinfo=BEIJING))
    org.w.fire_due_jobs()
    assert org.open("party-nanshi", "街道回复意见", case) == []  # recorded as 未回复; it can no longer reply
    [report] = org.open("supervisor", "区委督查室督办（未回复）", case)
    assert report["candidate_groups"] == ["district-supervision"]
    data = org.data(case)
    assert data["no_reply_streets"] == ["nanshi"] and data["opinion_streets"] == ["wudadao"]
    # The department goes on with the replies it has while the district supervises.
    org.do("supervisor", "区委督查室督办（未回复）", {"no_reply_note": "约谈南市街道，限期说明情况"}, case)
    adopt(org, case, "wudadao-1", "adopted")
    complete(org, "liaison-culture-tourism", feedback_task(org, case, "wudadao"), {"feedback_note": "已采纳"})
    shown = org.w.show(case)
    assert shown["status"] == "completed"
    record = shown["data"]["consultation_record"]
    assert {r["street"]: r["status"] for r in record["replies"]} == {"wudadao": "已回复", "nanshi": "未回复"}
    assert record["reminded"] == ["nanshi"]
    [supervision] = shown["data"]["data_objects"]["ledger"]["supervision"]
    assert (supervision["kind"], supervision["streets"], supervision["note"]) == ("未回复", ["nanshi"], "约谈南市街道，限期说明情况")


def test_missing_written_feedback_is_escalated_while_the_department_must_still_answer(org, manual_clock):
    case = open_consultation(org, ["xinxing"], item="old-estate-renovation-project", title="老旧小区综合改造项目")
    data = org.data(case)
    assert (data["item_category"], data["reply_days"], data["feedback_days"]) == ("重大建设项目", 10, 15)
    org.do("party-xinxing", "街道回复意见", {"opinions": ["改造期间保留消防通道"]}, case)
    data = org.data(case)
    # 15 working days from 28 September: 29, 30 Sep; 8, 9, 10 (Sat, worked), 12–16, 19–23 October.
    assert at(data["feedback_due"]) == datetime(2026, 10, 23, 17, 30, tzinfo=BEIJING)
    manual_clock.set(datetime(2026, 10, 23, 17, 0, tzinfo=BEIJING))
    org.w.fire_due_jobs()
    assert org.open("supervisor", "区委督查室督办（未反馈）") == []
    manual_clock.set(datetime(2026, 10, 23, 17, 31, tzinfo=BEIJING))
    org.w.fire_due_jobs()
    [supervise] = org.open("supervisor", "区委督查室督办（未反馈）", case)
    assert org.data_object(case, "ledger")["feedback_overdue"] == ["xinxing"]
    # Shanghai Art. 23: correction and a circulated criticism; the department still has to answer in writing.
    org.do("supervisor", "区委督查室督办（未反馈）", {"correction_ordered": True, "criticism_circulated": True,
                                                 "supervision_note": "责令区住建委三日内书面反馈"}, case)
    adopt(org, case, "xinxing-1", "adopted")
    complete(org, "liaison-culture-tourism", feedback_task(org, case, "xinxing"), {"feedback_letter": ["att-late-feedback"]})
    shown = org.w.show(case)
    assert shown["status"] == "completed"
    record = shown["data"]["consultation_record"]
    assert record["feedback_on_time"] is False and record["feedback_overdue"] == ["xinxing"]
    [supervision] = shown["data"]["data_objects"]["ledger"]["supervision"]
    assert (supervision["kind"], supervision["correction_ordered"], supervision["criticism_circulated"]) == (
        "未书面反馈", True, True)


def test_without_opinions_there_is_nothing_to_answer(org):
    case = open_consultation(org, ["quanyechang", "nanyingmen"], item=None, title="区级夜间经济试点方案")  # not listed
    data = org.data(case)
    assert (data["item_name"], data["item_category"], data["item_listed"]) == ("区级夜间经济试点方案", "其他重大决策", False)
    for street in ("quanyechang", "nanyingmen"):
        org.do(f"party-{street}", "街道回复意见", {"no_opinion": True}, case)
    shown = org.w.show(case)
    assert shown["status"] == "completed"
    assert shown["data"]["consultation_record"]["opinions"] == []
    assert shown["data"]["consultation_record"]["feedback_due"] is None


def test_a_street_proposal_is_answered_in_time(org):
    party = org.person("party-wudadao")
    case = org.w.start("consultation_proposal", user=party, data={
        "street": "wudadao", "department": "dept-traffic", "item": "traffic-control-measures",
        "title": "海棠花节交通组织建议", "proposal": "节日期间在睦南道、马场道实行单向通行，增设临时停车场"})
    data = org.data(case)
    assert (data["item_category"], data["answer_days"]) == ("其他重大决策", 10)
    [answer] = org.open("liaison-traffic", "研究答复建议", case)
    assert answer["candidate_groups"] == ["dept-traffic"]
    # 10 working days from Monday 28 September: 29, 30 Sep; 8, 9, 10, 12–16 October.
    assert at(answer["due_at"]) == datetime(2026, 10, 16, 17, 30, tzinfo=BEIJING)
    with pytest.raises(InvalidInput, match="answer: 此项必须填写"):
        complete(org, "liaison-traffic", answer, {"adoption": "partly"})
    complete(org, "liaison-traffic", answer, {"adoption": "partly", "answer": "睦南道单向通行采纳；马场道为公交干线，不实行单向通行",
                                              "answer_letter": "att-answer"})
    org.do("party-wudadao", "街道阅知答复", {"ack_note": "已转告各社区"}, case)
    shown = org.w.show(case)
    assert shown["status"] == "completed"
    record = shown["data"]["proposal_record"]
    assert (record["answer"]["adoption_label"], record["answer"]["on_time"], record["ack_note"]) == ("部分采纳", True, "已转告各社区")
    assert "escalation" not in shown["data"]


def test_a_late_answer_to_a_street_proposal_goes_to_the_district(org, manual_clock):
    party = org.person("party-nanshi")
    case = org.w.start("consultation_proposal", user=party, data={
        "street": "nanshi", "department": "dept-commerce", "title": "菜市场迁建选址建议", "proposal": "建议迁至荣业大街地块",
        "item": "market-relocation"})
    manual_clock.set(datetime(2026, 10, 23, 17, 31, tzinfo=BEIJING))  # 民生项目: 10 working days (16 October)
    org.w.fire_due_jobs()
    org.do("supervisor", "区委督查室督办（未答复）", {"correction_ordered": True, "supervision_note": "限期答复"}, case)
    org.do("liaison-commerce", "研究答复建议", {"adoption": "adopted", "answer": "采纳，纳入迁建方案"}, case)
    org.do("party-nanshi", "街道阅知答复", {}, case)
    shown = org.w.show(case)
    assert shown["status"] == "completed"
    assert shown["data"]["proposal_record"]["answer"]["on_time"] is False
    assert shown["data"]["late_answer"]["due"] == "2026-10-16T17:30:00+08:00"
    assert (shown["data"]["escalation"]["by"], shown["data"]["escalation"]["correction_ordered"]) == ("district-supervision", True)
