"""The designers' modeler through Flask's test client and the engine, on SQLite and PostgreSQL (issue 15): only
designers and administrators may open it, save drafts, validate or deploy; drafts are kept per designer and
offered again; validating runs the deploy checks and names the element of each problem; deploying makes the next
version and drops the draft; a draft based on a version older than the latest says so, and deploying it needs an
explicit confirmation."""
from __future__ import annotations

import json
import re

import pytest
from test_web_pages import PROCESSES, Site, text

from engine.errors import Conflict, DeploymentInvalid, Forbidden
from engine.queries import definitions

from test_readable_pages import assert_readable

REVIEW = PROCESSES.parent / "tests" / "fixtures" / "review.bpmn"


class Designer:
    """A signed-in person's calls to the modeler page's endpoints (JSON, with the session's CSRF token)."""

    def __init__(self, site: Site, username: str):
        self.client = site.client(username)

    def call(self, path: str, body: dict | None = None, *, token: bool = True):
        headers = {"X-CSRF-Token": self.client.token} if token else {}
        return self.client.http.post(f"/modeler/processes/{path}", json=body or {}, headers=headers)

    def get(self, path: str):
        return self.client.get(path)


@pytest.fixture
def site(whistle, tmp_path) -> Site:
    return Site(whistle, tmp_path, deploy=REVIEW)


def version_id(w, process_id: str, number: int) -> int:
    return definitions.version_ids(w.db)[(process_id, number)]


def review_xml(w) -> str:
    return w.modeler_open("designer", process_id="review")["xml"]


def config_of(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="modeler-config">(.*?)</script>', html, re.S)
    assert match, "the page carries its configuration"
    return json.loads(match.group(1))


def test_only_designers_and_admins_may_open_the_modeler_save_validate_or_deploy(site):
    w = site.w
    site.person("designer")
    xml = review_xml(w)
    v1 = version_id(w, "review", 1)
    for username in ("liaison-housing", "command-wudadao"):
        other = Designer(site, username)
        assert other.get("/modeler/processes/review").status_code == 403
        assert other.get(f"/modeler/versions/{v1}").status_code == 403
        assert other.get("/modeler/new?process_id=other").status_code == 403
        assert other.get("/modeler/processes/review/draft").status_code == 403
        assert other.call("review/draft", {"xml": xml, "base_version_id": v1}).status_code == 403
        assert other.call("review/validate", {"xml": xml}).status_code == 403
        assert other.call("review/deploy", {"xml": xml.replace("指挥中心审核", "改"), "base_version_id": v1}) \
            .status_code == 403
        with pytest.raises(Forbidden):  # the engine refuses them too, whatever the channel
            w.save_modeler_draft(username, "review", v1, xml)
        with pytest.raises(Forbidden):
            w.modeler_validate(username, "review", xml)
        with pytest.raises(Forbidden):
            w.modeler_deploy(username, "review", xml.replace("指挥中心审核", "改"), v1)
        with pytest.raises(Forbidden):
            w.modeler_open(username, process_id="review")
    assert [d["version"] for d in w.definitions() if d["process_id"] == "review"] == [1]  # nothing deployed
    assert w.modeler_drafts("designer") == []

    signed_out = site.app.test_client().get("/modeler/processes/review")
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]
    for username in ("designer", "admin"):
        page = Designer(site, username).get("/modeler/processes/review")
        assert page.status_code == 200, text(page)[:500]


def test_the_modeler_page_reads_well_and_the_definitions_page_links_to_it(site):
    designer = Designer(site, "designer")
    v1 = version_id(site.w, "review", 1)
    listing = text(designer.get("/definitions"))
    assert f'href="/modeler/versions/{v1}"' in listing and 'href="/modeler/new"' in listing
    page = designer.get(f"/modeler/versions/{v1}")
    html = text(page)
    assert page.status_code == 200
    assert "编辑流程：问题审核" in html and "基于版本 1" in html
    config = config_of(html)
    assert config["processId"] == "review" and config["base"] == {"version_id": v1, "version": 1}
    assert config["draft"] is None and "<bpmn:process id=\"review\"" in config["xml"]
    assert_readable(html, "zh", "the modeler page")
    assert_readable(text(designer.get("/modeler/new")), "zh", "the new-process page")
    english = text(designer.get(f"/modeler/versions/{v1}?lang=en"))
    assert "Edit process: 问题审核" in english and "based on version 1" in english
    assert config_of(english)["lang"] == "en" and config_of(english)["texts"]["valid"] == "No problems: ready to deploy"


def test_a_post_without_the_csrf_token_changes_nothing(site):
    designer = Designer(site, "designer")
    response = designer.call("review/draft", {"xml": review_xml(site.w)}, token=False)
    assert response.status_code == 400
    assert site.w.modeler_drafts("designer") == []


