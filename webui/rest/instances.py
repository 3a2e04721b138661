"""Instances: starting one of a process, reading it, its audit trail; for administrators, finding every case
(with a CSV export) and suspending, resuming or terminating one (``engine.management.case_admin``: the engine
refuses anyone outside ``admins``; a token also needs the ``cases`` scope)."""
from __future__ import annotations

from flask import Response, current_app, jsonify, request

from engine.casework.listing import CASE_SORTS, CASE_STATUSES, CaseQuery
from engine.errors import NotFound
from webui.rest.auth import caller, require_instance_visible
from webui.rest.body import field, int_arg, json_body
from webui.rest.schemas import INSTANCE_ID, error_responses, json_content, ref
from webui.rest.shell import ApiError, api, engine

_STRING = {"type": "string"}
_SEARCH_PARAMETERS = [
    {"name": "process", "in": "query", "required": False, "schema": _STRING, "description": "A process id."},
    {"name": "version", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1},
     "description": "A version number (of `process` when given)."},
    {"name": "status", "in": "query", "required": False, "schema": {"type": "string", "enum": list(CASE_STATUSES)},
     "description": "`with_incident`: an incident not resolved yet."},
    {"name": "business_key", "in": "query", "required": False, "schema": _STRING, "description": "Exactly."},
    {"name": "waiting_at", "in": "query", "required": False, "schema": _STRING,
     "description": "An element id an open task, a timer or a message subscription waits at."},
    {"name": "street", "in": "query", "required": False, "schema": _STRING, "description": "A street id."},
    {"name": "department", "in": "query", "required": False, "schema": _STRING,
     "description": "A department group."},
    {"name": "from", "in": "query", "required": False, "schema": {"type": "string", "format": "date"},
     "description": "Started on or after this day."},
    {"name": "to", "in": "query", "required": False, "schema": {"type": "string", "format": "date"},
     "description": "Started on or before this day."},
    {"name": "sort", "in": "query", "required": False, "schema": {"type": "string", "enum": list(CASE_SORTS)}},
    {"name": "q", "in": "query", "required": False, "schema": _STRING,
     "description": "Text in the business key, title, location or description."},
]
_ADMIN_NOTE = " Administrators only (group `admins`); tokens need the `cases` scope."

PATHS: dict = {  # this module's part of the OpenAPI document (webui.rest.openapi)
    "/processes/{process_id}/instances": {
        "parameters": [{"name": "process_id", "in": "path", "required": True, "schema": {"type": "string"},
                        "description": "The BPMN process id, e.g. `whistle`."}],
        "post": {
            "operationId": "startInstance", "tags": ["instances"], "summary": "Start an instance",
            "description": "Starts the latest deployed version (or `version`). The caller becomes its starter. "
                           "Tokens need the `start` scope.",
            "requestBody": {"required": False, "content": {"application/json": {"schema": ref("StartRequest")}}},
            "responses": {"201": json_content(ref("Instance"), "Started.",
                                       {"Location": {"description": "The new instance's URL.",
                                                     "schema": {"type": "string"}}}),
                          **error_responses(400, 401, 403, 404, 422)},
        },
    },
    "/instances": {
        "get": {
            "operationId": "searchInstances", "tags": ["instances"], "summary": "Find cases",
            "description": "Every case under the filters, newest first (or `sort`), a page of `limit` with the "
                           "`total`." + _ADMIN_NOTE,
            "parameters": [*_SEARCH_PARAMETERS,
                           {"name": "limit", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
                           {"name": "page", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 10**7, "default": 1}}],
            "responses": {"200": json_content(ref("InstanceSearch"), "A page of cases."),
                          **error_responses(400, 401, 403, 422)},
        },
    },
    "/instances/export": {
        "get": {
            "operationId": "exportInstances", "tags": ["instances"], "summary": "Export found cases as CSV",
            "description": "Every case under the filters as CSV (UTF-8 with a byte order mark, so Excel reads "
                           "the Chinese), one row per case, at most 100,000." + _ADMIN_NOTE,
            "parameters": _SEARCH_PARAMETERS,
            "responses": {"200": {"description": "The CSV file.",
                                  "content": {"text/csv": {"schema": {"type": "string"}}}},
                          **error_responses(401, 403, 422)},
        },
    },
    **{f"/instances/{{instance_id}}/{action}": {
        "parameters": [INSTANCE_ID],
        "post": {
            "operationId": f"{action}Instance", "tags": ["instances"], "summary": summary,
            "description": description + _ADMIN_NOTE,
            "requestBody": {"required": action != "resume",
                            "content": {"application/json": {"schema": ref("ReasonRequest")}}},
            "responses": {"200": json_content(ref("LifecycleResult"), "Done."),
                          **error_responses(400, 401, 403, 404, 409, 422)},
        },
    } for action, summary, description in (
        ("suspend", "Suspend a running case", "With a written `reason`. Nothing moves a suspended case: its tasks "
                                              "show 已挂起 and refuse claims and completions (409), messages to it are "
                                              "refused, its timers wait. 409 unless it is running."),
        ("resume", "Resume a suspended case", "`reason` is an optional note. A timer that fell due while it was "
                                              "suspended fires once. 409 unless it is suspended."),
        ("terminate", "Terminate a case", "With a written `reason`. Its open tasks are cancelled, its timers and "
                                          "message subscriptions end, its open obligations close as `terminated`. "
                                          "409 unless it is running or suspended."))},
    "/instances/{instance_id}": {
        "parameters": [INSTANCE_ID],
        "get": {
            "operationId": "getInstance", "tags": ["instances"], "summary": "An instance: status, data, open tasks",
            "description": "Readable by its starter, by anyone who is or was the assignee, completer or a candidate "
                           "(user or group) of one of its tasks, and by the groups `admins` and "
                           "`district-supervision`.",
            "responses": {"200": json_content(ref("Instance"), "The instance."), **error_responses(401, 403, 404)},
        },
    },
    "/instances/{instance_id}/history": {
        "parameters": [INSTANCE_ID],
        "get": {
            "operationId": "getInstanceHistory", "tags": ["instances"], "summary": "The instance's audit trail",
            "description": "Who did what when, oldest first. Same readers as `getInstance`.",
            "responses": {"200": json_content(ref("History"), "The audit events."), **error_responses(401, 403, 404)},
        },
    },
    "/instances/{instance_id}/cc": {
        "parameters": [INSTANCE_ID],
        "post": {
            "operationId": "copyInstance", "tags": ["instances"], "summary": "抄送: copy a case for information",
            "description": "Whoever may read the case (see `getInstance`) copies it to a user or a group: a "
                           "read-only item in their inbox that lets them read the case. Leaves a `case_copied` "
                           "audit event (its `notify`). Tokens need the `tasks` scope.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("CcRequest")}}},
            "responses": {"200": json_content(ref("CaseCopy"), "Copied."),
                          **error_responses(400, 401, 403, 404, 422)},
        },
    },
}


