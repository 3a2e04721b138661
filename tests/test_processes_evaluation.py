"""考核评价 (下考上): the yearly evaluation of the departments by the streets.

Scenarios run on SQLite and PostgreSQL through the engine's public commands; the clock starts on Monday
2026-09-28 17:00 Beijing time and is moved by ``manual_clock``; timers (the annual start, the scoring deadline,
the appeal window) fire through ``fire_due_jobs``. The year in miniature drives dozens of whistle cases through the
whistle process and checks that the ranking follows from what the departments did.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import pytest

from engine.errors import DeploymentInvalid, InvalidInput

from process_helpers import GROUPS_OF, PROCESSES, Org, diagram_problems, dmn_problems

# Every scenario also runs cold (a new engine per command, as after a restart) and must leave the same record.
pytestmark = pytest.mark.cold_warm

EVALUATION = PROCESSES / "evaluation"
BEIJING = timezone(timedelta(hours=8))
THREE = ["dept-police", "dept-housing", "dept-fire"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_weights_table_is_valid_dmn_1_3():
    assert dmn_problems(EVALUATION / "evaluation-weights.dmn") == []


def test_diagram_is_complete_for_modelers():
    assert diagram_problems(EVALUATION / "evaluation.bpmn") == []


@pytest.fixture
def org(whistle) -> Org:
    return Org(whistle)


def start(org: Org, departments=THREE, streets=("wudadao", "nanshi"), year=2026) -> int:
    return org.w.start("evaluation", user=org.person("org-officer"),
                       data={"year": year, "departments": list(departments), "streets": list(streets)})


def reopened(org: Org, user: str, name: str, case: int, field: str) -> list[str]:
    [task] = org.open(user, name, case)
    return org.task_data(task)[field]


def by_department(rows: list[dict]) -> dict:
    return {row["department"]: row for row in rows}


def score_two_streets(org: Org, case: int) -> None:
    # The scoring form's rules hold on every channel: a deduction without a reason, or a score above 100, is
    # refused by the engine with the form's own message, and nothing changes.
    with pytest.raises(InvalidInput, match=r"scores\[0\]\[reason\]: 第1行：扣分必须填写扣分原因"):
        org.do("command-wudadao", "街道为部门评分", {"scores": [{"department": "dept-police", "score": 90}]}, case)
    with pytest.raises(InvalidInput, match=r"scores\[0\]\[score\]: 第1行「分数」：不能大于 100"):
        org.do("command-wudadao", "街道为部门评分", {"scores": [{"department": "dept-police", "score": 120}]}, case)
    # What only the case knows (which departments are assessed) the process checks: the task comes back.
    org.do("command-wudadao", "街道为部门评分", {"scores": [{"department": "dept-parking", "score": 90, "reason": "x"}]
                                                + [{"department": d, "score": 100} for d in THREE]}, case)
    assert reopened(org, "command-wudadao", "街道为部门评分", case, "score_errors") == ["没有被考核部门 dept-parking"]
    # Perceived service needs an explicit score for every department (no full marks by omission).
    org.do("command-wudadao", "街道为部门评分", {"scores": [
        {"department": "dept-police", "score": 90, "reason": "吹哨报到的人员不主要负责该项工作，不能现场给出政策依据"},
        {"department": "dept-fire", "score": 80, "reason": "该部门很少到社区走访"}]}, case)
    assert reopened(org, "command-wudadao", "街道为部门评分", case, "score_errors") == [
        "须对每个被考核部门逐一评分，尚缺：dept-housing"]
    org.do("command-wudadao", "街道为部门评分", {"scores": [
        {"department": "dept-police", "score": 90, "reason": "吹哨报到的人员不主要负责该项工作，不能现场给出政策依据"},
        {"department": "dept-housing", "score": 100},
        {"department": "dept-fire", "score": 80, "reason": "该部门很少到社区走访"}]}, case)
    org.do("command-nanshi", "街道为部门评分", {"scores": [
        {"department": "dept-police", "score": 95, "reason": "节假日联系不上值班人员"},
        {"department": "dept-housing", "score": 100}, {"department": "dept-fire", "score": 100}]}, case)


def test_streets_score_with_reasons_then_totals_ranks_and_grades(org):
    case = start(org)
    data = org.data(case)
    assert (data["w_completion"], data["w_satisfaction"], data["w_perceived"]) == (0.5, 0.2, 0.3)
    assert (data["band_excellent"], data["band_good"], data["band_average"]) == (0.6, 0.3, 0.1)
    [task] = org.open("command-wudadao", "街道为部门评分", case)
    assert task["candidate_groups"] == ["street-wudadao-command"]
    assert at(task["due_at"]) == datetime(2026, 10, 16, 17, 30, tzinfo=BEIJING)  # 10 working days
    score_two_streets(org, case)
    results = by_department(org.data(case)["results"])
    # No whistle case this year for anybody: the objective parts have no median and the total is the perceived service.
    assert results["dept-police"]["completion"] is None and results["dept-police"]["satisfaction"] is None
    assert results["dept-police"]["basis"] == {"completion": "not called: median", "satisfaction": "no ratings: median"}
    assert {d: r["total"] for d, r in results.items()} == {"dept-housing": 100.0, "dept-police": 92.5, "dept-fire": 90.0}
    assert {d: (r["rank"], r["grade"]) for d, r in results.items()} == {
        "dept-housing": (1, "优秀"), "dept-police": (2, "优秀"), "dept-fire": (3, "良好")}
    assert results["dept-fire"]["deductions"] == [{"street": "wudadao", "score": 80.0, "reason": "该部门很少到社区走访"}]
    assert [d["street"] for d in results["dept-police"]["deductions"]] == ["wudadao", "nanshi"]
    [review] = org.open("org-officer", "组织部审核发布", case)
    assert review["candidate_groups"] == ["org-dept"]


def test_an_accepted_appeal_corrects_the_score_and_the_ranking(org, manual_clock):
    case = start(org)
    score_two_streets(org, case)
    org.do("org-officer", "组织部审核发布", {"review_note": "经部务会审议，同意发布"}, case)
    data = org.data(case)
    # Five working days from publication (Monday 28 September): 29, 30 Sep, 8, 9, 10 October.
    assert at(data["appeal_due"]) == datetime(2026, 10, 10, 17, 30, tzinfo=BEIJING)
    [confirm] = org.open("liaison-fire", "部门确认结果", case)
    assert confirm["candidate_groups"] == ["dept-fire"]
    with pytest.raises(InvalidInput, match="appeal_reason: 申诉须写明理由"):  # the form's rule, on every channel
        org.do("liaison-fire", "部门确认结果", {"appeal": True}, case)
    org.do("liaison-fire", "部门确认结果", {"appeal": True, "appeal_reason": "本年度在五大道街道共报到12次，均按时到场"}, case)
    org.do("liaison-police", "部门确认结果", {}, case)
    org.do("org-officer", "组织部复核申诉", {"appeal_decision": "accepted", "appeal_reply": "核实属实"}, case)
    assert reopened(org, "org-officer", "组织部复核申诉", case, "review_errors") == [
        "申诉成立的，须至少填写一项更正后的分项得分（吹哨事项完成、满意率或街道评价）"]
    org.do("org-officer", "组织部复核申诉", {"appeal_decision": "accepted", "appeal_reply": "核实属实，更正五大道街道评分",
                                          "revised_perceived": 96}, case)
    assert org.w.show(case)["status"] == "running"  # the housing department has not answered yet
    manual_clock.set(datetime(2026, 10, 10, 17, 31, tzinfo=BEIJING))
    org.w.fire_due_jobs()  # its window closes: no appeal
    shown = org.w.show(case)
    assert shown["status"] == "completed"
    record = shown["data"]["evaluation_record"]
    final = by_department(record["results"])
    assert {d: (r["total"], r["rank"], r["grade"], r["appeal"]) for d, r in final.items()} == {
        "dept-housing": (100.0, 1, "优秀", "期满无异议"), "dept-fire": (96.0, 2, "优秀", "申诉成立"),
        "dept-police": (92.5, 3, "良好", "无异议")}
    [appeal] = record["appeals"]
    assert (appeal["department"], appeal["revisions"], appeal["reply"]) == ("dept-fire", {"perceived": 96.0}, "核实属实，更正五大道街道评分")
    assert record["grades"] == {"优秀": 2, "良好": 1, "一般": 0}


def test_a_rejected_appeal_leaves_the_result(org):
    case = start(org)
    score_two_streets(org, case)
    org.do("org-officer", "组织部审核发布", {}, case)
    org.do("liaison-police", "部门确认结果", {"appeal": True, "appeal_reason": "扣分原因不实"}, case)
    with pytest.raises(InvalidInput, match="appeal_reply: 此项必须填写"):
        org.do("org-officer", "组织部复核申诉", {"appeal_decision": "rejected"}, case)
    org.do("org-officer", "组织部复核申诉", {"appeal_decision": "rejected", "appeal_reply": "两个街道的扣分均有事实依据"}, case)
    org.do("liaison-fire", "部门确认结果", {}, case)
    org.do("liaison-housing", "部门确认结果", {}, case)
    record = org.data(case)["evaluation_record"]
    final = by_department(record["results"])
    assert (final["dept-police"]["total"], final["dept-police"]["rank"], final["dept-police"]["appeal"]) == (92.5, 2, "申诉驳回")
    assert record["appeals"][0]["revisions"] == {}


def test_a_street_that_does_not_score_in_time_is_left_out(org, manual_clock):
    case = start(org)
    # The scoring form's rows arrive as the form stores them (every column, an empty reason as ""): checked the same way.
    with pytest.raises(InvalidInput, match="扣分必须填写扣分原因"):
        org.do("command-nanshi", "街道为部门评分", {"scores": [{"department": "dept-fire", "score": 70, "reason": ""}]},
               case)
    org.do("command-nanshi", "街道为部门评分", {"scores": [
        {"department": "dept-fire", "score": 70, "reason": "多次逾期报到"},
        {"department": "dept-police", "score": 100}, {"department": "dept-housing", "score": 100}]}, case)
    manual_clock.set(datetime(2026, 10, 16, 17, 31, tzinfo=BEIJING))
    org.w.fire_due_jobs()
    data = org.data(case)
    assert data["not_scored"] == ["wudadao"]
    assert by_department(data["results"])["dept-fire"]["perceived"] == 70.0  # nanshi only, not averaged with a blank


def test_the_annual_timer_starts_the_evaluation_every_april(org, manual_clock):
    [job] = [j for j in org.w.jobs(include_scheduled=True) if j["process_id"] == "evaluation" and j["kind"] == "start"]
    assert (job["kind"], job["element_id"]) == ("start", "start_annual")
    assert at(job["due_at"]) == datetime(2027, 4, 1, 9, 0, tzinfo=BEIJING)  # the next 1 April after deployment
    org.person("command-wudadao")
    manual_clock.set(datetime(2027, 3, 31, 17, 0, tzinfo=BEIJING))
    org.w.fire_due_jobs()  # the monthly analyses (processes/analysis) start on the 1st of every month
    assert org.open("command-wudadao", "街道为部门评分") == []
    manual_clock.set(datetime(2027, 4, 1, 9, 1, tzinfo=BEIJING))
    assert org.w.fire_due_jobs() >= 1
    [task] = org.open("command-wudadao", "街道为部门评分")
    data = org.data(task["instance_id"])
    assert data["year"] == 2026  # April assesses the year before
    assert data["figures"]["roster"]["streets"] == ["wudadao"]  # streets known to the accounts
    [job] = [j for j in org.w.jobs(include_scheduled=True) if j["process_id"] == "evaluation" and j["kind"] == "start"]
    assert at(job["due_at"]).astimezone(BEIJING).date().isoformat() == "2028-04-01"  # and again next year


def test_a_service_task_naming_an_unknown_service_is_refused_at_deploy(whistle, tmp_path):
    copy = tmp_path / "evaluation"
    shutil.copytree(EVALUATION, copy)
    path = copy / "evaluation.bpmn"
    path.write_text(path.read_text(encoding="utf-8").replace('id="whistle.assessment_figures"', 'id="whistle.no_such"'),
                    encoding="utf-8")
    with pytest.raises(DeploymentInvalid) as raised:
        whistle.deploy([copy])
    [problem] = [p for p in raised.value.problems if p.element_id == "collect_figures"]
    assert "whistle.no_such" in problem.message and "whistle.assessment_figures" in problem.message


# ---------------------------------------------------------------------------------------------------------
# A year in miniature: whistle cases with varied behaviour, then the evaluation ranks what happened.

CASE_KINDS = {
    # situation: (lead, co-responding department) as situation-routing.dmn routes it, the resident's ratings
    "building-repair-no-property": ("housing", "fire", [5]),
    "street-lighting": ("urban-management", "power-company", [2, 3]),
    "neighbour-dispute": ("justice", "police", [4]),
}
LATE = {"fire": 8, "police": 3}  # how many of its 12 cases each department reaches after the deadline
STREETS = ["quanyechang", "xiaobailou", "wudadao", "xinxing", "nanshi", "nanyingmen"]
UTILITIES = {"dept-gas-company", "dept-power-company", "dept-heating-company"}  # not ranked (evaluation-weights.dmn)


def never_reporting_case(org: Org, clock, index: int) -> int:
    """An elderly resident living alone: civil affairs comes on time, the health commission never comes. The case
    is still open at the evaluation's cut-off."""
    street = STREETS[index % len(STREETS)]
    case = org.w.start("whistle", user=f"grid-worker-{street}", data={
        "street": street, "situation": "elderly-living-alone", "location": f"示例里{index}号",
        "description": "独居老人多日未出门", "resident": "resident-a"})
    org.do(f"command-{street}", "指挥中心审核", {"decision": "whistle", "tier_override": "red"}, case)
    org.do("liaison-civil-affairs", "签收哨令", {"signed_by": "值班员"}, case)
    org.do("liaison-civil-affairs", "到场报到", {"acted": True, "action": "入户探望"}, case)
    clock.advance(timedelta(minutes=31))
    org.w.fire_due_jobs()
    return case


