"""For administrators: 故障 — the incidents, filtered (open or resolved, a process, an element) with how many are
open per element; one incident with its first line, the full traceback, the command data it kept, and the
buttons to run it again (重试 a timer, 重放 a user command, 修复 a stuck case) or to resolve it with a note.

Every rule — who may, what can be run again, that a note is needed — is the engine's
(``engine.management.repairs``); these views read the form, call the facade and show what it answered.
"""
from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from engine.errors import Conflict, IncidentRaised, InvalidInput, NotFound
from webui.i18n import gettext as _
from webui.staff.frame import engine, login_required, pages, signed_in_user

STATES = {"open": "未解决", "resolved": "已解决", "all": "全部"}
# what a retry does (CaseRepairs.incident's ``retry``), as its button says it
RETRY_BUTTONS = {"timer": "重试", "replay": "重放", "repair": "修复"}
RETRY_CONFIRM = {"timer": "重新执行这个计时任务？",
                 "replay": "以原办理人的名义重放这次提交？请确认修正版本已部署、案件已迁移。",
                 "repair": "让案件从卡住的位置继续流转？"}
COMMANDS = {"complete": "办结任务", "message": "收到消息", "start": "发起案件", "timer": "计时任务", "claim": "认领",
            "unclaim": "退回组任务", "timer retry": "重试计时", "repair": "修复", "upgrade": "版本迁移",
            "modify": "调整流转", "attach": "上传附件", "deploy": "部署"}


def _actor() -> str:
    return signed_in_user()["username"]


@pages.get("/admin/incidents")
@login_required(role="admin")
def admin_incidents() -> ResponseReturnValue:
    w = engine()
    state = request.args.get("state") or "open"
    process_id, element_id = request.args.get("process") or None, request.args.get("element") or None
    try:
        found = w.incident_list(_actor(), state=state, process_id=process_id, element_id=element_id, limit=200)
    except InvalidInput as exc:
        flash(exc.message, "error")
        return redirect(url_for("pages.admin_incidents"))
    names: dict[tuple[str | None, str | None], str] = {}
    for row in found["incidents"] + found["per_element"]:
        key = (row.get("process_id"), row.get("element_id"))
        if key not in names:
            names[key] = _element_name(row)
    return render_template("incidents.html", found=found, state=state, states=STATES, process_id=process_id or "",
                           element_id=element_id or "", processes=w.process_names(), names=names,
                           commands=COMMANDS)


def _element_name(row: dict) -> str:
    """The element's name in the diagram of the incident's version (else of its process's versions), in words
    when it has none — never its id, a designer's word."""
    element_id = row.get("element_id")
    if not element_id:
        return _("整个案件")
    w = engine()
    version_ids: list[int] = [row["version_id"]] if row.get("version_id") else []
    if not version_ids and row.get("process_id"):
        listed = w.versions_of(row["process_id"], signed_in_user()["username"])["versions"]
        version_ids = [v["version_id"] for v in listed]
    for version_id in version_ids:
        name = w.element_names(version_id).get(element_id)
        if name:
            return name
    return _("未命名环节")


@pages.get("/admin/incidents/<int:incident_id>")
@login_required(role="admin")
def admin_incident(incident_id: int) -> ResponseReturnValue:
    w = engine()
    incident = w.incident(incident_id, _actor())
    data = incident.get("command_data")
    return render_template("incident.html", i=incident, element_name=_element_name(incident),
                           data_text=json.dumps(data, ensure_ascii=False, indent=2) if data is not None else None,
                           processes=w.process_names(), retry_button=RETRY_BUTTONS.get(incident["retry"] or ""),
                           retry_confirm=RETRY_CONFIRM.get(incident["retry"] or ""), commands=COMMANDS,
                           people=w.user_labels([incident.get("actor"), incident.get("resolved_by")]))


@pages.post("/admin/incidents/<int:incident_id>/retry")
@login_required(role="admin")
def admin_incident_retry(incident_id: int) -> ResponseReturnValue:
    try:
        result = engine().retry_incident(incident_id, _actor())
        flash(_("已{action}，故障已解决", action=_(RETRY_BUTTONS[result["retry"]])), "ok")
    except IncidentRaised as exc:
        flash(_("再次失败，记录为新的故障") + f"：{exc.message}", "error")
    except (Conflict, InvalidInput) as exc:
        flash(_("不能重新执行") + f"：{exc.message}", "error")
    return redirect(url_for("pages.admin_incident", incident_id=incident_id))


@pages.post("/admin/incidents/<int:incident_id>/resolve")
@login_required(role="admin")
def admin_incident_resolve(incident_id: int) -> ResponseReturnValue:
    try:
        engine().resolve_incident(incident_id, request.form.get("note", ""), _actor())
        flash(_("故障已标记为解决"), "ok")
    except (Conflict, InvalidInput, NotFound) as exc:
        flash(_("未能标记解决") + f"：{exc.message}", "error")
    return redirect(url_for("pages.admin_incident", incident_id=incident_id))
