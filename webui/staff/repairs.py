"""For administrators, on a case's page: 调整流转 — move the case's token by hand (instance modification): back to
a task it has done (退回), or cancel an active task and start another element, with a reason kept in the audit
chain. What is safe is the engine's rule (``engine.management.repairs``): refused moves come back as a message
on the case page and nothing changes."""
from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from engine.errors import Conflict, InvalidInput
from webui.i18n import gettext as _
from webui.staff.frame import engine, login_required, pages, signed_in_user
from webui.staff.upgrade import element_label

TASK_KINDS = {"userTask", "manualTask", "task", "serviceTask", "scriptTask", "businessRuleTask", "sendTask",
              "receiveTask", "callActivity", "subProcess"}
STARTABLE = TASK_KINDS | {"intermediateCatchEvent", "intermediateThrowEvent", "endEvent"}


def repair_options(case: dict) -> dict | None:
    """The choices of the 调整流转 form for a running case: the tasks it waits at (to cancel), those it has done
    (to go back to), and the elements a token may start at; None for a case that is not running."""
    if case["status"] != "running":
        return None
    w = engine()
    elements = w.version_elements(case["version_id"])
    states = w.element_states(case["instance_id"])
    active = {t["element_id"] for t in case["open_tasks"]}
    return {"active": [e for e in elements if e["element_id"] in active],
            "done": [e for e in elements if e["type"] in TASK_KINDS and e["element_id"] not in active
                     and states.get(e["element_id"], {}).get("done")],
            "startable": [e for e in elements if e["type"] in STARTABLE and e["element_id"] not in active],
            "label": element_label}


@pages.post("/cases/<int:instance_id>/modify")
@login_required(role="admin")
def case_modify(instance_id: int) -> ResponseReturnValue:
    form = request.form
    reason = form.get("reason", "")
    back_to = (form.get("back_to") or "").strip() or None
    cancel, start = [c for c in form.getlist("cancel") if c], [s for s in form.getlist("start") if s]
    try:
        result = engine().modify_instance(instance_id, cancel=cancel, start=start, back_to=back_to,
                                          actor=signed_in_user()["username"], reason=reason)
        actor = signed_in_user()["username"]
        names = engine().element_names(engine().case(actor, instance_id)["version_id"])
        flash(_("已调整流转，现在待办：{tasks}", tasks="、".join(names.get(t, _("流程环节")) for t in result["ready"])
                or "—"), "ok")
    except (Conflict, InvalidInput) as exc:
        flash(_("没有调整") + f"：{exc.message}", "error")
    return redirect(url_for("pages.case", instance_id=instance_id) + "#repair")
