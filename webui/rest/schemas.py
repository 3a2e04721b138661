"""The OpenAPI document's building blocks: the components (schemas and shared responses) and the helpers the
resource modules write their paths with (``webui.rest.openapi`` puts the document together)."""
from __future__ import annotations


def ref(name: str) -> dict:
    """A reference to a schema of the components."""
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **extra: object) -> dict:
    return {"type": [kind, "null"], **extra}


_DATETIME = {"type": "string", "format": "date-time"}
_DATETIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_CASE_DATA = {"type": "object", "additionalProperties": True,
              "description": "Case data: a JSON object whose fields the process reads and writes."}


def json_content(schema: dict, description: str, headers: dict | None = None) -> dict:
    """A response with a JSON body of ``schema``."""
    response = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _error(description: str) -> dict:
    return json_content(ref("Error"), description)


def error_responses(*codes: int) -> dict:
    """The shared error responses of these statuses, by status."""
    names = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
             422: "Unprocessable", 429: "TooManyRequests", 503: "NotMigrated"}
    return {str(code): {"$ref": f"#/components/responses/{names[code]}"} for code in codes}


TASK_ID = {"name": "task_id", "in": "path", "required": True, "description": "The task's id (a UUID).",
           "schema": {"type": "string", "maxLength": 36}}
