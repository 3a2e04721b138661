"""Who may see what of a case (ADR 9, issue 14): a resident reads the problem, its progress and its result —
never the review notes, the late departments, supervision and accountability, timers or staff names — on the
case page and through the REST API alike; the street does not read the accountability notes; the district reads
everything. Run on SQLite and PostgreSQL through the engine, the pages and the API."""
from __future__ import annotations

import json
import re
from base64 import b64encode
from datetime import timedelta

import pytest

from engine.casework.audiences import audience_of
from engine.forms.checks import check_form
from webui import create_app
from webui.demo import DEMO_PASSWORD

from process_helpers import DEMO, PROCESSES
from test_processes_whistle import District
from test_readable_pages import visible_text

NAMES = {u["username"]: u["display_name"] for u in DEMO["users"]}


@pytest.fixture
def case(whistle, manual_clock) -> tuple[District, int]:
    return rated_red_whistle(whistle, manual_clock)


def rated_red_whistle(whistle, manual_clock) -> tuple[District, int]:
    """A red whistle where the fire brigade comes late, is supervised and held to account; the resident rates it."""
    district = District(whistle)
    whistle.import_users(PROCESSES / "demo-accounts.json")
    case = district.report("building-repair-no-property", resident="resident-a")
    district.review(case, decision="whistle", tier_override="red", review_note="指挥中心内部意见：先派住建")
    district.arrive("housing", case)
    manual_clock.advance(timedelta(minutes=31))
    district.w.fire_due_jobs()
    district.arrive("fire", case)
    district.do("liaison-housing", "牵头部门处置", {"handling_result": "屋顶已修复"}, case)
    district.do("command-wudadao", "街道核验", {"verification": "accepted"}, case)
    district.do("resident-a", "居民评价", {"satisfaction": 4}, case)
    district.do("supervisor", "区委督查室督办", {"supervision_note": "约谈支队负责人", "accountability": True,
                                              "accountability_reason": "红色哨令逾期未到场"}, case)
    return district, case


def page_as(app, username: str, url: str) -> str:
    http = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").get_data(as_text=True)).group(1)
    assert http.post("/login", data={"username": username, "password": DEMO_PASSWORD,
                                     "csrf_token": token}).status_code == 302
    response = http.get(url)
    assert response.status_code == 200, (username, url, response.status_code)
    return visible_text(response.get_data(as_text=True))


def api_as(app, username: str, url: str) -> dict:
    credentials = b64encode(f"{username}:{DEMO_PASSWORD}".encode()).decode()
    response = app.test_client().get(url, headers={"Authorization": f"Basic {credentials}"})
    assert response.status_code == 200, (username, url, response.get_data(as_text=True)[:300])
    return response.get_json()


def test_a_resident_reads_the_problem_the_progress_and_the_result_and_nothing_internal(case, tmp_path):
    district, instance = case
    app = create_app({"ENGINE": district.w, "TESTING": True, "ATTACHMENTS_DIR": str(tmp_path / "files")})
    resident = page_as(app, "resident-a", f"/cases/{instance}")
    for shown in ("居民反映的问题", "睦南道12号", "屋顶已修复", "案件办结", "完成「居民评价」"):
        assert shown in resident, shown
    for hidden in ("指挥中心内部意见", "约谈支队负责人", "红色哨令逾期未到场", "逾期未报到部门", "计时到期",
                   NAMES["command-wudadao"], NAMES["liaison-housing"], NAMES["supervisor"], NAMES["grid-worker-wudadao"]):
        assert hidden not in resident, hidden
    assert "工作人员" in resident  # who did a step: staff, not their names

    shown = api_as(app, "resident-a", f"/api/v1/instances/{instance}")
    assert shown["audience"] == "resident"
    assert {"description", "location", "handling_result", "satisfaction"} <= set(shown["data"])
    assert not {"review_note", "supervision_note", "accountability_reason", "overdue_departments", "reporter",
                "data_objects", "assessment"} & set(shown["data"])
    assert shown["timers"] == [] and shown["incidents"] == [] and shown["started_by"] is None
    events = api_as(app, "resident-a", f"/api/v1/instances/{instance}/history")["events"]
    assert {e["event"] for e in events} <= {"started", "task_completed", "finished"}
    assert {e["actor"] for e in events} <= {"staff", "resident-a", "system", "timer", None}
    assert "约谈支队负责人" not in json.dumps(events, ensure_ascii=False)


def test_staff_read_by_their_audience_and_the_district_reads_everything(case, tmp_path):
    district, instance = case
    app = create_app({"ENGINE": district.w, "TESTING": True, "ATTACHMENTS_DIR": str(tmp_path / "files")})
    street = page_as(app, "command-wudadao", f"/cases/{instance}")
    assert "指挥中心内部意见" in street and NAMES["liaison-housing"] in street
    assert "红色哨令逾期未到场" not in street  # accountability is for the departments and the district
    department = api_as(app, "liaison-fire", f"/api/v1/instances/{instance}")
    assert department["audience"] == "department" and department["data"]["accountability_reason"] == "红色哨令逾期未到场"
    supervisor = api_as(app, "supervisor", f"/api/v1/instances/{instance}")
    assert supervisor["audience"] == "district"
    assert supervisor["data"] == district.w.show(instance)["data"]  # nothing withheld from the district


@pytest.mark.parametrize("groups,started_by,expected", [
    (["admins"], None, "district"), (["org-dept"], None, "district"), (["dept-fire"], None, "department"),
    (["street-wudadao-command"], None, "street"), (["grid-wudadao"], "w", "street"), (["residents"], "w", "reporter"),
    (["residents"], "someone", "resident"), (["hotline-clients"], "w", "street"), ([], None, "street"),
])
def test_a_reader_belongs_to_the_highest_audience_their_groups_give(groups, started_by, expected):
    assert audience_of("w", groups, started_by) == expected


def test_deploy_refuses_an_unknown_audience_naming_the_entry():
    text = json.dumps({"key": "a", "title": "A", "fields": [],
                       "case_labels": {"note": {"label": "内部意见", "audience": "public"}}}, ensure_ascii=False)
    form, [problem] = check_form("a.form.json", text)
    assert form is None and problem.element_id == "note" and "unknown audience 'public'" in problem.message


@pytest.mark.parametrize("username,process_id,field,shown", [
    ("grid-worker-wudadao", "whistle", "street", "五大道街"),
    ("liaison-culture-tourism", "consultation", "department", "区文旅局"),
    ("party-nanshi", "consultation_proposal", "street", "南市街"),
])
def test_a_field_stating_the_actors_own_organisation_is_filled_and_locked(whistle, tmp_path, username, process_id,
                                                                          field, shown):
    whistle.deploy([PROCESSES])
    whistle.import_users(PROCESSES / "demo-accounts.json")
    app = create_app({"ENGINE": whistle, "TESTING": True, "ATTACHMENTS_DIR": str(tmp_path / "files")})
    http = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").get_data(as_text=True)).group(1)
    http.post("/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token})
    page = http.get(f"/start/{process_id}").get_data(as_text=True)
    wrap = re.search(rf'id="wrap-{field}".*?</div>', page, re.S).group(0)
    assert f'<input type="hidden" id="f-{field}" name="{field}"' in wrap and "<select" not in wrap
    assert shown in wrap and "按你的账号填写" in wrap
