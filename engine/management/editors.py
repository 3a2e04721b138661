"""The browser's form and decision editors, for designers and administrators: open a form (``*.form.json``) or a
decision table (``*.dmn``) of a deployed version, keep a draft per designer, process and file as they edit,
validate it with the deploy checks and deploy it as the process's next version.

A form is edited as a form-js schema (``engine.forms.formjs``, ADR 10): ``open`` gives the schema, and what the
editor sends back is read into Whistle's format against the form it was opened from, then checked and deployed
as that form file. A decision table is DMN XML as dmn-js writes it. Validating is ``whistle lint`` of the
process's latest BPMN file with the edited file (references resolved against what is deployed); deploying is
``whistle deploy`` of those two in one transaction with the audit record and the end of the draft: the
process's other forms, catalogs and decisions come from its latest version, so the new version differs in the
edited file only. A file of a decision's own versions deploys alone. Like the modeler (``engine.management.
modeler``), every method checks the account first, and a draft opened from version N when N+1 has been
deployed since needs ``confirm_stale`` to deploy.
"""
from __future__ import annotations

import json

from engine.audit.chain import AuditLog
from engine.deploy import modeler as edited
from engine.deploy.deployer import Deployer
from engine.deploy.lint import lint_sources
from engine.deploy.sources import SourceFile
from engine.errors import Conflict, InvalidInput, NotFound
from engine.forms.files import is_form_file
from engine.forms.formjs import form_text as whistle_form_text
from engine.forms.formjs import from_formjs, to_formjs
from engine.management.modeler import is_stale, require_designer, version_facts
from engine.management.versions import archive_names
from engine.runtime.commands import Runtime
from engine.runtime.context import CommandContext
from engine.store import Session
from engine.store import definitions as stored_definitions
from engine.store import modeler as stored
from engine.store.db import Database
from engine.store.models import DefinitionVersion
from engine.time import clock


def editor_of(file_name: str) -> str | None:
    """``form`` or ``dmn``: the editor a stored file opens in; None for a file no editor takes."""
    if is_form_file(file_name):
        return "form"
    return "dmn" if file_name.lower().endswith(".dmn") else None


