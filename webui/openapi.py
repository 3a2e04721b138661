"""The OpenAPI 3.1 document of the REST API (``GET /api/v1/openapi.json``), written by hand.

``tests/test_api.py`` validates it with openapi-spec-validator, checks that every ``/api/v1`` route is
documented with its methods, and validates real responses against the schemas given here.
"""
from __future__ import annotations

import copy

API_VERSION = "1.0.0"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **extra) -> dict:
    return {"type": [kind, "null"], **extra}


_DATETIME = {"type": "string", "format": "date-time"}
_DATETIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_CASE_DATA = {"type": "object", "additionalProperties": True,
              "description": "Case data: a JSON object whose fields the process reads and writes."}


def _json(schema: dict, description: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _error(description: str) -> dict:
    return _json(_ref("Error"), description)


def _errors(*codes: int) -> dict:
    names = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
             422: "Unprocessable", 429: "TooManyRequests", 503: "NotMigrated"}
    return {str(code): {"$ref": f"#/components/responses/{names[code]}"} for code in codes}


_TASK_ID = {"name": "task_id", "in": "path", "required": True, "description": "The task's id (a UUID).",
            "schema": {"type": "string", "maxLength": 36}}
_INSTANCE_ID = {"name": "instance_id", "in": "path", "required": True, "description": "The instance's id.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}

_SCHEMAS: dict = {
    "Error": {
        "type": "object",
        "description": "Every error has this shape; `error` is a stable kind to branch on, `message` one sentence "
                       "for people.",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "enum": ["bad_request", "unauthorized", "forbidden", "not_found",
                                                 "method_not_allowed", "conflict", "invalid", "incident",
                                                 "invalid_deployment", "not_migrated", "too_many_requests",
                                                 "unavailable", "internal", "error"]},
            "message": {"type": "string"},
            "details": {"type": "object", "additionalProperties": True,
                        "description": "What is known beyond the message: `incident_id` and `instance_id` for an "
                                       "incident, `field`/`unknown_fields` for invalid input, `required_scope` "
                                       "for a token lacking a scope."},
        },
    },
    "Task": {
        "type": "object",
        "required": ["task_id", "instance_id", "process_id", "name", "element_id", "candidate_groups",
                     "candidate_users", "assignee", "status", "form_key", "priority", "created_at", "due_at",
                     "completed_at", "completed_by"],
        "properties": {
            "task_id": {"type": "string"},
            "instance_id": {"type": "integer"},
            "process_id": {"type": "string"},
            "name": {"type": "string"},
            "element_id": {"type": "string", "description": "The BPMN element id of the user task."},
            "candidate_groups": {"type": "array", "items": {"type": "string"}},
            "candidate_users": {"type": "array", "items": {"type": "string"}},
            "assignee": _nullable("string"),
            "status": {"type": "string", "enum": ["open", "completed", "cancelled"]},
            "form_key": _nullable("string"),
            "priority": {"type": "integer"},
            "created_at": _DATETIME,
            "due_at": _DATETIME_OR_NULL,
            "completed_at": _DATETIME_OR_NULL,
            "completed_by": _nullable("string"),
        },
    },
    "TaskList": {
        "type": "object",
        "required": ["user", "limit", "offset", "process_id", "tasks"],
        "properties": {
            "user": {"type": "string", "description": "Whose inbox this is (the authenticated account)."},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "process_id": _nullable("string"),
            "tasks": {"type": "array", "items": _ref("Task"),
                      "description": "Sorted by due time (none last), then priority (high first), then age."},
        },
    },
    "CompleteRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"data": {**_CASE_DATA, "description": "What the task's form submits."}},
        "example": {"data": {"decision": "whistle"}},
    },
    "CompleteResult": {
        "type": "object",
        "required": ["task_id", "instance_id", "status"],
        "properties": {
            "task_id": {"type": "string"},
            "instance_id": {"type": "integer"},
            "status": {"type": "string", "enum": ["running", "completed", "cancelled"],
                       "description": "The instance's status after the step."},
        },
    },
    "StartRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "data": {**_CASE_DATA, "description": "Initial case data."},
            "business_key": _nullable("string", maxLength=255,
                                      description="Your reference, e.g. a 12345 ticket number; messages without "
                                                  "a correlation property are matched on it."),
            "version": _nullable("integer", minimum=1,
                                 description="Pin a deployed version; the latest when absent. An unknown version "
                                             "of a deployed process is a 422."),
        },
        "example": {"data": {"situation": "群租房"}, "business_key": "12345-0001"},
    },
    "InstanceIncident": {
        "type": "object",
        "required": ["incident_id", "command", "element_id", "task_id", "error", "created_at", "resolved_at"],
        "properties": {
            "incident_id": {"type": "integer"},
            "command": {"type": "string"},
            "element_id": _nullable("string"),
            "task_id": _nullable("string"),
            "error": {"type": "string"},
            "created_at": _DATETIME,
            "resolved_at": _DATETIME_OR_NULL,
        },
    },
    "Subscription": {
        "type": "object",
        "description": "A message the instance is waiting for.",
        "required": ["message", "key", "element_id", "since"],
        "properties": {
            "message": {"type": "string"},
            "key": _nullable("string"),
            "element_id": {"type": "string"},
            "since": _DATETIME,
        },
    },
    "Timer": {
        "type": "object",
        "description": "A timer the instance is waiting on (a deadline, a reminder).",
        "required": ["element_id", "kind", "timer_type", "due_at", "state"],
        "properties": {
            "job_id": {"type": "integer"},
            "state": {"type": "string"},
            "element_id": {"type": "string"},
            "task_id": _nullable("string"),
            "kind": {"type": "string"},
            "timer_type": {"type": "string", "enum": ["date", "duration", "cycle"]},
            "due_at": _DATETIME,
            "retries": {"type": "integer"},
            "last_error": _nullable("string"),
            "incident_id": _nullable("integer"),
        },
    },
    "Instance": {
        "type": "object",
        "required": ["instance_id", "status", "process_id", "version", "business_key", "started_by", "started_at",
                     "completed_at", "revision", "data", "open_tasks", "incidents", "messages", "timers",
                     "history"],
        "properties": {
            "instance_id": {"type": "integer"},
            "status": {"type": "string", "enum": ["running", "completed", "cancelled"]},
            "process_id": {"type": "string"},
            "version": {"type": "integer"},
            "business_key": _nullable("string"),
            "started_by": _nullable("string"),
            "started_at": _DATETIME,
            "completed_at": _DATETIME_OR_NULL,
            "revision": {"type": "integer", "description": "Increases with every change of the instance."},
            "data": _CASE_DATA,
            "open_tasks": {"type": "array", "items": _ref("Task")},
            "incidents": {"type": "array", "items": _ref("InstanceIncident")},
            "messages": {"type": "array", "items": _ref("Subscription")},
            "timers": {"type": "array", "items": _ref("Timer")},
            "history": {"type": "string", "format": "uri-reference", "description": "Where the audit trail is."},
        },
    },
    "HistoryEvent": {
        "type": "object",
        "description": "One audit record (hash-chained; 一次一留痕).",
        "required": ["id", "at", "event", "actor", "task_id", "details"],
        "properties": {
            "id": {"type": "integer"},
            "at": _DATETIME,
            "event": {"type": "string", "examples": ["started", "task_created", "task_claimed", "task_completed",
                                                     "message_received", "timer_fired", "incident", "finished"]},
            "actor": _nullable("string"),
            "task_id": _nullable("string"),
            "details": {"type": "object", "additionalProperties": True},
        },
    },
    "History": {
        "type": "object",
        "required": ["instance_id", "events"],
        "properties": {"instance_id": {"type": "integer"},
                       "events": {"type": "array", "items": _ref("HistoryEvent")}},
    },
    "Definition": {
        "type": "object",
        "required": ["process_id", "kind", "version", "name", "deployed_at", "deployed_by", "file", "content_hash",
                     "running_instances", "warnings"],
        "properties": {
            "process_id": {"type": "string", "description": "The process (or decision) id."},
            "kind": {"type": "string", "enum": ["process", "decision"]},
            "version": {"type": "integer"},
            "name": _nullable("string"),
            "deployed_at": _DATETIME,
            "deployed_by": {"type": "string"},
            "file": {"type": "string"},
            "content_hash": {"type": "string"},
            "running_instances": {"type": "integer"},
            "warnings": {"type": "array", "items": {}},
        },
    },
    "DefinitionList": {
        "type": "object",
        "required": ["definitions"],
        "properties": {"definitions": {"type": "array", "items": _ref("Definition")}},
    },
    "MessageRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "key": _nullable("string", maxLength=255,
                             description="The correlation key (e.g. the 12345 ticket id); absent or null matches "
                                         "only instances waiting without a key."),
            "data": {**_CASE_DATA, "description": "The payload, merged into the waiting instance's data."},
        },
        "example": {"key": "T-1", "data": {"reply": "已处理"}},
    },
    "MessageResult": {
        "type": "object",
        "required": ["message", "key", "delivered_to", "started"],
        "properties": {
            "message": {"type": "string"},
            "key": _nullable("string"),
            "delivered_to": {"type": "array", "items": {"type": "integer"},
                             "description": "Instances that were waiting and received it."},
            "started": {"type": "array", "items": {"type": "integer"},
                        "description": "Instances started by it (message start events), when nobody was waiting."},
        },
    },
}

