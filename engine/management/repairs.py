"""What administrators do to keep cases flowing: migrate running cases to another version of their process
(``engine.runtime.upgrade``), look at incidents, retry or replay what failed and resolve them with a note, and
repair a case by hand (instance modification). Only administrators (group ``admins``) may do any of it; the rule
is here, not in the shells.

Each per-case command (``upgrade_instance``, ``retry_incident``, ``resolve_incident``, ``modify``) is one command
and returns a small dict with its outcome, so a batch runner can call it case by case; ``upgrade_check`` is the
pure per-case dry run.
"""
from __future__ import annotations

from typing import Any

from engine.audit.chain import AuditLog
from engine.bpmn import modification
from engine.bpmn.state import to_json_value
from engine.definitions import find_version
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound, WhistleError, first_line
from engine.forms.limits import check_data
from engine.identity import roles
from engine.jobs.executor import JobExecutor
from engine.management.operations import incident_dict
from engine.runtime import modify
from engine.runtime.commands import Runtime
from engine.runtime.context import CommandContext
from engine.runtime.incidents import NO_WAY_FORWARD
from engine.runtime.upgrade import CannotMove, Upgrader, outcome, parse_mapping
from engine.store import Session
from engine.store import incidents as incident_rows
from engine.store import instances as instance_rows
from engine.store import jobs as job_rows
from engine.store.db import Database
from engine.store.models import DefinitionVersion, ProcessInstance
from engine.time import clock


