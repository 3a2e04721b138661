"""What every staff page shares: the blueprint, who is signed in, the sign-in and role checks, the page frame's
template values, and the error page for what the engine refuses.

Every view asks the engine whether the signed-in user may see or do what they ask (``engine.casework``); the
templates only draw what they are given.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, flash, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from engine.api import Whistle
from engine.errors import Forbidden, NotFound, WhistleError
from engine.time import clock
from webui import signin
from webui.errors import error_page, status_of
from webui.i18n import gettext as _

pages = Blueprint("pages", __name__)
PAGE_SIZE = 30  # rows on a page of the inbox and of the case list
ROLE_NAMES = {"designer": "流程设计人员", "admin": "系统管理员"}


def engine() -> Whistle:
    return current_app.extensions["whistle"]


def current_user() -> dict | None:
    """The signed-in account (name, display name, groups, roles), read once per request; None when signed out."""
    if "user_info" in g:
        return g.user_info
    username = session.get("user")
    info = signin.session_user(username, session.get("session_version")) if username else None
    if username and info is None:
        session.clear()  # the account was removed or deactivated, or the session ended (signed out elsewhere)
    g.user_info = info
    return info


def signed_in_user() -> dict:
    """The signed-in account, in a view behind ``login_required``."""
    user = current_user()
    assert user is not None, "a view behind login_required"
    return user


# A path on this site: one slash, then no second slash or backslash (``//evil``, ``/\\evil`` leave the site).
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\\]*")


def safe_next(target: str | None) -> str:
    """Where to go after signing in or a button: ``target`` when it is a path on this site, else the inbox."""
    # Control and format characters are refused outright: browsers drop tabs and newlines from a Location,
    # so "/\t/evil.example" would become "//evil.example".
    if target and _LOCAL_PATH.fullmatch(target) and not any(unicodedata.category(c)[0] == "C" for c in target):
        return target
    return url_for("pages.inbox")


def return_path() -> str:
    """Where signing in brings the person back: this page; after a post (their session had ended) the page that
    shows the form again — its own URL when that answers GET (a task, a start form), else the nearest page above
    it that does (``/tasks/<id>/claim`` → ``/tasks/<id>``). What was typed is kept by the browser (app.js)."""
    if request.method in ("GET", "HEAD"):
        return request.full_path.rstrip("?")
    adapter = current_app.url_map.bind(request.host)
    path = request.path.rstrip("/")
    while path:
        try:
            adapter.match(path, method="GET")
            return path
        except HTTPException:  # no page there (404, 405, a redirect): try the one above
            path = path.rsplit("/", 1)[0]
    return url_for("pages.inbox")


def _to_sign_in() -> ResponseReturnValue:
    posted = request.method not in ("GET", "HEAD")
    flash(_("登录已失效，请重新登录；登录后回到原页面，可恢复未提交的内容") if posted else _("请先登录"), "info")
    return redirect(url_for("pages.login", next=return_path()))


def session_ended() -> ResponseReturnValue | None:
    """A post to a page that came with no session at all (its cookie expired overnight): nothing is done (it
    cannot act for anyone, so a forged one gains nothing) and the person signs in again, as on any page while
    signed out, then comes back to the form (``webui.csrf`` asks; the sign-in form itself keeps its check)."""
    if request.blueprint != pages.name or request.endpoint == "pages.login":
        return None
    return _to_sign_in()


def login_required(view: Callable | None = None, *, role: str | None = None) -> Callable:
    """A view for signed-in users (with ``role``: designers or administrators; administrators may do all)."""
    def decorate(func: Callable) -> Callable:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            user = current_user()
            if user is None:
                return _to_sign_in()
            if role and role not in user["roles"] and "admin" not in user["roles"]:
                return error_page(403, "无权访问", "这一页只对{role}开放。", role=ROLE_NAMES.get(role, role))
            return func(*args, **kwargs)
        return wrapper
    return decorate(view) if view is not None else decorate


@pages.app_context_processor
def _frame() -> dict[str, Any]:
    user = current_user() if session.get("user") else None
    return {"user": user, "demo_mode": clock.mode() in ("demo", "test"), "lang_url": _lang_url,
            "poll_seconds": current_app.config.get("POLL_SECONDS", 10),
            # the bell's count, read only by a page that shows the bell (one indexed count)
            "unread_notifications": (lambda: engine().unread_notifications(user["username"])) if user else None}


def _lang_url(code: str) -> str:
    args = request.args.to_dict(flat=False)
    args["lang"] = [code]
    return request.path + "?" + urlencode(args, doseq=True)


@pages.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[str, int]:
    return error_page(status_of(exc.kind), "找不到", "要找的内容不存在或已被删除。", message=exc.message)


@pages.errorhandler(Forbidden)
def _forbidden(exc: Forbidden) -> tuple[str, int]:
    return error_page(status_of(exc.kind), "无权查看", "你没有权限查看或办理这项内容。部门只能看到本部门参与的案件。")


@pages.errorhandler(WhistleError)
def _whistle_error(exc: WhistleError) -> tuple[str, int]:
    # Any other refused command: the page says why, with 400 (the form it came from is one click back).
    return error_page(400, "操作失败", exc.message)  # the engine's own sentence, in both languages
