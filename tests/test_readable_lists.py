"""The list pages read well for every role (issue 14): with work of all four processes in the inboxes, each demo
account opens its inbox tabs (mine, group, done), the case list, the start page and each start form it may use;
the designer the definitions and every form's preview, the administrator the admin page (timer jobs, incidents).
No page may show raw JSON, an ISO timestamp or — in Chinese — an English word or data key
(``test_readable_pages.assert_readable``). One role opens them all again in English.

The cases are made once for the module (reading a page changes nothing) through the engine, with the scenario
helpers of tests/test_processes_*.py: two of each process, left where the inboxes have work.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from engine.api import Whistle
from engine.identity import accounts
from engine.time import clock
from webui import create_app
from webui.demo import DEMO_ROLES

from conftest import START
from process_helpers import DEMO, PROCESSES
from test_processes_consultation import complete, open_consultation
from test_processes_evaluation import THREE
from test_processes_evaluation import start as start_evaluation
from test_processes_personnel import send_letter
from test_processes_whistle import District
from test_readable_pages import PASSWORD, assert_readable

# The demo roles of the sign-in page, and the governance clerks the scenarios give work to.
CLERKS = ["party-wudadao", "command-nanshi", "liaison-culture-tourism", "party-market", "org-officer"]
ACCOUNTS = list(dict.fromkeys([name for _role, _en, name, _finds in DEMO_ROLES] + CLERKS))
TABS = ("mine", "group", "done")


@dataclass
class World:
    w: Whistle
    app: object
    cases: dict[str, list[int]] = field(default_factory=dict)
    clients: dict[str, object] = field(default_factory=dict)

    def client(self, username: str):
        if username not in self.clients:
            http = self.app.test_client()
            page = http.get("/login").get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            response = http.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
            assert response.status_code == 302, f"{username} could not sign in"
            self.clients[username] = http
        return self.clients[username]

    def page(self, username: str, url: str) -> str:
        response = self.client(username).get(url)
        assert response.status_code == 200, f"{url} as {username} answered {response.status_code}"
        return response.get_data(as_text=True)


def build(org: District, manual: clock.ManualClock) -> dict[str, list[int]]:
    """Two cases of each process, left with work in the inboxes (and some of it done)."""
    cases: dict[str, list[int]] = {}
    # The whistle: a red whistle where the housing bureau arrived and the fire brigade did not (the supervisor
    # supervises), a case the street handles itself (the resident rates it), one waiting for the centre, one
    # rejected (the grid worker is told).
    late = org.report("building-repair-no-property", resident="resident-a")
    org.review(late, decision="whistle", tier_override="red", extra_departments=["dept-police"])
    org.arrive("housing", late)
    org.w.claim(org.open("liaison-fire", "签收哨令", late)[0]["task_id"], "liaison-fire")
    manual.advance(timedelta(minutes=31))  # the on-site deadline passes: 区委督查室督办
    org.w.fire_due_jobs()
    own = org.report("street-lighting", resident="resident-a")
    org.review(own, decision="self", review_note="社区物业可修")
    org.do("command-wudadao", "街道自行处置", {"handling_result": "已更换灯泡"}, own)
    waiting = org.report("garbage-dumping", description="小区门口长期堆放建筑垃圾")
    rejected = org.report("garbage-dumping")
    org.review(rejected, decision="reject", reject_reason="重复上报，已并入前一案件")
    cases["whistle"] = [late, own, waiting, rejected]

    # Consultation: the streets answered the first (three opinions to decide, one decided), not yet the second.
    first = open_consultation(org, ["wudadao", "nanshi"])
    org.do("party-wudadao", "街道回复意见", {"opinions": "海棠花节期间对睦南道实行错峰交通管制\n划定临时摊位区，规范商贩经营"},
           first)
    org.do("party-nanshi", "街道回复意见", {"opinions": "增加景区周边保洁频次"}, first)
    [decided, *_] = org.open("liaison-culture-tourism", "研究采纳意见", first)
    complete(org, "liaison-culture-tourism", decided, {"adoption": "partly", "adoption_reason": "核心区禁止摆摊"})
    second = open_consultation(org, ["wudadao", "xiaobailou"], title="区级夜间经济试点方案")
    cases["consultation"] = [first, second]

    # Personnel: the street replied to the first letter (the department's party committee decides), not yet
    # to the second.
    replied = send_letter(org)
    org.do("party-wudadao", "街道党工委研究复函", {"opinion": "no_objection", "reply_letter": "att-reply"}, replied)
    asked = send_letter(org, candidate_name="李晓梅", candidate_post="五大道市场监管所副所长",
                        current_post="五大道市场监管所科员")
    cases["personnel"] = [replied, asked]

    # Evaluation: both streets scored this year's (the organisation department reviews it), none last year's.
    this_year = start_evaluation(org, departments=THREE, year=2026)
    for street in ("wudadao", "nanshi"):
        org.do(f"command-{street}", "街道为部门评分", {"scores": [
            {"department": "dept-police", "score": 90, "reason": "节假日联系不上值班人员"},
            {"department": "dept-housing", "score": 100}, {"department": "dept-fire", "score": 100}]}, this_year)
    last_year = start_evaluation(org, departments=THREE, year=2025)
    cases["evaluation"] = [this_year, last_year]
    return cases


@pytest.fixture(scope="module")
def world(sqlite_template, tmp_path_factory):
    folder = tmp_path_factory.mktemp("readable-lists")
    shutil.copy(sqlite_template, folder / "whistle.sqlite")
    manual = clock.ManualClock(START)
    clock.install(manual)
    engine = Whistle(f"sqlite:///{folder / 'whistle.sqlite'}")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(accounts, "_N", 2**4)  # cheap password hashes, as the function-scoped fixture does
            engine.import_users(PROCESSES / "demo-accounts.json")
            org = District(engine)
            org.known |= {u["username"] for u in DEMO["users"]}  # imported already, with the demo password
            cases = build(org, manual)
            app = create_app({"ENGINE": engine, "TESTING": True, "ATTACHMENTS_DIR": str(folder / "attachments")})
            yield World(engine, app, cases)
    finally:
        engine.close()
        clock.install(clock.SystemClock())


BLOCK = re.compile(r"(<(?:td|th|li|dd|dt|p|div|span|a|option|label|button|h[1-6])\b)")


def readable(html: str, lang: str, where: str) -> None:
    """``assert_readable`` with a space before each cell, item and inline element, so that a table's cells do not
    run together into one word (``#5consultation`` would hide the English word)."""
    assert_readable(BLOCK.sub(r" \1", html), lang, where)


def list_pages(world: World, username: str) -> list[str]:
    """The list pages of one account: the inbox (as it opens, and each tab), the case list, the start page and
    its start forms; the definitions with every form's preview for a designer; the admin page for an admin."""
    urls = ["/inbox", *[f"/inbox?view={tab}" for tab in TABS], "/inbox?view=group&partial=1", "/cases",
            "/cases?status=running", "/cases?status=completed", "/start"]
    urls += [f"/start/{p['process_id']}" for p in world.w.startable(username)]
    roles = world.w.user_info(username)["roles"]
    if "designer" in roles or "admin" in roles:
        definitions = world.page(username, "/definitions")
        urls += ["/definitions", *sorted(set(re.findall(r'href="(/definitions/\d+/forms/[^"]+)"', definitions)))]
    if "admin" in roles:
        urls.append("/admin")
    return urls


def test_the_scenarios_leave_work_in_every_inbox(world):
    for username in ACCOUNTS:
        if username in ("designer", "admin"):
            continue
        counts = world.w.inbox(username)["counts"]
        assert counts["mine"] + counts["group"] + counts["done"] > 0, f"{username} has nothing to read: {counts}"
    assert world.w.inbox("liaison-culture-tourism", "done")["counts"]["done"] == 1
    assert world.w.inbox("supervisor")["counts"]["group"] >= 1


@pytest.mark.parametrize("username", ACCOUNTS)
def test_every_list_page_reads_well(world, username):
    problems = []
    for url in list_pages(world, username):
        try:
            readable(world.page(username, url), "zh", f"{url} as {username}")
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)


def test_the_list_pages_read_well_in_english(world):
    username = "admin"
    english = world.app.test_client()
    page = english.get("/login?lang=en").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert english.post("/login", data={"username": username, "password": PASSWORD,
                                        "csrf_token": token}).status_code == 302
    problems = []
    for url in list_pages(world, username):
        response = english.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert "partial" in url or '<html lang="en"' in html, f"{url} is not in English"
        try:
            readable(html, "en", f"{url} in English")
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)


def test_the_admin_page_names_each_timer_and_keeps_its_id_for_the_administrator(world):
    page = world.page("admin", "/admin")
    rows = re.findall(r"<tr><td>\d+</td>.*?</tr>", page)
    assert rows, "no timer jobs listed"
    consultation = next(r for r in rows if "重大事项征询意见" in r and "回复提醒" in r)
    assert re.search(r"回复提醒 <code>[\w-]+</code>", consultation)  # the name first, the id for the administrator
    assert "<td>已排定</td>" in consultation
    assert "scheduled" not in re.sub(r"<code>.*?</code>", "", page)  # the job's state in words
