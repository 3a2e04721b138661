"""CSRF protection for the server-rendered pages: one random token per session, sent back by every form.

Every state-changing request (POST, PUT, PATCH, DELETE) outside the token-authenticated JSON API must carry the
session's token in the form field ``csrf_token`` (or the ``X-CSRF-Token`` header, for the few fetch calls).
A missing or wrong token is refused with 400 and a Chinese explanation; nothing is changed.
"""
from __future__ import annotations

import hmac
import secrets

from flask import Flask, render_template, request, session
from flask.typing import ResponseReturnValue

SESSION_KEY = "_csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


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
        return render_template("error.html", status=400, title="表单校验失败",
                               message="表单已过期或来源不明（CSRF 校验失败），没有做任何更改。"
                                       "请返回上一页，刷新后重新提交。",
                               message_en="The form has expired or did not come from this site (CSRF check failed); "
                                          "nothing was changed. Go back, reload the page and submit again."), 400
