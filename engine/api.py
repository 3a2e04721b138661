"""The engine's public surface: commands and queries. The CLI and the web service are thin shells over it."""
from __future__ import annotations

import functools
import time
from datetime import timezone
from pathlib import Path

from sqlalchemy import bindparam, func, select, true, union_all
from sqlalchemy.orm import Session

from engine.audit import chain as audit_log
from engine.time import clock
from engine.store import migrate
from engine.deploy import calendars as calendar_store
from engine.store import clock as stored_clock
from engine.time import calendar_files, calendars, workdays
from engine.jobs import queries as timer_jobs
from engine.identity.accounts import ensure_user, groups_of, import_accounts
from engine.audit.chain import AuditLog, VerifyReport
from engine.store.db import Database
from engine.definitions import SpecCache
from engine.deploy.deployer import DeployedDefinition, Deployer
from engine.errors import DeploymentInvalid, Forbidden, InvalidInput, NotFound, NotMigrated
from engine.jobs.executor import JobExecutor
from engine.store.models import (DefinitionVersion, HumanTask, Incident, MessageSubscription, ProcessInstance,
                     Membership, TaskCandidate, UserAccount)
from engine.time import iso8601
from engine.identity import tokens as api_tokens
from engine.runtime.commands import Runtime
from engine.runtime.context import CommandContext
from engine.runtime.inbox import task_dict
from engine.casework.service import CaseWork, inbox_order

INBOX_ORDER = inbox_order(HumanTask.due_at, HumanTask.priority, HumanTask.created_at, HumanTask.id)
TOKEN_CACHE_SECONDS = 2.0  # how long a checked bearer token is trusted without reading the database again

