"""For administrators: bulk operations over many cases (批量操作, ``engine.management.batches``). The list with a
form to start one; a confirmation that names the count ("将对 N 个案件执行 X，确认？", the macro in
``_batch_confirm.html`` that other pages — the case search — post to: ``POST /admin/batches`` with ``operation``,
``instance_id`` (repeated) and ``reason``); a batch's page with its progress, live (``batch.js`` polls the JSON of
``/progress`` every second and swaps in the report), the report with the reasons, its CSV, and cancelling.
The engine checks that the user is an administrator on every call; these views only read the form."""
from __future__ import annotations

import json
import re

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from engine.errors import InvalidInput, NotFound, WhistleError
from engine.management.batches import FILTER_KEYS
from webui.i18n import current as current_lang
from webui.i18n import gettext as _
from webui.staff.frame import engine, login_required, pages, signed_in_user

REPORT_ROWS = 500  # items drawn on the page; the CSV has them all
_ID_SEPARATORS = re.compile(r"[\s,，、;；]+")


def _selection() -> dict:
    """The cases and parameters a posted form chose: ``instance_id`` fields (the case search), an ``instance_ids``
    text of ids (the form here), or the filter fields; InvalidInput naming what is wrong."""
    scope = request.form.get("scope")  # the case search's two buttons: the checked cases, or all it found
    ids: list[int] = []
    given_ids = [] if scope == "all" else \
        request.form.getlist("instance_id") + _ID_SEPARATORS.split(request.form.get("instance_ids", ""))
    for text in given_ids:
        text = text.strip().lstrip("#")
        if not text:
            continue
        if not text.isdigit():
            raise InvalidInput(_("「{given}」不是案件编号", given=text))
        ids.append(int(text))
    filter_value: dict | None = None
    if request.form.get("filter"):
        try:
            filter_value = json.loads(request.form["filter"])
        except ValueError:
            raise InvalidInput(_("筛选条件格式不正确")) from None
    elif scope != "selected":
        chosen = {key: request.form.get(f"filter_{key}", "").strip() for key in FILTER_KEYS}
        filter_value = {key: value for key, value in chosen.items() if value} or None
    if scope == "selected" and not ids:
        raise InvalidInput(_("请先勾选要批量操作的案件"))
    if ids and filter_value is None:
        selection: dict = {"instance_ids": ids}
    elif filter_value is not None and not ids:
        selection = {"filter": filter_value}
    else:
        raise InvalidInput(_("请填写案件编号，或选择筛选条件（二者选一）"))
    params = None
    if request.form.get("params"):
        try:
            params = json.loads(request.form["params"])
        except ValueError:
            raise InvalidInput(_("参数格式不正确")) from None
    return {**selection, "params": params, "reason": request.form.get("reason", "").strip() or None}


@pages.get("/admin/batches")
@login_required(role="admin")
def batches() -> str:
    w = engine()
    user = signed_in_user()["username"]
    listed = w.batch_list(user)
    return render_template("batches.html", batches=listed, operations=w.batch_operations(user),
                           processes=w.process_names(), people=w.user_labels(b["actor"] for b in listed))


@pages.post("/admin/batches")
@login_required(role="admin")
def batch_create() -> ResponseReturnValue:
    """Without ``confirm``: the confirmation naming the count. With it (and the count confirmed): the batch."""
    w = engine()
    user = signed_in_user()["username"]
    operation = request.form.get("operation", "")
    back = request.form.get("back") or url_for("pages.batches")
    try:
        selection = _selection()
        if request.form.get("confirm"):
            expected = request.form.get("expected_count", "")
            created = w.create_batch(user, operation, expected_count=int(expected) if expected.isdigit() else None,
                                     **selection)
            flash(_("已创建批量操作 #{id}：{count} 个案件", id=created["batch_id"], count=created["total"]), "ok")
            return redirect(url_for("pages.batch", batch_id=created["batch_id"]))
        preview = w.preview_batch(user, operation, **selection)
    except (InvalidInput, NotFound) as exc:
        flash(exc.message, "error")
        return redirect(back)
    return render_template("batch_confirm.html", preview=preview, selection=selection, back=back,
                           selection_json=json.dumps(selection.get("filter"), ensure_ascii=False)
                           if "filter" in selection else None,
                           params_json=json.dumps(preview["params"], ensure_ascii=False) if preview["params"] else "")


@pages.get("/admin/batches/<int:batch_id>")
@login_required(role="admin")
def batch(batch_id: int) -> str:
    w = engine()
    user = signed_in_user()["username"]
    shown = w.batch(user, batch_id)
    return render_template("batch.html", batch=shown, items=w.batch_items(user, batch_id, limit=REPORT_ROWS),
                           report_rows=REPORT_ROWS, processes=w.process_names(),
                           people=w.user_labels([shown["actor"], shown["cancelled_by"]]))


@pages.get("/admin/batches/<int:batch_id>/progress")
@login_required(role="admin")
def batch_progress(batch_id: int) -> Response:
    shown = engine().batch(signed_in_user()["username"], batch_id)
    shown["status_label"] = _(shown["status_label"])
    return jsonify(shown)


@pages.get("/admin/batches/<int:batch_id>/report")
@login_required(role="admin")
def batch_report(batch_id: int) -> str:
    """The report table alone, which the batch's page swaps in as its items finish."""
    w = engine()
    items = w.batch_items(signed_in_user()["username"], batch_id, limit=REPORT_ROWS)
    return render_template("_batch_report.html", items=items, processes=w.process_names(), report_rows=REPORT_ROWS)


@pages.get("/admin/batches/<int:batch_id>/report.csv")
@login_required(role="admin")
def batch_report_csv(batch_id: int) -> Response:
    text = engine().batch_report_csv(signed_in_user()["username"], batch_id, current_lang())
    return Response(text.encode("utf-8"), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=batch-{batch_id}.csv"})


@pages.post("/admin/batches/<int:batch_id>/cancel")
@login_required(role="admin")
def batch_cancel(batch_id: int) -> ResponseReturnValue:
    try:
        cancelled = engine().cancel_batch(signed_in_user()["username"], batch_id)
        flash(_("批量操作已取消：{skipped} 个案件未执行", skipped=cancelled["cancelled"]), "ok")
    except WhistleError as exc:
        flash(exc.message, "error")
    return redirect(url_for("pages.batch", batch_id=batch_id))
