"""The staff pages through Flask's test client, on SQLite and PostgreSQL: sign-in, CSRF, who may see which
page, the inbox, forms with their validation messages, drafts, attachments and the start page."""
from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from webui import create_app

PROJECT = Path(__file__).parent.parent
PROCESSES = PROJECT / "processes"
DEMO = json.loads((PROCESSES / "demo-accounts.json").read_text(encoding="utf-8"))
PEOPLE = {u["username"]: u for u in DEMO["users"]}
PASSWORD = "s3cret-pw"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n"


class Client:
    """A signed-in person's browser (Flask test client) with the session's CSRF token at hand."""

    def __init__(self, app, username: str | None = None):
        self.http = app.test_client()
        self.username = username
        if username:
            response = self.login(username)
            assert response.status_code == 302, response.get_data(as_text=True)[:500]

    def login(self, username: str, password: str = PASSWORD):
        page = self.http.get("/login")
        return self.http.post("/login", data={"username": username, "password": password,
                                              "csrf_token": token_in(page.get_data(as_text=True))})

    @property
    def token(self) -> str:
        with self.http.session_transaction() as session:
            return session["_csrf"]

    def get(self, url: str, **kwargs):
        return self.http.get(url, **kwargs)

    def post(self, url: str, data: dict | None = None, **kwargs):
        payload = dict(data or {})
        payload.setdefault("csrf_token", self.token)
        return self.http.post(url, data=payload, **kwargs)


