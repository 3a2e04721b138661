"""Every page of the four processes reads well for the person using it (issue 14).

The process scenarios of tests/test_processes_*.py run again here with a page probe on the engine: before every
task completion the probe opens that task's page as the clerk completing it, and after the scenario it opens every
case's page as an administrator, as a district supervisor and as each clerk who worked on it. Each page must hold
no raw JSON, no ISO timestamp and, in Chinese, no English word or data key (``assert_readable``).
"""
from __future__ import annotations

import inspect
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from lxml import html as lxml_html
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from webui import create_app
from webui.demo import DEMO_PASSWORD

import test_processes_consultation as consultation
import test_processes_evaluation as evaluation
import test_processes_personnel as personnel
import test_processes_unconsulted as unconsulted
import test_processes_whistle as whistle_process
from process_helpers import PROCESSES, Org

PASSWORD = DEMO_PASSWORD
PROJECT = Path(__file__).parent.parent
CHROMIUM = os.environ.get("WHISTLE_CHROMIUM", "/usr/bin/chromium")
VIEWPORTS = {"desk": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}
DOC_SHOTS_ON = bool(os.environ.get("WHISTLE_DOC_SCREENSHOTS"))  # the README's tour: docs/screenshots/
JSON_TEXT = re.compile(r"[{\[]\s*\"[^\"]+\"\s*:|\[\s*\{|\"\s*:\s*[\[{\"\d]")
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
ENGLISH_WORD = re.compile(r"(?<![A-Za-z0-9._/-])[A-Za-z][A-Za-z0-9]*(?:[_-][A-Za-z0-9]+)*(?![A-Za-z0-9._/-])")
# Words a Chinese page may carry: file formats and units, the product's name, ids the scenarios made up for
# attachments that were never uploaded (att-…).
ALLOWED_WORDS = {"PDF", "JPEG", "JPG", "PNG", "HEIC", "KB", "MB", "B", "BPMN", "DMN", "Whistle", "CSV", "XLSX",
                 "ID", "API", "REST", "OpenAPI", "English", "EN", "Ctrl", "PT31M"}
PLANTED = re.compile(r"^att-[\w-]+$")


def visible_text(page: str) -> str:
    """The text a person reads: no scripts, styles, attribute values, code, or the administrators' technical view
    of a case (its process variables by name)."""
    tree = lxml_html.fromstring(page)
    technical = "//*[contains(concat(' ', normalize-space(@class), ' '), ' technical ')]"
    for element in tree.xpath(f"//script|//style|//code|//template|//noscript|{technical}"):
        element.drop_tree()
    return " ".join(tree.text_content().split())


def assert_readable(page: str, lang: str = "zh", where: str = "") -> None:
    text = visible_text(page)
    problems = []
    for match in JSON_TEXT.finditer(text):
        problems.append(f"raw JSON: …{text[max(0, match.start() - 40):match.end() + 40]}…")
    for match in ISO_MOMENT.finditer(text):
        problems.append(f"ISO timestamp: …{text[max(0, match.start() - 30):match.end() + 20]}…")
    if lang == "zh":
        for match in ENGLISH_WORD.finditer(text):
            word = match.group(0)
            if word not in ALLOWED_WORDS and not PLANTED.match(word):
                problems.append(f"English in a Chinese page: '{word}' in …{text[max(0, match.start() - 30):match.end() + 30]}…")
    assert not problems, f"{where}:\n  " + "\n  ".join(dict.fromkeys(problems))


@pytest.mark.parametrize("page", [
    '<p>考核结果 [{"department": "dept-fire", "total": 96}]</p>',
    "<p>截止 2026-12-11T17:30:00+08:00</p>",
    "<p>其他数据 remind_timer 已计时</p>",
    "<p>流程 process 已发起</p>",
])
def test_the_check_finds_what_a_person_should_not_read(page):
    with pytest.raises(AssertionError):
        assert_readable(f"<html><body>{page}</body></html>", "zh", "sample")
    assert_readable("<html><body><p>截止 2026-12-11 17:30 · 五大道街 · PDF 2 MB</p><code>reply_due</code></body></html>")


