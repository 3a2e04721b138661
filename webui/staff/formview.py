"""Rendering and reading task forms (``engine.forms``) in the browser: field views, submitted values, uploads."""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from flask import Request

from engine.api import Whistle
from engine.casework.attachments import AttachmentRejected
from engine.forms import rows as form_rows
from engine.forms.contracts import own_values
from engine.forms.files import LIST_TYPE, LOCATION_TYPE, columns_of, option_text
from engine.forms.validation import prefill, required_condition, required_now
from engine.forms.values import InvalidValue, location
from engine.time import clock
from engine.time.workdays import timezone as local_zone
from webui.i18n import gettext as _
from webui.i18n import pick
from webui.staff.display import short_time
from webui.staff.values import location_text

EMPTY_FORM = {"key": "", "title": "", "fields": []}
ACCEPT = ".jpg,.jpeg,.png,.heic,.heif,.pdf,image/jpeg,image/png,image/heic,image/heif,application/pdf"
CAMERA_ACCEPT = "image/*"  # a file field with ``capture``: the phone's camera takes the photo


def as_strings(values: dict) -> dict[str, list[str]]:
    """Typed values (prefill, defaults) as the lists of strings a form posts (rows as their cells)."""
    out: dict[str, list[str]] = {}
    for name, value in values.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            out.update(form_rows.flat_rows(name, value))
            continue
        items = value if isinstance(value, list) else [value]
        out[name] = [option_text(v) for v in items if v is not None]
    return out


def initial_values(form: dict, user: dict) -> dict[str, list[str]]:
    """What a new form shows: its prefills, and for a field that states the actor's own organisation
    (``from_account``) the one their groups give (a street's clerk starts for their street)."""
    values = as_strings(prefill(form, user["username"], user["groups"], user["display_name"]))
    for field in form.get("fields", []):
        if field.get("from_account") and not values.get(field["name"]):
            own = own_values(field, user["groups"])
            if own:
                values[field["name"]] = [own[0]]
    return values


def submitted_values(form: dict, request: Request) -> dict[str, list[str]]:
    """What the browser sent for the form's fields (file fields: the ids of files already uploaded and kept).

    A dynamiclist's cells come as ``scores[0][department]``; its rows are renumbered from 0 in the order sent
    and blank rows are left out, so messages and the page that shows them count rows the same way."""
    values = {}
    for field in form.get("fields", []):
        name = field["name"]
        if field.get("type") == "hidden":
            continue
        if field.get("type") == LIST_TYPE:
            values.update(form_rows.flat_rows(name, form_rows.submitted_rows(field, _cells(request, name))))
            continue
        values[name] = [v for v in request.form.getlist(name)]
    return values


def _cells(request: Request, name: str) -> dict[str, list[str]]:
    return {key: request.form.getlist(key) for key in request.form if key.startswith(name + "[")}


def row_action(form: dict, request: Request, values: dict[str, list[str]]) -> bool:
    """The add-row and remove-row buttons when the page runs without JavaScript: ``_submit`` is ``add:scores``
    or ``remove:scores:2`` (the row as posted). Changes ``values`` (blank rows kept, so a new row shows) and
    says whether the request was such a button; the page is then shown again, nothing is validated or saved."""
    action = request.form.get("_submit") or ""
    verb, _sep, rest = action.partition(":")
    if verb not in ("add", "remove") or not rest:
        return False
    name, _sep, position = rest.partition(":")
    field = next((f for f in form.get("fields", []) if f["name"] == name and f.get("type") == LIST_TYPE), None)
    if field is None:
        return False
    cells = _cells(request, name)
    rows = form_rows.submitted_rows(field, cells, keep_blank=True)
    if verb == "add" and len(rows) < field.get("max_rows", form_rows.ROW_LIMIT):
        rows.append({c["name"]: [] for c in columns_of(field)})
    elif verb == "remove" and position.isdigit():
        posted = sorted({int(m.group(2)) for m in map(form_rows.CELL_RE.match, cells) if m})
        if int(position) in posted:
            del rows[posted.index(int(position))]
    for key in [k for k in values if k.startswith(name + "[")]:
        del values[key]
    values.update(form_rows.flat_rows(name, rows))
    values[name + "[]"] = [str(len(rows))]  # how many rows to show, blank ones included
    return True