_RESPONSES = {
    "BadRequest": _error("The body is not a JSON object (malformed JSON, an array, …) or a query parameter is "
                         "not a number."),
    "Unauthorized": {
        "description": "No credentials, wrong ones, or an unknown/revoked token. Cookies are ignored.",
        "headers": {"WWW-Authenticate": {"description": "`Basic realm=\"whistle\"` and `Bearer realm=\"whistle\"` "
                                                        "challenges.", "schema": {"type": "string"}}},
        "content": {"application/json": {"schema": _ref("Error")}},
    },
    "Forbidden": _error("Authenticated, but not allowed: not a candidate of the task, not involved in the instance, "
                        "or a token without the scope needed."),
    "NotFound": _error("No such task, instance, process or waiting message."),
    "Conflict": _error("Someone else was first: the task is claimed by another user, already completed, or the "
                       "case changed at the same moment."),
    "Unprocessable": _error("Well-formed but invalid: a field of the wrong type, an unknown field, an unknown "
                            "version, invalid case data — or `incident`: a script or condition failed inside the "
                            "process, nothing changed, and `details.incident_id` names the recorded incident."),
    "TooManyRequests": {
        "description": "HTTP Basic: too many failed sign-ins for this account name or from this client address; "
                       "locked, even for the right password, for the time in `Retry-After` (seconds).",
        "headers": {"Retry-After": {"description": "Seconds until the lock runs out.", "schema": {"type": "integer"}}},
        "content": {"application/json": {"schema": _ref("Error")}},
    },
    "NotMigrated": {
        "description": "`not_migrated`: the database schema is not at the code's revision (run `whistle "
                       "migrate`); `unavailable`: the database cannot be reached for a moment — try again after "
                       "`Retry-After` seconds (a change sent just then may or may not have been saved).",
        "headers": {"Retry-After": {"description": "Seconds to wait (`unavailable`).", "schema": {"type": "integer"}}},
        "content": {"application/json": {"schema": _ref("Error")}},
    },
}

