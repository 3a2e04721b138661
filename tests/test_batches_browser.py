"""A bulk operation in a real browser (issue 16, part 6): Debian's chromium driven by Playwright against a real
``whistle serve --no-worker`` on a fresh demo database. The administrator picks cases on the 批量操作 page, reads
the confirmation naming the count, confirms, and watches the batch's page: queued at 0 until a worker
(``whistle batch run``, another process) works the items, then — without a reload — the bar at 100%, the counts,
and the report with the case that was skipped and why. Screenshots go to ``tests/screenshots/``."""
from __future__ import annotations

import subprocess
import sys

import pytest
from playwright.sync_api import expect, sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, DESK, PHONE, PROJECT, _free_port, cli, demo_database, shot, sign_in

from engine.api import Whistle
from engine.time import clock

from test_readable_pages import assert_readable

FIXTURES = PROJECT / "tests" / "fixtures"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import time
    import urllib.request

    folder = tmp_path_factory.mktemp("batches")
    env = demo_database(folder)
    cli(env, "deploy", str(FIXTURES / "bulk_wait.bpmn"))
    port = _free_port()
    log = open(folder / "serve.log", "a")
    process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                                "--no-worker"], cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:  # another process starting up, not a timer
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, (folder / "serve.log").read_text()
        time.sleep(0.2)
    yield {"base": f"http://127.0.0.1:{port}", "env": env, "folder": folder}
    process.terminate()
    process.wait(timeout=10)
    log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def waiting_cases(server, count: int, finished: int) -> list[int]:
    """``count`` cases of the bulk_wait process, the first ``finished`` of them completed (repair refuses those)."""
    engine = Whistle(server["env"]["WHISTLE_DATABASE_URL"])
    try:
        ids = [engine.start("bulk_wait") for _ in range(count)]
        engine.add_user("bulk-clerk", ["command-centre"])
        for instance_id in ids[:finished]:
            [task] = engine.show(instance_id)["open_tasks"]
            engine.claim(task["task_id"], "bulk-clerk")
            engine.complete(task["task_id"], "bulk-clerk", {})
        return ids
    finally:
        engine.close()
        clock.install(clock.SystemClock())


def test_an_administrator_confirms_a_bulk_repair_and_watches_it_reach_100_percent(server, browser):
    ids = waiting_cases(server, 12, 2)
    page = sign_in(browser, server, "admin", DESK)
    page.get_by_role("link", name="管理", exact=True).click()
    page.get_by_role("link", name="批量操作").click()
    page.get_by_label("案件编号").fill(", ".join(map(str, ids)))
    page.get_by_label("原因").fill("批量修复演示")
    page.get_by_role("button", name="下一步：确认").click()
    expect(page.locator(".batch-question")).to_have_text("将对 12 个案件执行「修复」，确认？")
    assert_readable(page.content(), "zh", "the confirmation")
    page.get_by_role("button", name="确认执行").click()

    card = page.locator("[data-batch-progress]")
    expect(card.locator("[data-field=status_label]")).to_have_text("排队中")
    expect(card.locator("[data-field=finished]")).to_have_text("0")
    expect(page.locator("#batch-bar")).to_have_attribute("value", "0")
    page.evaluate("window.sameDocument = true")  # survives only if the page is never reloaded
    shot(page, "batch-queued")

    cli(server["env"], "batch", "run")  # a worker in another process does the cases

    expect(card).to_have_attribute("data-live", "ended", timeout=15_000)
    expect(card.locator("[data-field=finished]")).to_have_text("12")
    expect(card.locator("[data-field=percent]")).to_have_text("100")
    expect(card.locator("[data-field=status_label]")).to_have_text("已完成")
    expect(page.locator("#batch-bar")).to_have_js_property("value", 12)
    expect(card.locator("[data-field=done]")).to_have_text("10")
    expect(card.locator("[data-field=skipped]")).to_have_text("2")
    expect(page.get_by_role("button", name="取消批量操作")).to_have_count(0)
    report = page.locator("#batch-report tbody tr")
    expect(report).to_have_count(12)
    expect(report.filter(has_text="已跳过")).to_have_count(2)
    expect(report.filter(has_text="已跳过").first).to_contain_text("it accepts no repair")
    expect(report.filter(has_text="已完成")).to_have_count(10)
    assert page.evaluate("window.sameDocument") is True
    assert_readable(page.content(), "zh", "the batch's page")
    shot(page, "batch-done")
    assert page.errors == []

    phone = sign_in(browser, server, "admin", PHONE)
    phone.goto(page.url)
    expect(phone.locator("[data-field=finished]")).to_have_text("12")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the batch's page is {width} px wide on a phone"
    shot(phone, "batch-phone")


def test_search_then_bulk_suspend_with_live_progress(server, browser):
    """案件管理 → filter → 对全部 N 件筛选结果 → the confirmation names N → the batch's page moves to 100% without a
    reload once a worker runs, and every case found is suspended once."""
    ids = waiting_cases(server, 4, 0)
    page = sign_in(browser, server, "admin", PHONE)
    page.goto(f"{server['base']}/admin/cases?process=bulk_wait&status=running")
    expect(page.locator(f'li.case-item[data-instance-id="{ids[0]}"]')).to_be_visible()
    found = int(page.locator("#bulk-form").get_attribute("data-total"))
    assert found >= 4
    page.locator("#bulk-operation").select_option("suspend")
    page.locator("#bulk-all").click()
    expect(page.locator(".batch-question")).to_have_text(f"将对 {found} 个案件执行「挂起」，确认？")
    page.get_by_label("原因").fill("节假日暂停处理")
    page.get_by_role("button", name="确认执行").click()
    card = page.locator("[data-batch-progress]")
    expect(card.locator("[data-field=finished]")).to_have_text("0")
    page.evaluate("window.sameDocument = true")
    cli(server["env"], "batch", "run")
    expect(card).to_have_attribute("data-live", "ended", timeout=15_000)
    expect(card.locator("[data-field=done]")).to_have_text(str(found))
    assert page.evaluate("window.sameDocument") is True
    engine = Whistle(server["env"]["WHISTLE_DATABASE_URL"])
    try:
        assert {engine.show(i)["status"] for i in ids} == {"suspended"}
        assert all(sum(1 for e in engine.show(i)["audit"] if e["event"] == "suspended") == 1 for i in ids)
    finally:
        engine.close()
        clock.install(clock.SystemClock())
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "bulk-suspend-phone")