class PageProbe:
    """Opens the pages of a scenario as it runs (see the module)."""

    def __init__(self, engine, tmp_path: Path) -> None:
        self.w = engine
        self.app = create_app({"ENGINE": engine, "TESTING": True, "ATTACHMENTS_DIR": str(tmp_path / "attachments")})
        self.clients: dict[str, object] = {}
        self.pages = 0
        self.workers: dict[int, set[str]] = {}
        self.browser: BrowserPass | None = None

    def install(self) -> None:
        self.w.import_users(PROCESSES / "demo-accounts.json")  # display names, groups and the demo password
        complete = self.w.complete

        def probed_complete(task_id: str, user: str, data: dict | None = None, lang: str = "zh") -> dict:
            task = self.w.task(task_id)
            self.workers.setdefault(task["instance_id"], set()).add(user)
            self.check(user, f"/tasks/{task_id}", f"task '{task['name']}' as {user}")
            return complete(task_id, user, data, lang)

        self.w.complete = probed_complete

    def client(self, username: str):
        if username not in self.clients:
            http = self.app.test_client()
            page = http.get("/login").get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            response = http.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
            assert response.status_code == 302, f"{username} could not sign in"
            self.clients[username] = http
        return self.clients[username]

    def check(self, username: str, url: str, where: str) -> None:
        response = self.client(username).get(url)
        assert response.status_code == 200, f"{where}: {url} answered {response.status_code}"
        assert_readable(response.get_data(as_text=True), "zh", where)
        self.pages += 1
        if self.browser is not None:
            self.browser.check(username, url, where)

    def residents(self, instance_id: int) -> list[str]:
        """The resident named on a case (the whistle's 居民), once they may open its page (their feedback task)."""
        reporter = self.w.show(instance_id)["data"].get("resident")
        return [reporter] if isinstance(reporter, str) and reporter.startswith("resident") \
            and self.w.can_see_instance(reporter, instance_id) else []

    def check_cases(self) -> None:
        for instance_id, workers in sorted(self.workers.items()):
            for username in ["admin", "supervisor", *sorted(workers), *self.residents(instance_id)]:
                self.check(username, f"/cases/{instance_id}", f"case #{instance_id} as {username}")


class BrowserPass:
    """The same pages in chromium, served by the probe's app, on a desk and on a 390 px phone: readable after the
    scripts ran, and on the phone nothing wider than the screen (no sideways scrolling)."""

    def __init__(self, chromium, app) -> None:
        self.chromium = chromium
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.pages: dict[tuple[str, str], object] = {}
        self.shots: dict[str, tuple[str, str, str]] = {}  # doc screenshot name → (user, url, viewport)

    def page(self, username: str, viewport: str):
        if (username, viewport) not in self.pages:
            context = self.chromium.new_context(viewport=VIEWPORTS[viewport], locale="zh-CN")
            page = context.new_page()
            page.goto(f"{self.base}/login")
            page.get_by_label("用户名").fill(username)
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            page.wait_for_url(re.compile(r".*/inbox.*"))
            self.pages[(username, viewport)] = page
        return self.pages[(username, viewport)]

    def check(self, username: str, url: str, where: str) -> None:
        for viewport in VIEWPORTS:
            page = self.page(username, viewport)
            page.goto(self.base + url)
            assert_readable(page.content(), "zh", f"{where} in chromium ({viewport})")
            if viewport == "phone":
                wider = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert wider <= 1, f"{where}: on a 390 px phone the page is {wider} px wider than the screen"
            for name, (user, shown, size) in self.shots.items():
                if DOC_SHOTS_ON and user == username and shown in where and size == viewport:
                    page.screenshot(path=str(PROJECT / "docs" / "screenshots" / f"{name}.png"),
                                    full_page=viewport == "desk")

    def close(self) -> None:
        for page in self.pages.values():
            page.context.close()
        self.server.shutdown()


