"""For administrators: the people (accounts, their groups, a bulk load from CSV or JSON after a preview), the
organisation as the groups carry it, API tokens, and the working-day calendar's coverage with a year's upload.

Every rule — who may, what a name or file may hold, the last administrator — is the engine's
(``engine.management.directory``); these views read the form, call the facade and show what it answered. A new
password or token is shown on the page that made it, never in a flash message (those travel in the cookie).
"""
from __future__ import annotations

import base64
import binascii

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from engine.errors import Conflict, DeploymentInvalid, Forbidden, InvalidInput, NotFound
from webui.i18n import gettext as _
from webui.staff.frame import engine, login_required, pages, signed_in_user
from webui.staff.listing import page_links

KIND_LABELS = {"street": "街道", "grid": "网格", "department": "部门", "district": "区级机关", "role": "系统角色",
               "other": "其他"}
MAX_UPLOAD = 4 * 1024 * 1024  # a people or calendar file; 20,000 people take about 1 MB


def _actor() -> str:
    return signed_in_user()["username"]


def _flag(value: str | None) -> bool | None:
    return {"1": True, "0": False}.get(value or "")


@pages.get("/admin/people")
@login_required(role="admin")
def admin_people(created: dict | None = None, status: int = 200) -> ResponseReturnValue:
    w = engine()
    text, group, active = request.args.get("q", ""), request.args.get("group", ""), request.args.get("active")
    try:
        page = max(1, int(request.args.get("page") or 1))
    except ValueError:
        page = 1
    found = w.accounts(_actor(), text, group, _flag(active), page)
    groups = w.account_groups(_actor())
    args = {k: v for k, v in (("q", text), ("group", group), ("active", active or "")) if v}
    return render_template("people.html", found=found, groups=groups, kinds=KIND_LABELS, created=created,
                           filters={"q": text, "group": group, "active": active or ""}, base_args=args,
                           paging=page_links(page, found["total"], 50)), status


@pages.post("/admin/people")
@login_required(role="admin")
def admin_people_create() -> ResponseReturnValue:
    form = request.form
    groups = [g for g in form.getlist("groups") if g] + form.get("more_groups", "").replace("，", ",").split(",")
    try:
        created = engine().create_account(_actor(), form.get("username", ""), form.get("display_name") or None,
                                          [g.strip() for g in groups if g.strip()], form.get("password") or None)
    except (InvalidInput, Conflict) as exc:
        flash(_("未能创建账号") + f"：{exc.message}", "error")
        return redirect(url_for("pages.admin_people"))
    return admin_people(created={**created, "what": "created"})


@pages.post("/admin/people/<username>/groups")
@login_required(role="admin")
def admin_people_groups(username: str) -> ResponseReturnValue:
    groups = request.form.get("groups", "").replace("，", ",").replace(" ", ",").split(",")
    try:
        result = engine().set_account_groups(_actor(), username, [g for g in groups if g.strip()])
        flash(_("已更新用户组") + f"：{username} → {', '.join(result['groups']) or '—'}", "ok")
    except (InvalidInput, Conflict, NotFound) as exc:
        flash(_("未能更新用户组") + f"：{exc.message}", "error")
    return redirect(request.form.get("back") or url_for("pages.admin_people"))


@pages.post("/admin/people/<username>/active")
@login_required(role="admin")
def admin_people_active(username: str) -> ResponseReturnValue:
    active = request.form.get("active") == "1"
    try:
        engine().set_account_active(_actor(), username, active)
        flash((_("账号已启用") if active else _("账号已停用，其登录和令牌立即失效")) + f"：{username}", "ok")
    except (Conflict, NotFound) as exc:
        flash(_("未能更改账号状态") + f"：{exc.message}", "error")
    return redirect(request.form.get("back") or url_for("pages.admin_people"))


@pages.post("/admin/people/<username>/password")
@login_required(role="admin")
def admin_people_password(username: str) -> ResponseReturnValue:
    try:
        result = engine().reset_password(_actor(), username)
    except NotFound as exc:
        flash(_("未能重置密码") + f"：{exc.message}", "error")
        return redirect(url_for("pages.admin_people"))
    return admin_people(created={**result, "what": "reset"})


# -- bulk load -------------------------------------------------------------------------------------------------

def _uploaded(field: str) -> tuple[str, bytes] | None:
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        return None
    return upload.filename.rsplit("/", 1)[-1], upload.read(MAX_UPLOAD + 1)


