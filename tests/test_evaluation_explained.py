"""The evaluation, explained (issue 18, part 3): the ranking with its parts and grades, per department the ledger's
cases and the streets' deductions with their reasons, the appeal; what-if with other weights, bands or a DMN draft,
which publishes nothing; the workbook. Every number is checked against a direct computation. SQLite and PostgreSQL."""
from __future__ import annotations

import json
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from cli.main import run
from engine.casework.evaluations import PARAMETERS, recompute
from engine.errors import Forbidden, InvalidInput
from webui import create_app
from webui.demo import DEMO_PASSWORD

from process_helpers import GROUPS_OF, PROCESSES, Org
from test_processes_evaluation import EVALUATION, never_reporting_case, run_whistle_case

DEPARTMENTS = ["dept-housing", "dept-fire", "dept-health"]
STREETS = ["wudadao", "nanshi"]


@pytest.fixture
def year(whistle, manual_clock):
    """Three whistle cases of 2026 — fire late in the first, on time in the second; health never comes to the
    third — then the evaluation: the streets score with reasons, fire appeals and is corrected, all final."""
    org = Org(whistle)
    whistle.import_users(PROCESSES / "demo-accounts.json")
    org.known.update(GROUPS_OF)
    run_whistle_case(org, manual_clock, "building-repair-no-property", 0, {"fire"})
    run_whistle_case(org, manual_clock, "building-repair-no-property", 1, set())
    never = never_reporting_case(org, manual_clock, 2)
    case = org.w.start("evaluation", user="org-officer", data={"year": 2026, "departments": DEPARTMENTS,
                                                                "streets": STREETS})
    org.do("command-wudadao", "街道为部门评分", {"scores": [
        {"department": "dept-housing", "score": 100}, {"department": "dept-fire", "score": 80, "reason": "很少到社区走访"},
        {"department": "dept-health", "score": 70, "reason": "独居老人案件未到场"}]}, case)
    org.do("command-nanshi", "街道为部门评分", {"scores": [
        {"department": "dept-housing", "score": 96, "reason": "节假日联系不上"}, {"department": "dept-fire", "score": 100},
        {"department": "dept-health", "score": 100}]}, case)
    org.do("org-officer", "组织部审核发布", {}, case)
    org.do("liaison-fire", "部门确认结果", {"appeal": True, "appeal_reason": "走访记录齐全"}, case)
    org.do("liaison-housing", "部门确认结果", {}, case)
    org.do("liaison-health", "部门确认结果", {}, case)
    org.do("org-officer", "组织部复核申诉", {"appeal_decision": "accepted", "appeal_reply": "核实属实",
                                          "revised_perceived": 95}, case)
    assert org.w.show(case)["status"] == "completed"
    cases = [t for t in org.w.show(case)["data"]["figures"]["departments"]["dept-fire"]["cases"]["records"]]
    return org, case, sorted(cases), never


def direct_completion(on_time: int, acted: int, returned: int, records: int) -> float:
    return round(100 * (0.5 * on_time + 0.3 * acted + 0.2 * (records - returned)) / records, 2)


