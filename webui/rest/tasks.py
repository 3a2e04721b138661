"""Tasks: the caller's inbox, one task, claiming, releasing and completing it, and the task actions 转办 委派 退回
撤回 催办 (``engine.runtime.task_actions``)."""
from __future__ import annotations

from flask import Response, jsonify, request

from engine.forms.limits import BIGINT_MAX
from webui.rest.auth import caller, require_instance_visible
from webui.rest.body import field, int_arg, json_body
from webui.rest.schemas import TASK_ID, error_responses, json_content, ref
from webui.rest.shell import api, engine

PATHS: dict = {  # this module's part of the OpenAPI document (webui.rest.openapi)
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
            "responses": {"200": json_content(ref("TaskList"), "The inbox page."), **error_responses(400, 401, 422)},
        },
    },
    "/tasks/{task_id}": {
        "parameters": [TASK_ID],
        "get": {
            "operationId": "getTask", "tags": ["tasks"], "summary": "One task (open or done)",
            "description": "Readable by whoever may read its instance (see `getInstance`).",
            "responses": {"200": json_content(ref("Task"), "The task."), **error_responses(401, 403, 404)},
        },
    },
    "/tasks/{task_id}/claim": {
        "parameters": [TASK_ID],
        "post": {
            "operationId": "claimTask", "tags": ["tasks"], "summary": "Claim a task offered to the caller",
            "description": "Idempotent for the caller. Tokens need the `tasks` scope. The body, if any, must be `{}`.",
            "responses": {"200": json_content(ref("Task"), "The claimed task."),
                          **error_responses(400, 401, 403, 404, 409, 422)},
        },
    },
    "/tasks/{task_id}/unclaim": {
        "parameters": [TASK_ID],
        "post": {
            "operationId": "unclaimTask", "tags": ["tasks"], "summary": "Give a claimed task back to its groups",
            "description": "Only the assignee may. Tokens need the `tasks` scope. 409 when it is not claimed.",
            "responses": {"200": json_content(ref("Task"), "The released task."),
                          **error_responses(400, 401, 403, 404, 409, 422)},
        },
    },
    "/tasks/{task_id}/complete": {
        "parameters": [TASK_ID],
        "post": {
            "operationId": "completeTask", "tags": ["tasks"], "summary": "Complete a task with its form data",
            "description": "The caller must be a candidate (or the assignee, if claimed). Of two concurrent "
                           "completions exactly one succeeds; the other gets 409. A failing script after the task "
                           "gives 422 `incident` and changes nothing. Tokens need the `tasks` scope.",
            "requestBody": {"required": False,
                            "content": {"application/json": {"schema": ref("CompleteRequest")}}},
            "responses": {"200": json_content(ref("CompleteResult"), "Completed; the process moved on."),
                          **error_responses(400, 401, 403, 404, 409, 422)},
        },
    },
}


def _action(name: str, operation: str, summary: str, description: str, request: str | None, result: str,
            codes: tuple[int, ...] = (400, 401, 403, 404, 409, 422)) -> dict:
    body = {"requestBody": {"required": request in ("TransferRequest", "DelegateRequest", "ReturnRequest"),
                            "content": {"application/json": {"schema": ref(request)}}}} if request else {}
    return {f"/tasks/{{task_id}}/{name}": {"parameters": [TASK_ID], "post": {
        "operationId": operation, "tags": ["tasks"], "summary": summary,
        "description": description + " Tokens need the `tasks` scope. Every action leaves an audit event in the "
                                     "case's chain with the notification it calls for (`notify`).",
        **body, "responses": {"200": json_content(ref(result), "Done."), **error_responses(*codes)}}}}


PATHS.update(_action("transfer", "transferTask", "转办: hand the task to another person or group",
                     "The assignee, or a candidate while nobody has claimed it, hands the task on with a reason; "
                     "its candidates are replaced. The ledger's obligation stays with the party the diagram named.",
                     "TransferRequest", "Task"))
