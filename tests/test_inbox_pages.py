"""The inbox and the case list as clerks use them (issue 14, item 4), through HTTP and the engine API on SQLite
and PostgreSQL: the tab that opens, counts and totals, numbered paging, the filters (street, department,
dates, overdue…) and the sort kept in the URL and checked by the engine, and the case diagram's controls."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from test_migrations import fresh_url  # noqa: F401, F811  (the fixture: an empty database on each backend)
from test_web_pages import Site, text

from engine.casework.listing import CaseQuery, InboxQuery
from engine.errors import InvalidInput
from webui.staff import cases as case_pages
from webui.staff import inbox as inbox_pages


@pytest.fixture
def site(whistle, tmp_path) -> Site:
    return Site(whistle, tmp_path)


def task_ids(html: str) -> list[str]:
    return re.findall(r'<li class="task card[^"]*" data-task-id="([^"]+)"', html)


def case_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<li class="card case-item" data-instance-id="(\d+)"', html)]


def current_tab(html: str) -> str:
    return re.search(r'class="tab" aria-current="page" data-view="(\w+)"', html).group(1)


def total(html: str) -> int:
    return int(re.search(r'data-total="(\d+)"', html).group(1))


# ---------------------------------------------------------------------------------------------------------
# The inbox

def test_inbox_opens_on_the_tab_that_holds_work_and_counts_every_tab(site):
    centre = site.client("command-wudadao")
    empty = text(centre.get("/inbox"))
    assert current_tab(empty) == "mine" and "没有待办任务" in empty and total(empty) == 0
    first, second = site.report(), site.report(situation="street-lighting")
    group = text(centre.get("/inbox"))  # nothing claimed: the work is in 组任务
    assert current_tab(group) == "group" and len(task_ids(group)) == 2 and total(group) == 2
    assert "共 2 项" in group and '<span class="count" data-count="group">2</span>' in group
    assert '<span class="count" data-count="mine">0</span>' in group
    assert '<span class="count" data-count="done">0</span>' in group
    mine = text(centre.get("/inbox?view=mine"))
    assert "没有待办任务" in mine and "查看可认领的任务（2）" in mine
    task_id = site.task_of("command-wudadao", "指挥中心审核", first)
    centre.post(f"/tasks/{task_id}/claim")
    assert current_tab(text(centre.get("/inbox"))) == "mine"  # something claimed: 我的任务 first
    done = text(centre.get("/inbox?view=done"))
    assert "还没有已完成的任务" in done and "没有待办任务" not in done
    site.whistle(second)
    done = text(centre.get("/inbox?view=done"))
    assert total(done) == 1 and '<span class="count" data-count="done">1</span>' in done
    # the engine chooses the same way, and says it chose
    result = site.w.inbox("command-wudadao")
    assert result["view"] == "mine" and result["chosen"] and result["counts"] == {"mine": 1, "group": 0, "done": 1}


def test_inbox_pages_are_numbered_and_keep_the_filters(site, monkeypatch):
    monkeypatch.setattr(inbox_pages, "PAGE_SIZE", 2)
    for _ in range(5):
        site.report()
    centre = site.client("command-wudadao")
    first = text(centre.get("/inbox?view=group&street=wudadao"))
    assert total(first) == 5 and len(task_ids(first)) == 2 and "第 1/3 页" in first
    assert 'class="page-no current" aria-current="page"' in first
    for n in (2, 3):
        assert f'href="/inbox?street=wudadao&amp;view=group&amp;page={n}"' in first
    assert 'href="/inbox?street=wudadao&amp;view=group&amp;page=2" rel="next"' in first
    last = text(centre.get("/inbox?view=group&street=wudadao&page=3"))
    assert len(task_ids(last)) == 1 and 'rel="prev"' in last and 'rel="next"' not in last
    seen = task_ids(first) + task_ids(text(centre.get("/inbox?view=group&street=wudadao&page=2"))) + task_ids(last)
    assert len(set(seen)) == 5


def test_inbox_filters_by_street_department_and_creation_date(site, manual_clock):
    wudadao = site.report(situation="open-burning")  # whistled to law enforcement, fire and ecology
    manual_clock.advance(timedelta(days=2))
    xiaobailou = site.report(reporter="grid-worker-xiaobailou", street="xiaobailou", community="kaifengdao")
    supervisor = site.client("supervisor")
    site.whistle(wudadao)
    fire = site.client("liaison-fire")
    # the projection: a task's street and department, from its candidate groups or its data
    tasks = {(t["name"], t["department"]) for t in site.w.inbox("liaison-fire", "group")["tasks"]}
    assert ("签收哨令", "dept-fire") in tasks and all(t["street"] == "wudadao"
                                                   for t in site.w.inbox("liaison-fire", "group")["tasks"])
    centre = site.client("command-xiaobailou")
    assert len(task_ids(text(centre.get("/inbox?view=group&street=xiaobailou")))) == 1
    filtered = text(centre.get("/inbox?view=group&street=wudadao"))
    assert task_ids(filtered) == [] and "没有符合筛选条件的任务" in filtered and "清除筛选" in filtered
    assert '<details class="filter-box card" data-open-wide open>' in filtered  # an active filter shows its card
    page = text(fire.get("/inbox?view=group&department=dept-fire"))
    assert len(task_ids(page)) == 2 and total(page) == 2
    assert task_ids(text(fire.get("/inbox?view=group&department=dept-housing"))) == []
    assert '<option value="dept-fire" selected>' in page and '<option value="wudadao" >五大道街</option>' in page
    # created dates are days in the calendars' time zone (START is 2026-09-28 17:00 in Shanghai)
    centre_w = site.client("command-wudadao")
    site.report()  # a second wudadao case, two days later
    assert len(task_ids(text(centre_w.get("/inbox?view=group&from=2026-09-30")))) == 1
    assert len(task_ids(text(centre_w.get("/inbox?view=group&to=2026-09-29")))) == 0
    assert len(task_ids(text(centre_w.get("/inbox?view=done&from=2026-09-28&to=2026-09-28")))) == 1
    assert supervisor.get("/inbox").status_code == 200
    assert xiaobailou


def test_inbox_sorts_and_refuses_what_it_does_not_know(site, manual_clock):
    first = site.report(situation="street-lighting")
    manual_clock.advance(timedelta(hours=1))
    second = site.report(situation="street-lighting")
    centre = site.client("command-wudadao")
    newest = [t["instance_id"] for t in site.w.inbox("command-wudadao", "group", sort="newest")["tasks"]]
    oldest = [t["instance_id"] for t in site.w.inbox("command-wudadao", "group", sort="oldest")["tasks"]]
    assert newest == [second, first] and oldest == [first, second]
    page = text(centre.get("/inbox?view=group&sort=newest"))
    assert re.findall(r'data-instance-id="(\d+)"', page)[:2] == [str(second), str(first)]
    assert '<option value="newest" selected>' in page
    assert 'href="/inbox?sort=newest&amp;view=mine"' in page  # the tabs keep the sort
    for bad, parameter in (("sort=cheapest", "sort"), ("tier=purple", "tier"), ("deadline=soon", "deadline"),
                           ("from=2026-13-01", "from"), ("to=yesterday", "to"), ("street=<script>", "street"),
                           ("view=everything", "view"), ("colour=red", "colour"),
                           ("from=2026-10-02&to=2026-10-01", "from"), ("q=" + "长" * 101, "q")):
        response = centre.get(f"/inbox?{bad}")
        assert response.status_code == 400, bad
        assert "筛选条件无效" in text(response) and f"&#39;{parameter}&#39;" in text(response), bad
    with pytest.raises(InvalidInput, match="'sort'"):
        site.w.inbox("command-wudadao", "group", sort="random")
    with pytest.raises(InvalidInput, match="'department'"):
        InboxQuery.from_args({"department": "dept housing; drop"})
    query = InboxQuery.from_args({"view": "group", "street": "wudadao", "from": "2026-09-01", "sort": "oldest",
                                  "tier": ""})
    assert query.created_from == date(2026, 9, 1) and query.tier is None and query.filtered
    assert InboxQuery.from_args(query.args()) == query
    assert not InboxQuery.from_args({"view": "mine", "sort": "newest"}).filtered
    # the language and the page number are the page's own, not the engine's filters
    assert centre.get("/inbox?lang=en&page=1&partial=1").status_code == 200


def test_inbox_filter_card_folds_on_a_phone(site):
    centre = site.client("command-wudadao")
    page = text(centre.get("/inbox"))
    assert '<details class="filter-box card" data-open-wide >' in page and "<summary>筛选" in page
    script = text(centre.get("/static/app.js"))
    assert "details[data-open-wide]" in script and "min-width: 601px" in script
    css = text(centre.get("/static/app.css"))
    assert ".filter-box" in css


# ---------------------------------------------------------------------------------------------------------
# The case list


def test_case_list_filters_sorts_counts_and_pages(site, manual_clock, monkeypatch):
    monkeypatch.setattr(case_pages, "PAGE_SIZE", 2)
    old = site.report(situation="street-lighting")
    manual_clock.advance(timedelta(days=3))
    whistled = site.report(situation="open-burning")
    site.whistle(whistled)
    other = site.report(reporter="grid-worker-xiaobailou", street="xiaobailou", community="kaifengdao")
    supervisor = site.client("supervisor")  # district supervision sees every case
    page = text(supervisor.get("/cases"))
    assert total(page) == 3 and case_ids(page) == [other, whistled] and "第 1/2 页" in page
    assert 'href="/cases?page=2" rel="next"' in page
    assert case_ids(text(supervisor.get("/cases?page=2"))) == [old]
    assert case_ids(text(supervisor.get("/cases?sort=oldest"))) == [old, whistled]
    assert case_ids(text(supervisor.get("/cases?street=xiaobailou"))) == [other]
    assert case_ids(text(supervisor.get("/cases?department=dept-fire"))) == [whistled]
    assert case_ids(text(supervisor.get("/cases?from=2026-09-28&to=2026-09-28"))) == [old]
    assert total(text(supervisor.get("/cases?from=2026-10-01"))) == 2
    assert case_ids(text(supervisor.get("/cases?process=whistle&status=running&q=睦南道&sort=oldest"))) \
        == [old, whistled]
    assert case_ids(text(supervisor.get("/cases?status=completed"))) == []
    assert case_ids(text(supervisor.get("/cases?overdue=1"))) == []
    manual_clock.advance(timedelta(minutes=20))  # the departments' 15-minute sign deadline passes
    overdue = text(supervisor.get("/cases?overdue=1"))
    assert case_ids(overdue) == [whistled] and total(overdue) == 1
    assert '<input type="checkbox" name="overdue" value="1" checked>' in overdue
    assert case_ids(text(supervisor.get("/cases?sort=deadline")))[0] == whistled
    empty = text(supervisor.get("/cases?street=nanshi"))
    assert "没有符合筛选条件的案件" in empty and 'href="/cases"' in empty
    for bad, parameter in (("status=lost", "status"), ("overdue=maybe", "overdue"), ("sort=random", "sort"),
                           ("from=28.09.2026", "from"), ("nonsense=1", "nonsense")):
        response = supervisor.get(f"/cases?{bad}")
        assert response.status_code == 400 and f"&#39;{parameter}&#39;" in text(response), bad
    # visibility is unchanged: a street's grid worker sees only the cases they are part of
    grid = text(site.client("grid-worker-xiaobailou").get("/cases"))
    assert case_ids(grid) == [other] and total(grid) == 1
    assert case_ids(text(site.client("grid-worker-xiaobailou").get("/cases?street=wudadao"))) == []
    result = site.w.case_list("grid-worker-wudadao", CaseQuery(sort="oldest"), limit=1)
    assert [c["instance_id"] for c in result["cases"]] == [old] and result["total"] == 2 and result["more"]


# ---------------------------------------------------------------------------------------------------------
# The case diagram


def test_case_diagram_has_zoom_pan_and_fit_controls(site):
    case = site.report()
    page = text(site.client("grid-worker-wudadao").get(f"/cases/{case}"))
    for action, label in (("zoom-in", "放大"), ("zoom-out", "缩小"), ("fit", "适应窗口"), ("reset", "还原")):
        assert re.search(rf'<button type="button"[^>]*data-zoom="{action}"[^>]*aria-label="{label}"', page), action
    assert "bpmn-navigated-viewer.production.min.js" in page and 'id="diagram"' in page
    script = text(site.client("grid-worker-wudadao").get("/static/case.js"))
    assert "fit-viewport" in script and "resize" in script and "pointerdown" in script


# ---------------------------------------------------------------------------------------------------------
# In a real browser (chromium, as tests/test_browser.py): the filter card folds on a phone, the diagram's
# controls zoom and fit, and nothing throws


@pytest.fixture(scope="module")
def live_site(tmp_path_factory):
    from test_browser import _free_port, demo_database, start_server, stop_server

    folder = tmp_path_factory.mktemp("inbox-browser")
    env = demo_database(folder)
    port = _free_port()
    process, log = start_server(env, folder, port)
    yield f"http://127.0.0.1:{port}"
    stop_server(process, log)


def test_phone_inbox_shows_tasks_first_and_the_diagram_zooms(live_site):
    from playwright.sync_api import expect, sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS, DESK, PASSWORD, PHONE, PNG

    def signed_in(browser, username: str, viewport: dict, **options):
        page = browser.new_context(viewport=viewport, locale="zh-CN", **options).new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(f"{live_site}/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("heading", name="待办", exact=True)).to_be_visible()
        return page

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        grid = signed_in(browser, "grid-worker-wudadao", PHONE, has_touch=True, is_mobile=True)
        grid.goto(f"{live_site}/start/whistle")
        grid.get_by_label("呼叫情形").select_option("building-repair-no-property")
        grid.get_by_label("问题位置").fill("睦南道12号院")
        grid.get_by_label("问题描述").fill("无物业楼院屋顶漏水")
        grid.get_by_label("现场照片").set_input_files(files=[{"name": "roof.png", "mimeType": "image/png",
                                                              "buffer": PNG}])
        grid.get_by_role("button", name="提交上报").click()
        expect(grid.locator(".flash-ok")).to_contain_text("已提交")
        case_url = grid.url

        centre = signed_in(browser, "command-wudadao", PHONE, has_touch=True, is_mobile=True)
        box = centre.locator("details.filter-box")
        assert box.evaluate("el => el.open") is False  # folded: the tasks come first
        expect(centre.locator(".tab[aria-current=page]")).to_contain_text("组任务")  # where the work is
        first = centre.locator("li.task").first.bounding_box()
        assert first is not None and first["y"] < PHONE["height"] / 2
        centre.get_by_text("筛选", exact=True).first.click()
        expect(centre.locator("select[name=street]")).to_be_visible()
        assert centre.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        desk = signed_in(browser, "command-wudadao", DESK)
        assert desk.locator("details.filter-box").evaluate("el => el.open") is True

        centre.goto(case_url)
        diagram = centre.locator("#diagram")
        expect(diagram).to_have_attribute("data-ready", "true", timeout=20_000)
        tools = centre.locator(".diagram-tools")
        expect(tools).to_be_visible()
        for name in ("放大", "缩小", "适应窗口", "还原"):
            button = centre.get_by_role("button", name=name, exact=True)
            place = button.bounding_box()
            assert place and place["x"] >= 0 and place["x"] + place["width"] <= PHONE["width"], name
        height = diagram.bounding_box()["height"]
        assert 300 <= height <= 560

        def transform() -> str:
            return centre.locator("#diagram svg g.viewport").first.get_attribute("transform") or ""

        fitted = transform()
        centre.get_by_role("button", name="放大", exact=True).click()
        zoomed = transform()
        assert zoomed != fitted
        centre.get_by_role("button", name="适应窗口", exact=True).click()
        # fitted again: the same scale and place, to a fraction of a pixel (the canvas may have re-measured)
        again, first = (list(map(float, re.findall(r"-?[\d.]+", t))) for t in (transform(), fitted))
        assert len(again) == len(first) == 6 and all(abs(a - b) <= max(0.01 * abs(b), 0.5)
                                                     for a, b in zip(again, first, strict=True)), (again, first)
        centre.get_by_role("button", name="还原", exact=True).click()
        assert "matrix(1," in transform().replace(" ", "") or "matrix(1 " in transform()
        assert grid.errors == [] and centre.errors == [] and desk.errors == []
        browser.close()


# ---------------------------------------------------------------------------------------------------------
# Migration 0013 fills the street and department of the tasks already there


def test_0013_backfills_street_and_department(fresh_url):  # noqa: F811  (the imported fixture)
    from sqlalchemy import text as sql
    from test_migrations import NOW, _stamp

    from engine.store.db import make_engine
    from engine.store.migrate import upgrade

    engine = make_engine(fresh_url)
    upgrade(engine, "0012")
    sqlite = engine.dialect.name == "sqlite"
    at = _stamp(NOW, sqlite)
    with engine.begin() as conn:
        conn.execute(sql("INSERT INTO definition_version (id, key, kind, version, name, content_hash, source_file, "
                         "deployed_at, deployed_by, warnings) VALUES (1, 'old', 'process', 1, 'old', 'x', "
                         "'old.bpmn', :at, 'system', '[]')"), {"at": at})
        conn.execute(sql("INSERT INTO process_instance (id, version_id, process_id, status, state, data, started_at, "
                         "updated_at, revision) VALUES (1, 1, 'old', 'running', '{}', :data, :at, :at, 1)"),
                     {"at": at, "data": '{"street": "wudadao", "lead_department": "dept-housing"}'})
        for task_id, group in (("t-review", "street-xiaobailou-command"), ("t-sign", "dept-fire-party"),
                               ("t-supervise", "district-supervision")):
            conn.execute(sql("INSERT INTO human_task (id, instance_id, process_id, version_id, element_id, name, "
                             "priority, status, created_at) VALUES (:id, 1, 'old', 1, 'e', '办理', 50, 'open', :at)"),
                         {"id": task_id, "at": at})
            conn.execute(sql("INSERT INTO task_candidate (task_id, kind, name) VALUES (:id, 'group', :group)"),
                         {"id": task_id, "group": group})
    upgrade(engine)
    with engine.connect() as conn:
        rows = {r.id: (r.street, r.department) for r in conn.execute(sql("SELECT id, street, department FROM human_task"))}
    engine.dispose()
    assert rows == {"t-review": ("xiaobailou", "dept-housing"), "t-sign": ("wudadao", "dept-fire"),
                    "t-supervise": ("wudadao", "dept-housing")}
