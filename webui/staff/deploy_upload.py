"""For designers: 上传部署, deploying from the browser in two steps.

检查 posts the files (several, or one ``.zip`` of a folder); they are kept on the server under a random token
(``UPLOADS_DIR``, ``WHISTLE_UPLOADS_DIR``, default ``var/uploads``) for ``UPLOAD_HOURS`` (``WHISTLE_UPLOAD_HOURS``,
default 2), readable by the designer who uploaded them only, and the engine's dry run
(``Whistle.plan_upload``) is kept beside them. The report lists every problem with file, line and element and
draws each BPMN diagram with the problem elements outlined and badged (``static/deploy_upload.js``). 确认部署
deploys the kept files with the dry run's hash (``Whistle.deploy_upload``): the engine refuses files that are not
the ones checked. The engine checks the role and every file; this module only keeps the files between the two
steps and draws what the engine said.
"""
from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from pathlib import Path

from flask import Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from engine.errors import DeploymentInvalid, NotFound
from webui.i18n import gettext as _
from webui.staff.frame import engine, login_required, pages, signed_in_user

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_RULE = re.compile(r"\s*\[([a-z0-9-]+)\]\s*$")


def uploads_dir() -> Path:
    return Path(current_app.config["UPLOADS_DIR"])  # webui.config: WHISTLE_UPLOADS_DIR, default var/uploads


def _keep_seconds() -> float:
    return float(current_app.config["UPLOAD_HOURS"]) * 3600  # webui.config: WHISTLE_UPLOAD_HOURS, default 2


class Staged:
    """One upload kept between its check and its deployment: ``manifest.json`` (owner, time, file names), the
    files as ``0``, ``1``, … (names never touch the file system), ``plan.json`` and, once deployed,
    ``result.json``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))

    @classmethod
    def create(cls, owner: str, files: list[tuple[str, bytes]]) -> Staged:
        root = uploads_dir()
        root.mkdir(parents=True, exist_ok=True)
        _purge(root)
        folder = root / secrets.token_urlsafe(24)
        folder.mkdir(mode=0o700)
        for index, (_name, data) in enumerate(files):
            (folder / str(index)).write_bytes(data)
        (folder / "manifest.json").write_text(json.dumps(
            {"owner": owner, "created": time.time(), "names": [name for name, _data in files]}), encoding="utf-8")
        return cls(folder)

    @classmethod
    def find(cls, token: str, owner: str) -> Staged:
        """The upload of ``token`` when it is ``owner``'s and not expired; NotFound otherwise (another person's
        upload is not there for them)."""
        folder = uploads_dir() / token
        if not _TOKEN.match(token) or not (folder / "manifest.json").is_file():
            raise NotFound("this upload is not kept (any more): upload the files again")
        staged = cls(folder)
        if staged.manifest.get("owner") != owner:
            raise NotFound("this upload is not kept (any more): upload the files again")
        if time.time() - float(staged.manifest.get("created", 0)) > _keep_seconds():
            shutil.rmtree(folder, ignore_errors=True)
            raise NotFound("this upload is not kept (any more): upload the files again")
        return staged

    @property
    def token(self) -> str:
        return self.folder.name

    def files(self) -> list[tuple[str, bytes]]:
        return [(name, (self.folder / str(index)).read_bytes()) for index, name in enumerate(self.manifest["names"])]

    def read(self, name: str) -> dict | None:
        path = self.folder / f"{name}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def write(self, name: str, value: dict) -> None:
        (self.folder / f"{name}.json").write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")


def _purge(root: Path) -> None:
    """Uploads older than their keeping time go when the next one comes."""
    limit = time.time() - _keep_seconds()
    for folder in root.iterdir():
        manifest = folder / "manifest.json"
        try:
            created = json.loads(manifest.read_text(encoding="utf-8")).get("created", 0)
        except (OSError, ValueError):
            created = folder.stat().st_mtime
        if float(created) < limit:
            shutil.rmtree(folder, ignore_errors=True)


def bpmn_ready() -> bool:
    """Whether bpmn-js is installed (``make install``) to draw the diagrams (``pages.vendor_bpmn`` serves it)."""
    dist = Path(current_app.config["NODE_MODULES"]) / "bpmn-js" / "dist"
    return dist.joinpath("bpmn-navigated-viewer.production.min.js").exists()


def _problem_view(problem: dict) -> dict:
    """A problem as the report shows it: the rule apart from the engine's sentence."""
    message = problem["message"]
    rule = _RULE.search(message)
    return {**problem, "rule": rule.group(1) if rule else None,
            "text": message[: rule.start()] if rule else message}


@pages.get("/definitions/upload")
@login_required(role="designer")
def definitions_upload() -> str:
    return render_template("deploy_upload.html", staged=None, plan=None, result=None)


@pages.post("/definitions/upload")
@login_required(role="designer")
def definitions_upload_check() -> ResponseReturnValue:
    user = signed_in_user()["username"]
    files = [(upload.filename or "", upload.read()) for upload in request.files.getlist("files")
             if upload.filename or upload.content_length]
    if not files:
        flash(_("请选择要上传的文件"), "error")
        return redirect(url_for("pages.definitions_upload"))
    plan = engine().plan_upload(files, user)  # the role first: nothing is kept for someone who may not deploy
    staged = Staged.create(user, files)
    staged.write("plan", plan)
    return redirect(url_for("pages.definitions_upload_report", token=staged.token))


@pages.get("/definitions/upload/<token>")
@login_required(role="designer")
def definitions_upload_report(token: str) -> str:
    staged = Staged.find(token, signed_in_user()["username"])
    plan = staged.read("plan") or {}
    result = staged.read("result")
    problems = [_problem_view(p) for p in plan.get("problems", [])]
    refused = [_problem_view(p) for p in (result or {}).get("problems", [])]
    return render_template("deploy_upload.html", staged=staged, plan=plan, problems=problems, result=result,
                           refused=refused, bpmn_ready=bpmn_ready())


@pages.get("/definitions/upload/<token>/diagrams/<int:index>")
@login_required(role="designer")
def definitions_upload_diagram(token: str, index: int) -> Response:
    staged = Staged.find(token, signed_in_user()["username"])
    diagrams = (staged.read("plan") or {}).get("diagrams", [])
    if not 0 <= index < len(diagrams):
        raise NotFound(f"no diagram {index} in this upload")
    diagram = diagrams[index]
    problems = [_problem_view(p) for p in (staged.read("plan") or {}).get("problems", [])
                if p["file"] == diagram["file"] and p.get("element_id")]
    return jsonify(xml=diagram["xml"], problems=problems,
                   labels={"error": _("错误"), "warning": _("警告"), "line": _("第 {line} 行")})


@pages.post("/definitions/upload/<token>/deploy")
@login_required(role="designer")
def definitions_upload_confirm(token: str) -> ResponseReturnValue:
    user = signed_in_user()["username"]
    staged = Staged.find(token, user)
    done = staged.read("result")
    if done and done.get("deployed"):  # deployed already (a second click, a reload): the report says so
        return redirect(url_for("pages.definitions_upload_report", token=token))
    try:
        deployed = engine().deploy_upload(staged.files(), user, expected_hash=request.form.get("upload_hash", ""))
    except DeploymentInvalid as exc:
        staged.write("result", {"deployed": False, "problems": [p.to_dict() for p in exc.problems]})
    else:
        staged.write("result", {"deployed": True, "definitions": [d.to_dict() for d in deployed]})
        flash(_("部署完成"), "ok")
    return redirect(url_for("pages.definitions_upload_report", token=token))
