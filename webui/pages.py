"""The staff pages: sign-in, inbox, task forms, starting work, case pages, attachments, designer and admin views.

Every view asks the engine whether the signed-in user may see or do what they ask (``engine.casework``); the
templates only draw what they are given.
"""
from __future__ import annotations

import re
import secrets
import unicodedata
from functools import wraps
from pathlib import Path
from urllib.parse import urlencode

from flask import (Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request,
                   send_file, send_from_directory, session, url_for)

from engine.time import clock
from engine.forms import schema as form_lib
from engine.api import Whistle
from engine.forms.contracts import InvalidSubmission
from engine.errors import Conflict, Forbidden, IncidentRaised, InvalidInput, NotFound, WhistleError
from engine.time.workdays import timezone as local_zone

from . import csrf, display, formview, inputs, signin
from .i18n import current as current_lang, gettext as _, pick

pages = Blueprint("pages", __name__)
TASK_PAGE_SIZE = 30


def engine() -> Whistle:
    return current_app.extensions["whistle"]


# ---------------------------------------------------------------------------------------------------------
# Who is signed in

def current_user() -> dict | None:
    if "user_info" in g:
        return g.user_info
    username = session.get("user")
    info = signin.session_user(username, session.get("session_version")) if username else None
    if username and info is None:
        session.clear()  # the account was removed or deactivated, or the session ended (signed out elsewhere)
    g.user_info = info
    return info


# A path on this site: one slash, then no second slash or backslash (``//evil``, ``/\\evil`` leave the site).
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\\]*")


def _safe_next(target: str | None) -> str:
    # Control and format characters are refused outright: browsers drop tabs and newlines from a Location,
    # so "/\t/evil.example" would become "//evil.example".
    if target and _LOCAL_PATH.fullmatch(target) and not any(unicodedata.category(c)[0] == "C" for c in target):
        return target
    return url_for("pages.inbox")


