"""Administrators keep cases flowing over HTTP (issue 16, parts 3–5), on SQLite and PostgreSQL: the REST routes
(``webui.rest.incidents``, ``webui.rest.repairs``) and the admin pages (``webui.staff.incidents``,
``webui.staff.upgrade``, the case page's 调整流转 form) over the facade. Only administrators may use any of it:
a clerk gets 403, so does a token without the ``admin`` scope (or an administrator's scope on a clerk's token).

The cases are tests/test_upgrade.py's (its ``cases`` fixture): four cases of ``upkeep`` version 1 — at 受理
(``accept``), at 现场核查 (``check``, which version 2 removed), at 办理 (``handle``, renamed ``deal``) and at 受理
without the team version 2 needs (``no_team``) — and version 2 deployed.
"""
from __future__ import annotations

import base64
import re

import pytest
from test_api import _documented, assert_matches
from test_upgrade import UPGRADE, cases, do  # noqa: F401  (cases: a fixture)

from engine.errors import IncidentRaised
from webui import create_app

PASSWORD = "s3cret-pw"


@pytest.fixture
def site(whistle, cases):  # noqa: F811
    whistle.add_user("root", ["admins"], password=PASSWORD, display_name="管理员")
    whistle.add_user("cc", ["command-centre"], password=PASSWORD, display_name="指挥中心")
    return create_app({"ENGINE": whistle, "TESTING": True})


