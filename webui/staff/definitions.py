"""For designers: the deployed definitions with their forms, and a form's preview."""
from __future__ import annotations

from flask import render_template

from engine.errors import NotFound
from engine.queries import definitions as definition_queries
from webui.staff import formview
from webui.staff.frame import engine, login_required, pages, signed_in_user


@pages.get("/definitions")
@login_required(role="designer")
def definitions() -> str:
    w = engine()
    rows = w.definitions()
    ids = definition_queries.version_ids(w.db)
    forms = {}
    for row in rows:
        row["version_id"] = ids.get((row["process_id"], row["version"]))
        if row["kind"] == "process" and row["version_id"]:
            forms[row["version_id"]] = sorted(w.version_forms(row["version_id"]).items())
    return render_template("definitions.html", rows=rows, forms=forms)


@pages.get("/definitions/<int:version_id>/forms/<form_key>")
@login_required(role="designer")
def form_preview(version_id: int, form_key: str) -> str:
    form = engine().form(form_key, version_id=version_id)
    if form is None:
        raise NotFound(f"no form {form_key} in version {version_id}")
    values = formview.initial_values(form, signed_in_user())
    return render_template("form_preview.html", form=form, title=formview.form_title(form, form_key),
                           fields=formview.field_views(form, values, {}, {}), version_id=version_id,
                           form_key=form_key, context_json="{}")