class SourceEditor:
    """Forms and decision tables of deployed versions, edited in the browser."""

    def __init__(self, db: Database, runtime: Runtime, deployer: Deployer) -> None:
        self.db, self.runtime, self.deployer = db, runtime, deployer

    def open(self, user: str, version_id: int, file: str) -> dict:
        """File ``file`` of version ``version_id`` (its stored name, or its name in the version's zip) to edit:
        a form as its form-js ``schema`` (with the Whistle ``form``), a decision table as ``xml``; with the
        process's latest version and the designer's draft of the file if they have one."""
        with self.db.read() as session:
            require_designer(session, user)
            version = stored_definitions.version_by_id(session, version_id)
            if version is None:
                raise NotFound(f"no deployed version {version_id}")
            name, content = _stored_file(session, version, file)
            editor = editor_of(name)
            if editor is None:
                raise InvalidInput(f"file: {name} is neither a form (.form.json) nor a decision table (.dmn); the "
                                   f"modeler edits the diagram")
            opened: dict = {"process_id": version.key, "kind": version.kind, "file": name, "editor": editor,
                            "name": version.name, "base": version_facts(version),
                            **self._state(session, user, version, name)}
            if editor == "form":
                form = json.loads(content)
                opened.update(form=form, schema=to_formjs(form))
            else:
                opened["xml"] = content
            return opened

    def _state(self, session: Session, user: str, version: DefinitionVersion, name: str) -> dict:
        latest = stored_definitions.latest_version(session, version.key, version.kind)
        draft = stored.source_draft(session, user, version.key, name)
        found = None
        if draft is not None:
            base = stored_definitions.version_by_id(session, draft.base_version_id)
            found = {"content": draft.content, "updated_at": draft.updated_at.isoformat(),
                     "base": version_facts(base), "stale": is_stale(base, latest)}
        return {"latest": version_facts(latest), "draft": found}

    # -- drafts --------------------------------------------------------------------------------------------

    def save_draft(self, user: str, process_id: str, file: str, base_version_id: int, content: object) -> dict:
        """Keep what the designer is editing as it is (a draft may be half done), replacing their last draft of
        the file."""
        text = edited.edited_text(file, content, "draft")
        now = clock.now()
        with self.db.write() as session:
            require_designer(session, user)
            base = self._base(session, process_id, base_version_id)
            _stored_file(session, base, file)
            stored.save_source_draft(session, user, process_id, file, base.id, text, now)
            latest = stored_definitions.latest_version(session, process_id, base.kind)
            return {"process_id": process_id, "file": file, "updated_at": now.isoformat(),
                    "stale": is_stale(base, latest)}

    def discard_draft(self, user: str, process_id: str, file: str) -> bool:
        """Drop the designer's draft of the file; False when there was none."""
        with self.db.write() as session:
            require_designer(session, user)
            return stored.delete_source_draft(session, user, process_id, file)

    # -- validating and deploying --------------------------------------------------------------------------

    def validate(self, user: str, process_id: str, file: str, base_version_id: int, content: object) -> dict:
        """Every problem deploying the edited file would meet, errors and warnings (a form's name its field);
        nothing is stored. ``InvalidInput`` naming the file (and line) when what was sent cannot be read."""
        with self.db.read() as session:
            require_designer(session, user)
            base = self._base(session, process_id, base_version_id)
            sources = self._sources(session, base, file, content)
            found = lint_sources(sources, [], session)
        errors = sum(p.severity == "error" for p in found)
        return {"ok": errors == 0, "errors": errors, "warnings": len(found) - errors,
                "problems": [p.to_dict() for p in found]}

    def deploy(self, user: str, process_id: str, file: str, base_version_id: int, content: object, *,
               confirm_stale: bool = False) -> dict:
        """Deploy the edited file as the process's (or decision's) next version, in one transaction with the
        audit record and the end of the designer's draft. ``Conflict`` when another version was deployed since
        the one it was opened from and the designer did not confirm; ``DeploymentInvalid`` (nothing stored) when
        the checks fail."""
        def work(session: Session, audit: AuditLog) -> dict:
            require_designer(session, user)
            base = self._base(session, process_id, base_version_id)
            latest = stored_definitions.latest_version(session, process_id, base.kind)
            if is_stale(base, latest) and not confirm_stale:
                assert latest is not None
                raise Conflict(f"version {latest.version} of '{process_id}' was deployed after the version this "
                               f"file was opened from ({base.version}); confirm to deploy over it")
            sources = self._sources(session, base, file, content)
            results = self.deployer.deploy_sources(session, audit, sources, [], user, via="editor")
            stored.delete_source_draft(session, user, process_id, file)
            mine = next(r for r in results if r.kind == base.kind and r.key == process_id)
            version = stored_definitions.latest_version(session, process_id, base.kind)
            assert version is not None and version.version == mine.version
            return {"process_id": process_id, "version": mine.version, "version_id": version.id,
                    "status": mine.status, "results": [r.to_dict() for r in results]}
        return self.runtime.run_command(CommandContext("deploy", user, process_id=process_id), work)

    # -- helpers -------------------------------------------------------------------------------------------

    def _base(self, session: Session, process_id: str, base_version_id: object) -> DefinitionVersion:
        if not isinstance(base_version_id, int) or isinstance(base_version_id, bool):
            raise InvalidInput("base_version_id: the id of the version the file was opened from")
        base = stored_definitions.version_by_id(session, base_version_id)
        if base is None or base.key != process_id:
            raise InvalidInput(f"base_version_id: {base_version_id} is not a version of '{process_id}'")
        return base

    def _sources(self, session: Session, base: DefinitionVersion, file: str, content: object) -> list[SourceFile]:
        """The edited file (a form read from its form-js schema against the base version's form) with the
        latest version's own BPMN file, as a deployment's sources."""
        name, before = _stored_file(session, base, file)
        editor = editor_of(name)
        if editor is None:
            raise InvalidInput(f"file: {name} is neither a form (.form.json) nor a decision table (.dmn)")
        text = edited.edited_text(name, content, "form" if editor == "form" else "decision table")
        if editor == "form":
            original = json.loads(before)
            form = read_form(name, text, original)
            # unchanged: the same bytes, so the version is unchanged; else in the style of processes/
            text = before if form == original else whistle_form_text(form) + "\n"
        own = None
        if base.kind == "process":
            latest = stored_definitions.latest_version(session, base.key, "process")
            assert latest is not None
            own = SourceFile(latest.source_file,
                             stored_definitions.version_file(session, latest.id, latest.source_file), "bpmn")
        return edited.edited_sources(own, name, editor, text)


def read_form(file_name: str, schema_text: str, original: dict) -> dict:
    """The Whistle form in the form-js schema the editor sent (JSON text); ``InvalidInput`` naming the file and
    the line of a JSON error, or the component Whistle's forms cannot hold."""
    try:
        schema = json.loads(schema_text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"content: {file_name}: line {exc.lineno}: the form-js schema is not JSON: "
                           f"{exc.msg}") from None
    try:
        form = from_formjs(schema, original)
    except InvalidInput as exc:
        raise InvalidInput(f"content: {file_name}: {exc.message}") from None
    return form


def _stored_file(session: Session, version: DefinitionVersion, file: object) -> tuple[str, str]:
    """A version's file by its stored name or its name in the version's zip: (stored name, content)."""
    files = stored_definitions.version_files(session, version.id)
    names = [name for name, _ in files]
    if not isinstance(file, str) or not file:
        raise InvalidInput("file: the name of one of the version's files")
    for (name, content), path in zip(files, archive_names(names), strict=True):
        if file in (name, path):
            return name, content
    raise NotFound(f"version {version.version} of {version.key} has no file {file!r}; its files: "
                   f"{', '.join(archive_names(names))}")

