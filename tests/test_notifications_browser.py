"""In a real browser (chromium, as tests/test_browser.py) against ``whistle serve`` (waitress): a liaison's open
inbox shows a new whistle without a reload — the live inbox's server-sent event, not the poll (set to ten minutes
here, so only the stream can bring it) — and the tab title and the bell show the unread count."""
from __future__ import annotations

import json
import re

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
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("notifications-browser")
    env = demo_database(folder)
    env["WHISTLE_POLL_SECONDS"] = "600"  # the fallback poll never comes within the test
    port = _free_port()
    process, log = start_server(env, folder, port)
    yield {"base": f"http://127.0.0.1:{port}", "env": env}
    stop_server(process, log)


def test_a_liaisons_open_inbox_shows_a_new_whistle_without_a_reload(live):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport=PHONE, locale="zh-CN", has_touch=True, is_mobile=True).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live['base']}/login")
        page.get_by_label("用户名").fill("liaison-housing")
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("heading", name="待办", exact=True)).to_be_visible()
        page.goto(f"{live['base']}/inbox?view=group")
        expect(page.locator("#inbox-body")).not_to_contain_text("签收哨令")
        assert not page.title().startswith("(")
        page.wait_for_function("() => !!document.getElementById('inbox-body')")

        # Another process reports a whistle and the command centre dispatches it to housing (and fire).
        data = {"street": "wudadao", "community": "sanshengli", "situation": "building-repair-no-property",
                "location": "睦南道12号", "description": "楼顶漏水，消防设施损坏", "photos": ["att-1"],
                "reporter": "grid-worker-wudadao", "resident": ""}
        env = live["env"]
        case = json.loads(cli(env, "start", "whistle", "--data", json.dumps(data, ensure_ascii=False),
                              "--user", "grid-worker-wudadao", "--json"))["instance_id"]
        [review] = [t for t in json.loads(cli(env, "tasks", "--user", "command-wudadao", "--json"))
                    if t["instance_id"] == case]
        cli(env, "claim", review["task_id"], "--user", "command-wudadao")
        cli(env, "complete", review["task_id"], "--user", "command-wudadao", "--data",
            json.dumps({"decision": "whistle", "tier_override": "red"}))

        expect(page.locator("#inbox-body")).to_contain_text("签收哨令", timeout=15_000)  # no reload
        expect(page).to_have_title(re.compile(r"^\(\d+\) "))
        expect(page.locator("#bell-count")).to_be_visible()
        assert int(page.locator("#bell-count").inner_text()) >= 1
        expect(page.locator("#live")).to_contain_text("有新任务")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert errors == []
        page.locator("#bell").click()
        expect(page.locator("li.notification.unread").first).to_contain_text("新待办")
        browser.close()
