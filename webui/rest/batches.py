"""Batches: one operation over many cases, run by the job executor's workers (``engine.management.batches``).
Administrators only (the engine checks the account; 403 otherwise); a token acts as its account and needs the
``batches`` scope to create or cancel one."""
from __future__ import annotations

from flask import Response, jsonify, request

from engine.forms.limits import BIGINT_MAX
from webui.rest.auth import caller
from webui.rest.body import field, int_arg, json_body
from webui.rest.schemas import error_responses, json_content, ref
from webui.rest.shell import ApiError, api, engine

BATCH_ID = {"name": "batch_id", "in": "path", "required": True, "description": "The batch's id.",
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}
_ADMINS = "Administrators (`admins`) only."

PATHS: dict = {  # this module's part of the OpenAPI document (webui.rest.openapi)
    "/batches": {
        "post": {
            "operationId": "createBatch", "tags": ["batches"], "summary": "Run an operation over many cases",
            "description": "Choose the cases by `instance_ids` or by a `filter` (one of the two); they are resolved "
                           "once, now. With `dry_run: true` nothing is created and the answer is the count to "
                           "confirm; give that count back as `expected_count` to create the batch only if the "
                           "selection still holds as many cases. The workers then do each case with the "
                           "operation's own command, exactly once; follow it with `getBatch`. " + _ADMINS +
                           " Tokens need the `admin` scope.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("BatchRequest")}}},
            "responses": {"200": json_content(ref("BatchPreview"), "The dry run: how many cases it would change."),
                          "201": json_content(ref("Batch"), "Created and queued.",
                                              {"Location": {"description": "The batch's URL.",
                                                            "schema": {"type": "string"}}}),
                          **error_responses(400, 401, 403, 404, 422)},
        },
        "get": {
            "operationId": "listBatches", "tags": ["batches"], "summary": "The newest batches with their progress",
            "description": _ADMINS,
            "parameters": [{"name": "limit", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
                           {"name": "offset", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 0, "default": 0}}],
            "responses": {"200": json_content({"type": "object", "required": ["batches"], "properties": {
                "batches": {"type": "array", "items": ref("Batch")}}}, "The batches, newest first."),
                **error_responses(401, 403)},
        },
    },
    "/batches/{batch_id}": {
        "parameters": [BATCH_ID],
        "get": {
            "operationId": "getBatch", "tags": ["batches"], "summary": "A batch's progress",
            "description": "Counts by outcome, the share finished, the rate so far and the time left (poll it for a "
                           "progress bar). " + _ADMINS,
            "responses": {"200": json_content(ref("Batch"), "The batch."), **error_responses(401, 403, 404)},
        },
    },
    "/batches/{batch_id}/items": {
        "parameters": [BATCH_ID],
        "get": {
            "operationId": "getBatchItems", "tags": ["batches"], "summary": "The report: each case's outcome",
            "description": "Each case of the batch in order: done, skipped or failed with the reason, or still "
                           "pending. " + _ADMINS,
            "parameters": [{"name": "status", "in": "query", "required": False,
                            "schema": {"type": "string", "enum": ["pending", "locked", "done", "skipped", "failed"]}},
                           {"name": "limit", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500}},
                           {"name": "offset", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 0, "default": 0}}],
            "responses": {"200": json_content({"type": "object", "required": ["items"], "properties": {
                "items": {"type": "array", "items": ref("BatchItem")}}}, "The items."),
                **error_responses(401, 403, 404, 422)},
        },
    },
    "/batches/{batch_id}/cancel": {
        "parameters": [BATCH_ID],
        "post": {
            "operationId": "cancelBatch", "tags": ["batches"], "summary": "Cancel a batch",
            "description": "Every case not done yet is skipped (`cancelled`); what was done stays done. A batch "
                           "done or cancelled already is 422. " + _ADMINS + " Tokens need the `admin` scope.",
            "responses": {"200": json_content(ref("Batch"), "Cancelled."), **error_responses(401, 403, 404, 422)},
        },
    },
}

_COUNT = {"type": "integer", "minimum": 0}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_DATETIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_NUMBER_OR_NULL = {"type": ["number", "null"]}

