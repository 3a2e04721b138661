"""The inbox: my tasks, my groups' tasks, what I have done; filtered, searched, sorted, paged, and polled for news.
The query parameters are the engine's to check (``engine.casework.listing.InboxQuery``)."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, render_template, request, url_for

from engine.casework.listing import InboxQuery
from engine.errors import InvalidInput
from webui import inputs
from webui.staff import values
from webui.staff.frame import PAGE_SIZE, engine, login_required, pages, signed_in_user
from webui.staff.listing import page_links, query_args, refused, scope_labels


def _inbox_context(user: dict) -> dict[str, Any]:
    query = InboxQuery.from_args(query_args())
    page = inputs.page_number()
    w = engine()
    result = w.inbox_page(user["username"], query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    groups = w.group_labels()
    people = w.user_labels([t["assignee"] for t in result["tasks"]]
                           + [o["assignee"] for t in result["tasks"] for o in t["involved"]])
    presenters: dict[int, values.Presenter] = {}
    for t in result["tasks"]:  # what each task (and the case's other open tasks) is about, as the case page writes it
        if t["version_id"] not in presenters:
            presenters[t["version_id"]] = values.Presenter(w.case_labels(t["version_id"]), groups, people)
        for item in [t, *t["involved"]]:
            if item.get("subject"):
                item["subject_text"] = values.subject_text(presenters[t["version_id"]], item["subject"])
    filters = {k: v for k, v in query.args().items() if k != "view"}  # the tab links keep the filters and sort
    base = dict(filters, view=result["view"])
    here_args: dict[str, Any] = dict(base, **({"page": str(page)} if page > 1 else {}))
    here = url_for("pages.inbox", **here_args)
    return {"inbox": result, "query": query, "groups": groups, "people": people, "processes": w.process_names(),
            "scopes": scope_labels(w.scope_options()),
            "digest": w.inbox_digest(user["username"])["digest"], "filter_args": filters, "base_args": base,
            "here_url": here, "paging": page_links(page, result["total"], PAGE_SIZE, result["more"]),
            "copies": w.copies(user["username"], COPIES_SHOWN)}  # 抄送我的: read-only items


COPIES_SHOWN = 20  # the newest cases copied to the user (抄送), shown under the inbox


@pages.get("/inbox")
@login_required
def inbox() -> str | tuple[str, int]:
    try:
        context = _inbox_context(signed_in_user())
    except InvalidInput as exc:
        return refused(exc)
    if request.args.get("partial"):
        return render_template("_inbox_body.html", **context)
    return render_template("inbox.html", **context)


@pages.get("/inbox/poll")
@login_required
def inbox_poll() -> Response:
    """A small fingerprint of the user's open work; the page reloads its list when it changes."""
    return jsonify(engine().inbox_digest(signed_in_user()["username"]))