PATHS.update(_action("delegate", "delegateTask", "委派: give the task to a person, to come back for confirmation",
                     "The delegate's completion hands it back to the owner (`delegation_state` `resolved`), who "
                     "then completes it.", "DelegateRequest", "Task"))
PATHS.update(_action("return", "returnTask", "退回: send the case back to an earlier step the diagram allows",
                     "Only to an element the task's `returnTo` names, with a reason (422 otherwise); the step is "
                     "created again and its due date evaluated again.", "ReturnRequest", "MovedBack"))
PATHS.update(_action("withdraw", "withdrawTask", "撤回: take back the caller's completion",
                     "While the next step has not started (nothing claimed or completed, no timer fired since); "
                     "409 otherwise. The task is ready again, held by the caller. The body, if any, must be `{}`.",
                     None, "MovedBack"))
PATHS.update(_action("urge", "urgeTask", "催办: urge whoever holds an open task",
                     "Anyone who may read the case; once per `WHISTLE_URGE_MINUTES` (default 30) per task and "
                     "person (409 sooner).", "NoteRequest", "UrgeResult"))


@api.get("/tasks")
def inbox() -> Response:
    """The caller's inbox: open tasks claimed by them or offered to them (their groups) and not claimed."""
    limit = int_arg("limit", 50, 1, 500)
    offset = int_arg("offset", 0, 0, BIGINT_MAX - 500)  # the engine reads offset + limit rows: both stay bigint
    process_id = request.args.get("process_id") or None
    tasks = engine().tasks(caller().user, limit=limit, offset=offset, process_id=process_id)
    return jsonify(user=caller().user, limit=limit, offset=offset, process_id=process_id, tasks=tasks)


@api.get("/tasks/<task_id>")
def get_task(task_id: str) -> Response:
    task = engine().task(task_id)
    require_instance_visible(task["instance_id"])
    return jsonify(task)


@api.post("/tasks/<task_id>/claim")
def claim(task_id: str) -> Response:
    caller().require_scope("tasks")
    json_body(set())
    return jsonify(engine().claim(task_id, caller().user))


@api.post("/tasks/<task_id>/unclaim")
def unclaim(task_id: str) -> Response:
    caller().require_scope("tasks")
    json_body(set())
    return jsonify(engine().unclaim(task_id, caller().user))


@api.post("/tasks/<task_id>/complete")
def complete(task_id: str) -> Response:
    caller().require_scope("tasks")
    body = json_body({"data"})
    data = field(body, "data", "object")
    return jsonify(engine().complete(task_id, caller().user, data))


@api.post("/tasks/<task_id>/transfer")
def transfer(task_id: str) -> Response:
    caller().require_scope("tasks")
    body = json_body({"to", "reason"})
    return jsonify(engine().transfer(task_id, caller().user, field(body, "to", "string"),
                                     field(body, "reason", "string")))


@api.post("/tasks/<task_id>/delegate")
def delegate(task_id: str) -> Response:
    caller().require_scope("tasks")
    body = json_body({"to", "note"})
    return jsonify(engine().delegate(task_id, caller().user, field(body, "to", "string"),
                                     field(body, "note", "string")))


@api.post("/tasks/<task_id>/return")
def return_task(task_id: str) -> Response:
    caller().require_scope("tasks")
    body = json_body({"to", "reason"})
    return jsonify(engine().return_task(task_id, caller().user, field(body, "to", "string") or "",
                                        field(body, "reason", "string")))


@api.post("/tasks/<task_id>/withdraw")
def withdraw(task_id: str) -> Response:
    caller().require_scope("tasks")
    json_body(set())
    return jsonify(engine().withdraw(task_id, caller().user))


@api.post("/tasks/<task_id>/urge")
def urge(task_id: str) -> Response:
    caller().require_scope("tasks")
    body = json_body({"note"})
    return jsonify(engine().urge(task_id, caller().user, field(body, "note", "string")))
