"""For administrators: 版本迁移 — move a process's running cases to another version. Pick the process and the
versions, map the elements the new version renamed (OLD → NEW, chosen from both versions' elements), 预演 (a dry
run: per case whether it can move and why not), then confirm for exactly the cases the dry run found movable
and read the outcome (moved, skipped, failed with the reason).

The rules — who may, which case can move, what a mapping may name — are the engine's
(``engine.management.repairs``, ``engine.runtime.upgrade``); this view reads the form, calls the facade and puts
the answer in words.
"""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from engine.errors import Forbidden, InvalidInput, NotFound
from webui.i18n import current as current_lang
from webui.i18n import gettext as _
from webui.staff.frame import engine, login_required, pages, signed_in_user

# BPMN element kinds, in words (an element without a name is shown by its kind)
ELEMENT_KINDS = {"userTask": "人工任务", "manualTask": "人工任务", "task": "任务", "serviceTask": "服务任务",
                 "scriptTask": "脚本任务", "businessRuleTask": "决策任务", "sendTask": "发送任务",
                 "receiveTask": "接收任务", "callActivity": "调用子流程", "subProcess": "子流程",
                 "startEvent": "开始事件", "endEvent": "结束事件", "intermediateCatchEvent": "中间事件",
                 "intermediateThrowEvent": "中间事件", "boundaryEvent": "边界事件", "exclusiveGateway": "排他网关",
                 "parallelGateway": "并行网关", "inclusiveGateway": "包容网关", "eventBasedGateway": "事件网关",
                 "complexGateway": "复杂网关"}
# why a case cannot move (engine.runtime.upgrade's codes), as the page says it: by element names, no ids
REASONS = {"removed": "等待在「{element}」，版本 {to} 删除了这个环节",
           "renamed": "等待在「{element}」，版本 {to} 没有这个环节；它像是改名为「{hint}」，请在上面添加对应关系",
           "type_changed": "等待在「{element}」，它在版本 {to} 中换成了另一种环节",
           "subprocess_removed": "正在办理的子流程「{element}」在版本 {to} 中不存在",
           "needs_data": "版本 {to} 的「{element}」需要案件中没有的数据",
           "same_version": "已经是版本 {to}",
           "not_running": "案件不在办理中，只能迁移办理中的案件",
           "other_process": "案件属于另一个流程",
           "not_from": "案件在版本 {current}，不是所选的原版本",
           "bad_state": "迁移后的案件无法在版本 {to} 中载入",
           "failed": "迁移失败，案件留在原版本"}
OUTCOMES = {"moved": "已迁移", "skipped": "已跳过", "failed": "失败"}
IN_REQUEST = 50  # cases the page migrates while it waits; more become a batch (engine.jobs.batches)
MAX_ROWS = 20  # mapping rows a form may carry


def element_label(element: dict) -> str:
    return element["name"] or _("未命名的{kind}", kind=_(ELEMENT_KINDS.get(element["type"], "环节")))


def _number(name: str) -> int | None:
    value = (request.values.get(name) or "").strip()
    return int(value) if value.isdigit() and 0 < int(value) < 2**31 else None


def _mapping() -> list[tuple[str, str]]:
    """The form's mapping rows (old[], new[]), the empty ones left out."""
    pairs = zip(request.values.getlist("old")[:MAX_ROWS], request.values.getlist("new")[:MAX_ROWS], strict=False)
    return [(old.strip(), new.strip()) for old, new in pairs if old.strip() or new.strip()]


