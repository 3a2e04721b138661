"""For designers: a version's form in form-js's editor and its decision tables in dmn-js's (bundled from npm by
``make install`` into ``webui/static/build/``), and the calls the page makes — saving the draft, validating with
the deploy checks, deploying the process's next version with the changed file.

Every rule is the engine's (``engine.management.editors``: designers and administrators only, the stale check,
reading a form-js schema, the deploy checks); the role check here only spares others the page. The calls answer
JSON like the modeler's (``webui.staff.modeler``): the engine's refusal with its status, a deployment's problems
each with a sentence in the reader's language.
"""
from __future__ import annotations

from flask import jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue

from engine.errors import Conflict, InvalidInput, Problem
from webui import csrf
from webui.i18n import current as current_lang
from webui.i18n import gettext as _
from webui.staff.display import local_time
from webui.staff.frame import engine, login_required, pages, signed_in_user
from webui.staff.modeler import _answer, _body, _json_call, bundle_ready, problem_view

BUNDLE = "build/editor.js"  # under webui/static, written by `make install` (npm run build); never committed


@pages.get("/editor/versions/<int:version_id>")
@login_required(role="designer")
def editor_page(version_id: int) -> str:
    """A form or decision table of a deployed version in its editor (``?file=`` its name in the version)."""
    opened = engine().editor_open(signed_in_user()["username"], version_id, request.args.get("file", ""))
    process_id = opened["process_id"]
    config = {
        "editor": opened["editor"], "processId": process_id, "name": opened["name"], "file": opened["file"],
        "schema": opened.get("schema"), "xml": opened.get("xml"),
        "base": _version(opened["base"]), "latest": _version(opened["latest"]), "draft": _draft(opened["draft"]),
        "lang": current_lang(), "texts": _texts(opened["editor"]), "csrf": csrf.token(),
        "urls": {name: url_for(f"pages.editor_{name}", process_id=process_id)
                 for name in ("draft", "discard", "validate", "deploy")}
        | {"versions": url_for("pages.definition_versions", key=process_id)},
    }
    return render_template("editor.html", opened=opened, config=config, ready=bundle_ready(BUNDLE), bundle=BUNDLE)


PAGE_TEXTS = {  # what the page's script says; {…} is filled in by the script
    "saving": "正在保存草稿…", "saved": "草稿已保存 {time}", "unsaved": "有未保存的修改",
    "save_failed": "草稿保存失败，将重试", "offer": "你有一份 {time} 保存的草稿（基于版本 {base}）。",
    "offer_stale": "注意：草稿基于版本 {base}，之后已部署了版本 {latest}。",
    "validating": "正在校验…", "valid": "校验通过，可以部署", "problems": "{errors} 个错误，{warnings} 个警告",
    "error": "错误", "warning": "警告", "line": "第 {line} 行", "whole": "整个文件",
    "confirm": "把修改后的文件部署为「{name}」的新版本？运行中的案件仍按原来的版本办理，新发起的案件使用新版本。",
    "confirm_stale": "注意：这份文件基于版本 {base}，之后已经部署了版本 {latest}。部署会以最新版本为准、"
                     "只换上这份文件。仍要部署吗？",
    "deploying": "正在部署…", "deploy_failed": "部署失败：{message}", "request_failed": "请求失败：{message}",
    "leave": "还有修改没有保存，确定离开吗？", "discarded": "草稿已放弃",
}
FORM_TEXTS = {"field": "字段 {name}"}
DMN_TEXTS = {"rule": "规则 {rule}"}


def _texts(editor: str) -> dict[str, str]:
    texts = {**PAGE_TEXTS, **(FORM_TEXTS if editor == "form" else DMN_TEXTS)}
    return {key: _(text) for key, text in texts.items()}


def _version(facts: dict | None) -> dict | None:
    return None if facts is None else {"version_id": facts["version_id"], "version": facts["version"]}


def _draft(draft: dict | None) -> dict | None:
    if draft is None:
        return None
    return {"content": draft["content"], "saved": local_time(draft["updated_at"]), "base": _version(draft["base"]),
            "stale": draft["stale"]}


# -- the page's calls --------------------------------------------------------------------------------------------

def _fields() -> tuple[dict, str, int]:
    body = _body()
    file = body.get("file")
    if not isinstance(file, str) or not file:
        raise InvalidInput("file: the name of the file being edited")
    value = body.get("base_version_id")
    try:
        base = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput("base_version_id: the id of the version the file was opened from") from None
    return body, file, base


@pages.post("/editor/processes/<process_id>/draft")
@_json_call
def editor_draft(process_id: str) -> ResponseReturnValue:
    body, file, base = _fields()
    saved = engine().save_editor_draft(signed_in_user()["username"], process_id, file, base, body.get("content"))
    return jsonify(saved=local_time(saved["updated_at"]), stale=saved["stale"])


@pages.post("/editor/processes/<process_id>/draft/discard")
@_json_call
def editor_discard(process_id: str) -> ResponseReturnValue:
    file = _body().get("file")
    if not isinstance(file, str) or not file:
        raise InvalidInput("file: the name of the file being edited")
    return jsonify(discarded=engine().discard_editor_draft(signed_in_user()["username"], process_id, file))


@pages.post("/editor/processes/<process_id>/validate")
@_json_call
def editor_validate(process_id: str) -> ResponseReturnValue:
    body, file, base = _fields()
    report = engine().editor_validate(signed_in_user()["username"], process_id, file, base, body.get("content"))
    problems = [problem_view(Problem(**p)) for p in report["problems"]]
    return jsonify(ok=report["ok"], errors=report["errors"], warnings=report["warnings"], problems=problems)


@pages.post("/editor/processes/<process_id>/deploy")
@_json_call
def editor_deploy(process_id: str) -> ResponseReturnValue:
    body, file, base = _fields()
    user = signed_in_user()["username"]
    try:
        result = engine().editor_deploy(user, process_id, file, base, body.get("content"),
                                        confirm_stale=body.get("confirm_stale") in (True, "1", "true"))
    except Conflict as exc:
        latest = engine().editor_open(user, base, file)["latest"]
        return _answer(409, error="stale", message=exc.message, latest=_version(latest))
    return jsonify(version=result["version"], version_id=result["version_id"], status=result["status"],
                   versions=url_for("pages.definition_versions", key=process_id),
                   message=_("已部署为版本 {version}", version=result["version"]) if result["status"] == "new"
                   else _("与版本 {version} 相同，没有部署新版本", version=result["version"]))
