"""The one map from an error to its HTTP status, the JSON shape of an error answer, and the error page.

The REST API answers every error as ``{"error": kind, "message": one sentence, "details": {...}}`` (details
only when there is something to add); so do ``/health``, the input bounds (``webui.inputs``) and a lost
database (``webui.dbloss``) under ``/api/``. An engine error's kind (``engine.errors``) gives its status here,
for the API and for the app's own handler; the staff pages show 404 and 403 from this map too and answer any
other failed command with 400 and its message on the error page (``webui.staff.frame``). People see every
error as ``error_page``: its English comes from the catalog (``engine.i18n``).
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template
from werkzeug.exceptions import RequestEntityTooLarge

from engine.errors import DeploymentInvalid, IncidentRaised, WhistleError
from engine.forms.contracts import InvalidSubmission
from engine.forms.limits import DataOutOfBounds
from engine.i18n import translate

STATUS = {"bad_request": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "method_not_allowed": 405,
          "conflict": 409, "invalid": 422, "invalid_deployment": 422, "incident": 422, "internal": 500,
          "not_migrated": 503, "error": 400}
KIND_OF_STATUS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                  405: "method_not_allowed", 409: "conflict", 413: "bad_request", 415: "bad_request",
                  422: "invalid", 429: "too_many_requests", 503: "not_migrated"}


def status_of(kind: str) -> int:
    """The HTTP status of an error kind (``WhistleError.kind``); 400 for a kind the map does not know."""
    return STATUS.get(kind, 400)


def kind_of(status: int) -> str:
    """The error kind of an HTTP status that Flask or werkzeug raised (an unknown path, a wrong method…)."""
    return KIND_OF_STATUS.get(status, "bad_request" if status < 500 else "internal")


def error_response(status: int, kind: str, message: str, details: dict | None = None,
                   headers: list[tuple[str, str]] | None = None) -> Response:
    """An error in the API's shape."""
    body: dict[str, Any] = {"error": kind, "message": message}
    if details:
        body["details"] = details
    response = jsonify(body)
    response.status_code = status
    for name, value in headers or []:
        response.headers.add(name, value)
    return response


def engine_error_details(exc: WhistleError) -> dict | None:
    """What the API adds to an engine error's message: the incident, the deployment's problems, the field."""
    if isinstance(exc, IncidentRaised):
        return {"incident_id": exc.incident_id, "instance_id": exc.instance_id}
    if isinstance(exc, DeploymentInvalid):
        return {"problems": [p.to_dict() for p in exc.problems]}
    if isinstance(exc, DataOutOfBounds):
        return {"field": exc.field, "reason": exc.reason}
    if isinstance(exc, InvalidSubmission):  # the contract check (engine.forms.contracts): messages by field
        return {"fields": exc.field_errors, "unknown_fields": exc.unknown}
    return None


def engine_error_response(exc: WhistleError) -> Response:
    """An engine error under ``/api/``."""
    return error_response(status_of(exc.kind), exc.kind, exc.message, engine_error_details(exc))


def error_page(status: int, title: str, text: str, **values: object) -> tuple[str, int]:
    """The error page: ``title`` and ``text`` are page texts (Chinese, translated by the catalog when the reader
    chose English), ``text`` formatted with ``values``."""
    return render_template("error.html", status=status, title=title, message=translate(text, "zh", **values),
                           message_en=translate(text, "en", **values)), status


def init_app(app: Flask) -> None:
    """The app's own handlers, for what the API and the pages do not catch themselves: an engine error (on
    ``/health``) as its ``to_dict()`` with its status, and a request too large for ``MAX_CONTENT_LENGTH``."""
    @app.errorhandler(WhistleError)
    def whistle_error(exc: WhistleError) -> tuple[Response, int]:
        return jsonify(exc.to_dict()), status_of(exc.kind)

    @app.errorhandler(413)
    def _too_large(_exc: RequestEntityTooLarge) -> tuple[str, int]:
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return error_page(413, "文件太大", "一次提交的文件合计不能超过 {limit} MB，没有做任何更改。"
                                           "请减少或压缩附件后重试。", limit=limit)