_PATHS: dict = {
    "/openapi.json": {
        "get": {
            "operationId": "getOpenApi", "tags": ["meta"], "summary": "This document", "security": [],
            "responses": {"200": {"description": "The OpenAPI document.",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        },
    },
    "/tasks": {
        "get": {
            "operationId": "listTasks", "tags": ["tasks"], "summary": "The caller's inbox",
            "description": "Open tasks claimed by the caller, or offered to the caller or one of their groups and "
                           "not claimed by someone else. A token sees its account's inbox.",
            "parameters": [
                {"name": "process_id", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "Only tasks of this process."},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
                {"name": "offset", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 501, "default": 0}},
            ],
            "responses": {"200": _json(_ref("TaskList"), "The inbox page."), **_errors(400, 401, 422)},
        },
    },
    "/tasks/{task_id}": {
        "parameters": [_TASK_ID],
        "get": {
            "operationId": "getTask", "tags": ["tasks"], "summary": "One task (open or done)",
            "description": "Readable by whoever may read its instance (see `getInstance`).",
            "responses": {"200": _json(_ref("Task"), "The task."), **_errors(401, 403, 404)},
        },
    },
    "/tasks/{task_id}/claim": {
        "parameters": [_TASK_ID],
        "post": {
            "operationId": "claimTask", "tags": ["tasks"], "summary": "Claim a task offered to the caller",
            "description": "Idempotent for the caller. Tokens need the `tasks` scope. The body, if any, must be `{}`.",
            "responses": {"200": _json(_ref("Task"), "The claimed task."),
                          **_errors(400, 401, 403, 404, 409, 422)},
        },
    },
    "/tasks/{task_id}/unclaim": {
        "parameters": [_TASK_ID],
        "post": {
            "operationId": "unclaimTask", "tags": ["tasks"], "summary": "Give a claimed task back to its groups",
            "description": "Only the assignee may. Tokens need the `tasks` scope. 409 when it is not claimed.",
            "responses": {"200": _json(_ref("Task"), "The released task."),
                          **_errors(400, 401, 403, 404, 409, 422)},
        },
    },
    "/tasks/{task_id}/complete": {
        "parameters": [_TASK_ID],
        "post": {
            "operationId": "completeTask", "tags": ["tasks"], "summary": "Complete a task with its form data",
            "description": "The caller must be a candidate (or the assignee, if claimed). Of two concurrent "
                           "completions exactly one succeeds; the other gets 409. A failing script after the task "
                           "gives 422 `incident` and changes nothing. Tokens need the `tasks` scope.",
            "requestBody": {"required": False,
                            "content": {"application/json": {"schema": _ref("CompleteRequest")}}},
            "responses": {"200": _json(_ref("CompleteResult"), "Completed; the process moved on."),
                          **_errors(400, 401, 403, 404, 409, 422)},
        },
    },
    "/processes/{process_id}/instances": {
        "parameters": [{"name": "process_id", "in": "path", "required": True, "schema": {"type": "string"},
                        "description": "The BPMN process id, e.g. `whistle`."}],
        "post": {
            "operationId": "startInstance", "tags": ["instances"], "summary": "Start an instance",
            "description": "Starts the latest deployed version (or `version`). The caller becomes its starter. "
                           "Tokens need the `start` scope.",
            "requestBody": {"required": False, "content": {"application/json": {"schema": _ref("StartRequest")}}},
            "responses": {"201": _json(_ref("Instance"), "Started.",
                                       {"Location": {"description": "The new instance's URL.",
                                                     "schema": {"type": "string"}}}),
                          **_errors(400, 401, 403, 404, 422)},
        },
    },
    "/instances/{instance_id}": {
        "parameters": [_INSTANCE_ID],
        "get": {
            "operationId": "getInstance", "tags": ["instances"], "summary": "An instance: status, data, open tasks",
            "description": "Readable by its starter, by anyone who is or was the assignee, completer or a candidate "
                           "(user or group) of one of its tasks, and by the groups `admins` and "
                           "`district-supervision`.",
            "responses": {"200": _json(_ref("Instance"), "The instance."), **_errors(401, 403, 404)},
        },
    },
    "/instances/{instance_id}/history": {
        "parameters": [_INSTANCE_ID],
        "get": {
            "operationId": "getInstanceHistory", "tags": ["instances"], "summary": "The instance's audit trail",
            "description": "Who did what when, oldest first. Same readers as `getInstance`.",
            "responses": {"200": _json(_ref("History"), "The audit events."), **_errors(401, 403, 404)},
        },
    },
    "/definitions": {
        "get": {
            "operationId": "listDefinitions", "tags": ["definitions"], "summary": "Deployed processes and decisions",
            "responses": {"200": _json(_ref("DefinitionList"), "Every deployed version."), **_errors(401)},
        },
    },
    "/messages/{name}": {
        "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
                        "description": "The BPMN message name, e.g. `ticket-reply`."}],
        "post": {
            "operationId": "sendMessage", "tags": ["messages"], "summary": "Send a message from outside",
            "description": "Delivered to exactly the instances waiting for this message with this key; when none "
                           "waits, it starts the processes whose message start event it is. 404 (nothing changed) "
                           "when neither. Tokens need the `message` scope; accounts must be in `admins`.",
            "requestBody": {"required": False, "content": {"application/json": {"schema": _ref("MessageRequest")}}},
            "responses": {"200": _json(_ref("MessageResult"), "Delivered (or started)."),
                          **_errors(400, 401, 403, 404, 409, 422)},
        },
    },
}

