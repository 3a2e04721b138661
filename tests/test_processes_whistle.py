"""The whistle process (吹哨报到), its decision tables and the organisation data behind it.

The data-file tests run once; the scenario tests run on SQLite and PostgreSQL through the engine's public
commands (deploy, start, tasks, claim, complete, show) with the clock moved by the ``manual_clock`` fixture.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import re
import shutil
from datetime import datetime, timedelta

import pytest
from lxml import etree
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS

from engine.audit import ledger
from engine.errors import InvalidInput
from engine.identity.accounts import authenticate
from engine.scripting import services
from engine.time import clock

from process_helpers import BPMN, DEMO, DMN13, PROCESSES, Org, diagram_problems

# Every scenario also runs cold (a new engine per command, as after a restart) and must leave the same record.
pytestmark = pytest.mark.cold_warm

WHISTLE_DIR = PROCESSES / "whistle"
SEEDS = ("seed:000", "seed:001", "seed:002", "seed:003", "seed:004")
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

DISTRICT = json.loads((PROCESSES / "organisation" / "district.json").read_text(encoding="utf-8"))
DEPARTMENTS = {d["id"]: d for d in DISTRICT["departments"]}


def _csv(name: str) -> list[dict]:
    with (PROCESSES / "catalogs" / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"processes_tool_{name}", PROCESSES / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------------------
# Organisation and reference data (no database)

def test_district_has_heping_streets_departments_and_offices():
    streets = {s["short_name"]: s for s in DISTRICT["streets"]}
    assert list(streets) == ["劝业场街", "小白楼街", "五大道街", "新兴街", "南市街", "南营门街"]
    for street in DISTRICT["streets"]:
        assert KEBAB.match(street["id"]), street["id"]
        assert street["communities"], street["id"]
        for community in street["communities"]:
            assert KEBAB.match(community["id"])
            assert community.get("illustrative") or community["source"].startswith(SEEDS), community
    assert 20 <= len(DEPARTMENTS) <= 30
    assert all(KEBAB.match(d) for d in DEPARTMENTS)
    for needed in ("police", "law-enforcement", "urban-management", "housing", "market", "emergency", "fire",
                   "ecology", "civil-affairs", "culture-tourism", "parking", "political-legal", "traffic", "health",
                   "water", "gas-company"):
        assert needed in DEPARTMENTS, needed
    # "1+5+N": one enforcement team, the stationed five, some on call.
    centre = [d.get("enforcement_centre") for d in DEPARTMENTS.values()]
    assert centre.count("1") == 1 and centre.count("5") >= 4 and centre.count("N") >= 4
    assert {o["group"] for o in DISTRICT["district_offices"]} == {"district-supervision", "org-dept"}


def test_call_situation_catalog():
    rows = _csv("call-situations.csv")
    assert len(rows) == 43
    assert {r["category"] for r in rows} == {"矛盾排查", "服务群众", "综合执法", "重点工作", "应急处置"}
    assert len({r["id"] for r in rows}) == 43
    for row in rows:
        assert KEBAB.match(row["id"]), row["id"]
        assert row["tier"] in ("red", "yellow", "blue")
        assert row["lead"] in DEPARTMENTS, row
        co = [c for c in row["co_responders"].split(";") if c]
        assert all(c in DEPARTMENTS and c != row["lead"] for c in co), row
        assert row["source"] == "illustrative" or row["source"] in SEEDS, row
    by_id = {r["id"]: r for r in rows}
    # The group-rental case exactly as the Heping source lists it.
    rental = by_id["group-rental-housing"]
    assert rental["lead"] == "political-legal"
    assert set(rental["co_responders"].split(";")) == {"police", "housing", "emergency", "fire"}
    for seeded in ("park-barbecue-fishing", "illegal-building-blocking-road", "garbage-dumping",
                   "private-courtyard-parking", "pipe-gas-old-estate", "festival-traffic-vendors"):
        assert by_id[seeded]["source"].startswith("seed:"), seeded
    assert "海棠花节" in by_id["festival-traffic-vendors"]["name"]


def test_major_matter_catalog():
    rows = _csv("major-matters.csv")
    assert len(rows) == 40
    assert {r["category"] for r in rows} == {"规划", "重大建设项目", "城市设计", "民生项目", "街道自身建设", "其他重大决策"}
    offices = {o["id"] for o in DISTRICT["district_offices"]}
    for row in rows:
        assert KEBAB.match(row["id"])
        assert row["usual_initiator"] in DEPARTMENTS or row["usual_initiator"] in offices, row
        assert row["source"] == "illustrative" or row["source"] in SEEDS, row


def test_demo_accounts_cover_every_role_and_follow_the_district():
    assert _tool("demo_accounts").main(["--check"]) == 0
    declared = {g["name"] for g in DEMO["groups"]}
    members: dict[str, set[str]] = {}
    for user in DEMO["users"]:
        assert KEBAB.match(user["username"]), user["username"]
        assert user["password"] == "whistle-demo"
        assert re.search(r"[\u4e00-\u9fff]", user["display_name"]), user
        for group in user["groups"]:
            assert group in declared, group
            members.setdefault(group, set()).add(user["username"])
    for street in DISTRICT["streets"]:
        for group in (f"street-{street['id']}-command", f"street-{street['id']}-party", f"grid-{street['id']}"):
            assert members.get(group), group
    for dept in DEPARTMENTS:
        assert members.get(f"dept-{dept}"), f"no liaison for {dept}"
        assert members.get(f"dept-{dept}-party"), f"no party committee member for {dept}"
    for group in ("district-supervision", "org-dept", "residents", "designers", "admins"):
        assert members.get(group), group


def test_routing_table_is_in_step_with_the_catalog():
    assert _tool("situation_routing").main(["--check"]) == 0
    tree = etree.parse(str(WHISTLE_DIR / "situation-routing.dmn"))
    rules = tree.getroot().findall(f".//{{{DMN13}}}rule")
    assert len(rules) == 43
    declared = {g["name"] for g in DEMO["groups"]}
    for text in tree.getroot().iterfind(f".//{{{DMN13}}}outputEntry/{{{DMN13}}}text"):
        for group in re.findall(r'"(dept-[a-z0-9-]+)"', text.text):
            assert group in declared, group


@pytest.mark.parametrize("name", ["situation-routing.dmn", "tier-deadlines.dmn"])
def test_decision_tables_are_valid_dmn_1_3(name):
    schema = etree.XMLSchema(etree.parse(DMN_SCHEMAS[DMN13]))
    document = etree.parse(str(WHISTLE_DIR / name))
    assert schema.validate(document), schema.error_log
    assert document.getroot().find(f"{{{DMN13}}}decision/{{{DMN13}}}decisionTable").get("hitPolicy") == "UNIQUE"


def test_whistle_diagram_is_complete_for_modelers():
    root = etree.parse(str(WHISTLE_DIR / "whistle.bpmn")).getroot()
    di = {e.get("bpmnElement") for e in root.iter() if isinstance(e.tag, str) and e.get("bpmnElement")}
    drawable = ("task", "Task", "Event", "Gateway", "subProcess", "sequenceFlow", "lane", "dataObjectReference",
                "Association", "textAnnotation", "association", "participant")
    missing = [e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.tag.startswith(BPMN)
               and e.get("id") and any(etree.QName(e).localname.endswith(k) for k in drawable)
               and e.get("id") not in di]
    assert missing == []
    for element in root.iter(f"{BPMN}userTask", f"{BPMN}scriptTask", f"{BPMN}businessRuleTask"):
        assert re.search(r"[\u4e00-\u9fff]", element.get("name", "")), element.get("id")
        assert element.find(f"{BPMN}documentation") is not None, element.get("id")


# ---------------------------------------------------------------------------------------------------------
# Deployment and accounts (SQLite and PostgreSQL)

def test_processes_deploy_cleanly(whistle):
    first = whistle.deploy([PROCESSES])
    assert {("situation_routing", "decision"), ("tier_deadlines", "decision"), ("whistle", "process")} <= {
        (d.key, d.kind) for d in first}  # with the consultation, personnel and evaluation processes
    assert {d.status for d in first} == {"new"}
    assert {d.status for d in whistle.deploy([PROCESSES])} == {"unchanged"}
    assert all(not d["warnings"] for d in whistle.definitions())


def test_demo_accounts_import_cleanly_and_idempotently(whistle):
    path = PROCESSES / "demo-accounts.json"
    first = whistle.import_users(path)
    assert first == {"users": len(DEMO["users"]), "created": len(DEMO["users"]), "groups": len(DEMO["groups"])}
    audit_rows = whistle.verify_audit().rows
    second = whistle.import_users(path)
    assert second["created"] == 0
    assert whistle.verify_audit().rows == audit_rows  # nothing changed, nothing recorded
    with whistle.db.read() as session:
        assert authenticate(session, "command-wudadao", "whistle-demo") is not None
        assert authenticate(session, "liaison-police", "wrong") is None


# ---------------------------------------------------------------------------------------------------------
# Scenarios

class District(Org):
    """The organisation (``process_helpers.Org``) plus the whistle-specific steps of a scenario."""

    def report(self, situation: str, street: str = "wudadao", **extra) -> int:
        reporter = self.person(f"grid-worker-{street}")
        data = {"street": street, "community": "sanshengli", "situation": situation, "location": "睦南道12号",
                "description": "居民反映的问题", "photos": ["att-1"], "reporter": reporter}
        data.update(extra)
        return self.w.start("whistle", data=data, user=reporter)

    def review(self, instance: int, **data) -> dict:
        return self.do("command-wudadao", "指挥中心审核", data, instance)

    def arrive(self, dept: str, instance: int, acted: bool = True) -> None:
        liaison = f"liaison-{dept}"
        self.do(liaison, "签收哨令", {"signed_by": f"{DEPARTMENTS[dept]['short_name']}值班员"}, instance)
        self.do(liaison, "到场报到", {"acted": acted, "action": "到场核查并处置" if acted else "不属本部门职责"}, instance)


@pytest.fixture
def district(whistle) -> District:
    return District(whistle)


def test_street_handles_it_itself(district):
    case = district.report("street-lighting", resident="resident-a")
    [review] = district.open("command-wudadao", "指挥中心审核")
    assert review["candidate_groups"] == ["street-wudadao-command"]
    assert district.open("command-nanshi", "指挥中心审核") == []  # another street's centre does not see it
    district.review(case, decision="self", review_note="社区物业可修")
    district.do("command-wudadao", "街道自行处置", {"handling_result": "已更换灯泡"}, case)
    [feedback] = district.open("resident-a", "居民评价", case)
    assert (feedback["candidate_users"], feedback["candidate_groups"]) == (["resident-a"], ["grid-wudadao"])
    district.do("resident-a", "居民评价", {"satisfaction": 5}, case)
    shown = district.w.show(case)
    assert shown["status"] == "completed"
    data = shown["data"]
    assert data["outcome"] == "已办结" and data["responders"] == []
    assert data["assessment"]["mode"] == "self" and data["assessment"]["departments"] == []
    assert data["assessment"]["satisfaction"] == 5
    # No department was called, so nobody has a task.
    assert district.open("liaison-urban-management", "签收哨令") == []


def test_rejection_needs_a_reason_and_tells_the_reporter(district):
    case = district.report("garbage-dumping")
    with pytest.raises(InvalidInput, match="reject_reason: 驳回必须填写驳回理由"):  # the form's rule, in the engine
        district.review(case, decision="reject")
    assert district.w.show(case)["open_tasks"][0]["name"] == "指挥中心审核"  # nothing changed
    with pytest.raises(InvalidInput, match="decision: 所选内容不在可选范围内"):
        district.review(case, decision="maybe")  # no such outcome: refused too
    district.review(case, decision="reject", reject_reason="重复上报，已并入案件 W-1")
    [notice] = district.open("grid-worker-wudadao", "驳回告知", case)
    assert notice["candidate_users"] == ["grid-worker-wudadao"]
    district.do("grid-worker-wudadao", "驳回告知", {}, case)
    shown = district.w.show(case)
    assert shown["status"] == "completed"
    assert shown["data"]["outcome"] == "已驳回"
    assert shown["data"]["reject_reason"] == "重复上报，已并入案件 W-1"
    assert "assessment" not in shown["data"]


def test_whistle_two_departments_report_and_the_lead_handles(district, manual_clock):
    case = district.report("building-repair-no-property", resident="resident-a")
    district.review(case, decision="whistle")
    data = district.data(case)
    assert (data["lead_department"], data["co_departments"], data["tier"]) == ("dept-housing", ["dept-fire"], "blue")
    assert data["responders"] == ["dept-housing", "dept-fire"]
    now = manual_clock.now()
    for dept in ("housing", "fire"):
        tasks = {t["name"]: t for t in district.w.tasks(district.person(f"liaison-{dept}"))}
        assert set(tasks) == {"签收哨令", "到场报到"}
        assert tasks["签收哨令"]["candidate_groups"] == [f"dept-{dept}"]
        assert tasks["签收哨令"]["due_at"] == (now + timedelta(days=1)).isoformat()    # blue: 1 working day
        # blue: 5 working days from Monday 28 September: 29, 30, 8 and 9 October, then Saturday 10 (a make-up day)
        assert datetime.fromisoformat(tasks["到场报到"]["due_at"]) == now + timedelta(days=12)
        assert tasks["到场报到"]["priority"] == 50
    district.arrive("housing", case)
    assert district.open("liaison-housing", "牵头部门处置") == []  # the lead waits until every department reported
    district.arrive("fire", case)
    [handle] = district.open("liaison-housing", "牵头部门处置", case)
    assert handle["due_at"] == (now + timedelta(days=15)).isoformat()
    assert district.open("liaison-fire", "牵头部门处置") == []
    district.do("liaison-housing", "牵头部门处置", {"handling_result": "物业公司垫资维修消防设施"}, case)
    district.do("command-wudadao", "街道核验", {"verification": "accepted"}, case)
    district.do("resident-a", "居民评价", {"satisfaction": 4}, case)
    shown = district.w.show(case)
    assert shown["status"] == "completed"
    reports = shown["data"]["reports"]
    assert [r["department"] for r in reports] == ["dept-housing", "dept-fire"]
    assert reports[1]["signed_by"] == "区消防救援支队值班员"
    assert shown["data"]["data_objects"]["ledger"]["arrivals"] == ["dept-housing", "dept-fire"]


def test_verification_sends_it_back_once_then_accepts(district):
    case = district.report("illegal-building-blocking-road", resident="resident-b")
    district.review(case, decision="whistle")
    for dept in ("law-enforcement", "planning", "housing"):
        district.arrive(dept, case)
    district.do("liaison-law-enforcement", "牵头部门处置", {"handling_result": "已责令停工"}, case)
    with pytest.raises(InvalidInput, match="verification"):
        district.do("command-wudadao", "街道核验", {"verification": "perhaps"}, case)
    district.do("command-wudadao", "街道核验",
                {"verification": "returned", "verification_note": "违建仍未拆除，道路未恢复通行"}, case)
    # 事不完、人不撤: the lead department gets the case back.
    district.do("liaison-law-enforcement", "牵头部门处置", {"handling_result": "违建已拆除，道路恢复通行"}, case)
    district.do("command-wudadao", "街道核验", {"verification": "accepted"}, case)
    district.do("resident-b", "居民评价", {"satisfaction": "3"}, case)
    data = district.data(case)
    assert data["returns"] == 1
    assert data["return_notes"] == ["违建仍未拆除，道路未恢复通行"]
    assert data["handling_result"] == "违建已拆除，道路恢复通行"
    lead = data["assessment"]["departments"][0]
    assert (lead["department"], lead["returns"], lead["rating"]) == ("dept-law-enforcement", 1, 3)


def test_resident_feedback_is_checked_and_recorded(district):
    case = district.report("street-lighting", resident="resident-a")
    district.review(case, decision="self")
    district.do("command-wudadao", "街道自行处置", {"handling_result": "已修复"}, case)
    [feedback] = district.open("resident-a", "居民评价", case)
    for bad in (0, 6, "七"):
        with pytest.raises(InvalidInput, match="satisfaction"):
            district.w.complete(feedback["task_id"], "resident-a", {"satisfaction": bad})
    assert district.w.task(feedback["task_id"])["status"] == "open"
    # A grid worker of the street may record it for a resident without an account (回访).
    district.do("grid-worker-wudadao", "居民评价", {"satisfaction": 2, "feedback_comment": "修得太慢"}, case)
    data = district.data(case)
    assert (data["satisfaction"], data["feedback_status"], data["feedback_comment"]) == (2, "已评价", "修得太慢")


def test_assessment_is_computed_from_what_happened(district, manual_clock):
    # Group rental: five departments jointly; the centre escalates to red and calls the market regulator as well.
    case = district.report("group-rental-housing", resident="resident-a")
    district.review(case, decision="whistle", tier_override="red", extra_departments=["dept-market", "dept-police"])
    data = district.data(case)
    assert data["responders"] == ["dept-political-legal", "dept-police", "dept-housing", "dept-emergency",
                                  "dept-fire", "dept-market"]
    now = manual_clock.now()
    [sign] = district.open("liaison-police", "签收哨令", case)
    assert (sign["priority"], sign["due_at"]) == (90, (now + timedelta(minutes=15)).isoformat())
    [on_site] = district.open("liaison-police", "到场报到", case)
    assert on_site["due_at"] == (now + timedelta(minutes=30)).isoformat()  # red: Pinggu's 30 minutes
    for dept in ("political-legal", "police", "housing", "emergency", "fire"):
        district.arrive(dept, case)
    district.arrive("market", case, acted=False)
    district.do("liaison-political-legal", "牵头部门处置", {"handling_result": "清理群租，责令整改"}, case)
    district.do("command-wudadao", "街道核验", {"verification": "accepted"}, case)
    district.do("resident-a", "居民评价", {"satisfaction": 5}, case)
    assessment = district.data(case)["assessment"]
    assert (assessment["tier"], assessment["mode"], assessment["feedback"]) == ("red", "whistle", "已评价")
    by_dept = {d["department"]: d for d in assessment["departments"]}
    assert list(by_dept) == data["responders"]
    assert by_dept["dept-political-legal"]["role"] == "lead" and by_dept["dept-political-legal"]["resolved"] is True
    assert all(d["role"] == "co" and d["resolved"] is None for k, d in by_dept.items() if k != "dept-political-legal")
    assert all(d["came"] and d["on_time"] and not d["supervised"] and not d["reminded"] for d in by_dept.values())
    assert [k for k, d in by_dept.items() if not d["acted"]] == ["dept-market"]
    assert {d["rating"] for d in by_dept.values()} == {5}


def test_a_whistle_without_a_lead_is_refused_until_the_centre_names_one(district):
    case = district.report("other")
    with pytest.raises(InvalidInput, match="lead_override: 呼叫情形为“其他”时，吹哨必须指定牵头部门"):
        district.review(case, decision="whistle")
    district.review(case, decision="whistle", lead_override="dept-urban-management")
    data = district.data(case)
    assert (data["responders"], data["tier"], data["tier_label"]) == (["dept-urban-management"], "", "蓝色")
    assert len(district.open("liaison-urban-management", "签收哨令", case)) == 1


def test_changing_a_deadline_in_the_table_changes_new_cases_only(district, manual_clock, tmp_path):
    old = district.report("open-burning")  # red by default
    district.review(old, decision="whistle")
    copy = tmp_path / "processes"
    shutil.copytree(WHISTLE_DIR, copy / "whistle")
    table = copy / "whistle" / "tier-deadlines.dmn"
    text = table.read_text(encoding="utf-8")
    assert text.count('<text>"PT30M"</text>') == 1
    table.write_text(text.replace('<text>"PT30M"</text>', '<text>"PT45M"</text>'), encoding="utf-8")
    deployed = {d.key: (d.version, d.status) for d in district.w.deploy([copy])}
    assert deployed == {"tier_deadlines": (2, "new"), "whistle": (2, "new"), "situation_routing": (1, "unchanged")}
    new = district.report("open-burning")
    district.review(new, decision="whistle")
    now = manual_clock.now()
    [old_task] = district.open("liaison-law-enforcement", "到场报到", old)
    [new_task] = district.open("liaison-law-enforcement", "到场报到", new)
    assert old_task["due_at"] == (now + timedelta(minutes=30)).isoformat()
    assert new_task["due_at"] == (now + timedelta(minutes=45)).isoformat()
    assert district.data(new)["onsite_deadline"] == "PT45M"


# ---------------------------------------------------------------------------------------------------------
# Timer-driven paths: the job executor fires what the clock made due.

def test_a_late_department_is_reminded_recorded_and_supervised(district, manual_clock):
    case = district.report("building-repair-no-property", resident="resident-a")
    district.review(case, decision="whistle", tier_override="red")  # on site within 30 minutes
    district.arrive("housing", case)
    manual_clock.advance(timedelta(minutes=19))
    district.w.fire_due_jobs()
    assert district.open("supervisor", "区委督查室督办") == []
    manual_clock.advance(timedelta(minutes=2))  # 21 min: the reminder (PT20M) has fired
    district.w.fire_due_jobs()
    assert district.open("supervisor", "区委督查室督办") == []
    manual_clock.advance(timedelta(minutes=10))  # 31 min: the on-site deadline has passed
    district.w.fire_due_jobs()
    [supervision] = district.open("supervisor", "区委督查室督办", case)
    assert supervision["candidate_groups"] == ["district-supervision"]
    # The late department still has to report (事不完、人不撤), and does.
    assert len(district.open("liaison-fire", "到场报到", case)) == 1
    district.arrive("fire", case)
    district.do("liaison-housing", "牵头部门处置", {"handling_result": "已修复"}, case)
    district.do("command-wudadao", "街道核验", {"verification": "accepted"}, case)
    district.do("resident-a", "居民评价", {"satisfaction": 4}, case)
    shown = district.w.show(case)
    assert shown["status"] == "running"  # the supervision is still open
    by_dept = {d["department"]: d for d in shown["data"]["assessment"]["departments"]}
    assert (by_dept["dept-housing"]["on_time"], by_dept["dept-housing"]["reminded"]) == (True, False)
    assert by_dept["dept-fire"]["on_time"] is False
    assert by_dept["dept-fire"]["reminded"] is True and by_dept["dept-fire"]["supervised"] is True
    assert [r["on_time"] for r in shown["data"]["reports"]] == [True, False]
    district.do("supervisor", "区委督查室督办", {"supervision_note": "约谈支队负责人", "accountability": True,
                                              "accountability_reason": "红色哨令逾期未到场"}, case)
    shown = district.w.show(case)
    assert shown["status"] == "completed"
    ledger = shown["data"]["data_objects"]["ledger"]
    assert ledger["overdue"] == ["dept-fire"] and ledger["reminded"] == ["dept-fire"]
    assert ledger["supervision"] == [{"departments": ["dept-fire"], "note": "约谈支队负责人", "accountability": True}]


def test_departments_on_time_are_neither_reminded_nor_supervised(district, manual_clock):
    case = district.report("private-courtyard-parking", resident="resident-a")  # yellow: on site within P3D
    district.review(case, decision="whistle")
    manual_clock.advance(timedelta(days=1))
    for dept in ("parking", "police", "law-enforcement"):
        district.arrive(dept, case)
    manual_clock.advance(timedelta(days=5))
    district.w.fire_due_jobs()
    assert district.open("supervisor", "区委督查室督办") == []
    district.do("liaison-parking", "牵头部门处置", {"handling_result": "恢复绿化、安装石墩"}, case)
    district.do("command-wudadao", "街道核验", {"verification": "accepted"}, case)
    district.do("resident-a", "居民评价", {"satisfaction": 5}, case)
    data = district.data(case)
    assert data["data_objects"]["ledger"]["reminded"] == [] and data["data_objects"]["ledger"]["overdue"] == []
    assert all(d["on_time"] for d in data["assessment"]["departments"])


def test_no_feedback_in_time_closes_the_case_as_unrated(district, manual_clock):
    case = district.report("street-lighting", resident="resident-a")
    district.review(case, decision="self")
    district.do("command-wudadao", "街道自行处置", {"handling_result": "已修复"}, case)
    manual_clock.advance(timedelta(days=2, hours=23))
    district.w.fire_due_jobs()
    assert len(district.open("resident-a", "居民评价", case)) == 1
    manual_clock.advance(timedelta(hours=2))  # the P3D feedback wait has passed
    district.w.fire_due_jobs()
    shown = district.w.show(case)
    assert shown["status"] == "completed"
    assert district.open("resident-a", "居民评价", case) == []
    assert (shown["data"]["feedback_status"], shown["data"]["satisfaction"]) == ("未评价", None)
    assert shown["data"]["assessment"]["feedback"] == "未评价"


# ---------------------------------------------------------------------------------------------------------
# 事不完、人不撤, to the end: 提醒 → 督办 → 通报 → 街道兜底 (tier-deadlines.dmn: reminder_after, onsite_deadline,
# notice_after, fallback_after, all counted from the whistle).

def test_whistle_diagram_draws_every_new_element_inside_its_lane():
    assert diagram_problems(WHISTLE_DIR / "whistle.bpmn") == []


def test_the_escalation_ladder_is_in_the_table_for_every_tier():
    root = etree.parse(str(WHISTLE_DIR / "tier-deadlines.dmn")).getroot()
    outputs = [o.get("name") for o in root.iter(f"{{{DMN13}}}output")]
    assert {"reminder_after", "onsite_deadline", "notice_after", "fallback_after"} <= set(outputs)
    description = root.find(f"{{{DMN13}}}decision/{{{DMN13}}}description").text
    assert "notice_after" in description and "fallback_after" in description
    for rule in root.iter(f"{{{DMN13}}}rule"):
        cells = dict(zip(outputs, (e.findtext(f"{{{DMN13}}}text") for e in rule.findall(f"{{{DMN13}}}outputEntry")), strict=True))
        assert cells["notice_after"] and cells["fallback_after"], rule.get("id")


def _obligations(district: District, case: int) -> dict[tuple[str, str], str]:
    """The case's obligations as the accountability ledger has them now: (party, kind) -> state."""
    with district.w.db.read() as session:
        found = ledger.obligations(session, clock.now(), instance_ids=[case])
    return {(o.party, o.kind): o.state for o in found}


