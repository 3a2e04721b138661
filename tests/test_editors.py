"""The form and decision editors (issue 15): Whistle's forms as form-js schemas and back (``engine.forms.formjs``,
ADR 10) — every form in ``processes/`` round-trips to the identical form and text — and the editors' calls over
HTTP, on SQLite and PostgreSQL: only designers and admins save drafts, validate or deploy; a deployed form or
table makes exactly one new version of the process, audited as its actor; what cannot be read (bad JSON, bad
XML, a form-js component Whistle has not) is a 422 naming the file and the line or field, and nothing is deployed.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from test_web_pages import Client

from engine.errors import Forbidden, InvalidInput
from engine.forms.formjs import decode_property, encode_property, form_text, from_formjs, to_formjs
from engine.store.models import AuditEvent
from webui import create_app

PROJECT = Path(__file__).parent.parent
FORMS = sorted(PROJECT.glob("processes/*/forms/*.form.json"))
PASSWORD = "s3cret-pw"
SIGN = "forms/whistle-sign.form.json"
TABLE = "tier-deadlines.dmn"


# -- the mapping ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", FORMS, ids=[p.name for p in FORMS])
def test_every_form_round_trips_through_form_js_to_the_same_form_and_text(path):
    text = path.read_text(encoding="utf-8")
    form = json.loads(text)
    schema = json.loads(json.dumps(to_formjs(form)))  # as the browser holds it
    assert schema["type"] == "default" and schema["id"] == form["key"]
    back = from_formjs(schema, form)
    assert back == form and list(back) == list(form)
    assert [list(f) for f in back["fields"]] == [list(f) for f in form["fields"]]
    assert form_text(back) + "\n" == text  # deployed again, the same bytes: the same version


def test_whistle_settings_become_form_js_ones_and_the_rest_properties():
    form = json.loads((PROJECT / "processes/whistle/forms/whistle-sign.form.json").read_text(encoding="utf-8"))
    [signed_by] = to_formjs(form)["components"]
    assert (signed_by["type"], signed_by["key"], signed_by["label"]) == ("textfield", "signed_by", "签收人")
    assert signed_by["validate"] == {"required": True, "maxLength": 100}
    assert signed_by["description"] == "签收人姓名或值班岗位。"
    assert signed_by["properties"] == {"label_en": "Signed by", "prefill": "display_name"}
    assert to_formjs(form)["properties"]["show"].startswith('["situation_name"')
    kinds = {f["type"]: to_formjs({"key": "k", "fields": [f]})["components"][0]["type"] for f in [
        {"name": "a", "type": "select", "multiple": True}, {"name": "b", "type": "checkbox", "options": [
            {"value": 1, "label": "一"}]}, {"name": "c", "type": "date"}, {"name": "d", "type": "file"},
        {"name": "e", "type": "hidden"}, {"name": "f", "type": "location"}]}
    assert kinds == {"select": "taglist", "checkbox": "checklist", "date": "datetime", "file": "filepicker",
                     "hidden": "expression", "location": "textfield"}


def test_an_edit_in_form_js_spelling_reads_back_with_typed_options_and_english_labels():
    form = {"key": "k", "title": "标题", "fields": [
        {"name": "ok", "label": "同意", "label_en": "Agree", "type": "radio", "required": True,
         "options": [{"value": True, "label": "是", "label_en": "Yes"}, {"value": False, "label": "否"}]}]}
    schema = to_formjs(form)
    [radio] = schema["components"]
    radio["label"] = "是否同意"
    radio["values"] = [{"label": "同意", "value": "true"}, {"label": "否", "value": "false"},
                       {"label": "再议", "value": "later"}]  # the editor's value list: texts only
    radio["layout"] = {"row": "Row_1", "columns": None}  # form-js's own bookkeeping
    radio["properties"]["visible_when"] = '{"data": "x", "filled": true}'
    back = from_formjs(schema, form)
    assert back["fields"] == [{"name": "ok", "label": "是否同意", "label_en": "Agree", "type": "radio",
                               "required": True, "visible_when": {"data": "x", "filled": True}, "options": [
                                   {"value": True, "label": "同意", "label_en": "Yes"},
                                   {"value": False, "label": "否"}, {"label": "再议", "value": "later"}]}]
    for value in ("plain", "true", "5", '{"a": 1}', 5, True, None, ["x"], {"a": [1]}):
        assert decode_property(encode_property(value)) == value
    assert encode_property("Signed by") == "Signed by"


def test_what_whistle_forms_cannot_hold_is_refused_naming_the_component():
    schema = to_formjs({"key": "k", "fields": [{"name": "a", "label": "甲", "type": "text"}]})
    schema["components"].append({"type": "image", "id": "Image_1", "source": "x.png"})
    with pytest.raises(InvalidInput, match=r"fields\[1\] \(image\): form-js 'image' components are not part"):
        from_formjs(schema, None)
    with pytest.raises(InvalidInput, match="components"):
        from_formjs({"type": "default"}, None)


# -- the editors over HTTP -----------------------------------------------------------------------------------------

@pytest.fixture
def site(whistle, tmp_path):
    whistle.deploy([PROJECT / "processes"])
    for username, groups in (("designer", ["designers"]), ("admin", ["admins"]), ("clerk", ["command-centre"])):
        whistle.add_user(username, groups, password=PASSWORD, display_name=username)
    return create_app({"ENGINE": whistle, "TESTING": True, "ATTACHMENTS_DIR": str(tmp_path / "attachments")})


def whistle_versions(w) -> list[int]:
    return [v["version"] for v in w.versions_of("whistle", None)["versions"]]


def opened(w, path: str) -> dict:
    version = w.versions_of("whistle", None)["versions"][0]
    return w.editor_open("designer", version["version_id"], path)


def post(client: Client, action: str, body: dict):
    return client.http.post(f"/editor/processes/whistle/{action}", json=body,
                            headers={"X-CSRF-Token": client.token})


def test_only_designers_and_admins_open_save_validate_or_deploy(site, whistle):
    form = opened(whistle, SIGN)
    body = {"file": form["file"], "base_version_id": form["base"]["version_id"],
            "content": json.dumps(form["schema"])}
    for who in ("clerk", "nobody"):
        with pytest.raises(Forbidden):
            whistle.editor_open(who, form["base"]["version_id"], SIGN)
        with pytest.raises(Forbidden):
            whistle.editor_deploy(who, "whistle", form["file"], form["base"]["version_id"], body["content"])
    clerk = Client(site, "clerk")
    assert clerk.get(f"/editor/versions/{form['base']['version_id']}?file={SIGN}").status_code == 403
    for action in ("draft", "validate", "deploy"):
        assert post(clerk, action, body).status_code == 403, action
    assert whistle_versions(whistle) == [1]
    designer = Client(site, "designer")
    page = designer.get(f"/editor/versions/{form['base']['version_id']}?file={SIGN}")
    assert page.status_code == 200 and "编辑表单" in page.get_data(as_text=True)
    assert post(designer, "draft", body).status_code == 200
    assert whistle.editor_open("designer", form["base"]["version_id"], SIGN)["draft"]["content"] == body["content"]
    assert whistle.editor_open("admin", form["base"]["version_id"], SIGN)["draft"] is None  # per designer
    report = post(designer, "validate", body)
    assert report.status_code == 200 and report.json["ok"] is True
    unchanged = post(Client(site, "admin"), "deploy", body)
    assert unchanged.status_code == 200 and unchanged.json["status"] == "unchanged"  # the same bytes
    assert whistle_versions(whistle) == [1]


def test_a_deployed_form_and_table_make_one_new_version_each_audited(site, whistle):
    designer = Client(site, "designer")
    form = opened(whistle, SIGN)
    schema = copy.deepcopy(form["schema"])
    schema["components"][0]["label"] = "签收人姓名"
    deployed = post(designer, "deploy", {"file": form["file"], "base_version_id": form["base"]["version_id"],
                                         "content": json.dumps(schema)})
    assert deployed.status_code == 200, deployed.json
    assert (deployed.json["version"], deployed.json["status"]) == (2, "new")
    assert whistle.form("whistle-sign", version_id=deployed.json["version_id"])["fields"][0]["label"] == "签收人姓名"
    assert whistle.editor_open("designer", form["base"]["version_id"], SIGN)["draft"] is None  # dropped
    table = opened(whistle, TABLE)
    xml = table["xml"].replace("<text>90</text>", "<text>95</text>", 1)
    stale = post(designer, "deploy", {"file": table["file"], "base_version_id": form["base"]["version_id"],
                                      "content": xml})
    assert stale.status_code == 409 and stale.json["latest"]["version"] == 2  # opened from 1, 2 deployed since
    again = post(designer, "deploy", {"file": table["file"], "base_version_id": table["base"]["version_id"],
                                      "content": xml})
    assert again.status_code == 200 and again.json["version"] == 3
    diff = whistle.diff("whistle", 2, 3, "designer")
    assert (diff["changed"], diff["forms"]) == ([], [])
    [decision] = diff["decisions"]
    assert [(r["id"], [(c["old"], c["new"]) for c in r["cells"]]) for r in decision["rules"]["changed"]] == [
        ("tier_deadlines_red", [("90", "95")])]
    with whistle.db.read() as session:
        events = session.execute(select(AuditEvent.actor, AuditEvent.details)
                                 .where(AuditEvent.event_type == "deployed")).all()
    mine = [(actor, d["key"], d["version"], d.get("via")) for actor, d in
            ((actor, json.loads(details)) for actor, details in events) if actor == "designer"]
    assert sorted(mine) == [("designer", "tier_deadlines", 2, "editor"), ("designer", "whistle", 2, "editor"),
                            ("designer", "whistle", 3, "editor")]


def test_what_cannot_be_read_is_a_422_naming_the_file_and_line_or_field_and_nothing_is_deployed(site, whistle):
    designer = Client(site, "designer")
    form = opened(whistle, SIGN)
    base = form["base"]["version_id"]
    bad_json = post(designer, "deploy", {"file": form["file"], "base_version_id": base,
                                         "content": '{"type": "default",\n  "components": [\n    {oops}]}'})
    assert bad_json.status_code == 422
    assert bad_json.json["message"] == (f"content: {form['file']}: line 3: the form-js schema is not JSON: "
                                        f"Expecting property name enclosed in double quotes")
    schema = copy.deepcopy(form["schema"])
    schema["components"][0]["properties"]["colour"] = "red"  # no such setting: the deploy check names the field
    schema["components"].append({"type": "text", "id": "Text_1", "text": "# 说明"})
    refused = post(designer, "validate", {"file": form["file"], "base_version_id": base,
                                          "content": json.dumps(schema)})
    assert refused.status_code == 422 and "fields[1] (text): form-js 'text' components" in refused.json["message"]
    schema["components"].pop()
    report = post(designer, "validate", {"file": form["file"], "base_version_id": base,
                                         "content": json.dumps(schema)})
    assert report.status_code == 200 and report.json["ok"] is False
    assert any("signed_by" in (p["detail"] or p["text"]) for p in report.json["problems"]), report.json
    invalid = post(designer, "deploy", {"file": form["file"], "base_version_id": base, "content": json.dumps(schema)})
    assert invalid.status_code == 422 and invalid.json["error"] == "invalid_deployment"
    table = opened(whistle, TABLE)
    bad_xml = post(designer, "deploy", {"file": table["file"], "base_version_id": base,
                                        "content": table["xml"].replace("</rule>", "</rul>", 1)})
    assert bad_xml.status_code == 422 and bad_xml.json["problems"][0]["line"]
    assert whistle_versions(whistle) == [1]