INSTANCE_ID = {"name": "instance_id", "in": "path", "required": True, "description": "The instance's id.",
               "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}

SCHEMAS: dict = {
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
            "suspended": {"type": "boolean", "description": "Its case is suspended (已挂起): nobody may work on "
                                                            "it until an administrator resumes the case."},
            "delegated_by": {**_nullable("string"), "description": "委派: who delegated it to its assignee."},
            "delegation_state": {"type": ["string", "null"], "enum": ["pending", "resolved", None],
                                 "description": "`pending` until the delegate hands it back to `delegated_by`."},
        },
    },
    "Notification": {
        "type": "object",
        "required": ["id", "event", "instance_id", "task_id", "title", "text", "channel", "state", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "event": {"type": "string", "description": "task_offered, task_due_soon, task_overdue, "
                                                       "supervision_opened, … (docs/notifications.md)."},
            "instance_id": _nullable("integer"),
            "task_id": _nullable("string"),
            "title": {"type": "string"},
            "text": {"type": "string", "description": "As rendered when it was written (Chinese; English with "
                                                      "`?lang=en` where the template has it)."},
            "channel": {"type": "string", "enum": ["inbox", "email", "webhook", "sms"]},
            "state": {"type": "string", "enum": ["pending", "sent", "failed", "read"]},
            "attempts": {"type": "integer"},
            "last_error": _nullable("string"),
            "created_at": _DATETIME,
            "sent_at": _DATETIME_OR_NULL,
            "read_at": _DATETIME_OR_NULL,
        },
    },
    "NotificationList": {
        "type": "object",
        "required": ["user", "unread", "notifications"],
        "properties": {
            "user": {"type": "string"},
            "unread": {"type": "integer", "description": "Inbox notifications not read yet."},
            "notifications": {"type": "array", "items": ref("Notification"), "description": "Newest first."},
        },
    },
    "NotificationRead": {
        "type": "object",
        "required": ["marked_read", "unread"],
        "properties": {"marked_read": {"type": "integer"}, "unread": {"type": "integer"}},
    },
    "TransferRequest": {
        "type": "object", "additionalProperties": False, "required": ["to", "reason"],
        "properties": {"to": {"type": "string", "description": "A user or a group (`user:NAME` / `group:NAME` "
                                                               "when both exist)."},
                       "reason": {"type": "string", "maxLength": 1000}},
        "example": {"to": "dept-housing", "reason": "属于住建部门职责"},
    },
    "DelegateRequest": {
        "type": "object", "additionalProperties": False, "required": ["to"],
        "properties": {"to": {"type": "string", "description": "A user."},
                       "note": {"type": ["string", "null"], "maxLength": 1000}},
    },
    "ReturnRequest": {
        "type": "object", "additionalProperties": False, "required": ["to", "reason"],
        "properties": {"to": {"type": "string", "description": "The element id of an earlier step the task's "
                                                               "`returnTo` names."},
                       "reason": {"type": "string", "maxLength": 1000}},
    },
    "NoteRequest": {
        "type": "object", "additionalProperties": False,
        "properties": {"note": {"type": ["string", "null"], "maxLength": 1000}},
    },
    "CcRequest": {
        "type": "object", "additionalProperties": False, "required": ["to"],
        "properties": {"to": {"type": "string", "description": "A user or a group."},
                       "note": {"type": ["string", "null"], "maxLength": 1000}},
    },
    "MovedBack": {
        "type": "object", "required": ["task_id", "instance_id", "new_task_ids"],
        "properties": {"task_id": {"type": "string"}, "instance_id": {"type": "integer"},
                       "returned_to": {"type": "string", "description": "退回: the element made ready again."},
                       "cancelled": {"type": "array", "items": {"type": "string"},
                                     "description": "撤回: the names of the next steps withdrawn."},
                       "new_task_ids": {"type": "array", "items": {"type": "string"}}},
    },
    "UrgeResult": {
        "type": "object", "required": ["task_id", "instance_id", "urged_at", "recipients", "next_allowed_at"],
        "properties": {"task_id": {"type": "string"}, "instance_id": {"type": "integer"}, "urged_at": _DATETIME,
                       "recipients": {"type": "array", "items": {"type": "string"}},
                       "next_allowed_at": _DATETIME},
    },
    "CaseCopy": {
        "type": "object", "required": ["copy_id", "instance_id", "to", "to_kind", "copied_by", "copied_at"],
        "properties": {"copy_id": {"type": "integer"}, "instance_id": {"type": "integer"}, "to": {"type": "string"},
                       "to_kind": {"type": "string", "enum": ["user", "group"]}, "copied_by": {"type": "string"},
                       "note": _nullable("string"), "copied_at": _DATETIME},
    },
    "TaskList": {
        "type": "object",
        "required": ["user", "limit", "offset", "process_id", "tasks"],
        "properties": {
            "user": {"type": "string", "description": "Whose inbox this is (the authenticated account)."},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "process_id": _nullable("string"),
            "tasks": {"type": "array", "items": ref("Task"),
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
            "status": {"type": "string", "enum": ["running", "suspended", "completed", "terminated", "cancelled"],
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
            "status": {"type": "string", "enum": ["running", "suspended", "completed", "terminated", "cancelled"]},
            "process_id": {"type": "string"},
            "version": {"type": "integer"},
            "suspended": {"type": "boolean", "description": "Held by an administrator: nothing moves it."},
            "terminated": {"type": "boolean", "description": "Ended by an administrator."},
            "suspended_at": _DATETIME_OR_NULL,
            "suspended_by": _nullable("string"),
            "suspended_reason": _nullable("string"),
            "terminated_by": _nullable("string"),
            "terminated_reason": _nullable("string"),
            "business_key": _nullable("string"),
            "started_by": _nullable("string"),
            "started_at": _DATETIME,
            "completed_at": _DATETIME_OR_NULL,
            "revision": {"type": "integer", "description": "Increases with every change of the instance."},
            "data": _CASE_DATA,
            "open_tasks": {"type": "array", "items": ref("Task")},
            "incidents": {"type": "array", "items": ref("InstanceIncident")},
            "messages": {"type": "array", "items": ref("Subscription")},
            "timers": {"type": "array", "items": ref("Timer")},
            "history": {"type": "string", "format": "uri-reference", "description": "Where the audit trail is."},
            "audience": {"type": "string", "enum": ["resident", "reporter", "street", "department", "district"],
                         "description": "The caller's audience for this case (ADR 9): below `street` the data, "
                                        "history and tasks hold only what residents and reporters may read, "
                                        "without staff names, timers or incidents."},
        },
    },
    "InstanceRow": {
        "type": "object",
        "description": "A case as a search lists it.",
        "required": ["instance_id", "process_id", "version", "status", "business_key", "started_at", "waiting_at"],
        "properties": {
            "instance_id": {"type": "integer"},
            "process_id": {"type": "string"},
            "process_name": {"type": "string"},
            "version": {"type": "integer"},
            "version_id": {"type": "integer"},
            "status": {"type": "string", "enum": ["running", "suspended", "completed", "terminated", "cancelled"]},
            "business_key": _nullable("string"),
            "title": _nullable("string"),
            "tier": _nullable("string"),
            "location": {},
            "street": _nullable("string"),
            "department": _nullable("string"),
            "started_by": _nullable("string"),
            "started_at": _DATETIME,
            "completed_at": _DATETIME_OR_NULL,
            "waiting_at": {"type": "array", "items": {"type": "string"},
                           "description": "Element ids its open tasks, timers and message subscriptions wait at."},
            "open_tasks": {"type": "array", "items": {"type": "string"}},
            "open_incidents": {"type": "integer"},
            "suspended_at": _DATETIME_OR_NULL,
            "suspended_by": _nullable("string"),
            "suspended_reason": _nullable("string"),
            "terminated_by": _nullable("string"),
            "terminated_reason": _nullable("string"),
        },
    },
    "InstanceSearch": {
        "type": "object",
        "required": ["instances", "total", "page", "limit", "more", "sort", "filters"],
        "properties": {
            "instances": {"type": "array", "items": ref("InstanceRow")},
            "total": {"type": "integer", "description": "How many cases match the filters."},
            "page": {"type": "integer"},
            "limit": {"type": "integer"},
            "more": {"type": "boolean", "description": "A page follows."},
            "sort": {"type": "string", "enum": ["newest", "oldest", "deadline"]},
            "filters": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "The filters as query parameters."},
        },
    },
    "ReasonRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": {"type": "string", "maxLength": 1000,
                                   "description": "Why (required to suspend and terminate; a note to resume)."}},
        "example": {"reason": "当事人申请暂缓处理"},
    },
    "LifecycleResult": {
        "type": "object",
        "required": ["instance_id", "action", "status", "process_id"],
        "properties": {
            "instance_id": {"type": "integer"},
            "action": {"type": "string", "enum": ["suspended", "resumed", "terminated"]},
            "status": {"type": "string", "enum": ["running", "suspended", "completed", "terminated", "cancelled"]},
            "process_id": {"type": "string"},
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
                       "events": {"type": "array", "items": ref("HistoryEvent")}},
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
        "properties": {"definitions": {"type": "array", "items": ref("Definition")}},
    },
    "VersionFile": {
        "type": "object",
        "required": ["file", "path", "sha256", "size"],
        "properties": {
            "file": {"type": "string", "description": "The name it was deployed under."},
            "path": {"type": "string", "description": "Its name in the version's zip, relative to the folder the "
                                                      "files share: what `…/files/{file}` takes."},
            "sha256": {"type": "string"}, "size": {"type": "integer", "description": "Bytes."},
        },
    },
    "Version": {
        "type": "object",
        "required": ["process_id", "kind", "version", "version_id", "name", "file", "deployed_at", "deployed_by",
                     "content_hash", "warnings", "running", "completed", "cancelled", "finished", "files"],
        "properties": {
            "process_id": {"type": "string"}, "kind": {"type": "string", "enum": ["process", "decision"]},
            "version": {"type": "integer"}, "version_id": {"type": "integer"}, "name": _nullable("string"),
            "file": {"type": "string", "description": "The definition's own file (its stored name)."},
            "deployed_at": _DATETIME, "deployed_by": {"type": "string"}, "content_hash": {"type": "string"},
            "warnings": {"type": "array", "items": ref("Problem"),
                         "description": "The lint warnings its deployment reported."},
            "running": {"type": "integer"}, "completed": {"type": "integer"}, "cancelled": {"type": "integer"},
            "finished": {"type": "integer", "description": "Completed and cancelled cases."},
            "files": {"type": "array", "items": ref("VersionFile")},
        },
    },
    "VersionHistory": {
        "type": "object",
        "required": ["process_id", "kind", "name", "versions"],
        "properties": {
            "process_id": {"type": "string"}, "kind": {"type": "string", "enum": ["process", "decision"]},
            "name": _nullable("string"),
            "versions": {"type": "array", "items": ref("Version"), "description": "Newest first."},
        },
    },
    "VersionHeader": {
        "type": "object",
        "required": ["process_id", "kind", "version", "version_id", "name", "file", "deployed_at", "deployed_by",
                     "content_hash"],
        "properties": {
            "process_id": {"type": "string"}, "kind": {"type": "string"}, "version": {"type": "integer"},
            "version_id": {"type": "integer"}, "name": _nullable("string"), "file": {"type": "string"},
            "deployed_at": _DATETIME, "deployed_by": {"type": "string"}, "content_hash": {"type": "string"},
        },
    },
    "DiffElement": {
        "type": "object",
        "description": "A BPMN element added or removed; a changed one has `changes`: property → [old, new]; a "
                       "rerouted flow `source` and `target`: [old, new].",
        "required": ["id", "type", "name", "file"],
        "properties": {
            "id": {"type": "string"}, "type": {"type": "string"}, "name": _nullable("string"),
            "file": {"type": "string"},
            "changes": {"type": "object", "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2}},
            "source": {"type": "array"}, "target": {"type": "array"},
        },
    },
    "VersionDiff": {
        "type": "object",
        "description": "What changed from `from` to `to` (`whistle diff --json`); every list sorted by file and "
                       "id, so the same two versions always give the same diff.",
        "required": ["process_id", "kind", "from", "to", "added", "removed", "changed", "flows", "decisions",
                     "forms", "files"],
        "properties": {
            "process_id": {"type": "string"}, "kind": {"type": "string", "enum": ["process", "decision"]},
            "from": ref("VersionHeader"), "to": ref("VersionHeader"),
            "added": {"type": "array", "items": ref("DiffElement")},
            "removed": {"type": "array", "items": ref("DiffElement")},
            "changed": {"type": "array", "items": ref("DiffElement")},
            "flows": {"type": "array", "items": ref("DiffElement")},
            "decisions": {"type": "array", "description": "Decision tables: `file`, `id`, `name`, `status`, "
                                                          "`changes`, `columns` and `rules` (each changed rule "
                                                          "cell by cell).",
                          "items": {"type": "object", "required": ["file", "id", "status"],
                                    "additionalProperties": True}},
            "forms": {"type": "array", "description": "Forms: `file`, `key`, `title`, `status`, `changes` and "
                                                      "`fields` (added, removed, changed).",
                      "items": {"type": "object", "required": ["file", "key", "status"],
                                "additionalProperties": True}},
            "files": {"type": "array", "items": {"type": "object", "required": ["file", "kind", "status"],
                                                 "properties": {"file": {"type": "string"},
                                                                "kind": {"type": "string"},
                                                                "status": {"type": "string"},
                                                                "renamed_from": {"type": "string"}}}},
        },
    },
    "Problem": {
        "type": "object",
        "required": ["file", "line", "element_id", "message", "severity"],
        "properties": {
            "file": {"type": "string"}, "line": _nullable("integer"), "element_id": _nullable("string"),
            "message": {"type": "string"}, "severity": {"type": "string", "enum": ["error", "warning"]},
        },
    },
    "DeployedDefinition": {
        "type": "object",
        "required": ["process_id", "kind", "version", "status", "name", "file", "warnings"],
        "properties": {
            "process_id": {"type": "string"}, "kind": {"type": "string", "enum": ["process", "decision", "calendar"]},
            "version": {"type": "integer"}, "status": {"type": "string", "enum": ["new", "unchanged"]},
            "name": _nullable("string"), "file": {"type": "string"},
            "warnings": {"type": "array", "items": ref("Problem")},
        },
    },
    "DeploymentPlan": {
        "type": "object",
        "required": ["ok", "upload_hash", "files", "ignored", "definitions", "problems", "errors", "warnings"],
        "properties": {
            "ok": {"type": "boolean", "description": "No errors: deploying these files would succeed."},
            "upload_hash": {"type": "string", "description": "Give it back to deploy exactly these files."},
            "files": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "kind": {"type": "string"}, "bytes": {"type": "integer"}}}},
            "ignored": {"type": "array", "items": {"type": "string"},
                        "description": "Entries of an archive a folder deploy passes over (README.md, __MACOSX/…)."},
            "definitions": {"type": "array", "items": ref("DeployedDefinition"),
                            "description": "What deploying would do (empty when there are errors)."},
            "problems": {"type": "array", "items": ref("Problem")},
            "errors": {"type": "integer"}, "warnings": {"type": "integer"},
        },
    },
    "DeploymentResult": {
        "type": "object",
        "required": ["deployed"],
        "properties": {"deployed": {"type": "array", "items": ref("DeployedDefinition")}},
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
    },    "Account": {
        "type": "object",
        "required": ["username", "display_name", "active", "groups", "created_at", "has_password"],
        "properties": {
            "username": {"type": "string"}, "display_name": _nullable("string"), "active": {"type": "boolean"},
            "groups": {"type": "array", "items": {"type": "string"}}, "created_at": {"type": "string",
                                                                                  "format": "date-time"},
            "has_password": {"type": "boolean", "description": "False for an account that cannot sign in with one."},
        },
    },
    "AccountPage": {
        "type": "object",
        "required": ["total", "page", "pages", "accounts"],
        "properties": {"total": {"type": "integer"}, "page": {"type": "integer"}, "pages": {"type": "integer"},
                       "accounts": {"type": "array", "items": ref("Account")}},
    },
    "AccountRequest": {
        "type": "object",
        "required": ["username"],
        "additionalProperties": False,
        "properties": {
            "username": {"type": "string", "maxLength": 128, "pattern": "^[A-Za-z0-9][A-Za-z0-9._@-]*$"},
            "display_name": _nullable("string"), "groups": {"type": "array", "items": {"type": "string"}},
            "password": {"type": "string", "minLength": 8, "description": "The initial password; omit it for a "
                                                                           "one-time one."},
        },
        "example": {"username": "wangwu", "display_name": "王五", "groups": ["dept-housing"]},
    },
    "AccountCreated": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {"username": {"type": "string"}, "groups": {"type": "array", "items": {"type": "string"}},
                       "password": _nullable("string", description="The one-time password, shown only in this "
                                                                   "answer (null when one was given).")},
    },
    "AccountState": {
        "type": "object",
        "required": ["username"],
        "properties": {"username": {"type": "string"}, "active": {"type": "boolean"},
                       "groups": {"type": "array", "items": {"type": "string"}}},
    },
    "PeopleReport": {
        "type": "object",
        "required": ["file", "sha256", "ok", "counts", "problems", "people"],
        "properties": {
            "file": {"type": "string"}, "sha256": {"type": "string"}, "ok": {"type": "boolean"},
            "counts": {"type": "object", "properties": {k: {"type": "integer"}
                                                         for k in ("create", "update", "unchanged", "error")}},
            "problems": {"type": "array", "items": {"type": "string"}, "description": "Of the file as a whole."},
            "groups": {"type": "array", "items": {"type": "string"}},
            "people": {"type": "array", "items": {"type": "object", "properties": {
                "where": {"type": "string", "description": "`line N` of a CSV, `users[i]` of a JSON file."},
                "username": {"type": "string"}, "display_name": _nullable("string"),
                "groups": {"type": "array", "items": {"type": "string"}},
                "action": {"type": "string", "enum": ["create", "update", "unchanged", "error"]},
                "problems": {"type": "array", "items": {"type": "string"}},
                "added_groups": {"type": "array", "items": {"type": "string"}},
                "sets_password": {"type": "boolean"}}}},
        },
    },
    "Group": {
        "type": "object",
        "required": ["name", "kind", "active_members", "members"],
        "properties": {"name": {"type": "string"}, "display_name": _nullable("string"),
                       "kind": {"type": "string", "enum": ["street", "grid", "department", "district", "role",
                                                          "other"]},
                       "active_members": {"type": "integer"}, "members": {"type": "integer"}},
    },
    # -- administrators keep cases flowing (webui.rest.incidents, webui.rest.repairs) --------------------------
    "Incident": {
        "type": "object",
        "required": ["incident_id", "instance_id", "process_id", "command", "element_id", "error", "created_at",
                     "open"],
        "properties": {
            "incident_id": {"type": "integer"}, "instance_id": _nullable("integer"),
            "process_id": _nullable("string"), "version_id": _nullable("integer"), "command": {"type": "string"},
            "actor": _nullable("string"), "task_id": _nullable("string"), "element_id": _nullable("string"),
            "error": {"type": "string", "description": "The first line: the error's type and message."},
            "error_type": {"type": "string"}, "message": {"type": "string"},
            "traceback": _nullable("string", description="The whole traceback."),
            "command_data": {"type": ["object", "null"], "additionalProperties": True,
                             "description": "What a failed user command submitted, to replay it; secrets are "
                                            "never stored (`redacted` names them)."},
            "created_at": _DATETIME, "open": {"type": "boolean"}, "resolved_at": _DATETIME_OR_NULL,
            "resolved_by": _nullable("string"), "resolution": _nullable("string", description="The note, or "
                                                                                             "`replayed`."),
        },
    },
    "IncidentDetail": {
        "allOf": [ref("Incident"), {"type": "object", "properties": {
            "job_id": _nullable("integer", description="The failed timer job, when it was one."),
            "retry": {"type": ["string", "null"], "enum": ["timer", "replay", "repair", None],
                      "description": "What a retry does; null when the incident can only be resolved."}}}],
    },
    "IncidentList": {
        "type": "object",
        "required": ["incidents", "per_element", "state"],
        "properties": {
            "incidents": {"type": "array", "items": ref("Incident")},
            "per_element": {"type": "array", "items": {
                "type": "object", "required": ["process_id", "element_id", "open"],
                "properties": {"process_id": _nullable("string"), "element_id": _nullable("string"),
                               "open": {"type": "integer", "description": "Open incidents at the element."}}}},
            "state": {"type": "string", "enum": ["open", "resolved", "all"]},
        },
    },
    "IncidentRetried": {
        "type": "object",
        "required": ["incident_id", "retry", "resolved"],
        "properties": {"incident_id": {"type": "integer"}, "instance_id": _nullable("integer"),
                       "retry": {"type": "string", "enum": ["timer", "replay", "repair"]},
                       "resolved": {"type": "boolean"},
                       "job": {"type": "object", "additionalProperties": True},
                       "replay": {"type": "object", "additionalProperties": True},
                       "repair": {"type": "object", "additionalProperties": True}},
    },
    "ElementMapping": {
        "description": "Elements the new version renamed: `{\"OLD\": \"NEW\"}`, or a list of `\"OLD=NEW\"`.",
        "oneOf": [{"type": "object", "additionalProperties": {"type": "string"}},
                  {"type": "array", "items": {"type": "string", "pattern": "="}}, {"type": "null"}],
    },
    "UpgradeRequest": {
        "type": "object",
        "required": ["to_version"],
        "additionalProperties": False,
        "properties": {
            "to_version": {"type": "integer", "minimum": 1},
            "from_version": {"type": ["integer", "null"], "minimum": 1,
                             "description": "Only the cases on this version."},
            "instances": {"type": "array", "items": {"type": "integer", "minimum": 1},
                          "description": "Only these cases."},
            "mapping": ref("ElementMapping"), "dry_run": {"type": "boolean"},
        },
        "example": {"to_version": 2, "from_version": 1, "mapping": {"handle": "deal"}, "dry_run": True},
    },
    "UpgradeOutcome": {
        "type": "object",
        "required": ["instance_id", "to_version", "can_move", "reason"],
        "properties": {
            "instance_id": {"type": "integer"}, "from_version": _nullable("integer"),
            "to_version": {"type": "integer"}, "can_move": {"type": "boolean"},
            "code": {"type": "string", "description": "The rule: `can_move`, `removed`, `renamed`, `needs_data`, "
                                                      "`same_version`, `not_running`, `failed`, …"},
            "reason": _nullable("string", description="Why not, in Chinese."),
            "reason_en": _nullable("string", description="Why not, in English."),
            "element_id": {"type": "string", "description": "The element the case waits at that stops it."},
            "hint": {"type": "string", "description": "`renamed`: the new element it looks renamed to."},
            "waiting_at": {"type": "array", "items": {"type": "string"}},
            "moved": {"type": "boolean"}, "failed": {"type": "boolean"},
            "outcome": {"type": "string", "enum": ["moved", "skipped", "failed"]},
        },
    },
    "UpgradeReport": {
        "type": "object",
        "required": ["process_id", "to_version", "dry_run", "results"],
        "properties": {
            "process_id": {"type": "string"}, "to_version": {"type": "integer"},
            "from_version": _nullable("integer"), "mapping": {"type": "object"}, "dry_run": {"type": "boolean"},
            "results": {"type": "array", "items": ref("UpgradeOutcome")},
            **{k: {"type": "integer"} for k in ("can_move", "cannot_move", "moved", "skipped", "failed")},
        },
    },
    "ModifyRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "cancel": {"type": "array", "items": {"type": "string"}},
            "start": {"type": "array", "items": {"type": "string"}},
            "back_to": _nullable("string", description="An earlier task of the case (退回); alone."),
            "data": {**_CASE_DATA, "description": "Merged into the case as the token moves."},
            "reason": _nullable("string", maxLength=2000, description="Why, kept in the audit chain."),
        },
        "example": {"back_to": "accept", "data": {"remark": "补充材料"}, "reason": "材料不全，退回受理"},
    },
    "ModifyResult": {
        "type": "object",
        "required": ["instance_id", "status", "cancelled", "started", "ready"],
        "properties": {
            "instance_id": {"type": "integer"}, "status": {"type": "string"},
            "cancelled": {"type": "array", "items": {"type": "string"}},
            "started": {"type": "array", "items": {"type": "string"}},
            "back_to": _nullable("string"), "ready": {"type": "array", "items": {"type": "string"},
                                                     "description": "The tasks ready now."},
        },
    },
}

RESPONSES = {
    "BadRequest": _error("The body is not a JSON object (malformed JSON, an array, …) or a query parameter is "
                         "not a number."),
    "Unauthorized": {
        "description": "No credentials, wrong ones, or an unknown/revoked token. Cookies are ignored.",
        "headers": {"WWW-Authenticate": {"description": "`Basic realm=\"whistle\"` and `Bearer realm=\"whistle\"` "
                                                        "challenges.", "schema": {"type": "string"}}},
        "content": {"application/json": {"schema": ref("Error")}},
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
        "content": {"application/json": {"schema": ref("Error")}},
    },
    "NotMigrated": {
        "description": "`not_migrated`: the database schema is not at the code's revision (run `whistle "
                       "migrate`); `unavailable`: the database cannot be reached for a moment — try again after "
                       "`Retry-After` seconds (a change sent just then may or may not have been saved).",
        "headers": {"Retry-After": {"description": "Seconds to wait (`unavailable`).", "schema": {"type": "integer"}}},
        "content": {"application/json": {"schema": ref("Error")}},
    },
}
