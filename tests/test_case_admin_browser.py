"""The 案件管理 page in a browser (issue 16): an administrator on a phone finds a case, suspends it with a reason
in its dialog, and the street command centre's inbox shows the task as 已挂起."""
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


@pytest.fixture(scope="module")
def live_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("case-admin-browser")
    env = demo_database(folder)
    case = json.loads(cli(env, "start", "whistle", "--user", "grid-worker-wudadao", "--json", "--data", json.dumps({
        "street": "wudadao", "community": "sanshengli", "situation": "building-repair-no-property",
        "location": "睦南道12号", "description": "楼顶漏水，消防设施损坏", "resident": ""})))["instance_id"]
    port = _free_port()
    process, log = start_server(env, folder, port)
    yield f"http://127.0.0.1:{port}", case
    stop_server(process, log)


def test_admin_finds_and_suspends_a_case_and_the_inbox_shows_it(live_site):
    from playwright.sync_api import expect, sync_playwright

    site, case = live_site

    def signed_in(browser, username: str):
        page = browser.new_context(viewport=PHONE, locale="zh-CN", has_touch=True, is_mobile=True).new_page()
        page.goto(f"{site}/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("heading", name="待办", exact=True)).to_be_visible()
        return page

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        admin = signed_in(browser, "admin")
        admin.goto(f"{site}/admin")
        admin.locator("#case-admin-link").click()
        expect(admin.get_by_role("heading", name="案件管理")).to_be_visible()
        admin.locator("#case-search select[name=status]").select_option("running")
        admin.get_by_role("button", name="查找", exact=True).click()
        item = admin.locator(f'li.case-item[data-instance-id="{case}"]')
        expect(item).to_be_visible()
        expect(item.locator('input[name="instance_id"]')).to_be_visible()  # the selection the bulk actions use
        item.locator('details[data-action="suspend"] summary').click()
        item.locator('details[data-action="suspend"] textarea[name=reason]').fill("当事人申请暂缓处理")
        item.get_by_role("button", name=f"确认挂起 #{case}").click()
        expect(admin.locator(".flash-ok")).to_contain_text("案件已挂起")
        expect(admin.locator(f'li.case-item[data-instance-id="{case}"]')).to_have_count(0)  # no longer running
        admin.locator("#case-search select[name=status]").select_option("suspended")
        admin.get_by_role("button", name="查找", exact=True).click()
        item = admin.locator(f'li.case-item[data-instance-id="{case}"]')
        expect(item.locator(".badge.status-suspended")).to_have_text("已挂起")
        expect(item.locator(".suspend-reason")).to_have_text("当事人申请暂缓处理")
        assert admin.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        centre = signed_in(browser, "command-wudadao")
        task = centre.locator(f'li.task[data-instance-id="{case}"]')
        expect(task.locator(".badge.status-suspended")).to_have_text("已挂起")
        browser.close()
