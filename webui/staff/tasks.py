"""A task: its form with the case beside it, submitting it (``webui.staff.submit``), claiming and releasing it, and
its 更多操作 (转办 委派 退回 撤回 催办 抄送, ``engine.runtime.task_actions``)."""
from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from engine.errors import Conflict, WhistleError
from webui.errors import error_page
from webui.i18n import current as current_lang
from webui.i18n import gettext as _
from webui.staff import formview, values
from webui.staff.frame import engine, login_required, pages, safe_next, signed_in_user
from webui.staff.submit import FormPage, load_draft, submit

# A check in the diagram that sends a task back writes why into ``<name>_errors`` (docs/processes.md): the page
# shows those sentences above the form, not as case data.
ERRORS_SUFFIX = "_errors"


def _render_task(task: dict, form: dict, typed: dict[str, list[str]], errors: dict[str, str], status: int = 200,
                 problem: str | None = None, draft_note: str | None = None,
                 draft_at: str | None = None) -> ResponseReturnValue:
    w = engine()
    data, labels = w.task_data(task["task_id"]), w.case_labels(task["version_id"])
    groups = w.group_labels()
    show_keys = form.get("show") or []
    shown_data = {k: data[k] for k in show_keys if k in data}
    attachments = w.attachments_by_id([i for v in typed.values() for i in v] + list(values.strings_in(shown_data)))
    people = w.user_labels([task["assignee"], data.get("reporter")] + [o["assignee"] for o in task["involved"]]
                           + list(values.strings_in(shown_data)))
    presenter = values.Presenter(labels, groups, people, attachments)
    for other in task["involved"]:  # the case's other open tasks, each with what it is about
        other["subject_text"] = values.subject_text(presenter, other.get("subject"))
    return render_template(
        "task.html", task=task, form=form, title=formview.form_title(form, task["name"]),
        subject=values.subject_text(presenter, task.get("subject")),
        fields=formview.field_views(form, typed, errors, attachments, data, groups=signed_in_user()["groups"]),
        errors=errors, problem=problem,
        **_context_and_facts(presenter.fields([k for k in show_keys if not k.endswith(ERRORS_SUFFIX)], data)),
        notices=[presenter.humanize(str(message)) for k in show_keys if k.endswith(ERRORS_SUFFIX)
                 for message in (data.get(k) or [])], groups=groups,
        people=people, draft_note=draft_note, context_json=_context_json(form, data),
        autosave=formview.autosave(signed_in_user()["username"], url_for("pages.task", task_id=task["task_id"]),
                                   draft_at)), status


def _context_and_facts(rows: list[dict]) -> dict[str, list[dict]]:
    """What the form shows of the case, split: records, tables and lists — the opinion being decided, the results
    being published — are the task's context and read first, full width; single values sit beside the form."""
    context = [r for r in rows if r["node"]["kind"] in ("record", "table", "list")]
    return {"context": context, "shown": [r for r in rows if r not in context]}


def _context_json(form: dict, data: dict) -> str:
    """Case data that the form's conditions read (``{"data": …}``), for the browser's show/hide and required
    marks."""
    names = set()

    def walk(condition: object) -> None:
        if isinstance(condition, dict):
            if "data" in condition:
                names.add(condition["data"])
            for value in condition.values():
                walk(value)
        elif isinstance(condition, list):
            for value in condition:
                walk(value)

    for field in form.get("fields", []):
        for item in [field, *(field.get("components") or [])]:
            if isinstance(item, dict):
                walk(item.get("visible_when"))
                walk(item.get("required_when"))
        walk([rule.get("when") for rule in field.get("rules") or [] if isinstance(rule, dict)])
    walk([rule.get("when") for rule in form.get("rules") or [] if isinstance(rule, dict)])  # a rule's require
    return json.dumps({n: data.get(n) for n in names}, ensure_ascii=False)


def _task_form(view: dict) -> dict:
    return engine().form(view["form_key"], version_id=view["version_id"]) or formview.EMPTY_FORM


@pages.get("/tasks/<task_id>")
@login_required
def task(task_id: str) -> ResponseReturnValue:
    user = signed_in_user()
    view = engine().task_view(user["username"], task_id)
    form = _task_form(view)
    values = formview.initial_values(form, user)
    draft_note, draft_at = load_draft(task_id, user, values) if view["may_complete"] else (None, None)
    return _render_task(view, form, values, {}, draft_note=draft_note, draft_at=draft_at)


