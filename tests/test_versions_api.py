"""Versions and their differences over REST (issue 15): ``GET /api/v1/definitions/{key}/versions``, a version's
files one by one and as a zip, and ``GET /api/v1/definitions/{key}/diff`` — the same JSON as ``whistle diff
--json``. Only designers and administrators read them, a rule of the engine (``VersionHistory`` takes the
actor), so a clerk is refused by the facade as by the API. Every JSON answer is checked against the OpenAPI
document. On SQLite and PostgreSQL.
"""
from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest
from test_api import _documented, assert_matches
from test_versions_diff import VERSIONS, deploy_both, stored_name, whistle_cli

from engine.errors import Forbidden
from webui import create_app

PASSWORD = "s3cret-pw"
NAMES = ["forms/permit-review.form.json", "permit.bpmn", "permit_fee.dmn"]


def basic(user: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()}


@pytest.fixture
def http(whistle, tmp_path):
    deploy_both(whistle)
    whistle.add_user("dina", ["designers"], password=PASSWORD, display_name="丁设计")
    whistle.add_user("root", ["admins"], password=PASSWORD, display_name="管理员")
    whistle.add_user("pat", ["permits"], password=PASSWORD, display_name="窗口人员")
    whistle.start("permit", version=1, data={"area": 80})
    app = create_app({"ENGINE": whistle, "TESTING": True, "ATTACHMENTS_DIR": str(tmp_path / "attachments")})
    return app.test_client()


def call(http, template: str, who: str | None, query: dict | None = None, **params):
    """GET an API path as ``who``; a JSON answer must match the OpenAPI document's schema for its status."""
    path = "/api/v1" + template.format(**params)
    response = http.get(path, headers=basic(who) if who else {}, query_string=query)
    schema = _documented("GET", template, response.status_code)
    if response.is_json and schema is not None:
        assert_matches(schema, response.json)
    return response


def test_the_engine_lets_only_designers_and_admins_read_versions(whistle, http):
    for who in ("dina", "root", None):  # None: the operator at the command line
        assert whistle.versions_of("permit", who)["versions"][0]["version"] == 2
        assert whistle.diff("permit", 1, 2, who)["to"]["version"] == 2
    for who in ("pat", "nobody"):
        for read in (lambda u: whistle.versions_of("permit", u), lambda u: whistle.diff("permit", 1, 2, u),
                     lambda u: whistle.version_archive("permit", 1, u),
                     lambda u: whistle.version_file("permit", 1, "permit.bpmn", u)):
            with pytest.raises(Forbidden, match="only designers and administrators"):
                read(who)


def test_the_versions_listing_names_each_file_by_its_path_in_the_zip(http, whistle):
    answer = call(http, "/definitions/{key}/versions", "dina", key="permit")
    assert answer.status_code == 200
    assert answer.json == json.loads(json.dumps(whistle.versions_of("permit", None)))
    newest, oldest = answer.json["versions"]
    assert (newest["version"], oldest["version"], oldest["running"], newest["deployed_by"]) == (2, 1, 1, "dina")
    assert [(f["file"], f["path"]) for f in oldest["files"]] == [(stored_name("v1", n), n) for n in NAMES]
    assert [(w["element_id"], w["severity"]) for w in oldest["warnings"]] == [("end_reminded", "warning")]
    assert call(http, "/definitions/{key}/versions", "root", key="permit_fee").json["kind"] == "decision"


def test_a_file_and_the_zip_are_the_deployed_bytes(http):
    for name in NAMES:
        for who in ("dina", "root"):
            answer = call(http, "/definitions/{key}/versions/{number}/files/{file}", who, key="permit", number=1,
                          file=name)
            assert answer.status_code == 200, answer.get_data(as_text=True)
            assert answer.data == (VERSIONS / "v1" / name).read_bytes()
            assert answer.headers["Content-Disposition"].startswith("attachment")
    assert call(http, "/definitions/{key}/versions/{number}/files/{file}", "dina", key="permit", number=2,
                file="permit.bpmn").mimetype == "application/xml"
    archive = call(http, "/definitions/{key}/versions/{number}/archive", "dina", key="permit", number=2)
    assert archive.status_code == 200 and archive.mimetype == "application/zip"
    assert 'filename=permit-v2.zip' in archive.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        assert {n: zipped.read(n) for n in zipped.namelist()} == {n: (VERSIONS / "v2" / n).read_bytes() for n in NAMES}


def test_the_diff_is_the_json_of_whistle_diff(http, db_url):
    answer = call(http, "/definitions/{key}/diff", "dina", {"from": 1, "to": 2}, key="permit")
    assert answer.status_code == 200
    command = whistle_cli(db_url, "diff", "permit", "1", "2", "--json")
    assert command.returncode == 0, command.stderr
    assert answer.json == json.loads(command.stdout)
    assert [e["id"] for e in answer.json["added"]] == ["f_notify", "notify"]
    assert {e["id"]: e["changes"] for e in answer.json["changed"]}["review"] == {"name": ["窗口审核", "窗口受理审核"]}
    for query in ({"from": 1}, {"from": "one", "to": 2}, {"to": 2}):
        refused = call(http, "/definitions/{key}/diff", "dina", query, key="permit")
        assert refused.status_code == 400 and refused.json["error"] == "bad_request", query


def test_staff_are_refused_and_nobody_unauthenticated(http):
    urls = [("/definitions/{key}/versions", {}, {}),
            ("/definitions/{key}/versions/{number}/files/{file}", {}, {"number": 1, "file": "permit.bpmn"}),
            ("/definitions/{key}/versions/{number}/archive", {}, {"number": 1}),
            ("/definitions/{key}/diff", {"from": 1, "to": 2}, {})]
    for template, query, params in urls:
        refused = call(http, template, "pat", query, key="permit", **params)
        assert refused.status_code == 403 and refused.json["error"] == "forbidden", template
        assert b"<bpmn:" not in refused.data and not refused.data.startswith(b"PK")
        assert call(http, template, None, query, key="permit", **params).status_code == 401, template
        assert call(http, template, "root", query, key="permit", **params).status_code == 200, template


def test_unknown_processes_versions_and_files_are_404_naming_what_exists(http):
    unknown = call(http, "/definitions/{key}/versions", "dina", key="nope")
    assert unknown.status_code == 404
    assert unknown.json["message"] == "no process or decision 'nope' is deployed; deployed: permit, permit_fee"
    missing = call(http, "/definitions/{key}/diff", "dina", {"from": 1, "to": 7}, key="permit")
    assert missing.status_code == 404 and missing.json["message"] == "permit has no version 7; its versions: 1, 2"
    archive = call(http, "/definitions/{key}/versions/{number}/archive", "dina", key="permit", number=9)
    assert archive.status_code == 404 and "its versions: 1, 2" in archive.json["message"]
    no_file = call(http, "/definitions/{key}/versions/{number}/files/{file}", "dina", key="permit", number=1,
                   file="x.bpmn")
    assert no_file.status_code == 404
    assert no_file.json["message"] == ("version 1 of permit has no file 'x.bpmn'; its files: "
                                       + ", ".join(NAMES))
