"""Starting work: the processes a user may start, and a process's start form (``webui.staff.submit``)."""
from __future__ import annotations

import secrets
from functools import partial

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from engine.time import clock
from engine.time.workdays import timezone as local_zone
from webui.i18n import current as current_lang
from webui.i18n import gettext as _
from webui.i18n import pick
from webui.staff import display, formview
from webui.staff.frame import engine, login_required, pages, signed_in_user
from webui.staff.submit import FormPage, load_draft, submit


@pages.get("/start")
@login_required
def start_list() -> str:
    processes = engine().startable(signed_in_user()["username"])
    for process in processes:
        form = engine().form(process["form_key"], version_id=process["version_id"]) if process["form_key"] else None
        process["form_title"] = formview.form_title(form, process.get("start_name") or process["name"]) if form \
            else process.get("start_name") or process["name"]
        process["form_description"] = pick(form, "description") if form else display.first_sentence(
            process["documentation"], 200)
    return render_template("start_list.html", processes=processes)


def _render_start(info: dict, form: dict, values: dict[str, list[str]], errors: dict[str, str], status: int = 200,
                  problem: str | None = None, draft_note: str | None = None,
                  draft_at: str | None = None) -> ResponseReturnValue:
    attachments = engine().attachments_by_id([i for v in values.values() for i in v])
    url = url_for("pages.start_form", process_id=info["process_id"])
    return render_template("start_form.html", info=info, form=form,
                           title=formview.form_title(form, info.get("start_name") or info["name"]),
                           fields=formview.field_views(form, values, errors, attachments,
                                                     groups=signed_in_user()["groups"]),
                           errors=errors,
                           problem=problem, draft_note=draft_note, context_json="{}",
                           autosave=formview.autosave(signed_in_user()["username"], url, draft_at)), status


def _start_form(info: dict) -> dict:
    return engine().form(info["form_key"], version_id=info["version_id"]) or formview.EMPTY_FORM


@pages.get("/start/<process_id>")
@login_required
def start_form(process_id: str) -> ResponseReturnValue:
    user = signed_in_user()
    info = engine().start_info(user["username"], process_id)
    form = _start_form(info)
    values = formview.initial_values(form, user)
    draft_note, draft_at = load_draft(f"start:{process_id}", user, values)
    return _render_start(info, form, values, {}, draft_note=draft_note, draft_at=draft_at)


@pages.post("/start/<process_id>")
@login_required
def start_submit(process_id: str) -> ResponseReturnValue:
    user = signed_in_user()
    w = engine()
    info = w.start_info(user["username"], process_id)
    form = _start_form(info)

    def start(data: dict) -> ResponseReturnValue:
        prefix = form.get("business_key_prefix") or process_id[:3].upper()
        business_key = f"{prefix}-{clock.now().astimezone(local_zone()):%Y%m%d}-{secrets.token_hex(2).upper()}"
        instance_id = w.start_case(process_id, user["username"], data, business_key,
                                   formview.attachment_ids(form, data), lang=current_lang())
        flash(_("已提交，案件编号 {key}", key=f"#{instance_id}（{business_key}）"), "ok")
        return redirect(url_for("pages.case", instance_id=instance_id))

    page = FormPage(form=form, draft_key=f"start:{process_id}",
                    draft_url=url_for("pages.start_form", process_id=process_id),
                    render=partial(_render_start, info, form))
    return submit(page, user, start)
