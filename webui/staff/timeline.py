"""A case's audit trail as sentences (一次一留痕: who did what, when); the sentences are in the catalogs
(``webui.i18n.event_template``), the data a step submitted reads through ``webui.staff.values``."""
from __future__ import annotations

from webui.i18n import event_template
from webui.i18n import gettext as _
from webui.staff.display import SYSTEM_ACTORS, group_list, short_time
from webui.staff.values import EMPTY, Presenter

SHOWN_PER_STEP = 4  # values of a step's submitted data written beside it


def timeline(events: list[dict], presenter: Presenter, element_names: dict[str, str]) -> list[dict]:
    """The events as rows ``{"at", "who", "text", "extra", "event"}``, oldest first as given."""
    rows = []
    for event in events:
        details = event.get("details") or {}
        element_id = str(details.get("element_id") or "")
        values = {"name": details.get("name", ""), "message": details.get("message", ""),
                  "error": details.get("error", ""), "file_name": details.get("file_name", ""),
                  "files": "、".join(details.get("files") or []),
                  # an element without a name in the diagram is not shown by its id (a designer's word)
                  "element": element_names.get(element_id) or (_("流程环节") if element_id else ""),
                  # the administrators' repairs (engine.management.repairs)
                  "from_version": details.get("from_version", ""), "to_version": details.get("to_version", ""),
                  "incident_id": details.get("incident_id", ""), "note": details.get("note", ""),
                  "summary": _modification(details, element_names) if event["event"] == "instance_modified" else "",
                  # the task actions (engine.runtime.task_actions): to whom, why, back to whom
                  "to": _whom(details.get("to"), details, presenter, element_names),
                  "reason": details.get("reason") or "", "owner": _whom(details.get("owner"), {}, presenter, {})}
        text = event_template(event["event"]).format_map(_Blank(values))
        extra = []
        if event["event"] == "task_created" and details.get("candidate_groups"):
            extra.append(_("交 {groups}", groups=group_list(details["candidate_groups"], presenter.groups)))
        if event["event"] == "task_created" and details.get("due_at"):
            extra.append(_("时限 {when}", when=short_time(details["due_at"])))
        if event["event"] in ("task_completed", "started"):
            data = details.get("data") or {}
            shown = [(k, v) for k, v in data.items() if presenter.is_labelled(k) and v not in EMPTY]
            for key, value in shown[:SHOWN_PER_STEP]:
                extra.append(f"{presenter.label(key)}：{presenter.summary(key, value, limit=60)}")
        if event["event"] == "instance_modified" and details.get("reason"):
            extra.append(_("原因：{reason}", reason=details["reason"]))
        actor = event.get("actor")
        who = _(SYSTEM_ACTORS[actor]) if actor in SYSTEM_ACTORS else presenter.people.get(str(actor), actor)
        rows.append({"at": event["at"], "who": who, "text": text, "extra": "；".join(extra), "event": event["event"]})
    return rows


def _modification(details: dict, element_names: dict[str, str]) -> str:
    """What an administrator's move did, by element names (the audit's ``summary`` is the engine's, in ids)."""
    def names(ids: list[str]) -> str:
        return "、".join(f"「{element_names.get(i) or _('流程环节')}」" for i in ids)

    if details.get("back_to"):
        return _("退回到{element}", element=names([details["back_to"]]))
    parts = []
    if details.get("cancelled"):
        parts.append(_("取消{elements}", elements=names(details["cancelled"])))
    if details.get("started"):
        parts.append(_("启动{elements}", elements=names(details["started"])))
    return "，".join(parts)


class _Blank(dict):
    """A sentence's values; one the event does not carry reads as nothing rather than failing the page."""

    def __missing__(self, key: str) -> str:
        return ""


def _whom(name: object, details: dict, presenter: Presenter, element_names: dict[str, str]) -> str:
    """Whom a task action names: a step (退回), a group or a person, as the pages name them."""
    if not name:
        return ""
    text = str(name)
    if details.get("to_kind") == "group":
        return presenter.groups.get(text, text)
    if details.get("to_kind") is None and text in element_names:
        return element_names[text]
    return presenter.people.get(text, text)
