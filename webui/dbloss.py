"""When the database goes away under a request (a restarted or failed-over PostgreSQL, a terminated backend).

Pooled connections are pinged before use (``engine.store.db``), so a connection that died while idle is
replaced unnoticed. One that dies during a request fails it; then:

- a read (GET, HEAD) is run once more from the start, on a fresh connection: it changes nothing, so
  running it again is safe and the caller sees only a slower answer;
- anything else, or a read that fails again, answers 503 with ``Retry-After`` — JSON in the API's error
  shape under ``/api/``, the error page elsewhere — instead of a generic 500. A write may or may not have
  committed when its connection dropped, so the answer says to look before submitting again.

Which errors mean a lost database is the store's knowledge (``engine.store.errors``).
"""
from __future__ import annotations

from flask import Flask, Response, current_app, g, request
from flask.typing import ResponseReturnValue

from engine.store.errors import DATABASE_ERRORS, connection_dropped, is_database_lost
from webui.errors import error_page, error_response

RETRY_AFTER_SECONDS = 5
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


class RetryRead(Exception):
    """Raised by the error handler to ask ``WhistleFlask`` to run the request once more."""


def unavailable(exc: BaseException) -> bool:
    """The database cannot be reached (connection refused or dropped), as opposed to a statement's fault."""
    return is_database_lost(exc)


def answer(exc: BaseException) -> ResponseReturnValue:
    """Retry a read whose connection dropped (once per request); otherwise the 503."""
    cause = getattr(exc, "orig", None) or exc
    if connection_dropped(exc) and g.pop("whistle_read_retries", 0) > 0:
        current_app.logger.warning("database connection lost during %s %s; reading once more: %s",
                                   request.method, request.path, cause)
        raise RetryRead() from exc
    current_app.logger.error("database unavailable during %s %s: %s", request.method, request.path, cause)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.path.startswith("/api/") or request.path == "/health":  # machines read these: JSON
        response = error_response(503, "unavailable", "the database is unavailable for a moment; try again in a "
                                                      "few seconds (a change sent just now may or may not have "
                                                      "been saved: read before sending it again)",
                                  {"retry_after": RETRY_AFTER_SECONDS})
        response.headers.update(headers)
        return response
    page, status = error_page(503, "暂时无法连接数据库",
                              "数据库暂时无法连接，请稍后重试。如果刚才提交了表单，请先查看是否已经保存，再决定是否重新提交。")
    return page, status, headers


class WhistleFlask(Flask):
    """Flask, with one transparent re-run of a read whose database connection dropped (see ``answer``)."""

    def full_dispatch_request(self) -> Response:
        g.whistle_read_retries = 1 if request.method in IDEMPOTENT else 0
        try:
            return super().full_dispatch_request()
        except RetryRead:
            return super().full_dispatch_request()


def init_app(app: Flask) -> None:
    """For the pages and ``/health``; the API asks ``unavailable``/``answer`` in its own handler (``webui.rest``)."""
    def _database_error(exc: Exception) -> ResponseReturnValue:
        if unavailable(exc):
            return answer(exc)
        raise exc  # a statement's fault: Flask's usual 500

    for error in DATABASE_ERRORS:
        app.register_error_handler(error, _database_error)
