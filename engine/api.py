"""The engine's public surface: commands and queries. The CLI and the web service are thin shells over it."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from . import audit as audit_log
from . import migrate
from .accounts import ensure_user, find_user, groups_of, import_accounts
from .audit import AuditLog, VerifyReport
from .db import Database
from .deployment import DeployedDefinition, Deployer, SpecCache
from .errors import NotFound, NotMigrated
from .models import (DefinitionVersion, HumanTask, Incident, MessageSubscription, ProcessInstance,
                     TaskCandidate)
from .runtime import CommandContext, Runtime, task_dict


class Whistle:
    """One engine per process; safe to share between threads (each command opens its own session)."""

    def __init__(self, database_url: str | None = None, *, check_schema: bool = True) -> None:
        self.db = Database(database_url)
        self.specs = SpecCache()
        self.deployer = Deployer(self.specs)
        self.runtime = Runtime(self.db, self.specs)
        if check_schema:
            self.check_schema()

    # -- schema -----------------------------------------------------------------------------------------

    def migrate(self) -> str:
        migrate.upgrade(self.db.engine)
        return migrate.current_revision(self.db.engine)

    def check_schema(self) -> None:
        current = migrate.current_revision(self.db.engine)
        if current != migrate.head_revision():
            state = "is empty" if current is None else f"is at revision {current}"
            raise NotMigrated(f"the database {state}; run `whistle migrate` first")

    # -- deployment -------------------------------------------------------------------------------------

    def deploy(self, paths: list[str | Path], actor: str = "system") -> list[DeployedDefinition]:
        ctx = CommandContext("deploy", actor)
        return self.runtime.run_command(ctx, lambda s, a: self.deployer.deploy(s, a, paths, actor))

    def definitions(self) -> list[dict]:
        with self.db.read() as session:
            rows = session.execute(select(DefinitionVersion).order_by(DefinitionVersion.kind.desc(),
                                                                      DefinitionVersion.key,
                                                                      DefinitionVersion.version)).scalars()
            running = dict(session.execute(select(ProcessInstance.version_id, func.count())
                                           .where(ProcessInstance.status == "running")
                                           .group_by(ProcessInstance.version_id)).all())
            return [{"process_id": r.key, "kind": r.kind, "version": r.version, "name": r.name,
                     "deployed_at": r.deployed_at.isoformat(), "deployed_by": r.deployed_by, "file": r.source_file,
                     "content_hash": r.content_hash, "running_instances": running.get(r.id, 0),
                     "warnings": r.warnings} for r in rows]

    # -- accounts ---------------------------------------------------------------------------------------

    def add_user(self, username: str, groups: list[str], password: str | None = None,
                 display_name: str | None = None, actor: str = "system") -> dict:
        def work(session: Session, audit: AuditLog) -> dict:
            user, created = ensure_user(session, audit, username, groups, password, display_name, actor)
            return {"username": user.username, "created": created, "groups": sorted(groups_of(session, user))}

        return self.runtime.run_command(CommandContext("user add", actor), work)

    def import_users(self, path: str | Path, actor: str = "system") -> dict:
        return self.runtime.run_command(CommandContext("user import", actor),
                                        lambda s, a: import_accounts(s, a, Path(path), actor))

    # -- instances and tasks ----------------------------------------------------------------------------

    def start(self, process_id: str, version: int | None = None, data: dict | None = None,
              business_key: str | None = None, user: str | None = None) -> int:
        return self.runtime.start(process_id, version, data, business_key, user)

    def claim(self, task_id: str, user: str) -> dict:
        return self.runtime.claim(task_id, user)

    def unclaim(self, task_id: str, user: str) -> dict:
        return self.runtime.unclaim(task_id, user)

    def complete(self, task_id: str, user: str, data: dict | None = None) -> dict:
        return self.runtime.complete(task_id, user, data)

    def message(self, name: str, key: str | None = None, data: dict | None = None, actor: str = "system") -> dict:
        """Deliver a message from outside; NotFound (and nothing changed) when nobody awaits it."""
        return self.runtime.deliver_message(name, key, data, actor)

    def tasks(self, user: str | None = None, limit: int = 200, offset: int = 0) -> list[dict]:
        """Open tasks; for a user, those claimed by them or offered to them and not claimed by someone else."""
        with self.db.read() as session:
            query = select(HumanTask).where(HumanTask.status == "open")
            if user is not None:
                account = find_user(session, user)
                groups = groups_of(session, account)
                offered = exists().where(TaskCandidate.task_id == HumanTask.id, or_(
                    (TaskCandidate.kind == "group") & TaskCandidate.name.in_(groups or {""}),
                    (TaskCandidate.kind == "user") & (TaskCandidate.name == user)))
                query = query.where(or_(HumanTask.assignee == user, HumanTask.assignee.is_(None) & offered))
            query = query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.priority.desc(),
                                   HumanTask.created_at, HumanTask.id).limit(limit).offset(offset)
            rows = session.execute(query).scalars().all()
            return self._task_dicts(session, rows)

    def task(self, task_id: str) -> dict:
        with self.db.read() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound(f"no task {task_id}")
            return task_dict(session, row)

    def show(self, instance_id: int) -> dict:
        with self.db.read() as session:
            instance = session.get(ProcessInstance, instance_id)
            if instance is None:
                raise NotFound(f"no instance {instance_id}")
            version = session.get(DefinitionVersion, instance.version_id)
            open_rows = session.execute(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                                HumanTask.status == "open")
                                        .order_by(HumanTask.created_at)).scalars().all()
            incidents = session.execute(select(Incident).where(Incident.instance_id == instance_id)
                                        .order_by(Incident.id)).scalars().all()
            return {
                "instance_id": instance.id, "status": instance.status, "process_id": instance.process_id,
                "version": version.version, "business_key": instance.business_key,
                "started_by": instance.started_by, "started_at": instance.started_at.isoformat(),
                "completed_at": instance.completed_at.isoformat() if instance.completed_at else None,
                "revision": instance.revision, "data": instance.data,
                "open_tasks": self._task_dicts(session, open_rows),
                "incidents": [{"incident_id": i.id, "command": i.command, "element_id": i.element_id,
                               "task_id": i.task_id, "error": f"{i.error_type}: {i.message}",
                               "created_at": i.created_at.isoformat(),
                               "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None}
                              for i in incidents],
                "messages": [{"message": m.message_name, "key": m.correlation_key, "element_id": m.element_id,
                              "since": m.created_at.isoformat()}
                             for m in session.execute(select(MessageSubscription)
                                                      .where(MessageSubscription.instance_id == instance_id)
                                                      .order_by(MessageSubscription.id)).scalars()],
                "audit": audit_log.events_for_instance(session, instance_id),
            }

    def incidents(self, instance_id: int | None = None) -> list[dict]:
        with self.db.read() as session:
            query = select(Incident).order_by(Incident.id)
            if instance_id is not None:
                query = query.where(Incident.instance_id == instance_id)
            return [{"incident_id": i.id, "instance_id": i.instance_id, "process_id": i.process_id,
                     "command": i.command, "element_id": i.element_id, "error": f"{i.error_type}: {i.message}",
                     "traceback": i.traceback, "created_at": i.created_at.isoformat()}
                    for i in session.execute(query).scalars()]

    def verify_audit(self) -> VerifyReport:
        with self.db.read() as session:
            return audit_log.verify(session)

    @staticmethod
    def _task_dicts(session: Session, rows: list[HumanTask]) -> list[dict]:
        if not rows:
            return []
        candidates: dict = {}
        for c in session.execute(select(TaskCandidate).where(TaskCandidate.task_id.in_([r.id for r in rows]))).scalars():
            candidates.setdefault((c.kind, c.task_id), []).append(c.name)
        return [task_dict(session, row, candidates) for row in rows]

    def close(self) -> None:
        self.db.dispose()