def _timers(district: District, case: int) -> dict[str, datetime]:
    return {t["element_id"]: datetime.fromisoformat(t["due_at"]) for t in district.w.show(case)["timers"]}


def test_a_department_that_never_reports_is_reminded_supervised_noticed_and_the_street_closes_the_case(
        district, manual_clock):
    case = district.report("building-repair-no-property", resident="resident-a")
    district.review(case, decision="whistle", tier_override="red")  # housing leads, the fire brigade co-responds
    whistled = manual_clock.now()
    timers = _timers(district, case)
    assert timers["notice_timer"] == whistled + timedelta(hours=2)    # red notice_after PT2H
    assert timers["fallback_timer"] == whistled + timedelta(hours=4)  # red fallback_after PT4H
    district.arrive("housing", case)

    manual_clock.advance(timedelta(minutes=21))  # 提醒
    district.w.fire_due_jobs()
    manual_clock.advance(timedelta(minutes=10))  # 31 min: 督办
    district.w.fire_due_jobs()
    district.do("supervisor", "区委督查室督办", {"supervision_note": "约谈支队负责人", "accountability": False}, case)
    assert district.data_object(case, "ledger")["reminded"] == ["dept-fire"]

    manual_clock.set(whistled + timedelta(hours=1, minutes=59))
    district.w.fire_due_jobs()
    assert district.open("supervisor", "区委督查室通报") == []
    manual_clock.set(whistled + timedelta(hours=2, minutes=1))  # 通报: the further period after the deadline has passed
    district.w.fire_due_jobs()
    [notice] = district.open("supervisor", "区委督查室通报", case)
    assert notice["candidate_groups"] == ["district-supervision"]
    assert district.task_data(notice)["noticed_departments"] == ["dept-fire"]
    assert district.data_object(case, "ledger")["noticed"] == ["dept-fire"]
    # The department stays on the case: its tasks are still open after the notice.
    assert len(district.open("liaison-fire", "到场报到", case)) == 1 and len(district.open("liaison-fire", "签收哨令", case)) == 1
    with pytest.raises(InvalidInput, match="notice_text"):
        district.w.complete(notice["task_id"], "supervisor", {})
    district.do("supervisor", "区委督查室通报", {"notice_text": "区消防救援支队红色哨令逾期未报到，全区通报"}, case)

    manual_clock.set(whistled + timedelta(hours=3, minutes=59))
    district.w.fire_due_jobs()
    assert district.open("command-wudadao", "街道兜底处置") == []
    assert len(district.open("liaison-fire", "到场报到", case)) == 1
    manual_clock.set(whistled + timedelta(hours=4, minutes=1))  # 兜底
    district.w.fire_due_jobs()
    assert district.open("liaison-fire", "到场报到", case) == [] and district.open("liaison-fire", "签收哨令", case) == []
    [fallback] = district.open("command-wudadao", "街道兜底处置", case)
    assert fallback["candidate_groups"] == ["street-wudadao-command"]
    assert district.task_data(fallback)["missing_departments"] == ["dept-fire"]
    with pytest.raises(InvalidInput, match="fallback_action"):
        district.w.complete(fallback["task_id"], "command-wudadao", {})
    district.do("command-wudadao", "街道兜底处置", {"fallback_action": "街道综合执法队代为检查消防设施并设置警示"}, case)

    # The case goes on without the fire brigade: the lead handles, the street verifies, the resident rates.
    district.do("liaison-housing", "牵头部门处置", {"handling_result": "已修复屋顶和消防设施"}, case)
    district.do("command-wudadao", "街道核验", {"verification": "accepted"}, case)
    district.do("resident-a", "居民评价", {"satisfaction": 4}, case)
    shown = district.w.show(case)
    assert shown["status"] == "completed" and shown["open_tasks"] == [] and shown["timers"] == []
    data = shown["data"]
    record = data["data_objects"]["ledger"]
    assert record["arrivals"] == ["dept-housing"] and record["overdue"] == ["dept-fire"]
    assert record["noticed"] == ["dept-fire"]
    assert record["notices"] == [{"departments": ["dept-fire"], "text": "区消防救援支队红色哨令逾期未报到，全区通报"}]
    assert record["fallback"] == {"departments": ["dept-fire"], "action": "街道综合执法队代为检查消防设施并设置警示"}
    assert data["assessment"]["fallback"] is True
    by_dept = {d["department"]: d for d in data["assessment"]["departments"]}
    assert list(by_dept) == ["dept-housing", "dept-fire"]
    fire, housing = by_dept["dept-fire"], by_dept["dept-housing"]
    assert (fire["came"], fire["on_time"], fire["acted"], fire["never_reported"]) == (False, False, False, True)
    assert (fire["reminded"], fire["supervised"], fire["noticed"]) == (True, True, True)
    assert (housing["came"], housing["on_time"], housing["noticed"], housing["never_reported"]) == (True, True, False, False)
    assert housing["resolved"] is True

    # The accountability ledger: the fire brigade never reported (its tasks withdrawn after their due time).
    states = _obligations(district, case)
    assert states[("dept-fire", "on_site")] == ledger.OVERDUE
    assert states[("dept-fire", "sign")] == ledger.OVERDUE
    assert states[("dept-housing", "on_site")] == ledger.DONE_ON_TIME
    assert states[("dept-housing", "sign")] == ledger.DONE_ON_TIME
    assert states[("dept-housing", "handle")] == ledger.DONE_ON_TIME
    with district.w.db.read() as session:
        figures = services.assessment_figures(session, 2026)["departments"]
    assert (figures["dept-fire"]["never"], figures["dept-fire"]["came"], figures["dept-fire"]["records"]) == (1, 0, 1)
    assert figures["dept-fire"]["cases"]["never"] == [case]
    assert (figures["dept-housing"]["on_time"], figures["dept-housing"]["never"]) == (1, 0)


