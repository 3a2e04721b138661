"""上传部署 in a real browser (issue 15): Debian's chromium driven by Playwright against ``whistle serve`` on a
temporary SQLite database in demo mode, on a 390 px phone.

A designer uploads a BPMN file whose user task is offered to nobody: the report lists the error with its file,
line and element, and the diagram outlines and badges that task. They upload the fixed file (its task renamed),
the report says it becomes version 2, and 确认部署 deploys it: version 2, deployed by the designer.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, PHONE, _free_port, cli, shot, sign_in, start_server, stop_server

UPLOAD = Path(__file__).parent / "fixtures" / "upload"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``whistle serve`` on a fresh demo database with version 1 of ``upload_review`` and the demo accounts."""
    folder = tmp_path_factory.mktemp("upload-browser")
    env = {**os.environ, "WHISTLE_MODE": "demo", "WHISTLE_DATABASE_URL": f"sqlite:///{folder / 'whistle.sqlite'}",
           "WHISTLE_ATTACHMENTS_DIR": str(folder / "attachments"), "WHISTLE_UPLOADS_DIR": str(folder / "uploads"),
           "WHISTLE_SECRET_KEY": "upload-browser-secret", "PYTHONUNBUFFERED": "1"}
    cli(env, "migrate")
    cli(env, "deploy", str(UPLOAD / "v1"))
    cli(env, "user", "import", "processes/demo-accounts.json")
    port = _free_port()
    process, log = start_server(env, folder, port)
    yield {"base": f"http://127.0.0.1:{port}", "env": env, "folder": folder}
    stop_server(process, log)


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_a_designer_sees_the_error_on_the_diagram_then_deploys_version_2(server, browser, tmp_path):
    page = sign_in(browser, server, "designer", PHONE)
    page.get_by_role("link", name="流程定义").click()
    page.get_by_role("link", name="上传部署").click()
    expect(page.get_by_role("heading", name="上传部署")).to_be_visible()

    # -- a file with a lint error: listed with file, line and element, and marked on the diagram ------------
    page.get_by_label("流程文件").set_input_files(str(UPLOAD / "broken" / "upload_review.bpmn"))
    page.get_by_role("button", name="检查").click()
    expect(page.locator("#verdict")).to_contain_text("发现 1 个错误")
    problem = page.locator("li.problem-error")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("upload_review.bpmn")
    expect(problem).to_contain_text("第 12 行")
    expect(problem.locator("code").filter(has_text=re.compile("^review$"))).to_be_visible()
    expect(problem).to_contain_text("human-task-assignment")
    diagram = page.locator("#diagram-0")
    expect(diagram).to_have_attribute("data-ready", "true")
    expect(diagram).to_have_attribute("data-marked", re.compile(r"(^| )review:error( |$)"))
    task = diagram.locator('.djs-element[data-element-id="review"]')
    expect(task).to_have_class(re.compile(r"\blint-error\b"))
    badge = diagram.locator(".lint-badge-error")
    expect(badge).to_be_visible()
    assert "第 12 行" in badge.get_attribute("title") and "offered to nobody" in badge.get_attribute("title")
    expect(page.get_by_role("button", name="确认部署")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing wider than the phone
    problem.click()  # finds the element on the diagram
    expect(diagram).to_be_in_viewport()
    shot(page, "upload-01-lint-error-phone", doc="deploy-check-phone")

    # -- the fixed file: version 2 after 确认部署 --------------------------------------------------------------
    page.get_by_label("流程文件").set_input_files(str(UPLOAD / "fixed" / "upload_review.bpmn"))
    page.get_by_role("button", name="检查").click()
    expect(page.locator("#verdict")).to_contain_text("检查通过")
    row = page.locator('#plan tr[data-definition="upload_review"]')
    expect(row).to_have_attribute("data-status", "new")
    expect(row).to_contain_text("第 2 版")
    expect(page.locator("#diagram-0")).to_have_attribute("data-ready", "true")
    expect(page.locator("#diagram-0")).to_have_attribute("data-marked", "")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "upload-02-checked-phone")
    page.get_by_role("button", name="确认部署").click()
    expect(page.locator(".flash-ok")).to_contain_text("部署完成")
    done = page.locator('#deployed tr[data-definition="upload_review"]')
    expect(done).to_have_attribute("data-status", "new")
    expect(done).to_have_attribute("data-version", "2")
    shot(page, "upload-03-deployed-phone")
    assert not page.errors, page.errors
    definitions = json.loads(cli(server["env"], "definitions", "--json"))
    mine = sorted((d["version"], d["deployed_by"]) for d in definitions if d["process_id"] == "upload_review")
    assert [version for version, _by in mine] == [1, 2] and mine[1][1] == "designer"