# Every authenticated operation may also answer: 422 for an out-of-range id or a NUL character in the path or
# query (webui.inputs), 429 while HTTP Basic is locked (webui.signin), 503 when the database is away
# (webui.dbloss).
for _item in _PATHS.values():
    for _operation in (o for m, o in _item.items() if m != "parameters"):
        if "401" in _operation["responses"]:
            _operation["responses"].update({k: v for k, v in _errors(422, 429, 503).items()
                                            if k not in _operation["responses"]})

_DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "Whistle API",
        "version": API_VERSION,
        "summary": "吹哨 · BPMN workflows for grassroots governance",
        "description": (
            "Start cases, work through task inboxes, feed messages from other systems (a 12345 hotline, a grid "
            "platform) and read cases with their audit trail.\n\n"
            "**Authentication** (every operation but this document): HTTP Basic with a Whistle account, or "
            "`Authorization: Bearer <token>` with a token made by `whistle token create NAME --user U "
            "[--scope tasks] [--scope start] [--scope message]`. A token acts as its account: it reads what "
            "that account may read, and changes things only within its scopes. Cookies are ignored (no CSRF).\n\n"
            "**Errors** are `{\"error\": kind, \"message\": \"…\", \"details\": {…}}` with 400, 401, 403, 404, "
            "405, 409, 422, 429 or 503."),
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"basic": []}, {"bearer": []}],
    "tags": [{"name": "tasks"}, {"name": "instances"}, {"name": "messages"}, {"name": "definitions"},
             {"name": "meta"}],
    "paths": _PATHS,
    "components": {
        "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic", "description": "A local Whistle account."},
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "wht_…",
                       "description": "A token for a system client; scopes: `tasks`, `start`, `message`."},
        },
        "schemas": _SCHEMAS,
        "responses": _RESPONSES,
    },
}


def openapi_document() -> dict:
    """A fresh copy (callers may not change the module's document)."""
    return copy.deepcopy(_DOCUMENT)
