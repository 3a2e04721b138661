"""版本迁移 in a real browser (issue 16): Debian's chromium driven by Playwright against ``whistle serve`` on a
temporary SQLite database in demo mode, on a 390 px phone.

Four cases of ``upkeep`` version 1 wait (tests/test_upgrade.py's fixtures): at 受理, at 现场核查 (which version
2 removed), at 办理 (renamed 处置 in version 2) and at 受理 without the team version 2 needs. The administrator
opens 版本迁移, picks the process and versions 1 → 2, maps 办理 → 处置, and runs the dry run: the case at
现场核查 and the one without a team are refused with their reasons, the other two can move. 确认迁移 2 个案件
moves them; the case page then says version 2.
"""
from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect
from test_browser import PHONE, _free_port, cli, shot, sign_in, start_server, stop_server
from test_deploy_upload_browser import browser  # noqa: F401  (a fixture)
from test_upgrade import UPGRADE, do

from engine.api import Whistle


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``whistle serve`` on a demo database with the demo accounts, ``upkeep`` v1's four cases and v2 deployed."""
    folder = tmp_path_factory.mktemp("upgrade-browser")
    url = f"sqlite:///{folder / 'whistle.sqlite'}"
    env = {**os.environ, "WHISTLE_MODE": "demo", "WHISTLE_DATABASE_URL": url,
           "WHISTLE_ATTACHMENTS_DIR": str(folder / "attachments"), "WHISTLE_SECRET_KEY": "upgrade-browser-secret",
           "PYTHONUNBUFFERED": "1"}
    cli(env, "migrate")
    cli(env, "user", "import", "processes/demo-accounts.json")
    w = Whistle(url)
    try:
        w.deploy([UPGRADE / "v1"])
        w.add_user("cc", ["command-centre"])
        cases = {"accept": w.start("upkeep", data={"team": "command-centre"}),
                 "check": w.start("upkeep", data={"team": "command-centre"})}
        do(w, cases["check"])
        cases["handle"] = w.start("upkeep", data={"team": "command-centre"})
        do(w, cases["handle"])
        do(w, cases["handle"])
        cases["no_team"] = w.start("upkeep")
        w.deploy([UPGRADE / "v2"])
    finally:
        w.close()
    port = _free_port()
    process, log = start_server(env, folder, port)
    yield {"base": f"http://127.0.0.1:{port}", "env": env, "folder": folder, "cases": cases}
    stop_server(process, log)


def test_an_administrator_dry_runs_then_migrates_the_movable_cases(server, browser):  # noqa: F811
    cases = server["cases"]
    page = sign_in(browser, server, "admin", PHONE)
    page.goto(f"{server['base']}/admin")
    page.get_by_role("navigation", name="管理").get_by_role("link", name="版本迁移").click()
    expect(page.get_by_role("heading", name="版本迁移", exact=True)).to_be_visible()
    page.locator("#process").select_option(label="设施报修")
    page.get_by_role("button", name="下一步").click()
    page.locator("#from-version").select_option("1")
    page.locator("#to-version").select_option("2")
    page.get_by_role("button", name="按所选版本刷新环节").click()
    first = page.locator('.mapping-row[data-row="1"]')
    first.locator('select[name="old"]').select_option("handle")
    first.locator('select[name="new"]').select_option("deal")
    page.get_by_role("button", name="预演").click()

    plan = page.locator("#plan-table")
    expect(page.locator("#plan")).to_contain_text("2 件可以迁移，2 件不能迁移")
    expect(plan.locator(f'tr[data-instance="{cases["check"]}"]')).to_have_attribute("data-can-move", "no")
    expect(plan.locator(f'tr[data-instance="{cases["check"]}"]')).to_contain_text("版本 2 删除了这个环节")
    expect(plan.locator(f'tr[data-instance="{cases["no_team"]}"]')).to_contain_text("需要案件中没有的数据")
    for movable in ("accept", "handle"):
        expect(plan.locator(f'tr[data-instance="{cases[movable]}"]')).to_have_attribute("data-can-move", "yes")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing wider than the phone
    page.locator("#plan").scroll_into_view_if_needed()
    shot(page, "upgrade-01-dry-run-phone", doc="upgrade-dry-run")

    page.once("dialog", lambda dialog: dialog.accept())  # 把 2 个案件迁移到版本 2？
    page.get_by_role("button", name="确认迁移 2 个案件").click()
    expect(page.locator("#outcome")).to_contain_text("已迁移 2 件，跳过 0 件，失败 0 件")
    outcome = page.locator("#outcome-table")
    expect(outcome.locator(f'tr[data-instance="{cases["handle"]}"]')).to_have_attribute("data-outcome", "moved")
    shot(page, "upgrade-02-outcome-phone")

    outcome.get_by_role("link", name=f"#{cases['handle']}").click()
    expect(page.locator("main")).to_contain_text("版本 2")
    expect(page.locator(".timeline")).to_contain_text("从版本 1 迁移到版本 2")
    expect(page.locator(".open-tasks")).to_contain_text("处置")
    assert not page.errors, page.errors
    page.goto(f"{server['base']}/cases/{cases['check']}")
    expect(page.locator("main")).to_contain_text("版本 1")
