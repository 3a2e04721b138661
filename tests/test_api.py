"""The REST API (/api/v1) on SQLite and PostgreSQL: every endpoint × role, tokens and scopes, the error
shape and status codes, concurrent completion, messages, incidents, and the OpenAPI document.

Every call made through ``Api.call`` is checked against the OpenAPI document: its status must be documented
for the operation and its JSON body must match the documented schema.
"""
from __future__ import annotations

import base64
import random
import re
import threading
from datetime import datetime, timedelta

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec
from sqlalchemy import select

from cli.main import run as cli_run
from engine.api import Whistle
from engine.errors import NotFound
from engine.identity import accounts
from engine.management import identity as engine_identity
from engine.store.models import ApiToken, AuditEvent
from webui import create_app
from webui.rest.openapi import openapi_document

DOC = openapi_document()
PASSWORD = "pw-测试"
USERS = {  # role -> (account, groups)
    "grid": ("grid-1", ["grid-quanyechang"]),  # a grid worker: reports problems
    "command": ("command-1", ["command-centre"]),  # the street command centre
    "command2": ("command-2", ["command-centre"]),
    "police": ("liaison-police", ["dept-police"]),  # the department the case is whistled to
    "housing": ("liaison-housing", ["dept-housing"]),  # a liaison of another department
    "supervisor": ("supervisor", ["district-supervision"]),
    "admin": ("admin", ["admins"]),
    "clerk": ("clerk", ["clerks"]),
    "system": ("hotline-12345", []),  # the account system clients' tokens act as
}


def basic(user: str, password: str = PASSWORD) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _documented(method: str, template: str, status: int) -> dict | None:
    operation = DOC["paths"][template][method.lower()]
    assert str(status) in operation["responses"], f"{method} {template} answered {status}, which is not documented"
    response = operation["responses"][str(status)]
    if "$ref" in response:
        response = DOC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    content = response.get("content", {}).get("application/json")
    return content["schema"] if content else None


def assert_matches(schema: dict, body) -> None:
    OAS31Validator({**schema, "components": DOC["components"]}).validate(body)


class Api:
    """A test client that knows who is calling and checks every answer against the OpenAPI document."""

    def __init__(self, app, world: World | None = None):
        self.client = app.test_client()
        self.world = world

    def auth(self, who) -> dict:
        if who is None:
            return {}
        if isinstance(who, dict):
            return who
        if who.startswith("token:"):
            return bearer(self.world.tokens[who.split(":", 1)[1]])
        return basic(USERS[who][0])

    def call(self, method: str, template: str, who=None, json=None, data=None, query=None, headers=None, **params):
        path = "/api/v1" + re.sub(r"{(\w+)}", lambda m: str(params[m.group(1)]), template)
        response = self.client.open(path, method=method, json=json, data=data, query_string=query,
                                    headers={**self.auth(who), **(headers or {})})
        assert response.is_json, (response.status_code, response.get_data(as_text=True)[:300])
        schema = _documented(method, template, response.status_code)
        if schema is not None:
            assert_matches(schema, response.json)
        if response.status_code >= 400:
            assert set(response.json) <= {"error", "message", "details"} and response.json["message"]
        return response


class World:
    """Three processes, nine accounts, four tokens, and one reported problem (instance ``case``)."""

    def __init__(self, whistle: Whistle, fixtures):
        self.whistle = whistle
        whistle.deploy([fixtures / "review.bpmn", fixtures / "failing_script.bpmn", fixtures / "messages.bpmn"])
        for account, groups in USERS.values():
            whistle.add_user(account, groups, password=PASSWORD)
        self.tokens = {
            "full": whistle.create_token("hotline-full", USERS["system"][0], ["start", "message", "tasks"])["token"],
            "read": whistle.create_token("hotline-read", USERS["system"][0], [])["token"],
            "command-tasks": whistle.create_token("cc-tasks", USERS["command"][0], ["tasks"])["token"],
            "command-read": whistle.create_token("cc-read", USERS["command"][0])["token"],
        }
        self.app = create_app({"ENGINE": whistle, "TESTING": True})
        self.api = Api(self.app, self)
        started = self.api.call("POST", "/processes/{process_id}/instances", "grid", process_id="review",
                                json={"data": {"situation": "police"}, "business_key": "12345-0001"})
        assert started.status_code == 201, started.json
        self.case = started.json["instance_id"]
        [self.review] = [t["task_id"] for t in started.json["open_tasks"]]

    def open_task(self, instance_id: int) -> str:
        [task] = self.whistle.show(instance_id)["open_tasks"]
        return task["task_id"]


