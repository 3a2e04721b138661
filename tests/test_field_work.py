"""Field work from a phone (issue 14, item 5), conditional required marks and a lost session (item 6).

* a ``location`` field: the value the browser posts (or the REST API sends) checked in the engine, messages that
  name the field; shown on the case page as coordinates with their accuracy and a 高德 map link;
* ``capture`` on file fields only (deploy refuses it elsewhere); the reporting and on-site forms use it;
* HEIC photos converted to JPEG on upload (a real HEIC, encoded here with pillow-heif), a fake one refused;
* the required mark of a field that becomes required, drawn by the server for the values shown;
* signing in again after a lost session brings the person back to the form (the GET page of what they posted);
* in chromium: the location button (geolocation granted, and refused), the mark following the answers, and what
  was typed restored after the session was lost.
"""
from __future__ import annotations

import io
import json
import re
import shutil
from urllib.parse import parse_qs, urlsplit

import pillow_heif
import pytest
from lxml import html as lxml_html
from PIL import Image
from playwright.sync_api import expect, sync_playwright
from test_browser import CHROMIUM, CHROMIUM_ARGS, PHONE, _free_port, demo_database, start_server, stop_server
from test_browser import PASSWORD as DEMO_PASSWORD
from test_web_pages import PROCESSES, Client, Site, field_error, text

from engine.casework.attachments import AttachmentRejected
from engine.errors import DeploymentInvalid
from engine.forms.checks import check_form
from engine.forms.contracts import Account, InvalidSubmission, check
from engine.forms.validation import required_now, validate

from test_readable_pages import assert_readable

POSITION = {"lat": 39.9042123, "lng": 116.4074456, "accuracy": 15.2, "at": "2026-05-03T06:05:00.000Z"}
FORM = {"key": "site", "title": "现场", "fields": [
    {"name": "spot", "label": "现场定位", "label_en": "Position on the spot", "type": "location"},
    {"name": "decision", "label": "结论", "type": "radio",
     "options": [{"value": "ok", "label": "通过"}, {"value": "no", "label": "退回"}]},
    {"name": "reason", "label": "退回理由", "type": "textarea", "required_when": {"field": "decision", "equals": "no"}},
    {"name": "note", "label": "说明", "type": "textarea"}],
    "rules": [{"when": {"field": "decision", "equals": "no"}, "require": ["note"], "message": "退回须说明"}]}


def heic_bytes(size=(64, 48), colour=(200, 40, 40)) -> bytes:
    """A real HEIC photo, encoded by libheif."""
    buffer = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", size, colour)).save(buffer, quality=60)
    data = buffer.getvalue()
    assert data[4:12] == b"ftypheic"
    return data


# ---------------------------------------------------------------------------------------------------------
# The engine: the location value, capture, HEIC (no database)

def test_a_location_is_checked_and_stored_typed():
    data, errors = validate(FORM, {"spot": [json.dumps(POSITION)]}, lang="zh")
    assert errors == {}
    assert data["spot"]["lat"] == 39.9042123 and data["spot"]["lng"] == 116.4074456
    assert data["spot"]["accuracy"] == 15.2
    assert data["spot"]["at"] == "2026-05-03T06:05:00+00:00"  # no time zone given to validate: as sent
    data, errors = validate(FORM, {"spot": [json.dumps({"lat": -90, "lng": 180})]})
    assert errors == {} and data["spot"] == {"lat": -90.0, "lng": 180.0}
    data, errors = validate(FORM, {"spot": [""]})  # optional: nothing is stored
    assert errors == {} and "spot" not in data