def file_fields(form: dict) -> list[str]:
    return [f["name"] for f in form.get("fields", []) if f.get("type") == "file"]


def upload_message(exc: AttachmentRejected, file_name: str) -> str:
    if exc.code == "too_large":
        megabytes = (exc.limit or 0) // (1024 * 1024)
        return _("文件「{name}」超过 {mb} MB，未上传", name=file_name, mb=megabytes)
    if exc.code == "empty":
        return _("文件「{name}」是空的，未上传", name=file_name)
    if exc.code == "heic":
        return _("照片「{name}」无法读取，未上传；请改用 JPG 或 PNG 格式（苹果手机：设置 → 相机 → 格式 → 兼容性最佳）",
                 name=file_name)
    return _("只能上传 JPG、PNG、HEIC 或 PDF 文件（「{name}」未上传）", name=file_name)


def store_uploads(engine: Whistle, user: str, form: dict, request: Request, values: dict[str, list[str]],
                  task_id: str | None) -> dict[str, str]:
    """Save the files chosen in the form's file fields; their ids join the field's values. Returns errors.

    The files belong to their uploader until the form is submitted; then they are filed with the case
    (``link_attachments``), so a case shows only what was handed in."""
    errors: dict[str, str] = {}
    for name in file_fields(form):
        for upload in request.files.getlist(name):
            if not upload or not upload.filename:
                continue
            content = upload.read()
            try:
                stored = engine.add_attachment(user, upload.filename, content, task_id=task_id, field=name)
            except AttachmentRejected as exc:
                errors[name] = upload_message(exc, upload.filename)
                continue
            values.setdefault(name, []).append(stored["attachment_id"])
    return errors


def attachment_ids(form: dict, data: dict) -> list[str]:
    ids: list[str] = []
    for name in file_fields(form):
        ids.extend(v for v in data.get(name) or [] if isinstance(v, str))
    return ids


def _location_view(chosen: list[str]) -> dict | None:
    """A location field's value as the page shows it before the script runs (None: none, or not a position)."""
    try:
        value = location(chosen[0], local_zone()) if chosen and chosen[0] else None
    except InvalidValue:
        return None
    return {"text": location_text(value), "when": short_time(value["at"]) if value.get("at") else ""} if value else None


def _view(field: dict, name: str, element_id: str, chosen: list[str], error: str | None,
          attachments: dict[str, dict], needed: bool = False, required_when: dict | None = None) -> dict:
    """``needed``: required for the values shown; ``required_when``: when it is (its own, or a rule's that requires
    it; the script shows the mark while that holds)."""
    kind = field.get("type", "text")
    options = [{"value": option_text(o["value"]), "label": pick(o, "label"),
                "checked": option_text(o["value"]) in chosen} for o in field.get("options") or []]
    condition = field.get("visible_when")
    required_when = (required_when or field.get("required_when")) if not field.get("required") else None
    return {
        "name": name, "id": element_id, "type": kind, "label": pick(field, "label", field["name"]),
        "help": pick(field, "help"), "placeholder": pick(field, "placeholder"),
        "required": bool(field.get("required")) or needed, "multiple": bool(field.get("multiple")),
        "required_when": json.dumps(required_when, ensure_ascii=False) if required_when else None,
        "options": options, "value": chosen[0] if chosen else "", "values": chosen,
        "checked": bool(chosen) and chosen[0] in ("on", "true", "1", "yes"),
        "error": error, "min": field.get("min"), "max": field.get("max"),
        "step": field.get("step") or ("1" if field.get("integer") else "any"),
        "maxlength": field.get("max_length"), "rows": field.get("rows", 4),
        "visible_when": json.dumps(condition, ensure_ascii=False) if condition else None,
        "files": [attachments[i] for i in chosen if i in attachments] if kind == "file" else [],
        "accept": CAMERA_ACCEPT if field.get("capture") else ACCEPT, "capture": field.get("capture"),
        "location": _location_view(chosen) if kind == LOCATION_TYPE else None,
    }


