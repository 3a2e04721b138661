"""The modeler in a real browser (issue 15): Debian's chromium driven by Playwright against a real ``whistle serve``
on a fresh demo database with the whistle process deployed.

The designer opens the whistle process from the 流程定义 page in the modeler (bpmn-js with the Camunda properties
panel, in Chinese); renames the command centre's review task and gives it a due date in the properties panel;
validates — first with a due date that does not compile, which the server's lint finds and the page marks on the
task, then fixed — and deploys version 2 after confirming. A case started before keeps version 1 and its task's
old name; a new case runs version 2 with the new name and due time. Then another change is autosaved as the
designer's draft, the tab is closed, and opening the process again offers the draft, which restores the change.

Elements are selected through the page's modeler (``window.whistleModeler.focus``), as a click on the list of
problems does; everything else is typed and clicked as a person would. Screenshots go to ``tests/screenshots/``
(with ``WHISTLE_DOC_SCREENSHOTS=1`` the one of the lint error also to ``docs/screenshots/modeler.png``, the README's).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESK,
    _free_port,
    cli,
    demo_database,
    shot,
    sign_in,
    start_server,
    stop_server,
)

from test_readable_pages import assert_readable

REVIEW = "command_review"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("modeler")
    env = demo_database(folder)
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


def start_case(env: dict) -> int:
    return int(json.loads(cli(env, "start", "whistle", "--user", "grid-worker-wudadao", "--json", "--data", json.dumps({
        "situation": "building-repair-no-property", "location": "睦南道12号院", "description": "屋顶漏水，灭火器过期"},
        ensure_ascii=False)))["instance_id"])


def review_task(env: dict, case: int) -> dict:
    tasks = json.loads(cli(env, "tasks", "--user", "command-wudadao", "--json"))
    [task] = [t for t in tasks if t["instance_id"] == case]
    return task


def open_modeler(page: Page, version: int) -> None:
    """From the 流程定义 page: the row of that version of the whistle process, 在建模器中编辑."""
    page.get_by_role("link", name="流程定义").click()
    row = page.locator("tbody tr").filter(has=page.locator("code", has_text="whistle")) \
        .filter(has=page.locator("td:nth-child(3)", has_text=str(version)))
    row.get_by_role("link", name="在建模器中编辑").click()
    expect(page.locator("body[data-modeler=ready]")).to_have_count(1, timeout=30_000)


def select(page: Page, element_id: str) -> None:
    page.evaluate("id => window.whistleModeler.focus(id)", element_id)
    expect(page.locator(".bio-properties-panel-header-label")).not_to_be_empty()


def open_group(page: Page, title: str) -> None:
    header = page.locator(".bio-properties-panel-group-header").filter(has_text=title).first
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def element_name(page: Page, element_id: str) -> str:
    return page.evaluate("id => window.whistleModeler.modeler.get('elementRegistry').get(id).businessObject.name",
                         element_id)


def test_a_designer_models_validates_and_deploys_version_2(server, browser):
    env = server["env"]
    running = start_case(env)  # on version 1
    assert review_task(env, running)["name"] == "指挥中心审核"

    page = sign_in(browser, server, "designer", DESK)
    open_modeler(page, 1)
    expect(page.locator("h1")).to_contain_text("吹哨报到")
    expect(page.locator(".modeler-base")).to_contain_text("基于版本 1")
    expect(page.locator(".djs-palette")).to_be_visible()

    # -- rename the review task and give it a due date that does not compile --------------------------------
    select(page, REVIEW)
    expect(page.locator(".bio-properties-panel-header-type")).to_have_text("用户任务")
    open_group(page, "常规")
    name = page.locator("#bio-properties-panel-name")
    expect(name).to_have_value("指挥中心审核")
    name.fill("指挥中心初审")
    open_group(page, "办理人")
    expect(page.locator(".bio-properties-panel-group").filter(has_text="候选组").first).to_be_visible()
    due = page.locator("#bio-properties-panel-dueDate")
    due.fill("${street +}")
    assert_readable(page.content(), "zh", "the modeler with a user task's properties")
    expect(page.locator("#modeler-status")).to_contain_text("草稿已保存", timeout=15_000)  # autosaved

    page.get_by_role("button", name="校验").click()
    problems = page.locator("#modeler-problem-list li")
    review_problem = problems.filter(has=page.locator("code", has_text=REVIEW))
    expect(review_problem.first).to_contain_text("错误")
    expect(review_problem.first).to_contain_text("脚本或表达式无法在沙箱中编译")
    expect(page.locator(f'[data-element-id="{REVIEW}"].lint-error')).to_have_count(1)
    expect(page.locator(".lint-badge-error")).not_to_have_count(0)
    select(page, "register_case")  # away from the task, then back to it from the list of problems
    expect(page.locator(".bio-properties-panel-header-label")).to_have_text("登记案件")
    review_problem.first.get_by_role("button").click()
    expect(page.locator(".bio-properties-panel-header-label")).to_have_text("指挥中心初审")
    shot(page, "modeler-01-lint-error", doc="modeler", full_page=False)

    # -- fix it: four hours from when the task is ready --------------------------------------------------------
    select(page, REVIEW)
    open_group(page, "办理人")
    page.locator("#bio-properties-panel-dueDate").fill("PT4H")
    page.get_by_role("button", name="校验").click()
    expect(page.locator("#modeler-status")).to_have_text("校验通过，可以部署")
    expect(page.locator(f'[data-element-id="{REVIEW}"].lint-error')).to_have_count(0)

    # -- deploy, after confirming ----------------------------------------------------------------------------
    page.get_by_role("button", name="部署").click()
    expect(page.locator("#modeler-confirm")).to_contain_text("新版本")
    shot(page, "modeler-02-confirm", full_page=False)
    page.get_by_role("button", name="确认部署").click()
    expect(page.locator("#modeler-status")).to_have_text("已部署为版本 2", timeout=30_000)
    assert page.errors == []

    definitions = json.loads(cli(env, "definitions", "--json"))
    assert max(d["version"] for d in definitions if d["process_id"] == "whistle") == 2
    assert review_task(env, running)["name"] == "指挥中心审核"  # the running case keeps version 1
    new = start_case(env)
    task = review_task(env, new)
    assert task["name"] == "指挥中心初审"
    assert task["due_at"], task  # PT4H from when it became ready

    # -- the difference between the versions is exactly the two changes made ------------------------------
    diff = json.loads(cli(env, "diff", "whistle", "1", "2", "--json"))
    assert (diff["added"], diff["removed"], diff["flows"]) == ([], [], [])
    assert [(c["id"], sorted(c["changes"])) for c in diff["changed"]] == [(REVIEW, ["due_date", "name"])]
    assert diff["changed"][0]["changes"]["name"] == ["指挥中心审核", "指挥中心初审"]
    compare = sign_in(browser, server, "designer", DESK)
    compare.goto(f"{server['base']}/definitions/whistle/diff?from=1&to=2")
    rows = compare.locator("section[aria-labelledby=elements-h] tbody tr")
    expect(rows.first).to_contain_text("指挥中心初审")
    assert {rows.nth(i).get_attribute("data-element") for i in range(rows.count())} == {REVIEW}
    assert_readable(compare.content(), "zh", "the diff of versions 1 and 2")
    compare.close()

    # -- another change is autosaved; the tab is closed; the draft is offered again -------------------------
    select(page, "register_case")
    open_group(page, "常规")
    page.locator("#bio-properties-panel-name").fill("登记立案（草稿）")
    expect(page.locator("#modeler-status")).to_contain_text("草稿已保存", timeout=15_000)
    page.close()

    again = sign_in(browser, server, "designer", DESK)
    open_modeler(again, 2)
    expect(again.locator(".modeler-base")).to_contain_text("基于版本 2")
    offer = again.locator("#modeler-offer")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("草稿（基于版本 2）")
    assert element_name(again, "register_case") != "登记立案（草稿）"
    again.get_by_role("button", name="恢复草稿").click()
    expect(offer).to_be_hidden()
    assert element_name(again, "register_case") == "登记立案（草稿）"
    assert element_name(again, REVIEW) == "指挥中心初审"
    shot(again, "modeler-03-draft-restored", full_page=False)
    assert again.errors == []
