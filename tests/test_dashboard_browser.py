"""The 数据看板 in a browser (issue 18): a supervisor, a street's command centre and a department's liaison each
open the dashboards on a phone and see what they may — the district, their street, their department — with the
charts drawn. With ``WHISTLE_DOC_SCREENSHOTS=1`` the supervisor's page is saved as the README's screenshot."""
from __future__ import annotations

import json
import os
from pathlib import Path

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

SCREENSHOT = Path(__file__).parent.parent / "docs" / "screenshots" / "dashboard-phone.png"


@pytest.fixture(scope="module")
def live_site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard-browser")
    env = demo_database(folder)
    for street, community in (("wudadao", "sanshengli"), ("wudadao", "munandao"), ("nanshi", "qingyouxili")):
        cli(env, "start", "whistle", "--user", f"grid-worker-{street}", "--json", "--data", json.dumps({
            "street": street, "community": community, "situation": "building-repair-no-property",
            "location": "某路1号", "description": "楼顶漏水，消防设施损坏", "resident": ""}))
    [review, *_rest] = json.loads(cli(env, "tasks", "--user", "command-wudadao", "--json"))
    cli(env, "claim", review["task_id"], "--user", "command-wudadao")
    cli(env, "complete", review["task_id"], "--user", "command-wudadao", "--data", json.dumps({"decision": "whistle"}))
    port = _free_port()
    process, log = start_server(env, folder, port)
    yield f"http://127.0.0.1:{port}"
    stop_server(process, log)


def test_each_reader_sees_their_own_dashboard_on_a_phone(live_site):
    from playwright.sync_api import expect, sync_playwright

    site = live_site
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def dashboard(username: str):
            page = browser.new_context(viewport=PHONE, locale="zh-CN", has_touch=True, is_mobile=True).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{site}/login")
            page.get_by_label("用户名").fill(username)
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            expect(page.get_by_role("heading", name="待办", exact=True)).to_be_visible()
            page.get_by_role("link", name="数据看板").first.click()
            expect(page.get_by_role("heading", name="数据看板")).to_be_visible()
            expect(page.locator("[data-chart='by_street'] svg")).to_be_visible()  # ECharts drew it
            assert errors == [], errors
            return page

        supervisor = dashboard("supervisor")
        expect(supervisor.locator(".dash-scope")).to_have_text("全区")
        expect(supervisor.locator("[data-figure='total-cases']")).to_have_text("3")
        streets = supervisor.locator("table[data-table='by_street'] tbody tr")
        expect(streets).to_have_count(2)
        width = supervisor.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"
        if os.environ.get("WHISTLE_DOC_SCREENSHOTS") == "1":
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            supervisor.screenshot(path=str(SCREENSHOT), full_page=False)
        supervisor.locator("table[data-table='by_street'] a[data-figure='cases']").first.click()
        expect(supervisor.locator(".list-total")).to_have_attribute("data-total", "1")

        street = dashboard("command-nanshi")
        expect(street.locator(".dash-scope")).to_have_text("南市街")
        expect(street.locator("[data-figure='total-cases']")).to_have_text("1")
        expect(street.locator("select[name='street']")).to_have_count(0)

        department = dashboard("liaison-housing")
        expect(department.locator(".dash-scope")).to_contain_text("住建委")
        expect(department.locator("[data-figure='total-cases']")).to_have_text("1")
        expect(department.locator("table[data-table='departments'] tbody tr")).to_have_count(1)
        browser.close()
