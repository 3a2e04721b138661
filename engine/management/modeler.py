"""The browser's modeler, for designers and administrators: open a deployed version (or a process's latest, or a
new process), keep a draft per designer and process as they edit, validate a diagram with the deploy checks, and
deploy it as a new version.

Every channel that offers these goes through here, and every method checks the account first: only members of
``designers`` or ``admins`` may read the sources this way, save drafts, validate or deploy (``Forbidden``).
Validating is ``whistle lint`` of the one diagram, its references resolved against what is deployed; deploying
is ``whistle deploy`` of it in one transaction (the forms, catalogs and called definitions of the latest
version are carried over by the deployer), the draft dropped in the same transaction. A draft opened from
version N when N+1 has been deployed since is *stale*: deploying it needs ``confirm_stale``, so nobody
overwrites a colleague's version unknowingly.
"""
from __future__ import annotations

from engine.audit.chain import AuditLog
from engine.deploy import modeler as modeler_sources
from engine.deploy.deployer import Deployer
from engine.deploy.lint import lint_sources
from engine.errors import Conflict, DeploymentInvalid, InvalidInput, NotFound
from engine.identity import roles
from engine.runtime.commands import Runtime
from engine.runtime.context import CommandContext
from engine.store import Session
from engine.store import definitions as stored_definitions
from engine.store import modeler as stored
from engine.store.db import Database
from engine.store.models import DefinitionVersion
from engine.time import clock


def require_designer(session: Session, user: str) -> None:
    """``Forbidden`` unless ``user`` is an active designer or administrator."""
    roles.require(session, user, roles.DESIGNERS, "model or deploy processes")


def version_facts(version: DefinitionVersion | None) -> dict | None:
    if version is None:
        return None
    return {"version_id": version.id, "version": version.version, "name": version.name,
            "file": version.source_file, "deployed_at": version.deployed_at.isoformat(),
            "deployed_by": version.deployed_by}