@pytest.mark.parametrize("posted, zh, en", [
    ({"lat": 91, "lng": 116.4}, "「现场定位」的纬度必须是 -90 到 90 之间的数", "Position on the spot: the latitude"),
    ({"lat": 39.9, "lng": -180.5}, "「现场定位」的经度必须是 -180 到 180 之间的数", "the longitude must be"),
    ({"lat": "39.9", "lng": 116.4}, "「现场定位」的纬度", "the latitude"),
    ({"lat": True, "lng": 116.4}, "「现场定位」的纬度", "the latitude"),
    ({"lat": 39.9, "lng": 116.4, "accuracy": -3}, "「现场定位」的定位精度必须是不小于 0 的米数", "the accuracy"),
    ({"lat": 39.9, "lng": 116.4, "at": "昨天"}, "「现场定位」的定位时间格式不正确", "the time of the position"),
    ({"lat": 39.9, "lng": 116.4, "altitude": 3}, "「现场定位」只能包含纬度、经度、精度和定位时间（多了 altitude）",
     "not altitude"),
    ({"lng": 116.4}, "「现场定位」的位置格式不正确：需要纬度和经度", "needs a latitude (lat) and a longitude (lng)"),
    ([39.9, 116.4], "「现场定位」的位置格式不正确", "not a position"),
    ("39.9,116.4", "「现场定位」的位置格式不正确", "not a position"),
])
def test_a_bad_location_is_refused_naming_the_field(posted, zh, en):
    raw = posted if isinstance(posted, str) else json.dumps(posted)
    assert zh in validate(FORM, {"spot": [raw]}, lang="zh")[1]["spot"]
    assert en in validate(FORM, {"spot": [raw]}, lang="en")[1]["spot"]


def test_the_rest_api_sends_a_location_as_an_object_with_the_same_rules():
    who = Account("grid-worker-wudadao")
    clean = check(FORM, None, {"spot": POSITION}, who, {}, what="start")
    assert clean["spot"]["lng"] == 116.4074456
    with pytest.raises(InvalidSubmission) as refused:
        check(FORM, None, {"spot": {"lat": 120, "lng": 1}}, who, {}, what="start")
    assert refused.value.field_errors == {"spot": "「现场定位」的纬度必须是 -90 到 90 之间的数"}
    assert "spot" in str(refused.value)  # the API's message names the field too
    with pytest.raises(InvalidSubmission) as refused:
        check(FORM, None, {"spot": [{"lat": 1, "lng": 2}]}, who, {}, what="start", lang="en")
    assert "a location object with lat and lng" in refused.value.field_errors["spot"]


def test_capture_is_for_file_fields_only():
    def problems(field: dict) -> list[str]:
        form = {"key": "photo", "title": "拍照", "fields": [field]}
        return [p.message for p in check_form("photo.form.json", json.dumps(form, ensure_ascii=False))[1]]

    assert problems({"name": "photos", "label": "照片", "type": "file", "capture": "environment"}) == []
    assert problems({"name": "face", "label": "自拍", "type": "file", "capture": "user"}) == []
    assert problems({"name": "place", "label": "地点", "type": "text", "capture": "environment"}) == [
        "form: field 'place': 'capture' applies to file fields only (a photo taken with the phone's camera)"]
    assert problems({"name": "photos", "label": "照片", "type": "file", "capture": "back"}) == [
        "form: field 'photos': 'capture' is \"environment\" (the back camera) or \"user\" (the front camera)"]
    assert problems({"name": "spot", "label": "定位", "type": "location", "default": {"lat": 1, "lng": 2}}) == [
        "form: field 'spot': a location has no default; the person sets it on the spot"]


def test_required_marks_follow_required_when_and_the_rules_that_require_a_field():
    assert required_now(FORM, {"decision": ["no"]}) == {"reason", "note"}
    assert required_now(FORM, {"decision": ["ok"]}) == set()
    score = {"key": "s", "title": "评分", "fields": [{
        "name": "scores", "label": "扣分", "type": "dynamiclist",
        "components": [{"name": "score", "label": "分数", "type": "number"},
                       {"name": "reason", "label": "原因", "type": "text"}],
        "rules": [{"when": {"field": "score", "lt": 100}, "require": ["reason"], "message": "扣分须写原因"}]}]}
    assert required_now(score, {"scores[0][score]": ["100"], "scores[1][score]": ["80"]}) == {"scores[1][reason]"}


# ---------------------------------------------------------------------------------------------------------
# Deploying and uploading (SQLite and PostgreSQL)