class CaseRepairs:
    """The administrators' commands on running cases (see the module)."""

    def __init__(self, db: Database, runtime: Runtime, executor: JobExecutor) -> None:
        self.db, self.runtime, self.executor = db, runtime, executor
        self.upgrader = Upgrader(runtime.instances)

    def require_admin(self, actor: str) -> None:
        """Only administrators keep cases flowing: Forbidden for anyone else (an unknown name included)."""
        with self.db.read() as session:
            roles.require(session, actor, roles.ADMINS, "keep cases flowing (migrate, repair, replay)")

    # -- migrating running cases to another version ----------------------------------------------------------

    def upgrade_check(self, instance_id: int, to_version: int, mapping: Any = None, actor: str = "",
                      from_version: int | None = None) -> dict:
        """The dry run of one case: ``instance_id``, ``can_move``, ``reason`` (Chinese) and ``reason_en``;
        nothing is written."""
        self.require_admin(actor)
        pairs = parse_mapping(mapping)
        with self.db.read() as session:
            instance = session.get(ProcessInstance, instance_id)
            if instance is None:
                raise NotFound(f"no instance {instance_id}")
            target = find_version(session, instance.process_id, to_version)
            result, _ = self.upgrader.check(session, instance, target, pairs, from_version)
            return result

    def upgrade_instance(self, instance_id: int, to_version: int, mapping: Any = None, actor: str = "",
                         from_version: int | None = None) -> dict:
        """Move one case to ``to_version`` of its process, as one command: ``moved`` True, or False with
        ``can_move``/``reason`` when it may not move (``failed``: it could not, and stays where it was)."""
        self.require_admin(actor)
        pairs = parse_mapping(mapping)
        ctx = CommandContext("upgrade", actor, instance_id=instance_id)

        def work(session: Session, audit: AuditLog) -> dict:
            instance = session.get(ProcessInstance, instance_id)
            if instance is None:
                raise NotFound(f"no instance {instance_id}")
            target = find_version(session, instance.process_id, to_version)
            return self.upgrader.move(session, audit, ctx, instance_id, target, pairs, from_version)

        try:
            result = self.runtime.executor.run(ctx, work, record_incident=False)
        except CannotMove as refused:
            return dict(refused.outcome, moved=False, failed=False)
        except (NotFound, InvalidInput, Forbidden):
            raise
        except Exception as exc:  # the case stays on its version; the administrator reads why
            text = exc.message if isinstance(exc, WhistleError) else f"{exc.__class__.__name__}: {first_line(exc)}"
            return {"instance_id": instance_id, "to_version": to_version, "can_move": False, "code": "failed",
                    "reason": text, "reason_en": text, "moved": False, "failed": True}
        return dict(result, failed=False)

    def upgrade_candidates(self, process_id: str, to_version: int, from_version: int | None = None,
                           instance_ids: list[int] | None = None) -> tuple[int, list[int]]:
        """The target version's number and the running cases a migration of ``process_id`` looks at: those on
        ``from_version`` (else on any other version), among ``instance_ids`` when given."""
        with self.db.read() as session:
            target = find_version(session, process_id, to_version)
            version_ids = None
            if from_version is not None:
                version_ids = [find_version(session, process_id, from_version).id]
            found = instance_rows.running_of(session, process_id, version_ids, instance_ids)
            return target.version, [iid for iid, vid in found if vid != target.id or instance_ids]

    def upgrade_cases(self, process_id: str, to_version: int, *, from_version: int | None = None,
                      instance_ids: list[int] | None = None, mapping: Any = None, actor: str = "",
                      dry_run: bool = False) -> dict:
        """A migration of many cases, one command each (a failure leaves only its case behind): per case
        ``instance_id``, ``can_move``, ``reason`` and, unless ``dry_run``, ``outcome`` (moved, skipped,
        failed); with counts. Cases named in ``instance_ids`` that are not running cases of the process are
        reported as such."""
        self.require_admin(actor)
        pairs = parse_mapping(mapping)
        number, ids = self.upgrade_candidates(process_id, to_version, from_version, instance_ids)
        results = []
        for missing in sorted(set(instance_ids or []) - set(ids)):
            results.append(self._not_a_candidate(missing, process_id, number, from_version))
        for instance_id in ids:
            if dry_run:
                results.append(self.upgrade_check(instance_id, to_version, pairs, actor, from_version))
                continue
            result = self.upgrade_instance(instance_id, to_version, pairs, actor, from_version)
            result["outcome"] = "moved" if result.get("moved") else "failed" if result.get("failed") else "skipped"
            results.append(result)
        results.sort(key=lambda r: r["instance_id"])
        if dry_run:
            counts = {"can_move": sum(1 for r in results if r["can_move"]),
                      "cannot_move": sum(1 for r in results if not r["can_move"])}
        else:
            for r in results:
                r.setdefault("outcome", "skipped")
            counts = {key: sum(1 for r in results if r["outcome"] == key) for key in ("moved", "skipped", "failed")}
        return {"process_id": process_id, "to_version": number, "from_version": from_version, "mapping": pairs,
                "dry_run": dry_run, "results": results, **counts}

    def _not_a_candidate(self, instance_id: int, process_id: str, number: int, from_version: int | None) -> dict:
        with self.db.read() as session:
            instance = session.get(ProcessInstance, instance_id)
            if instance is None:
                raise NotFound(f"no instance {instance_id}")
            if instance.process_id != process_id:
                return outcome(instance_id, None, number, "other_process", process=instance.process_id,
                               wanted=process_id)
            if instance.status != "running":
                return outcome(instance_id, None, number, "not_running", status=instance.status)
            version = session.get(DefinitionVersion, instance.version_id)
            assert version is not None  # a foreign key
            return outcome(instance_id, version.version, number, "not_from", version=version.version,
                           from_version=from_version)

    # -- incidents ----------------------------------------------------------------------------------------------

    INCIDENT_STATES = ("open", "resolved", "all")

    def incident_list(self, actor: str, open_only: bool = False, limit: int = 500, *, state: str | None = None,
                      process_id: str | None = None, element_id: str | None = None) -> dict:
        """The newest incidents — ``state`` ``open``, ``resolved`` or ``all`` (``open_only`` is ``open``), of one
        process or element if asked — and how many are open per process and element."""
        self.require_admin(actor)
        state = state or ("open" if open_only else "all")
        if state not in self.INCIDENT_STATES:
            raise InvalidInput(f"state must be one of {', '.join(self.INCIDENT_STATES)}, not {state!r}")
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be from 1 to 1000, not {limit}")
        with self.db.read() as session:
            found = incident_rows.listing(session, state == "open", limit=limit, resolved_only=state == "resolved",
                                          process_id=process_id or None, element_id=element_id or None)
            rows = [incident_dict(i) for i in found]
            counts = [{"process_id": p, "element_id": e, "open": n}
                      for p, e, n in incident_rows.open_counts(session, process_id or None)]
        return {"incidents": rows, "per_element": counts, "state": state}

    def incident(self, incident_id: int, actor: str) -> dict:
        """One incident with its traceback, the command data it kept, and what a retry would do (``retry``:
        ``timer``, ``replay``, ``repair`` or None)."""
        self.require_admin(actor)
        with self.db.read() as session:
            found = incident_rows.get(session, incident_id)
            if found is None:
                raise NotFound(f"no incident {incident_id}")
            result = incident_dict(found)
            job = job_rows.with_incident(session, incident_id)
            result["job_id"] = job.id if job is not None else None
            result["retry"] = self._retry_kind(found, job is not None) if found.resolved_at is None else None
        return result

    @staticmethod
    def _retry_kind(incident: Any, has_job: bool) -> str | None:
        if has_job:
            return "timer"
        if incident.error_type == NO_WAY_FORWARD:
            return "repair"
        if incident.command in ("complete", "message") and incident.command_data:
            return "replay"
        return None

    def retry_incident(self, incident_id: int, actor: str) -> dict:
        """Run again what failed: a timer job gets new attempts (``JobExecutor.retry``), a failed user command
        is replayed as its actor's command, audited as replayed by ``actor`` (``incident_replayed``), a case with
        no way forward is repaired. The incident is resolved in the same command when it works; when the replay
        fails again, a new incident says why and this one stays open."""
        found = self.incident(incident_id, actor)
        kind = found["retry"]
        if not found["open"]:
            raise Conflict(f"incident {incident_id} is already resolved")
        if kind is None:
            raise InvalidInput(f"incident {incident_id} ({found['command']}: {found['error_type']}) cannot be run "
                               f"again; resolve it with a note")
        result: dict = {"incident_id": incident_id, "retry": kind, "instance_id": found["instance_id"]}
        if kind == "timer":
            result["job"] = self.executor.retry(found["job_id"], actor)
        elif kind == "repair":
            result["repair"] = self.runtime.repair(found["instance_id"], actor)
        else:
            result["replay"] = self._replay(found, actor)
        result["resolved"] = True
        return result

    def _replay(self, found: dict, actor: str) -> dict:
        data = found["command_data"]
        incident_id = found["incident_id"]

        def resolve(session: Session, audit: AuditLog, instance_id: int | None = None) -> None:
            incident = incident_rows.get(session, incident_id, lock=True)
            if incident is None or incident.resolved_at is not None:
                raise Conflict(f"incident {incident_id} is already resolved")
            incident.resolved_at, incident.resolved_by = clock.now(), actor
            incident.resolution = "replayed"
            audit.record("incident_replayed", actor, found["instance_id"], found["task_id"],
                         incident_id=incident_id, command=found["command"], original_actor=found["actor"])

        if found["command"] == "complete":
            if data.get("redacted"):
                raise InvalidInput(f"incident {incident_id} cannot be replayed: its data lacked "
                                   f"{', '.join(data['redacted'])} (never stored)")
            return self.runtime.complete(data["task_id"], found["actor"], data.get("data") or {},
                                         data.get("lang", "zh"), within=resolve, replayed_by=actor)
        return self.runtime.deliver_message(data["message"], data.get("key"), data.get("data") or {},
                                            found["actor"] or "system", within=resolve)

    def resolve_incident(self, incident_id: int, note: str, actor: str) -> dict:
        """Mark an incident dealt with, with a note (who, when and why are kept and audited)."""
        self.require_admin(actor)
        text = (note or "").strip()
        if not text:
            raise InvalidInput("note: say how the incident was dealt with")
        if len(text) > 2000:
            raise InvalidInput("note: at most 2000 characters")
        ctx = CommandContext("incident resolve", actor)

        def work(session: Session, audit: AuditLog) -> dict:
            incident = incident_rows.get(session, incident_id, lock=True)
            if incident is None:
                raise NotFound(f"no incident {incident_id}")
            if incident.resolved_at is not None:
                raise Conflict(f"incident {incident_id} is already resolved")
            incident.resolved_at, incident.resolved_by, incident.resolution = clock.now(), actor, text
            job = job_rows.with_incident(session, incident_id)
            if job is not None:
                job.incident_id = None  # the job stays failed; a retry from `whistle jobs` is still possible
            audit.record("incident_resolved", actor, incident.instance_id, incident.task_id,
                         incident_id=incident_id, note=text)
            return incident_dict(incident)

        return self.runtime.executor.run(ctx, work)

    # -- repair by instance modification -----------------------------------------------------------------------

    UNSAFE = modify.UNSAFE  # why a move is refused (engine.runtime.modify)

    def modify(self, instance_id: int, *, cancel: list[str] | None = None, start: list[str] | None = None,
               back_to: str | None = None, data: dict | None = None, actor: str = "",
               reason: str | None = None) -> dict:
        """Move a case's token by hand (``engine.bpmn.modification``): cancel the active task of each element in
        ``cancel`` and make each in ``start`` ready, or move back to the earlier task ``back_to`` (退回); ``data``
        is merged into the case as it moves. One command, audited as ``instance_modified`` with the
        administrator's ``reason``; refused with the reason (and nothing changed) where it is not safe."""
        self.require_admin(actor)
        reason = (reason or "").strip() or None
        if reason is not None and len(reason) > 2000:
            raise InvalidInput("reason: at most 2000 characters")
        cancel, start = list(cancel or []), list(start or [])
        if data is not None and not isinstance(data, dict):
            raise InvalidInput("data must be a JSON object")
        check_data(data)
        if back_to and (cancel or start):
            raise InvalidInput("--back-to moves the token back by itself; do not combine it with --cancel/--start")
        if not back_to and not (cancel or start):
            raise InvalidInput("say what to move: --cancel ELEMENT --start ELEMENT, or --back-to ELEMENT")
        ctx = CommandContext("modify", actor, instance_id=instance_id)

        def work(session: Session, audit: AuditLog) -> dict:
            instance = self.runtime.instances.lock(session, instance_id)
            ctx.process_id, ctx.version_id = instance.process_id, instance.version_id
            if instance.status != "running":
                raise Conflict(f"instance {instance_id} is {instance.status}; only a running case can be repaired")
            loaded = self.runtime.instances.load(session, instance)
            try:
                if back_to:
                    change = modify.move_token(session, loaded,
                                               lambda workflow: modification.back_to(workflow, back_to, data))
                else:
                    change = modify.move_token(session, loaded, lambda workflow: modification.cancel_and_start(
                        workflow, cancel, start, data))
            except modification.Unsafe as refused:
                raise Conflict(f"instance {instance_id} cannot be moved: {modify.unsafe_text(refused)}; "
                               f"nothing was changed") from None
            summary = (f"back to {back_to}" if back_to
                       else f"cancel {', '.join(change.cancelled)}; start {', '.join(change.started)}")
            audit.record("instance_modified", actor, instance.id, cancelled=change.cancelled, started=change.started,
                         back_to=change.back_to, data=to_json_value(data or {}), summary=summary, reason=reason)
            self.runtime.instances.run_engine_steps(loaded, ctx)
            self.runtime.instances.save(session, audit, ctx, loaded)
            ready = sorted({t.task_spec.bpmn_id for t in loaded.workflow.get_tasks(state=modification.ACTIVE)
                            if t.task_spec.manual})
            return {"instance_id": instance.id, "status": instance.status, "cancelled": change.cancelled,
                    "started": change.started, "back_to": change.back_to, "ready": ready}

        return self.runtime.executor.run(ctx, work)
