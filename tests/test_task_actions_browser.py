"""The task page's 更多操作 in a browser on a phone (issue 17): the lead department withdraws its handling while the
street has not started verifying, the street returns the case to 牵头部门处置 with a reason, and the department
transfers the returned task to another department's group."""
from __future__ import annotations

import json

import pytest
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    PHONE,
    _free_port,
    cli,
    demo_database,
    start_server,
    stop_server,
)


def _task(env: dict, user: str, name: str, case: int) -> str:
    tasks = json.loads(cli(env, "tasks", "--user", user, "--json"))
    [found] = [t["task_id"] for t in tasks if t["name"] == name and t["instance_id"] == case]
    return found


def _do(env: dict, user: str, name: str, case: int, data: dict) -> str:
    task_id = _task(env, user, name, case)
    cli(env, "claim", task_id, "--user", user, "--json")
    cli(env, "complete", task_id, "--user", user, "--data", json.dumps(data), "--json")
    return task_id


@pytest.fixture(scope="module")
def live_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("task-actions-browser")
    env = demo_database(folder)
    case = json.loads(cli(env, "start", "whistle", "--user", "grid-worker-wudadao", "--json", "--data", json.dumps({
        "street": "wudadao", "community": "sanshengli", "situation": "building-repair-no-property",
        "location": "睦南道12号", "description": "消防设施失修，楼道堆物", "resident": ""})))["instance_id"]
    _do(env, "command-wudadao", "指挥中心审核", case, {"decision": "whistle"})
    for dept in ("housing", "fire"):
        _do(env, f"liaison-{dept}", "签收哨令", case, {})
        _do(env, f"liaison-{dept}", "到场报到", case, {"acted": True, "action": "到场核查"})
    handled = _do(env, "liaison-housing", "牵头部门处置", case, {"handling_result": "已维修"})
    port = _free_port()
    process, log = start_server(env, folder, port)
    yield f"http://127.0.0.1:{port}", case, handled, env
    stop_server(process, log)


def test_withdraw_return_and_transfer_from_the_task_page_on_a_phone(live_site):
    from playwright.sync_api import expect, sync_playwright

    site, case, handled, env = live_site

    def signed_in(browser, username: str):
        page = browser.new_context(viewport=PHONE, locale="zh-CN", has_touch=True, is_mobile=True).new_page()
        page.goto(f"{site}/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("heading", name="待办", exact=True)).to_be_visible()
        return page

    def open_actions(page):
        page.locator("#task-actions summary").click()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        liaison = signed_in(browser, "liaison-housing")
        liaison.goto(f"{site}/tasks/{handled}")  # done: the verification has not started
        open_actions(liaison)
        liaison.get_by_role("button", name="撤回").click()
        expect(liaison.locator(".flash-ok")).to_contain_text("已撤回")
        expect(liaison.locator("h1")).to_have_text("牵头部门处置")
        expect(liaison.locator("#form-h")).to_be_visible()  # held by them again: the form is there
        again = liaison.url.rsplit("/", 1)[-1]
        assert again != handled
        cli(env, "complete", again, "--user", "liaison-housing", "--data", '{"handling_result": "已维修完毕"}')

        centre = signed_in(browser, "command-wudadao")
        centre.goto(f"{site}/tasks/{_task(env, 'command-wudadao', '街道核验', case)}")
        open_actions(centre)
        form = centre.locator("form.action-form", has=centre.locator("select[name=to]"))
        form.locator("select[name=to]").select_option("lead_handle")
        form.locator("textarea[name=reason]").fill("楼道堆物未清理，请继续处置")
        form.get_by_role("button", name="退回").click()
        expect(centre.locator(".flash-ok")).to_contain_text("已退回")

        returned = _task(env, "liaison-housing", "牵头部门处置", case)
        liaison.goto(f"{site}/tasks/{returned}")
        open_actions(liaison)
        form = liaison.locator("form.action-form", has=liaison.get_by_role("heading", name="转办"))
        form.locator("input[name=to]").fill("dept-fire")
        form.locator("textarea[name=reason]").fill("属消防部门职责")
        form.get_by_role("button", name="转办").click()
        expect(liaison.locator(".flash-ok")).to_contain_text("已转办")
        browser.close()
    assert _task(env, "liaison-fire", "牵头部门处置", case) == returned
    history = json.loads(cli(env, "show", str(case), "--json"))["audit"]
    kinds = [e["event"] for e in history]
    assert {"task_withdrawn", "task_returned", "task_transferred"} <= set(kinds)