def test_the_ranking_and_why_each_score_equal_a_direct_computation(year):
    org, case, fire_cases, never = year
    found = org.w.evaluation_explained("supervisor", 2026)
    assert (found["instance_id"], found["stage"], found["weights"]) == (
        case, "final", {"w_completion": 0.5, "w_satisfaction": 0.2, "w_perceived": 0.3})
    rows = {r["department"]: r for r in found["ranking"]}
    # Fire: 2 cases, late in one, acted in both, none returned; the ratings 5 and 5.
    assert rows["dept-fire"]["completion"] == direct_completion(1, 2, 0, 2) == 75.0
    assert rows["dept-housing"]["completion"] == direct_completion(2, 2, 0, 2) == 100.0
    assert rows["dept-health"]["completion"] == direct_completion(0, 0, 0, 1) == 20.0
    assert rows["dept-fire"]["satisfaction"] == rows["dept-housing"]["satisfaction"] == 100.0
    assert rows["dept-housing"]["perceived"] == (100 + 96) / 2 and rows["dept-health"]["perceived"] == (70 + 100) / 2
    assert rows["dept-fire"]["perceived"] == 95.0 and rows["dept-fire"]["appeal"] == "申诉成立"  # corrected on appeal
    for department, row in rows.items():
        parts = [(0.5, row["completion"]), (0.2, row["satisfaction"]), (0.3, row["perceived"])]
        weight = sum(w for w, v in parts if v is not None)
        assert row["total"] == round(sum(w * v for w, v in parts if v is not None) / weight, 2), department
    assert [r["department"] for r in sorted(found["ranking"], key=lambda r: r["rank"])] == \
        sorted(rows, key=lambda d: -rows[d]["total"])
    published = {r["department"]: r for r in org.w.show(case)["data"]["evaluation_record"]["results"]}
    assert {d: (r["total"], r["rank"], r["grade"]) for d, r in rows.items()} == \
        {d: (r["total"], r["rank"], r["grade"]) for d, r in published.items()}

    fire = found["departments"]["dept-fire"]
    late_case = fire_cases[0]  # the first case: fire came after the deadline
    assert (fire["records"], fire["late"], fire["on_time"], fire["never"]) == (2, [late_case], [fire_cases[1]], [])
    assert fire["deductions"] == [{"street": "wudadao", "score": 80.0, "reason": "很少到社区走访", "deducted": 20.0}]
    assert (fire["appeal"]["status"], fire["appeal"]["reason"], fire["appeal"]["reply"]) == ("申诉成立", "走访记录齐全",
                                                                                          "核实属实")
    health = found["departments"]["dept-health"]
    assert health["never"] == [never] and health["on_time"] == [] and health["appeal"]["status"] == "无异议"
    with org.w.db.read() as session:  # the ledger itself: health's on-site obligation of that case, never closed
        events = [e for (e,) in session.execute(text(
            "SELECT event FROM ledger_entry WHERE instance_id = :i AND party = 'dept-health' AND kind = 'on_site'"),
            {"i": never})]
    assert events == ["assigned"]

    # With the deployed parameters the recomputation gives the published ranking exactly.
    data = org.w.show(case)["data"]
    again = {r["department"]: r for r in recompute(data, {k: data[k] for k in PARAMETERS})}
    assert {d: (r["total"], r["rank"], r["grade"]) for d, r in again.items()} == \
        {d: (r["total"], r["rank"], r["grade"]) for d, r in published.items()}


def test_a_department_reads_only_its_own_row(year):
    org, _case, _fire_cases, _never = year
    mine = org.w.evaluation_explained("liaison-fire", 2026)
    assert [r["department"] for r in mine["ranking"]] == ["dept-fire"] and list(mine["departments"]) == ["dept-fire"]
    with pytest.raises(Forbidden):
        org.w.evaluation_explained("grid-worker-wudadao", 2026)
    with pytest.raises(Forbidden):
        org.w.evaluation_whatif("liaison-fire", 2026, weights={"w_completion": 1, "w_satisfaction": 0, "w_perceived": 0})


def table_counts(org) -> dict:
    with org.w.db.read() as session:
        names = ("audit_event", "process_instance", "human_task", "ledger_entry", "timer_job")
        counts = {n: session.execute(text(f"SELECT COUNT(*) FROM {n}")).scalar() for n in names}
        counts["revisions"] = session.execute(text("SELECT SUM(revision) FROM process_instance")).scalar()
    return counts