def login_required(view=None, *, role: str | None = None):
    def decorate(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user is None:
                flash(_("请先登录"), "info")
                return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
            if role and role not in user["roles"] and "admin" not in user["roles"]:
                return _error(403, "无权访问", "这一页只对{role}开放。".format(
                    role={"designer": "流程设计人员", "admin": "系统管理员"}.get(role, role)),
                              "This page is for another role.")
            return func(*args, **kwargs)
        return wrapper
    return decorate(view) if view is not None else decorate


@pages.app_context_processor
def _frame():
    user = current_user() if session.get("user") else None
    return {"user": user, "demo_mode": clock.mode() in ("demo", "test"), "lang_url": _lang_url,
            "poll_seconds": current_app.config.get("POLL_SECONDS", 10)}


def _lang_url(code: str) -> str:
    args = request.args.to_dict(flat=False)
    args["lang"] = [code]
    return request.path + "?" + urlencode(args, doseq=True)


def _error(status: int, title: str, message: str, message_en: str = ""):
    return render_template("error.html", status=status, title=title, message=message, message_en=message_en), status


@pages.errorhandler(NotFound)
def _not_found(exc):
    return _error(404, "找不到", "要找的内容不存在或已被删除。", f"Not found: {exc.message}")


@pages.errorhandler(Forbidden)
def _forbidden(exc):
    return _error(403, "无权查看", "你没有权限查看或办理这项内容。部门只能看到本部门参与的案件。",
                  "You may not see or do this: departments see only the cases they take part in.")


@pages.errorhandler(WhistleError)
def _whistle_error(exc):
    return _error(400, "操作失败", exc.message, exc.message)


# ---------------------------------------------------------------------------------------------------------
# Sign-in

@pages.route("/login", methods=["GET", "POST"])
def login():
    next_url = _safe_next(request.values.get("next"))
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
    from .demo import demo_logins

    status = 401 if error else 200
    headers = {}
    if outcome is not None and outcome.locked_until is not None:
        status, headers = 429, {"Retry-After": str(outcome.retry_after())}
    return render_template("login.html", error=error, next_url=next_url,
                           demo=demo_logins() if clock.mode() in ("demo", "test") else []), status, headers


@pages.post("/logout")
def logout():
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
def home():
    return redirect(url_for("pages.inbox") if current_user() else url_for("pages.login"))


# ---------------------------------------------------------------------------------------------------------
# The inbox

def _inbox_args() -> dict:
    args = request.args
    view = args.get("view", "mine")
    if view not in ("mine", "group", "done"):
        view = "mine"
    tier = args.get("tier") if args.get("tier") in ("red", "yellow", "blue") else None
    deadline = args.get("deadline") if args.get("deadline") in ("overdue", "today", "week", "none") else None
    page = inputs.page_number()
    return {"view": view, "process": args.get("process") or None, "tier": tier, "deadline": deadline,
            "q": (args.get("q") or "").strip()[:100] or None, "page": page}


def _inbox_context(user: dict) -> dict:
    args = _inbox_args()
    w = engine()
    result = w.inbox(user["username"], args["view"], process_id=args["process"], tier=args["tier"],
                     deadline=args["deadline"], text=args["q"], limit=TASK_PAGE_SIZE,
                     offset=(args["page"] - 1) * TASK_PAGE_SIZE)
    groups = w.group_labels()
    people = w.user_labels([t["assignee"] for t in result["tasks"]]
                           + [o["assignee"] for t in result["tasks"] for o in t["involved"]])
    processes = w.process_names()
    base = {k: v for k, v in args.items() if v and k not in ("page",)}
    here = url_for("pages.inbox", **base, **({"page": args["page"]} if args["page"] > 1 else {}))
    return {"inbox": result, "args": args, "groups": groups, "people": people, "processes": processes,
            "digest": w.inbox_digest(user["username"])["digest"], "base_args": base, "here_url": here}


@pages.get("/inbox")
@login_required
def inbox():
    user = current_user()
    context = _inbox_context(user)
    if request.args.get("partial"):
        return render_template("_inbox_body.html", **context)
    return render_template("inbox.html", **context)


@pages.get("/inbox/poll")
@login_required
def inbox_poll():
    """A small fingerprint of the user's open work; the page reloads its list when it changes."""
    return jsonify(engine().inbox_digest(current_user()["username"]))


# ---------------------------------------------------------------------------------------------------------
# Tasks

def _case_context(w: Whistle, task_id: str, version_id: int) -> dict:
    return {"data": w.task_data(task_id), "labels": w.case_labels(version_id)}


def _shown_fields(keys: list[str], data: dict, labels: dict, groups: dict, people: dict, attachments: dict) -> list[dict]:
    rows = []
    for key in keys:
        if key not in data or data[key] in (None, "", [], {}):
            continue
        value = data[key]
        table = display.rows_table(key, value, labels, groups, people)
        if table:
            rows.append({"label": display.label_of(key, labels), "table": table})
        elif display.is_file_list(value, attachments):
            rows.append({"label": display.label_of(key, labels), "files": [attachments[v] for v in value]})
        else:
            rows.append({"label": display.label_of(key, labels),
                         "text": display.value_text(key, value, labels, groups, people)})
    return rows


def _render_task(task: dict, form: dict, values: dict, errors: dict, status: int = 200, problem: str | None = None,
                 draft_note: str | None = None):
    w = engine()
    case = _case_context(w, task["task_id"], task["version_id"])
    data, labels = case["data"], case["labels"]
    groups = w.group_labels()
    file_ids = [i for v in values.values() for i in v]
    show_keys = form.get("show") or []
    for key in show_keys:
        if isinstance(data.get(key), list):
            file_ids += [v for v in data[key] if isinstance(v, str)]
    attachments = w.attachments_by_id(file_ids)
    people = w.user_labels([task["assignee"], data.get("reporter")] + [o["assignee"] for o in task["involved"]]
                           + [v for k in show_keys for v in ([data.get(k)] if isinstance(data.get(k), str) else [])])
    return render_template(
        "task.html", task=task, form=form, title=formview.form_title(form, task["name"]),
        fields=formview.field_views(form, values, errors, attachments), errors=errors, problem=problem,
        shown=_shown_fields(show_keys, data, labels, groups, people, attachments), groups=groups, people=people,
        draft_note=draft_note, context_json=_context_json(form, data)), status


def _context_json(form: dict, data: dict) -> str:
    """Case data that the form's conditions read (``{"data": …}``), for the browser's show/hide logic."""
    import json

    names = set()

    def walk(condition):
        if isinstance(condition, dict):
            if "data" in condition:
                names.add(condition["data"])
            for value in condition.values():
                walk(value)
        elif isinstance(condition, list):
            for value in condition:
                walk(value)

    for field in form.get("fields", []):
        walk(field.get("visible_when"))
    return json.dumps({n: data.get(n) for n in names}, ensure_ascii=False)


@pages.get("/tasks/<task_id>")
@login_required
def task(task_id: str):
    user = current_user()
    w = engine()
    view = w.task_view(user["username"], task_id)
    form = w.form(view["form_key"], version_id=view["version_id"]) or formview.EMPTY_FORM
    values = formview.initial_values(form, user)
    draft_note = None
    if view["may_complete"]:
        saved = w.draft(task_id, user["username"])
        if saved:
            values.update(saved["data"].get("values", {}))
            draft_note = _("已载入 {when} 保存的草稿", when=display.short_time(saved["updated_at"]))
    return _render_task(view, form, values, {}, draft_note=draft_note)


@pages.post("/tasks/<task_id>")
@login_required
def task_submit(task_id: str):
    user = current_user()
    w = engine()
    view = w.task_view(user["username"], task_id)
    if not view["may_complete"]:
        return _error(403, "不能办理", "这项任务已结束或已由他人认领，你不能提交。",
                      "This task is closed or claimed by someone else.")
    form = w.form(view["form_key"], version_id=view["version_id"]) or formview.EMPTY_FORM
    values = formview.submitted_values(form, request)
    upload_errors = formview.store_uploads(w, user["username"], form, request, values, task_id)
    if formview.row_action(form, request, values):  # add/remove a row without JavaScript: show the form again
        return _render_task(view, form, values, upload_errors)
    if request.form.get("_submit") == "draft":
        w.save_draft(task_id, user["username"], {"values": values})
        if upload_errors:
            return _render_task(view, form, values, upload_errors, 422)
        flash(_("草稿已保存"), "ok")
        return redirect(url_for("pages.task", task_id=task_id))
    context = _case_context(w, task_id, view["version_id"])["data"]
    data, errors = form_lib.validate(form, values, username=user["username"], groups=user["groups"],
                                     display_name=user["display_name"], context=context, lang=current_lang(),
                                     tz=local_zone())
    errors.update(upload_errors)
    if errors:
        return _render_task(view, form, values, errors, 422)
    try:
        w.complete_task(task_id, user["username"], data, formview.attachment_ids(form, data), lang=current_lang())
    except Conflict:
        flash(_("该任务已被他人处理或变更，请刷新后查看"), "error")
        return redirect(url_for("pages.task", task_id=task_id))
    except InvalidSubmission as exc:  # the engine's contract check: the same rules as the REST API and the CLI
        return _render_task(view, form, values, exc.field_errors, 422)
    except IncidentRaised as exc:
        return _render_task(view, form, values, {}, 422, problem=exc.message)
    except InvalidInput as exc:
        return _render_task(view, form, values, {}, 422, problem=exc.message)
    flash(_("已提交") + f"：{view['name']}（#{view['instance_id']}）", "ok")
    return redirect(url_for("pages.inbox", view="mine"))


@pages.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str):
    user = current_user()
    try:
        engine().claim(task_id, user["username"])
        flash(_("任务已认领"), "ok")
    except Conflict as exc:
        flash(_("该任务已被他人处理或变更，请刷新后查看") + f"（{exc.message}）", "error")
    return redirect(_safe_next(request.form.get("next")) if request.form.get("next")
                    else url_for("pages.task", task_id=task_id))