@pytest.fixture
def world(whistle, fixtures, monkeypatch) -> World:
    monkeypatch.setattr(accounts, "_N", 2**4)  # cheap password hashes for test accounts (format unchanged)
    return World(whistle, fixtures)


def expect(results: dict, expected: dict) -> None:
    wrong = {who: (got, expected[who]) for who, got in results.items() if got != expected[who]}
    assert not wrong, f"role: (got, expected) — {wrong}"


# -- authentication ----------------------------------------------------------------------------------------

def test_unauthenticated_calls_get_401_with_challenges(world):
    api = world.api
    paths = [("GET", "/tasks", {}), ("GET", "/tasks/{task_id}", {"task_id": world.review}),
             ("POST", "/tasks/{task_id}/claim", {"task_id": world.review}),
             ("POST", "/tasks/{task_id}/unclaim", {"task_id": world.review}),
             ("POST", "/tasks/{task_id}/complete", {"task_id": world.review}),
             ("POST", "/processes/{process_id}/instances", {"process_id": "review"}),
             ("GET", "/instances/{instance_id}", {"instance_id": world.case}),
             ("GET", "/instances/{instance_id}/history", {"instance_id": world.case}),
             ("GET", "/definitions", {}), ("POST", "/messages/{name}", {"name": "ticket-reply"})]
    for method, template, params in paths:
        response = api.call(method, template, None, **params)
        assert response.status_code == 401, (method, template)
        assert response.json["error"] == "unauthorized"
        challenges = response.headers.getlist("WWW-Authenticate")
        assert any(c.startswith("Basic ") for c in challenges) and any(c.startswith("Bearer ") for c in challenges)
    for headers in (basic("command-1", "wrong"), basic("nobody"), {"Authorization": "Digest abc"},
                    {"Authorization": "Basic !!!"}, bearer("wht_not-a-token"), bearer("")):
        assert api.call("GET", "/tasks", headers).status_code == 401, headers
    bad_token = api.call("GET", "/tasks", bearer("wht_forged"))
    assert 'error="invalid_token"' in " ".join(bad_token.headers.getlist("WWW-Authenticate"))
    assert world.whistle.tasks("command-1")[0]["status"] == "open"  # nothing happened


def test_a_session_cookie_never_authenticates_the_api(world):
    """No cookie-based auth on the API, hence no CSRF exposure and no CSRF token needed."""
    api = world.api
    with api.client.session_transaction() as session:
        for key in ("user", "username", "user_id", "_user_id", "uid"):
            session[key] = "admin"
        session["csrf_token"] = "x"
    assert api.call("GET", "/instances/{instance_id}", None, instance_id=world.case).status_code == 401
    assert api.call("POST", "/tasks/{task_id}/claim", None, task_id=world.review).status_code == 401
    # With credentials, a POST needs no CSRF token.
    assert api.call("POST", "/tasks/{task_id}/claim", "command", task_id=world.review).status_code == 200


def test_tokens_act_as_their_account_within_their_scopes(world):
    api = world.api
    whistle = world.whistle
    # Reading needs no scope; a token sees its account's inbox.
    inbox = api.call("GET", "/tasks", "token:command-read")
    assert inbox.status_code == 200 and inbox.json["user"] == "command-1"
    assert [t["task_id"] for t in inbox.json["tasks"]] == [world.review]
    # Changing needs the scope.
    denied = api.call("POST", "/tasks/{task_id}/claim", "token:command-read", task_id=world.review)
    assert denied.status_code == 403 and denied.json["details"]["required_scope"] == "tasks"
    assert api.call("POST", "/tasks/{task_id}/claim", "token:command-tasks", task_id=world.review).json[
        "assignee"] == "command-1"
    # last_used_at is recorded; the token value is never listed.
    listed = {t["name"]: t for t in whistle.list_tokens()}
    assert listed["cc-tasks"]["last_used_at"] is not None and "token" not in listed["cc-tasks"]
    # Revoked tokens stop working at once.
    whistle.revoke_token("cc-tasks")
    assert api.call("GET", "/tasks", "token:command-tasks").status_code == 401
    events = [e["event_type"] for e in _audit_rows(whistle)]
    assert "token_created" in events and "token_revoked" in events