def test_deploy_refuses_capture_on_a_field_that_is_not_a_file(whistle, tmp_path):
    folder = tmp_path / "whistle"
    shutil.copytree(PROCESSES / "whistle", folder)
    path = folder / "forms" / "whistle-report.form.json"
    form = json.loads(path.read_text(encoding="utf-8"))
    next(f for f in form["fields"] if f["name"] == "description")["capture"] = "environment"
    path.write_text(json.dumps(form, ensure_ascii=False, indent=2), encoding="utf-8")
    with pytest.raises(DeploymentInvalid) as refused:
        whistle.deploy([folder])
    found = [p for p in refused.value.problems if "capture" in p.message]
    assert len(found) == 1 and found[0].file.endswith("whistle-report.form.json")
    assert found[0].element_id == "description" and found[0].line is not None
    assert "'capture' applies to file fields only" in found[0].message


def test_a_heic_photo_is_stored_as_a_jpeg_and_a_fake_one_is_refused(whistle, tmp_path):
    whistle.add_user("grid-worker-wudadao", ["grid-wudadao"], password="pw")
    whistle.attachments_dir = tmp_path / "attachments"
    stored = whistle.add_attachment("grid-worker-wudadao", "IMG_0042.HEIC", heic_bytes((64, 48)))
    assert stored["file_name"] == "IMG_0042.jpg" and stored["content_type"] == "image/jpeg"
    meta, path = whistle.attachment("grid-worker-wudadao", stored["attachment_id"])
    content = path.read_bytes()
    assert content.startswith(b"\xff\xd8\xff") and meta["size"] == len(content)
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "JPEG" and image.size == (64, 48)
        assert abs(image.getpixel((32, 24))[0] - 200) < 30  # the photo, not a blank page
    # HEIC bytes under another name (some apps rename the file) are converted too
    assert whistle.add_attachment("grid-worker-wudadao", "photo.jpeg", heic_bytes())["file_name"] == "photo.jpg"
    for name, content in (("IMG_0043.heic", b"\x00\x00\x00\x18ftypheic" + b"\x00" * 200),  # a HEIC header only
                          ("IMG_0044.heif", b"this is not a photo at all"),
                          ("IMG_0045.jpg", b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic" + b"\x01" * 64)):
        with pytest.raises(AttachmentRejected) as refused:
            whistle.add_attachment("grid-worker-wudadao", name, content)
        assert refused.value.code == "heic" and "JPEG or PNG" in refused.value.message


# ---------------------------------------------------------------------------------------------------------
# The pages (Flask's test client, SQLite and PostgreSQL)

@pytest.fixture
def site(whistle, tmp_path) -> Site:
    return Site(whistle, tmp_path)


def _fieldset(page: str, name: str) -> str:
    match = re.search(rf'<div class="field field-\w+[^"]*" id="wrap-{name}".*?(?=<div class="field |<div class="form-actions)',
                      page, re.S)
    assert match, name
    return match.group(0)


def test_the_report_form_has_the_location_control_and_takes_photos_with_the_camera(site):
    grid = site.client("grid-worker-wudadao")
    page = text(grid.get("/start/whistle"))
    spot = _fieldset(page, "report_position")
    assert "data-location" in spot and "获取当前位置" in spot and "清除位置" in spot and "尚未获取位置" in spot
    assert 'type="hidden" id="f-report_position" name="report_position" value=""' in spot
    assert re.search(r'<input type="file" id="f-photos" name="photos" accept="image/\*" capture="environment"', page)
    assert 'class="req"' not in spot  # optional
    assert_readable(page, "zh", "the report form")
    english = grid.get("/start/whistle?lang=en")
    assert "Get my position" in text(english) and "Position on the spot" in text(english)


def test_the_on_site_form_has_the_location_and_the_camera(site):
    case = site.report()
    site.whistle(case)
    housing = site.client("liaison-housing")
    task_id = site.task_of("liaison-housing", "到场报到", case)
    page = text(housing.get(f"/tasks/{task_id}"))
    assert "data-location" in _fieldset(page, "onsite_position")
    assert re.search(r'name="onsite_photos" accept="image/\*" capture="environment"', page)
    answer = housing.post(f"/tasks/{task_id}", {"acted": "true", "action": "已到场检修屋顶", "_submit": "complete",
                                                "onsite_position": json.dumps({**POSITION, "accuracy": 8})})
    assert answer.status_code == 302, text(answer)[:2000]
    case_page = text(site.client("admin").get(f"/cases/{case}"))
    assert "到场定位：39.9042, 116.4074（±8 米）" in case_page  # in the timeline, beside the step that sent it


def test_a_location_from_the_report_reads_on_the_case_page_with_a_map_link(site):
    case = site.report(report_position=json.dumps(POSITION))
    data = site.w.show(case)["data"]
    assert data["report_position"] == {"lat": 39.9042123, "lng": 116.4074456, "accuracy": 15.2,
                                       "at": "2026-05-03T14:05:00+08:00"}  # the deployment's zone
    page = text(site.client("command-wudadao").get(f"/cases/{case}"))
    tree = lxml_html.fromstring(page)
    row = tree.xpath('//div[@data-name="report_position"]')[0]
    assert row.xpath("string(dt)") == "现场定位"
    assert "39.9042, 116.4074（±15 米）" in row.text_content()
    link = row.xpath(".//a[@class='geo-map']")[0]
    url = urlsplit(link.get("href"))
    assert (url.scheme, url.netloc, url.path) == ("https", "uri.amap.com", "/marker")
    query = parse_qs(url.query)
    assert query["position"] == ["116.4074456,39.9042123"] and query["coordinate"] == ["wgs84"]
    assert "WGS-84" in link.get("title") and link.get("rel") == "noopener noreferrer"
    assert "05-03 14:05 定位" in row.text_content()
    assert_readable(f"<html><body>{lxml_html.tostring(row, encoding='unicode')}</body></html>", "zh", "the row")
    english = text(site.client("command-wudadao").get(f"/cases/{case}?lang=en"))
    assert "39.9042, 116.4074 (±15 m)" in english and "Show on a map" in english


def test_a_bad_location_from_the_page_is_shown_next_to_the_field(site):
    grid = site.client("grid-worker-wudadao")
    answer = grid.post("/start/whistle", {"street": "wudadao", "situation": "building-repair-no-property",
                                          "location": "睦南道12号", "description": "楼顶漏水，消防设施损坏",
                                          "report_position": json.dumps({"lat": 95, "lng": 116.4})},
                       content_type="multipart/form-data")
    assert answer.status_code == 422
    assert field_error(text(answer), "report_position") == "「现场定位」的纬度必须是 -90 到 90 之间的数"


def test_the_rest_api_starts_a_report_with_a_location(site):
    import base64
    site.person("grid-worker-wudadao")
    http = site.app.test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(b"grid-worker-wudadao:s3cret-pw").decode()}
    body = {"data": {"street": "wudadao", "situation": "building-repair-no-property", "location": "睦南道12号",
                     "description": "楼顶漏水，消防设施损坏", "report_position": {"lat": 39.9, "lng": 116.4}}}
    answer = http.post("/api/v1/processes/whistle/instances", json=body, headers=auth)
    assert answer.status_code == 201, answer.json
    assert site.w.show(answer.json["instance_id"])["data"]["report_position"] == {"lat": 39.9, "lng": 116.4}
    body["data"]["report_position"] = {"lat": 39.9, "lng": 200}
    refused = http.post("/api/v1/processes/whistle/instances", json=body, headers=auth)
    assert refused.status_code == 422
    assert refused.json["details"]["fields"] == {"report_position": "「现场定位」的经度必须是 -180 到 180 之间的数"}


def test_heic_photos_upload_from_the_report_form(site):
    grid = site.client("grid-worker-wudadao")
    fake = grid.post("/start/whistle", {"street": "wudadao", "situation": "building-repair-no-property",
                                        "location": "睦南道12号", "description": "楼顶漏水，消防设施损坏",
                                        "photos": [(io.BytesIO(b"not a photo"), "IMG_1.HEIC")]},
                     content_type="multipart/form-data")
    assert fake.status_code == 422
    assert field_error(text(fake), "photos").startswith("照片「IMG_1.HEIC」无法读取，未上传；请改用 JPG 或 PNG 格式")
    case = site.report(files=[(io.BytesIO(heic_bytes()), "IMG_2.HEIC")])
    files = site.w.attachments_of(case)
    assert [(f["file_name"], f["content_type"]) for f in files] == [("IMG_2.jpg", "image/jpeg")]
    served = grid.get(f"/attachments/{files[0]['attachment_id']}")
    assert served.status_code == 200 and served.mimetype == "image/jpeg" and served.data[:3] == b"\xff\xd8\xff"


def test_the_page_marks_a_field_required_when_its_condition_holds_for_the_values_shown(site):
    case = site.report(situation="other")
    task_id = site.task_of("command-wudadao", "指挥中心审核", case)
    centre = site.client("command-wudadao")

    def mark(page: str, name: str) -> tuple[bool, str]:
        wrap = lxml_html.fromstring(page).xpath(f'//*[@id="wrap-{name}"]')[0]
        star = wrap.xpath('.//span[@data-required-mark]')
        assert star and wrap.get("data-required-when"), name  # the browser keeps it up to date
        control = wrap.xpath(".//select|.//textarea")[0]
        return star[0].get("hidden") is None, control.get("aria-required") or ""

    page = text(centre.get(f"/tasks/{task_id}"))
    assert mark(page, "reject_reason") == (False, "") and mark(page, "lead_override") == (False, "")
    context = json.loads(lxml_html.fromstring(page).xpath('//form[contains(@class, "task-form")]')[0].get("data-context"))
    assert context["situation"] == "other"  # the case data the rule reads, for the script
    centre.post(f"/tasks/{task_id}", {"decision": "reject", "_submit": "draft"})
    page = text(centre.get(f"/tasks/{task_id}"))  # the draft's values: a rejection needs its reason
    assert mark(page, "reject_reason") == (True, "true") and mark(page, "lead_override") == (False, "")
    # the reported situation is "other" (case data): blowing the whistle needs a lead department
    answer = centre.post(f"/tasks/{task_id}", {"decision": "whistle", "_submit": "complete"})
    assert answer.status_code == 422
    page = text(answer)
    assert mark(page, "lead_override") == (True, "true") and mark(page, "reject_reason") == (False, "")
    assert field_error(page, "lead_override")


def test_signing_in_after_a_lost_session_returns_to_the_form(site):
    case = site.report()
    task_id = site.task_of("command-wudadao", "指挥中心审核", case)
    centre = site.client("command-wudadao")
    for url in (f"/tasks/{task_id}", f"/tasks/{task_id}/claim"):
        centre.login("command-wudadao")
        token = centre.token
        with centre.http.session_transaction() as session:
            session["session_version"] = -1  # signed out elsewhere: this cookie no longer holds
        answer = centre.post(url, {"decision": "whistle", "_submit": "complete", "csrf_token": token})
        assert answer.status_code == 302
        assert answer.headers["Location"] == f"/login?next=/tasks/{task_id}", url  # the form's page, not the POST
    # a cookie that expired is no session at all: the post changes nothing and leads to signing in, not to 400
    expired = Client(site.app)
    answer = expired.http.post(f"/tasks/{task_id}", data={"decision": "whistle", "_submit": "complete"})
    assert answer.status_code == 302 and answer.headers["Location"] == f"/login?next=/tasks/{task_id}"
    login = expired.http.get(answer.headers["Location"])
    assert "登录已失效，请重新登录" in text(login)
    assert f'name="next" value="/tasks/{task_id}"' in text(login)
    signed = expired.http.post("/login", data={"username": "command-wudadao", "password": "s3cret-pw",
                                               "next": f"/tasks/{task_id}",
                                               "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',
                                                                       text(login)).group(1)})
    assert signed.headers["Location"] == f"/tasks/{task_id}"
    assert site.w.task(task_id)["status"] == "open" and site.w.task(task_id)["assignee"] is None
    assert expired.http.post("/start/whistle", data={}).status_code == 400  # signed in: a missing token is refused
    assert Client(site.app).http.post("/login", data={"username": "x", "password": "y"}).status_code == 400
    page = text(site.client("grid-worker-wudadao").get("/start/whistle"))
    assert re.search(r'data-autosave="grid-worker-wudadao /start/whistle" data-server-now="\d+" data-draft-at=""', page)