def basic(username: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def call(site, method: str, template: str, who: dict, json=None, query=None, **params):
    """One API call, its answer checked against the OpenAPI document (status documented, body of its schema)."""
    path = "/api/v1" + re.sub(r"{(\w+)}", lambda m: str(params[m.group(1)]), template)
    response = site.test_client().open(path, method=method, json=json, query_string=query, headers=who)
    assert response.is_json, response.get_data(as_text=True)[:300]
    schema = _documented(method, template, response.status_code)
    if schema is not None:
        assert_matches(schema, response.json)
    return response


ROOT, CC = basic("root"), basic("cc")


# -- REST: migrating ------------------------------------------------------------------------------------------

def test_rest_dry_run_then_migrate_the_cases_that_can_move(site, whistle, cases):  # noqa: F811
    dry = call(site, "POST", "/definitions/{key}/upgrade", ROOT, key="upkeep",
               json={"to_version": 2, "mapping": {"handle": "deal"}, "dry_run": True})
    assert dry.status_code == 200, dry.json
    plan = {r["instance_id"]: r for r in dry.json["results"]}
    assert plan[cases["check"]]["can_move"] is False and "现场核查" in plan[cases["check"]]["reason"]
    assert plan[cases["no_team"]]["code"] == "needs_data"
    assert plan[cases["handle"]]["can_move"] and plan[cases["accept"]]["can_move"]
    assert (dry.json["can_move"], dry.json["cannot_move"]) == (2, 2)
    assert {whistle.show(i)["version"] for i in cases.values()} == {1}

    movable = [i for i, r in plan.items() if r["can_move"]]
    done = call(site, "POST", "/definitions/{key}/upgrade", ROOT, key="upkeep",
                json={"to_version": 2, "from_version": 1, "instances": movable, "mapping": ["handle=deal"]})
    assert done.status_code == 200, done.json
    assert {r["instance_id"]: r["outcome"] for r in done.json["results"]} == dict.fromkeys(movable, "moved")
    assert whistle.show(cases["handle"])["version"] == 2 and whistle.show(cases["check"])["version"] == 1


def test_rest_migrate_refusals_name_what_is_wrong(site, whistle, cases):  # noqa: F811
    upgrade = "/definitions/{key}/upgrade"
    missing = call(site, "POST", upgrade, ROOT, key="nowhere", json={"to_version": 2})
    assert missing.status_code == 404 and "nowhere" in missing.json["message"]
    no_version = call(site, "POST", upgrade, ROOT, key="upkeep", json={"to_version": 7, "dry_run": True})
    assert no_version.status_code == 404 and "no version 7" in no_version.json["message"]
    bad_map = call(site, "POST", upgrade, ROOT, key="upkeep", json={"to_version": 2, "mapping": ["handle=nowhere"],
                                                                    "dry_run": True})
    assert bad_map.status_code == 422 and "no element 'nowhere'" in bad_map.json["message"]
    for body, named in (({}, "to_version"), ({"to_version": 2, "shoe": 1}, "shoe"),
                        ({"to_version": 2, "dry_run": "yes"}, "dry_run"), ({"to_version": 2, "instances": ["x"]},
                                                                          "instances"),
                        ({"to_version": 2, "mapping": 3}, "mapping")):
        refused = call(site, "POST", upgrade, ROOT, key="upkeep", json=body)
        assert refused.status_code == 422 and named in refused.json["message"], (body, refused.json)

    one = "/instances/{instance_id}/upgrade"
    check = call(site, "POST", one, ROOT, instance_id=cases["check"], json={"to_version": 2, "dry_run": True})
    assert check.status_code == 200 and check.json["can_move"] is False and check.json["code"] == "removed"
    refused = call(site, "POST", one, ROOT, instance_id=cases["check"], json={"to_version": 2})
    assert refused.status_code == 409 and "现场核查 (check)" in refused.json["message"]
    assert refused.json["details"]["code"] == "removed"
    moved = call(site, "POST", one, ROOT, instance_id=cases["accept"], json={"to_version": 2})
    assert moved.status_code == 200 and moved.json["moved"] is True
    assert call(site, "POST", one, ROOT, instance_id=99999, json={"to_version": 2}).status_code == 404
    assert whistle.show(cases["check"])["version"] == 1 and whistle.show(cases["accept"])["version"] == 2


def test_rest_only_administrators_and_admin_tokens(site, whistle, cases):  # noqa: F811
    plain = whistle.create_token("root-read", "root", [])["token"]
    scoped = whistle.create_token("root-ops", "root", ["admin"])["token"]
    clerk_scoped = whistle.create_token("cc-ops", "cc", ["admin"])["token"]
    routes = [("GET", "/incidents", {}, None), ("GET", "/incidents/{incident_id}", {"incident_id": 1}, None),
              ("POST", "/incidents/{incident_id}/retry", {"incident_id": 1}, None),
              ("POST", "/incidents/{incident_id}/resolve", {"incident_id": 1}, {"note": "x"}),
              ("POST", "/definitions/{key}/upgrade", {"key": "upkeep"}, {"to_version": 2, "dry_run": True}),
              ("POST", "/instances/{instance_id}/upgrade", {"instance_id": cases["accept"]}, {"to_version": 2}),
              ("POST", "/instances/{instance_id}/modify", {"instance_id": cases["check"]}, {"back_to": "accept"})]
    for method, template, params, body in routes:
        for who in (CC, bearer(plain), bearer(clerk_scoped)):
            answer = call(site, method, template, who, json=body, **params)
            assert answer.status_code == 403, (template, who, answer.json)
        assert call(site, method, template, {}, json=body, **params).status_code == 401
    refused = call(site, "GET", "/incidents", bearer(plain))
    assert "'admin' scope" in refused.json["message"]
    assert "administrators" in call(site, "GET", "/incidents", CC).json["message"]
    assert call(site, "GET", "/incidents", bearer(scoped)).status_code == 200
    assert {whistle.show(i)["version"] for i in cases.values()} == {1}  # nothing moved by a refused call
    assert [t["element_id"] for t in whistle.show(cases["check"])["open_tasks"]] == ["check"]


# -- REST: repairing -------------------------------------------------------------------------------------------

def test_rest_modify_moves_back_or_says_why_not(site, whistle, cases):  # noqa: F811
    modify = "/instances/{instance_id}/modify"
    back = call(site, "POST", modify, ROOT, instance_id=cases["handle"],
                json={"back_to": "accept", "data": {"remark": "补充材料"}, "reason": "材料不全"})
    assert back.status_code == 200, back.json
    assert back.json["ready"] == ["accept"]
    [event] = [e for e in whistle.show(cases["handle"])["audit"] if e["event"] == "instance_modified"]
    assert event["actor"] == "root" and event["details"]["reason"] == "材料不全"
    moved = call(site, "POST", modify, ROOT, instance_id=cases["check"], json={"cancel": ["check"], "start": ["handle"]})
    assert moved.status_code == 200 and moved.json["ready"] == ["handle"]
    never = call(site, "POST", modify, ROOT, instance_id=cases["accept"], json={"back_to": "handle"})
    assert never.status_code == 409 and "never passed 'handle'" in never.json["message"]
    both = call(site, "POST", modify, ROOT, instance_id=cases["accept"], json={"back_to": "accept", "cancel": ["x"]})
    assert both.status_code == 422 and "--back-to" in both.json["message"]
    nothing = call(site, "POST", modify, ROOT, instance_id=cases["accept"], json={})
    assert nothing.status_code == 422 and "say what to move" in nothing.json["message"]
    wrong = call(site, "POST", modify, ROOT, instance_id=cases["accept"], json={"cancel": "accept"})
    assert wrong.status_code == 422 and "'cancel'" in wrong.json["message"]
    assert call(site, "POST", modify, ROOT, instance_id=99999, json={"back_to": "accept"}).status_code == 404


# -- REST: incidents -------------------------------------------------------------------------------------------

def failed_completion(whistle) -> tuple[int, int]:
    """A completion of ``replay`` version 1 that fails (its script divides by the weight): (instance, incident)."""
    whistle.deploy([UPGRADE / "fix_v1"])
    instance = whistle.start("replay")
    [task] = [t for t in whistle.tasks("cc") if t["instance_id"] == instance]
    whistle.claim(task["task_id"], "cc")
    with pytest.raises(IncidentRaised) as raised:
        whistle.complete(task["task_id"], "cc", {"weight": 0, "password": "hunter2"})
    return instance, raised.value.incident_id


def test_rest_incidents_list_show_retry_and_resolve(site, whistle, cases):  # noqa: F811
    instance, incident_id = failed_completion(whistle)
    listed = call(site, "GET", "/incidents", ROOT, query={"open": "true", "process": "replay"})
    assert listed.status_code == 200
    assert [i["incident_id"] for i in listed.json["incidents"]] == [incident_id]
    [count] = listed.json["per_element"]
    assert (count["process_id"], count["open"]) == ("replay", 1)
    element = count["element_id"]
    assert call(site, "GET", "/incidents", ROOT, query={"element": element}).json["incidents"][0]["element_id"] \
        == element
    assert call(site, "GET", "/incidents", ROOT, query={"process": "upkeep"}).json["incidents"] == []
    assert call(site, "GET", "/incidents", ROOT, query={"open": "false"}).json["incidents"] == []
    assert call(site, "GET", "/incidents", ROOT, query={"open": "maybe"}).status_code == 400
    assert call(site, "GET", "/incidents", ROOT, query={"limit": "5000"}).status_code == 422

    shown = call(site, "GET", "/incidents/{incident_id}", ROOT, incident_id=incident_id)
    assert shown.status_code == 200 and shown.json["retry"] == "replay"
    assert "ZeroDivisionError" in shown.json["traceback"]
    assert shown.json["command_data"]["redacted"] == ["data.password"] and "hunter2" not in shown.get_data(True)
    assert call(site, "GET", "/incidents/{incident_id}", ROOT, incident_id=99999).status_code == 404
    unreplayable = call(site, "POST", "/incidents/{incident_id}/retry", ROOT, incident_id=incident_id)
    assert unreplayable.status_code == 422 and "data.password" in unreplayable.json["message"]

    no_note = call(site, "POST", "/incidents/{incident_id}/resolve", ROOT, incident_id=incident_id, json={})
    assert no_note.status_code == 422 and "note" in no_note.json["message"]
    blank = call(site, "POST", "/incidents/{incident_id}/resolve", ROOT, incident_id=incident_id, json={"note": " "})
    assert blank.status_code == 422 and "note" in blank.json["message"]
    resolved = call(site, "POST", "/incidents/{incident_id}/resolve", ROOT, incident_id=incident_id,
                    json={"note": "请重新提交，不含密码"})
    assert resolved.status_code == 200 and resolved.json["open"] is False and resolved.json["resolved_by"] == "root"
    again = call(site, "POST", "/incidents/{incident_id}/resolve", ROOT, incident_id=incident_id, json={"note": "x"})
    assert again.status_code == 409 and "already resolved" in again.json["message"]
    assert call(site, "POST", "/incidents/{incident_id}/retry", ROOT, incident_id=incident_id).status_code == 409

    # submitted again without the secret, it fails on version 1; replayed there it fails again (422 incident);
    # after the fix is deployed and the case migrated (over the API), the replay works and resolves it
    [task] = [t for t in whistle.tasks("cc") if t["instance_id"] == instance]
    with pytest.raises(IncidentRaised) as raised:
        whistle.complete(task["task_id"], "cc", {"weight": 0})
    second = raised.value.incident_id
    failed = call(site, "POST", "/incidents/{incident_id}/retry", ROOT, incident_id=second)
    assert failed.status_code == 422 and failed.json["error"] == "incident"
    whistle.deploy([UPGRADE / "fix_v2" / "replay.bpmn"])
    assert call(site, "POST", "/instances/{instance_id}/upgrade", ROOT, instance_id=instance,
                json={"to_version": 2}).status_code == 200
    replayed = call(site, "POST", "/incidents/{incident_id}/retry", ROOT, incident_id=second)
    assert replayed.status_code == 200 and replayed.json["retry"] == "replay" and replayed.json["resolved"] is True
    assert whistle.show(instance)["data"]["points"] == 0
    assert whistle.verify_audit().ok