def _audit_rows(whistle):
    with whistle.db.read() as session:
        return [{"event_type": r.event_type, "details": r.details}
                for r in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()]


def test_token_cli_prints_once_and_stores_only_a_hash(world, db_url, capsys, monkeypatch):
    assert cli_run(["--db", db_url, "token", "create", "grid-platform", "--user", "hotline-12345",
                    "--scope", "start", "--scope", "message"]) == 0
    output = capsys.readouterr().out
    [token] = re.findall(r"wht_[A-Za-z0-9_-]+", output)
    assert "not shown again" in output
    assert world.api.call("GET", "/definitions", bearer(token)).status_code == 200
    with world.whistle.db.read() as session:
        row = session.execute(select(ApiToken).where(ApiToken.name == "grid-platform")).scalar_one()
        assert row.token_hash != token and len(row.token_hash) == 64 and token not in str(row.__dict__)
        assert row.scopes == ["message", "start"] and row.username == "hotline-12345"
    assert token not in str(_audit_rows(world.whistle))
    # Unknown scopes, a used name and an unknown user are refused.
    assert cli_run(["--db", db_url, "token", "create", "x", "--user", "hotline-12345", "--scope", "superuser"]) == 1
    assert cli_run(["--db", db_url, "token", "create", "grid-platform", "--user", "hotline-12345"]) == 3
    assert cli_run(["--db", db_url, "token", "create", "y", "--user", "nobody"]) == 4
    capsys.readouterr()
    assert cli_run(["--db", db_url, "token", "revoke", "grid-platform"]) == 0
    assert "revoked" in capsys.readouterr().out
    # Revoked by another process: this server trusts its check for TOKEN_CACHE_SECONDS (2 s), then refuses.
    monkeypatch.setattr(engine_identity, "TOKEN_CACHE_SECONDS", 0.0)
    assert world.api.call("GET", "/definitions", bearer(token)).status_code == 401
    assert cli_run(["--db", db_url, "token", "revoke", "nope"]) == 4


# -- reading: instances, history, tasks, definitions -------------------------------------------------------

ROLES = ["grid", "command", "police", "housing", "supervisor", "admin", "clerk", "token:read", "token:command-read"]


def _statuses(api, method, template, **params) -> dict:
    return {who: api.call(method, template, who, **params).status_code for who in ROLES}


def test_reading_an_instance_by_role(world):
    api = world.api
    # Before the whistle: the starter (grid worker), the command centre (candidates), supervisors and admins.
    before = {"grid": 200, "command": 200, "police": 403, "housing": 403, "supervisor": 200, "admin": 200,
              "clerk": 403, "token:read": 403, "token:command-read": 200}
    for template in ("/instances/{instance_id}", "/instances/{instance_id}/history"):
        expect(_statuses(api, "GET", template, instance_id=world.case), before)
    expect(_statuses(api, "GET", "/tasks/{task_id}", task_id=world.review), before)
    # The command centre whistles to the police: the police liaison joins; the housing liaison never does.
    assert api.call("POST", "/tasks/{task_id}/complete", "command", task_id=world.review,
                    json={"data": {"decision": "whistle"}}).status_code == 200
    after = {**before, "police": 200}
    expect(_statuses(api, "GET", "/instances/{instance_id}", instance_id=world.case), after)
    expect(_statuses(api, "GET", "/instances/{instance_id}/history", instance_id=world.case), after)
    report = world.open_task(world.case)
    expect(_statuses(api, "GET", "/tasks/{task_id}", task_id=report), after)
    # The completer stays a reader after the task left the command centre's inbox.
    shown = api.call("GET", "/instances/{instance_id}", "command", instance_id=world.case).json
    assert shown["process_id"] == "review" and shown["business_key"] == "12345-0001"
    assert shown["started_by"] == "grid-1" and shown["data"]["department"] == "dept-police"
    assert [t["name"] for t in shown["open_tasks"]] == ["部门报到"] and "audit" not in shown
    forbidden = api.call("GET", "/instances/{instance_id}", "housing", instance_id=world.case)
    assert forbidden.json["error"] == "forbidden" and "may not read instance" in forbidden.json["message"]


