"""The OpenAPI 3.1 document of the REST API (``GET /api/v1/openapi.json``), written by hand and bound to the
routes: each resource module (``tasks``, ``instances``, ``definitions``, ``deployments``, ``messages``,
``batches``) writes the paths of its routes beside them (its ``PATHS``); the components are in
``webui.rest.schemas`` (and a module's own, its ``SCHEMAS``).

``tests/test_api.py`` validates it with openapi-spec-validator, checks that every ``/api/v1`` route is
documented with its methods, and validates real responses against the schemas given here.
"""
from __future__ import annotations

import copy

from flask import Response, jsonify

from webui.rest import (
    accounts,
    batches,
    definitions,
    deployments,
    incidents,
    instances,
    messages,
    notifications,
    repairs,
    tasks,
)
from webui.rest.schemas import RESPONSES, SCHEMAS, error_responses
from webui.rest.shell import api

API_VERSION = "1.0.0"

OWN_PATHS: dict = {  # the document's own path
    "/openapi.json": {
        "get": {
            "operationId": "getOpenApi", "tags": ["meta"], "summary": "This document", "security": [],
            "responses": {"200": {"description": "The OpenAPI document.",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        },
    },
}

_PATHS: dict = copy.deepcopy({**OWN_PATHS, **tasks.PATHS, **instances.PATHS, **definitions.PATHS,
                              **deployments.PATHS, **messages.PATHS, **accounts.PATHS, **incidents.PATHS,
                              **repairs.PATHS,
                              **batches.PATHS, **notifications.PATHS})

# Every authenticated operation may also answer: 422 for an out-of-range id or a NUL character in the path or
# query (webui.inputs), 429 while HTTP Basic is locked (webui.signin), 503 when the database is away
# (webui.dbloss).
for _item in _PATHS.values():
    for _operation in (o for m, o in _item.items() if m != "parameters"):
        if "401" in _operation["responses"]:
            _operation["responses"].update({k: v for k, v in error_responses(422, 429, 503).items()
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
            "[--scope tasks] [--scope start] [--scope message] [--scope admin]`. A token acts as its account: "
            "it reads what that account may read, and changes things only within its scopes. Cookies are ignored "
            "(no CSRF).\n\n"
            "**Errors** are `{\"error\": kind, \"message\": \"…\", \"details\": {…}}` with 400, 401, 403, 404, "
            "405, 409, 422, 429 or 503."),
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"basic": []}, {"bearer": []}],
    "tags": [{"name": "tasks"}, {"name": "instances"}, {"name": "messages"}, {"name": "definitions"},
             {"name": "accounts"}, {"name": "batches"}, {"name": "incidents"}, {"name": "repairs"},
             {"name": "notifications"}, {"name": "meta"}],
    "paths": _PATHS,
    "components": {
        "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic", "description": "A local Whistle account."},
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "wht_…",
                       "description": "A token for a system client; scopes: `tasks`, `start`, `message`, `deploy`, "
                                      "`admin`."},
        },
        "schemas": {**SCHEMAS, **batches.SCHEMAS},
        "responses": RESPONSES,
    },
}


def openapi_document() -> dict:
    """A fresh copy (callers may not change the module's document)."""
    return copy.deepcopy(_DOCUMENT)


@api.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())
