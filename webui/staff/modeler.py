"""For designers: the BPMN modeler in the page (bpmn-js with the Camunda 7 properties panel, bundled from npm by
``make install`` into ``webui/static/build/``), and the calls its page makes — autosaving the draft, validating
the diagram with the deploy checks, deploying it as a new version.

Every rule is the engine's (``engine.management.modeler``: designers and administrators only, the stale-draft
check, the deploy checks); the role check here only spares others the page. The page's calls answer JSON:
``{"error", "message"}`` with the status of the engine's error, and for problems of the diagram each problem with
its element id and a Chinese sentence (``problem_view``).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from flask import Response, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from engine import i18n as catalogs
from engine.errors import Conflict, DeploymentInvalid, InvalidInput, Problem, WhistleError
from webui import csrf
from webui.errors import status_of
from webui.i18n import current as current_lang
from webui.i18n import gettext as _
from webui.staff.display import local_time
from webui.staff.frame import engine, login_required, pages, signed_in_user

BUNDLE = "build/modeler.js"  # under webui/static, written by `make install` (npm run build); never committed
_RULE = re.compile(r"\[([a-z-]+)\]\s*$")


def bundle_ready(bundle: str = BUNDLE) -> bool:
    """Was the modeler (or ``bundle``) built (``make install``)? Without it the page says how to build it instead
    of failing."""
    return (Path(current_app.static_folder or "") / bundle).is_file()


# -- the pages -------------------------------------------------------------------------------------------------

@pages.get("/modeler/processes/<process_id>")
@login_required(role="designer")
def modeler_process(process_id: str) -> str:
    """The latest version of a process in the modeler."""
    return _page(engine().modeler_open(signed_in_user()["username"], process_id=process_id))


@pages.get("/modeler/versions/<int:version_id>")
@login_required(role="designer")
def modeler_version(version_id: int) -> str:
    """A deployed version in the modeler (deploying it makes the process's next version)."""
    return _page(engine().modeler_open(signed_in_user()["username"], version_id=version_id))


@pages.get("/modeler/new")
@login_required(role="designer")
def modeler_new() -> ResponseReturnValue:
    """A new process: its id and name first, then a blank diagram with one start event."""
    process_id = request.args.get("process_id", "").strip()
    name = request.args.get("name", "").strip()
    if not process_id:
        return render_template("modeler_new.html", process_id="", name=name, error=None)
    try:
        opened = engine().modeler_blank(signed_in_user()["username"], process_id, name)
    except InvalidInput:
        error = _("流程 ID 以字母或下划线开头，只含字母、数字、下划线和连字符，最多 100 个字符")
        return render_template("modeler_new.html", process_id=process_id, name=name, error=error), 422
    except Conflict:
        return redirect(url_for("pages.modeler_process", process_id=process_id))
    return _page(opened)


def _page(opened: dict) -> str:
    process_id = opened["process_id"]
    config = {
        "processId": process_id, "name": opened["name"], "file": opened["file"], "xml": opened["xml"],
        "base": _version(opened["base"]), "latest": _version(opened["latest"]), "draft": _draft(opened["draft"]),
        "lang": current_lang(), "texts": _texts(), "csrf": csrf.token(),
        "urls": {"draft": url_for("pages.modeler_save_draft", process_id=process_id),
                 "discard": url_for("pages.modeler_discard_draft", process_id=process_id),
                 "validate": url_for("pages.modeler_validate", process_id=process_id),
                 "deploy": url_for("pages.modeler_deploy", process_id=process_id),
                 "definitions": url_for("pages.definitions")},
    }
    return render_template("modeler.html", opened=opened, config=config, ready=bundle_ready(), bundle=BUNDLE)


PAGE_TEXTS = {  # what the page's script says; {…} is filled in by the script
    "saving": "正在保存草稿…", "saved": "草稿已保存 {time}", "unsaved": "有未保存的修改",
    "save_failed": "草稿保存失败，将重试", "offer": "你有一份 {time} 保存的草稿（基于{base}）。",
    "offer_stale": "注意：草稿基于版本 {base}，之后已部署了版本 {latest}。",
    "base_new": "新流程", "base_version": "版本 {version}",
    "validating": "正在校验…", "valid": "校验通过，可以部署", "problems": "{errors} 个错误，{warnings} 个警告",
    "error": "错误", "warning": "警告", "line": "第 {line} 行", "whole": "整个文件",
    "confirm": "把当前的图部署为「{name}」的新版本？运行中的案件仍按原来的版本办理，新发起的案件使用新版本。",
    "confirm_stale": "注意：这份图基于版本 {base}，之后已经部署了版本 {latest}。部署会以这份图为准，"
                     "版本 {latest} 的修改不会带过来。仍要部署吗？",
    "deploying": "正在部署…", "deploy_failed": "部署失败：{message}", "request_failed": "请求失败：{message}",
    "leave": "还有修改没有保存，确定离开吗？", "show_props": "属性面板", "hide_props": "隐藏属性",
    "discarded": "草稿已放弃",
}


def _texts() -> dict[str, str]:
    """The page script's texts in the reader's language."""
    return {key: _(text) for key, text in PAGE_TEXTS.items()}


def _version(facts: dict | None) -> dict | None:
    return None if facts is None else {"version_id": facts["version_id"], "version": facts["version"]}


def _draft(draft: dict | None) -> dict | None:
    if draft is None:
        return None
    return {"xml": draft["xml"], "saved": local_time(draft["updated_at"]), "base": _version(draft["base"]),
            "stale": draft["stale"]}


# -- the page's calls --------------------------------------------------------------------------------------------

def _json_call(view: Callable[..., Any]) -> Callable[..., ResponseReturnValue]:
    """A call of the modeler page: signed in as a designer (``login_required``), answered as JSON — the
    engine's refusal with its status, a diagram's problems with their element ids and Chinese sentences."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        try:
            return view(*args, **kwargs)
        except DeploymentInvalid as exc:
            return _answer(422, error="invalid_deployment", message=_("部署检查未通过，没有部署"),
                           problems=[problem_view(p) for p in exc.problems])
        except WhistleError as exc:
            return _answer(status_of(exc.kind), error=exc.kind, message=exc.message)
    return login_required(role="designer")(wrapper)


def _answer(status: int, **body: Any) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _body() -> dict:
    """The call's fields: a JSON object (the page's fetch calls) or a posted form."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInput("the body must be a JSON object")
        return body
    return request.form.to_dict()


