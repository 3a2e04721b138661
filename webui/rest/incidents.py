"""Incidents for administrators (``engine.management.repairs``): the list with the open count per element, one
incident with its traceback and the command data it kept, running it again (a timer retried, a user command
replayed, a stuck case repaired) and resolving it with a note. Accounts in ``admins`` only — the engine refuses
anyone else — and a token needs the ``admin`` scope."""
from __future__ import annotations

from flask import Response, jsonify, request

from webui.rest.auth import caller
from webui.rest.body import json_body
from webui.rest.schemas import error_responses, json_content, ref
from webui.rest.shell import ApiError, api, engine

ADMIN_ONLY = " Administrators only; tokens need the `admin` scope."
INCIDENT_ID = {"name": "incident_id", "in": "path", "required": True, "description": "The incident's id.",
               "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}

PATHS: dict = {  # this module's part of the OpenAPI document (webui.rest.openapi)
    "/incidents": {
        "get": {
            "operationId": "listIncidents", "tags": ["incidents"], "summary": "Incidents, newest first",
            "description": "What went wrong in a command or a timer job, with how many are open per process and "
                           "element (`per_element`)." + ADMIN_ONLY,
            "parameters": [
                {"name": "open", "in": "query", "required": False, "schema": {"type": "boolean"},
                 "description": "`true`: only the open ones; `false`: only the resolved ones; absent: all."},
                {"name": "process", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "Only this process's incidents (and counts)."},
                {"name": "element", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "Only the incidents of this BPMN element."},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
            "responses": {"200": json_content(ref("IncidentList"), "The incidents."),
                          **error_responses(400, 401, 403, 422)},
        },
    },
    "/incidents/{incident_id}": {
        "parameters": [INCIDENT_ID],
        "get": {
            "operationId": "getIncident", "tags": ["incidents"], "summary": "One incident",
            "description": "With its full traceback, the command data it kept (secrets were never stored: "
                           "`command_data.redacted` names them) and what a retry would do (`retry`: `timer`, "
                           "`replay`, `repair`, or null when it can only be resolved)." + ADMIN_ONLY,
            "responses": {"200": json_content(ref("IncidentDetail"), "The incident."),
                          **error_responses(401, 403, 404)},
        },
    },
    "/incidents/{incident_id}/retry": {
        "parameters": [INCIDENT_ID],
        "post": {
            "operationId": "retryIncident", "tags": ["incidents"], "summary": "Run again what failed",
            "description": "A failed timer job gets new attempts; a failed completion or message is replayed as "
                           "its actor's command (audited as replayed by the caller); a case with no way forward "
                           "is repaired. The incident is resolved when it works; 422 `incident` when it fails "
                           "again (a new incident says why; this one stays open), 409 when already resolved."
                           + ADMIN_ONLY,
            "responses": {"200": json_content(ref("IncidentRetried"), "Done; the incident is resolved."),
                          **error_responses(401, 403, 404, 409, 422)},
        },
    },
    "/incidents/{incident_id}/resolve": {
        "parameters": [INCIDENT_ID],
        "post": {
            "operationId": "resolveIncident", "tags": ["incidents"], "summary": "Resolve an incident with a note",
            "description": "Says how it was dealt with; who, when and the note are kept and audited. 409 when "
                           "already resolved." + ADMIN_ONLY,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["note"], "additionalProperties": False,
                "properties": {"note": {"type": "string", "minLength": 1, "maxLength": 2000}}},
                "example": {"note": "重新部署修正版本后已由管理员重放"}}}},
            "responses": {"200": json_content(ref("IncidentDetail"), "The incident, resolved."),
                          **error_responses(400, 401, 403, 404, 409, 422)},
        },
    },
}


def admin_caller() -> str:
    """The caller's account name once a token is known to carry the ``admin`` scope (the engine checks the
    account is an administrator)."""
    who = caller()
    who.require_scope("admin")
    return who.user


def _open_filter() -> str:
    value = request.args.get("open", "").strip().lower()
    if value == "":
        return "all"
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, "bad_request", f"open must be true or false, not {value!r}")
    return "open" if value in ("true", "1") else "resolved"


@api.get("/incidents")
def list_incidents() -> Response:
    actor = admin_caller()
    try:
        limit = int(request.args.get("limit", 500))
    except ValueError:
        raise ApiError(400, "bad_request", f"limit must be a whole number, not {request.args['limit']!r}") from None
    return jsonify(engine().incident_list(actor, limit=limit, state=_open_filter(),
                                          process_id=request.args.get("process") or None,
                                          element_id=request.args.get("element") or None))


@api.get("/incidents/<int:incident_id>")
def get_incident(incident_id: int) -> Response:
    return jsonify(engine().incident(incident_id, admin_caller()))


@api.post("/incidents/<int:incident_id>/retry")
def retry_incident(incident_id: int) -> Response:
    actor = admin_caller()
    json_body(set())
    return jsonify(engine().retry_incident(incident_id, actor))


@api.post("/incidents/<int:incident_id>/resolve")
def resolve_incident(incident_id: int) -> Response:
    actor = admin_caller()
    note = json_body({"note"}).get("note")
    if not isinstance(note, str):
        raise ApiError(422, "invalid", "'note' is required: a string saying how the incident was dealt with",
                       {"field": "note"})
    return jsonify(engine().resolve_incident(incident_id, note, actor))
