"""Signing in and out of the staff pages (the checks and limits themselves: ``webui.signin``)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from engine.time import clock
from webui import csrf, signin
from webui.demo import demo_logins
from webui.i18n import gettext as _
from webui.staff.frame import current_user, pages, safe_next


@pages.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    next_url = safe_next(request.values.get("next"))
    error = outcome = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        outcome = signin.attempt(username, password, "page")
        if outcome.ok:
            lang = session.get("lang")
            session.clear()  # no session fixation: a fresh session for the signed-in user
            session.permanent = True
            session["user"] = outcome.username
            session["session_version"] = outcome.session_version  # checked on every request (current_user)
            if lang:
                session["lang"] = lang
            csrf.rotate()
            return redirect(next_url)
        if outcome.locked_until is not None:
            error = _("登录失败次数过多，请 {n} 分钟后再试", n=max(1, -(-outcome.retry_after() // 60)))
        else:
            error = _("用户名或密码不正确")
    status = 401 if error else 200
    headers = {}
    if outcome is not None and outcome.locked_until is not None:
        status, headers = 429, {"Retry-After": str(outcome.retry_after())}
    return render_template("login.html", error=error, next_url=next_url,
                           demo=demo_logins() if clock.mode() in ("demo", "test") else []), status, headers


@pages.post("/logout")
def logout() -> ResponseReturnValue:
    if current_user() is not None:
        signin.end_sessions(session["user"])  # a copy of this cookie, saved elsewhere, ends too
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    csrf.rotate()
    flash(_("已退出登录"), "info")
    return redirect(url_for("pages.login"))


@pages.get("/")
def home() -> ResponseReturnValue:
    return redirect(url_for("pages.inbox") if current_user() else url_for("pages.login"))