@pages.get("/admin/people/import")
@login_required(role="admin")
def admin_people_import() -> str:
    return render_template("people_import.html", report=None, payload=None)


@pages.post("/admin/people/import")
@login_required(role="admin")
def admin_people_import_post() -> ResponseReturnValue:
    w = engine()
    if request.form.get("payload"):  # the confirmation of a preview: the same bytes come back
        name = request.form.get("name", "people.csv")
        try:
            content = base64.b64decode(request.form["payload"], validate=True)
        except (binascii.Error, ValueError):
            flash(_("导入内容已损坏，请重新上传"), "error")
            return redirect(url_for("pages.admin_people_import"))
        try:
            report = w.load_people(_actor(), name, content, request.form.get("sha256"))
        except (InvalidInput, Conflict) as exc:
            flash(_("没有导入") + f"：{exc.message}", "error")
            return redirect(url_for("pages.admin_people_import"))
        counts = report["counts"]
        flash(_("已导入 {file}：新建 {create} 个、更新 {update} 个、未变化 {unchanged} 个", file=name, **counts), "ok")
        return redirect(url_for("pages.admin_people"))
    uploaded = _uploaded("file")
    if uploaded is None:
        flash(_("请选择一个 CSV 或 JSON 文件"), "error")
        return redirect(url_for("pages.admin_people_import"))
    name, content = uploaded
    if len(content) > MAX_UPLOAD:
        flash(_("文件太大（上限 {mb} MB）", mb=MAX_UPLOAD // 1024 // 1024), "error")
        return redirect(url_for("pages.admin_people_import"))
    report = w.preview_people(_actor(), name, content)
    return render_template("people_import.html", report=report, name=name,
                           payload=base64.b64encode(content).decode("ascii") if report["ok"] else None)


# -- the organisation, tokens, calendar --------------------------------------------------------------------------

@pages.get("/admin/organisation")
@login_required(role="admin")
def admin_organisation() -> str:
    groups = engine().account_groups(_actor())
    by_kind = {kind: [g for g in groups if g["kind"] == kind] for kind in KIND_LABELS}
    return render_template("organisation.html", by_kind=by_kind, kinds=KIND_LABELS)


@pages.get("/admin/tokens")
@login_required(role="admin")
def admin_tokens(created: dict | None = None) -> str:
    return render_template("tokens.html", tokens=engine().admin_tokens(_actor()), created=created)


@pages.post("/admin/tokens")
@login_required(role="admin")
def admin_tokens_create() -> ResponseReturnValue:
    form = request.form
    try:
        created = engine().admin_create_token(_actor(), form.get("name", "").strip(), form.get("user", "").strip(),
                                              form.getlist("scopes"))
    except (InvalidInput, Conflict, NotFound) as exc:
        flash(_("未能创建令牌") + f"：{exc.message}", "error")
        return redirect(url_for("pages.admin_tokens"))
    return admin_tokens(created=created)


@pages.post("/admin/tokens/<name>/revoke")
@login_required(role="admin")
def admin_tokens_revoke(name: str) -> ResponseReturnValue:
    try:
        engine().admin_revoke_token(_actor(), name)
        flash(_("令牌已吊销") + f"：{name}", "ok")
    except (Conflict, NotFound) as exc:
        flash(_("未能吊销令牌") + f"：{exc.message}", "error")
    return redirect(url_for("pages.admin_tokens"))


@pages.get("/admin/calendar")
@login_required(role="admin")
def admin_calendar(results: list[dict] | None = None, problems: list[dict] | None = None) -> str:
    return render_template("calendar.html", coverage=engine().calendar_show(), results=results, problems=problems)


@pages.post("/admin/calendar")
@login_required(role="admin")
def admin_calendar_upload() -> ResponseReturnValue:
    uploaded = _uploaded("file")
    if uploaded is None or len(uploaded[1]) > MAX_UPLOAD:
        flash(_("请选择一个工作日日历 CSV 文件（日期, 类型, 名称）"), "error")
        return redirect(url_for("pages.admin_calendar"))
    try:
        results = engine().calendar_upload(uploaded[0], uploaded[1], _actor())
    except DeploymentInvalid as exc:
        return admin_calendar(problems=[p.to_dict() for p in exc.problems])
    except (InvalidInput, Forbidden) as exc:
        flash(exc.message, "error")
        return redirect(url_for("pages.admin_calendar"))
    return admin_calendar(results=results)
