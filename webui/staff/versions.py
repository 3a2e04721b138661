"""For designers: a process's (or decision's) versions — who deployed each, when, its content hash, lint warnings
and cases — its files as deployed (one, or all as a zip), and the difference of two versions on their diagrams
and as tables (``engine.deploy.diff`` through ``Whistle.diff``). Sources are for the designer and admin roles
only, like every page of ``webui.staff.definitions``."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Response, current_app, jsonify, render_template, request, url_for

from engine.deploy.rules.common import RULES
from engine.errors import InvalidInput
from webui.i18n import gettext as _
from webui.staff import display
from webui.staff.frame import engine, login_required, pages, signed_in_user

# What a change's property is called on the page (engine.deploy.diff.PROPERTIES and the DMN and form keys).
PROPERTY_NAMES = {
    "name": "名称", "type": "类型", "documentation": "说明", "lane": "泳道", "timer_type": "计时类型", "timer": "计时",
    "event": "事件定义", "message": "消息", "condition": "条件", "default": "默认", "script": "脚本",
    "pre_script": "前置脚本", "post_script": "后置脚本", "candidate_groups": "候选组", "candidate_users": "候选人",
    "assignee": "办理人", "form_key": "表单", "due_date": "时限", "priority": "优先级", "outputs": "可写数据",
    "obligation": "责任类型", "called_decision": "调用决策", "result_variable": "结果变量",
    "called_element": "调用流程", "multi_instance": "多实例", "attached_to": "附着环节", "interrupting": "中断",
    "starters": "可发起人", "properties": "扩展属性", "text": "注释文字",
    # decision tables
    "hit_policy": "命中策略", "aggregation": "聚合", "expression": "表达式", "label": "标签",
    # form fields and a form's own settings
    "label_en": "英文标签", "required": "必填", "options": "选项", "help": "填写说明", "help_en": "英文填写说明",
    "placeholder": "占位提示", "min": "最小值", "max": "最大值", "min_length": "最短",
    "max_length": "最长", "integer": "整数", "step": "步长", "multiple": "多选", "rows": "行数",
    "visible_when": "显示条件", "required_when": "必填条件", "prefill": "预填", "max_files": "文件数上限",
    "capture": "拍照", "from_account": "取自账号", "components": "列", "min_rows": "最少行数",
    "max_rows": "最多行数", "unique": "不可重复", "title": "标题", "title_en": "英文标题",
    "description": "说明", "description_en": "英文说明", "rules": "校验规则", "show": "显示数据",
    "case_labels": "案件数据标签", "case_title": "案件标题", "case_fields": "案件数据顺序", "submit": "提交按钮",
    "submit_en": "英文提交按钮", "business_key_prefix": "案件编号前缀", "unknown_fields": "未知字段",
    "subject": "任务主题", "subject_en": "英文任务主题", "key": "表单键",
}
# Properties whose values are words people read (shown as text); every other value is source (shown as code).
TEXT_PROPERTIES = {"name", "documentation", "lane", "text", "label", "title", "description", "help", "placeholder",
                   "submit", "subject"}
TYPE_NAMES = {
    "process": "流程", "subProcess": "子流程", "transaction": "事务子流程", "adHocSubProcess": "自由子流程",
    "callActivity": "调用活动", "task": "任务", "userTask": "用户任务", "manualTask": "人工任务",
    "scriptTask": "脚本任务", "serviceTask": "服务任务", "sendTask": "发送任务", "receiveTask": "接收任务",
    "businessRuleTask": "业务规则任务", "startEvent": "开始事件", "endEvent": "结束事件",
    "intermediateCatchEvent": "中间捕获事件", "intermediateThrowEvent": "中间抛出事件", "boundaryEvent": "边界事件",
    "exclusiveGateway": "排他网关", "inclusiveGateway": "包容网关", "parallelGateway": "并行网关",
    "eventBasedGateway": "事件网关", "complexGateway": "复杂网关", "sequenceFlow": "连线", "messageFlow": "消息流",
    "association": "关联", "dataInputAssociation": "数据输入", "dataOutputAssociation": "数据输出", "lane": "泳道",
    "participant": "参与者", "textAnnotation": "注释", "dataObjectReference": "数据对象",
    "dataStoreReference": "数据存储", "group": "分组", "message": "消息", "signal": "信号", "error": "错误",
    "escalation": "升级",
}
VALUE_NAMES = {"timer_type": {"duration": "时长", "date": "日期", "cycle": "周期"}}
STATUS_NAMES = {"added": "新增", "removed": "删除", "changed": "修改"}
# The lint rules (engine.deploy.rules.common.RULES) as a designer reads them here.
RULE_NAMES = {
    "start-event-required": "缺少开始事件", "end-event-required": "缺少结束事件", "no-disconnected": "元素未连线",
    "no-implicit-start": "缺少进入连线", "no-implicit-end": "缺少离开连线", "conditional-flows": "分支条件",
    "no-implicit-split": "隐式分支", "fake-join": "隐式汇合", "no-duplicate-sequence-flows": "重复连线",
    "single-blank-start-event": "多个空白开始事件", "event-sub-process-typed-start-event": "事件子流程的开始事件",
    "sub-process-blank-start-event": "子流程的开始事件", "superfluous-gateway": "多余的网关",
    "no-gateway-join-fork": "网关既汇合又分支", "label-required": "缺少名称", "no-bpmndi": "元素不在图上",
    "human-task-assignment": "任务无人办理", "timer-expression": "计时表达式", "script-compiles": "脚本或表达式",
    "modeler-compatibility": "建模工具扩展", "decision-table": "决策表", "catalog-deployed": "目录未部署",
    "no-call-cycle": "循环调用", "max-branches": "分支过多", "max-path-length": "路径过长",
    "no-interrupting-multi-instance": "多实例上的中断事件",
}
RULE_IN_MESSAGE = re.compile(r"\[([a-z-]+)\]\s*$")


@pages.get("/definitions/<key>/versions")
@login_required(role="designer")
def definition_versions(key: str) -> str:
    w = engine()
    history = w.versions_of(key, _reader())
    people = _deployers(w.user_labels(v["deployed_by"] for v in history["versions"]))
    for version in history["versions"]:
        version["lint"] = [_warning(p) for p in version["warnings"]]
    return render_template("versions.html", history=history, people=people)


@pages.get("/definitions/<key>/versions/<int:number>/source")
@login_required(role="designer")
def definition_source(key: str, number: int) -> Response:
    """One file of a version, byte for byte as it was deployed, as a download."""
    file_name = request.args.get("file", "")
    content = engine().version_file(key, number, file_name, _reader())
    return _download(content.encode("utf-8"), file_name.replace("\\", "/").rsplit("/", 1)[-1] or "file",
                     _mimetype(file_name))


@pages.get("/definitions/<key>/versions/<int:number>.zip")
@login_required(role="designer")
def definition_archive(key: str, number: int) -> Response:
    name, content = engine().version_archive(key, number, _reader())
    return _download(content, name, "application/zip")


@pages.get("/definitions/<key>/diff")
@login_required(role="designer")
def definition_diff(key: str) -> str:
    w = engine()
    reader = _reader()
    history = w.versions_of(key, reader)
    numbers = [v["version"] for v in history["versions"]]  # newest first
    new = _number("to", numbers[0])
    old = _number("from", max((n for n in numbers if n < new), default=new))
    diff = w.diff(key, old, new, reader)
    diagrams = None
    if diff["kind"] == "process":
        diagrams = {side: _diagram(w, key, diff[end], diff, side, reader)
                    for side, end in (("old", "from"), ("new", "to"))}
    people = _deployers(w.user_labels([diff["from"]["deployed_by"], diff["to"]["deployed_by"]]))
    return render_template("diff.html", diff=diff, history=history, numbers=numbers, diagrams=diagrams,
                           people=people, rows=_element_rows(diff), empty=_is_empty(diff),
                           bpmn_ready=_viewer_installed())


# -- helpers -------------------------------------------------------------------------------------------------

def _reader() -> str:
    """Who reads: the engine refuses anyone but designers and administrators (the role check above only spares
    others the page)."""
    return str(signed_in_user()["username"])


def _deployers(people: dict[str, str]) -> dict[str, str]:
    """Who deployed, as the pages name them: a person's name, or 系统 for a deploy by the command line's default."""
    return {**people, **{actor: _(name) for actor, name in display.SYSTEM_ACTORS.items() if actor in people}}


def _number(name: str, default: int) -> int:
    text = request.args.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise InvalidInput(f"{name}: a version number, not {text!r}")
    return int(text)


def _diagram(w: Any, key: str, header: dict, diff: dict, side: str, reader: str) -> dict:
    """One side's BPMN and the ids to colour on it: removed (old side) or added (new side), and changed."""
    shown = diff["to"]["file"]  # the diff names the own files' elements by the newer one's name
    mark = "removed" if side == "old" else "added"
    return {"xml": w.version_file(key, header["version"], header["file"], reader), "version": header["version"],
            "marks": {mark: [e["id"] for e in diff[mark] if e["file"] == shown],
                      "changed": [e["id"] for e in diff["changed"] + diff["flows"] if e["file"] == shown]}}