def run_whistle_case(org: Org, clock, situation: str, index: int, late: set[str]) -> None:
    lead, co, ratings = CASE_KINDS[situation]
    street = STREETS[index % len(STREETS)]
    case = org.w.start("whistle", user=f"grid-worker-{street}", data={
        "street": street, "situation": situation, "location": f"示例路{index}号", "description": "居民反映的问题",
        "reporter": f"grid-worker-{street}", "resident": "resident-a"})
    org.do(f"command-{street}", "指挥中心审核", {"decision": "whistle", "tier_override": "red"}, case)  # on site in 30 min
    for dept in (lead, co):
        if dept not in late:
            org.do(f"liaison-{dept}", "签收哨令", {"signed_by": "值班员"}, case)
            org.do(f"liaison-{dept}", "到场报到", {"acted": True, "action": "到场处置"}, case)
    if late:
        clock.advance(timedelta(minutes=31))
        org.w.fire_due_jobs()  # the deadline passes: lateness recorded, the district supervises
        for dept in late:
            org.do(f"liaison-{dept}", "签收哨令", {"signed_by": "值班员"}, case)
            org.do(f"liaison-{dept}", "到场报到", {"acted": True, "action": "迟到后到场配合"}, case)
        org.do("supervisor", "区委督查室督办", {"supervision_note": "通报逾期", "accountability": False}, case)
    org.do(f"liaison-{lead}", "牵头部门处置", {"handling_result": "已处置"}, case)
    org.do(f"command-{street}", "街道核验", {"verification": "accepted"}, case)
    rating = ratings[index % len(ratings)]
    org.do("resident-a", "居民评价", {"satisfaction": rating, **({"feedback_comment": "处理不及时"} if rating <= 2 else {})},
           case)
    assert org.w.show(case)["status"] == "completed"


