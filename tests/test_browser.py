"""The whistle scenario in a real browser: Debian's chromium driven by Playwright against a real
``whistle serve`` (waitress and its timer worker) on a temporary SQLite database in demo mode.

A grid worker reports a problem from a phone; the street command centre blows the whistle; the housing
department's liaison sees the task arrive without reloading, signs and reports on site; the demo clock is moved
past the 30-minute on-site deadline (``whistle clock advance PT31M``) and the fire brigade's overdue badge and the
district supervision task appear; the case page shows the diagram with the right elements highlighted.

A second test restarts the server between the last-but-one and the last report of a red whistle and submits
the last one in the browser: the lead department's task must appear (issue 10).

Screenshots go to ``tests/screenshots/`` (git-ignored). With ``WHISTLE_DOC_SCREENSHOTS=1`` the inbox and case
page shots are also written to ``docs/screenshots/`` for the README's tour.
These tests never skip: CI installs chromium (``.ci/run``).
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

PROJECT = Path(__file__).parent.parent
SHOTS = Path(__file__).parent / "screenshots"
DOC_SHOTS = PROJECT / "docs" / "screenshots"
CHROMIUM = os.environ.get("WHISTLE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
PASSWORD = "whistle-demo"
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 860}
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(env: dict, *args: str, timeout: float = 120) -> str:
    result = subprocess.run([sys.executable, "-m", "cli", *args], cwd=PROJECT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"whistle {' '.join(args)}: {result.stderr}"
    return result.stdout


def demo_database(folder: Path) -> dict:
    """A fresh demo database (migrated, whistle deployed, demo accounts imported) and the environment to serve it."""
    env = {**os.environ, "WHISTLE_MODE": "demo", "WHISTLE_DATABASE_URL": f"sqlite:///{folder / 'whistle.sqlite'}",
           "WHISTLE_ATTACHMENTS_DIR": str(folder / "attachments"), "WHISTLE_SECRET_KEY": "browser-test-secret",
           "WHISTLE_POLL_SECONDS": "2", "PYTHONUNBUFFERED": "1"}
    cli(env, "migrate")
    cli(env, "deploy", "processes/whistle")
    cli(env, "user", "import", "processes/demo-accounts.json")
    return env


def start_server(env: dict, folder: Path, port: int) -> tuple[subprocess.Popen, object]:
    """``whistle serve`` on ``port``, once ``/health`` answers."""
    log = open(folder / "serve.log", "a")
    process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:  # another process starting up, not a timer: the clock is never waited for
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return process, log
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.close()
            raise AssertionError("whistle serve did not start:\n" + (folder / "serve.log").read_text())
        time.sleep(0.2)


def stop_server(process: subprocess.Popen, log) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``whistle serve`` on a fresh demo database."""
    folder = tmp_path_factory.mktemp("browser")
    env = demo_database(folder)
    port = _free_port()
    process, log = start_server(env, folder, port)
    yield {"base": f"http://127.0.0.1:{port}", "env": env, "folder": folder}
    stop_server(process, log)
    banner = (folder / "serve.log").read_text()
    assert "demo account" in banner and "command-wudadao" in banner  # `make run` tells people who to sign in as


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def shot(page: Page, name: str, doc: str | None = None, full_page: bool = True) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)
    if doc and os.environ.get("WHISTLE_DOC_SCREENSHOTS"):
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOC_SHOTS / f"{doc}.png"), full_page=False)


def sign_in(browser, server, username: str, viewport=DESK) -> Page:
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(f"{server['base']}/inbox")
    expect(page.get_by_role("heading", name="吹哨报到")).to_be_visible()  # sent to the sign-in page
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="待办", exact=True)).to_be_visible()
    return page


def task_card(page: Page, name: str):
    return page.locator("li.task").filter(has=page.get_by_role("link", name=name, exact=True))


