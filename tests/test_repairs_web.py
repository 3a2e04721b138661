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
import json
import re

import pytest
from test_api import _documented, assert_matches
from test_upgrade import UPGRADE, cases, do  # noqa: F401  (cases: a fixture)
from test_web_pages import Client, text

from engine.errors import IncidentRaised
from webui import create_app

from test_readable_pages import assert_readable

PASSWORD = "s3cret-pw"


@pytest.fixture
def site(whistle, cases):  # noqa: F811
    whistle.add_user("root", ["admins"], password=PASSWORD, display_name="管理员")
    whistle.add_user("cc", ["command-centre"], password=PASSWORD, display_name="指挥中心")
    whistle.load_people("root", "groups.json", json.dumps({"groups": [  # groups read by name on the pages
        {"name": "command-centre", "display_name": "街道指挥中心"}, {"name": "admins", "display_name": "系统管理员"}]}))
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


# -- the pages -------------------------------------------------------------------------------------------------

def test_the_pages_are_for_administrators(site, whistle, cases):  # noqa: F811
    _, incident_id = failed_completion(whistle)
    clerk = Client(site, "cc")
    for url in ("/admin/incidents", f"/admin/incidents/{incident_id}", "/admin/upgrade",
                "/admin/upgrade?process=upkeep&to=2&dry_run=1"):
        assert clerk.get(url).status_code == 403, url
    for url, form in ((f"/admin/incidents/{incident_id}/retry", {}), (f"/admin/incidents/{incident_id}/resolve",
                                                                      {"note": "x"}),
                      ("/admin/upgrade", {"process": "upkeep", "to": "2", "instances": str(cases["accept"])}),
                      (f"/cases/{cases['check']}/modify", {"back_to": "accept", "reason": "x"})):
        assert clerk.post(url, form).status_code == 403, url
    assert whistle.incident(incident_id, "root")["open"] is True
    assert {whistle.show(i)["version"] for i in cases.values()} == {1}
    assert 'id="repair"' not in text(clerk.get(f"/cases/{cases['check']}"))
    root = Client(site, "root")
    missing = root.post("/admin/upgrade", {"process": "upkeep", "to": "2"})  # nothing confirmed
    assert missing.status_code == 422 and "请先预演" in text(missing)


def test_upgrade_page_dry_run_then_confirm(site, whistle, cases):  # noqa: F811
    root = Client(site, "root")
    form = text(root.get("/admin/upgrade?process=upkeep"))
    assert_readable(form, where="/admin/upgrade")
    assert 'name="old"' in form and '<option value="handle">办理</option>' in form
    assert '<option value="deal">处置</option>' in form and 'aria-current="page"' in form

    plan = root.get("/admin/upgrade?process=upkeep&from=1&to=2&old=handle&new=deal&old=&new=&dry_run=1")
    html = text(plan)
    assert plan.status_code == 200
    assert_readable(html, where="/admin/upgrade (dry run)")
    rows = dict(re.findall(r'data-instance="(\d+)" data-can-move="(\w+)"', html))
    assert rows == {str(cases["accept"]): "yes", str(cases["check"]): "no", str(cases["handle"]): "yes",
                    str(cases["no_team"]): "no"}
    assert "等待在「现场核查」，版本 2 删除了这个环节" in html
    assert "确认迁移 2 个案件" in html
    confirm = re.search(r'<form method="post"[^>]*id="confirm-upgrade".*?</form>', html, re.S).group(0)
    fields = re.findall(r'name="(\w+)" value="([^"]*)"', confirm)
    assert ("instances", str(cases["check"])) not in fields and ("instances", str(cases["handle"])) in fields
    assert {whistle.show(i)["version"] for i in cases.values()} == {1}  # a dry run changes nothing

    english = text(root.get("/admin/upgrade?process=upkeep&from=1&to=2&old=handle&new=deal&dry_run=1&lang=en"))
    assert "Dry run: to version 2" in english and "Waiting at 现场核查, which version 2 removed" in english
    root.get("/admin/upgrade?lang=zh")
    unmapped = text(root.get("/admin/upgrade?process=upkeep&to=2&dry_run=1"))
    assert "它像是改名为「处置」" in unmapped and "确认迁移 1 个案件" in unmapped

    form_data: dict[str, list[str]] = {}
    for name, value in fields:
        form_data.setdefault(name, []).append(value)
    done = root.post("/admin/upgrade", form_data)
    html = text(done)
    assert done.status_code == 200
    assert_readable(html, where="/admin/upgrade (outcome)")
    assert dict(re.findall(r'data-instance="(\d+)" data-outcome="(\w+)"', html)) == {
        str(cases["accept"]): "moved", str(cases["handle"]): "moved"}
    assert "已迁移 2 件，跳过 0 件，失败 0 件" in html
    assert whistle.show(cases["handle"])["version"] == 2 and whistle.show(cases["check"])["version"] == 1
    case_page = text(root.get(f"/cases/{cases['handle']}"))
    assert "从版本 1 迁移到版本 2" in case_page
    assert_readable(case_page, where="/cases (migrated)")

    bad = root.get("/admin/upgrade?process=upkeep&to=2&old=handle&new=&dry_run=1")
    assert bad.status_code == 422 and "both element ids are needed" in text(bad)
    unknown = root.get("/admin/upgrade?process=nowhere&dry_run=1")
    assert unknown.status_code == 404 and "nowhere" in text(unknown)