def _viewer_installed() -> bool:
    """bpmn-js from npm (``make install``), served by ``webui.staff.cases.vendor_bpmn``."""
    dist = Path(current_app.config["NODE_MODULES"]) / "bpmn-js" / "dist"
    return dist.joinpath("bpmn-navigated-viewer.production.min.js").exists()


def _warning(problem: dict) -> dict:
    found = RULE_IN_MESSAGE.search(problem.get("message") or "")
    rule = found.group(1) if found else None
    return {**problem, "rule": rule, "rule_name": RULE_NAMES.get(rule or "", RULES.get(rule or "", ("", rule))[1]),
            "message": RULE_IN_MESSAGE.sub("", problem.get("message") or "").strip()}


def _element_rows(diff: dict) -> list[dict]:
    """The BPMN changes as table rows: one per added or removed element, one per changed property."""
    rows = [{"status": "added", **e, "property": None} for e in diff["added"]]
    rows += [{"status": "removed", **e, "property": None} for e in diff["removed"]]
    for element in diff["changed"]:
        for prop, (old, new) in element["changes"].items():
            rows.append({"status": "changed", **element, "property": prop, "old": old, "new": new})
    return rows


def _is_empty(diff: dict) -> bool:
    return not any(diff[k] for k in ("added", "removed", "changed", "flows", "decisions", "forms", "files"))


