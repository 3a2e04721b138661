"""Deploying the notification templates (``processes/notifications/templates.json``,
``engine.notifications.templates``): taken out of a deployment's sources and checked — a problem names the file
and the event key — then stored as a new version of ``notification_templates`` when the content changed, one audit
event ``notification_templates_deployed``. They belong to no process: every case's notifications read the newest."""
from __future__ import annotations

from engine.audit.chain import AuditLog
from engine.errors import Problem
from engine.notifications import templates
from engine.store import Session
from engine.store import notifications as stored
from engine.time import clock

KIND = "notify-templates"
PLAN_KEY = ("notification-templates", "")  # the plan's entry (engine.deploy.checks)


def split_sources(sources: list, problems: list[Problem]) -> list:
    """Take the templates files out of ``sources`` (in place) and check them; at most one per deployment."""
    mine = [s for s in sources if s.kind == KIND]
    sources[:] = [s for s in sources if s.kind != KIND]
    good: list = []
    for source in mine:
        if good:
            problems.append(Problem(source.name, None, None, f"notification templates: {good[0].name} gives them "
                                                             f"already; one templates file per deployment"))
            continue
        parsed, found = templates.check(source.name, source.content)
        problems.extend(found)
        if parsed is not None:
            good.append(source)
    return good


def outcome(session: Session, source: object) -> tuple[str, int]:
    """``new`` or ``unchanged``, and the version the templates would have (a dry run)."""
    latest = stored.latest_templates(session)
    content = getattr(source, "content")  # noqa: B009 - a SourceFile (engine.deploy.sources imports this module)
    if latest is not None and latest.content_hash == templates.content_hash(content):
        return "unchanged", latest.version
    return "new", (latest.version + 1) if latest else 1


def store(session: Session, audit: AuditLog, sources: list, actor: str) -> list[dict]:
    results = []
    for source in sources:
        status, version = outcome(session, source)
        if status == "new":
            content_hash = templates.content_hash(source.content)
            stored.add_templates(session, version=version, file_name=source.name, content=source.content,
                                 content_hash=content_hash, deployed_at=clock.now(), deployed_by=actor)
            audit.record("notification_templates_deployed", actor, version=version, file=source.name,
                         content_hash=content_hash)
        results.append({"status": status, "version": version, "file": source.name})
    return results
