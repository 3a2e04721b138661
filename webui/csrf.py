"""CSRF protection for the server-rendered pages: one random token per session, sent back by every form.

Every state-changing request (POST, PUT, PATCH, DELETE) outside the token-authenticated JSON API must carry the
session's token in the form field ``csrf_token`` (or the ``X-CSRF-Token`` header, for the few fetch calls).
A missing or wrong token is refused with 400 and a Chinese explanation; nothing is changed. A post that comes
with no session at all (its cookie expired) may be answered by the hook in ``app.extensions[SIGNED_OUT]`` instead:
the staff pages send the person to sign in again, then back to the form (``webui.staff.frame.session_ended``).
"""
from __future__ import annotations

import hmac
import secrets

from flask import Flask, request, session
from flask.typing import ResponseReturnValue

from webui.errors import error_page

SESSION_KEY = "_csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SIGNED_OUT = "csrf_signed_out"  # app.extensions: () -> a response (or None) for a post without any session


def token() -> str:
    """The session's token (created on first use)."""
    value = session.get(SESSION_KEY)
    if not value:
        value = secrets.token_urlsafe(32)
        session[SESSION_KEY] = value
    return value


def rotate() -> str:
    """A fresh token (after signing in or out)."""
    session[SESSION_KEY] = secrets.token_urlsafe(32)
    return session[SESSION_KEY]


def valid() -> bool:
    expected = session.get(SESSION_KEY)
    sent = request.form.get(FIELD) or request.headers.get(HEADER)
    return bool(expected and sent and hmac.compare_digest(str(sent), str(expected)))


def init_app(app: Flask, exempt_prefixes: tuple[str, ...] = ("/api/",)) -> None:
    app.jinja_env.globals["csrf_token"] = token

    @app.before_request
    def _check_csrf() -> ResponseReturnValue | None:
        if request.method in SAFE_METHODS or request.path.startswith(exempt_prefixes):
            return None
        if valid():
            return None
        answer = app.extensions[SIGNED_OUT]() if SIGNED_OUT in app.extensions and not session.get(SESSION_KEY) \
            else None
        if answer is not None:
            return answer
        return error_page(400, "表单校验失败", "表单已过期或来源不明（CSRF 校验失败），没有做任何更改。"
                                               "请返回上一页，刷新后重新提交。")
