"""The REST API under ``/api/v1``: a thin JSON shell over ``engine.api.Whistle`` for other systems (a 12345
hotline, a grid platform) and for scripts. Documented by ``webui.openapi`` at ``/api/v1/openapi.json``.

Authentication is per request, from the ``Authorization`` header only: HTTP Basic with a local account, or
``Bearer <token>`` for a system client (``whistle token create``). Cookies are never read here, so a browser
session cannot be ridden by another site (no CSRF on the API) and no CSRF token is needed.

Errors always have one shape: ``{"error": kind, "message": one sentence, "details": {...}}`` (details only
when there is something to add), with 400 malformed body, 401 unauthenticated, 403 forbidden, 404 not
found, 405 method not allowed, 409 conflict, 422 invalid input or an incident, 503 database not migrated.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound as RoutingNotFound

from engine.identity.accounts import check_password, groups_of
from engine.api import Whistle
from engine.forms.contracts import InvalidSubmission
from engine.errors import DeploymentInvalid, IncidentRaised, NotFound, WhistleError
from engine.forms.limits import BIGINT_MAX, DataOutOfBounds, data_problem
from engine.store.models import UserAccount

from . import dbloss, signin
from .openapi import openapi_document

api = Blueprint("api", __name__)

PREFIX = "/api/"
REALM = "whistle"
MESSAGE_GROUPS = frozenset({"admins"})  # accounts (HTTP Basic) that may send messages by hand
STATUS = {"bad_request": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "method_not_allowed": 405,
          "conflict": 409, "invalid": 422, "invalid_deployment": 422, "incident": 422, "internal": 500,
          "not_migrated": 503, "error": 400}
KIND_OF_STATUS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                  405: "method_not_allowed", 409: "conflict", 413: "bad_request", 415: "bad_request",
                  422: "invalid", 429: "too_many_requests", 503: "not_migrated"}
PUBLIC_ENDPOINTS = {"api.openapi"}


def engine() -> Whistle:
    return current_app.extensions["whistle"]


# -- errors ------------------------------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str, details: dict | None = None,
                 headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status, self.kind, self.message, self.details, self.headers = status, kind, message, details, headers


def error_response(status: int, kind: str, message: str, details: dict | None = None,
                   headers: list[tuple[str, str]] | None = None) -> Response:
    body: dict[str, Any] = {"error": kind, "message": message}
    if details:
        body["details"] = details
    response = jsonify(body)
    response.status_code = status
    for name, value in headers or []:
        response.headers.add(name, value)
    return response


def _challenges(error: str | None = None) -> list[tuple[str, str]]:
    bearer = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    return [("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"'), ("WWW-Authenticate", bearer)]


@api.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return error_response(exc.status, exc.kind, exc.message, exc.details, exc.headers)


@api.errorhandler(WhistleError)
def _engine_error(exc: WhistleError):
    details = None
    if isinstance(exc, IncidentRaised):
        details = {"incident_id": exc.incident_id, "instance_id": exc.instance_id}
    elif isinstance(exc, DeploymentInvalid):
        details = {"problems": [p.to_dict() for p in exc.problems]}
    elif isinstance(exc, DataOutOfBounds):
        details = {"field": exc.field, "reason": exc.reason}
    elif isinstance(exc, InvalidSubmission):  # the contract check (engine.contracts): messages by field
        details = {"fields": exc.field_errors, "unknown_fields": exc.unknown}
    return error_response(STATUS.get(exc.kind, 400), exc.kind, exc.message, details)


@api.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    status = exc.code or 500
    headers = [("Allow", ", ".join(exc.valid_methods))] if isinstance(exc, MethodNotAllowed) and exc.valid_methods \
        else None
    return error_response(status, KIND_OF_STATUS.get(status, "bad_request" if status < 500 else "internal"),
                          exc.description or exc.name, None, headers)


@api.errorhandler(Exception)
def _unexpected(exc: Exception):
    if dbloss.unavailable(exc):  # the database went away: one more try for a read, else 503 (webui.dbloss)
        return dbloss.answer(exc)
    current_app.logger.exception("unexpected error in %s %s", request.method, request.path)
    return error_response(500, "internal", "an unexpected error occurred; nothing is reported beyond this "
                                           "(see the server log)")


@api.before_app_request
def _routing_errors():
    """Unknown paths and methods under /api/ get the JSON error shape too (they never reach a blueprint)."""
    exc = request.routing_exception
    if exc is None or not request.path.startswith(PREFIX):
        return None
    if isinstance(exc, (RoutingNotFound, MethodNotAllowed)):
        return _http_error(exc)
    return None


@api.after_request
def _no_store(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    response.vary.add("Authorization")
    return response


# -- authentication ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    user: str
    via: str  # basic | bearer
    scopes: frozenset[str] | None = None  # a token's scopes; None for an account (all its own rights)
    token: str | None = None  # the token's name

    def require_scope(self, scope: str) -> None:
        if self.via == "bearer" and scope not in (self.scopes or ()):
            raise ApiError(403, "forbidden", f"token '{self.token}' does not have the '{scope}' scope",
                           {"required_scope": scope, "token_scopes": sorted(self.scopes or ())})


class VerifiedPasswords:
    """Remembers, per process, which (account, stored hash, password) triples scrypt has already accepted, so
    that HTTP Basic costs one indexed read per request instead of ≈50 ms of scrypt. Keys are HMACs under a
    random per-process key; changing the password (the stored hash) or deactivating the account takes
    effect at once because both are read on every request."""

    def __init__(self, size: int = 4096) -> None:
        self._key = os.urandom(32)
        self._size = size
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, username: str, stored: str, password: str) -> bytes:
        return hmac.new(self._key, "\0".join((username, stored, password)).encode("utf-8"), hashlib.sha256).digest()

    def known(self, username: str, stored: str, password: str) -> bool:
        """Accepted before (no scrypt needed)."""
        digest = self._digest(username, stored, password)
        with self._lock:
            if digest in self._seen:
                self._seen.move_to_end(digest)
                return True
        return False

    def remember(self, username: str, stored: str, password: str) -> None:
        """scrypt has just accepted this triple."""
        digest = self._digest(username, stored, password)
        with self._lock:
            self._seen[digest] = None
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)

    def check(self, username: str, stored: str, password: str) -> bool:
        if self.known(username, stored, password):
            return True
        if not check_password(stored, password):
            return False
        self.remember(username, stored, password)
        return True


@api.record_once
def _setup(state) -> None:
    state.app.extensions.setdefault("whistle_api_passwords", VerifiedPasswords())


def _basic(username: str, password: str) -> Caller | None:
    """The account, when the password is right; counted against the sign-in limits like the sign-in page
    (``webui.signin``), and 429 while the name or the client address is locked."""
    outcome = signin.attempt(username, password, "basic", current_app.extensions["whistle_api_passwords"])
    if outcome.locked_until is not None:
        wait = outcome.retry_after()
        raise ApiError(429, "too_many_requests", f"too many failed sign-ins for this account or from this address; "
                                                 f"try again in {-(-wait // 60)} minutes",
                       {"retry_after": wait}, [("Retry-After", str(wait))])
    return Caller(username, "basic") if outcome.ok else None


def authenticate() -> Caller:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        found = engine().authenticate_token(credentials.strip()) if credentials.strip() else None
        if found is None:
            raise ApiError(401, "unauthorized", "the bearer token is unknown or revoked", None,
                           _challenges("invalid_token"))
        return Caller(found["user"], "bearer", found["scopes"], found["name"])
    if scheme == "basic":
        auth = request.authorization
        if auth is not None and auth.type == "basic" and auth.username and auth.password:
            caller = _basic(auth.username, auth.password)
            if caller is not None:
                return caller
        raise ApiError(401, "unauthorized", "wrong user name or password", None, _challenges())
    raise ApiError(401, "unauthorized", "authenticate with HTTP Basic (a Whistle account) or a bearer token; "
                                        "cookies are not accepted by the API", None, _challenges())


@api.before_request
def _authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    g.api_caller = authenticate()
    return None


def caller() -> Caller:
    return g.api_caller


# -- request parsing ---------------------------------------------------------------------------------------

def json_body(allowed: set[str]) -> dict:
    """The request body as a JSON object (an empty body is ``{}``); 400 when it is not one, 422 for unknown
    fields."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_request", f"the request body is not valid JSON: {exc}")
    except RecursionError:
        raise ApiError(400, "bad_request", "the request body is nested too deeply")
    if not isinstance(value, dict):
        raise ApiError(400, "bad_request", f"the request body must be a JSON object, not {_json_type(value)}")
    # Before anything runs: what the engine could not store and answer with (engine.limits) is refused here.
    problem = data_problem(value, "body")
    if problem is not None:
        field_path, reason = problem
        raise ApiError(422, "invalid", f"'{field_path}' {reason}; nothing was changed",
                       {"field": field_path, "reason": reason})
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ApiError(422, "invalid", f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                                       f"allowed: {', '.join(sorted(allowed)) or 'none'}",
                       {"unknown_fields": unknown})
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")  # json.loads accepts NaN and Infinity; JSON does not