SCENARIOS = [
    (consultation, "test_streets_reply_and_the_department_answers_each_opinion_in_writing"),
    (consultation, "test_missing_written_feedback_is_escalated_while_the_department_must_still_answer"),
    (unconsulted, None),
    (personnel, "test_an_objection_needs_reasons_and_proceeding_against_it_a_written_explanation"),
    (personnel, "test_extended_inspection_then_the_street_replies_again"),
    (personnel, "test_a_late_answer_to_a_street_suggestion_is_followed_up_by_the_organisation_department"),
    (evaluation, "test_an_accepted_appeal_corrects_the_score_and_the_ranking"),
    (evaluation, "test_the_street_that_whistles_is_assessed_too"),
    (evaluation, "test_a_year_in_miniature_ranks_the_departments_by_what_they_did"),
    (whistle_process, None),
    (whistle_process, "test_a_late_department_is_reminded_recorded_and_supervised"),
    (whistle_process, "test_a_department_that_never_reports_is_reminded_supervised_noticed_and_the_street_closes_the_case"),
]
EVERY = 6  # scenarios of a module named without a test (None): its first ones


def _scenarios() -> list:
    chosen = []
    for module, name in SCENARIOS:
        names = [name] if name else [n for n, f in inspect.getmembers(module, inspect.isfunction)
                                     if n.startswith("test_") and {"org", "district"} & set(inspect.signature(f).parameters)][:EVERY]
        chosen += [pytest.param(module, n, id=f"{module.__name__.removeprefix('test_processes_')}:{n[5:40]}")
                   for n in names]
    return chosen


@pytest.fixture
def db_url(request, tmp_path) -> str:  # what a page says does not depend on the database: SQLite only
    path = tmp_path / "whistle.sqlite"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.mark.parametrize("module,name", _scenarios())
def test_every_page_of_a_process_reads_well(whistle, manual_clock, tmp_path, module, name):
    org = Org(whistle)
    probe = PageProbe(whistle, tmp_path)
    probe.install()
    scenario = getattr(module, name)
    arguments = {"org": org, "manual_clock": manual_clock, "whistle": whistle, "tmp_path": tmp_path,
                 "district": module.District(whistle) if hasattr(module, "District") else None}
    scenario(**{p: arguments[p] for p in inspect.signature(scenario).parameters})
    probe.check_cases()
    assert probe.pages > 0


# One scenario per process, in chromium: every task page as its clerk while the case runs, every case page after.
BROWSER_SCENARIOS = [
    (consultation, "test_streets_reply_and_the_department_answers_each_opinion_in_writing"),
    (personnel, "test_an_objection_needs_reasons_and_proceeding_against_it_a_written_explanation"),
    (evaluation, "test_an_accepted_appeal_corrects_the_score_and_the_ranking"),
    (whistle_process, "test_a_late_department_is_reminded_recorded_and_supervised"),
]
DOC_SHOTS = {  # written with WHISTLE_DOC_SCREENSHOTS=1: (who, the page, viewport)
    "opinion-task": ("liaison-culture-tourism", "task '研究采纳意见'", "desk"),
    "results-task": ("org-officer", "task '组织部审核发布'", "desk"),
    "resident-case-phone": ("resident-a", "as resident-a", "phone"),
}


@pytest.fixture(scope="module")
def chromium():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox",
                                                                          "--disable-gpu", "--no-first-run"])
        yield browser
        browser.close()


@pytest.mark.parametrize("module,name", [
    pytest.param(m, n, id=m.__name__.removeprefix("test_processes_")) for m, n in BROWSER_SCENARIOS])
def test_every_page_of_a_process_reads_well_in_a_browser_on_a_desk_and_a_phone(whistle, manual_clock, tmp_path,
                                                                               chromium, module, name):
    org = Org(whistle)
    probe = PageProbe(whistle, tmp_path)
    probe.install()
    probe.browser = BrowserPass(chromium, probe.app)
    probe.browser.shots = DOC_SHOTS
    try:
        scenario = getattr(module, name)
        arguments = {"org": org, "manual_clock": manual_clock, "whistle": whistle, "tmp_path": tmp_path,
                     "district": module.District(whistle) if hasattr(module, "District") else None}
        scenario(**{p: arguments[p] for p in inspect.signature(scenario).parameters})
        probe.check_cases()
    finally:
        probe.browser.close()
    assert len(probe.browser.pages) >= 2 and probe.pages > 0
