"""Definitions: the deployed processes and decisions, every version; for designers and administrators also each
definition's version history, the files of a version as deployed (one, or all as a zip) and the semantic diff
of two versions — the same JSON as ``whistle diff --json``. The engine decides who may read sources
(``engine.management.versions.VersionHistory``: ``Forbidden`` for anyone but designers and admins); a token acts
as its account and needs no scope to read."""
from __future__ import annotations

from flask import Response, jsonify, request

from webui.rest.auth import caller
from webui.rest.schemas import error_responses, json_content, ref
from webui.rest.shell import ApiError, api, engine

_KEY = {"name": "key", "in": "path", "required": True, "description": "The process (or decision) id.",
        "schema": {"type": "string", "maxLength": 255}}
_NUMBER = {"name": "number", "in": "path", "required": True, "description": "The version number (1, 2, …).",
           "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}
_FILE = {"name": "file", "in": "path", "required": True,
         "description": "A file of the version: its `path` in the version listing (its name in the zip, e.g. "
                        "`forms/whistle-sign.form.json`) or its stored `file` name.",
         "schema": {"type": "string"}}
_DESIGNERS = " Accounts in `designers` or `admins` only (403 for anyone else)."

PATHS: dict = {  # this module's part of the OpenAPI document (webui.rest.openapi)
    "/definitions": {
        "get": {
            "operationId": "listDefinitions", "tags": ["definitions"], "summary": "Deployed processes and decisions",
            "responses": {"200": json_content(ref("DefinitionList"), "Every deployed version."),
                          **error_responses(401)},
        },
    },
    "/definitions/{key}/versions": {
        "parameters": [_KEY],
        "get": {
            "operationId": "listVersions", "tags": ["definitions"], "summary": "Every version of a definition",
            "description": "Newest first: who deployed each version and when, its content hash, the lint warnings "
                           "its deployment reported, its running and finished cases and its files." + _DESIGNERS,
            "responses": {"200": json_content(ref("VersionHistory"), "The definition's versions."),
                          **error_responses(401, 403, 404)},
        },
    },
    "/definitions/{key}/versions/{number}/files/{file}": {
        "parameters": [_KEY, _NUMBER, _FILE],
        "get": {
            "operationId": "getVersionFile", "tags": ["definitions"], "summary": "One file of a version, as deployed",
            "description": "The stored content byte for byte (BPMN and DMN as `application/xml`, forms and "
                           "catalogs as `application/json`, calendars as `text/csv`). 404 names the version's "
                           "files." + _DESIGNERS,
            "responses": {"200": {"description": "The file.", "content": {
                              "application/xml": {"schema": {"type": "string"}},
                              "application/json": {"schema": {}},
                              "text/csv": {"schema": {"type": "string"}},
                              "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                          **error_responses(401, 403, 404)},
        },
    },
    "/definitions/{key}/versions/{number}/archive": {
        "parameters": [_KEY, _NUMBER],
        "get": {
            "operationId": "getVersionArchive", "tags": ["definitions"], "summary": "All files of a version as a zip",
            "description": "Each entry the stored content, named relative to the folder the files share (it "
                           "unpacks into a folder `whistle deploy` takes); the same version always gives the same "
                           "zip." + _DESIGNERS,
            "responses": {"200": {"description": "The zip (`<key>-v<number>.zip`).", "content": {
                              "application/zip": {"schema": {"type": "string", "format": "binary"}}}},
                          **error_responses(401, 403, 404)},
        },
    },
    "/definitions/{key}/diff": {
        "parameters": [_KEY],
        "get": {
            "operationId": "diffVersions", "tags": ["definitions"], "summary": "What changed between two versions",
            "description": "Semantic, not textual: BPMN elements added, removed and changed (with each differing "
                           "property's old and new value), flows rerouted, decision rules cell by cell, form "
                           "fields — the same JSON as `whistle diff KEY FROM TO --json`." + _DESIGNERS,
            "parameters": [
                {"name": "from", "in": "query", "required": True, "description": "The older version's number.",
                 "schema": {"type": "integer", "minimum": 1}},
                {"name": "to", "in": "query", "required": True, "description": "The newer version's number.",
                 "schema": {"type": "integer", "minimum": 1}},
            ],
            "responses": {"200": json_content(ref("VersionDiff"), "The differences."),
                          **error_responses(400, 401, 403, 404)},
        },
    },
}


@api.get("/definitions")
def definitions() -> Response:
    return jsonify(definitions=engine().definitions())


@api.get("/definitions/<key>/versions")
def versions(key: str) -> Response:
    return jsonify(engine().versions_of(key, caller().user))


@api.get("/definitions/<key>/versions/<int:number>/files/<path:file>")
def version_file(key: str, number: int, file: str) -> Response:
    content = engine().version_file(key, number, file, caller().user)
    return _download(content.encode("utf-8"), file.rsplit("/", 1)[-1], _mimetype(file))


@api.get("/definitions/<key>/versions/<int:number>/archive")
def version_archive(key: str, number: int) -> Response:
    name, content = engine().version_archive(key, number, caller().user)
    return _download(content, name, "application/zip")


@api.get("/definitions/<key>/diff")
def diff(key: str) -> Response:
    who = caller()
    return jsonify(engine().diff(key, _version_number("from"), _version_number("to"), who.user))


def _version_number(name: str) -> int:
    text = request.args.get(name, "").strip()
    if not text.isdigit() or not 0 < int(text) < 2**31:
        raise ApiError(400, "bad_request", f"{name}: a version number (1, 2, …) is required, not {text!r}",
                       {"field": name})
    return int(text)


def _mimetype(file_name: str) -> str:
    lowered = file_name.lower()
    if lowered.endswith((".bpmn", ".dmn", ".xml")):
        return "application/xml"
    if lowered.endswith(".json"):
        return "application/json"
    if lowered.endswith(".csv"):
        return "text/csv"
    return "application/octet-stream"


def _download(content: bytes, name: str, mimetype: str) -> Response:
    response = Response(content, mimetype=mimetype)
    response.headers.set("Content-Disposition", "attachment", filename=name or "file")
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