def _json_type(value) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def field(body: dict, name: str, kind: str, *, maximum: int | None = None):
    """One optional field, checked: ``object``, ``string`` or ``integer`` (≥ 1); 422 with the field named."""
    if name not in body:
        return None
    value = body[name]
    ok = {"object": isinstance(value, dict),
          "string": isinstance(value, str) or value is None,
          "integer": (isinstance(value, int) and not isinstance(value, bool) and value >= 1) or value is None}[kind]
    if not ok:
        wanted = {"object": "a JSON object", "string": "a string or null",
                  "integer": "a whole number ≥ 1 or null"}[kind]
        raise ApiError(422, "invalid", f"'{name}' must be {wanted}, not {_json_type(value)}",
                       {"field": name, "expected": kind})
    if kind == "string" and value is not None and maximum is not None and len(value) > maximum:
        raise ApiError(422, "invalid", f"'{name}' is longer than {maximum} characters", {"field": name})
    return value


def int_arg(name: str, default: int, low: int, high: int = BIGINT_MAX) -> int:
    text = request.args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, "bad_request", f"query parameter '{name}' must be a whole number, not {text!r}",
                       {"parameter": name})
    if value < low or value > high:  # the database holds bigint at most: beyond that is a 422, not a 500
        bounds = f"between {low} and {high}"
        raise ApiError(422, "invalid", f"query parameter '{name}' must be {bounds}", {"parameter": name})
    return value


