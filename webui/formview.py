"""Rendering and reading task forms (``engine.forms``) in the browser: field views, submitted values, uploads."""
from __future__ import annotations

import json

from flask import Request

from engine import forms as form_lib
from engine.casework import AttachmentRejected

from .i18n import current, gettext as _, pick

EMPTY_FORM = {"key": "", "title": "", "fields": []}
ACCEPT = ".jpg,.jpeg,.png,.pdf,image/jpeg,image/png,application/pdf"


def as_strings(values: dict) -> dict[str, list[str]]:
    """Typed values (prefill, defaults) as the lists of strings a form posts."""
    out: dict[str, list[str]] = {}
    for name, value in values.items():
        items = value if isinstance(value, list) else [value]
        out[name] = [form_lib._text(v) for v in items if v is not None]
    return out


def initial_values(form: dict, user: dict) -> dict[str, list[str]]:
    return as_strings(form_lib.prefill(form, user["username"], user["groups"], user["display_name"]))


def submitted_values(form: dict, request: Request) -> dict[str, list[str]]:
    """What the browser sent for the form's fields (file fields: the ids of files already uploaded and kept)."""
    values = {}
    for field in form.get("fields", []):
        name = field["name"]
        if field.get("type") == "hidden":
            continue
        values[name] = [v for v in request.form.getlist(name)]
    return values


def file_fields(form: dict) -> list[str]:
    return [f["name"] for f in form.get("fields", []) if f.get("type") == "file"]


def upload_message(exc: AttachmentRejected, file_name: str) -> str:
    if exc.code == "too_large":
        megabytes = (exc.limit or 0) // (1024 * 1024)
        return _("文件「{name}」超过 {mb} MB，未上传", name=file_name, mb=megabytes)
    if exc.code == "empty":
        return _("文件「{name}」是空的，未上传", name=file_name)
    return _("只能上传 JPG、PNG 或 PDF 文件（「{name}」未上传）", name=file_name)


def store_uploads(engine, user: str, form: dict, request: Request, values: dict[str, list[str]],
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


def field_views(form: dict, values: dict[str, list[str]], errors: dict[str, str], attachments: dict[str, dict]) -> list[dict]:
    """Everything a template needs to draw the form's fields, in the reader's language."""
    views = []
    for field in form.get("fields", []):
        kind = field.get("type", "text")
        if kind == "hidden":
            continue
        name = field["name"]
        chosen = values.get(name, [])
        options = [{"value": form_lib._text(o["value"]), "label": pick(o, "label"),
                    "checked": form_lib._text(o["value"]) in chosen} for o in field.get("options") or []]
        condition = field.get("visible_when")
        views.append({
            "name": name, "id": f"f-{name}", "type": kind, "label": pick(field, "label", name),
            "help": pick(field, "help"), "placeholder": pick(field, "placeholder"),
            "required": bool(field.get("required")), "multiple": bool(field.get("multiple")),
            "options": options, "value": chosen[0] if chosen else "", "values": chosen,
            "checked": bool(chosen) and chosen[0] in ("on", "true", "1", "yes"),
            "error": errors.get(name), "min": field.get("min"), "max": field.get("max"),
            "step": field.get("step") or ("1" if field.get("integer") else "any"),
            "maxlength": field.get("max_length"), "rows": field.get("rows", 4),
            "visible_when": json.dumps(condition, ensure_ascii=False) if condition else None,
            "files": [attachments[i] for i in chosen if i in attachments] if kind == "file" else [],
            "accept": ACCEPT,
        })
    return views


def form_title(form: dict, fallback: str) -> str:
    return pick(form, "title", fallback) or fallback


def lang() -> str:
    return current()
