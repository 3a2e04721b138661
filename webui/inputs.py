"""Bounds on what a request may carry, checked before any view runs (issue 19, finding 6): an id in the path
beyond the database's ``integer``, a page number whose offset leaves ``bigint``, a NUL character (which
PostgreSQL text cannot hold) in the path, the query or a submitted form. Each is refused with 422 — the
API's error shape under ``/api/``, the error page elsewhere — instead of failing in the database as a 500.

JSON bodies are checked by ``webui.rest.body.json_body`` with the engine's own rule (``engine.forms.limits``).
"""
from __future__ import annotations

from flask import Flask, request
from flask.typing import ResponseReturnValue

from engine.forms.limits import BIGINT_MAX, INT4_MAX
from webui.errors import error_page, error_response

PAGE_SIZE_BOUND = 1000  # no list page shows more rows than this, so page × size stays far below bigint
MAX_PAGE = BIGINT_MAX // PAGE_SIZE_BOUND
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class OutOfBounds(Exception):
    def __init__(self, message: str, details: dict) -> None:
        super().__init__(message)
        self.message, self.details = message, details


def refused(message: str, details: dict) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return error_response(422, "invalid", message, details)
    return error_page(422, "输入超出范围", "请求中的内容超出允许的范围，没有做任何更改。", problem=message)


def page_number(name: str = "page") -> int:
    """A list page's ``page`` query parameter: 1 when absent or not a number, 422 beyond ``MAX_PAGE``."""
    page = max(request.args.get(name, 1, type=int) or 1, 1)
    if page > MAX_PAGE:
        raise OutOfBounds(f"query parameter '{name}' must be at most {MAX_PAGE}", {"parameter": name})
    return page


def _problem() -> tuple[str, dict] | None:
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and not isinstance(value, bool) and value > INT4_MAX:
            return f"'{name}' must be at most {INT4_MAX}", {"parameter": name}
        if isinstance(value, str) and "\x00" in value:
            return f"'{name}' contains a NUL character", {"parameter": name}
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            return f"query parameter '{name}' contains a NUL character", {"parameter": name.replace("\x00", "")}
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.mimetype in _FORM_TYPES \
            and not request.path.startswith("/api/"):
        for name, value in request.form.items(multi=True):
            if "\x00" in name or "\x00" in value:
                return f"form field '{name}' contains a NUL character", {"field": name.replace("\x00", "")}
    return None


def init_app(app: Flask) -> None:
    @app.before_request
    def _bounded_inputs() -> ResponseReturnValue | None:
        problem = _problem()
        return refused(*problem) if problem else None

    @app.errorhandler(OutOfBounds)
    def _out_of_bounds(exc: OutOfBounds) -> ResponseReturnValue:
        return refused(exc.message, exc.details)
