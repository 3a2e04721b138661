"""What a person may start, and starting or completing as a person: the start or the completion, the uploaded
files linked to the case and the draft dropped, in one transaction — all or nothing."""
from __future__ import annotations

from collections.abc import Iterable

from engine.audit.chain import AuditLog
from engine.casework.attachments import Attachments, link_uploads
from engine.casework.drafts import start_key
from engine.casework.people import account_groups
from engine.casework.versions import VersionFacts, admits
from engine.errors import Forbidden, NotFound
from engine.runtime.commands import Runtime
from engine.store import Session
from engine.store import casework as stored
from engine.store.db import Database
from engine.store.models import HumanTask


class Submissions:
    """Starting and completing as a person."""

    def __init__(self, db: Database, runtime: Runtime, versions: VersionFacts, attachments: Attachments) -> None:
        self.db, self.runtime, self.versions, self.attachments = db, runtime, versions, attachments

    def startable(self, user: str) -> list[dict]:
        """Processes the user may start: their latest version has a none start event and names one of the
        user's groups (glob patterns allowed, like ``grid-*``) in ``candidateStarterGroups``, or the user in
        ``candidateStarterUsers`` (on the process or its start event; Camunda attribute or spiffworkflow
        property)."""
        with self.db.read() as session:
            groups = account_groups(session, user)
            found = []
            for version in stored.latest_processes(session):
                info = self.versions.start_info(session, version)
                if info["start_event"] and admits(info, user, groups):
                    found.append(info)
            return found

    def start_info(self, user: str, process_id: str) -> dict:
        """The start of a process the user may start (NotFound / Forbidden otherwise)."""
        with self.db.read() as session:
            groups = account_groups(session, user)
            version = next((v for v in stored.latest_processes(session) if v.key == process_id), None)
            if version is None:
                raise NotFound(f"no process '{process_id}' is deployed")
            info = self.versions.start_info(session, version)
        if not info["start_event"] or not admits(info, user, groups):
            raise Forbidden(f"{user} may not start '{process_id}'")
        return info

    def start_case(self, process_id: str, user: str, data: dict, business_key: str | None = None,
                   attachment_ids: Iterable[str] = (), lang: str = "zh") -> int:
        """Start a process as a person: the start (who may start it, the start form's contract), the uploaded
        files linked to the new case, the start form's draft dropped."""
        info = self.start_info(user, process_id)
        ids = list(dict.fromkeys(attachment_ids))
        bad = self.attachments.foreign(user, ids, None)
        if bad:
            raise Forbidden(f"attachments {', '.join(bad)} are not {user}'s uploads")

        def within(session: Session, audit: AuditLog, instance_id: int) -> None:
            link_uploads(session, audit, user, ids, instance_id, None)
            stored.drop_draft(session, start_key(process_id), user)

        return self.runtime.start(process_id, info["version"], data, business_key, user, lang, within)

    def complete_task(self, task_id: str, user: str, data: dict, attachment_ids: Iterable[str] = (),
                      lang: str = "zh") -> dict:
        """Complete a task as a person: the completion (the form's contract), the uploaded files linked to the
        case, the task's draft dropped; a failure in any part leaves nothing changed."""
        ids = list(dict.fromkeys(attachment_ids))
        with self.db.read() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound(f"no task {task_id}")
            instance_id = row.instance_id
        bad = self.attachments.foreign(user, ids, instance_id)
        if bad:
            raise Forbidden(f"attachments {', '.join(bad)} are not {user}'s uploads")

        def within(session: Session, audit: AuditLog, instance_id: int) -> None:
            link_uploads(session, audit, user, ids, instance_id, task_id)
            stored.drop_draft(session, task_id, user)

        return self.runtime.complete(task_id, user, data, lang, within)