def test_drafts_are_saved_per_designer_and_offered_again(site):
    w = site.w
    site.person("admin")
    designer = Designer(site, "designer")
    v1 = version_id(w, "review", 1)
    edited = review_xml(w).replace("指挥中心审核", "指挥中心初审")
    saved = designer.call("review/draft", {"xml": edited, "base_version_id": v1})
    assert saved.status_code == 200, text(saved)
    assert saved.get_json()["stale"] is False and saved.get_json()["saved"]

    draft = designer.get("/modeler/processes/review/draft").get_json()["draft"]
    assert draft["xml"] == edited and draft["base"] == {"version_id": v1, "version": 1} and draft["stale"] is False
    offered = config_of(text(designer.get("/modeler/processes/review")))["draft"]  # the page offers it
    assert offered["xml"] == edited and offered["stale"] is False and offered["base"]["version"] == 1
    # a second save replaces the first; another designer has none of it
    designer.call("review/draft", {"xml": edited.replace("初审", "复审"), "base_version_id": v1})
    assert "指挥中心复审" in w.modeler_draft("designer", "review")["xml"]
    assert w.modeler_draft("admin", "review") is None
    assert [d["process_id"] for d in w.modeler_drafts("designer")] == ["review"]
    # a draft may be half drawn, but it must be text of a sane size and based on a version of this process
    assert designer.call("review/draft", {"xml": 42}).status_code == 422
    assert designer.call("review/draft", {"xml": edited, "base_version_id": 999}).status_code == 422
    assert designer.call("review/draft", {"xml": edited, "base_version_id": "x"}).status_code == 422
    assert designer.call("review/draft", {"xml": edited + "\x00"}).status_code == 422  # PostgreSQL text holds none
    assert designer.call(f"{'p' * 256}/draft", {"xml": edited}).status_code == 422
    assert designer.call("review/validate", {"xml": edited + "\x00"}).get_json()["ok"] is False

    assert designer.call("review/draft/discard").get_json() == {"discarded": True}
    assert w.modeler_draft("designer", "review") is None


def test_validate_names_the_element_of_each_problem_and_stores_nothing(site):
    designer = Designer(site, "designer")
    broken = review_xml(site.w).replace(' camunda:candidateGroups="command-centre"', "", 1)
    response = designer.call("review/validate", {"xml": broken})
    assert response.status_code == 200
    report = response.get_json()
    assert report["ok"] is False and report["errors"] >= 1
    [problem] = [p for p in report["problems"] if p["element_id"] == "review_task" and p["severity"] == "error"]
    assert problem["text"] == "任务没有派给任何人：设置候选组、候选用户或办理人"
    assert "[human-task-assignment]" in problem["detail"] and problem["line"]
    assert [d["version"] for d in site.w.definitions() if d["process_id"] == "review"] == [1]

    fine = designer.call("review/validate", {"xml": review_xml(site.w)}).get_json()
    assert fine["ok"] is True and fine["errors"] == 0
    not_xml = designer.call("review/validate", {"xml": "<bpmn:definitions"}).get_json()
    assert not_xml["ok"] is False and not_xml["problems"][0]["text"] == "不是可读取的 XML"
    renamed = designer.call("review/validate", {"xml": review_xml(site.w).replace('id="review"', 'id="other"')})
    assert any(p["text"] == "图中没有原来的流程 ID：把流程 ID 改回去" for p in renamed.get_json()["problems"])


def test_validate_resolves_called_decisions_against_what_is_deployed(whistle, tmp_path):
    site = Site(whistle, tmp_path)  # the whistle process and its decision tables
    xml = whistle.modeler_open(site.person("designer"), process_id="whistle")["xml"]
    report = Designer(site, "designer").call("whistle/validate", {"xml": xml}).get_json()
    assert report == {"ok": True, "errors": 0, "warnings": 0, "problems": []}


def test_deploy_makes_version_2_and_drops_the_draft(site):
    w = site.w
    designer = Designer(site, "designer")
    v1 = version_id(w, "review", 1)
    edited = review_xml(w).replace("指挥中心审核", "指挥中心初审")
    designer.call("review/draft", {"xml": edited, "base_version_id": v1})

    response = designer.call("review/deploy", {"xml": edited, "base_version_id": v1})
    assert response.status_code == 200, text(response)
    answer = response.get_json()
    assert answer["version"] == 2 and answer["status"] == "new" and answer["message"] == "已部署为版本 2"
    assert answer["version_id"] == version_id(w, "review", 2)
    [latest] = [d for d in w.definitions() if d["process_id"] == "review" and d["version"] == 2]
    assert latest["deployed_by"] == "designer" and latest["file"].endswith("review.bpmn")
    assert w.modeler_draft("designer", "review") is None
    assert w.modeler_open("designer", process_id="review")["base"]["version"] == 2

    # the same diagram again is the same version
    again = designer.call("review/deploy", {"xml": edited, "base_version_id": answer["version_id"]}).get_json()
    assert again["version"] == 2 and again["status"] == "unchanged"

    # a diagram that fails the checks deploys nothing and keeps the draft
    broken = edited.replace(' camunda:candidateGroups="command-centre"', "", 1)
    designer.call("review/draft", {"xml": broken, "base_version_id": answer["version_id"]})
    refused = designer.call("review/deploy", {"xml": broken, "base_version_id": answer["version_id"]})
    assert refused.status_code == 422
    assert any(p["element_id"] == "review_task" for p in refused.get_json()["problems"])
    assert max(d["version"] for d in w.definitions() if d["process_id"] == "review") == 2
    assert w.modeler_draft("designer", "review") is not None


