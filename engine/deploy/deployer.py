"""Deploying process and decision versions from files, atomically: the checks (``engine.deploy.checks``) pass
for every file or nothing is stored; then each changed definition gets a new version, its message and timer
starts, and its parsed spec goes to the runtime's cache once the transaction commits."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.audit.chain import AuditLog
from engine.definitions import SpecCache
from engine.definitions.specs import bind_files
from engine.deploy import calendars as calendar_files
from engine.deploy import notify_templates
from engine.deploy.checks import CALENDARS, check_deployment
from engine.deploy.rules.stages import warnings_of
from engine.deploy.sources import SourceFile, read_sources
from engine.errors import DeploymentInvalid, Problem
from engine.forms.deployment import carry_over
from engine.jobs.schedule import schedule_timer_starts
from engine.runtime.messages import register_message_starts
from engine.store import Session
from engine.store import definitions as stored
from engine.store.models import DefinitionVersion
from engine.time import clock
from engine.time.iso8601 import TimerValueError


@dataclass
class DeployedDefinition:
    key: str
    kind: str
    version: int
    status: str  # new | unchanged
    name: str | None
    source_file: str
    warnings: list[dict] = field(default_factory=list)  # lint warnings (engine.deploy.rules), as Problem dicts

    def to_dict(self) -> dict:
        return {"process_id": self.key, "kind": self.kind, "version": self.version, "status": self.status,
                "name": self.name, "file": self.source_file, "warnings": self.warnings}


def _content_hash(files: dict[str, SourceFile]) -> str:
    """A version's identity: the hash of its files' hashes, so the same files make the same version."""
    return hashlib.sha256("\n".join(sorted(f.sha256 for f in files.values())).encode()).hexdigest()


class Deployer:
    def __init__(self, specs: SpecCache) -> None:
        self.specs = specs

    def deploy(self, session: Session, audit: AuditLog, paths: list[str | Path],
               actor: str) -> list[DeployedDefinition]:
        """Deploy the files and folders at ``paths`` in the caller's transaction: a new version of each
        definition whose files changed, ``unchanged`` for the others; ``DeploymentInvalid`` stores nothing."""
        sources, problems = read_sources(paths)
        return self.deploy_sources(session, audit, sources, problems, actor)

    def plan(self, session: Session, sources: list[SourceFile], problems: list[Problem]) -> list[DeployedDefinition]:
        """What :meth:`deploy_sources` would store, storing nothing (a dry run, e.g. of an upload): each
        definition ``new`` (with the version it would get) or ``unchanged``, and each calendar year likewise;
        ``DeploymentInvalid`` with every problem, as a deploy would. (A timer start whose date has passed is
        only found by the deploy itself, when its schedule is made.)"""
        plan, calendars, templates = _checked(session, sources, problems)
        results: list[DeployedDefinition] = []
        for (kind, key), (name, own, files, _spec) in sorted(plan.items()):
            latest = stored.latest_version(session, key, kind)
            if latest is not None and latest.content_hash == _content_hash(files):
                results.append(DeployedDefinition(key, kind, latest.version, "unchanged", latest.name,
                                                  latest.source_file, list(latest.warnings or [])))
            else:
                results.append(DeployedDefinition(key, kind, (latest.version + 1) if latest else 1, "new", name,
                                                  own.name, warnings_of(own, key)))
        for schedule in calendars:
            result, version = calendar_files.outcome(session, schedule, via="deploy")
            results.append(DeployedDefinition(str(schedule.year), "calendar", version,
                                              "new" if result == "new" else "unchanged", schedule.status,
                                              schedule.file))
        for source in templates:
            status, version = notify_templates.outcome(session, source)
            results.append(DeployedDefinition("notifications", "notification-templates", version, status, None,
                                              source.name))
        return results

    def deploy_sources(self, session: Session, audit: AuditLog, sources: list[SourceFile], problems: list[Problem],
                       actor: str, via: str | None = None) -> list[DeployedDefinition]:
        """Deploy sources already read (from files, or from an upload: ``engine.deploy.uploads``, ``via``
        ``"upload"`` in the audit events) with the problems found reading them, in the caller's transaction;
        ``DeploymentInvalid`` stores nothing."""
        plan, calendars, templates = _checked(session, sources, problems)
        now = clock.now()
        results: list[DeployedDefinition] = []
        new_specs = []
        for (kind, key), (name, own, files, spec) in sorted(plan.items()):
            content_hash = _content_hash(files)
            latest = stored.latest_version(session, key, kind)
            if latest is not None and latest.content_hash == content_hash:
                results.append(DeployedDefinition(key, kind, latest.version, "unchanged", latest.name,
                                                  latest.source_file, list(latest.warnings or [])))
                continue
            version = stored.add_version(session, key=key, kind=kind, version=(latest.version + 1) if latest else 1,
                                         name=name, content_hash=content_hash, source_file=own.name,
                                         deployed_at=now, deployed_by=actor, warnings=warnings_of(own, key),
                                         files=[(f.name, f.sha256, f.content) for f in files.values()])
            audit.record("deployed", actor, kind=kind, key=key, version=version.version, file=own.name,
                         content_hash=content_hash, **_via(via))
            results.append(DeployedDefinition(key, kind, version.version, "new", name, own.name, version.warnings))
            if spec is not None:
                bind_files(spec[0], version, [(f.name, f.content) for f in files.values()])
                new_specs.append((version.id, spec))
                register_message_starts(session, version, spec[0])
                _schedule_timer_starts(session, audit, version, spec[0], own, actor)
        for calendar in calendar_files.store(session, audit, calendars, actor, via="deploy"):
            results.append(DeployedDefinition(str(calendar["year"]), "calendar", calendar["version"],
                                              "new" if calendar["result"] == "new" else "unchanged", calendar["status"],
                                              calendar["file"], calendar["warnings"]))
        for stored_templates in notify_templates.store(session, audit, templates, actor):
            results.append(DeployedDefinition("notifications", "notification-templates", stored_templates["version"],
                                              stored_templates["status"], None, stored_templates["file"]))
        session.flush()
        # Cached only once the caller commits; a failed deployment leaves no trace, here either.
        session.info.setdefault("after_commit", []).extend(
            (lambda vid=vid, s=s: self.specs.put(vid, *s)) for vid, s in new_specs)
        return results


def _via(via: str | None) -> dict[str, Any]:
    return {"via": via} if via else {}  # the command line's events stay as they were


def _checked(session: Session, sources: list[SourceFile], problems: list[Problem]) -> tuple[dict, list, list]:
    """The checked plan of a deployment (its forms carried over from the latest versions), its calendars and its
    notification templates."""
    plan = check_deployment(session, sources, problems)
    calendars = plan.pop(CALENDARS, [])
    templates = plan.pop(notify_templates.PLAN_KEY, [])
    carry_over(session, plan)
    return plan, calendars, templates


def _schedule_timer_starts(session: Session, audit: AuditLog, version: DefinitionVersion, spec: Any,
                           own: SourceFile, actor: str) -> None:
    """The new version owns the process's timer start schedule; older versions' jobs are dropped. A timer
    value only the schedule can judge (a date already past, say) refuses the deployment at its element."""
    try:
        schedule_timer_starts(session, audit, version, spec, actor)
    except TimerValueError as exc:
        element_id = getattr(exc, "element_id", None)
        raise DeploymentInvalid([Problem(own.name, own.ids.get(element_id) if element_id else None,
                                         element_id, str(exc))]) from exc
