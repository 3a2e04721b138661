"""The inbox: my tasks, my groups' tasks, what I have done; filtered, searched, paged, and polled for news."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, render_template, request, url_for

from webui import inputs
from webui.staff.frame import PAGE_SIZE, engine, login_required, pages, signed_in_user

VIEWS = ("mine", "group", "done")
TIERS = ("red", "yellow", "blue")
DEADLINES = ("overdue", "today", "week", "none")


def _inbox_args() -> dict[str, Any]:
    args = request.args
    view = args.get("view", "mine")
    if view not in VIEWS:
        view = "mine"
    tier = args.get("tier") if args.get("tier") in TIERS else None
    deadline = args.get("deadline") if args.get("deadline") in DEADLINES else None
    page = inputs.page_number()
    return {"view": view, "process": args.get("process") or None, "tier": tier, "deadline": deadline,
            "q": (args.get("q") or "").strip()[:100] or None, "page": page}


def _inbox_context(user: dict) -> dict[str, Any]:
    args = _inbox_args()
    w = engine()
    result = w.inbox(user["username"], args["view"], process_id=args["process"], tier=args["tier"],
                     deadline=args["deadline"], text=args["q"], limit=PAGE_SIZE,
                     offset=(args["page"] - 1) * PAGE_SIZE)
    groups = w.group_labels()
    people = w.user_labels([t["assignee"] for t in result["tasks"]]
                           + [o["assignee"] for t in result["tasks"] for o in t["involved"]])
    processes = w.process_names()
    base = {k: v for k, v in args.items() if v and k not in ("page",)}
    here = url_for("pages.inbox", **base, **({"page": args["page"]} if args["page"] > 1 else {}))
    return {"inbox": result, "args": args, "groups": groups, "people": people, "processes": processes,
            "digest": w.inbox_digest(user["username"])["digest"], "base_args": base, "here_url": here}


@pages.get("/inbox")
@login_required
def inbox() -> str:
    context = _inbox_context(signed_in_user())
    if request.args.get("partial"):
        return render_template("_inbox_body.html", **context)
    return render_template("inbox.html", **context)


@pages.get("/inbox/poll")
@login_required
def inbox_poll() -> Response:
    """A small fingerprint of the user's open work; the page reloads its list when it changes."""
    return jsonify(engine().inbox_digest(signed_in_user()["username"]))