@pages.post("/tasks/<task_id>/unclaim")
@login_required
def unclaim(task_id: str):
    user = current_user()
    try:
        engine().unclaim(task_id, user["username"])
        flash(_("任务已退回组任务"), "ok")
    except Conflict as exc:
        flash(_("该任务已被他人处理或变更，请刷新后查看") + f"（{exc.message}）", "error")
    return redirect(_safe_next(request.form.get("next")) if request.form.get("next") else url_for("pages.inbox"))


# ---------------------------------------------------------------------------------------------------------
# Starting work

@pages.get("/start")
@login_required
def start_list():
    user = current_user()
    processes = engine().startable(user["username"])
    for process in processes:
        form = engine().form(process["form_key"], version_id=process["version_id"]) if process["form_key"] else None
        process["form_title"] = formview.form_title(form, process.get("start_name") or process["name"]) if form \
            else process.get("start_name") or process["name"]
        process["form_description"] = pick(form, "description") if form else display.first_sentence(
            process["documentation"], 200)
    return render_template("start_list.html", processes=processes)


def _render_start(info: dict, form: dict, values: dict, errors: dict, status: int = 200, problem: str | None = None,
                  draft_note: str | None = None):
    attachments = engine().attachments_by_id([i for v in values.values() for i in v])
    return render_template("start_form.html", info=info, form=form,
                           title=formview.form_title(form, info.get("start_name") or info["name"]),
                           fields=formview.field_views(form, values, errors, attachments), errors=errors,
                           problem=problem, draft_note=draft_note, context_json="{}"), status


