"""Accounts and groups for administrators (``engine.management.directory``): find, create, set groups, deactivate
or reactivate, reset a password, and load people in bulk from CSV or JSON (a preview first). Accounts in
``admins`` only — the engine refuses anyone else — and a token needs the ``admin`` scope."""
from __future__ import annotations

from flask import Response, jsonify, request

from webui.rest.auth import caller
from webui.rest.body import json_body
from webui.rest.schemas import error_responses, json_content, ref
from webui.rest.shell import ApiError, api, engine

_USERNAME = {"name": "username", "in": "path", "required": True, "schema": {"type": "string"}}
_ADMIN = " Administrators only; tokens need the `admin` scope."


def _action(operation_id: str, summary: str, description: str, result: str = "AccountState") -> dict:
    return {"parameters": [_USERNAME],
            "post": {"operationId": operation_id, "tags": ["accounts"], "summary": summary,
                     "description": description + _ADMIN,
                     "responses": {"200": json_content(ref(result), summary), **error_responses(401, 403, 404, 409)}}}


PATHS: dict = {  # this module's part of the OpenAPI document (webui.rest.openapi)
    "/accounts": {
        "get": {
            "operationId": "listAccounts", "tags": ["accounts"], "summary": "Find accounts",
            "description": "Accounts by name, with their groups, a page at a time." + _ADMIN,
            "parameters": [
                {"name": "q", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "A part of the account name or display name."},
                {"name": "group", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "active", "in": "query", "required": False, "schema": {"type": "boolean"}},
                {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
                {"name": "per_page", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 500}}],
            "responses": {"200": json_content(ref("AccountPage"), "One page of accounts."),
                          **error_responses(400, 401, 403, 422)},
        },
        "post": {
            "operationId": "createAccount", "tags": ["accounts"], "summary": "Create an account",
            "description": "Without `password` a one-time one is made and answered once (`password`)." + _ADMIN,
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("AccountRequest")}}},
            "responses": {"201": json_content(ref("AccountCreated"), "Created."),
                          **error_responses(400, 401, 403, 409, 422)},
        },
    },
    "/accounts/{username}/groups": {
        "parameters": [_USERNAME],
        "put": {
            "operationId": "setAccountGroups", "tags": ["accounts"], "summary": "Set an account's groups",
            "description": "The account's groups become exactly `groups`; the last administrator keeps theirs."
                           + _ADMIN,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["groups"], "additionalProperties": False,
                "properties": {"groups": {"type": "array", "items": {"type": "string"}}}}}}},
            "responses": {"200": json_content(ref("AccountState"), "The groups now."),
                          **error_responses(400, 401, 403, 404, 409, 422)},
        },
    },
    "/accounts/{username}/deactivate": _action("deactivateAccount", "Deactivate an account",
                                               "Its sessions and tokens stop at once; never one's own."),
    "/accounts/{username}/activate": _action("activateAccount", "Reactivate an account", "It may sign in again."),
    "/accounts/{username}/reset-password": _action("resetPassword", "Reset a password",
                                                   "A new one-time password, answered once; every session ends.",
                                                   "AccountCreated"),
    "/accounts/import": {
        "post": {
            "operationId": "importAccounts", "tags": ["accounts"], "summary": "Load people from CSV or JSON",
            "description": "Multipart `file` (`.csv` with a header row, or `.json` as processes/demo-accounts.json). "
                           "With `preview=true` nothing is written: each row's action (create, update, unchanged, "
                           "error) and problems, and the file's `sha256`. Without it the file is loaded in one "
                           "transaction (422 naming the first bad row, nothing written); give `sha256` to load only "
                           "the previewed file (409 otherwise)." + _ADMIN,
            "parameters": [
                {"name": "preview", "in": "query", "required": False, "schema": {"type": "boolean"}},
                {"name": "sha256", "in": "query", "required": False, "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}}}}}},
            "responses": {"200": json_content(ref("PeopleReport"), "The preview, or what was loaded."),
                          **error_responses(400, 401, 403, 409, 422)},
        },
    },
    "/groups": {
        "get": {
            "operationId": "listGroups", "tags": ["accounts"], "summary": "The groups and their members",
            "description": "Every group with its kind (street, grid, department, district, role, other) and "
                           "its active and all members." + _ADMIN,
            "responses": {"200": json_content({"type": "object", "properties": {
                "groups": {"type": "array", "items": ref("Group")}}}, "Every group."),
                **error_responses(401, 403)},
        },
    },
}


def _admin() -> str:
    who = caller()
    who.require_scope("admin")
    return who.user


def _flag(name: str) -> bool | None:
    value = request.args.get(name, "").strip().lower()
    if value in ("", None):
        return None
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, "bad_request", f"{name} must be true or false, not {value!r}")
    return value in ("true", "1")


def _number(name: str, default: int) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name} must be a whole number, not {value!r}") from None


@api.get("/accounts")
def list_accounts() -> Response:
    return jsonify(engine().accounts(_admin(), request.args.get("q"), request.args.get("group"), _flag("active"),
                                     _number("page", 1), _number("per_page", 50)))


@api.post("/accounts")
def create_account() -> tuple[Response, int]:
    actor = _admin()
    body = json_body({"username", "display_name", "groups", "password"})
    groups = body.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ApiError(422, "invalid_input", "groups must be a list of group names")
    if not isinstance(body.get("username"), str):
        raise ApiError(422, "invalid_input", "username is required (a string)")
    return jsonify(engine().create_account(actor, body["username"], body.get("display_name"), groups,
                                           body.get("password"))), 201


@api.put("/accounts/<username>/groups")
def set_account_groups(username: str) -> Response:
    actor = _admin()
    groups = json_body({"groups"}).get("groups")
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ApiError(422, "invalid_input", "groups must be a list of group names")
    return jsonify(engine().set_account_groups(actor, username, groups))


@api.post("/accounts/<username>/deactivate")
def deactivate_account(username: str) -> Response:
    return jsonify(engine().set_account_active(_admin(), username, False))


@api.post("/accounts/<username>/activate")
def activate_account(username: str) -> Response:
    return jsonify(engine().set_account_active(_admin(), username, True))


@api.post("/accounts/<username>/reset-password")
def reset_account_password(username: str) -> Response:
    return jsonify(engine().reset_password(_admin(), username))


@api.post("/accounts/import")
def import_accounts() -> Response:
    actor = _admin()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError(400, "bad_request", "no file: send it as a multipart/form-data field named 'file'")
    name, content = upload.filename.rsplit("/", 1)[-1], upload.read()
    if _flag("preview"):
        return jsonify(engine().preview_people(actor, name, content))
    return jsonify(engine().load_people(actor, name, content, request.args.get("sha256") or None))


@api.get("/groups")
def list_groups() -> Response:
    return jsonify(groups=engine().account_groups(_admin()))