def row_count(field: dict, values: dict[str, list[str]]) -> int:
    """How many rows a list shows: the rows in ``values`` (or as many as an add/remove button left), else
    ``defaultRepetitions`` (form-js; default 1) or ``min_rows`` blank ones."""
    name = field["name"]
    shown = values.get(name + "[]")
    if shown and shown[0].isdigit():
        return int(shown[0])
    indices = [int(m.group(2)) for m in map(form_rows.CELL_RE.match, values) if m and m.group(1) == name]
    if indices:
        return max(indices) + 1
    return max(int(field.get("defaultRepetitions", 1)), int(field.get("min_rows", 0)))


def _list_view(field: dict, values: dict[str, list[str]], errors: dict[str, str],
               needed: set[str] | frozenset[str] = frozenset()) -> dict:
    name = field["name"]
    columns = columns_of(field)

    when = {column["name"]: required_condition(column, field.get("rules")) for column in columns}

    def row(index: int | str, number: int | str) -> dict:
        cells = []
        for column in columns:
            key = form_rows.cell_key(name, index, column["name"])
            cell = _view(column, key, f"f-{name}-{index}-{column['name']}", values.get(key, []), errors.get(key), {},
                         key in needed, when[column["name"]])
            cell["column"] = column["name"]
            cells.append(cell)
        return {"index": index, "number": number, "cells": cells, "prefix": f"{name}[{index}]"}

    count = row_count(field, values)
    view = _view(field, name, f"f-{name}", [], errors.get(name), {})
    limit = field.get("max_rows", form_rows.ROW_LIMIT)
    view.update({
        "columns": [{"name": c["name"], "label": pick(c, "label", c["name"]), "required": bool(c.get("required"))}
                    for c in columns],
        "rows": [row(i, i + 1) for i in range(count)], "template": row("__index__", "__number__"),
        "min_rows": int(field.get("min_rows", 0)), "max_rows": limit, "limited": "max_rows" in field,
        "can_add": count < limit,
        "allow_add_remove": field.get("allowAddRemove", True) is not False,
        "add_label": pick(field, "add_label") or _("添加一行"),
        "cell_errors": form_rows.row_errors(errors, name),
    })
    return view


def field_views(form: dict, values: dict[str, list[str]], errors: dict[str, str],
                attachments: dict[str, dict], context: dict | None = None,
                groups: Iterable[str] | None = None) -> list[dict]:
    """Everything a template needs to draw the form's fields, in the reader's language. A dynamiclist's view
    has its ``columns``, its ``rows`` (each with ``cells``: the views of its inputs) and a ``template`` row
    (index ``__index__``) that the script copies for a new row. A field whose ``required_when`` holds for these
    values (and ``context``, the case data) is marked required, as the script marks it when they change. With
    the actor's ``groups``, a ``from_account`` field offers only the values their groups give, and is ``locked``
    (shown, not editable) when that is one — the engine refuses any other value (``engine.forms.contracts``)."""
    views = []
    needed = required_now(form, values, context, local_zone())
    for field in form.get("fields", []):
        kind = field.get("type", "text")
        if kind == "hidden":
            continue
        if kind == LIST_TYPE:
            views.append(_list_view(field, values, errors, needed))
            continue
        name = field["name"]
        view = _view(field, name, f"f-{name}", values.get(name, []), errors.get(name), attachments,
                     name in needed, required_condition(field, form.get("rules")))
        if groups is not None and field.get("from_account"):
            own = own_values(field, groups)
            if own and view["options"]:
                view["options"] = [o for o in view["options"] if o["value"] in own]
            view["locked"] = len(own) == 1
            view["locked_text"] = next((o["label"] for o in view["options"] if o["value"] in own), own[0]) \
                if view["locked"] else ""
            if view["locked"]:
                view["value"], view["values"] = own[0], [own[0]]
        views.append(view)
    return views


def _epoch_ms(moment: object) -> int | None:
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return None
    if not isinstance(moment, datetime):
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def autosave(username: str, url: str, draft_at: object = None) -> dict:
    """What app.js needs to keep a form's typed values in this browser until they are submitted (a lost session
    then loses nothing): the key (the person and the form's URL), the server's clock now and the time of the saved
    draft, in milliseconds, so that a copy typed before the draft was saved is never offered over it."""
    return {"key": f"{username} {url}", "now": _epoch_ms(clock.now()), "draft_at": _epoch_ms(draft_at) or ""}


def form_title(form: dict, fallback: str) -> str:
    return pick(form, "title", fallback) or fallback

