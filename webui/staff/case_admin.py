"""案件管理 (administrators): find any case with every filter, a page of them with selection boxes (where the bulk
actions of issue 16 post the filter), the CSV export, and per case 挂起 / 恢复 / 终止 with a written reason. The
engine decides who may (``engine.management.case_admin``) and checks the filters (``CaseQuery``); the view only
reads the form and says what happened."""
from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from engine.casework.listing import CaseQuery
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from webui import inputs
from webui.i18n import gettext as _
from webui.staff.frame import PAGE_SIZE, engine, login_required, pages, safe_next, signed_in_user
from webui.staff.listing import page_links, query_args, refused, scope_labels

ACTIONS = {"suspend": "挂起", "resume": "恢复", "terminate": "终止"}


@pages.get("/admin/cases")
@login_required(role="admin")
def admin_cases() -> str | tuple[str, int]:
    w = engine()
    user = signed_in_user()["username"]
    try:
        query = CaseQuery.from_args(query_args())
        page = inputs.page_number()
        result = w.search_instances(user, query, limit=PAGE_SIZE, page=page)
    except InvalidInput as exc:
        return refused(exc)
    return render_template("admin_cases.html", result=result, rows=result["instances"], query=query,
                           base_args=query.args(), paging=page_links(page, result["total"], PAGE_SIZE,
                                                                    result["more"]),
                           processes=w.process_names(), scopes=scope_labels(w.scope_options()),
                           back=request.full_path.rstrip("?"))


@pages.get("/admin/cases/export.csv")
@login_required(role="admin")
def admin_cases_export() -> Response | tuple[str, int]:
    try:
        text = engine().export_instances(signed_in_user()["username"], CaseQuery.from_args(query_args()))
    except InvalidInput as exc:
        return refused(exc)
    return Response(text.encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=cases.csv"})


@pages.post("/admin/cases/<int:instance_id>/<action>")
@login_required(role="admin")
def admin_case_action(instance_id: int, action: str) -> ResponseReturnValue:
    """One case suspended, resumed or terminated, with the reason typed in its dialog."""
    if action not in ACTIONS:
        return redirect(url_for("pages.admin_cases"))
    w, user = engine(), signed_in_user()["username"]
    reason = request.form.get("reason", "")
    try:
        if action == "suspend":
            w.suspend_instance(instance_id, reason, user)
        elif action == "resume":
            w.resume_instance(instance_id, user, reason or None)
        else:
            w.terminate_instance(instance_id, reason, user)
        flash(_("案件已" + ACTIONS[action]) + f"：#{instance_id}", "ok")
    except (Conflict, InvalidInput, NotFound, Forbidden) as exc:
        flash(_("操作失败") + f"：{exc.message}", "error")
    return redirect(safe_next(request.form.get("next") or url_for("pages.admin_cases")))