@pages.get("/start/<process_id>")
@login_required
def start_form(process_id: str):
    user = current_user()
    w = engine()
    info = w.start_info(user["username"], process_id)
    form = w.form(info["form_key"], version_id=info["version_id"]) or formview.EMPTY_FORM
    values = formview.initial_values(form, user)
    draft_note = None
    saved = w.draft(f"start:{process_id}", user["username"])
    if saved:
        values.update(saved["data"].get("values", {}))
        draft_note = _("已载入 {when} 保存的草稿", when=display.short_time(saved["updated_at"]))
    return _render_start(info, form, values, {}, draft_note=draft_note)


@pages.post("/start/<process_id>")
@login_required
def start_submit(process_id: str):
    user = current_user()
    w = engine()
    info = w.start_info(user["username"], process_id)
    form = w.form(info["form_key"], version_id=info["version_id"]) or formview.EMPTY_FORM
    values = formview.submitted_values(form, request)
    upload_errors = formview.store_uploads(w, user["username"], form, request, values, None)
    if formview.row_action(form, request, values):
        return _render_start(info, form, values, upload_errors)
    if request.form.get("_submit") == "draft":
        w.save_draft(f"start:{process_id}", user["username"], {"values": values})
        if upload_errors:
            return _render_start(info, form, values, upload_errors, 422)
        flash(_("草稿已保存"), "ok")
        return redirect(url_for("pages.start_form", process_id=process_id))
    data, errors = form_lib.validate(form, values, username=user["username"], groups=user["groups"],
                                     display_name=user["display_name"], lang=current_lang(), tz=local_zone())
    errors.update(upload_errors)
    if errors:
        return _render_start(info, form, values, errors, 422)
    prefix = form.get("business_key_prefix") or process_id[:3].upper()
    business_key = f"{prefix}-{clock.now().astimezone(local_zone()):%Y%m%d}-{secrets.token_hex(2).upper()}"
    try:
        instance_id = w.start_case(process_id, user["username"], data, business_key,
                                   formview.attachment_ids(form, data), lang=current_lang())
    except InvalidSubmission as exc:
        return _render_start(info, form, values, exc.field_errors, 422)
    except (IncidentRaised, InvalidInput) as exc:
        return _render_start(info, form, values, {}, 422, problem=exc.message)
    flash(_("已提交，案件编号 {key}", key=f"#{instance_id}（{business_key}）"), "ok")
    return redirect(url_for("pages.case", instance_id=instance_id))


