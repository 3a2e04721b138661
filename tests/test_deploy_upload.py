"""Deploying from the browser (issue 15): uploaded files and zips through the engine (``Whistle.plan_upload``,
``Whistle.deploy_upload``) and the 上传部署 pages, on SQLite and PostgreSQL. Only designers and administrators
upload; every kind of hostile archive is refused with its message and nothing is deployed; the dry run reports
each problem with file, line and element; a confirmation deploys exactly what was checked, audited as its actor.
"""
from __future__ import annotations

import base64
import io
import json
import re
import stat
import warnings
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select
from test_web_pages import Client, text

from engine.errors import Conflict, DeploymentInvalid, Forbidden
from engine.store.models import AuditEvent
from webui import create_app

from test_readable_pages import assert_readable

UPLOAD = Path(__file__).parent / "fixtures" / "upload"
PASSWORD = "s3cret-pw"
V1 = (UPLOAD / "v1" / "upload_review.bpmn").read_bytes()
BROKEN = (UPLOAD / "broken" / "upload_review.bpmn").read_bytes()
FIXED = (UPLOAD / "fixed" / "upload_review.bpmn").read_bytes()


def zipped(*entries: tuple, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of (name, bytes) entries; a third item is the entry's Unix mode (a link, say)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", compression) as archive:
        warnings.simplefilter("ignore")  # "Duplicate name": the archive with an entry twice is made on purpose
        for name, data, *mode in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            if mode:
                info.external_attr = mode[0] << 16
                info.create_system = 3
            archive.writestr(info, data)
    return buffer.getvalue()


def versions(w) -> list[tuple]:
    return sorted((d["process_id"], d["version"], d["deployed_by"]) for d in w.definitions())


@pytest.fixture
def site(whistle, tmp_path):
    for username, groups, name in (("designer", ["designers"], "设计员甲"), ("admin", ["admins"], "管理员"),
                                   ("clerk", ["clerks"], "办事员"), ("designer2", ["designers"], "设计员乙")):
        whistle.add_user(username, groups, password=PASSWORD, display_name=name)
    app = create_app({"ENGINE": whistle, "TESTING": True, "UPLOADS_DIR": str(tmp_path / "uploads")})
    return app


def check(browser: Client, files: list[tuple[str, bytes]]):
    """Post files to 检查; the report page it leads to."""
    response = browser.post("/definitions/upload", {"files": [(io.BytesIO(data), name) for name, data in files]},
                            content_type="multipart/form-data")
    assert response.status_code == 302, text(response)[:2000]
    report = browser.get(response.headers["Location"])
    assert report.status_code == 200
    return response.headers["Location"], text(report)


def confirm(browser: Client, report_url: str, page: str, upload_hash: str | None = None):
    found = re.search(r'name="upload_hash" value="([0-9a-f]+)"', page)
    return browser.post(f"{report_url}/deploy", {"upload_hash": upload_hash or (found.group(1) if found else "")})


# ---------------------------------------------------------------------------------------------------------
# Who may upload

def test_only_designers_and_admins_may_check_or_deploy(whistle, site):
    files = [("upload_review.bpmn", V1)]
    for actor in ("clerk", "nobody"):
        with pytest.raises(Forbidden):
            whistle.plan_upload(files, actor)
        with pytest.raises(Forbidden):
            whistle.deploy_upload(files, actor)
    assert versions(whistle) == []
    clerk = Client(site, "clerk")
    assert clerk.get("/definitions/upload").status_code == 403
    refused = clerk.post("/definitions/upload", {"files": [(io.BytesIO(V1), "upload_review.bpmn")]},
                         content_type="multipart/form-data")
    assert refused.status_code == 403
    designer = Client(site, "designer")
    page = designer.get("/definitions")
    assert "/definitions/upload" in text(page)  # the link on 流程定义
    report_url, report = check(designer, files)
    # Another designer cannot read or deploy this upload; a clerk cannot either.
    for other in (Client(site, "designer2"), clerk):
        assert other.get(report_url).status_code in (403, 404)
        assert confirm(other, report_url, report).status_code in (403, 404)
        assert other.get(f"{report_url}/diagrams/0").status_code in (403, 404)
    assert versions(whistle) == []
    admin = Client(site, "admin")
    admin_url, admin_report = check(admin, files)
    assert confirm(admin, admin_url, admin_report).status_code == 302
    assert versions(whistle) == [("upload_review", 1, "admin")]


# ---------------------------------------------------------------------------------------------------------
# Hostile uploads: refused with their message, nothing deployed

HOSTILE = {
    "traversal": ([("p.zip", zipped(("../upload_review.bpmn", V1)))], "climbs out of the folder"),
    "nested traversal": ([("p.zip", zipped(("defs/../../x/upload_review.bpmn", V1)))], "climbs out of the folder"),
    "absolute path": ([("p.zip", zipped(("/etc/upload_review.bpmn", V1)))], "is an absolute path"),
    "drive path": ([("p.zip", zipped(("C:/defs/upload_review.bpmn", V1)))], "is an absolute path"),
    "loose traversal": ([("../upload_review.bpmn", V1)], "climbs out of the folder"),
    "symbolic link": ([("p.zip", zipped(("upload_review.bpmn", V1), ("link.bpmn", b"/etc/passwd",
                                                                     stat.S_IFLNK | 0o777)))],
                      "is a symbolic link"),
    "hard link or device": ([("p.zip", zipped(("upload_review.bpmn", V1), ("fifo.bpmn", b"", stat.S_IFIFO | 0o644)))],
                            "not a plain file (a link or a device)"),
    "entry twice": ([("p.zip", zipped(("upload_review.bpmn", V1), ("upload_review.bpmn", BROKEN)))],
                    "is in it twice"),
    "too many entries": ([("p.zip", zipped(*[(f"notes/{i}.txt", b"x") for i in range(6)]))], "it has 6 entries"),
    "too large unpacked": ([("p.zip", zipped(("upload_review.bpmn", V1), ("notes/big.txt", b"x" * 40_000),
                                             compression=zipfile.ZIP_STORED))], "it unpacks to more than 31 KB"),
    "zip bomb": ([("p.zip", zipped(("upload_review.bpmn", V1), ("bomb.bpmn", b"\0" * 2_000_000)))],
                 "times its packed size"),
    "not a zip": ([("p.zip", b"PK\x03\x04 this is not really a zip")], "not a zip archive that can be read"),
    "not UTF-8": ([("upload_review.bpmn", V1.replace("审核".encode(), "审核".encode("gbk")))], "not UTF-8 text"),
    "not XML": ([("upload_review.bpmn", b"<bpmn:definitions> this is not XML")], "not well-formed XML"),
    "DTD and entities": ([("p.zip", zipped(("upload_review.bpmn", V1.replace(
        b"<bpmn:definitions", b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<bpmn:definitions', 1))))],
        "a DOCTYPE declaration is not allowed"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_uploads_are_refused_and_nothing_is_deployed(whistle, site, monkeypatch, kind):
    if kind == "too many entries":
        monkeypatch.setenv("WHISTLE_UPLOAD_MAX_FILES", "5")
    if kind == "too large unpacked":
        monkeypatch.setenv("WHISTLE_UPLOAD_MAX_UNPACKED_MB", "0.03")
    whistle.deploy([UPLOAD / "v1"], actor="system")
    before = versions(whistle)
    files, message = HOSTILE[kind]
    plan = whistle.plan_upload(files, "designer")
    assert not plan["ok"] and plan["definitions"] == []
    assert any(message in p["message"] and p["severity"] == "error" for p in plan["problems"]), plan["problems"]
    with pytest.raises(DeploymentInvalid) as refused:
        whistle.deploy_upload(files, "designer", plan["upload_hash"])
    assert any(message in p.message for p in refused.value.problems)
    # Through the page: the report names the problem and offers no 确认部署; a confirm posted anyway deploys nothing.
    designer = Client(site, "designer")
    report_url, report = check(designer, files)
    assert message.replace("'", "&#39;") in report and 'id="confirm-deploy"' not in report
    assert 'data-ok="false"' in report
    assert_readable(report, "zh", kind)
    assert confirm(designer, report_url, report, plan["upload_hash"]).status_code == 302
    assert "没有部署" in text(designer.get(report_url))
    assert versions(whistle) == before


def test_upload_limits_must_be_numbers(whistle, site, monkeypatch):
    monkeypatch.setenv("WHISTLE_UPLOAD_MAX_RATIO", "many")
    with pytest.raises(ValueError, match="WHISTLE_UPLOAD_MAX_RATIO"):
        whistle.plan_upload([("upload_review.bpmn", V1)], "designer")


# ---------------------------------------------------------------------------------------------------------
# The dry run and the confirmation

def test_a_dry_run_reports_a_lint_error_with_file_line_and_element(whistle, site):
    plan = whistle.plan_upload([("upload_review.bpmn", BROKEN)], "designer")
    assert not plan["ok"] and plan["errors"] == 1
    [problem] = [p for p in plan["problems"] if p["severity"] == "error"]
    assert (problem["file"], problem["line"], problem["element_id"]) == ("upload_review.bpmn", 12, "review")
    assert "[human-task-assignment]" in problem["message"]
    assert versions(whistle) == []  # a dry run stores nothing
    designer = Client(site, "designer")
    report_url, report = check(designer, [("upload_review.bpmn", BROKEN)])
    item = re.search(r'<li class="problem problem-error"[^>]*>.*?</li>', report, re.S).group(0)
    assert 'data-file="upload_review.bpmn"' in item and 'data-line="12"' in item and 'data-element="review"' in item
    assert "第 12 行" in item and "<code>review</code>" in item and "<code>human-task-assignment</code>" in item
    assert 'id="confirm-deploy"' not in report
    assert_readable(report, "zh", "a report with a lint error")
    diagram = designer.get(f"{report_url}/diagrams/0").get_json()
    assert diagram["xml"] == BROKEN.decode()
    assert [(p["element_id"], p["severity"], p["rule"]) for p in diagram["problems"]] == \
        [("review", "error", "human-task-assignment")]
    assert designer.get(f"{report_url}/diagrams/1").status_code == 404


def test_confirm_deploys_what_was_checked_and_the_audit_log_records_the_actor(whistle, site):
    whistle.deploy([UPLOAD / "v1"], actor="system")
    designer = Client(site, "designer")
    report_url, report = check(designer, [("upload_review.bpmn", FIXED)])
    assert 'data-ok="true"' in report and 'id="confirm-deploy"' in report
    assert re.search(r'data-definition="upload_review" data-status="new" data-version="2"', report)
    assert_readable(report, "zh", "a report that passes")
    assert versions(whistle) == [("upload_review", 1, "system")]  # checked, not yet deployed
    done = confirm(designer, report_url, report)
    assert done.status_code == 302
    result = text(designer.get(report_url))
    assert "部署完成" in result and 'data-status="new" data-version="2"' in result
    assert_readable(result, "zh", "the deployment's result")
    assert versions(whistle) == [("upload_review", 1, "system"), ("upload_review", 2, "designer")]
    with whistle.db.read() as session:
        events = session.execute(select(AuditEvent).where(AuditEvent.event_type == "deployed")
                                 .order_by(AuditEvent.id)).scalars().all()
    assert [e.actor for e in events] == ["system", "designer"]
    assert json.loads(events[-1].details)["via"] == "upload" and json.loads(events[-1].details)["version"] == 2
    assert "via" not in json.loads(events[0].details)  # the command line's events are as they were
    # A second click deploys nothing more; the same files again are unchanged.
    assert confirm(designer, report_url, report).status_code == 302
    again_url, again = check(designer, [("upload_review.bpmn", FIXED)])
    assert re.search(r'data-definition="upload_review" data-status="unchanged" data-version="2"', again)
    confirm(designer, again_url, again)
    assert versions(whistle)[-1] == ("upload_review", 2, "designer")
    assert whistle.start("upload_review") and whistle.tasks()[0]["name"] == "初审"


def test_a_confirm_cannot_deploy_other_files_than_those_checked(whistle, site, tmp_path):
    plan = whistle.plan_upload([("upload_review.bpmn", V1)], "designer")
    with pytest.raises(Conflict, match="not the ones that were checked"):
        whistle.deploy_upload([("upload_review.bpmn", FIXED)], "designer", plan["upload_hash"])
    designer = Client(site, "designer")
    report_url, report = check(designer, [("upload_review.bpmn", V1)])
    # The kept file is changed between the check and the confirmation: the engine refuses it.
    [kept] = [p for p in (tmp_path / "uploads").glob("*/0")]
    kept.write_bytes(FIXED)
    refused = confirm(designer, report_url, report)
    assert refused.status_code == 400 and "not the ones that were checked" in text(refused)
    assert versions(whistle) == []


def test_a_zip_of_a_folder_deploys_its_files_and_passes_over_the_rest(whistle, site):
    archive = zipped(("processes/", b"", stat.S_IFDIR | 0o755), ("processes/upload_review.bpmn", V1),
                     ("processes/README.md", b"# notes"), ("__MACOSX/processes/._upload_review.bpmn", b"\0\1"),
                     ("processes/.DS_Store", b"\0"))
    plan = whistle.plan_upload([("processes.zip", archive)], "designer")
    assert plan["ok"], plan["problems"]
    assert [(d["process_id"], d["status"], d["version"], d["file"]) for d in plan["definitions"]] == \
        [("upload_review", "new", 1, "processes/upload_review.bpmn")]
    assert sorted(plan["ignored"]) == ["__MACOSX/processes/._upload_review.bpmn", "processes/.DS_Store",
                                       "processes/README.md"]
    [deployed] = whistle.deploy_upload([("processes.zip", archive)], "designer", plan["upload_hash"])
    assert (deployed.key, deployed.status, deployed.version) == ("upload_review", "new", 1)


def test_several_loose_files_deploy_together_with_a_calendar(whistle, site):
    calendar = "date,kind,name\n2031,statutory only,法定节假日\n2031-01-01,holiday,元旦\n".encode()
    files = [("upload_review.bpmn", V1), ("2031.csv", calendar)]
    plan = whistle.plan_upload(files, "designer")
    assert plan["ok"], plan["problems"]
    assert sorted((d["kind"], d["process_id"], d["status"]) for d in plan["definitions"]) == \
        [("calendar", "2031", "new"), ("process", "upload_review", "new")]
    deployed = whistle.deploy_upload(files, "designer", plan["upload_hash"])
    assert sorted((d.kind, d.status) for d in deployed) == [("calendar", "new"), ("process", "new")]
    assert [y["year"] for y in whistle.calendar_show(2031)] == [2031]


# ---------------------------------------------------------------------------------------------------------
# REST: POST /api/v1/deployments

def basic(username: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()}


def post_files(http, files, query: str = "", headers: dict | None = None):
    return http.post(f"/api/v1/deployments{query}", data={"files": [(io.BytesIO(d), n) for n, d in files]},
                     content_type="multipart/form-data", headers=headers or {})


def test_the_rest_api_checks_and_deploys_uploads_for_designers_only(whistle, site):
    http = site.test_client()
    assert post_files(http, [("upload_review.bpmn", V1)], "?dry_run=true", basic("clerk")).status_code == 403
    assert post_files(http, [("upload_review.bpmn", V1)], "", basic("clerk")).status_code == 403
    broken = post_files(http, [("upload_review.bpmn", BROKEN)], "?dry_run=true", basic("designer"))
    assert broken.status_code == 200 and broken.json["ok"] is False and "diagrams" not in broken.json
    assert [(p["file"], p["line"], p["element_id"]) for p in broken.json["problems"] if p["severity"] == "error"] == \
        [("upload_review.bpmn", 12, "review")]
    refused = post_files(http, [("upload_review.bpmn", BROKEN)], "", basic("designer"))
    assert refused.status_code == 422 and refused.json["error"] == "invalid_deployment"
    assert refused.json["details"]["problems"][0]["element_id"] == "review"
    hostile = post_files(http, HOSTILE["symbolic link"][0], "?dry_run=true", basic("designer"))
    assert hostile.status_code == 200 and "is a symbolic link" in hostile.json["problems"][0]["message"]
    plan = post_files(http, [("upload_review.bpmn", V1)], "?dry_run=true", basic("designer")).json
    assert plan["ok"] and plan["definitions"][0]["status"] == "new"
    other = post_files(http, [("upload_review.bpmn", FIXED)], f"?upload_hash={plan['upload_hash']}", basic("designer"))
    assert other.status_code == 409
    assert versions(whistle) == []
    done = post_files(http, [("upload_review.bpmn", V1)], f"?upload_hash={plan['upload_hash']}", basic("designer"))
    assert done.status_code == 201 and done.json["deployed"][0]["version"] == 1
    assert versions(whistle) == [("upload_review", 1, "designer")]
    # A token acts as its account, with the deploy scope only.
    without = whistle.create_token("ci", "designer", ["start"])["token"]
    assert post_files(http, [("upload_review.bpmn", FIXED)], "?dry_run=true",
                      {"Authorization": f"Bearer {without}"}).status_code == 403
    token = whistle.create_token("ci-deploy", "designer", ["deploy"])["token"]
    again = post_files(http, [("upload_review.bpmn", FIXED)], "", {"Authorization": f"Bearer {token}"})
    assert again.status_code == 201 and again.json["deployed"][0]["version"] == 2
    assert post_files(http, [("upload_review.bpmn", FIXED)], "?dry_run=maybe", basic("designer")).status_code == 400
    assert http.post("/api/v1/deployments", headers=basic("designer")).status_code == 400
