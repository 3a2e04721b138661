"""The one form-submit flow of the staff pages, for starting a case and for completing a task alike.

A posted form is read (uploads stored first, so their ids join the values); then exactly one of:

* an add-row or remove-row button (the page without JavaScript): the form shows again, nothing is saved;
* "save draft": the values are kept for this user and form, and the form shows again;
* "submit": the values are validated in the reader's language; with errors the form shows again (422),
  else the command runs (``finish``) and the engine's own checks — the data contract, an incident, invalid
  input — show the form again with their messages (422).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from flask import flash, redirect, request
from flask.typing import ResponseReturnValue

from engine.errors import IncidentRaised, InvalidInput
from engine.forms import validation as form_lib
from engine.forms.contracts import InvalidSubmission
from engine.time.workdays import timezone as local_zone
from webui.i18n import current as current_lang
from webui.i18n import gettext as _
from webui.staff import display, formview
from webui.staff.frame import engine


class FormRenderer(Protocol):
    """Shows the form again with these values and messages."""

    def __call__(self, values: dict[str, list[str]], errors: dict[str, str], status: int = 200,
                 problem: str | None = None, draft_note: str | None = None,
                 draft_at: str | None = None) -> ResponseReturnValue: ...


@dataclass(frozen=True)
class FormPage:
    """What differs between the start form of a process and the form of a task."""

    form: dict
    draft_key: str  # the draft's key: ``start:<process id>`` or the task id
    draft_url: str  # where the form shows again after its draft is saved
    render: FormRenderer
    task_id: str | None = None  # the task its uploads belong to (None: a start form)
    case_data: Callable[[], Mapping[str, Any]] | None = None  # the case data its conditions read (a task's case)


def load_draft(key: str, user: dict, values: dict[str, list[str]]) -> tuple[str | None, str | None]:
    """The user's saved draft of this form, merged into ``values``: the note saying when it was saved, and that
    time (the browser's unsent copy of the form is offered only when it is newer)."""
    saved = engine().draft(key, user["username"])
    if not saved:
        return None, None
    values.update(saved["data"].get("values", {}))
    return _("已载入 {when} 保存的草稿", when=display.short_time(saved["updated_at"])), saved["updated_at"]


def submit(page: FormPage, user: dict, finish: Callable[[dict], ResponseReturnValue]) -> ResponseReturnValue:
    """Handle a posted form (see the module's docstring); ``finish`` runs the command with the validated data
    and answers the request."""
    w, form = engine(), page.form
    values = formview.submitted_values(form, request)
    upload_errors = formview.store_uploads(w, user["username"], form, request, values, page.task_id)
    if formview.row_action(form, request, values):  # add/remove a row without JavaScript: show the form again
        return page.render(values, upload_errors)
    if request.form.get("_submit") == "draft":
        w.save_draft(page.draft_key, user["username"], {"values": values})
        if upload_errors:
            return page.render(values, upload_errors, 422)
        flash(_("草稿已保存"), "ok")
        return redirect(page.draft_url)
    context = page.case_data() if page.case_data is not None else None
    data, errors = form_lib.validate(form, values, username=user["username"], groups=user["groups"],
                                     display_name=user["display_name"], context=context, lang=current_lang(),
                                     tz=local_zone())
    errors.update(upload_errors)
    if errors:
        return page.render(values, errors, 422)
    try:
        return finish(data)
    except InvalidSubmission as exc:  # the engine's contract check: the same rules as the REST API and the CLI
        return page.render(values, exc.field_errors, 422)
    except (IncidentRaised, InvalidInput) as exc:
        return page.render(values, {}, 422, problem=exc.message)
