"""Cases: the list of those a user may see, a case's page and diagram, its attachments, and bpmn-js (from npm,
``node_modules``, installed by ``make install``) that draws the diagram."""
from __future__ import annotations

from pathlib import Path

from flask import Response, abort, current_app, jsonify, render_template, request, send_file, send_from_directory

from engine.casework.listing import CaseQuery
from engine.errors import InvalidInput, NotFound
from engine.queries import instances
from webui import inputs
from webui.i18n import gettext as _
from webui.staff import display, values
from webui.staff.dossier import case_presenter, dossier_pdf
from webui.staff.frame import PAGE_SIZE, engine, login_required, pages, signed_in_user
from webui.staff.listing import page_links, query_args, refused, scope_labels
from webui.staff.repairs import repair_options
from webui.staff.timeline import timeline


@pages.get("/cases")
@login_required
def cases() -> str | tuple[str, int]:
    """The cases the user may see, filtered, sorted and paged (``engine.casework.listing.CaseQuery``)."""
    user = signed_in_user()
    w = engine()
    try:
        query = CaseQuery.from_args(query_args())
        page = inputs.page_number()
        result = w.case_list(user["username"], query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    except InvalidInput as exc:
        return refused(exc)
    people = w.user_labels(r["started_by"] for r in result["cases"])
    base = query.args()
    return render_template("cases.html", rows=result["cases"], result=result, query=query, base_args=base,
                           paging=page_links(page, result["total"], PAGE_SIZE, result["more"]), people=people,
                           processes=w.process_names(), scopes=scope_labels(w.scope_options()))


@pages.get("/cases/<int:instance_id>")
@login_required
def case(instance_id: int) -> str:
    user = signed_in_user()
    w = engine()
    shown = w.case(user["username"], instance_id)
    presenter, people = case_presenter(w, shown)
    groups = presenter.groups
    data = shown["data"]
    element_names = w.element_names(shown["version_id"])
    labelled = [k for k in w.case_fields(shown["version_id"]) if k in data]
    rows = presenter.fields(labelled, data)
    rest = [k for k in data if k not in labelled and data[k] not in values.EMPTY]
    # The rest of the case data: what the forms label reads as any other row; the engine's own bookkeeping
    # (names no form labels) only in the administrators' technical view, by variable name.
    other = presenter.fields([k for k in rest if presenter.is_labelled(k)], data)
    technical = presenter.fields([k for k in rest if not presenter.is_labelled(k)], data) \
        if "admin" in user.get("roles", ()) else []
    my_tasks = w.workable_tasks(user["username"], instance_id)
    repair = repair_options(shown) if "admin" in user.get("roles", ()) else None  # 调整流转 (webui.staff.repairs)
    return render_template("case.html", case=shown, rows=rows, other=other, technical=technical, groups=groups,
                           repair=repair,
                           people=people, timeline=timeline(shown["audit"], presenter, element_names),
                           element_names=element_names, my_tasks=my_tasks,
                           bpmn_ready=_bpmn_dist().joinpath("bpmn-navigated-viewer.production.min.js").exists())


@pages.get("/cases/<int:instance_id>/dossier.pdf")
@login_required
def case_dossier(instance_id: int) -> Response:
    """The case's dossier (办理档案) as the reader may see the case (``webui.staff.dossier``)."""
    content = dossier_pdf(engine(), signed_in_user()["username"], instance_id)
    response = Response(content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f"attachment; filename=dossier-{instance_id}.pdf"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@pages.get("/cases/<int:instance_id>/diagram.json")
@login_required
def case_diagram(instance_id: int) -> Response:
    w = engine()
    w.require_case(signed_in_user()["username"], instance_id)
    shown = w.show(instance_id)
    version_id = instances.version_id(w.db, instance_id)
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
def attachment(attachment_id: str) -> Response:
    meta, path = engine().attachment(signed_in_user()["username"], attachment_id)
    if not path.exists():
        raise NotFound(f"the file of attachment {attachment_id} is missing")
    response = send_file(path, mimetype=meta["content_type"], as_attachment=bool(request.args.get("download")),
                         download_name=meta["file_name"], conditional=True, max_age=0)
    response.headers["Content-Security-Policy"] = \
        "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _bpmn_dist() -> Path:
    return Path(current_app.config["NODE_MODULES"]) / "bpmn-js" / "dist"


@pages.get("/vendor/bpmn-js/<path:filename>")
def vendor_bpmn(filename: str) -> Response:
    dist = _bpmn_dist()
    if not dist.exists():
        abort(404)
    return send_from_directory(dist, filename, max_age=3600)
