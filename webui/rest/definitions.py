"""Definitions: the deployed processes and decisions, every version."""
from __future__ import annotations

from flask import Response, jsonify

from webui.rest.schemas import error_responses, json_content, ref
from webui.rest.shell import api, engine

PATHS: dict = {  # this module's part of the OpenAPI document (webui.rest.openapi)
    "/definitions": {
        "get": {
            "operationId": "listDefinitions", "tags": ["definitions"], "summary": "Deployed processes and decisions",
            "responses": {"200": json_content(ref("DefinitionList"), "Every deployed version."),
                          **error_responses(401)},
        },
    },
}


@api.get("/definitions")
def definitions() -> Response:
    return jsonify(definitions=engine().definitions())