# ---------------------------------------------------------------------------------------------------------
# In chromium: the location button, the mark, a lost session

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("field-work")
    env = demo_database(folder)
    port = _free_port()
    process, log = start_server(env, folder, port)
    yield {"base": f"http://127.0.0.1:{port}", "env": env}
    stop_server(process, log)


def _sign_in(browser, base: str, username: str, **context_options):
    context = browser.new_context(viewport=PHONE, locale="zh-CN", **context_options)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(f"{base}/inbox")
    _sign_in_here(page, username)
    return context, page


def _sign_in_here(page, username: str) -> None:
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()


def _unsent(page) -> list[str]:
    """The copies kept in this browser — read once the page's deferred scripts have run (they settle them), not
    as soon as its text shows."""
    page.wait_for_load_state("load")
    return page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('whistle.unsent:'))")


def test_field_work_in_the_browser(server):
    base = server["base"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            _browser_scenario(browser, base)
        finally:
            browser.close()


def _browser_scenario(browser, base: str) -> None:  # noqa: C901 - one walk through the pages
    # -- a grid worker on the spot: the position is asked for only when the button is pressed -------------------
    context, grid = _sign_in(browser, base, "grid-worker-wudadao",
                             geolocation={"latitude": 39.1175329, "longitude": 117.1985512, "accuracy": 12})
    context.grant_permissions(["geolocation"], origin=base)
    expect(grid.get_by_role("heading", name="待办", exact=True)).to_be_visible()
    grid.goto(f"{base}/start/whistle")
    spot = grid.locator("#wrap-report_position")
    expect(spot.locator("[data-location-text]")).to_have_text("尚未获取位置")
    expect(spot.get_by_role("button", name="清除位置")).to_be_hidden()
    expect(grid.locator("#f-photos")).to_have_attribute("capture", "environment")
    spot.get_by_role("button", name="获取当前位置").click()
    expect(spot.locator("[data-location-text]")).to_contain_text("39.1175, 117.1986（±12 米）")
    posted = json.loads(grid.locator("#f-report_position").input_value())
    assert posted["lat"] == 39.1175329 and posted["lng"] == 117.1985512 and posted["accuracy"] == 12
    assert re.match(r"^\d{4}-\d{2}-\d{2}T", posted["at"])
    spot.get_by_role("button", name="清除位置").click()
    expect(spot.locator("[data-location-text]")).to_have_text("尚未获取位置")
    assert grid.locator("#f-report_position").input_value() == ""
    spot.get_by_role("button", name="获取当前位置").click()
    expect(spot.get_by_role("button", name="重新获取位置")).to_be_visible()
    grid.get_by_label("呼叫情形").select_option("other")
    grid.get_by_label("问题位置").fill("睦南道12号院")
    grid.get_by_label("问题描述").fill("楼道堆物堵塞消防通道")
    grid.get_by_role("button", name="提交上报").click()
    expect(grid.locator(".flash-ok")).to_contain_text("已提交，案件编号")
    row = grid.locator('[data-name="report_position"]')
    expect(row).to_contain_text("39.1175, 117.1986（±12 米）")
    expect(row.locator("a.geo-map")).to_have_attribute("href", re.compile(r"position=117\.1985512,39\.1175329"))
    expect(row.locator("a.geo-map")).to_have_attribute("title", re.compile("WGS-84"))
    assert _unsent(grid) == []  # submitted: no copy is kept
    case_url = grid.url

    # -- without the permission the field says so and stays optional -------------------------------------------
    refused_context, refused = _sign_in(browser, base, "grid-worker-wudadao")  # no permission granted
    refused.goto(f"{base}/start/whistle")
    refused.locator("#wrap-report_position").get_by_role("button", name="获取当前位置").click()
    expect(refused.locator("#wrap-report_position [data-location-status]")).to_contain_text("没有获得使用位置的许可")
    expect(refused.locator("#wrap-report_position [data-location-status]")).to_contain_text("本项可以不填。")
    assert refused.errors == []
    without = refused_context.new_page()  # a browser without geolocation at all
    without.add_init_script("Object.defineProperty(Navigator.prototype, 'geolocation', {get: () => undefined})")
    without.goto(f"{base}/start/whistle")
    without.locator("#wrap-report_position").get_by_role("button", name="获取当前位置").click()
    expect(without.locator("#wrap-report_position [data-location-status]")).to_have_text(
        "这个浏览器不能获取位置。本项可以不填。")
    refused_context.close()

    # -- the command centre: the required mark follows the answers ---------------------------------------------
    centre_context, centre = _sign_in(browser, base, "command-wudadao")
    centre.goto(case_url)  # its open task, linked for whoever may work on it
    centre.locator(".open-tasks").get_by_role("link", name="指挥中心审核").click()
    expect(centre.get_by_role("heading", name="指挥中心审核").first).to_be_visible()
    task_url = centre.url
    lead_mark = centre.locator("#wrap-lead_override [data-required-mark]")
    reason_mark = centre.locator("#wrap-reject_reason [data-required-mark]")
    centre.get_by_label("驳回", exact=True).check()
    expect(reason_mark).to_be_visible()
    expect(centre.get_by_label("驳回理由")).to_have_attribute("aria-required", "true")
    centre.get_by_label("吹哨：派单给职能部门报到").check()
    expect(centre.get_by_label("驳回理由")).to_be_hidden()
    expect(lead_mark).to_be_visible()  # the reported situation is "other": the centre names the lead
    expect(centre.locator("#f-lead_override")).to_have_attribute("aria-required", "true")
    centre.get_by_label("更正呼叫情形").select_option("building-repair-no-property")
    expect(lead_mark).to_be_hidden()
    expect(centre.locator("#f-lead_override")).not_to_have_attribute("aria-required", "true")
    centre.get_by_label("更正呼叫情形").select_option("")
    expect(lead_mark).to_be_visible()

    # -- the session is lost while typing; signing in again brings the typed form back -------------------------
    centre.get_by_label("审核意见").fill("请住建委牵头，消防配合清理")
    centre.get_by_label("指定牵头部门").select_option("dept-housing")
    centre.wait_for_timeout(700)  # the copy is saved a moment after typing stops
    centre_context.clear_cookies()  # the session cookie is gone (it expired)
    centre.get_by_role("button", name="提交").click()
    expect(centre.locator(".flash-info")).to_contain_text("登录已失效，请重新登录")
    _sign_in_here(centre, "command-wudadao")
    assert centre.url == task_url
    offer = centre.locator(".unsent")
    expect(offer).to_contain_text("尚未提交的内容")
    expect(centre.get_by_label("审核意见")).to_have_value("")  # the server never got it
    offer.get_by_role("button", name="恢复未提交的内容").click()
    expect(centre.get_by_label("审核意见")).to_have_value("请住建委牵头，消防配合清理")
    expect(centre.get_by_label("吹哨：派单给职能部门报到")).to_be_checked()
    expect(centre.get_by_label("指定牵头部门")).to_have_value("dept-housing")
    expect(lead_mark).to_be_visible()
    centre.get_by_role("button", name="提交").click()
    expect(centre.locator(".flash-ok")).to_contain_text("已提交：指挥中心审核")
    assert _unsent(centre) == []
    centre.goto(case_url)
    expect(centre.locator('[data-name="report_position"]')).to_contain_text("39.1175, 117.1986")

    # -- 放弃 drops the copy; signing out drops the person's copies ---------------------------------------------
    grid.goto(f"{base}/start/whistle")
    grid.get_by_label("问题描述").fill("井盖缺失")
    grid.wait_for_timeout(700)
    grid.reload()
    grid.locator(".unsent").get_by_role("button", name="放弃").click()
    expect(grid.locator(".unsent")).to_have_count(0)
    assert _unsent(grid) == []
    grid.get_by_label("问题描述").fill("井盖缺失")
    grid.wait_for_timeout(700)
    assert len(_unsent(grid)) == 1
    grid.get_by_role("button", name="退出").click()
    assert _unsent(grid) == []
    for page in (grid, centre):
        assert page.errors == [], page.errors
    context.close()
    centre_context.close()
