"""分析研判: every month the previous month's whistle cases are analysed per street, and each street command centre reads
its part — repeated problems by place and situation, the departments most often late — and records its conclusions.

Scenarios run on SQLite and PostgreSQL, warm and cold, through the engine's public commands; the clock starts on Monday
2026-09-28 17:00 Beijing and is moved by ``manual_clock`` (the monthly timer fires through ``fire_due_jobs``).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.audit import ledger
from engine.deploy.lint import lint_paths
from engine.errors import Forbidden
from engine.time import clock

from process_helpers import PROCESSES, Org, diagram_problems, dmn_problems

pytestmark = pytest.mark.cold_warm

ANALYSIS = PROCESSES / "analysis"
BEIJING = timezone(timedelta(hours=8))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_files_are_complete_for_modelers_and_lint_clean():
    assert diagram_problems(ANALYSIS / "analysis.bpmn") == []
    assert dmn_problems(ANALYSIS / "analysis-settings.dmn") == []
    assert [str(p) for p in lint_paths([ANALYSIS])] == []


@pytest.fixture
def org(whistle) -> Org:
    return Org(whistle)


def report(org: Org, street: str, situation: str, location: str, community: str | None = None) -> int:
    data = {"street": street, "situation": situation, "location": location, "description": "居民反映的问题"}
    if community:
        data["community"] = community
    return org.w.start("whistle", user=org.person(f"grid-worker-{street}"), data=data)


def whistle_red(org: Org, case: int, street: str, reporting: list[str]) -> None:
    org.do(f"command-{street}", "指挥中心审核", {"decision": "whistle", "tier_override": "red"}, case)
    for dept in reporting:
        org.do(f"liaison-{dept}", "签收哨令", {"signed_by": "值班员"}, case)
        org.do(f"liaison-{dept}", "到场报到", {"acted": True, "action": "到场处置"}, case)


def a_month_of_cases(org: Org, manual_clock) -> dict:
    """September 2026 in 五大道 and 南市, with a case on either side of the month that must not count."""
    org.person("command-wudadao"), org.person("command-nanshi")
    manual_clock.set(datetime(2026, 8, 31, 23, 50, tzinfo=BEIJING))
    august = report(org, "wudadao", "building-repair-no-property", "睦南道7号", "sanshengli")
    manual_clock.set(datetime(2026, 9, 28, 17, 0, tzinfo=BEIJING))
    cases = {"august": august}
    # Three roofs in disrepair in the same community: a repeat. The fire brigade is late once and never comes once.
    cases["a"] = report(org, "wudadao", "building-repair-no-property", "睦南道1号", "sanshengli")
    whistle_red(org, cases["a"], "wudadao", ["housing"])
    cases["b"] = report(org, "wudadao", "building-repair-no-property", "睦南道3号", "sanshengli")
    whistle_red(org, cases["b"], "wudadao", ["housing"])
    manual_clock.advance(timedelta(minutes=31))
    org.w.fire_due_jobs()
    org.do("liaison-fire", "签收哨令", {"signed_by": "值班员"}, cases["a"])
    org.do("liaison-fire", "到场报到", {"acted": True, "action": "迟到后到场"}, cases["a"])
    cases["c"] = report(org, "wudadao", "building-repair-no-property", "重庆道5号", "sanshengli")
    org.do("command-wudadao", "指挥中心审核", {"decision": "self"}, cases["c"])
    org.do("command-wudadao", "街道自行处置", {"handling_result": "协调物业修复"}, cases["c"])
    # The same street lamp twice, at an address without a community: a repeat by address.
    cases["d"] = report(org, "wudadao", "street-lighting", "睦南道 12号")
    org.do("command-wudadao", "指挥中心审核", {"decision": "reject", "reject_reason": "已由供电公司报修"}, cases["d"])
    org.do("grid-worker-wudadao", "驳回告知", {}, cases["d"])
    cases["e"] = report(org, "wudadao", "street-lighting", "睦南道１２号")  # full-width digits: the same address
    cases["f"] = report(org, "nanshi", "garbage-dumping", "南市食品街")
    org.do("command-nanshi", "指挥中心审核", {"decision": "self"}, cases["f"])
    manual_clock.set(datetime(2026, 9, 30, 23, 59, tzinfo=BEIJING))
    cases["last"] = report(org, "nanshi", "garbage-dumping", "南市食品街")  # the last minute of September counts
    manual_clock.set(datetime(2026, 10, 1, 0, 1, tzinfo=BEIJING))
    cases["october"] = report(org, "wudadao", "street-lighting", "睦南道12号")  # October: not in September's analysis
    return cases


def test_the_first_of_the_month_analyses_the_month_before_for_each_street(org, manual_clock):
    jobs = sorted(at(j["due_at"]).astimezone(BEIJING) for j in org.w.jobs(include_scheduled=True)
                  if j["process_id"] == "analysis" and j["kind"] == "start")
    # Twelve yearly cycles: the 1st of every month at 09:00, from the next one after the deployment (28 September 2026).
    assert [(d.year, d.month, d.day, d.hour) for d in jobs] == [
        (2026, 10, 1, 9), (2026, 11, 1, 9), (2026, 12, 1, 9)] + [(2027, m, 1, 9) for m in range(1, 10)]
    cases = a_month_of_cases(org, manual_clock)

    manual_clock.set(datetime(2026, 10, 1, 9, 1, tzinfo=BEIJING))
    org.w.fire_due_jobs()
    [task] = org.open("command-wudadao", "分析研判")
    case = task["instance_id"]
    data = org.data(case)
    assert (data["year"], data["month"], data["period"]) == (2026, 9, "2026年9月")
    analysis = data["analysis"]
    assert analysis["cases"] == 7  # a–f and the last minute of September; not August, not October
    wudadao = analysis["streets"]["wudadao"]
    assert {k: wudadao[k] for k in ("cases", "whistles", "self_handled", "rejected", "open")} == {
        "cases": 5, "whistles": 2, "self_handled": 1, "rejected": 1, "open": 4}
    roofs, lamp = wudadao["repeats"]
    assert (roofs["situation"], roofs["place_kind"], roofs["place"], roofs["count"]) == (
        "building-repair-no-property", "community", "sanshengli", 3)
    assert roofs["cases"] == [cases["a"], cases["b"], cases["c"]]
    assert roofs["locations"] == ["睦南道1号", "睦南道3号", "重庆道5号"]
    assert (lamp["place_kind"], lamp["place"], lamp["count"], lamp["cases"]) == (
        "location", "睦南道12号", 2, [cases["d"], cases["e"]])
    assert lamp["locations"] == ["睦南道 12号", "睦南道１２号"]  # as the reports wrote them
    # Late or never, from the ledger: the fire brigade (late in a, never in b); the housing commission was on time.
    assert wudadao["late_departments"] == [
        {"department": "dept-fire", "calls": 2, "late": 1, "never": 1, "cases": [cases["a"], cases["b"]]}]
    nanshi = analysis["streets"]["nanshi"]
    assert (nanshi["cases"], nanshi["repeats"][0]["count"], nanshi["late_departments"]) == (2, 2, [])
    assert analysis["district"]["cases"] == 7 and len(analysis["district"]["repeats"]) == 3

    # Each street with cases reads its own part, due in five working days (the National Day holiday skipped).
    assert task["candidate_groups"] == ["street-wudadao-command"]
    assert at(task["due_at"]) == datetime(2026, 10, 13, 17, 30, tzinfo=BEIJING)
    summary = org.task_data(task)["street_summary"]
    assert "2026年9月 wudadao：上报 5 件，吹哨 2 件" in summary
    assert "sanshengli「" in summary and "3 次" in summary
    assert "dept-fire：逾期 1 次，未报到 1 次（共呼叫 2 次" in summary
    assert [t["candidate_groups"] for t in org.open("command-nanshi", "分析研判", case)] == [["street-nanshi-command"]]
    assert data["quiet_streets"] == []  # every street the accounts know had cases

    org.do("command-wudadao", "分析研判", {
        "conclusion": "三盛里社区无物业楼院屋顶失修反复出现，消防支队两次未按时到场。",
        "measures": "排查辖区无物业楼院，纳入老旧小区改造计划；约谈消防支队", "escalate": True,
        "escalate_reason": "屋顶修缮资金需区住建委统筹"}, case)
    manual_clock.set(datetime(2026, 10, 13, 17, 31, tzinfo=BEIJING))
    org.w.fire_due_jobs()  # 南市 never analysed
    shown = org.w.show(case)
    assert shown["status"] == "completed"
    record = shown["data"]["analysis_record"]
    streets = {s["street"]: s for s in record["streets"]}
    assert (streets["wudadao"]["status"], streets["wudadao"]["on_time"]) == ("已研判", True)
    assert streets["wudadao"]["repeats"][0]["count"] == 3
    assert streets["nanshi"]["status"] == "未研判" and record["not_analysed"] == ["nanshi"]
    assert record["escalations"] == [{"street": "wudadao", "reason": "屋顶修缮资金需区住建委统筹",
                                      "conclusion": "三盛里社区无物业楼院屋顶失修反复出现，消防支队两次未按时到场。"}]
    with org.w.db.read() as session:
        found = {o.party: o.state for o in ledger.obligations(session, clock.now(), instance_ids=[case])}
    assert found == {"street-wudadao-command": ledger.DONE_ON_TIME, "street-nanshi-command": ledger.OVERDUE}
    # And next October again.
    [job] = [j for j in org.w.jobs(include_scheduled=True) if j["element_id"] == "start_month_10"]
    assert at(job["due_at"]).astimezone(BEIJING) == datetime(2027, 10, 1, 9, 0, tzinfo=BEIJING)


def test_district_supervision_may_analyse_any_month_again(org, manual_clock):
    with pytest.raises(Forbidden):
        org.w.start("analysis", user=org.person("command-wudadao"), data={"year": 2026, "month": 9})
    cases = a_month_of_cases(org, manual_clock)
    case = org.w.start("analysis", user=org.person("supervisor"), data={"year": 2026, "month": 9})
    data = org.data(case)
    assert data["analysis"]["streets"]["wudadao"]["repeats"][0]["cases"] == [cases["a"], cases["b"], cases["c"]]
    assert sorted(t["name"] for t in org.w.show(case)["open_tasks"]) == ["分析研判", "分析研判"]
    # A month without cases: nothing to read, the record says so and the case closes at once.
    quiet = org.w.start("analysis", user="supervisor", data={"year": 2026, "month": 7})
    shown = org.w.show(quiet)
    assert shown["status"] == "completed" and shown["open_tasks"] == []
    record = shown["data"]["analysis_record"]
    assert record["cases"] == 0 and {s["status"] for s in record["streets"]} == {"本月无案件"}