def test_whistle_scenario_in_the_browser(server, browser, tmp_path):
    base = server["base"]
    photo = tmp_path / "现场照片.png"
    photo.write_bytes(PNG)

    # -- a grid worker reports a problem from a phone ------------------------------------------------------
    grid = sign_in(browser, server, "grid-worker-wudadao", PHONE)
    grid.get_by_role("link", name="发起").click()
    grid.get_by_role("link", name="上报问题").first.click()
    # the street is the grid worker's own: filled from their group and locked (the engine refuses another)
    expect(grid.locator("#wrap-street .locked-value")).to_contain_text("五大道街")
    expect(grid.locator("#f-street")).to_have_value("wudadao")
    grid.get_by_role("button", name="提交上报").click()
    expect(grid.locator("#err-location")).to_have_text("此项必须填写")  # the message sits next to the field
    expect(grid.locator("#err-situation")).to_have_text("请选择一项")
    grid.get_by_label("呼叫情形").select_option("building-repair-no-property")
    grid.get_by_label("问题位置").fill("睦南道12号院")
    grid.get_by_label("问题描述").fill("无物业楼院屋顶漏水，楼道灭火器过期")
    grid.get_by_label("现场照片").set_input_files(str(photo))
    shot(grid, "01-report-phone")
    grid.get_by_role("button", name="提交上报").click()
    expect(grid.locator(".flash-ok")).to_contain_text("已提交，案件编号")
    expect(grid.locator("#open-h")).to_have_text("当前待办")
    expect(grid.locator(".open-tasks")).to_contain_text("指挥中心审核")
    case_url = grid.url
    expect(grid.locator(".attachments")).to_contain_text("现场照片.png")

    # -- the housing liaison keeps the inbox open: nothing yet ---------------------------------------------
    housing = sign_in(browser, server, "liaison-housing")
    housing.get_by_role("link", name="组任务").click()
    expect(housing.locator(".empty")).to_have_text("没有待办任务")

    # -- the command centre reviews: a rejection needs a reason; then it blows the whistle (red) -------------
    centre = sign_in(browser, server, "command-wudadao")
    centre.get_by_role("link", name="组任务").click()
    card = task_card(centre, "指挥中心审核")
    expect(card).to_contain_text("无物业楼院消防设施")
    expect(card.locator(".badge").first).to_have_text("待办")
    card.get_by_role("link", name="办理").click()
    expect(centre.get_by_label("驳回理由")).to_be_hidden()  # shown only when rejecting
    centre.get_by_label("驳回", exact=True).check()
    expect(centre.get_by_label("驳回理由")).to_be_visible()
    centre.get_by_role("button", name="提交").click()
    expect(centre.locator("#err-reject_reason")).to_have_text("驳回必须填写驳回理由")
    centre.get_by_label("吹哨：派单给职能部门报到").check()
    expect(centre.get_by_label("驳回理由")).to_be_hidden()
    centre.get_by_label("调整响应级别").select_option("red")
    shot(centre, "02-review")
    centre.get_by_role("button", name="提交").click()
    expect(centre.locator(".flash-ok")).to_contain_text("已提交：指挥中心审核")

    # -- the liaison's open inbox shows the new tasks without a reload --------------------------------------
    expect(housing.locator("#live")).to_have_text("有新任务，列表已更新", timeout=20_000)
    sign_card = task_card(housing, "签收哨令")
    expect(sign_card).to_contain_text("剩余 15 分钟")
    expect(sign_card.locator(".tier")).to_have_text("红色")
    expect(sign_card).to_contain_text("报到提醒")  # the next timer of the case, from the timer jobs
    expect(sign_card.locator(".involved")).to_contain_text("区消防救援支队")  # who else is involved
    shot(housing, "03-inbox-live", doc="inbox")
    sign_card.get_by_role("button", name="认领").click()
    expect(housing.locator(".flash-ok")).to_have_text("任务已认领")
    housing.get_by_role("link", name="我的任务").click()
    task_card(housing, "签收哨令").get_by_role("link", name="办理").click()
    expect(housing.get_by_label("签收人")).to_have_value("区住建委联络员·韩平")
    housing.get_by_role("button", name="签收").click()
    expect(housing.locator(".flash-ok")).to_contain_text("已提交：签收哨令")
    housing.get_by_role("link", name="组任务").click()
    task_card(housing, "到场报到").get_by_role("link", name="办理").click()
    housing.get_by_label("已到场处置或配合").check()
    housing.get_by_label("到场情况说明").fill("已到场，组织物业公司和维修队检修屋顶")
    housing.get_by_role("button", name="保存草稿").click()
    expect(housing.locator(".flash-ok")).to_have_text("草稿已保存")
    housing.reload()
    expect(housing.locator(".flash-info")).to_contain_text("已载入")
    expect(housing.get_by_label("到场情况说明")).to_have_value("已到场，组织物业公司和维修队检修屋顶")
    housing.get_by_role("button", name="报到").click()
    expect(housing.locator(".flash-ok")).to_contain_text("已提交：到场报到")

    # -- a police liaison cannot open this case ------------------------------------------------------------
    police = sign_in(browser, server, "liaison-police", PHONE)
    police.goto(case_url)
    expect(police.get_by_role("heading", name="无权查看")).to_be_visible()
    expect(police.locator("main")).not_to_contain_text("睦南道12号院")

    # -- before the deadline: the case page shows the on-site timer waiting --------------------------------
    centre.goto(case_url)
    diagram = centre.locator("#diagram")
    expect(diagram).to_have_attribute("data-ready", "true", timeout=20_000)
    expect(centre.locator('g.djs-element[data-element-id="onsite_timer"]')).to_have_class(re_class("st-timer"))
    expect(centre.locator(".timers")).to_contain_text("报到期满")

    # -- the demo clock passes the 30-minute on-site deadline; the server's timer worker fires -------------
    cli(server["env"], "clock", "advance", "PT31M")
    supervisor = sign_in(browser, server, "supervisor")
    supervisor.get_by_role("link", name="组任务").click()
    deadline = time.monotonic() + 20
    while not task_card(supervisor, "区委督查室督办").count() and time.monotonic() < deadline:
        time.sleep(0.5)
        supervisor.reload()
    supervision = task_card(supervisor, "区委督查室督办")
    expect(supervision).to_be_visible()
    expect(supervision).to_contain_text("无物业楼院消防设施")
    shot(supervisor, "04-supervision")
    supervision.get_by_role("link", name="办理").click()
    late = supervisor.locator(".col-side dl.data")
    expect(late).to_contain_text("逾期未报到部门")  # the supervision task sees its own branch of the case
    expect(late).to_contain_text("区消防救援支队")
    shot(supervisor, "05-supervision-task")
    supervisor.goto(f"{base}/inbox")

    fire = sign_in(browser, server, "liaison-fire", PHONE)
    fire.get_by_role("link", name="组任务").click()
    on_site = task_card(fire, "到场报到")
    expect(on_site.locator(".deadline-overdue")).to_contain_text("已超时")
    expect(task_card(fire, "签收哨令").locator(".deadline-overdue")).to_have_text(re.compile(r"已超时 1[6-9] 分钟"))
    shot(fire, "06-overdue-phone")
    fire.goto(f"{base}/inbox?view=group&deadline=overdue")
    expect(fire.locator("li.task")).to_have_count(2)

    # -- the case page: diagram states, data and the timeline ----------------------------------------------
    supervisor.goto(case_url)
    expect(supervisor.locator("#diagram")).to_have_attribute("data-ready", "true", timeout=20_000)
    element = lambda element_id: supervisor.locator(f'g.djs-element[data-element-id="{element_id}"]')  # noqa: E731
    for done in ("start_report", "command_review", "dispatch", "record_overdue"):
        expect(element(done)).to_have_class(re_class("st-done"))
    for active in ("supervise", "report_on_site", "sign_order", "department_reports"):
        expect(element(active)).to_have_class(re_class("st-active"))
    expect(element("lead_handle")).not_to_have_class(re_class("st-"))
    expect(supervisor.locator("#case-status")).to_have_text("办理中")
    expect(supervisor.locator(".timeline")).to_contain_text("计时到期：报到期满")
    expect(supervisor.locator(".timeline")).to_contain_text("完成「到场报到」")
    expect(supervisor.locator("dl.data").first).to_contain_text("报到部门")
    expect(supervisor.locator("dl.data").first).to_contain_text("区消防救援支队")
    shot(supervisor, "07-case", doc="case")

    # -- English on request ----------------------------------------------------------------------------------
    supervisor.goto(f"{base}/inbox?view=group&lang=en")
    expect(supervisor.get_by_role("link", name="Group tasks")).to_be_visible()
    for page in (grid, housing, centre, police, supervisor, fire):
        assert page.errors == [], page.errors