def test_a_year_in_miniature_ranks_the_departments_by_what_they_did(org, manual_clock):
    org.w.import_users(PROCESSES / "demo-accounts.json")
    org.known.update(GROUPS_OF)
    late_so_far = {dept: 0 for dept in LATE}
    index = 0
    for round_ in range(12):
        for situation in CASE_KINDS:
            late = set()
            for dept, times in LATE.items():
                if dept in CASE_KINDS[situation][:2] and late_so_far[dept] < times and round_ % 3 != 2 - (dept == "police"):
                    late.add(dept)
                    late_so_far[dept] += 1
            run_whistle_case(org, manual_clock, situation, index, late)
            index += 1
    assert late_so_far == LATE
    never = [never_reporting_case(org, manual_clock, index + n) for n in range(3)]
    assert {org.w.show(c)["status"] for c in never} == {"running"}

    # April: the annual timer starts the evaluation of 2026.
    manual_clock.set(datetime(2027, 4, 1, 9, 1, tzinfo=BEIJING))
    assert org.w.fire_due_jobs() >= 1
    [task] = org.open("command-wudadao", "街道为部门评分")
    case = task["instance_id"]
    data = org.data(case)
    figures = data["figures"]
    # Every case whistled in the year counts, the three still open as well, from the ledger.
    assert figures["cases"] == 39 and figures["year"] == 2026
    assert len(figures["roster"]["departments"]) == 26 and figures["roster"]["streets"] == sorted(STREETS)
    fire, police, housing = (figures["departments"][f"dept-{d}"] for d in ("fire", "police", "housing"))
    assert (fire["records"], fire["late"], fire["supervised"], fire["rating_sum"]) == (12, 8, 8, 60)
    assert (police["records"], police["late"]) == (12, 3)
    assert (housing["records"], housing["lead"], housing["resolved"], housing["late"]) == (12, 12, 12, 0)
    assert sum(figures["streets"][s]["whistles"] for s in STREETS) == 39
    health = figures["departments"]["dept-health"]
    assert (health["records"], health["never"], health["came"], health["never_signed"]) == (3, 3, 0, 3)
    assert sorted(health["cases"]["never"]) == sorted(never)
    assert sorted(data["departments"]) == sorted(set(figures["roster"]["departments"]) - UTILITIES)

    ranked = data["departments"]
    for street in STREETS:  # every street gives full marks, explicitly: the ranking comes from the ledger alone
        org.do(f"command-{street}", "街道为部门评分", {"scores": [{"department": d, "score": 100} for d in ranked]}, case)
    org.do("org-officer", "组织部审核发布", {}, case)
    manual_clock.set(at(org.data(case)["appeal_due"]) + timedelta(minutes=1))
    org.w.fire_due_jobs()  # nobody appeals
    shown = org.w.show(case)
    assert shown["status"] == "completed"
    record = shown["data"]["evaluation_record"]
    final = by_department(record["results"])
    rank = {d.removeprefix("dept-"): final[d]["rank"] for d in final}
    # Same cases, same ratings: the department that was late more often ranks lower.
    assert rank["housing"] < rank["fire"]
    assert rank["justice"] < rank["police"]
    # Same punctuality, worse ratings: lower.
    assert rank["justice"] < rank["urban-management"]
    # Never came (three cases, still open at the cut-off): last of all; late in 8 of 12 cases: just above it.
    assert rank["health"] == max(rank.values()) and final["dept-health"]["grade"] == "一般"
    assert final["dept-health"]["cases"]["never"] == sorted(never)  # every point lost traced to its cases
    assert rank["fire"] == max(rank.values()) - 1 and final["dept-fire"]["grade"] == "一般"
    assert len(final["dept-fire"]["cases"]["late"]) == 8
    assert final["dept-fire"]["total"] < final["dept-police"]["total"] < final["dept-urban-management"]["total"]
    assert final["dept-housing"]["grade"] == "优秀" and rank["housing"] == 1
    assert (final["dept-fire"]["completion"], final["dept-fire"]["satisfaction"]) == (66.67, 100.0)
    assert (final["dept-police"]["completion"], final["dept-police"]["satisfaction"]) == (87.5, 80.0)
    # Never called: the median of those that were, not full marks — not above the departments that worked well.
    never_called = [d for d in final if d not in ("dept-housing", "dept-fire", "dept-urban-management", "dept-justice",
                                                  "dept-police", "dept-civil-affairs", "dept-health")]
    assert len(never_called) == 16
    assert {final[d]["basis"]["completion"] for d in never_called} == {"not called: median"}
    assert all(final[d]["total"] <= final["dept-justice"]["total"] < final["dept-housing"]["total"] for d in never_called)
    assert not UTILITIES & set(final)  # utilities are not ranked unless the district's table says so
    assert sum(record["grades"].values()) == 23
    assert record["grades"] == {"优秀": 19, "良好": 2, "一般": 2}  # a tie of 18 at 96 straddles the 优秀 line (14)