def test_whatif_moves_departments_as_the_weights_say_and_publishes_nothing(year, db_url, capsys, tmp_path):
    org, case, _fire_cases, _never = year
    before_data, before_counts = org.w.show(case)["data"], table_counts(org)
    # Only completion counts: health (never came) stays last, housing first; fire between.
    result = org.w.evaluation_whatif("org-officer", 2026, weights={"w_completion": 1, "w_satisfaction": 0,
                                                                    "w_perceived": 0})
    rows = {r["department"]: r for r in result["rows"]}
    assert {d: r["total_after"] for d, r in rows.items()} == {"dept-housing": 100.0, "dept-fire": 75.0,
                                                              "dept-health": 20.0}
    # Bands 1/3 each: one department per grade.
    result = org.w.evaluation_whatif("supervisor", 2026, weights={"band_excellent": 0.34, "band_good": 0.33,
                                                                   "band_average": 0.33})
    rows = {r["department"]: r for r in result["rows"]}
    assert sorted(r["grade_after"] for r in rows.values()) == sorted(["优秀", "良好", "一般"])
    assert result["moved"] == [d for d, r in rows.items() if (r["rank_before"], r["grade_before"]) !=
                               (r["rank_after"], r["grade_after"])] and result["moved"]
    assert result["published"] is False
    # The same draft as a DMN file: the same answer, through the command line.
    draft = (EVALUATION / "evaluation-weights.dmn").read_text(encoding="utf-8")
    for output, value in (("excellent", "0.34"), ("good", "0.33"), ("average", "0.33")):
        draft, replaced = re.subn(rf'(id="evaluation_weights_heping_{output}"><text>)[^<]*', rf"\g<1>{value}", draft)
        assert replaced == 1
    path = tmp_path / "evaluation-weights.dmn"
    path.write_text(draft, encoding="utf-8")
    capsys.readouterr()
    assert run(["evaluation", "whatif", "--year", "2026", "--dmn", str(path), "--db", db_url, "--json"]) == 0
    cli_rows = {r["department"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert cli_rows == rows
    with pytest.raises(InvalidInput, match="must add up to 1"):
        org.w.evaluation_whatif(None, 2026, weights={"w_completion": 0.9})
    # Nothing was written: no row, no audit event, no case changed.
    assert table_counts(org) == before_counts and org.w.show(case)["data"] == before_data


def test_the_evaluation_workbook(year, db_url, tmp_path):
    org, _case, _fire_cases, _never = year
    out = tmp_path / "evaluation.xlsx"
    assert run(["report", "evaluation", "--year", "2026", "--format", "xlsx", "--out", str(out), "--db", db_url]) == 0
    book = load_workbook(out)
    assert book.sheetnames == ["排名", "部门明细", "扣分"]
    found = org.w.evaluation_explained(None, 2026)
    ranking = list(book["排名"].iter_rows(values_only=True))
    assert ranking[0][:3] == ("名次", "部门", "事项完成度")
    assert sorted(ranking[1:]) == sorted((r["rank"], r["department"], r["completion"], r["satisfaction"],
                                          r["perceived"], r["total"], r["grade"], r["appeal"]) for r in found["ranking"])
    deductions = list(book["扣分"].iter_rows(values_only=True))[1:]
    assert ("dept-fire", "wudadao", 80, 20, "很少到社区走访") in deductions and len(deductions) == 3


def test_the_page_as_a_supervisor_and_as_a_department(year, tmp_path):
    org, _case, _fire_cases, _never = year
    app = create_app({"ENGINE": org.w, "TESTING": True, "ATTACHMENTS_DIR": str(tmp_path / "files")})

    def page(username: str) -> str:
        http = app.test_client()
        token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").get_data(as_text=True)).group(1)
        assert http.post("/login", data={"username": username, "password": DEMO_PASSWORD,
                                         "csrf_token": token}).status_code == 302
        response = http.get("/evaluation?year=2026")
        assert response.status_code == 200, response.status_code
        return response.get_data(as_text=True)

    supervisor = page("supervisor")
    for shown in ("考核结果", "dept-fire", "dept-housing", "dept-health", "很少到社区走访", "申诉成立", "假如"):
        assert shown in supervisor, shown
    department = page("liaison-fire")
    assert "很少到社区走访" in department and "独居老人案件未到场" not in department and "假如" not in department