def _mimetype(file_name: str) -> str:
    lowered = file_name.lower()
    if lowered.endswith((".bpmn", ".dmn")):
        return "application/xml"
    if lowered.endswith(".json"):
        return "application/json"
    if lowered.endswith(".csv"):
        return "text/csv"
    return "application/octet-stream"


def _download(content: bytes, name: str, mimetype: str) -> Response:
    response = Response(content, mimetype=mimetype)
    response.headers.set("Content-Disposition", "attachment", filename=name)
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def property_name(prop: str | None) -> str:
    """A property's name on the page (Chinese, or English through the catalog)."""
    return _(PROPERTY_NAMES[prop]) if prop in PROPERTY_NAMES else (prop or "")


def type_name(kind: str | None) -> str:
    return _(TYPE_NAMES[kind]) if kind in TYPE_NAMES else (kind or "")


@pages.app_template_global("diff_value")
def diff_value(prop: str | None, value: Any) -> dict:
    """How a changed value reads: ``{"text": …}`` for words and yes/no, ``{"code": …}`` for source, or
    ``{"none": True}``."""
    if value is None or value == "":
        return {"none": True}
    if isinstance(value, bool):
        return {"text": _("是") if value else _("否")}
    names = VALUE_NAMES.get(prop or "", {})
    if value in names:
        return {"text": _(names[value])}
    if prop in TEXT_PROPERTIES and isinstance(value, str):
        return {"text": value}
    return {"code": str(value)}


pages.add_app_template_global(property_name, "property_name")
pages.add_app_template_global(type_name, "type_name")


@pages.get("/definitions/<key>/versions/<int:number>/view")
@login_required(role="designer")
def definition_view(key: str, number: int) -> str:
    """The definition view (Cockpit's): the version's diagram with, on each element, the cases waiting there,
    overdue there and in incident, each a link to those cases; the same counts as a table beside it."""
    w = engine()
    counts = w.element_counts(key, number, _reader())
    names = w.element_names(counts["version_id"])
    user = signed_in_user()
    target = "pages.admin_cases" if "admin" in user["roles"] else "pages.cases"
    rows = []
    for element_id, c in sorted(counts["elements"].items(), key=lambda item: names.get(item[0]) or item[0]):
        base = {"process": key, "version": number, "waiting_at": element_id}
        rows.append({"element_id": element_id, "name": names.get(element_id) or element_id, **c,
                     "links": {"waiting": url_for(target, **base),
                               "overdue": url_for(target, **base, overdue="1"),
                               "incidents": url_for(target, process=key, version=number, status="with_incident")}})
    return render_template("definition_view.html", key=key, number=number, rows=rows,
                           bpmn_ready=(Path(current_app.config["NODE_MODULES"]) / "bpmn-js" / "dist"
                                       / "bpmn-navigated-viewer.production.min.js").exists(),
                           data_url=url_for("pages.definition_view_data", key=key, number=number))


@pages.get("/definitions/<key>/versions/<int:number>/view.json")
@login_required(role="designer")
def definition_view_data(key: str, number: int) -> Response:
    w = engine()
    counts = w.element_counts(key, number, _reader())
    return jsonify(xml=w.diagram_xml(counts["version_id"]), elements=counts["elements"],
                   labels={"waiting": _("等待"), "overdue": _("超期"), "incidents": _("故障")})
