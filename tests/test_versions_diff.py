"""Versions and their differences (issue 15, items 3 and 4), on SQLite and PostgreSQL.

A small permit process (tests/fixtures/versions) is deployed as version 1 and again, changed, as version 2: its
review task renamed, its reminder timer moved from two hours to four, a task added after the fee (the flow into
the end event rerouted through it), one cell of its fee table changed and a field of its form relabelled, made
required and joined by another. The diff — in the engine, on the command line and on the designers' page —
lists exactly those; the versions page lists who deployed each version, when, its hash, warnings and cases;
the downloads are the deployed bytes; only designers and administrators see any of it. One browser check: the
diff page colours the changed elements on both diagrams.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree
from lxml import html as lxml_html
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from engine.deploy.diff import diff_bpmn, diff_dmn, diff_form
from engine.errors import NotFound
from webui import create_app

from test_readable_pages import assert_readable

PROJECT = Path(__file__).parent.parent
VERSIONS = Path(__file__).parent / "fixtures" / "versions"
CHROMIUM = os.environ.get("WHISTLE_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "s3cret-pw"
OWN = "permit.bpmn"


def deploy_both(w) -> None:
    w.deploy([VERSIONS / "v1"], actor="dina")
    w.deploy([VERSIONS / "v2"], actor="dina")


def stored_name(version: str, name: str) -> str:
    return str(VERSIONS / version / name)


# -- the engine ------------------------------------------------------------------------------------------------

def test_the_diff_lists_exactly_the_renamed_task_the_changed_timer_and_the_added_task(whistle):
    deploy_both(whistle)
    diff = whistle.diff("permit", 1, 2, None)
    own = stored_name("v2", OWN)
    assert (diff["from"]["version"], diff["to"]["version"]) == (1, 2)
    assert diff["added"] == [
        {"id": "f_notify", "type": "sequenceFlow", "name": None, "file": own},
        {"id": "notify", "type": "userTask", "name": "告知申请人", "file": own}]
    assert diff["removed"] == []
    assert diff["changed"] == [
        {"id": "review", "type": "userTask", "name": "窗口受理审核", "file": own,
         "changes": {"name": ["窗口审核", "窗口受理审核"]}},
        {"id": "review_late", "type": "boundaryEvent", "name": "审核超时", "file": own,
         "changes": {"timer": ['"PT2H"', '"PT4H"']}}]
    assert diff["flows"] == [{"id": "f3", "type": "sequenceFlow", "name": None, "file": own,
                              "source": ["fee", "fee"], "target": ["end", "notify"]}]
    assert [(f["file"], f["status"]) for f in diff["files"]] == [
        (stored_name("v2", "forms/permit-review.form.json"), "changed"), (own, "changed"),
        (stored_name("v2", "permit_fee.dmn"), "changed")]
    assert whistle.diff("permit", 1, 2, None) == diff  # stable
    backwards = whistle.diff("permit", 2, 1, None)
    assert [e["id"] for e in backwards["removed"]] == ["f_notify", "notify"] and backwards["added"] == []
    assert backwards["changed"][0]["changes"] == {"name": ["窗口受理审核", "窗口审核"]}


def test_a_decision_table_changes_cell_by_cell(whistle):
    deploy_both(whistle)
    expected = [{"id": "Rule_large", "index": 2, "old_index": 2, "cells": [
        {"column": "Output_fee", "label": "费用", "kind": "output", "old": '"100"', "new": '"120"'}]}]
    [in_process] = whistle.diff("permit", 1, 2, None)["decisions"]
    assert in_process["rules"] == {"added": [], "removed": [], "changed": expected}
    assert in_process["changes"] == {} and in_process["columns"] == {"added": [], "removed": [], "changed": []}
    [own] = whistle.diff("permit_fee", 1, 2, None)["decisions"]  # the decision's own versions
    assert own["id"] == "permit_fee" and own["rules"]["changed"] == expected


def test_a_form_field_relabelled_made_required_and_one_added(whistle):
    deploy_both(whistle)
    [form] = whistle.diff("permit", 1, 2, None)["forms"]
    assert (form["key"], form["status"], form["changes"]) == ("permit-review", "changed", {})
    assert form["fields"] == {
        "added": [{"name": "fee_note", "label": "收费说明", "type": "text"}], "removed": [],
        "changed": [{"name": "comment", "label": "审核意见", "type": "textarea",
                     "changes": {"label": ["意见", "审核意见"], "required": [None, True]}}]}


def test_each_version_lists_who_deployed_it_when_its_hash_warnings_and_cases(whistle, manual_clock):
    whistle.deploy([VERSIONS / "v1"], actor="dina")
    first_at = manual_clock.now()
    whistle.add_user("pat", ["permits"], password=PASSWORD)
    done = whistle.start("permit", data={"area": 80})
    whistle.start("permit", data={"area": 120})
    [task] = [t for t in whistle.tasks(user="pat") if t["instance_id"] == done]
    whistle.complete(task["task_id"], "pat", {"decision": "approve", "comment": "同意"})
    manual_clock.advance(timedelta(hours=1))
    whistle.deploy([VERSIONS / "v2"], actor="erin")
    history = whistle.versions_of("permit", None)
    assert (history["process_id"], history["kind"], history["name"]) == ("permit", "process", "占道许可")
    newest, oldest = history["versions"]
    assert (newest["version"], newest["deployed_by"], newest["running"], newest["finished"]) == (2, "erin", 0, 0)
    assert (oldest["version"], oldest["deployed_by"], oldest["running"], oldest["finished"]) == (1, "dina", 1, 1)
    assert oldest["deployed_at"] == first_at.isoformat() and newest["deployed_at"] > oldest["deployed_at"]
    listed = {d["version"]: d for d in whistle.definitions() if d["process_id"] == "permit"}
    assert [oldest["content_hash"], newest["content_hash"]] == [listed[1]["content_hash"], listed[2]["content_hash"]]
    assert oldest["content_hash"] != newest["content_hash"]
    assert [(w["element_id"], w["severity"]) for w in oldest["warnings"]] == [("end_reminded", "warning")]
    assert [f["file"] for f in oldest["files"]] == [
        stored_name("v1", n) for n in ("forms/permit-review.form.json", "permit.bpmn", "permit_fee.dmn")]
    assert whistle.versions_of("permit_fee", None)["kind"] == "decision"


def test_a_versions_files_are_the_deployed_bytes_one_by_one_and_as_a_zip(whistle):
    deploy_both(whistle)
    names = ["forms/permit-review.form.json", "permit.bpmn", "permit_fee.dmn"]
    for name in names:
        deployed = (VERSIONS / "v1" / name).read_bytes()
        assert whistle.version_file("permit", 1, stored_name("v1", name), None).encode("utf-8") == deployed
    file_name, content = whistle.version_archive("permit", 1, None)
    assert file_name == "permit-v1.zip"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert sorted(archive.namelist()) == names  # relative to the folder deployed: deployable again as one
        for name in names:
            assert archive.read(name) == (VERSIONS / "v1" / name).read_bytes()
    assert whistle.version_archive("permit", 1, None)[1] == content  # the same version, the same zip


def test_an_unknown_process_version_or_file_is_named_with_what_exists(whistle):
    deploy_both(whistle)
    with pytest.raises(NotFound, match=r"no process or decision 'nope' is deployed; deployed: permit, permit_fee"):
        whistle.diff("nope", 1, 2, None)
    with pytest.raises(NotFound, match=r"permit has no version 7; its versions: 1, 2"):
        whistle.diff("permit", 1, 7, None)
    with pytest.raises(NotFound, match=r"has no file 'x.bpmn'; its files: .*permit.bpmn"):
        whistle.version_file("permit", 1, "x.bpmn", None)


# -- the pure functions: what is not a change ------------------------------------------------------------------

def _tree(text: str):
    return etree.fromstring(text.encode("utf-8"))


def test_layout_attribute_order_and_modeler_spellings_are_not_changes():
    v1 = (VERSIONS / "v1" / OWN).read_text(encoding="utf-8")
    moved = v1.replace('<dc:Bounds x="360" y="78"', '<dc:Bounds x="380" y="98"')  # the fee task moved
    moved = moved.replace('camunda:candidateGroups="permits" camunda:formKey="permit-review"',
                          'camunda:formKey="permit-review" camunda:candidateGroups="permits"')
    moved = moved.replace('camunda:decisionRef="permit_fee"', 'camunda:decisionRef="permit_fee" ')
    assert moved != v1
    assert diff_bpmn(_tree(v1), _tree(moved), OWN) == {"added": [], "removed": [], "changed": [], "flows": []}
    zeebe = v1.replace('camunda:candidateGroups="permits" camunda:formKey="permit-review">',
                       'camunda:formKey="permit-review">\n      <bpmn:extensionElements><zeebe:assignmentDefinition '
                       'candidateGroups="permits" /></bpmn:extensionElements>').replace(
        'xmlns:camunda=', 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" xmlns:camunda=')
    assert diff_bpmn(_tree(v1), _tree(zeebe), OWN)["changed"] == []


def test_the_properties_whistle_reads_are_compared():
    v1 = (VERSIONS / "v1" / OWN).read_text(encoding="utf-8")
    changed = (v1.replace('camunda:candidateGroups="permits" camunda:formKey="permit-review"',
                          'camunda:candidateGroups="permits, street" camunda:formKey="permit-check" '
                          'camunda:dueDate="${deadline}"')
               .replace('camunda:decisionRef="permit_fee"', 'camunda:decisionRef="permit_fee_2024"')
               .replace('cancelActivity="false"', 'cancelActivity="true"')
               .replace('<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="fee" />',
                        '<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="fee">'
                        '<bpmn:documentation>审核通过后核定</bpmn:documentation></bpmn:sequenceFlow>'))
    found = {e["id"]: e["changes"] for e in diff_bpmn(_tree(v1), _tree(changed), OWN)["changed"]}
    assert found == {
        "review": {"candidate_groups": ["permits", "permits, street"], "form_key": ["permit-review", "permit-check"],
                   "due_date": [None, "${deadline}"]},
        "fee": {"called_decision": ["permit_fee", "permit_fee_2024"]},
        "review_late": {"interrupting": [False, True]},
        "f2": {"documentation": [None, "审核通过后核定"]}}


def test_rules_added_removed_and_annotated():
    v1 = (VERSIONS / "v1" / "permit_fee.dmn").read_text(encoding="utf-8")
    changed = v1.replace('<rule id="Rule_small">', '<rule id="Rule_tiny">\n        <inputEntry id="t1"><text>&lt;= 10'
                                                   '</text></inputEntry>\n        <outputEntry id="t2"><text>"0"</text>'
                                                   '</outputEntry>\n      </rule>\n      <rule id="Rule_small">')
    changed = changed.replace('<outputEntry id="LiteralExpression_large"><text>"100"</text></outputEntry>',
                              '<outputEntry id="LiteralExpression_large"><text>"100"</text></outputEntry>'
                              '<annotationEntry><text>大面积</text></annotationEntry>')
    changed = re.sub(r'<rule id="Rule_small">.*?</rule>', "", changed, flags=re.S)
    [decision] = diff_dmn(_tree(v1), _tree(changed), "permit_fee.dmn")
    assert decision["rules"]["added"] == [{"id": "Rule_tiny", "index": 1, "cells": [
        {"column": "Input_area", "label": "面积", "kind": "input", "value": "<= 10"},
        {"column": "Output_fee", "label": "费用", "kind": "output", "value": '"0"'}]}]
    assert [r["id"] for r in decision["rules"]["removed"]] == ["Rule_small"]
    assert decision["rules"]["changed"] == [{"id": "Rule_large", "index": 2, "old_index": 2, "cells": [
        {"column": "annotation", "label": None, "kind": "annotation", "old": None, "new": "大面积"}]}]
    assert diff_dmn(_tree(v1), _tree(v1), "permit_fee.dmn") == []


def test_form_options_and_form_js_spellings():
    old = {"title": "审核", "fields": [{"name": "decision", "label": "结论", "type": "radio",
                                      "options": [{"value": "ok", "label": "同意"}]}]}
    form_js = {"title": "审核", "fields": [{"key": "decision", "label": "结论", "type": "radio",
                                          "values": [{"value": "ok", "label": "同意"}]}]}
    assert diff_form(old, form_js, "forms/review.form.json") is None  # the same form in form-js's spelling
    more = {"title": "审核（新）", "fields": [{"name": "decision", "label": "结论", "type": "radio",
                                           "options": [{"value": "ok", "label": "同意"}, {"value": "no", "label": "不同意"}]}]}
    found = diff_form(old, more, "forms/review.form.json")
    assert found["changes"] == {"title": ["审核", "审核（新）"]}
    assert found["fields"]["changed"] == [{"name": "decision", "label": "结论", "type": "radio",
                                           "changes": {"options": ["ok=同意", "ok=同意; no=不同意"]}}]


# -- the command line ------------------------------------------------------------------------------------------

def whistle_cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "cli", "--db", db_url, *args], capture_output=True, text=True,
                            cwd=PROJECT, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_whistle_diff_prints_tables_or_json(whistle, db_url):
    deploy_both(whistle)
    text = whistle_cli(db_url, "diff", "permit", "1", "2")
    assert text.returncode == 0, text.stderr
    lines = [" ".join(line.split()) for line in text.stdout.splitlines()]
    assert lines[0] == "permit: version 1 -> 2"
    assert "notify userTask 告知申请人" in lines and "f_notify sequenceFlow" in lines
    assert "review userTask 窗口受理审核 name 窗口审核 窗口受理审核" in lines
    assert 'review_late boundaryEvent 审核超时 timer "PT2H" "PT4H"' in lines
    assert "f3 fee -> end fee -> notify" in lines
    assert 'permit_fee 2 (Rule_large) 费用 "100" "120"' in lines
    assert "permit-review comment required - true" in lines
    as_json = whistle_cli(db_url, "diff", "permit", "1", "2", "--json")
    assert as_json.returncode == 0
    found = json.loads(as_json.stdout)
    assert [e["id"] for e in found["added"]] == ["f_notify", "notify"] and found["removed"] == []
    assert {e["id"]: e["changes"] for e in found["changed"]} == {
        "review": {"name": ["窗口审核", "窗口受理审核"]}, "review_late": {"timer": ['"PT2H"', '"PT4H"']}}
    assert all({"id", "type", "name"} <= set(e) for e in found["added"] + found["changed"])
    same = whistle_cli(db_url, "diff", "permit", "2", "2")
    assert same.returncode == 0 and same.stdout.splitlines()[-1] == "no differences"


def test_whistle_diff_names_what_exists_for_an_unknown_process_or_version(whistle, db_url):
    deploy_both(whistle)
    unknown = whistle_cli(db_url, "diff", "nope", "1", "2")
    assert unknown.returncode == 4 and "deployed: permit, permit_fee" in unknown.stderr
    missing = whistle_cli(db_url, "diff", "permit", "1", "3", "--json")
    assert missing.returncode == 4 and "its versions: 1, 2" in missing.stderr
    assert json.loads(missing.stdout)["error"] == "not_found"


# -- the pages -------------------------------------------------------------------------------------------------

class Browser:
    """A signed-in person's session through Flask's test client."""

    def __init__(self, app, username: str | None) -> None:
        self.http = app.test_client()
        if username:
            page = self.http.get("/login").get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            response = self.http.post("/login", data={"username": username, "password": PASSWORD,
                                                      "csrf_token": token})
            assert response.status_code == 302

    def get(self, url: str):
        return self.http.get(url)


@pytest.fixture
def site(whistle, tmp_path):
    deploy_both(whistle)
    whistle.add_user("dina", ["designers"], password=PASSWORD, display_name="丁设计")
    whistle.add_user("root", ["admins"], password=PASSWORD, display_name="管理员")
    whistle.add_user("pat", ["permits"], password=PASSWORD, display_name="窗口人员")
    whistle.start("permit", version=1, data={"area": 80})
    return create_app({"ENGINE": whistle, "TESTING": True, "ATTACHMENTS_DIR": str(tmp_path / "attachments")})


def test_the_versions_page_lists_each_version_with_its_facts_and_downloads(site, whistle):
    designer = Browser(site, "dina")
    page = designer.get("/definitions/permit/versions")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert_readable(html, "zh", "versions page")
    history = whistle.versions_of("permit", None)
    for version in history["versions"]:
        card = re.search(rf'<li class="card version" id="v{version["version"]}">(.*?)</li>\s*(?=<li class="card|</ol>)',
                         html, re.S).group(1)
        assert f'{version["content_hash"][:12]}' in card and "丁设计" in card
        assert ("运行中 1 件" if version["version"] == 1 else "运行中 0 件") in card
        assert "缺少名称" in card and "end_reminded" in card  # the lint warning the deployment stored
        assert f'/definitions/permit/versions/{version["version"]}.zip' in card
    assert "/definitions/permit/diff?from=1&amp;to=2" in html
    definitions = designer.get("/definitions").get_data(as_text=True)
    assert "/definitions/permit/versions#v2" in definitions and "/definitions/permit/diff?from=1&amp;to=2" in definitions


def test_downloads_are_the_deployed_bytes(site):
    designer = Browser(site, "dina")
    for name in ("permit.bpmn", "permit_fee.dmn", "forms/permit-review.form.json"):
        response = designer.get(f"/definitions/permit/versions/1/source?file={stored_name('v1', name)}")
        assert response.status_code == 200
        assert response.data == (VERSIONS / "v1" / name).read_bytes()
        assert response.headers["Content-Disposition"].startswith("attachment")
    archive = designer.get("/definitions/permit/versions/2.zip")
    assert archive.status_code == 200 and archive.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        assert {n: zipped.read(n) for n in zipped.namelist()} == {
            n: (VERSIONS / "v2" / n).read_bytes() for n in ("forms/permit-review.form.json", "permit.bpmn",
                                                             "permit_fee.dmn")}
    assert designer.get("/definitions/permit/versions/1/source?file=nope.bpmn").status_code == 404
    assert designer.get("/definitions/permit/versions/9.zip").status_code == 404


def html_text(fragment: str) -> str:
    return lxml_html.fromstring(f"<div>{fragment}</div>").text_content()


def test_the_diff_page_shows_the_changes_as_tables_and_marks_for_the_diagrams(site):
    designer = Browser(site, "dina")
    response = designer.get("/definitions/permit/diff?from=1&to=2")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert_readable(html, "zh", "diff page")
    rows = re.findall(r'<tr class="row-(\w+)" data-element="([^"]+)">(.*?)</tr>', html, re.S)
    cells = {(status, element): " ".join(html_text(body).split()) for status, element, body in rows}
    assert set(cells) == {("added", "f_notify"), ("added", "notify"), ("changed", "review"),
                          ("changed", "review_late")}
    assert cells[("changed", "review")] == "修改 窗口受理审核 review 用户任务 名称 窗口审核 窗口受理审核"
    assert cells[("changed", "review_late")] == '修改 审核超时 review_late 边界事件 计时 "PT2H" "PT4H"'
    assert "连线改接" in html and "费用" in html and "审核意见" in html and "收费说明" in html
    data = json.loads(re.search(r'<script type="application/json" id="diff-data">(.*?)</script>', html, re.S)
                      .group(1))
    assert data["old"]["marks"] == {"removed": [], "changed": ["review", "review_late", "f3"]}
    assert data["new"]["marks"] == {"added": ["f_notify", "notify"], "changed": ["review", "review_late", "f3"]}
    assert data["old"]["xml"] == (VERSIONS / "v1" / OWN).read_text(encoding="utf-8")
    english = designer.get("/definitions/permit/diff?from=1&to=2&lang=en").get_data(as_text=True)
    assert "Timer" in english and "Boundary event" in english
    assert designer.get("/definitions/permit/diff?from=1&to=5").status_code == 404
    assert designer.get("/definitions/permit/diff?from=one").status_code == 400


def test_only_designers_and_administrators_see_versions_and_sources(site):
    urls = ["/definitions/permit/versions", "/definitions/permit/diff",
            f"/definitions/permit/versions/1/source?file={stored_name('v1', OWN)}", "/definitions/permit/versions/1.zip"]
    clerk, nobody, admin = Browser(site, "pat"), Browser(site, None), Browser(site, "root")
    for url in urls:
        refused = clerk.get(url)
        assert refused.status_code == 403 and b"<bpmn:" not in refused.data and b"PK" not in refused.data[:2], url
        assert nobody.get(url).status_code == 302, url
        assert admin.get(url).status_code == 200, url


# -- in a browser ----------------------------------------------------------------------------------------------

@pytest.fixture
def sqlite_only_url(request, tmp_path) -> str:
    path = tmp_path / "whistle.sqlite"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


def test_the_diff_page_colours_the_changed_elements_in_chromium(request, tmp_path, manual_clock):
    from engine.api import Whistle

    engine = Whistle(request.getfixturevalue("sqlite_only_url"))  # what a page draws does not depend on the database
    try:
        deploy_both(engine)
        engine.add_user("dina", ["designers"], password=PASSWORD, display_name="丁设计")
        app = create_app({"ENGINE": engine, "TESTING": True, "ATTACHMENTS_DIR": str(tmp_path / "attachments")})
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            with sync_playwright() as p:
                chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                for viewport in ({"width": 1280, "height": 860}, {"width": 390, "height": 844}):
                    page = chromium.new_context(viewport=viewport, locale="zh-CN").new_page()
                    page.goto(f"{base}/login")
                    page.get_by_label("用户名").fill("dina")
                    page.get_by_label("密码").fill(PASSWORD)
                    page.get_by_role("button", name="登录").click()
                    page.wait_for_url(re.compile(r".*/inbox.*"))
                    page.goto(f"{base}/definitions/permit/versions")
                    page.get_by_role("link", name="与上一版本比较").click()
                    page.wait_for_selector('#diagram-old[data-ready="true"]')
                    page.wait_for_selector('#diagram-new[data-ready="true"]')
                    assert_readable(page.content(), "zh", f"diff page in chromium {viewport}")

                    def marked(side: str, element: str, page=page) -> list[str]:
                        return page.eval_on_selector(f'#diagram-{side} [data-element-id="{element}"]',
                                                     "e => [...e.classList].filter(c => c.startsWith('diff-'))")

                    def stroke(side: str, element: str, page=page) -> str:
                        return page.eval_on_selector(
                            f'#diagram-{side} [data-element-id="{element}"] .djs-visual > :first-child',
                            "e => getComputedStyle(e).stroke")

                    assert marked("new", "review") == ["diff-changed"] and marked("old", "review") == ["diff-changed"]
                    assert marked("new", "review_late") == ["diff-changed"]
                    assert marked("new", "notify") == ["diff-added"] and marked("new", "f_notify") == ["diff-added"]
                    assert marked("new", "fee") == [] and marked("old", "fee") == []
                    assert stroke("new", "review") == "rgb(194, 65, 12)"  # --orange
                    assert stroke("new", "notify") == "rgb(31, 122, 58)"  # --green
                    assert stroke("new", "fee") != "rgb(194, 65, 12)"
                    wider = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                    assert wider <= 1, f"the diff page is {wider} px wider than a {viewport['width']} px screen"
                    if os.environ.get("WHISTLE_DOC_SCREENSHOTS") and viewport["width"] > 1000:  # the README's tour
                        page.screenshot(path=str(Path(__file__).parent.parent / "docs" / "screenshots" / "diff.png"))
                    page.context.close()
                chromium.close()
        finally:
            server.shutdown()
    finally:
        engine.close()