# Members of these groups may read every instance (admins; the district supervision office chases the overdue).
class Whistle(CaseWork):  # CaseWork: inbox, forms, drafts, attachments, case diagrams (engine.casework)
    """One engine per process; safe to share between threads (each command opens its own session)."""

    def __init__(self, database_url: str | None = None, *, check_schema: bool = True) -> None:
        self.db = Database(database_url)
        self.specs = SpecCache()
        self.deployer = Deployer(self.specs)
        self.runtime = Runtime(self.db, self.specs)
        self.executor = JobExecutor(self.db, self.runtime)
        self._token_cache: dict[str, tuple[float, dict]] = {}  # token hash -> (checked at, who)
        self._install_clock()
        self._install_calendar()
        if check_schema:
            self.check_schema()

    def _install_clock(self) -> None:
        """In demo and test mode every process reads the same shifted time from the database, unless a
        test already installed its own clock (``ManualClock``)."""
        if not clock.shift_allowed():
            return
        active = clock.active()
        if isinstance(active, clock.SystemClock) or (isinstance(active, clock.DatabaseClock)
                                                    and active.url != self.db.url):
            clock.install(clock.DatabaseClock(self.db.engine, self.db.url))

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
              business_key: str | None = None, user: str | None = None, lang: str = "zh") -> int:
        return self.runtime.start(process_id, version, data, business_key, user, lang)

    def claim(self, task_id: str, user: str) -> dict:
        return self.runtime.claim(task_id, user)

    def unclaim(self, task_id: str, user: str) -> dict:
        return self.runtime.unclaim(task_id, user)

    def complete(self, task_id: str, user: str, data: dict | None = None, lang: str = "zh") -> dict:
        return self.runtime.complete(task_id, user, data, lang)

    def repair(self, instance_id: int, actor: str = "system") -> dict:
        """Move a case with no way forward again where the engine can (``Runtime.repair``)."""
        return self.runtime.repair(instance_id, actor)

    def message(self, name: str, key: str | None = None, data: dict | None = None, actor: str = "system") -> dict:
        """Deliver a message from outside; NotFound (and nothing changed) when nobody awaits it."""
        return self.runtime.deliver_message(name, key, data, actor)

    def tasks(self, user: str | None = None, limit: int = 200, offset: int = 0,
              process_id: str | None = None) -> list[dict]:
        """Open tasks; for a user, those claimed by them or offered to them and not claimed by someone else.

        Sorted by due time (none last), priority (high first), age. For a user see ``_inbox``."""
        if user is not None:
            with self.db.read(snapshot=False) as session:  # the inbox is the hot read: no BEGIN/COMMIT round trips
                rows = self._inbox(session, user, limit, offset, process_id)
                return [task_dict(session, row, _split_candidates(row)) for row in rows]
        with self.db.read() as session:
            query = select(HumanTask).where(HumanTask.status == "open")
            if process_id is not None:
                query = query.where(HumanTask.process_id == process_id)
            rows = session.execute(query.order_by(*INBOX_ORDER).limit(limit).offset(offset)).scalars().all()
            return self._task_dicts(session, rows)

    @staticmethod
    def _inbox(session: Session, user: str, limit: int, offset: int, process_id: str | None) -> list:
        """A user's inbox page in one statement (bench/RESULTS.md, "HTTP"): the first ``offset + limit`` tasks
        claimed by the user (an ordered range of ``ix_human_task_status_assignee_due``), and as many offered
        to each of their groups and to them by name (each an ordered range of the partial index
        ``ix_task_candidate_offered``: only tasks open and unclaimed now, however long a group's history);
        the union of those ids, deduplicated, sorted and cut to the page, each row with its candidates.
        Reads are bounded by the page end and the number of groups, not by how many tasks are open.

        Rows are plain dicts (not ORM objects): an inbox page is read-only and the hottest read there is, so
        on PostgreSQL the statement, compiled once per shape, goes straight to the driver.
        """
        params = {"username": user, "need": offset + limit, "page_limit": limit, "page_offset": offset}
        if process_id is not None:
            params["process_id"] = process_id
        if session.get_bind().dialect.name == "postgresql":
            # The user's groups are joined in (LATERAL): one round trip. Only an empty page asks who the user is.
            sql, defaults, columns = _inbox_for_driver(session.get_bind().dialect, process_id is not None)
            with session.connection().connection.driver_connection.cursor() as cursor:
                cursor.execute(sql, {**defaults, **params})
                rows = [dict(zip(columns, values)) for values in cursor.fetchall()]
            for row in rows:  # as engine.db.UTCDateTime gives them everywhere else
                for key in ("created_at", "due_at", "completed_at"):
                    if row[key] is not None:
                        row[key] = row[key].astimezone(timezone.utc)
            if not rows and session.execute(_USER_GROUPS, {"username": user}).first() is None:
                raise NotFound(f"no user '{user}'")
            return rows
        found = session.execute(_USER_GROUPS, {"username": user}).all()
        if not found:
            raise NotFound(f"no user '{user}'")
        groups = sorted({g for _, g in found if g is not None})
        params.update({f"group_{i}": name for i, name in enumerate(groups)})
        return [row._asdict() for row in session.execute(_inbox_statement(len(groups), process_id is not None),
                                                         params)]

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
                "timers": timer_jobs.instance_timers(session, instance_id, clock.now()),
                "audit": audit_log.events_for_instance(session, instance_id),
            }

    def history(self, instance_id: int) -> list[dict]:
        """The instance's audit events, oldest first (who did what when)."""
        with self.db.read() as session:
            if session.get(ProcessInstance, instance_id) is None:
                raise NotFound(f"no instance {instance_id}")
            return audit_log.events_for_instance(session, instance_id)

    def incidents(self, instance_id: int | None = None) -> list[dict]:
        with self.db.read() as session:
            query = select(Incident).order_by(Incident.id)
            if instance_id is not None:
                query = query.where(Incident.instance_id == instance_id)
            return [{"incident_id": i.id, "instance_id": i.instance_id, "process_id": i.process_id,
                     "command": i.command, "element_id": i.element_id, "error": f"{i.error_type}: {i.message}",
                     "traceback": i.traceback, "created_at": i.created_at.isoformat(),
                     "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None}
                    for i in session.execute(query).scalars()]

    # -- timers and the job executor ---------------------------------------------------------------------

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

    # -- the clock (demo and test mode) -------------------------------------------------------------------

    def clock_show(self) -> dict:
        with self.db.read() as session:
            stored = stored_clock.read_offset(session)
        active = clock.active()
        shifted = isinstance(active, clock.DatabaseClock)
        return {"now": clock.now().isoformat(), "system_time": clock.SystemClock().now().isoformat(),
                "mode": clock.mode(), "shift_allowed": clock.shift_allowed(),
                "source": ("database offset" if shifted else "manual (tests)" if isinstance(active, clock.ManualClock)
                           else "system"),
                "offset_seconds": stored.total_seconds(), "offset": clock.format_offset(stored)}

    def clock_advance(self, duration: str, actor: str = "system") -> dict:
        """Move the shared clock forward by an ISO 8601 duration (``PT31M``, ``P3D``; ``-PT1H`` goes back)."""
        text = str(duration).strip()
        sign = -1 if text.startswith("-") else 1
        try:
            now = clock.now()
            delta = iso8601.duration_after(text.lstrip("+-"), now) - now
        except iso8601.TimerValueError as exc:
            raise InvalidInput(str(exc))
        return self._shift_clock(lambda offset: offset + sign * delta, actor, f"advance {text}")

    def clock_set(self, when: str, actor: str = "system") -> dict:
        """Set the shared clock to a date-time with an explicit UTC offset."""
        try:
            target = iso8601.parse_date(when)
        except iso8601.TimerValueError as exc:
            raise InvalidInput(str(exc))
        return self._shift_clock(lambda offset: target - clock.SystemClock().now(), actor, f"set {when}")

    def _shift_clock(self, change, actor: str, what: str) -> dict:
        if not clock.shift_allowed():
            raise Forbidden(f"the clock can only be moved in demo or test mode (WHISTLE_MODE=demo or test); "
                            f"this deployment runs in {clock.mode()} mode and uses the system time")

        def work(session, audit) -> None:
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

    # -- working-day calendars (engine.workdays) -----------------------------------------------------------

    def _install_calendar(self) -> None:
        """Working days count with the calendars stored in this database, as in every process that uses it."""
        self._calendar = calendars.use_database(self.db.engine, self.db.url)

    def calendar_import(self, path: str | Path, actor: str = "system") -> list[dict]:
        """Load the years of a calendar file (CSV: date, kind, name), e.g. the State Council's schedule for next
        year: each year becomes a new version unless its newest version has the same days (audited as
        ``calendar_loaded``). ``open_deadlines_before`` counts the open tasks whose deadlines were set across the
        year before it (they keep their dates)."""
        path = Path(path)
        try:
            content = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFound(f"{path}: no such file")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{path}: not UTF-8 text ({exc.reason})")
        schedules, problems = calendar_files.parse_calendar(str(path), content)
        if problems:
            refused = DeploymentInvalid(problems)
            refused.message = refused.message.replace("nothing was deployed", "nothing was loaded")
            raise refused

        def work(session: Session, audit: AuditLog) -> list[dict]:
            results = calendar_store.store(session, audit, schedules, actor, via="import")
            for result in results:
                result["open_deadlines_before"] = calendar_store.open_deadlines_across(session, result["year"]) \
                    if result["result"] == "new" else 0
            return results

        return self.runtime.run_command(CommandContext("calendar import", actor), work)

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

    # -- API tokens for system clients ----------------------------------------------------------------------

    def create_token(self, name: str, user: str, scopes: list[str] | None = None, actor: str = "system") -> dict:
        """A new bearer token acting as ``user`` within ``scopes``; the result's ``token`` is shown only now."""
        return self.runtime.run_command(CommandContext("token create", actor),
                                        lambda s, a: api_tokens.create(s, a, name, user, list(scopes or []), actor))

    def revoke_token(self, name: str, actor: str = "system") -> dict:
        result = self.runtime.run_command(CommandContext("token revoke", actor),
                                          lambda s, a: api_tokens.revoke(s, a, name, actor))
        self._token_cache.clear()
        return result

    def list_tokens(self) -> list[dict]:
        with self.db.read() as session:
            return api_tokens.listing(session)

    def authenticate_token(self, token: str) -> dict | None:
        """``{"user", "scopes", "name"}`` for a valid bearer token, else None.

        A positive answer is remembered for ``TOKEN_CACHE_SECONDS`` (keyed by the token's hash): a token
        revoked, or an account deactivated, in another process stops working within that time; in this
        process at once (``revoke_token`` clears the cache)."""
        key = api_tokens.token_hash(token)
        moment = time.monotonic()
        cached = self._token_cache.get(key)
        if cached is not None and moment - cached[0] < TOKEN_CACHE_SECONDS:
            return cached[1]
        with self.db.read() as session:
            found = api_tokens.lookup(session, token)
        if found is None:
            self._token_cache.pop(key, None)
            return None
        now = clock.now()
        if api_tokens.needs_touch(found, now):
            with self.db.write() as session:
                api_tokens.touch(session, found["id"], now)
        result = {"user": found["user"], "scopes": found["scopes"], "name": found["name"]}
        if len(self._token_cache) > 10_000:
            self._token_cache.clear()
        self._token_cache[key] = (moment, result)
        return result

    def verify_audit(self) -> VerifyReport:
        with self.db.read() as session:
            return audit_log.verify(session)

    @staticmethod
    def _task_dicts(session: Session, rows: list[HumanTask]) -> list[dict]:
        if not rows:
            return []
        candidates: dict = {}
        for c in session.execute(select(TaskCandidate.task_id, TaskCandidate.kind, TaskCandidate.name)
                                 .where(TaskCandidate.task_id.in_([r.id for r in rows]))):
            candidates.setdefault((c.kind, c.task_id), []).append(c.name)
        return [task_dict(session, row, candidates) for row in rows]

    def close(self) -> None:
        calendars.release(self._calendar)
        self.db.dispose()


_USER_GROUPS = (select(UserAccount.id, Membership.group_name).outerjoin(Membership, Membership.user_id == UserAccount.id)
                .where(UserAccount.username == bindparam("username"), UserAccount.active.is_(True)))


_SEPARATOR, _KIND_SEPARATOR = "\x1e", "\x1f"  # ASCII record and unit separators: never in a group or user name


def _split_candidates(row: dict) -> dict:
    """``task_dict``'s candidates of an inbox row, from its ``candidates`` column (kind and name pairs)."""
    found: dict = {}
    for pair in (row["candidates"] or "").split(_SEPARATOR):
        if pair:
            kind, _, name = pair.partition(_KIND_SEPARATOR)
            found.setdefault((kind, row["id"]), []).append(name)
    return found


@functools.lru_cache(maxsize=8)
def _inbox_for_driver(dialect, by_process: bool) -> tuple[str, dict, list[str]]:
    """The PostgreSQL inbox statement compiled once: its SQL for the DBAPI driver, its literal parameters and
    its result column names. Skips SQLAlchemy's per-execution work on the hottest read there is."""
    statement = _inbox_statement(None, by_process)
    compiled = statement.compile(dialect=dialect)
    defaults = {name: value for name, value in compiled.params.items() if value is not None}
    return compiled.string, defaults, [column.key for column in statement.selected_columns]


@functools.lru_cache(maxsize=64)
def _inbox_statement(group_count: int | None, by_process: bool):
    """The inbox page statement (``Whistle._inbox``), built once per shape. With ``group_count`` the user's
    group names travel as parameters ``group_0``, ``group_1``…; with None (PostgreSQL) the statement reads
    the user's groups itself and ranks each group's offers in a LATERAL subquery."""
    tasks, offers = HumanTask.__table__, TaskCandidate.__table__

    def ranked_offers(kind: str, name):
        query = select(offers.c.task_id).where(offers.c.offered, offers.c.kind == kind, offers.c.name == name)
        if by_process:
            query = query.where(offers.c.process_id == bindparam("process_id"))
        return query.order_by(*inbox_order(offers.c.due_at, offers.c.priority, offers.c.created_at,
                                           offers.c.task_id)).limit(bindparam("need"))

    def offered_to(kind: str, name):
        ranked = ranked_offers(kind, name).subquery()
        return select(ranked.c.task_id)

    claimed = select(tasks.c.id).where(tasks.c.status == "open", tasks.c.assignee == bindparam("username"))
    if by_process:
        claimed = claimed.where(tasks.c.process_id == bindparam("process_id"))
    in_inbox_order = inbox_order(tasks.c.due_at, tasks.c.priority, tasks.c.created_at, tasks.c.id)
    claimed = claimed.order_by(*in_inbox_order).limit(bindparam("need")).subquery()
    branches = [select(claimed.c.id), offered_to("user", bindparam("username"))]
    active = (select(UserAccount.id).where(UserAccount.username == bindparam("username"), UserAccount.active.is_(True))
              .scalar_subquery())
    if group_count is None:
        member = select(Membership.group_name).where(Membership.user_id == active).subquery("member")
        ranked = ranked_offers("group", member.c.group_name).lateral("ranked")
        branches.append(select(ranked.c.task_id).select_from(member).join(ranked, true()))
    else:
        branches += [offered_to("group", bindparam(f"group_{i}")) for i in range(group_count)]
    every_candidate = (select(func.aggregate_strings(offers.c.kind + _KIND_SEPARATOR + offers.c.name, _SEPARATOR))
                       .where(offers.c.task_id == tasks.c.id).scalar_subquery().label("candidates"))
    # An unknown or inactive user has no inbox, whatever is still assigned to the name.
    return (select(tasks, every_candidate).where(tasks.c.id.in_(union_all(*branches).scalar_subquery()),
                                                 active.is_not(None))
            .order_by(*in_inbox_order).limit(bindparam("page_limit")).offset(bindparam("page_offset")))
