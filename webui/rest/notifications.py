"""The caller's notifications (engine.notifications): what the bell shows and what went by e-mail, robot or SMS;
marking them read."""
from __future__ import annotations

from flask import Response, jsonify, request

from engine.forms.limits import BIGINT_MAX
from webui.rest.auth import caller
from webui.rest.body import int_arg, json_body
from webui.rest.schemas import error_responses, json_content, ref
from webui.rest.shell import ApiError, api, engine

PATHS: dict = {  # this module's part of the OpenAPI document (webui.rest.openapi)
    "/notifications": {
        "get": {
            "operationId": "listNotifications", "tags": ["notifications"], "summary": "The caller's notifications",
            "description": "Newest first, of every channel or one; `unread=true`: inbox notifications not read yet. "
                           "A token sees its account's.",
            "parameters": [
                {"name": "unread", "in": "query", "required": False, "schema": {"type": "boolean"}},
                {"name": "channel", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["inbox", "email", "webhook", "sms"]}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
                {"name": "lang", "in": "query", "required": False, "schema": {"type": "string", "enum": ["zh", "en"]}},
            ],
            "responses": {"200": json_content(ref("NotificationList"), "The notifications."),
                          **error_responses(400, 401, 422)},
        },
    },
    "/notifications/{notification_id}/read": {
        "parameters": [{"name": "notification_id", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX}}],
        "post": {
            "operationId": "readNotification", "tags": ["notifications"], "summary": "Mark a notification read",
            "description": "Only the caller's own inbox notifications (another person's is 404). Tokens need the "
                           "`tasks` scope. The body, if any, must be `{}`.",
            "responses": {"200": json_content(ref("NotificationRead"), "Marked read."),
                          **error_responses(400, 401, 403, 404, 422)},
        },
    },
}


@api.get("/notifications")
def notifications() -> Response:
    user = caller().user
    unread = request.args.get("unread", "").lower()
    if unread not in ("", "true", "false", "1", "0"):
        raise ApiError(400, "bad_request", f"query parameter 'unread' must be true or false, not {unread!r}",
                       {"parameter": "unread"})
    lang = "en" if request.args.get("lang") == "en" else "zh"
    rows = engine().notifications(user, unread in ("true", "1"), request.args.get("channel") or None,
                                  int_arg("limit", 50, 1, 200), lang)
    return jsonify({"user": user, "unread": engine().unread_notifications(user), "notifications": rows})


@api.post("/notifications/<int:notification_id>/read")
def read_notification(notification_id: int) -> Response:
    caller().require_scope("tasks")
    json_body(set())
    return jsonify(engine().mark_notification_read(caller().user, notification_id))