def test_new_cases_run_the_deployed_version(site):
    w = site.w
    site.person("designer")
    running = w.start("review", data={"situation": "housing"})
    edited = review_xml(w).replace("指挥中心审核", "指挥中心初审")
    w.modeler_deploy("designer", "review", edited, version_id(w, "review", 1))
    new = w.start("review", data={"situation": "housing"})
    names = {t["instance_id"]: t["name"] for t in w.tasks()}
    assert names[running] == "指挥中心审核" and names[new] == "指挥中心初审"


def test_a_draft_based_on_an_older_version_says_so_and_deploys_only_when_confirmed(site):
    w = site.w
    site.person("admin")
    designer = Designer(site, "designer")
    v1 = version_id(w, "review", 1)
    mine = review_xml(w).replace("指挥中心审核", "指挥中心初审")
    assert designer.call("review/draft", {"xml": mine, "base_version_id": v1}).get_json()["stale"] is False

    # meanwhile an administrator deploys version 2 from version 1
    w.modeler_deploy("admin", "review", review_xml(w).replace("街道自行处置", "街道处置"), v1)

    draft = designer.get("/modeler/processes/review/draft").get_json()["draft"]
    assert draft["stale"] is True and draft["base"]["version"] == 1
    page = text(designer.get("/modeler/processes/review"))
    assert "基于版本 2" in page  # the page opens the latest, and offers the older draft saying so
    config = config_of(page)
    assert config["draft"]["stale"] is True and config["draft"]["base"]["version"] == 1
    assert config["latest"]["version"] == 2

    refused = designer.call("review/deploy", {"xml": mine, "base_version_id": v1})
    assert refused.status_code == 409
    assert refused.get_json()["error"] == "stale" and refused.get_json()["latest"]["version"] == 2
    assert max(d["version"] for d in w.definitions() if d["process_id"] == "review") == 2
    with pytest.raises(Conflict):
        w.modeler_deploy("designer", "review", mine, v1)

    confirmed = designer.call("review/deploy", {"xml": mine, "base_version_id": v1, "confirm_stale": True})
    assert confirmed.status_code == 200 and confirmed.get_json()["version"] == 3
    assert w.modeler_draft("designer", "review") is None


def test_a_new_process_starts_blank_and_its_first_deploy_is_version_1(site):
    w = site.w
    designer = Designer(site, "designer")
    assert "流程 ID" in text(designer.get("/modeler/new"))
    bad = designer.get("/modeler/new?process_id=1-bad")
    assert bad.status_code == 422 and "字母或下划线开头" in text(bad)
    existing = designer.get("/modeler/new?process_id=review")
    assert existing.status_code == 302 and existing.headers["Location"].endswith("/modeler/processes/review")
    blank = designer.get("/modeler/new?process_id=street_patrol&name=街道巡查")
    assert blank.status_code == 200 and "编辑流程：街道巡查" in text(blank)
    assert_readable(text(blank), "zh", "a new process in the modeler")

    xml = w.modeler_blank("designer", "street_patrol", "街道巡查")["xml"]
    report = designer.call("street_patrol/validate", {"xml": xml}).get_json()
    assert report["ok"] is False  # a lone start event goes nowhere
    assert any(p["element_id"] == "street_patrol_start" for p in report["problems"])
    with pytest.raises(DeploymentInvalid):
        w.modeler_deploy("designer", "street_patrol", xml, None)

    drawn = xml.replace('<bpmn:startEvent id="street_patrol_start" name="开始" />', """
    <bpmn:startEvent id="street_patrol_start" name="开始"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="patrol" name="巡查" camunda:candidateGroups="street-wudadao-command">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="done" name="完成"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="street_patrol_start" targetRef="patrol" />
    <bpmn:sequenceFlow id="f2" sourceRef="patrol" targetRef="done" />""")
    deployed = designer.call("street_patrol/deploy", {"xml": drawn, "base_version_id": None})
    assert deployed.status_code == 200, text(deployed)
    assert deployed.get_json()["version"] == 1
    [row] = [d for d in w.definitions() if d["process_id"] == "street_patrol"]
    assert row["name"] == "街道巡查" and row["file"] == "street_patrol.bpmn"
    # a second blank of the same id is now a stale base: someone deployed it
    refused = designer.call("street_patrol/deploy", {"xml": drawn.replace("巡查", "巡检"), "base_version_id": None})
    assert refused.status_code == 409