def require_instance_visible(instance_id: int) -> None:
    if not engine().can_see_instance(caller().user, instance_id):
        raise ApiError(403, "forbidden", f"{caller().user} may not read instance {instance_id}: only its starter, "
                                         f"the people and groups its tasks are or were offered to, supervisors "
                                         f"and admins may")


def instance_view(instance_id: int) -> dict:
    shown = engine().show(instance_id)
    shown.pop("audit", None)
    shown["history"] = f"/api/v1/instances/{instance_id}/history"
    return shown


# -- endpoints ---------------------------------------------------------------------------------------------

@api.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@api.get("/tasks")
def inbox():
    """The caller's inbox: open tasks claimed by them or offered to them (their groups) and not claimed."""
    limit = int_arg("limit", 50, 1, 500)
    offset = int_arg("offset", 0, 0, BIGINT_MAX - 500)  # the engine reads offset + limit rows: both stay bigint
    process_id = request.args.get("process_id") or None
    tasks = engine().tasks(caller().user, limit=limit, offset=offset, process_id=process_id)
    return jsonify(user=caller().user, limit=limit, offset=offset, process_id=process_id, tasks=tasks)


@api.get("/tasks/<task_id>")
def get_task(task_id: str):
    task = engine().task(task_id)
    require_instance_visible(task["instance_id"])
    return jsonify(task)


@api.post("/tasks/<task_id>/claim")
def claim(task_id: str):
    caller().require_scope("tasks")
    json_body(set())
    return jsonify(engine().claim(task_id, caller().user))


@api.post("/tasks/<task_id>/unclaim")
def unclaim(task_id: str):
    caller().require_scope("tasks")
    json_body(set())
    return jsonify(engine().unclaim(task_id, caller().user))


@api.post("/tasks/<task_id>/complete")
def complete(task_id: str):
    caller().require_scope("tasks")
    body = json_body({"data"})
    data = field(body, "data", "object")
    return jsonify(engine().complete(task_id, caller().user, data))


@api.post("/processes/<process_id>/instances")
def start(process_id: str):
    caller().require_scope("start")
    body = json_body({"data", "business_key", "version"})
    data = field(body, "data", "object")
    business_key = field(body, "business_key", "string", maximum=255)
    version = field(body, "version", "integer")
    try:
        instance_id = engine().start(process_id, version, data, business_key, caller().user)
    except NotFound:
        versions = sorted(d["version"] for d in engine().definitions()
                          if d["process_id"] == process_id and d["kind"] == "process")
        if version is not None and versions:
            raise ApiError(422, "invalid", f"process '{process_id}' has no version {version} "
                                           f"(deployed: {', '.join(map(str, versions))})",
                           {"field": "version", "process_id": process_id, "versions": versions})
        raise
    try:
        body = instance_view(instance_id)
    except Exception:  # the instance is committed: answer 201 with its id rather than a 500 inviting a retry
        current_app.logger.exception("instance %s started, but reading it back failed", instance_id)
        body = {"instance_id": instance_id, "process_id": process_id}
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/instances/{instance_id}"
    return response


@api.get("/instances/<int:instance_id>")
def get_instance(instance_id: int):
    require_instance_visible(instance_id)
    return jsonify(instance_view(instance_id))


@api.get("/instances/<int:instance_id>/history")
def history(instance_id: int):
    require_instance_visible(instance_id)
    return jsonify(instance_id=instance_id, events=engine().history(instance_id))


@api.get("/definitions")
def definitions():
    return jsonify(definitions=engine().definitions())


@api.post("/messages/<name>")
def message(name: str):
    who = caller()
    if who.via == "bearer":
        who.require_scope("message")
    else:
        with engine().db.read() as session:
            account = session.execute(select(UserAccount).where(UserAccount.username == who.user)).scalar()
            groups = groups_of(session, account) if account is not None else set()
        if not groups & MESSAGE_GROUPS:
            raise ApiError(403, "forbidden", "messages come from system clients: use a bearer token with the "
                                             "'message' scope (accounts in the admins group may send one by hand)")
    body = json_body({"key", "data"})
    key = field(body, "key", "string", maximum=255)
    data = field(body, "data", "object")
    return jsonify(engine().message(name, key, data, actor=who.user))