class Choices:
    """What the form offers for a process: its versions, and the elements of the versions a mapping pairs."""

    def __init__(self, process_id: str, from_version: int | None, to_version: int | None) -> None:
        w = engine()
        self.versions = w.versions_of(process_id, signed_in_user()["username"])["versions"]  # newest first
        by_number = {v["version"]: v for v in self.versions}
        self.to_version: int = to_version if to_version is not None and to_version in by_number \
            else self.versions[0]["version"]
        self.from_version = from_version if from_version in by_number else None
        olds = [by_number[self.from_version]] if self.from_version else \
            [v for v in self.versions if v["version"] != self.to_version and v["running"]]
        self.old_elements = _merged([w.version_elements(v["version_id"]) for v in olds])
        self.new_elements = w.version_elements(by_number[self.to_version]["version_id"])
        self.names = {e["element_id"]: element_label(e) for e in self.new_elements + self.old_elements}

    def reason(self, result: dict) -> Markup:
        """Why a case cannot move, in the reader's words (element names, not ids); the engine's own sentence
        (with ids and any technical detail) folded below it for the administrator."""
        code = result.get("code")
        if result.get("can_move") or code is None:
            return Markup("")
        element = result.get("element_id")
        template = REASONS.get(code)
        sentence = _(template, element=self.names.get(element or "", element or ""), to=result["to_version"],
                     hint=self.names.get(result.get("hint") or "", result.get("hint") or ""),
                     current=result.get("from_version") or "") if template else _("不能迁移")
        engine_text = result.get("reason_en") if current_lang() == "en" else result.get("reason")
        detail = Markup('<details class="technical reason-detail"><summary>{}</summary><code>{}</code></details>')\
            .format(_("详情"), engine_text) if engine_text else Markup("")
        return escape(sentence) + detail


def _merged(lists: list[list[dict]]) -> list[dict]:
    seen: dict[str, dict] = {}
    for elements in lists:
        for e in elements:
            seen.setdefault(e["element_id"], e)
    return list(seen.values())


def _page(status: int = 200, **values: object) -> ResponseReturnValue:
    w = engine()
    process_id = (request.values.get("process") or "").strip()
    processes = w.process_names()
    choices = None
    problem = values.pop("problem", None)
    if process_id:
        try:
            choices = Choices(process_id, _number("from"), _number("to"))
        except NotFound as exc:
            problem, status, process_id = exc.message, 404, ""
    mapping = _mapping()
    rows = mapping + [("", "")] * max(1, 3 - len(mapping))
    return render_template("upgrade.html", processes=processes, process_id=process_id, choices=choices,
                           rows=rows, mapping=mapping, problem=problem, outcomes=OUTCOMES,
                           label=element_label, **values), status


@pages.get("/admin/upgrade")
@login_required(role="admin")
def admin_upgrade() -> ResponseReturnValue:
    """The form; with ``dry_run`` the dry run's table and the confirmation for the cases that can move."""
    process_id = (request.args.get("process") or "").strip()
    if not request.args.get("dry_run") or not process_id:
        return _page()
    try:
        choices = Choices(process_id, _number("from"), _number("to"))
        plan = engine().upgrade_cases(process_id, choices.to_version, from_version=choices.from_version,
                                      mapping=[f"{old}={new}" for old, new in _mapping()],
                                      actor=signed_in_user()["username"], dry_run=True)
    except (InvalidInput, NotFound, Forbidden) as exc:
        return _page(422 if isinstance(exc, InvalidInput) else 404, problem=exc.message)
    for result in plan["results"]:
        result["reason_html"] = choices.reason(result)
    return _page(plan=plan, movable=[r["instance_id"] for r in plan["results"] if r["can_move"]])


@pages.post("/admin/upgrade")
@login_required(role="admin")
def admin_upgrade_run() -> ResponseReturnValue:
    """The confirmed migration of the cases the dry run listed as movable (``instances``): each moves in its own
    command; the outcome table says which moved, which were skipped and which failed, and why."""
    process_id = (request.form.get("process") or "").strip()
    ids = [int(i) for i in request.form.getlist("instances") if i.isdigit() and 0 < int(i) < 2**31]
    if not process_id or not ids:
        return _page(422, problem=_("没有要迁移的案件：请先预演"))
    try:
        choices = Choices(process_id, _number("from"), _number("to"))
        mapping = [f"{old}={new}" for old, new in _mapping()]
        if len(ids) > IN_REQUEST:  # many cases: a persisted batch the workers share, its page shows the progress
            batch = engine().upgrade_as_batch(process_id, choices.to_version, from_version=choices.from_version,
                                              instance_ids=ids, mapping=mapping, actor=signed_in_user()["username"])
            return redirect(url_for("pages.batch", batch_id=batch["batch_id"]))
        done = engine().upgrade_cases(process_id, choices.to_version, from_version=choices.from_version,
                                      instance_ids=ids, mapping=mapping, actor=signed_in_user()["username"])
    except (InvalidInput, NotFound) as exc:
        return _page(422 if isinstance(exc, InvalidInput) else 404, problem=exc.message)
    for result in done["results"]:
        result["reason_html"] = choices.reason(result)
    return _page(done=done)