def _base_version_id(body: dict) -> int | None:
    value = body.get("base_version_id")
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput("base_version_id: a version id (a whole number), or empty for a new process") from None


@pages.get("/modeler/processes/<process_id>/draft")
@_json_call
def modeler_draft(process_id: str) -> ResponseReturnValue:
    draft = engine().modeler_draft(signed_in_user()["username"], process_id)
    return jsonify(draft=_draft(draft))


@pages.post("/modeler/processes/<process_id>/draft")
@_json_call
def modeler_save_draft(process_id: str) -> ResponseReturnValue:
    body = _body()
    saved = engine().save_modeler_draft(signed_in_user()["username"], process_id, _base_version_id(body),
                                        body.get("xml"))
    return jsonify(saved=local_time(saved["updated_at"]), stale=saved["stale"])


@pages.post("/modeler/processes/<process_id>/draft/discard")
@_json_call
def modeler_discard_draft(process_id: str) -> ResponseReturnValue:
    return jsonify(discarded=engine().discard_modeler_draft(signed_in_user()["username"], process_id))


@pages.post("/modeler/processes/<process_id>/validate")
@_json_call
def modeler_validate(process_id: str) -> ResponseReturnValue:
    report = engine().modeler_validate(signed_in_user()["username"], process_id, _body().get("xml"))
    problems = [problem_view(Problem(**p)) for p in report["problems"]]
    return jsonify(ok=report["ok"], errors=report["errors"], warnings=report["warnings"], problems=problems)


@pages.post("/modeler/processes/<process_id>/deploy")
@_json_call
def modeler_deploy(process_id: str) -> ResponseReturnValue:
    body = _body()
    base_version_id = _base_version_id(body)
    user = signed_in_user()["username"]
    try:
        result = engine().modeler_deploy(user, process_id, body.get("xml"), base_version_id,
                                         confirm_stale=body.get("confirm_stale") in (True, "1", "true"))
    except Conflict as exc:
        latest = engine().modeler_open(user, process_id=process_id)["latest"]
        return _answer(409, error="stale", message=exc.message, latest=_version(latest))
    return jsonify(version=result["version"], version_id=result["version_id"], status=result["status"],
                   message=_("已部署为版本 {version}", version=result["version"]) if result["status"] == "new"
                   else _("与版本 {version} 相同，没有部署新版本", version=result["version"]))


def problem_view(problem: Problem) -> dict:
    """A problem as the modeler lists and marks it: severity, element id, line, a sentence in the reader's
    language (in Chinese from the rule's entry in ``engine.i18n.zh.LINT``, with the check's message as detail)."""
    lang = current_lang()
    detail = problem.message
    text = detail if lang == "en" else _chinese(problem)
    return {"severity": problem.severity, "element_id": problem.element_id, "line": problem.line, "text": text,
            "detail": None if lang == "en" else detail}


def _chinese(problem: Problem) -> str:
    rule = _RULE.search(problem.message)
    message = problem.message
    if rule:
        code = rule.group(1)
    elif message.startswith("BPMN schema:"):
        code = "_schema"
    elif "XML" in message or "DOCTYPE" in message or "UTF-8" in message:
        code = "_xml"
    elif "neither in this deployment nor deployed" in message:
        code = "_reference"
    elif "no longer defines process" in message:
        code = "_process"
    elif " MB" in message:
        code = "_size"
    else:
        code = "_other"
    return catalogs.template("LINT", code, "zh") or catalogs.template("LINT", "_other", "zh") or message