SCHEMAS: dict = {  # this module's components (webui.rest.schemas holds the shared ones)
    "BatchRequest": {
        "type": "object", "required": ["operation"], "additionalProperties": False,
        "properties": {
            "operation": {"type": "string", "description": "A registered operation, e.g. `repair`."},
            "instance_ids": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
            "filter": {"type": "object", "description": "A case filter: `process_id`, `version`, `status`, "
                                                        "`business_key`, `with_incident`."},
            "params": {"type": "object", "description": "The operation's parameters."},
            "reason": {"type": ["string", "null"], "maxLength": 2000,
                       "description": "Why; required by some operations (suspend, terminate)."},
            "dry_run": {"type": "boolean", "default": False},
            "expected_count": {"type": ["integer", "null"], "minimum": 1,
                               "description": "The count the confirmation named (the dry run's `count`)."},
        },
    },
    "BatchPreview": {
        "type": "object", "required": ["operation", "operation_label", "count"],
        "properties": {"operation": {"type": "string"}, "operation_label": {"type": "string"}, "count": _COUNT,
                       "params": {"type": "object"}, "reason": _TEXT_OR_NULL, "filter": {"type": "object"},
                       "instance_ids": {"type": "array", "items": {"type": "integer"},
                                        "description": "The first 1,000 cases chosen."}},
    },
    "Batch": {
        "type": "object",
        "required": ["batch_id", "operation", "status", "total", "done", "skipped", "failed", "pending", "percent"],
        "properties": {
            "batch_id": {"type": "integer"}, "operation": {"type": "string"}, "operation_label": {"type": "string"},
            "params": {"type": "object"}, "filter": {"type": ["object", "null"]}, "reason": _TEXT_OR_NULL,
            "actor": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
            "status": {"type": "string", "enum": ["queued", "running", "done", "cancelled"]},
            "status_label": {"type": "string"}, "started_at": _DATETIME_OR_NULL, "finished_at": _DATETIME_OR_NULL,
            "cancelled_by": _TEXT_OR_NULL, "total": _COUNT, "done": _COUNT, "skipped": _COUNT, "failed": _COUNT,
            "pending": {**_COUNT, "description": "Not finished yet (waiting, or in a worker's hands: `locked`)."},
            "locked": _COUNT, "finished": _COUNT, "percent": {"type": "number", "minimum": 0, "maximum": 100},
            "rate_per_second": _NUMBER_OR_NULL, "eta_seconds": _NUMBER_OR_NULL,
        },
    },
    "BatchItem": {
        "type": "object", "required": ["item_id", "instance_id", "status"],
        "properties": {
            "item_id": {"type": "integer"}, "instance_id": {"type": "integer"}, "process_id": {"type": "string"},
            "case_status": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "locked", "done", "skipped", "failed"]},
            "status_label": {"type": "string"}, "reason": _TEXT_OR_NULL, "attempts": _COUNT,
            "worker": _TEXT_OR_NULL, "finished_at": _DATETIME_OR_NULL,
        },
    },
}


def _may_change() -> str:
    who = caller()
    if who.via == "bearer":
        who.require_scope("admin")
    return who.user


@api.post("/batches")
def create_batch() -> tuple[Response, int] | Response:
    user = _may_change()
    body = json_body({"operation", "instance_ids", "filter", "params", "reason", "dry_run", "expected_count"})
    operation = field(body, "operation", "string", maximum=64)
    if not operation:
        raise ApiError(422, "invalid", "'operation' is required, e.g. \"repair\"", {"field": "operation"})
    params = field(body, "params", "object")
    selection = {"instance_ids": body.get("instance_ids"), "filter": body.get("filter"), "params": params,
                 "reason": field(body, "reason", "string", maximum=2000)}
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ApiError(422, "invalid", "'dry_run' must be true or false", {"field": "dry_run"})
    if dry_run:
        return jsonify(engine().preview_batch(user, operation, **selection))
    created = engine().create_batch(user, operation, expected_count=field(body, "expected_count", "integer"),
                                    **selection)
    response = jsonify(created)
    response.headers["Location"] = f"/api/v1/batches/{created['batch_id']}"
    return response, 201


@api.get("/batches")
def list_batches() -> Response:
    limit = int_arg("limit", 50, 1, 200)
    offset = int_arg("offset", 0, 0, BIGINT_MAX - 200)
    return jsonify(batches=engine().batch_list(caller().user, limit, offset))


@api.get("/batches/<int:batch_id>")
def get_batch(batch_id: int) -> Response:
    return jsonify(engine().batch(caller().user, batch_id))


@api.get("/batches/<int:batch_id>/items")
def get_batch_items(batch_id: int) -> Response:
    limit = int_arg("limit", 500, 1, 5000)
    offset = int_arg("offset", 0, 0, BIGINT_MAX - 5000)
    return jsonify(items=engine().batch_items(caller().user, batch_id, request.args.get("status") or None,
                                              limit, offset))


@api.post("/batches/<int:batch_id>/cancel")
def cancel_batch(batch_id: int) -> Response:
    return jsonify(engine().cancel_batch(_may_change(), batch_id))