def test_services_run_inside_a_command_only_and_check_their_parameters():
    from engine.scripting import services

    with pytest.raises(services.ServiceError, match="inside an engine command"):
        services.call("whistle.assessment_figures", {"year": {"value": 2026, "type": "int"}})
    with pytest.raises(services.ServiceError, match="known services: whistle.assessment_figures"):
        services.call("whistle.nothing", {})
    with pytest.raises(services.ServiceError, match="parameter year missing"):
        services.call("whistle.assessment_figures", {})
    with pytest.raises(services.ServiceError, match="unknown parameter month"):
        services.call("whistle.assessment_figures", {"year": 2026, "month": 4})


# ---------------------------------------------------------------------------------------------------------
# 双考核: the street that whistles is assessed too (吹哨率 and its band, cases it handled itself, residents).

def report(org: Org, street: str, index: int, situation: str = "building-repair-no-property") -> int:
    return org.w.start("whistle", user=org.person(f"grid-worker-{street}"), data={
        "street": street, "situation": situation, "location": f"示例路{index}号", "description": "居民反映的问题",
        "resident": "resident-a"})


def self_handled(org: Org, street: str, index: int, rating: int | None) -> int:
    case = report(org, street, index)
    org.do(f"command-{street}", "指挥中心审核", {"decision": "self"}, case)
    org.do(f"command-{street}", "街道自行处置", {"handling_result": "街道协调物业修复"}, case)
    if rating is not None:
        org.do("resident-a", "居民评价", {"satisfaction": rating}, case)
    return case