def token_in(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def text(response) -> str:
    return response.get_data(as_text=True)


def field_error(html: str, name: str) -> str | None:
    """The message shown next to a field (inside its wrapper), if any."""
    match = re.search(rf'id="wrap-{name}".*?(?=<div class="field|<div class="form-actions)', html, re.S)
    assert match, f"no field {name}"
    error = re.search(r'<p class="field-error"[^>]*>(.*?)</p>', match.group(0), re.S)
    return error.group(1).strip() if error else None


class Site:
    def __init__(self, engine, tmp_path: Path, deploy: Path = PROCESSES / "whistle"):
        self.w = engine
        self.known: set[str] = set()
        engine.deploy([deploy])
        self.app = create_app({"ENGINE": engine, "TESTING": True, "ATTACHMENTS_DIR": str(tmp_path / "attachments"),
                               "ATTACHMENT_MAX_BYTES": 100_000})

    def person(self, username: str) -> str:
        if username not in self.known:
            entry = PEOPLE[username]
            self.w.add_user(username, entry["groups"], password=PASSWORD, display_name=entry["display_name"])
            self.known.add(username)
        return username

    def client(self, username: str) -> Client:
        return Client(self.app, self.person(username))

    def report(self, reporter: str = "grid-worker-wudadao", situation: str = "building-repair-no-property",
               files=None, **extra) -> int:
        browser = self.client(reporter)
        data = {"street": "wudadao", "community": "sanshengli", "situation": situation, "location": "睦南道12号",
                "description": "楼顶漏水，消防设施损坏", "resident": "", **extra}
        if files:
            data["photos"] = files
        response = browser.post("/start/whistle", data, content_type="multipart/form-data")
        assert response.status_code == 302, text(response)[:2000]
        return int(response.headers["Location"].rsplit("/", 1)[1])

    def task_of(self, username: str, name: str, instance: int) -> str:
        self.person(username)
        found = [t for view in ("mine", "group") for t in self.w.inbox(username, view)["tasks"]
                 if t["name"] == name and t["instance_id"] == instance]
        assert len(found) == 1, (username, name, found)
        return found[0]["task_id"]

    def whistle(self, instance: int, **extra) -> None:
        task_id = self.task_of("command-wudadao", "指挥中心审核", instance)
        response = self.client("command-wudadao").post(f"/tasks/{task_id}", {"decision": "whistle", "_submit": "complete",
                                                                             **extra})
        assert response.status_code == 302, text(response)[:3000]


@pytest.fixture
def site(whistle, tmp_path) -> Site:
    return Site(whistle, tmp_path)


# ---------------------------------------------------------------------------------------------------------
# Sign-in, sessions, CSRF

def test_sign_in_and_out(site):
    site.person("liaison-housing")
    anonymous = Client(site.app)
    response = anonymous.get("/inbox")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    wrong = anonymous.login("liaison-housing", "wrong")
    assert wrong.status_code == 401 and "用户名或密码不正确" in text(wrong)
    assert anonymous.login("nobody", PASSWORD).status_code == 401
    ok = anonymous.login("liaison-housing")
    assert ok.status_code == 302 and ok.headers["Location"] == "/inbox"
    cookie = ok.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    inbox = anonymous.get("/inbox")
    assert inbox.status_code == 200
    assert "区住建委联络员·韩平" in text(inbox) and "我的任务" in text(inbox)
    assert inbox.headers["X-Frame-Options"] == "DENY" and "default-src 'self'" in inbox.headers["Content-Security-Policy"]
    out = anonymous.post("/logout")
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert anonymous.get("/inbox").status_code == 302


def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(site):
    site.person("liaison-housing")
    browser = Client(site.app)
    page = browser.get("/login?next=/cases")
    response = browser.http.post("/login", data={"username": "liaison-housing", "password": PASSWORD, "next": "/cases",
                                                 "csrf_token": token_in(text(page))})
    assert response.headers["Location"] == "/cases"
    other = Client(site.app)
    page = other.get("/login")
    response = other.http.post("/login", data={"username": "liaison-housing", "password": PASSWORD,
                                               "next": "//evil.example/", "csrf_token": token_in(text(page))})
    assert response.headers["Location"] == "/inbox"


def test_csrf_token_is_required_on_every_form(site):
    case = site.report()
    task_id = site.task_of("command-wudadao", "指挥中心审核", case)
    centre = site.client("command-wudadao")
    for url, data in ((f"/tasks/{task_id}/claim", {}), (f"/tasks/{task_id}", {"decision": "whistle"}),
                      ("/logout", {}), ("/start/whistle", {"location": "x"})):
        missing = centre.http.post(url, data=data)
        assert missing.status_code == 400, url
        assert "CSRF" in text(missing) and "没有做任何更改" in text(missing)
        wrong = centre.http.post(url, data={**data, "csrf_token": "forged"})
        assert wrong.status_code == 400, url
    assert site.w.task(task_id)["assignee"] is None and site.w.task(task_id)["status"] == "open"
    assert centre.get("/inbox").status_code == 200  # still signed in: the logout was refused too
    anonymous = Client(site.app)
    assert anonymous.http.post("/login", data={"username": "command-wudadao", "password": PASSWORD}).status_code == 400
    # Every form on the pages carries the token.
    for url in ("/inbox?view=group", f"/tasks/{task_id}", "/start/whistle"):
        html = text(centre.get(url))
        forms = re.findall(r"<form[^>]*method=\"post\".*?</form>", html, re.S)
        assert forms, url
        assert all('name="csrf_token"' in f for f in forms), url


def test_secret_key_is_kept_under_var_when_not_configured(whistle, tmp_path, monkeypatch):
    path = tmp_path / "secret_key"
    monkeypatch.delenv("WHISTLE_SECRET_KEY", raising=False)
    monkeypatch.setenv("WHISTLE_SECRET_KEY_FILE", str(path))
    first = create_app({"ENGINE": whistle}).config["SECRET_KEY"]
    assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
    assert create_app({"ENGINE": whistle}).config["SECRET_KEY"] == first  # sessions survive a restart
    assert len(first) >= 64


# ---------------------------------------------------------------------------------------------------------
# Who sees what

def test_every_page_checks_who_may_see_it(site):
    photo = (io.BytesIO(PNG), "roof.png")
    case = site.report(files=[photo])  # building repair: housing leads, fire co-responds
    site.whistle(case)
    housing_task = site.task_of("liaison-housing", "签收哨令", case)
    attachment = site.w.attachments_of(case)[0]["attachment_id"]
    allowed = {"liaison-housing", "liaison-fire", "grid-worker-wudadao", "command-wudadao", "supervisor", "admin"}
    refused = {"liaison-police", "command-nanshi", "grid-worker-nanshi", "designer", "resident-b"}
    for username in sorted(allowed | refused):
        browser = site.client(username)
        expected = 200 if username in allowed else 403
        for url in (f"/cases/{case}", f"/cases/{case}/diagram.json", f"/tasks/{housing_task}",
                    f"/attachments/{attachment}"):
            assert browser.get(url).status_code == expected, (username, url)
        listed = text(browser.get("/cases"))
        assert (f'data-instance-id="{case}"' in listed) == (username in allowed), username
        inbox = site.w.inbox(username, "group")["tasks"]
        assert (housing_task in {t["task_id"] for t in inbox}) == (username == "liaison-housing"), username
    refused_page = text(site.client("liaison-police").get(f"/cases/{case}"))
    assert "无权查看" in refused_page and "睦南道12号" not in refused_page
    assert site.client("liaison-police").get("/cases/9999").status_code == 404
    assert site.client("liaison-police").get("/tasks/no-such-task").status_code == 404
    # Seeing a case is not working on it: the reporter reads the department's task but gets no form.
    reporter_view = text(site.client("grid-worker-wudadao").get(f"/tasks/{housing_task}"))
    assert "你不能办理这项任务" in reporter_view and 'name="signed_by"' not in reporter_view
    fire = site.client("liaison-fire")
    refused_post = fire.post(f"/tasks/{housing_task}", {"signed_by": "消防", "_submit": "complete"})
    assert refused_post.status_code == 403 and site.w.task(housing_task)["status"] == "open"
    assert fire.post(f"/tasks/{housing_task}/claim").status_code == 403


def test_designer_and_admin_pages_need_their_role(site):
    for username, definitions, admin in (("liaison-housing", 403, 403), ("designer", 200, 403), ("admin", 200, 200)):
        browser = site.client(username)
        assert browser.get("/definitions").status_code == definitions, username
        assert browser.get("/admin").status_code == admin, username
    designer = site.client("designer")
    page = text(designer.get("/definitions"))
    version_id = re.search(r"/definitions/(\d+)/forms/whistle-review", page).group(1)
    preview = designer.get(f"/definitions/{version_id}/forms/whistle-review")
    assert preview.status_code == 200 and "驳回理由" in text(preview)
    assert designer.get(f"/definitions/{version_id}/forms/no-such-form").status_code == 404


def test_admin_moves_the_demo_clock_only_in_demo_mode(site, manual_clock, monkeypatch):
    admin = site.client("admin")
    monkeypatch.setenv("WHISTLE_MODE", "production")
    assert admin.post("/admin/clock", {"duration": "PT31M"}).status_code == 302
    assert "只有演示或测试模式可以调整时钟" in text(admin.get("/admin"))
    monkeypatch.setenv("WHISTLE_MODE", "demo")
    page = text(admin.get("/admin"))
    assert "演示时钟" in page
    response = admin.post("/admin/clock", {"duration": "PT31M"})
    assert response.status_code == 302
    assert text(admin.get("/admin")).count("时钟已快进") == 1
    assert site.w.clock_show()["offset_seconds"] == 31 * 60


# ---------------------------------------------------------------------------------------------------------
# The inbox

def test_inbox_tabs_claim_unclaim_complete_and_filters(site, manual_clock):
    red = site.report(situation="open-burning")  # red by default
    blue = site.report(situation="street-lighting")
    centre = site.client("command-wudadao")
    group = text(centre.get("/inbox?view=group"))
    assert group.count("指挥中心审核") == 2 and '<span class="count" data-count="group">2</span>' in group
    task_id = site.task_of("command-wudadao", "指挥中心审核", red)
    assert centre.post(f"/tasks/{task_id}/claim", {"next": "/inbox?view=group"}).headers["Location"] == "/inbox?view=group"
    mine = text(centre.get("/inbox?view=mine"))
    assert f'data-task-id="{task_id}"' in mine and "已认领" in mine
    assert f'data-task-id="{task_id}"' not in text(centre.get("/inbox?view=group"))
    centre.post(f"/tasks/{task_id}/unclaim")
    assert f'data-task-id="{task_id}"' in text(centre.get("/inbox?view=group"))
    site.whistle(red)
    site.whistle(blue)
    done = text(centre.get("/inbox?view=done"))
    assert done.count("已完成") >= 2 and f'data-task-id="{task_id}"' in done
    police = site.client("liaison-law-enforcement")
    page = text(police.get("/inbox?view=group"))
    assert "签收哨令" in page and "到场报到" in page and "剩余 15 分钟" in page and "红色" in page
    assert "同案其他待办" in page and "下一计时" in page and "报到提醒" in page
    assert f'data-instance-id="{red}"' in text(police.get("/inbox?view=group&tier=red"))
    assert f'data-instance-id="{red}"' not in text(police.get("/inbox?view=group&tier=blue"))
    assert f'data-instance-id="{red}"' in text(police.get("/inbox?view=group&q=睦南道"))
    assert f'data-instance-id="{red}"' not in text(police.get("/inbox?view=group&q=不存在的地点"))
    assert f'data-instance-id="{red}"' in text(police.get("/inbox?view=group&deadline=today"))
    assert f'data-instance-id="{red}"' not in text(police.get("/inbox?view=group&deadline=overdue"))
    manual_clock.advance(timedelta(minutes=16))  # past the 15-minute sign deadline
    overdue = text(police.get("/inbox?view=group&deadline=overdue"))
    assert "已超时 1 分钟" in overdue and "deadline-overdue" in overdue and overdue.count('<li class="task card') == 1
    english = text(police.get("/inbox?view=group&lang=en"))
    assert "Group tasks" in english and "Overdue by 1 minutes" in english


def test_inbox_poll_fingerprint_changes_when_work_arrives(site, manual_clock):
    liaison = site.client("liaison-housing")
    before = liaison.get("/inbox/poll").get_json()
    assert before["open"] == 0
    case = site.report()
    assert liaison.get("/inbox/poll").get_json() == before
    site.whistle(case, tier_override="red")
    after = liaison.get("/inbox/poll").get_json()
    assert after["open"] == 2 and after["digest"] != before["digest"]
    manual_clock.advance(timedelta(minutes=20))  # the sign deadline passes: the badge must turn without a reload
    assert liaison.get("/inbox/poll").get_json()["digest"] != after["digest"]
    partial = text(liaison.get("/inbox?view=group&partial=1"))
    assert "<html" not in partial and "已超时" in partial


# ---------------------------------------------------------------------------------------------------------
# Forms: validation next to the field, drafts, attachments

def test_validation_messages_appear_next_to_the_field(site):
    reporter = site.client("grid-worker-wudadao")
    response = reporter.post("/start/whistle", {"street": "wudadao", "situation": "", "location": "",
                                                "description": "漏水", "_submit": "complete"})
    assert response.status_code == 422
    html = text(response)
    assert "请修改标红的内容后再提交" in html
    assert field_error(html, "situation") == "请选择一项"
    assert field_error(html, "location") == "此项必须填写"
    assert field_error(html, "description") == "至少填写 5 个字"
    assert field_error(html, "street") is None
    assert 'aria-invalid="true"' in html and "漏水" in html  # what was typed is kept
    case = site.report()
    review = site.task_of("command-wudadao", "指挥中心审核", case)
    centre = site.client("command-wudadao")
    html = text(centre.post(f"/tasks/{review}", {"decision": "reject", "_submit": "complete"}))
    assert field_error(html, "reject_reason") == "驳回必须填写驳回理由"
    assert site.w.task(review)["status"] == "open" and site.w.incidents() == []  # refused before the engine
    html = text(centre.post(f"/tasks/{review}", {"decision": "maybe", "_submit": "complete"}))
    assert field_error(html, "decision") == "所选内容不在可选范围内"
    english = text(centre.post(f"/tasks/{review}?lang=en", {"decision": "reject", "_submit": "complete"}))
    assert field_error(english, "reject_reason") is not None
    other = site.report(situation="other")
    review = site.task_of("command-wudadao", "指挥中心审核", other)
    html = text(centre.post(f"/tasks/{review}", {"decision": "whistle", "_submit": "complete"}))
    assert field_error(html, "lead_override") == "呼叫情形为“其他”时，吹哨必须指定牵头部门"
    ok = centre.post(f"/tasks/{review}", {"decision": "whistle", "lead_override": "dept-urban-management",
                                          "_submit": "complete"})
    assert ok.status_code == 302
    assert site.w.show(other)["data"]["responders"] == ["dept-urban-management"]


def test_a_submitted_form_reaches_the_case_typed(site):
    case = site.report()
    site.whistle(case, tier_override="red", extra_departments=["dept-police", "dept-market"])
    data = site.w.show(case)["data"]
    assert data["responders"] == ["dept-housing", "dept-fire", "dept-police", "dept-market"]
    assert data["tier"] == "red" and data["situation_label"].endswith("无物业楼院消防设施、屋顶等公共部位失修")
    assert data["reporter"] == "grid-worker-wudadao"  # the hidden field is the signed-in user, never the browser's
    on_site = site.task_of("liaison-housing", "到场报到", case)
    housing = site.client("liaison-housing")
    missing = housing.post(f"/tasks/{on_site}", {"action": "已到场排查", "_submit": "complete"})
    assert missing.status_code == 422 and field_error(text(missing), "acted") == "请选择一项"
    response = housing.post(f"/tasks/{on_site}", {"acted": "false", "action": "不属本部门职责", "_submit": "complete"})
    assert response.status_code == 302
    assert site.w.task(on_site)["status"] == "completed"
    sign = site.task_of("liaison-housing", "签收哨令", case)
    page = text(housing.get(f"/tasks/{sign}"))
    assert 'value="区住建委联络员·韩平"' in page  # signed_by is prefilled with the person's name
    assert housing.post(f"/tasks/{sign}", {"signed_by": "住建委值班员", "_submit": "complete"}).status_code == 302
    assert site.w.task(sign)["status"] == "completed"


def test_draft_is_saved_and_restored(site):
    case = site.report()
    review = site.task_of("command-wudadao", "指挥中心审核", case)
    centre = site.client("command-wudadao")
    saved = centre.post(f"/tasks/{review}", {"decision": "reject", "reject_reason": "需要补充照片", "_submit": "draft"})
    assert saved.status_code == 302
    assert site.w.task(review)["status"] == "open"
    assert site.w.draft(review, "command-wudadao")["data"]["values"]["reject_reason"] == ["需要补充照片"]
    page = text(centre.get(f"/tasks/{review}"))
    assert "已载入" in page and "需要补充照片" in page and 'value="reject" checked' in page
    assert "需要补充照片" not in text(site.client("supervisor").get(f"/tasks/{review}"))  # drafts are personal
    done = centre.post(f"/tasks/{review}", {"decision": "reject", "reject_reason": "需要补充照片", "_submit": "complete"})
    assert done.status_code == 302
    assert site.w.draft(review, "command-wudadao") is None
    reporter = site.client("grid-worker-wudadao")
    reporter.post("/start/whistle", {"location": "南京路1号", "_submit": "draft"})
    assert "南京路1号" in text(reporter.get("/start/whistle"))


def test_attachment_uploads_are_checked_and_served_only_to_the_case(site, tmp_path):
    reporter = site.client("grid-worker-wudadao")
    base = {"street": "wudadao", "situation": "garbage-dumping", "location": "睦南道", "description": "垃圾堆放多日",
            "_submit": "complete"}
    cases = []
    for files, message in (([(io.BytesIO(PNG + b"\x00" * 120_000), "big.png")], "超过"),
                           ([(io.BytesIO(b"just text, not an image"), "fake.png")], "只能上传 JPG、PNG、HEIC 或 PDF"),
                           ([(io.BytesIO(PDF), "letter.jpg")], "只能上传 JPG、PNG、HEIC 或 PDF"),
                           ([(io.BytesIO(b"MZ\x90\x00"), "tool.exe")], "只能上传 JPG、PNG、HEIC 或 PDF"),
                           ([(io.BytesIO(b""), "empty.png")], "是空的")):
        response = reporter.post("/start/whistle", {**base, "photos": files}, content_type="multipart/form-data")
        assert response.status_code == 422
        assert message in (field_error(text(response), "photos") or "")
    assert site.w.cases_for("grid-worker-wudadao") == []
    response = reporter.post("/start/whistle", {**base, "photos": [(io.BytesIO(PNG), "现场.png"),
                                                                   (io.BytesIO(PDF), "报告.pdf")]},
                             content_type="multipart/form-data")
    assert response.status_code == 302
    case = int(response.headers["Location"].rsplit("/", 1)[1])
    cases.append(case)
    stored = site.w.attachments_of(case)
    assert sorted(a["content_type"] for a in stored) == ["application/pdf", "image/png"]
    assert sorted(site.w.show(case)["data"]["photos"]) == sorted(a["attachment_id"] for a in stored)
    files = list((tmp_path / "attachments").rglob("*"))
    names = {f.name for f in files if f.is_file()}
    assert len(names) == 2 and not any(n.endswith((".png", ".pdf")) for n in names)  # random names on disk
    image = next(a for a in stored if a["content_type"] == "image/png")
    download = reporter.get(f"/attachments/{image['attachment_id']}")
    assert download.status_code == 200 and download.data == PNG and download.mimetype == "image/png"
    assert download.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in download.headers["Content-Security-Policy"]
    assert site.client("liaison-police").get(f"/attachments/{image['attachment_id']}").status_code == 403
    case_page = text(reporter.get(f"/cases/{case}"))
    assert "现场.png" in case_page and "报告.pdf" in case_page
    assert site.w.attachments_by_id([image["attachment_id"]])[image["attachment_id"]]["instance_id"] == case
    # An upload before the case starts belongs to its uploader only.
    loose = site.w.add_attachment("grid-worker-wudadao", "draft.png", PNG)
    assert reporter.get(f"/attachments/{loose['attachment_id']}").status_code == 200
    assert site.client("command-wudadao").get(f"/attachments/{loose['attachment_id']}").status_code == 403
    # Someone else's upload cannot be slipped into a form.
    other = site.client("grid-worker-xinxing")
    sneaky = other.post("/start/whistle", {**base, "street": "xinxing", "photos": [loose["attachment_id"]]})
    assert sneaky.status_code == 403


def test_start_page_lists_only_processes_the_user_may_start(site, fixtures):
    site.w.deploy([fixtures / "review.bpmn"])  # no candidateStarterGroups: started by systems, not from the page
    for username, startable in (("grid-worker-wudadao", True), ("command-nanshi", True), ("liaison-police", False),
                                ("supervisor", False), ("resident-a", False)):
        browser = site.client(username)
        page = text(browser.get("/start"))
        assert ("上报问题" in page) == startable, username
        assert "review" not in page
        assert browser.get("/start/whistle").status_code == (200 if startable else 403), username
        assert browser.get("/start/review").status_code == 403
        if not startable:
            assert "没有你可以发起的流程" in page
            refused = browser.post("/start/whistle", {"street": "wudadao", "situation": "garbage-dumping",
                                                      "location": "x", "description": "xxxxxx", "_submit": "complete"})
            assert refused.status_code == 403
    assert site.w.cases_for(site.person("admin")) == []
    assert site.client("liaison-police").get("/start/no-such-process").status_code == 404


def test_case_page_shows_labelled_data_diagram_states_and_timeline(site, manual_clock):
    case = site.report(files=[(io.BytesIO(PNG), "roof.png")])
    site.whistle(case, tier_override="red")
    sign = site.task_of("liaison-housing", "签收哨令", case)
    site.client("liaison-housing").post(f"/tasks/{sign}", {"signed_by": "韩平", "_submit": "complete"})
    page = text(site.client("grid-worker-wudadao").get(f"/cases/{case}"))
    for seen in ("案件数据", "牵头部门", "区住建委", "到场时限", "30 分钟", "办理记录", "发起案件", "完成「签收哨令」",
                 "五大道街网格员·赵杰", "roof.png", "报到期满", "流程图"):
        assert seen in page, seen
    diagram = site.client("grid-worker-wudadao").get(f"/cases/{case}/diagram.json").get_json()
    assert "<bpmn:process id=\"whistle\"" in diagram["xml"]
    states = {k: v["state"] for k, v in diagram["states"].items()}
    assert states["start_report"] == "done" and states["command_review"] == "done"
    assert states["sign_order"] == "active" and states["report_on_site"] == "active"
    assert states["onsite_timer"] == "timer" and diagram["states"]["onsite_timer"]["due_at"]
    assert "lead_handle" not in states


def test_bpmn_js_is_served_locally(site):
    browser = site.client("liaison-housing")
    script = browser.get("/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js")
    assert script.status_code == 200 and len(script.data) > 100_000
    assert browser.get("/vendor/bpmn-js/assets/bpmn-js.css").status_code == 200
    assert browser.get("/vendor/bpmn-js/../../package.json").status_code == 404


def test_a_task_form_keeps_an_upload_across_a_failed_submission_and_files_it_on_completion(site):
    case = site.report()
    site.whistle(case)
    on_site = site.task_of("liaison-housing", "到场报到", case)
    housing = site.client("liaison-housing")
    failed = housing.post(f"/tasks/{on_site}", {"acted": "true", "action": "", "_submit": "complete",
                                                "onsite_photos": [(io.BytesIO(PNG), "到场.png")]},
                          content_type="multipart/form-data")
    assert failed.status_code == 422 and field_error(text(failed), "action") == "此项必须填写"
    [kept] = re.findall(r'name="onsite_photos" value="([0-9a-f]+)" checked', text(failed))
    assert "到场.png" in text(failed)
    assert site.w.attachments_of(case) == []  # not filed with the case until the form is handed in
    assert site.client("command-wudadao").get(f"/attachments/{kept}").status_code == 403
    done = housing.post(f"/tasks/{on_site}", {"acted": "true", "action": "已到场", "onsite_photos": kept,
                                              "_submit": "complete"})
    assert done.status_code == 302
    [filed] = site.w.attachments_of(case)
    assert (filed["attachment_id"], filed["task_id"], filed["field"]) == (kept, on_site, "onsite_photos")
    assert site.client("command-wudadao").get(f"/attachments/{kept}").status_code == 200
    timeline = text(site.client("command-wudadao").get(f"/cases/{case}"))
    assert "附件归入案件：到场.png" in timeline