def test_a_late_department_that_reports_after_supervision_is_not_noticed(district, manual_clock):
    case = district.report("building-repair-no-property", resident="resident-a")
    district.review(case, decision="whistle", tier_override="red")
    whistled = manual_clock.now()
    district.arrive("housing", case)
    manual_clock.advance(timedelta(minutes=31))
    district.w.fire_due_jobs()
    assert len(district.open("supervisor", "区委督查室督办", case)) == 1
    manual_clock.set(whistled + timedelta(hours=1))
    district.arrive("fire", case)  # late, after supervision, before the notice
    assert set(_timers(district, case)) == set()  # the ladder stops: no notice, no 兜底 is waiting
    for hours in (2, 4, 24):
        manual_clock.set(whistled + timedelta(hours=hours, minutes=1))
        district.w.fire_due_jobs()
    assert district.open("supervisor", "区委督查室通报") == []
    assert district.open("command-wudadao", "街道兜底处置") == []
    district.do("liaison-housing", "牵头部门处置", {"handling_result": "已修复"}, case)
    district.do("command-wudadao", "街道核验", {"verification": "accepted"}, case)
    district.do("resident-a", "居民评价", {"satisfaction": 5}, case)
    assert district.w.show(case)["status"] == "running"  # the supervision is still open
    district.do("supervisor", "区委督查室督办", {"supervision_note": "已督促到场", "accountability": False}, case)
    shown = district.w.show(case)
    assert shown["status"] == "completed"
    # The supervision ended after the case closed: its branch did not bring back the whistle-time values.
    assert (shown["data"]["outcome"], shown["data"]["satisfaction"]) == ("已办结", 5)
    assert [r["department"] for r in shown["data"]["reports"]] == ["dept-housing", "dept-fire"]
    record = shown["data"]["data_objects"]["ledger"]
    assert (record["noticed"], record["notices"], record["fallback"]) == ([], [], None)
    assert record["arrivals"] == ["dept-housing", "dept-fire"] and record["overdue"] == ["dept-fire"]
    assert shown["data"]["assessment"]["fallback"] is False
    fire = {d["department"]: d for d in shown["data"]["assessment"]["departments"]}["dept-fire"]
    assert (fire["came"], fire["on_time"], fire["supervised"], fire["noticed"], fire["never_reported"]) == (
        True, False, True, False, False)
    states = _obligations(district, case)
    assert states[("dept-fire", "on_site")] == ledger.DONE_LATE
    assert states[("dept-housing", "on_site")] == ledger.DONE_ON_TIME