def test_the_street_that_whistles_is_assessed_too(org, manual_clock):
    # 五大道: one whistle (returned once, rated 4), four cases it handled itself (one never rated), one rejected.
    whistled = report(org, "wudadao", 1)
    org.do("command-wudadao", "指挥中心审核", {"decision": "whistle"}, whistled)
    for dept in ("housing", "fire"):
        org.do(f"liaison-{dept}", "签收哨令", {"signed_by": "值班员"}, whistled)
        org.do(f"liaison-{dept}", "到场报到", {"acted": True, "action": "到场处置"}, whistled)
    org.do("liaison-housing", "牵头部门处置", {"handling_result": "已修复"}, whistled)
    org.do("command-wudadao", "街道核验", {"verification": "returned", "verification_note": "屋顶仍漏水"}, whistled)
    org.do("liaison-housing", "牵头部门处置", {"handling_result": "重新修复"}, whistled)
    org.do("command-wudadao", "街道核验", {"verification": "accepted"}, whistled)
    org.do("resident-a", "居民评价", {"satisfaction": 4}, whistled)
    own = [self_handled(org, "wudadao", 2 + n, rating) for n, rating in enumerate([5, 5, 3, None])]
    rejected = report(org, "wudadao", 9)
    org.do("command-wudadao", "指挥中心审核", {"decision": "reject", "reject_reason": "不属于街道职责范围"}, rejected)
    org.do("grid-worker-wudadao", "驳回告知", {}, rejected)
    # 劝业场: five whistles still open (the departments have not signed yet): a rate of 1, too high.
    pushed = [report(org, "quanyechang", 20 + n) for n in range(5)]
    for case in pushed:
        org.do("command-quanyechang", "指挥中心审核", {"decision": "whistle"}, case)
    # 南市: one report not reviewed yet: too few cases to judge.
    waiting = report(org, "nanshi", 30)
    manual_clock.advance(timedelta(days=3, minutes=1))
    org.w.fire_due_jobs()  # the resident never rated the last self-handled case: 未评价
    assert org.data(own[-1])["feedback_status"] == "未评价"

    case = start(org, streets=("wudadao", "quanyechang", "nanshi"))
    data = org.data(case)
    figures = data["figures"]["streets"]
    wudadao = figures["wudadao"]
    assert {k: wudadao[k] for k in ("cases", "whistles", "self_handled", "rejected", "pending", "closed", "rated",
                                     "rating_sum", "feedback_given", "no_feedback", "returns")} == {
        "cases": 6, "whistles": 1, "self_handled": 4, "rejected": 1, "pending": 0, "closed": 5, "rated": 4,
        "rating_sum": 17, "feedback_given": 4, "no_feedback": 1, "returns": 1}
    assert wudadao["case_ids"] == {"whistles": [whistled], "self_handled": own, "rejected": [rejected],
                                   "no_feedback": [own[-1]], "returned": [whistled]}
    assert (figures["quanyechang"]["cases"], figures["quanyechang"]["whistles"]) == (5, 5)
    assert (figures["nanshi"]["pending"], figures["nanshi"]["case_ids"]) == (1, {"pending": [waiting]})
    assert data["street_band"] == {"low": 0.1, "high": 0.5, "min_cases": 5}  # evaluation-weights.dmn
    rows = {row["street"]: row for row in data["street_assessment"]}
    assert {s: (r["whistle_rate"], r["whistle_band"]) for s, r in rows.items()} == {
        "wudadao": (0.1667, "适中"), "quanyechang": (1.0, "偏高"), "nanshi": (0.0, "样本不足")}
    assert (rows["wudadao"]["self_rate"], rows["wudadao"]["satisfaction"], rows["wudadao"]["feedback_rate"]) == (
        0.6667, 85.0, 0.8)
    assert rows["quanyechang"]["satisfaction"] is None and rows["quanyechang"]["feedback_rate"] is None

    # The organisation department sees it when it reviews, and it stays in the evaluation record.
    assert org.open("org-officer", "组织部审核发布", case) == []  # the streets score first
    for street in ("wudadao", "quanyechang", "nanshi"):
        org.do(f"command-{street}", "街道为部门评分", {"scores": [{"department": d, "score": 100} for d in THREE]}, case)
    [review_task] = org.open("org-officer", "组织部审核发布", case)
    view = org.w.task_view("org-officer", review_task["task_id"])
    assert {"street_assessment", "street_band"} <= set(org.w.version_forms(view["version_id"])["evaluation-review"]["show"])
    assert [r["street"] for r in org.w.task_data(review_task["task_id"])["street_assessment"]] == [
        "wudadao", "quanyechang", "nanshi"]
    org.do("org-officer", "组织部审核发布", {}, case)
    manual_clock.set(at(org.data(case)["appeal_due"]) + timedelta(minutes=1))
    org.w.fire_due_jobs()
    record = org.data(case)["evaluation_record"]
    assert [r["street"] for r in record["street_assessment"]] == ["wudadao", "quanyechang", "nanshi"]
    assert record["street_band"]["low"] == 0.1
    # The street's figures never change the departments' totals: 吹哨率 is a hint for the organisation department.
    assert {r["department"]: r["perceived"] for r in record["results"]} == {d: 100.0 for d in THREE}
