"""What a case dossier (办理档案) holds, as its reader may see it: the case page's content (``Cases.page``, so
the audience rules of ADR 9 apply as on the page), the diagram with each element's state, every task with who,
when, its deadline and what was submitted, the attachments with their files, and the manifest of the case's
audit chain (``engine.audit.dossier``). ``webui.dossier`` draws it as a PDF."""
from __future__ import annotations

from engine.audit import dossier as manifests
from engine.audit import keys
from engine.casework import audiences
from engine.casework.attachments import Attachments
from engine.casework.cases import Cases
from engine.casework.diagrams import Diagrams
from engine.casework.versions import VersionFacts
from engine.errors import InvalidInput
from engine.store import audit as stored_audit
from engine.store import casework as stored
from engine.store.db import Database
from engine.time import clock

IMAGE_TYPES = ("image/jpeg", "image/png")


class Dossiers:
    def __init__(self, db: Database, cases: Cases, diagrams: Diagrams, versions: VersionFacts,
                 attachments: Attachments) -> None:
        self.db, self.cases, self.diagrams = db, cases, diagrams
        self.versions, self.attachments = versions, attachments

    def contents(self, user: str | None, instance_id: int) -> dict:
        """The dossier of a case for ``user`` (who must be allowed to see the case), or with ``user`` None the
        district's full record (the command line's operator). The keys of ``Cases.page`` plus ``states``,
        ``diagram_xml``, ``tasks``, ``files`` (attachment id → path of the image files) and ``manifest``."""
        page = self.cases.page(user, instance_id) if user is not None else self.cases.record_page(instance_id)
        staff = audiences.is_staff(page["audience"])
        states = self.diagrams.element_states(instance_id)
        if not staff:  # what went wrong inside is not the public's to read
            states = {k: {"state": "active" if v["state"] == "incident" else v["state"]} for k, v in states.items()}
        with self.db.read() as session:
            rows = stored_audit.events_of(session, instance_id)
            head = stored_audit.case_head(session, instance_id)
        visible = {e["id"]: e for e in page["audit"]}
        manifest = manifests.build_manifest(instance_id, page["process_id"], page["version"], head, rows, visible,
                                            page["audience"], clock.now().isoformat())
        root = self.attachments.root()
        files = {}
        with self.db.read() as session:
            for row in stored.attachments_of(session, instance_id):
                if row.content_type in IMAGE_TYPES and any(a["attachment_id"] == row.id for a in page["attachments"]):
                    files[row.id] = str(root / row.storage_name[:2] / row.storage_name)
        return {**page, "states": states, "diagram_xml": self.versions.diagram_xml(page["version_id"]),
                "tasks": task_rows(page["audit"]), "files": files, "manifest": manifest}


def task_rows(events: list[dict]) -> list[dict]:
    """Every task of the case from its audit trail, in the order they were created: ``task_id``, ``name``,
    ``element_id``, ``groups``, ``assignee``, ``created_at``, ``due_at``, ``claimed_by``, ``completed_by``,
    ``completed_at``, ``cancelled_at`` and ``data`` (what was submitted, as the reader may see it)."""
    tasks: dict[str, dict] = {}
    for event in events:
        task_id = event.get("task_id")
        kind = event["event"]
        if not task_id or kind not in ("task_created", "task_claimed", "task_completed", "task_cancelled"):
            continue
        details = event.get("details") or {}
        row = tasks.setdefault(task_id, {"task_id": task_id, "name": details.get("name"), "element_id": None,
                                         "groups": [], "assignee": None, "created_at": None, "due_at": None,
                                         "claimed_by": None, "completed_by": None, "completed_at": None,
                                         "cancelled_at": None, "data": {}})
        row["name"] = row["name"] or details.get("name")
        if kind == "task_created":
            row.update(element_id=details.get("element_id"), groups=details.get("candidate_groups") or [],
                       assignee=details.get("assignee"), created_at=event["at"], due_at=details.get("due_at"))
        elif kind == "task_claimed":
            row["claimed_by"] = event.get("actor")
        elif kind == "task_completed":
            row.update(completed_by=event.get("actor"), completed_at=event["at"], data=details.get("data") or {})
        else:
            row["cancelled_at"] = event["at"]
    return list(tasks.values())


def read_manifest_keyring() -> keys.Keyring | None:
    """The keyring to check a dossier with on this machine, if it has one (never creates a key)."""
    try:
        return keys.existing_keyring()
    except keys.AuditKeyError as exc:
        raise InvalidInput(str(exc)) from exc


def verify_manifest(db: Database | None, manifest: object) -> manifests.DossierReport:
    """Check a dossier's manifest: offline (``db`` None) with this machine's audit keys if it has them, or against
    the record in ``db`` (which needs the keys)."""
    try:
        checked = manifests.check_shape(manifest)
    except ValueError as exc:
        raise InvalidInput(f"the dossier's manifest: {exc}") from exc
    ring = read_manifest_keyring()
    if db is None:
        return manifests.verify_offline(checked, ring)
    with db.read() as session:
        return manifests.verify_against(session, checked, ring or keys.audit_keyring())


def dossier_file_name(instance_id: int) -> str:
    return f"dossier-{instance_id}.pdf"