def test_when_the_lead_never_reports_the_street_handles_it_and_the_case_goes_to_feedback(district, manual_clock):
    # Yellow (3 working days on site) from Monday 28 September 2026, 17:00: the ladder counts working days too.
    case = district.report("private-courtyard-parking", resident="resident-a")  # parking leads; police, enforcement
    district.review(case, decision="whistle")
    whistled = manual_clock.now()
    timers = _timers(district, case)
    assert timers["onsite_timer"] == whistled + timedelta(days=10)    # 29, 30 September, 8 October
    assert timers["notice_timer"] == whistled + timedelta(days=11)    # then 9 October
    assert timers["fallback_timer"] == whistled + timedelta(days=12)  # then Saturday 10 October, a make-up working day
    for dept in ("police", "law-enforcement"):
        district.arrive(dept, case)
    manual_clock.set(whistled + timedelta(days=10, minutes=1))
    district.w.fire_due_jobs()
    district.do("supervisor", "区委督查室督办", {"supervision_note": "督促停管办到场", "accountability": True,
                                              "accountability_reason": "逾期未到场"}, case)
    manual_clock.set(whistled + timedelta(days=11, minutes=1))
    district.w.fire_due_jobs()
    [notice] = district.open("supervisor", "区委督查室通报", case)
    assert district.task_data(notice)["noticed_departments"] == ["dept-parking"]
    manual_clock.set(whistled + timedelta(days=12, minutes=1))
    district.w.fire_due_jobs()
    assert district.open("liaison-parking", "到场报到", case) == []
    district.do("command-wudadao", "街道兜底处置", {"fallback_action": "街道协调物业恢复院落绿化并安装石墩"}, case)
    # No lead came: nobody is asked to handle; the street's action is the result and the resident rates it.
    assert district.open("liaison-parking", "牵头部门处置") == [] and district.open("liaison-police", "牵头部门处置") == []
    assert district.open("command-wudadao", "街道核验", case) == []
    district.do("resident-a", "居民评价", {"satisfaction": 3}, case)
    # The notice, still open, is the district's own work: the case completes once it is done.
    assert district.w.show(case)["status"] == "running"
    district.do("supervisor", "区委督查室通报", {"notice_text": "区停管办黄色哨令逾期未报到"}, case)
    shown = district.w.show(case)
    assert shown["status"] == "completed"
    data = shown["data"]
    assert data["handling_result"] == "街道协调物业恢复院落绿化并安装石墩"
    assert (data["outcome"], data["satisfaction"], data["feedback_status"]) == ("已办结", 3, "已评价")  # the notice ended last
    # reports come in the order the departments finished (the one withdrawn by 兜底 last)
    assert {r["department"]: r["reported"] for r in data["reports"]} == {
        "dept-parking": False, "dept-police": True, "dept-law-enforcement": True}
    assert data["data_objects"]["ledger"]["never_reported"] == ["dept-parking"]
    by_dept = {d["department"]: d for d in data["assessment"]["departments"]}
    assert set(by_dept) == {"dept-parking", "dept-police", "dept-law-enforcement"}
    parking = by_dept["dept-parking"]
    assert (parking["role"], parking["came"], parking["resolved"], parking["never_reported"]) == ("lead", False, False, True)
    assert all(by_dept[d]["came"] and by_dept[d]["on_time"] for d in ("dept-police", "dept-law-enforcement"))
    states = _obligations(district, case)
    assert states[("dept-parking", "on_site")] == ledger.OVERDUE
    assert ("dept-parking", "handle") not in states
    assert states[("dept-police", "on_site")] == ledger.DONE_ON_TIME
    assert states[("dept-law-enforcement", "on_site")] == ledger.DONE_ON_TIME


def test_a_worker_that_was_behind_climbs_the_whole_ladder_in_one_run(district, manual_clock):
    case = district.report("building-repair-no-property", resident="resident-a")
    district.review(case, decision="whistle", tier_override="red")
    district.arrive("housing", case)
    manual_clock.advance(timedelta(hours=5))  # reminder, supervision, notice and 兜底 all due; nothing fired yet
    district.w.fire_due_jobs()
    assert district.w.incidents(case) == []
    assert district.names(case) == ["区委督查室督办", "区委督查室通报", "街道兜底处置"]
    assert district.data_object(case, "ledger") == {
        "arrivals": ["dept-housing"], "overdue": ["dept-fire"], "reminded": ["dept-fire"], "supervision": [],
        "noticed": ["dept-fire"], "notices": [], "never_reported": ["dept-fire"], "fallback": None}
    assert _obligations(district, case)[("dept-fire", "on_site")] == ledger.OVERDUE
