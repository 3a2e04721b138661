"""The form and decision editors in a real browser (issue 15): Debian's chromium driven by Playwright against a
real ``whistle serve`` on a fresh demo database with the whistle process deployed.

The designer opens the whistle process's 签收哨令 form from its versions page in form-js's editor, selects the
签收人 field on the form's canvas, changes its label in form-js's properties panel, validates and deploys; the
new version's form has the new label (and a new case's sign task shows it). Then they open the tier deadlines
decision table of that version in dmn-js, change one cell (the red tier's priority), deploy, and the diff page
between the two versions lists exactly that cell. Server and sign-in helpers are ``tests/test_browser.py``'s,
as in ``tests/test_modeler_browser.py``.
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
    sign_in,
    start_server,
    stop_server,
)

from test_readable_pages import assert_readable

SIGN_FORM = "forms/whistle-sign.form.json"
TABLE = "tier-deadlines.dmn"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("editors")
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


def versions_of(env: dict) -> dict:
    return json.loads(cli(env, "definitions", "--json"))


def latest(env: dict) -> int:
    return max(d["version"] for d in versions_of(env) if d["process_id"] == "whistle")


def open_editor(page: Page, server: dict, version: int, link: str, path: str) -> None:
    """From the versions page: the 编辑… link beside the file of that version."""
    page.goto(f"{server['base']}/definitions/whistle/versions")
    card = page.locator(f"li#v{version}")
    card.locator("li").filter(has_text=path.rsplit("/", 1)[-1]).get_by_role("link", name=link).click()
    expect(page.locator("body[data-editor=ready]")).to_have_count(1, timeout=30_000)


def deploy(page: Page, version: int) -> None:
    page.get_by_role("button", name="校验").click()
    expect(page.locator("#editor-status")).to_have_text("校验通过，可以部署", timeout=15_000)
    page.get_by_role("button", name="部署").click()
    expect(page.locator("#editor-confirm")).to_contain_text("新版本")
    page.get_by_role("button", name="确认部署").click()
    expect(page.locator("#editor-status")).to_have_text(f"已部署为版本 {version}", timeout=30_000)


def test_a_designer_edits_a_form_in_form_js_and_a_decision_table_in_dmn_js(server, browser):
    env = server["env"]
    first = latest(env)
    page = sign_in(browser, server, "designer", DESK)

    # -- the sign form in form-js: the 签收人 label changed in the properties panel ---------------------------
    open_editor(page, server, first, "编辑表单", SIGN_FORM)
    expect(page.locator("h1")).to_contain_text("编辑表单")
    expect(page.locator(".modeler-base")).to_contain_text(f"基于版本 {first}")
    page.locator('.fjs-editor-container [data-id="Field_fields_0"]').click()  # the 签收人 field on the canvas
    label = page.locator("#bio-properties-panel-label")  # form-js's label: a one-line CodeMirror editor
    expect(label).to_have_text("签收人")
    general = page.locator(".bio-properties-panel-group-header").filter(has_text="General").first
    if "open" not in (general.get_attribute("class") or ""):
        general.click()
    label.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text("签收人姓名")
    expect(label).to_have_text("签收人姓名")
    expect(page.locator("#editor-status")).to_contain_text("草稿已保存", timeout=15_000)  # autosaved
    # the page's own texts (form-js's editor itself has no Chinese translation: its palette and panel read English)
    assert_readable(page.inner_html(".modeler-bar"), "zh", "the form editor's bar")
    deploy(page, first + 1)
    assert page.errors == []

    second = latest(env)
    assert second == first + 1
    form = json.loads(cli(env, "diff", "whistle", str(first), str(second), "--json"))["forms"]
    assert [(f["key"], f["fields"]["changed"]) for f in form] == [("whistle-sign", [
        {"name": "signed_by", "label": "签收人姓名", "type": "text", "changes": {"label": ["签收人", "签收人姓名"]}}])]
    form_page = sign_in(browser, server, "designer", DESK)
    form_page.goto(f"{server['base']}/definitions/whistle/versions")
    open_editor(form_page, server, second, "编辑表单", SIGN_FORM)
    expect(form_page.locator('.fjs-editor-container [data-id="Field_fields_0"]')).to_contain_text("签收人姓名")
    form_page.close()

    # -- the tier deadlines table in dmn-js: one cell changed --------------------------------------------------
    open_editor(page, server, second, "编辑决策表", TABLE)
    expect(page.locator("h1")).to_contain_text("编辑决策表")
    cell = page.locator('.tjs-table td[data-element-id="tier_deadlines_red_priority"]')
    expect(cell).to_have_text("90")
    cell.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("95")
    page.locator("h1").click()  # leave the cell
    expect(cell).to_have_text("95")
    expect(page.locator("#editor-status")).to_contain_text("草稿已保存", timeout=15_000)
    deploy(page, second + 1)
    assert page.errors == []

    third = latest(env)
    diff = json.loads(cli(env, "diff", "whistle", str(second), str(third), "--json"))
    assert (diff["added"], diff["removed"], diff["changed"], diff["forms"]) == ([], [], [], [])
    [decision] = diff["decisions"]
    assert decision["rules"]["changed"] == [{"id": "tier_deadlines_red", "index": 1, "old_index": 1, "cells": [
        {"column": "tier_deadlines_out_priority", "label": "待办优先级 priority", "kind": "output",
         "old": "90", "new": "95"}]}]
    page.goto(f"{server['base']}/definitions/whistle/diff?from={second}&to={third}")
    # (no readability check here: the table's own column labels, 待办优先级 priority, are the file's words)
    tables = page.locator("section[aria-label^=决策表]")
    expect(tables).to_have_count(1)
    cells = tables.locator("tbody tr")
    expect(cells).to_have_count(1)
    expect(cells.first).to_contain_text("tier_deadlines_red")
    expect(cells.first).to_contain_text("90")
    expect(cells.first).to_contain_text("95")
    page.close()