def re_class(name: str):
    return re.compile(rf"(^|\s){re.escape(name)}")


def test_the_last_report_after_a_server_restart_moves_the_case_on(browser, tmp_path):
    """Issue 10: a red whistle, housing signs and reports, fire signs; the server restarts; fire reports on site in
    the browser — and the lead department's 牵头部门处置 appears (it used to stall with 已提交 and nothing after)."""
    env = demo_database(tmp_path)
    port = _free_port()
    process, log = start_server(env, tmp_path, port)
    server = {"base": f"http://127.0.0.1:{port}", "env": env, "folder": tmp_path}
    try:
        case = int(json.loads(cli(env, "start", "whistle", "--user", "grid-worker-wudadao", "--json", "--data", json.dumps({
            "situation": "building-repair-no-property", "location": "睦南道12号院", "description": "屋顶漏水，灭火器过期"},
            ensure_ascii=False)))["instance_id"])

        def do(user: str, name: str, data: dict) -> None:
            tasks = json.loads(cli(env, "tasks", "--user", user, "--json"))
            [task] = [t for t in tasks if t["name"] == name and t["instance_id"] == case]
            cli(env, "claim", task["task_id"], "--user", user)
            cli(env, "complete", task["task_id"], "--user", user, "--data", json.dumps(data, ensure_ascii=False))

        do("command-wudadao", "指挥中心审核", {"decision": "whistle", "tier_override": "red"})
        do("liaison-housing", "签收哨令", {})
        do("liaison-housing", "到场报到", {"acted": True, "action": "到场核查"})
        do("liaison-fire", "签收哨令", {})
        stop_server(process, log)  # the restart: nothing of the case is in any process's memory now
        process, log = start_server(env, tmp_path, port)

        fire = sign_in(browser, server, "liaison-fire", PHONE)
        fire.get_by_role("link", name="组任务").click()
        task_card(fire, "到场报到").get_by_role("link", name="办理").click()
        fire.get_by_label("已到场处置或配合").check()
        fire.get_by_label("到场情况说明").fill("到场检查消防设施")
        fire.get_by_role("button", name="报到").click()
        expect(fire.locator(".flash-ok")).to_contain_text("已提交：到场报到")

        housing = sign_in(browser, server, "liaison-housing")
        housing.get_by_role("link", name="组任务").click()
        expect(task_card(housing, "牵头部门处置")).to_be_visible()
        shown = json.loads(cli(env, "show", str(case), "--json"))
        assert [t["name"] for t in shown["open_tasks"]] == ["牵头部门处置"] and shown["incidents"] == []
        for page in (fire, housing):
            assert page.errors == [], page.errors
    finally:
        stop_server(process, log)