def instance_view(instance_id: int) -> dict:
    """An instance as the API shows it to the caller's audience (engine.casework.audiences: residents and
    reporters read the problem, progress and result), without its audit events, which ``/history`` gives."""
    shown = engine().instance_for(caller().user, instance_id)
    shown.pop("audit", None)
    shown["history"] = f"/api/v1/instances/{instance_id}/history"
    return shown


@api.post("/processes/<process_id>/instances")
def start(process_id: str) -> Response:
    caller().require_scope("start")
    body = json_body({"data", "business_key", "version"})
    data = field(body, "data", "object")
    business_key = field(body, "business_key", "string", maximum=255)
    version = field(body, "version", "integer")
    try:
        instance_id = engine().start(process_id, version, data, business_key, caller().user)
    except NotFound:
        versions = sorted(d["version"] for d in engine().definitions()
                          if d["process_id"] == process_id and d["kind"] == "process")
        if version is not None and versions:
            raise ApiError(422, "invalid", f"process '{process_id}' has no version {version} "
                                           f"(deployed: {', '.join(map(str, versions))})",
                           {"field": "version", "process_id": process_id, "versions": versions}) from None
        raise
    try:
        shown = instance_view(instance_id)
    except Exception:  # the instance is committed: answer 201 with its id rather than a 500 inviting a retry
        current_app.logger.exception("instance %s started, but reading it back failed", instance_id)
        shown = {"instance_id": instance_id, "process_id": process_id}
    response = jsonify(shown)
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/instances/{instance_id}"
    return response


@api.get("/instances/<int:instance_id>")
def get_instance(instance_id: int) -> Response:
    require_instance_visible(instance_id)
    return jsonify(instance_view(instance_id))


@api.get("/instances/<int:instance_id>/history")
def history(instance_id: int) -> Response:
    require_instance_visible(instance_id)
    return jsonify(instance_id=instance_id, events=engine().instance_for(caller().user, instance_id)["audit"])


def _search_query() -> CaseQuery:
    return CaseQuery.from_args({k: v for k, v in request.args.items() if k not in ("limit", "page")})


def _admin() -> str:
    who = caller()
    who.require_scope("admin")
    return who.user


@api.get("/instances")
def search() -> Response:
    user = _admin()
    limit = int_arg("limit", 50, 1, 500)
    page = int_arg("page", 1, 1, 10**7)
    return jsonify(engine().search_instances(user, _search_query(), limit=limit, page=page))


@api.get("/instances/export")
def export() -> Response:
    user = _admin()
    text = engine().export_instances(user, _search_query())
    return Response(text.encode("utf-8"), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=instances.csv"})


def _reason() -> str | None:
    """The body's ``reason`` (whether one is needed is the engine's rule: ``engine.runtime.lifecycle``)."""
    return field(json_body({"reason"}), "reason", "string", maximum=1000)


@api.post("/instances/<int:instance_id>/suspend")
def suspend(instance_id: int) -> Response:
    user = _admin()
    return jsonify(engine().suspend_instance(instance_id, _reason(), user))


@api.post("/instances/<int:instance_id>/resume")
def resume(instance_id: int) -> Response:
    user = _admin()
    return jsonify(engine().resume_instance(instance_id, user, _reason()))


@api.post("/instances/<int:instance_id>/terminate")
def terminate(instance_id: int) -> Response:
    user = _admin()
    return jsonify(engine().terminate_instance(instance_id, _reason(), user))


@api.post("/instances/<int:instance_id>/cc")
def copy_instance(instance_id: int) -> Response:
    """抄送 (engine.runtime.task_actions): who may read the case copies it to someone."""
    caller().require_scope("tasks")
    body = json_body({"to", "note"})
    return jsonify(engine().cc(instance_id, caller().user, field(body, "to", "string"), field(body, "note", "string")))