def test_incident_pages_list_show_and_resolve(site, whistle, cases):  # noqa: F811
    instance, incident_id = failed_completion(whistle)
    root = Client(site, "root")
    listing = text(root.get("/admin/incidents"))
    assert_readable(listing, where="/admin/incidents")
    assert f'data-incident="{incident_id}"' in listing and 'data-open="1"' in listing
    assert f'data-incident="{incident_id}"' not in text(root.get("/admin/incidents?state=resolved"))
    assert f'data-incident="{incident_id}"' not in text(root.get("/admin/incidents?process=upkeep"))
    refused = root.get("/admin/incidents?state=maybe", follow_redirects=True)
    assert "state must be one of" in text(refused)

    page = text(root.get(f"/admin/incidents/{incident_id}"))
    assert_readable(page, where="/admin/incidents/<id>")
    assert 'id="traceback"' in page and "ZeroDivisionError" in page and 'id="command-data"' in page
    assert "hunter2" not in page and "data.password" in page
    assert '>重放</button>' in page and 'data-confirm=' in page and 'name="csrf_token"' in page
    assert root.get("/admin/incidents/99999").status_code == 404

    cannot = root.post(f"/admin/incidents/{incident_id}/retry", {}, follow_redirects=True)
    assert "data.password" in text(cannot) and whistle.incident(incident_id, "root")["open"] is True
    no_note = root.post(f"/admin/incidents/{incident_id}/resolve", {"note": " "}, follow_redirects=True)
    assert "note" in text(no_note) and whistle.incident(incident_id, "root")["open"] is True
    no_csrf = root.http.post(f"/admin/incidents/{incident_id}/resolve", data={"note": "x"})
    assert no_csrf.status_code in (400, 403) and whistle.incident(incident_id, "root")["open"] is True
    done = root.post(f"/admin/incidents/{incident_id}/resolve", {"note": "已请办理人重新提交"}, follow_redirects=True)
    html = text(done)
    assert "故障已标记为解决" in html and "已请办理人重新提交" in html and 'id="retry"' not in html
    assert whistle.incident(incident_id, "root")["resolved_by"] == "root"
    assert f'data-incident="{incident_id}"' in text(root.get("/admin/incidents?state=resolved"))
    assert f"故障 {incident_id} 已处理：已请办理人重新提交" in text(root.get(f"/cases/{instance}"))


def test_a_timer_incident_is_retried_from_its_page(site, whistle, manual_clock):
    from datetime import timedelta

    from test_upgrade import FIXTURES, SECOND
    whistle.deploy([FIXTURES / "timer_failing.bpmn"])
    instance = whistle.start("timer_failing", data={"total": 1, "count": 0})
    manual_clock.advance(timedelta(minutes=5) + SECOND)
    for backoff in (10, 40, 0):
        whistle.fire_due_jobs()
        manual_clock.advance(timedelta(seconds=backoff) + SECOND)
    [incident] = whistle.incident_list("root", open_only=True)["incidents"]
    root = Client(site, "root")
    page = text(root.get(f"/admin/incidents/{incident['incident_id']}"))
    assert '>重试</button>' in page
    whistle.deploy([UPGRADE / "fix_v2" / "timer_failing.bpmn"])
    plan = text(root.get("/admin/upgrade?process=timer_failing&to=2&dry_run=1"))
    assert "确认迁移 1 个案件" in plan
    assert "已迁移 1 件" in text(root.post("/admin/upgrade", {"process": "timer_failing", "to": "2",
                                                            "instances": str(instance)}))
    retried = root.post(f"/admin/incidents/{incident['incident_id']}/retry", {}, follow_redirects=True)
    assert "已重试，故障已解决" in text(retried)
    assert whistle.fire_due_jobs() == 1 and whistle.show(instance)["status"] == "completed"


def test_the_case_page_repair_form(site, whistle, cases):  # noqa: F811
    root = Client(site, "root")
    page = text(root.get(f"/cases/{cases['handle']}"))
    assert 'id="repair"' in page and 'id="back-to-form"' in page and 'id="move-form"' in page
    back = re.search(r'id="back-to-form".*?</form>', page, re.S).group(0)
    assert '<option value="accept">受理</option>' in back and '<option value="check">现场核查</option>' in back
    assert 'value="handle"' not in back  # the task it waits at is not "earlier"
    assert_readable(page, where="/cases (repair form)")
    moved = root.post(f"/cases/{cases['handle']}/modify", {"back_to": "accept", "reason": "材料不全，退回受理"},
                      follow_redirects=True)
    html = text(moved)
    assert "已调整流转，现在待办：受理" in html
    assert "管理员调整了流程位置：退回到「受理」" in html and "原因：材料不全，退回受理" in html
    assert_readable(html, where="/cases (after a repair)")
    assert [t["element_id"] for t in whistle.show(cases["handle"])["open_tasks"]] == ["accept"]
    refused = root.post(f"/cases/{cases['accept']}/modify", {"back_to": "handle", "reason": "x"},
                        follow_redirects=True)
    assert "没有调整" in text(refused) and "never passed" in text(refused)
    started = root.post(f"/cases/{cases['check']}/modify", {"cancel": "check", "start": "handle", "reason": "跳过核查"},
                        follow_redirects=True)
    assert "现在待办：办理" in text(started)
    assert [t["element_id"] for t in whistle.show(cases["check"])["open_tasks"]] == ["handle"]