# ---------------------------------------------------------------------------------------------------------
# Cases

@pages.get("/cases")
@login_required
def cases():
    user = current_user()
    status = request.args.get("status") if request.args.get("status") in ("running", "completed") else None
    text = (request.args.get("q") or "").strip()[:100] or None
    page = inputs.page_number()
    rows = engine().cases_for(user["username"], text=text, status=status, limit=TASK_PAGE_SIZE + 1,
                              offset=(page - 1) * TASK_PAGE_SIZE)
    people = engine().user_labels(r["started_by"] for r in rows)
    return render_template("cases.html", rows=rows[:TASK_PAGE_SIZE], more=len(rows) > TASK_PAGE_SIZE, page=page,
                           status=status, q=text or "", people=people)


@pages.get("/cases/<int:instance_id>")
@login_required
def case(instance_id: int):
    user = current_user()
    w = engine()
    shown = w.case(user["username"], instance_id)
    labels = w.case_labels(shown["version_id"])
    groups = w.group_labels()
    data = shown["data"]
    attachments = {a["attachment_id"]: a for a in shown["attachments"]}
    attachments.update(w.attachments_by_id([v for value in data.values() if isinstance(value, list)
                                            for v in value if isinstance(v, str) and v not in attachments]))
    names = [e["actor"] for e in shown["audit"]] + [shown["started_by"]] + [
        v for v in data.values() if isinstance(v, str) and len(v) < 64]
    people = w.user_labels(names + [t["assignee"] for t in shown["open_tasks"]])
    element_names = w.element_names(shown["version_id"])
    labelled = [k for k in w.case_fields(shown["version_id"]) if k in data]
    rows = _shown_fields(labelled, data, labels, groups, people, attachments)
    other = {k: v for k, v in data.items() if k not in labelled and v not in (None, "", [], {})}
    my_tasks = w.workable_tasks(user["username"], instance_id)
    return render_template("case.html", case=shown, rows=rows, other=other, groups=groups, people=people,
                           timeline=display.timeline(shown["audit"], people, groups, element_names, labels),
                           element_names=element_names, my_tasks=my_tasks,
                           bpmn_ready=_bpmn_dist().joinpath("bpmn-navigated-viewer.production.min.js").exists())


@pages.get("/cases/<int:instance_id>/diagram.json")
@login_required
def case_diagram(instance_id: int):
    user = current_user()
    w = engine()
    w.require_case(user["username"], instance_id)
    shown = w.show(instance_id)
    with w.db.read() as session:
        from engine.store.models import ProcessInstance

        version_id = session.get(ProcessInstance, instance_id).version_id
    states = w.element_states(instance_id)
    names = w.element_names(version_id)
    for element_id, state in states.items():
        state["name"] = names.get(element_id)
        if state.get("due_at"):
            state["due_text"] = display.short_time(state["due_at"])
            state["until_text"] = display.until_text(state["due_at"])
    return jsonify(xml=w.diagram_xml(version_id), states=states, status=shown["status"],
                   legend={"done": _("已完成环节"), "active": _("正在办理"), "timer": _("等待计时"),
                           "incident": _("故障"), "due": _("计时到期")})