def test_history_is_the_audit_trail(world):
    api = world.api
    api.call("POST", "/tasks/{task_id}/claim", "command", task_id=world.review)
    api.call("POST", "/tasks/{task_id}/complete", "command", task_id=world.review, json={"data": {"decision": "self"}})
    history = api.call("GET", "/instances/{instance_id}/history", "supervisor", instance_id=world.case).json
    assert history["instance_id"] == world.case
    assert [(e["event"], e["actor"]) for e in history["events"]] == [
        ("started", "grid-1"), ("task_created", "grid-1"), ("task_claimed", "command-1"),
        ("task_completed", "command-1"), ("task_created", "command-1")]
    assert history["events"][3]["details"]["data"] == {"decision": "self"}


def test_not_found(world):
    api = world.api
    missing = "00000000-0000-0000-0000-000000000000"
    for method, template, params in [("GET", "/tasks/{task_id}", {"task_id": missing}),
                                     ("POST", "/tasks/{task_id}/claim", {"task_id": missing}),
                                     ("POST", "/tasks/{task_id}/unclaim", {"task_id": missing}),
                                     ("POST", "/tasks/{task_id}/complete", {"task_id": missing}),
                                     ("GET", "/instances/{instance_id}", {"instance_id": 9999}),
                                     ("GET", "/instances/{instance_id}/history", {"instance_id": 9999}),
                                     ("POST", "/processes/{process_id}/instances", {"process_id": "nope"}),
                                     ("POST", "/messages/{name}", {"name": "nobody-sends-this"})]:
        who = "token:full" if method == "POST" else "admin"
        response = api.call(method, template, who, **params)
        assert response.status_code == 404 and response.json["error"] == "not_found", (template, response.json)
    # Unknown paths and methods under /api/ answer in the same JSON shape.
    unknown = api.client.get("/api/v1/nope", headers=basic("admin"))
    assert unknown.status_code == 404 and unknown.json["error"] == "not_found"
    assert api.client.get("/api/v1/instances/abc", headers=basic("admin")).json["error"] == "not_found"
    wrong_method = api.client.delete("/api/v1/tasks", headers=basic("admin"))
    assert wrong_method.status_code == 405 and wrong_method.json["error"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["Allow"]
    assert api.client.get(f"/api/v1/tasks/{world.review}/complete").status_code == 405


def test_inbox_filters_and_paging(world):
    api = world.api
    whistle = world.whistle
    for _ in range(4):
        whistle.start("review", data={"situation": "housing"}, user="grid-1")
    clerk_case = whistle.start("failing", user="clerk")
    assert api.call("GET", "/tasks", "grid").json["tasks"] == []
    everything = api.call("GET", "/tasks", "command").json
    assert everything["user"] == "command-1" and len(everything["tasks"]) == 5
    assert {t["process_id"] for t in everything["tasks"]} == {"review"}
    page = api.call("GET", "/tasks", "command", query={"limit": 2, "offset": 2}).json
    assert [t["task_id"] for t in page["tasks"]] == [t["task_id"] for t in everything["tasks"][2:4]]
    assert (page["limit"], page["offset"]) == (2, 2)
    assert api.call("GET", "/tasks", "command", query={"process_id": "failing"}).json["tasks"] == []
    clerk = api.call("GET", "/tasks", "clerk", query={"process_id": "failing"}).json["tasks"]
    assert [t["instance_id"] for t in clerk] == [clerk_case]
    assert api.call("GET", "/tasks", "police").json["tasks"] == []  # not whistled yet
    for query, status in [({"limit": 0}, 422), ({"limit": 501}, 422), ({"offset": -1}, 422),
                          ({"limit": "ten"}, 400), ({"offset": "1.5"}, 400)]:
        response = api.call("GET", "/tasks", "command", query=query)
        assert response.status_code == status, query
        assert response.json["details"]["parameter"] in query


def test_definitions(world):
    for who in ("grid", "housing", "token:read"):
        listed = world.api.call("GET", "/definitions", who)
        assert listed.status_code == 200
        assert {d["process_id"] for d in listed.json["definitions"]} >= {"review", "failing", "ticket",
                                                                         "hotline_intake"}


# -- changing: claim, unclaim, complete ---------------------------------------------------------------------

def test_claim_unclaim_complete_by_role(world):
    api = world.api
    task = {"task_id": world.review}
    # Only candidates may claim; scopes bind tokens.
    claims = {who: api.call("POST", "/tasks/{task_id}/claim", who, **task).status_code
              for who in ["grid", "police", "housing", "supervisor", "admin", "clerk", "token:read",
                          "token:command-read", "token:full"]}
    expect(claims, {"grid": 403, "police": 403, "housing": 403, "supervisor": 403, "admin": 403, "clerk": 403,
                    "token:read": 403, "token:command-read": 403, "token:full": 403})
    claimed = api.call("POST", "/tasks/{task_id}/claim", "command", **task)
    assert claimed.status_code == 200 and claimed.json["assignee"] == "command-1"
    assert api.call("POST", "/tasks/{task_id}/claim", "command", **task).status_code == 200  # idempotent
    taken = api.call("POST", "/tasks/{task_id}/claim", "command2", **task)
    assert taken.status_code == 409 and taken.json["error"] == "conflict" and "command-1" in taken.json["message"]
    # Someone else's claim: no unclaim, no complete.
    assert api.call("POST", "/tasks/{task_id}/unclaim", "command2", **task).status_code == 403
    assert api.call("POST", "/tasks/{task_id}/complete", "command2", **task,
                    json={"data": {"decision": "self"}}).status_code == 403
    assert api.call("GET", "/tasks", "command2").json["tasks"] == []  # claimed by someone else
    released = api.call("POST", "/tasks/{task_id}/unclaim", "command", **task)
    assert released.status_code == 200 and released.json["assignee"] is None
    assert api.call("POST", "/tasks/{task_id}/unclaim", "command", **task).status_code == 409  # not claimed
    # Non-candidates cannot complete; a candidate can without claiming first.
    completes = {who: api.call("POST", "/tasks/{task_id}/complete", who, **task,
                               json={"data": {"decision": "whistle"}}).status_code
                 for who in ["grid", "housing", "supervisor", "admin", "token:command-read", "token:full"]}
    expect(completes, {"grid": 403, "housing": 403, "supervisor": 403, "admin": 403, "token:command-read": 403,
                       "token:full": 403})
    done = api.call("POST", "/tasks/{task_id}/complete", "command2", **task, json={"data": {"decision": "whistle"}})
    assert done.status_code == 200 and done.json == {"task_id": world.review, "instance_id": world.case,
                                                     "status": "running"}
    again = api.call("POST", "/tasks/{task_id}/complete", "command", **task, json={"data": {"decision": "self"}})
    assert again.status_code == 409 and "already completed" in again.json["message"]
    assert api.call("POST", "/tasks/{task_id}/claim", "command", **task).status_code == 409
    # The case went to the police, not to housing.
    report = {"task_id": world.open_task(world.case)}
    assert api.call("POST", "/tasks/{task_id}/claim", "housing", **report).status_code == 403
    assert [t["task_id"] for t in api.call("GET", "/tasks", "police").json["tasks"]] == [report["task_id"]]
    finished = api.call("POST", "/tasks/{task_id}/complete", "police", **report, json={"data": {"onsite": True}})
    assert finished.status_code == 200 and finished.json["status"] == "completed"
    assert api.call("GET", "/tasks/{task_id}", "police", **report).json["completed_by"] == "liaison-police"


def test_validation_errors(world):
    api = world.api
    task = {"task_id": world.review}
    cases = [
        (dict(data="{not json"), 400, "bad_request"),
        (dict(data="[1, 2]"), 400, "bad_request"),
        (dict(data='"text"'), 400, "bad_request"),
        (dict(data=b"\xff\xfe\x00garbage"), 400, "bad_request"),
        (dict(json={"data": [1, 2]}), 422, "invalid"),
        (dict(json={"data": "decision=whistle"}), 422, "invalid"),
        (dict(json={"data": None}), 422, "invalid"),
        (dict(json={"decision": "whistle"}), 422, "invalid"),  # forgot to wrap it in "data"
    ]
    for kwargs, status, kind in cases:
        response = api.call("POST", "/tasks/{task_id}/complete", "command", **task,
                            headers={"Content-Type": "application/json"} if "data" in kwargs else None, **kwargs)
        assert (response.status_code, response.json["error"]) == (status, kind), (kwargs, response.json)
    unknown = api.call("POST", "/tasks/{task_id}/complete", "command", **task, json={"decision": "x"})
    assert unknown.json["details"] == {"unknown_fields": ["decision"]}
    assert api.call("POST", "/tasks/{task_id}/claim", "command", **task, json={"force": True}).status_code == 422
    # Starting: wrong types, an unknown version of a deployed process.
    start = {"process_id": "review"}
    for body, detail in [({"data": ["x"]}, "data"), ({"business_key": 12345}, "business_key"),
                         ({"business_key": "k" * 256}, "business_key"), ({"version": "1"}, "version"),
                         ({"version": 0}, "version"), ({"version": True}, "version")]:
        response = api.call("POST", "/processes/{process_id}/instances", "command", json=body, **start)
        assert response.status_code == 422 and response.json["details"]["field"] == detail, body
    unknown_version = api.call("POST", "/processes/{process_id}/instances", "command", json={"version": 7}, **start)
    assert unknown_version.status_code == 422 and unknown_version.json["details"]["versions"] == [1]
    assert "has no version 7" in unknown_version.json["message"]
    pinned = api.call("POST", "/processes/{process_id}/instances", "command", json={"version": 1}, **start)
    assert pinned.status_code == 201 and pinned.json["version"] == 1
    # A message with a non-string key.
    assert api.call("POST", "/messages/{name}", "token:full", name="ticket-reply",
                    json={"key": 5}).status_code == 422
    # Nothing above changed the case but the one start.
    assert world.whistle.task(world.review)["status"] == "open"


# -- starting ---------------------------------------------------------------------------------------------

def test_start_by_role(world):
    api = world.api
    starts = {}
    for who in ["grid", "command", "housing", "clerk", "token:full", "token:read", "token:command-read"]:
        response = api.call("POST", "/processes/{process_id}/instances", who, process_id="review",
                            json={"data": {"situation": "housing"}})
        starts[who] = response.status_code
        if response.status_code == 201:
            instance_id = response.json["instance_id"]
            assert response.headers["Location"] == f"/api/v1/instances/{instance_id}"
            # The starter may read what they started, even with no task in it.
            assert api.call("GET", "/instances/{instance_id}", who, instance_id=instance_id).status_code == 200
        else:
            assert response.json["details"]["required_scope"] == "start"
    expect(starts, {"grid": 201, "command": 201, "housing": 201, "clerk": 201, "token:full": 201,
                    "token:read": 403, "token:command-read": 403})
    # A token's instances are started by (and audited as) its account.
    mine = api.call("POST", "/processes/{process_id}/instances", "token:full", process_id="review",
                    json={"business_key": "12345-0099"}).json
    assert mine["started_by"] == "hotline-12345" and mine["business_key"] == "12345-0099"


# -- messages -----------------------------------------------------------------------------------------------

def test_message_delivered_through_the_api(world):
    api = world.api
    whistle = world.whistle
    waiting = whistle.start("ticket", data={"ticket_id": "T-1"}, business_key="case-1", user="clerk")
    refused = {who: api.call("POST", "/messages/{name}", who, name="ticket-reply",
                             json={"key": "T-1", "data": {"reply": "已处理"}}).status_code
               for who in ["grid", "command", "supervisor", "clerk", "token:read", "token:command-read"]}
    expect(refused, {who: 403 for who in refused})
    delivered = api.call("POST", "/messages/{name}", "token:full", name="ticket-reply",
                         json={"key": "T-1", "data": {"reply": "已处理"}})
    assert delivered.status_code == 200
    assert delivered.json == {"message": "ticket-reply", "key": "T-1", "delivered_to": [waiting], "started": []}
    assert whistle.show(waiting)["data"]["reply"] == "已处理"
    # Consumed once: the same reply again finds nobody, and says so.
    again = api.call("POST", "/messages/{name}", "token:full", name="ticket-reply", json={"key": "T-1"})
    assert again.status_code == 404 and "no instance is waiting" in again.json["message"]
    # An admin may send one by hand (the receipt, correlated by business key).
    assert api.call("POST", "/messages/{name}", "admin", name="receipt",
                    json={"key": "case-1"}).json["delivered_to"] == [waiting]
    assert [t["name"] for t in api.call("GET", "/tasks", "clerk").json["tasks"]] == ["核实回复"]


def test_a_message_from_the_hotline_starts_a_case(world):
    api = world.api
    response = api.call("POST", "/messages/{name}", "token:full", name="hotline-case",
                        json={"key": "12345-0042", "data": {"诉求": "小区路灯不亮"}})
    assert response.status_code == 200 and response.json["delivered_to"] == []
    [instance_id] = response.json["started"]
    shown = api.call("GET", "/instances/{instance_id}", "token:full", instance_id=instance_id).json
    assert (shown["process_id"], shown["business_key"], shown["started_by"]) == ("hotline_intake", "12345-0042",
                                                                                 "hotline-12345")
    assert shown["data"]["诉求"] == "小区路灯不亮"
    assert "小区路灯不亮" in api.client.get(f"/api/v1/instances/{instance_id}",
                                        headers=bearer(world.tokens["full"])).get_data(as_text=True)


# -- incidents ----------------------------------------------------------------------------------------------

def test_a_failing_script_is_a_422_with_the_incident(world):
    api = world.api
    started = api.call("POST", "/processes/{process_id}/instances", "clerk", process_id="failing")
    instance_id = started.json["instance_id"]
    [task] = started.json["open_tasks"]
    before = world.whistle.show(instance_id)
    failed = api.call("POST", "/tasks/{task_id}/complete", "clerk", task_id=task["task_id"],
                      json={"data": {"done": 1, "total": 0}})
    assert failed.status_code == 422 and failed.json["error"] == "incident"
    details = failed.json["details"]
    assert details["instance_id"] == instance_id and isinstance(details["incident_id"], int)
    assert "ZeroDivisionError" in failed.json["message"] and "nothing was changed" in failed.json["message"]
    after = api.call("GET", "/instances/{instance_id}", "clerk", instance_id=instance_id).json
    assert after["revision"] == before["revision"] and after["open_tasks"][0]["task_id"] == task["task_id"]
    assert [i["incident_id"] for i in after["incidents"]] == [details["incident_id"]]
    # Fixed data goes through.
    ok = api.call("POST", "/tasks/{task_id}/complete", "clerk", task_id=task["task_id"],
                  json={"data": {"done": 1, "total": 4}})
    assert ok.status_code == 200


# -- concurrency --------------------------------------------------------------------------------------------

def test_concurrent_completion_through_the_api_one_200_one_409(world, db_url):
    engines = [Whistle(db_url), Whistle(db_url)]
    apps = [Api(create_app({"ENGINE": e, "TESTING": True}), world) for e in engines]
    try:
        for _round in range(3):
            instance_id = world.whistle.start("review", data={"situation": "police"}, user="grid-1")
            task_id = world.open_task(instance_id)
            barrier = threading.Barrier(2)
            answers = [None, None]

            def attempt(i, who, decision, barrier=barrier, answers=answers, task_id=task_id):
                barrier.wait()
                answers[i] = apps[i].call("POST", "/tasks/{task_id}/complete", who, task_id=task_id,
                                          json={"data": {"decision": decision}})

            threads = [threading.Thread(target=attempt, args=(0, "command", "self")),
                       threading.Thread(target=attempt, args=(1, "command2", "whistle"))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200, 409], [a.json for a in answers]
            loser = next(a for a in answers if a.status_code == 409)
            assert loser.json["error"] == "conflict"
            winner = 0 if answers[0].status_code == 200 else 1
            history = world.whistle.history(instance_id)
            assert [e["actor"] for e in history if e["event"] == "task_completed"] == \
                   [["command-1", "command-2"][winner]]
        assert world.whistle.verify_audit().ok
    finally:
        for e in engines:
            e.close()


# -- the OpenAPI document -----------------------------------------------------------------------------------

def test_openapi_document_is_valid_and_complete(world):
    response = world.api.client.get("/api/v1/openapi.json")  # public: no credentials needed
    assert response.status_code == 200
    document = response.json
    validate_spec(document)
    assert document["openapi"].startswith("3.")
    assert set(document["components"]["securitySchemes"]) == {"basic", "bearer"}
    documented = {(path, method) for path, item in document["paths"].items()
                  for method in item if method in {"get", "post", "put", "patch", "delete"}}
    routed = set()
    for rule in world.app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len("/api/v1"):])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routed.add((path, method.lower()))
    assert routed == documented
    for path, item in document["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert names == declared, path
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert operation.get("operationId") and operation.get("responses"), (path, method)
            if operation.get("security", None) != []:
                assert "401" in operation["responses"], (path, method)


def test_api_responses_are_not_cached(world):
    response = world.api.call("GET", "/tasks", "command")
    assert response.headers["Cache-Control"] == "no-store"
    assert "Authorization" in response.headers["Vary"]


# -- the inbox query pages exactly like a plain sort ----------------------------------------------------------

def test_inbox_pages_agree_with_a_plain_sort(whistle, fixtures):
    """Tasks offered to one or two of a user's groups and to them by name, some claimed by them or by others,
    some completed, with spread deadlines and priorities: every page of the inbox is the plain sort's."""
    whistle.deploy([fixtures / "inbox_mix.bpmn", fixtures / "review.bpmn"])
    whistle.add_user("alice", ["north", "south"])
    whistle.add_user("bob", ["south"])
    whistle.add_user("zed", ["dept-nothing"])
    rng = random.Random(3)
    base = datetime.fromisoformat("2026-12-01T09:00:00+08:00")
    for _ in range(60):
        due = None if rng.random() < 0.3 else (base + timedelta(hours=rng.randint(-5, 5))).isoformat()
        whistle.start("inbox_mix", data={"groups": rng.choice(["north", "south", "north,south", "east"]),
                                         "users": rng.choice([[], [], ["alice"], ["bob"]]),
                                         "due": due, "priority": rng.choice([50, 50, 90])})
    whistle.start("review", data={"situation": "police"})  # another process, offered to nobody here
    for task in whistle.tasks(limit=500):
        fate = rng.random()
        may = [u for u in ("alice", "bob") if set(task["candidate_groups"]) & {"south"}
               or (u == "alice" and "north" in task["candidate_groups"]) or u in task["candidate_users"]]
        if may and fate < 0.3:
            whistle.claim(task["task_id"], rng.choice(may))
        elif may and fate < 0.4:
            whistle.complete(task["task_id"], may[0])
        elif may and fate < 0.5:  # claimed and given back: offered again
            whistle.claim(task["task_id"], may[0])
            whistle.unclaim(task["task_id"], may[0])
    everything = whistle.tasks(limit=500)

    def expected(user, groups):
        mine = [t for t in everything if t["assignee"] == user or t["assignee"] is None and (
            set(t["candidate_groups"]) & groups or user in t["candidate_users"])]
        return sorted(mine, key=lambda t: (t["due_at"] is None, t["due_at"] or "", -t["priority"], t["created_at"],
                                            t["task_id"]))

    for user, groups in (("alice", {"north", "south"}), ("bob", {"south"})):
        want = expected(user, groups)
        assert len(want) > 20 and any(t["assignee"] == user for t in want)
        pages = [t for offset in range(0, 70, 7) for t in whistle.tasks(user, limit=7, offset=offset)]
        assert [t["task_id"] for t in pages] == [t["task_id"] for t in want]
        assert [t["task_id"] for t in whistle.tasks(user, process_id="inbox_mix")] == [t["task_id"] for t in want]
        assert whistle.tasks(user, process_id="review") == []
    assert whistle.tasks("zed") == []
    with pytest.raises(NotFound):
        whistle.tasks("nobody")