@pages.post("/tasks/<task_id>")
@login_required
def task_submit(task_id: str) -> ResponseReturnValue:
    user = signed_in_user()
    w = engine()
    view = w.task_view(user["username"], task_id)
    if not view["may_complete"]:
        return error_page(403, "不能办理", "这项任务已结束或已由他人认领，你不能提交。")
    form = _task_form(view)

    def complete(data: dict) -> ResponseReturnValue:
        try:
            w.complete_task(task_id, user["username"], data, formview.attachment_ids(form, data), lang=current_lang())
        except Conflict:
            flash(_("该任务已被他人处理或变更，请刷新后查看"), "error")
            return redirect(url_for("pages.task", task_id=task_id))
        flash(_("已提交") + f"：{view['name']}（#{view['instance_id']}）", "ok")
        return redirect(url_for("pages.inbox", view="mine"))

    page = FormPage(form=form, draft_key=task_id, draft_url=url_for("pages.task", task_id=task_id),
                    render=partial(_render_task, view, form), task_id=task_id,
                    case_data=lambda: w.task_data(task_id))
    return submit(page, user, complete)


def _after_claim(act: Callable[[str, str], dict], task_id: str, done: str, back: str) -> ResponseReturnValue:
    """Claim or release the task (``act``), say how it went, and go back (to the form's ``next``, else ``back``)."""
    try:
        act(task_id, signed_in_user()["username"])
        flash(done, "ok")
    except Conflict as exc:
        flash(_("该任务已被他人处理或变更，请刷新后查看") + f"（{exc.message}）", "error")
    return redirect(safe_next(request.form.get("next")) if request.form.get("next") else back)


@pages.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str) -> ResponseReturnValue:
    return _after_claim(engine().claim, task_id, _("任务已认领"), url_for("pages.task", task_id=task_id))


@pages.post("/tasks/<task_id>/unclaim")
@login_required
def unclaim(task_id: str) -> ResponseReturnValue:
    return _after_claim(engine().unclaim, task_id, _("任务已退回组任务"), url_for("pages.inbox"))


# -- 更多操作: the task actions, each a small form posting here; the engine decides who may -------------------------

def _act(task_id: str, act: Callable[[str], object], done: str, after: str | None = None) -> ResponseReturnValue:
    """Run one task action for the signed-in user, say how it went, and go back to the task (or ``after``)."""
    try:
        act(signed_in_user()["username"])
    except WhistleError as exc:
        flash(_("操作未完成") + f"：{exc.message}", "error")
        return redirect(url_for("pages.task", task_id=task_id))
    flash(done, "ok")
    return redirect(after or url_for("pages.task", task_id=task_id))


@pages.post("/tasks/<task_id>/transfer")
@login_required
def transfer(task_id: str) -> ResponseReturnValue:
    form = request.form
    return _act(task_id, lambda u: engine().transfer(task_id, u, form.get("to", ""), form.get("reason")),
                _("已转办"), url_for("pages.inbox"))


@pages.post("/tasks/<task_id>/delegate")
@login_required
def delegate(task_id: str) -> ResponseReturnValue:
    form = request.form
    return _act(task_id, lambda u: engine().delegate(task_id, u, form.get("to", ""), form.get("note")),
                _("已委派，对方办理后回到你这里确认"), url_for("pages.inbox"))


@pages.post("/tasks/<task_id>/return")
@login_required
def return_task(task_id: str) -> ResponseReturnValue:
    form = request.form
    return _act(task_id, lambda u: engine().return_task(task_id, u, form.get("to", ""), form.get("reason")),
                _("已退回"), url_for("pages.inbox"))


@pages.post("/tasks/<task_id>/withdraw")
@login_required
def withdraw(task_id: str) -> ResponseReturnValue:
    w = engine()
    try:
        result = w.withdraw(task_id, signed_in_user()["username"])
    except WhistleError as exc:
        flash(_("操作未完成") + f"：{exc.message}", "error")
        return redirect(url_for("pages.task", task_id=task_id))
    flash(_("已撤回，可以重新办理"), "ok")
    return redirect(url_for("pages.task", task_id=result["new_task_ids"][0]) if result["new_task_ids"]
                    else url_for("pages.inbox", view="mine"))


@pages.post("/tasks/<task_id>/urge")
@login_required
def urge(task_id: str) -> ResponseReturnValue:
    return _act(task_id, lambda u: engine().urge(task_id, u, request.form.get("note")), _("已催办"))


@pages.post("/tasks/<task_id>/cc")
@login_required
def copy_case(task_id: str) -> ResponseReturnValue:
    instance_id = engine().task(task_id)["instance_id"]
    form = request.form
    return _act(task_id, lambda u: engine().cc(instance_id, u, form.get("to", ""), form.get("note")), _("已抄送"))
