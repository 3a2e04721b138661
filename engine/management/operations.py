"""What administrators run the engine with: deployments and the definitions deployed, incidents, timer jobs,
the shared clock of demo and test mode, working-day calendars, and the audit chain's verification."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from engine.audit import chain as audit_log
from engine.audit.chain import AuditLog, VerifyReport
from engine.deploy import calendars as calendar_store
from engine.deploy import uploads
from engine.deploy.deployer import DeployedDefinition, Deployer
from engine.errors import DeploymentInvalid, Forbidden, InvalidInput, NotFound
from engine.identity import roles
from engine.jobs import queries as timer_jobs
from engine.jobs.executor import JobExecutor
from engine.runtime.commands import Runtime
from engine.runtime.context import CommandContext
from engine.store import Session
from engine.store import clock as stored_clock
from engine.store import management as stored
from engine.store.db import Database
from engine.store.models import Incident
from engine.time import calendar_files, calendars, clock, iso8601, workdays


class Management:
    """The administrators' commands and queries."""

    def __init__(self, db: Database, runtime: Runtime, deployer: Deployer, executor: JobExecutor) -> None:
        self.db, self.runtime, self.deployer, self.executor = db, runtime, deployer, executor
        self._calendar: calendars.DatabaseCalendar | None = None

    # -- deployments ----------------------------------------------------------------------------------------

    def deploy(self, paths: list[str | Path], actor: str = "system") -> list[DeployedDefinition]:
        return self.runtime.run_command(CommandContext("deploy", actor),
                                        lambda s, a: self.deployer.deploy(s, a, paths, actor))

    def plan_upload(self, files: uploads.Upload, actor: str) -> dict:
        """The dry run of uploaded files (``engine.deploy.uploads.plan``): the report a designer reads before
        deploying; nothing is stored. Designers and administrators only."""
        self._require_designer(actor)
        with self.db.read() as session:
            return uploads.plan(session, self.deployer, files)

    def deploy_upload(self, files: uploads.Upload, actor: str,
                      expected_hash: str | None = None) -> list[DeployedDefinition]:
        """Deploy uploaded files as one deployment, atomically; with ``expected_hash`` only the upload whose
        dry run had it. Designers and administrators only; the actor is recorded with each new version."""
        self._require_designer(actor)
        return self.runtime.run_command(CommandContext("deploy", actor), lambda s, a: uploads.deploy(
            s, a, self.deployer, files, actor, expected_hash))

    def _require_designer(self, actor: str) -> None:
        """Uploading and deploying from a page or the API is for designers and administrators (``designers``,
        ``admins``); the command line deploys as whoever runs it on the server."""
        with self.db.read() as session:
            roles.require(session, actor, roles.DESIGNERS, "deploy")

    def definitions(self) -> list[dict]:
        """Every deployed version, with how many of its cases are running."""
        with self.db.read() as session:
            return [{"process_id": r.key, "kind": r.kind, "version": r.version, "name": r.name,
                     "deployed_at": r.deployed_at.isoformat(), "deployed_by": r.deployed_by, "file": r.source_file,
                     "content_hash": r.content_hash, "running_instances": running, "warnings": r.warnings}
                    for r, running in stored.definitions_with_running_counts(session)]

    # -- incidents and timer jobs ---------------------------------------------------------------------------

    def incidents(self, instance_id: int | None = None) -> list[dict]:
        with self.db.read() as session:
            return [incident_dict(i) for i in stored.incidents(session, instance_id)]

    def fire_due_jobs(self, limit: int | None = None) -> int:
        """Fire every timer job that is due now (this engine acts as one worker); returns how many fired."""
        return self.executor.fire_due(limit).fired

    def jobs(self, include_scheduled: bool = False, limit: int = 500) -> list[dict]:
        """Timer jobs that are due, locked by a worker, or failed (with ``include_scheduled``: all)."""
        with self.db.read() as session:
            return timer_jobs.list_jobs(session, clock.now(), include_scheduled, limit)

    def retry_job(self, job_id: int, actor: str = "system") -> dict:
        """Give a failed timer job new attempts, due now (its incident is marked resolved)."""
        return self.executor.retry(job_id, actor)

    def verify_audit(self) -> VerifyReport:
        with self.db.read() as session:
            return audit_log.verify(session)

    # -- the clock (demo and test mode) ---------------------------------------------------------------------

    def install_clock(self) -> None:
        """In demo and test mode every process reads the same shifted time from the database, unless a
        test already installed its own clock (``ManualClock``)."""
        if not clock.shift_allowed():
            return
        active = clock.active()
        if isinstance(active, clock.SystemClock) or (isinstance(active, clock.DatabaseClock)
                                                    and active.url != self.db.url):
            clock.install(clock.DatabaseClock(self.db.engine, self.db.url))

    def clock_show(self) -> dict:
        with self.db.read() as session:
            stored_offset = stored_clock.read_offset(session)
        active = clock.active()
        shifted = isinstance(active, clock.DatabaseClock)
        return {"now": clock.now().isoformat(), "system_time": clock.SystemClock().now().isoformat(),
                "mode": clock.mode(), "shift_allowed": clock.shift_allowed(),
                "source": ("database offset" if shifted else "manual (tests)" if isinstance(active, clock.ManualClock)
                           else "system"),
                "offset_seconds": stored_offset.total_seconds(), "offset": clock.format_offset(stored_offset)}

    def clock_advance(self, duration: str, actor: str = "system") -> dict:
        """Move the shared clock forward by an ISO 8601 duration (``PT31M``, ``P3D``; ``-PT1H`` goes back)."""
        text = str(duration).strip()
        sign = -1 if text.startswith("-") else 1
        try:
            now = clock.now()
            delta = iso8601.duration_after(text.lstrip("+-"), now) - now
        except iso8601.TimerValueError as exc:
            raise InvalidInput(str(exc)) from None
        return self._shift_clock(lambda offset: offset + sign * delta, actor, f"advance {text}")

    def clock_set(self, when: str, actor: str = "system") -> dict:
        """Set the shared clock to a date-time with an explicit UTC offset."""
        try:
            target = iso8601.parse_date(when)
        except iso8601.TimerValueError as exc:
            raise InvalidInput(str(exc)) from None
        return self._shift_clock(lambda offset: target - clock.SystemClock().now(), actor, f"set {when}")

    def _shift_clock(self, change: Callable[[timedelta], timedelta], actor: str, what: str) -> dict:
        if not clock.shift_allowed():
            raise Forbidden(f"the clock can only be moved in demo or test mode (WHISTLE_MODE=demo or test); "
                            f"this deployment runs in {clock.mode()} mode and uses the system time")

        def work(session: Session, audit: AuditLog) -> None:
            before = stored_clock.read_offset(session)
            after = change(before)
            stored_clock.write_offset(session, after, actor)
            audit.record("clock_shifted", actor, change=what, offset_before=clock.format_offset(before),
                         offset_after=clock.format_offset(after))

        self.runtime.run_command(CommandContext("clock", actor), work)
        active = clock.active()
        if isinstance(active, clock.DatabaseClock):
            active.invalidate()
        return self.clock_show()

    # -- working-day calendars (engine.time.calendars; stored by engine.deploy.calendars) ----------------------

    def install_calendar(self) -> None:
        """Working days count with the calendars stored in this database, as in every process that uses it."""
        self._calendar = calendars.use_database(self.db.engine, self.db.url)

    def release_calendar(self) -> None:
        if self._calendar is not None:
            calendars.release(self._calendar)
            self._calendar = None

    def calendar_import(self, path: str | Path, actor: str = "system") -> list[dict]:
        """Load the years of a calendar file (CSV: date, kind, name), e.g. the State Council's schedule for next
        year: each year becomes a new version unless its newest version has the same days (audited as
        ``calendar_loaded``). ``open_deadlines_before`` counts the open tasks whose deadlines were set across the
        year before it (they keep their dates)."""
        path = Path(path)
        try:
            content = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFound(f"{path}: no such file") from None
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{path}: not UTF-8 text ({exc.reason})") from None
        return self._import_calendar(str(path), content, actor, "calendar import")

    def calendar_upload(self, name: str, content: bytes, actor: str) -> list[dict]:
        """A calendar file uploaded by an administrator (the 工作日日历 page): the same checks and versions as
        ``calendar_import``, refused for anyone else."""
        with self.db.read() as session:
            roles.require(session, actor, roles.ADMINS, "load working-day calendars")
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{name}: not UTF-8 text (byte {exc.start})") from None
        return self._import_calendar(name, text, actor, "calendar upload")

    def _import_calendar(self, name: str, content: str, actor: str, command: str) -> list[dict]:
        schedules, problems = calendar_files.parse_calendar(name, content)
        if problems:
            refused = DeploymentInvalid(problems)
            refused.message = refused.message.replace("nothing was deployed", "nothing was loaded")
            raise refused
        assert schedules is not None  # parse_calendar gives the schedules whenever it finds no problem

        def work(session: Session, audit: AuditLog) -> list[dict]:
            results = calendar_store.store(session, audit, schedules, actor, via="import")
            for result in results:
                result["open_deadlines_before"] = calendar_store.open_deadlines_across(session, result["year"]) \
                    if result["result"] == "new" else 0
            return results

        return self.runtime.run_command(CommandContext(command, actor), work)

    def calendar_show(self, year: int | None = None) -> list[dict]:
        """Coverage per year — ``official``, ``statutory only`` or ``none`` — read from the database now: by
        default the years stored, this year and next."""
        with self.db.read() as session:
            snapshot = calendars.read_snapshot(session)
        return workdays.coverage([year] if year is not None else None, snapshot)

    def calendar_notices(self) -> list[dict]:
        """For administrators: this year or next without the official schedule (deadlines are provisional)."""
        with self.db.read() as session:
            snapshot = calendars.read_snapshot(session)
        return workdays.notices(snapshot=snapshot)


def incident_dict(i: Incident) -> dict:
    """An incident as the CLI, the API and the pages show it: ``error`` is its first line, ``traceback`` the
    whole; ``command_data`` what a failed user command submitted (secrets taken out), to replay it."""
    return {"incident_id": i.id, "instance_id": i.instance_id, "process_id": i.process_id, "version_id": i.version_id,
            "command": i.command, "actor": i.actor, "task_id": i.task_id, "element_id": i.element_id,
            "error": f"{i.error_type}: {i.message}", "error_type": i.error_type, "message": i.message,
            "traceback": i.traceback, "command_data": i.command_data, "created_at": i.created_at.isoformat(),
            "open": i.resolved_at is None, "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
            "resolved_by": i.resolved_by, "resolution": i.resolution}
