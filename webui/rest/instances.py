"""Instances: starting one of a process, reading it, its audit trail."""
from __future__ import annotations

from flask import Response, current_app, jsonify

from engine.errors import NotFound
from webui.rest.auth import caller, require_instance_visible
from webui.rest.body import field, json_body
from webui.rest.schemas import INSTANCE_ID, error_responses, json_content, ref
from webui.rest.shell import ApiError, api, engine

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