class Modeler:
    """The designers' modeler: opening, drafts, validation and deployment of one process's diagram."""

    def __init__(self, db: Database, runtime: Runtime, deployer: Deployer) -> None:
        self.db, self.runtime, self.deployer = db, runtime, deployer

    # -- opening -------------------------------------------------------------------------------------------

    def open(self, user: str, *, process_id: str | None = None, version_id: int | None = None) -> dict:
        """A deployed diagram to edit: version ``version_id``, or the latest version of ``process_id``; with the
        latest version, and the designer's draft of the process if they have one (offered again)."""
        with self.db.read() as session:
            require_designer(session, user)
            if version_id is not None:
                version = stored_definitions.version_by_id(session, version_id)
            elif process_id is not None:
                version = stored_definitions.latest_version(session, process_id)
            else:
                raise InvalidInput("open a version (version_id) or a process (process_id)")
            if version is None or version.kind != "process":
                raise NotFound(f"no deployed process version {version_id if version_id is not None else process_id}")
            xml = stored_definitions.version_file(session, version.id, version.source_file)
            return {"process_id": version.key, "name": version.name, "file": version.source_file, "xml": xml,
                    "base": version_facts(version), **self._state(session, user, version.key)}

    def blank(self, user: str, process_id: str, name: str = "") -> dict:
        """A new process's first diagram; ``Conflict`` when a process of that id is deployed already (open it)."""
        modeler_sources.check_process_id(process_id)
        with self.db.read() as session:
            require_designer(session, user)
            if stored_definitions.latest_version(session, process_id) is not None:
                raise Conflict(f"process '{process_id}' is deployed already; open its latest version instead")
            return {"process_id": process_id, "name": name or process_id,
                    "file": modeler_sources.DEFAULT_FILE_NAME.format(process_id=process_id),
                    "xml": modeler_sources.blank_diagram(process_id, name), "base": None,
                    **self._state(session, user, process_id)}

    def _state(self, session: Session, user: str, process_id: str) -> dict:
        latest = stored_definitions.latest_version(session, process_id)
        draft = stored.draft(session, user, process_id)
        found = None
        if draft is not None:
            base = stored_definitions.version_by_id(session, draft.base_version_id) \
                if draft.base_version_id is not None else None
            found = {"xml": draft.xml, "updated_at": draft.updated_at.isoformat(), "base": version_facts(base),
                     "stale": is_stale(base, latest)}
        return {"latest": version_facts(latest), "draft": found}

    # -- drafts --------------------------------------------------------------------------------------------

    def save_draft(self, user: str, process_id: str, base_version_id: int | None, xml: object) -> dict:
        """Keep what the designer is drawing (as it is: a draft may be half done), replacing their last draft of
        the process; the version it was opened from comes along for the stale check."""
        text = modeler_sources.check_draft(process_id, xml)
        now = clock.now()
        with self.db.write() as session:
            require_designer(session, user)
            base = self._base(session, process_id, base_version_id)
            stored.save_draft(session, user, process_id, base.id if base else None, text, now)
            return {"process_id": process_id, "updated_at": now.isoformat(),
                    "stale": is_stale(base, stored_definitions.latest_version(session, process_id))}

    def draft(self, user: str, process_id: str) -> dict | None:
        """The designer's draft of the process (None without one)."""
        with self.db.read() as session:
            require_designer(session, user)
            found: dict | None = self._state(session, user, process_id)["draft"]
            return found

    def discard_draft(self, user: str, process_id: str) -> bool:
        """Drop the designer's draft of the process; False when there was none."""
        with self.db.write() as session:
            require_designer(session, user)
            return stored.delete_draft(session, user, process_id)

    def drafts(self, user: str) -> list[dict]:
        """The designer's drafts, the latest first."""
        with self.db.read() as session:
            require_designer(session, user)
            return [{"process_id": d.process_id, "base_version_id": d.base_version_id,
                     "updated_at": d.updated_at.isoformat()} for d in stored.drafts_of(session, user)]

    # -- validating and deploying --------------------------------------------------------------------------

    def validate(self, user: str, process_id: str, xml: object, file_name: str | None = None) -> dict:
        """Every problem deploying this diagram would meet, errors and warnings, each with its element id
        (``whistle lint`` of the one file, references resolved against what is deployed); nothing is stored."""
        with self.db.read() as session:
            require_designer(session, user)
            name = file_name or self._file_name(session, process_id)
            sources, problems = modeler_sources.modeler_source(name, xml)
            found = lint_sources(sources, problems, session) if sources else problems
            found = modeler_sources.defines(sources, process_id) + found
        errors = sum(p.severity == "error" for p in found)
        return {"ok": errors == 0, "errors": errors, "warnings": len(found) - errors,
                "problems": [p.to_dict() for p in found]}

    def deploy(self, user: str, process_id: str, xml: object, base_version_id: int | None, *,
               confirm_stale: bool = False) -> dict:
        """Deploy the diagram as the process's next version, in one transaction with the audit record and the
        end of the designer's draft. ``Conflict`` when another version was deployed since ``base_version_id`` and
        the designer did not confirm; ``DeploymentInvalid`` (nothing stored) when the checks fail."""
        def work(session: Session, audit: AuditLog) -> dict:
            require_designer(session, user)
            base = self._base(session, process_id, base_version_id)
            latest = stored_definitions.latest_version(session, process_id)
            if is_stale(base, latest) and not confirm_stale:
                assert latest is not None
                raise Conflict(f"version {latest.version} of process '{process_id}' was deployed after the version "
                               f"this diagram was opened from ({base.version if base else 'none: a new process'}); "
                               f"confirm to deploy over it")
            name = latest.source_file if latest is not None else \
                modeler_sources.DEFAULT_FILE_NAME.format(process_id=process_id)
            sources, problems = modeler_sources.modeler_source(name, xml)
            problems = modeler_sources.defines(sources, process_id) + problems
            if problems:
                raise DeploymentInvalid(problems)
            results = self.deployer.deploy_sources(session, audit, sources, problems, user)
            stored.delete_draft(session, user, process_id)
            mine = next(r for r in results if r.kind == "process" and r.key == process_id)
            version = stored_definitions.process_version(session, process_id, mine.version)
            assert version is not None  # just deployed, or the unchanged latest
            return {"process_id": process_id, "version": mine.version, "version_id": version.id, "status": mine.status,
                    "results": [r.to_dict() for r in results]}
        return self.runtime.run_command(CommandContext("deploy", user, process_id=process_id), work)

    def _base(self, session: Session, process_id: str, base_version_id: int | None) -> DefinitionVersion | None:
        if base_version_id is None:
            return None
        base = stored_definitions.version_by_id(session, base_version_id)
        if base is None or base.kind != "process" or base.key != process_id:
            raise InvalidInput(f"base_version_id: {base_version_id} is not a version of process '{process_id}'")
        return base

    def _file_name(self, session: Session, process_id: str) -> str:
        latest = stored_definitions.latest_version(session, process_id)
        return latest.source_file if latest is not None else \
            modeler_sources.DEFAULT_FILE_NAME.format(process_id=process_id)


def is_stale(base: DefinitionVersion | None, latest: DefinitionVersion | None) -> bool:
    """Was a version deployed after the one the diagram was opened from (or at all, for a new process)?"""
    if latest is None:
        return False
    return base is None or latest.version > base.version
