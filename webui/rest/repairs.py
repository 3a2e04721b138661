"""Administrators keep cases flowing (``engine.management.repairs``): migrate one case or a process's running
cases to another version — a dry run first, per case whether it can move and why not — and repair a case by
moving its token (cancel one element and start another, or back to an earlier task). Accounts in ``admins``
only — the engine refuses anyone else — and a token needs the ``admin`` scope."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from webui.rest.body import field, json_body
from webui.rest.incidents import ADMIN_ONLY, admin_caller
from webui.rest.schemas import INSTANCE_ID, error_responses, json_content, ref
from webui.rest.shell import ApiError, api, engine

_KEY = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"},
        "description": "The BPMN process id, e.g. `whistle`."}

PATHS: dict = {  # this module's part of the OpenAPI document (webui.rest.openapi)
    "/definitions/{key}/upgrade": {
        "parameters": [_KEY],
        "post": {
            "operationId": "upgradeCases", "tags": ["repairs"], "summary": "Migrate running cases to a version",
            "description": "The running cases of the process on `from_version` (else on any other version), or "
                           "those of `instances`, move to `to_version`, one command each (a failure leaves only "
                           "its case behind). With `dry_run` nothing changes: per case `can_move` and `reason`. "
                           "`mapping` maps an element id the new version renamed (`{\"OLD\": \"NEW\"}`). Each "
                           "moved case records `instance_migrated` in its audit chain." + ADMIN_ONLY,
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("UpgradeRequest")}}},
            "responses": {"200": json_content(ref("UpgradeReport"), "Per case, and the counts."),
                          **error_responses(400, 401, 403, 404, 422)},
        },
    },
    "/instances/{instance_id}/upgrade": {
        "parameters": [INSTANCE_ID],
        "post": {
            "operationId": "upgradeInstance", "tags": ["repairs"], "summary": "Migrate one case to a version",
            "description": "With `dry_run`: whether it can move and why not (200 either way). Without: it moves "
                           "(200, `moved`), or 409 naming why it may not (`details` is the case's outcome)."
                           + ADMIN_ONLY,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["to_version"], "additionalProperties": False,
                "properties": {"to_version": {"type": "integer", "minimum": 1},
                               "from_version": {"type": ["integer", "null"], "minimum": 1},
                               "mapping": ref("ElementMapping"), "dry_run": {"type": "boolean"}}},
                "example": {"to_version": 2, "mapping": {"handle": "deal"}, "dry_run": True}}}},
            "responses": {"200": json_content(ref("UpgradeOutcome"), "The case's outcome."),
                          **error_responses(400, 401, 403, 404, 409, 422)},
        },
    },
    "/instances/{instance_id}/modify": {
        "parameters": [INSTANCE_ID],
        "post": {
            "operationId": "modifyInstance", "tags": ["repairs"], "summary": "Move a case's token by hand",
            "description": "Cancel the active task of each element in `cancel` and make each in `start` ready, or "
                           "move back to the earlier task `back_to` (退回); `data` is merged into the case. 409 "
                           "naming why where it is not safe (inside a running multi-instance or subprocess, a "
                           "task the case never passed); nothing changes then." + ADMIN_ONLY,
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("ModifyRequest")}}},
            "responses": {"200": json_content(ref("ModifyResult"), "Moved."),
                          **error_responses(400, 401, 403, 404, 409, 422)},
        },
    },
}


def _boolean(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise ApiError(422, "invalid", f"'{name}' must be true or false", {"field": name, "expected": "boolean"})
    return value


def _names(body: dict, name: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(422, "invalid", f"'{name}' must be a list of element ids", {"field": name})
    return value


def _mapping(body: dict) -> Any:
    value = body.get("mapping")
    if value is None:
        return None
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ApiError(422, "invalid", "'mapping' must be an object {\"OLD\": \"NEW\"} or a list of \"OLD=NEW\"",
                   {"field": "mapping"})


def _to_version(body: dict) -> int:
    value = field(body, "to_version", "integer")
    if value is None:
        raise ApiError(422, "invalid", "'to_version' is required: the version number to move to",
                       {"field": "to_version"})
    return int(value)


@api.post("/definitions/<key>/upgrade")
def upgrade_cases(key: str) -> Response:
    actor = admin_caller()
    body = json_body({"to_version", "from_version", "instances", "mapping", "dry_run"})
    instances = body.get("instances")
    if instances is not None and (not isinstance(instances, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 1 <= i < 2**31 for i in instances)):
        raise ApiError(422, "invalid", "'instances' must be a list of instance ids", {"field": "instances"})
    return jsonify(engine().upgrade_cases(key, _to_version(body), from_version=field(body, "from_version", "integer"),
                                          instance_ids=instances or None, mapping=_mapping(body), actor=actor,
                                          dry_run=_boolean(body, "dry_run")))


@api.post("/instances/<int:instance_id>/upgrade")
def upgrade_instance(instance_id: int) -> Response:
    actor = admin_caller()
    body = json_body({"to_version", "from_version", "mapping", "dry_run"})
    args = (instance_id, _to_version(body), _mapping(body), actor, field(body, "from_version", "integer"))
    if _boolean(body, "dry_run"):
        return jsonify(engine().upgrade_check(*args))
    result = engine().upgrade_instance(*args)
    if not result.get("moved"):
        raise ApiError(409, "conflict", f"instance {instance_id} was not moved to version {result['to_version']}: "
                                        f"{result.get('reason_en') or result.get('reason')}", result)
    return jsonify(result)


@api.post("/instances/<int:instance_id>/modify")
def modify_instance(instance_id: int) -> Response:
    actor = admin_caller()
    body = json_body({"cancel", "start", "back_to", "data", "reason"})
    return jsonify(engine().modify_instance(instance_id, cancel=_names(body, "cancel"), start=_names(body, "start"),
                                            back_to=field(body, "back_to", "string", maximum=255),
                                            data=field(body, "data", "object"),
                                            reason=field(body, "reason", "string", maximum=2000), actor=actor))
