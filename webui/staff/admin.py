"""For administrators: open incidents, timer jobs, the working-day calendar's gaps, repairing a stuck case and
(in demo and test mode) moving the clock."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from webui.i18n import gettext as _
from webui.staff.frame import engine, login_required, pages, signed_in_user

# engine.jobs.queries.job_state, in words
JOB_STATES = {"scheduled": "已排定", "due": "已到期", "locked": "执行中", "retrying": "重试中", "failed": "失败"}


@pages.get("/admin")
@login_required(role="admin")
def admin() -> str:
    w = engine()
    incidents = [i for i in w.incidents() if not i.get("resolved_at")][-100:]
    jobs = w.jobs(include_scheduled=True, limit=100)
    for job in jobs:  # a timer by the name the diagram gives it
        job["element_name"] = w.element_names(job["version_id"]).get(job["element_id"]) if job["version_id"] else None
    return render_template("admin.html", incidents=incidents, jobs=jobs, processes=w.process_names(),
                           job_states={state: _(text) for state, text in JOB_STATES.items()}, clock_info=w.clock_show(),
                           calendar=w.calendar_notices())  # years without the official schedule


@pages.post("/admin/instances/<int:instance_id>/repair")
@login_required(role="admin")
def admin_repair(instance_id: int) -> ResponseReturnValue:
    """A case with no way forward (a NoWayForward incident): the engine moves it on where it can tell how."""
    try:
        result = engine().repair(instance_id, signed_in_user()["username"])
        flash(_("案件已恢复流转") + f"：#{instance_id}（{', '.join(result['moved']) or '—'}）", "ok")
    except (Conflict, NotFound) as exc:
        flash(_("无法自动修复") + f"：{exc.message}", "error")
    return redirect(url_for("pages.admin"))


@pages.post("/admin/clock")
@login_required(role="admin")
def admin_clock() -> ResponseReturnValue:
    w = engine()
    duration = (request.form.get("duration") or "").strip()
    try:
        w.clock_advance(duration, actor=signed_in_user()["username"])
        fired = w.fire_due_jobs()
        flash(_("时钟已快进") + f" {duration}" + (f"（{fired}）" if fired else ""), "ok")
    except Forbidden:
        flash(_("只有演示或测试模式可以调整时钟"), "error")
    except InvalidInput as exc:
        flash(exc.message, "error")
    return redirect(url_for("pages.admin"))
