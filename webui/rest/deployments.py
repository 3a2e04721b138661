"""Deployments: uploaded process files (several, or a ``.zip`` of a folder) checked as a dry run or deployed, as
on the 上传部署 page (``engine.deploy.uploads``). Accounts in ``designers`` or ``admins`` only; a token needs the
``deploy`` scope and acts as its account."""
from __future__ import annotations

from flask import Response, jsonify, request

from webui.rest.auth import caller
from webui.rest.schemas import error_responses, json_content, ref
from webui.rest.shell import ApiError, api, engine

PATHS: dict = {  # this module's part of the OpenAPI document (webui.rest.openapi)
    "/deployments": {
        "post": {
            "operationId": "createDeployment", "tags": ["definitions"],
            "summary": "Check or deploy uploaded process files",
            "description": "Multipart `files`: `.bpmn`, `.dmn`, `.form.json`, catalog and calendar files, or one "
                           "`.zip` of a folder. With `dry_run=true` nothing is deployed: the answer is the report "
                           "(every error and warning with file, line and element; each process and decision `new` or "
                           "`unchanged`) and the upload's `upload_hash`. Without it the files are deployed "
                           "atomically, as `whistle deploy` does (422 with every problem, nothing deployed); give "
                           "`upload_hash` to deploy only the files that were checked (409 otherwise). Hostile "
                           "archives (path traversal, absolute paths, links, too many entries, zip bombs) are "
                           "refused. Accounts in `designers` or `admins`; tokens need the `deploy` scope.",
            "parameters": [
                {"name": "dry_run", "in": "query", "required": False, "schema": {"type": "boolean", "default": False},
                 "description": "Check only: nothing is deployed."},
                {"name": "upload_hash", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "The dry run's `upload_hash`: deploy only if these are the same files."},
            ],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["files"],
                "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}},
            "responses": {"200": json_content(ref("DeploymentPlan"), "The dry run's report."),
                          "201": json_content(ref("DeploymentResult"), "Deployed."),
                          **error_responses(400, 401, 403, 409, 422)},
        },
    },
}


@api.post("/deployments")
def deployments() -> tuple[Response, int]:
    who = caller()
    if who.via == "bearer":
        who.require_scope("deploy")
    files = [(upload.filename or "", upload.read()) for upload in request.files.getlist("files")]
    if not files:
        raise ApiError(400, "bad_request", "no files: send them as multipart/form-data fields named 'files'")
    dry_run = request.args.get("dry_run", "").strip().lower()
    if dry_run not in ("", "true", "false", "1", "0"):
        raise ApiError(400, "bad_request", f"dry_run must be true or false, not {dry_run!r}")
    if dry_run in ("true", "1"):
        plan = engine().plan_upload(files, who.user)
        plan.pop("diagrams", None)  # the client has its own files
        return jsonify(plan), 200
    deployed = engine().deploy_upload(files, who.user, request.args.get("upload_hash") or None)
    return jsonify(deployed=[d.to_dict() for d in deployed]), 201
