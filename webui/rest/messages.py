"""Messages from outside (a 12345 hotline's reply, a grid platform's report): delivered to the instances
waiting for them, or starting the processes they start."""
from __future__ import annotations

from flask import Response, jsonify

from engine.queries import accounts
from webui.rest.auth import caller
from webui.rest.body import field, json_body
from webui.rest.schemas import error_responses, json_content, ref
from webui.rest.shell import ApiError, api, engine

MESSAGE_GROUPS = frozenset({"admins"})  # accounts (HTTP Basic) that may send messages by hand

PATHS: dict = {  # this module's part of the OpenAPI document (webui.rest.openapi)
    "/messages/{name}": {
        "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
                        "description": "The BPMN message name, e.g. `ticket-reply`."}],
        "post": {
            "operationId": "sendMessage", "tags": ["messages"], "summary": "Send a message from outside",
            "description": "Delivered to exactly the instances waiting for this message with this key; when none "
                           "waits, it starts the processes whose message start event it is. 404 (nothing changed) "
                           "when neither. Tokens need the `message` scope; accounts must be in `admins`.",
            "requestBody": {"required": False, "content": {"application/json": {"schema": ref("MessageRequest")}}},
            "responses": {"200": json_content(ref("MessageResult"), "Delivered (or started)."),
                          **error_responses(400, 401, 403, 404, 409, 422)},
        },
    },
}


@api.post("/messages/<name>")
def message(name: str) -> Response:
    who = caller()
    if who.via == "bearer":
        who.require_scope("message")
    elif not accounts.group_names(engine().db, who.user) & MESSAGE_GROUPS:
        raise ApiError(403, "forbidden", "messages come from system clients: use a bearer token with the "
                                         "'message' scope (accounts in the admins group may send one by hand)")
    body = json_body({"key", "data"})
    key = field(body, "key", "string", maximum=255)
    data = field(body, "data", "object")
    return jsonify(engine().message(name, key, data, actor=who.user))
