"""The API's blueprint and what every endpoint shares: errors in one shape (``webui.errors``), unknown paths and
methods under ``/api/`` answered in that shape too, no caching, and the engine of the app."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as RoutingNotFound

from engine.api import Whistle
from engine.errors import WhistleError
from webui import dbloss
from webui.errors import engine_error_response, error_response, kind_of

api = Blueprint("api", __name__)

PREFIX = "/api/"


def engine() -> Whistle:
    return current_app.extensions["whistle"]


class ApiError(Exception):
    """An answer other than success, raised anywhere in an endpoint: its status, kind, message and details."""

    def __init__(self, status: int, kind: str, message: str, details: dict | None = None,
                 headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.details, self.headers = status, kind, message, details, headers


@api.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.kind, exc.message, exc.details, exc.headers)


@api.errorhandler(WhistleError)
def _engine_error(exc: WhistleError) -> Response:
    return engine_error_response(exc)


@api.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers = [("Allow", ", ".join(exc.valid_methods))] if isinstance(exc, MethodNotAllowed) and exc.valid_methods \
        else None
    return error_response(status, kind_of(status), exc.description or exc.name, None, headers)


@api.errorhandler(Exception)
def _unexpected(exc: Exception) -> ResponseReturnValue:
    if dbloss.unavailable(exc):  # the database went away: one more try for a read, else 503 (webui.dbloss)
        return dbloss.answer(exc)
    current_app.logger.exception("unexpected error in %s %s", request.method, request.path)
    return error_response(500, "internal", "an unexpected error occurred; nothing is reported beyond this "
                                           "(see the server log)")


@api.before_app_request
def _routing_errors() -> Response | None:
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