@pages.get("/attachments/<attachment_id>")
@login_required
def attachment(attachment_id: str):
    user = current_user()
    meta, path = engine().attachment(user["username"], attachment_id)
    if not path.exists():
        raise NotFound(f"the file of attachment {attachment_id} is missing")
    response = send_file(path, mimetype=meta["content_type"], as_attachment=bool(request.args.get("download")),
                         download_name=meta["file_name"], conditional=True, max_age=0)
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# ---------------------------------------------------------------------------------------------------------
# bpmn-js from npm (node_modules, installed by `make install`)

def _bpmn_dist() -> Path:
    return Path(current_app.config["NODE_MODULES"]) / "bpmn-js" / "dist"


@pages.get("/vendor/bpmn-js/<path:filename>")
def vendor_bpmn(filename: str):
    dist = _bpmn_dist()
    if not dist.exists():
        abort(404)
    response = send_from_directory(dist, filename, max_age=3600)
    return response


# ---------------------------------------------------------------------------------------------------------
# Designers and administrators

@pages.get("/definitions")
@login_required(role="designer")
def definitions():
    w = engine()
    rows = [d for d in w.definitions()]
    forms = {}
    with w.db.read() as session:
        from sqlalchemy import select

        from engine.store.models import DefinitionVersion

        ids = {(v.key, v.version): v.id for v in session.execute(select(DefinitionVersion)).scalars()}
    for row in rows:
        row["version_id"] = ids.get((row["process_id"], row["version"]))
        if row["kind"] == "process" and row["version_id"]:
            forms[row["version_id"]] = sorted(w.version_forms(row["version_id"]).items())
    return render_template("definitions.html", rows=rows, forms=forms)


@pages.get("/definitions/<int:version_id>/forms/<form_key>")
@login_required(role="designer")
def form_preview(version_id: int, form_key: str):
    form = engine().form(form_key, version_id=version_id)
    if form is None:
        raise NotFound(f"no form {form_key} in version {version_id}")
    user = current_user()
    values = formview.initial_values(form, user)
    return render_template("form_preview.html", form=form, title=formview.form_title(form, form_key),
                           fields=formview.field_views(form, values, {}, {}), version_id=version_id,
                           form_key=form_key, context_json="{}")


@pages.get("/admin")
@login_required(role="admin")
def admin():
    w = engine()
    incidents = [i for i in w.incidents() if not i.get("resolved_at")][-100:]
    jobs = w.jobs(include_scheduled=True, limit=100) if hasattr(w, "jobs") else []
    clock_info = w.clock_show() if hasattr(w, "clock_show") else None
    calendar = w.calendar_notices() if hasattr(w, "calendar_notices") else []  # years without the official schedule
    return render_template("admin.html", incidents=incidents, jobs=jobs, clock_info=clock_info, calendar=calendar)


@pages.post("/admin/instances/<int:instance_id>/repair")
@login_required(role="admin")
def admin_repair(instance_id: int):
    """A case with no way forward (a NoWayForward incident): the engine moves it on where it can tell how."""
    try:
        result = engine().repair(instance_id, current_user()["username"])
        flash(_("案件已恢复流转") + f"：#{instance_id}（{', '.join(result['moved']) or '—'}）", "ok")
    except (Conflict, NotFound) as exc:
        flash(_("无法自动修复") + f"：{exc.message}", "error")
    return redirect(url_for("pages.admin"))


@pages.post("/admin/clock")
@login_required(role="admin")
def admin_clock():
    w = engine()
    duration = (request.form.get("duration") or "").strip()
    try:
        w.clock_advance(duration, actor=current_user()["username"])
        fired = w.fire_due_jobs()
        flash(_("时钟已快进") + f" {duration}" + (f"（{fired}）" if fired else ""), "ok")
    except Forbidden:
        flash(_("只有演示或测试模式可以调整时钟"), "error")
    except InvalidInput as exc:
        flash(exc.message, "error")
    return redirect(url_for("pages.admin"))
