"""The engine's public surface, ``Whistle``: commands and queries, one line each. The CLI and the web service are
thin shells over it.

The work is done by audience services the facade holds, as Camunda splits its Runtime, Task, Repository and
Management services: ``runtime`` (the commands), ``management`` (deployments, incidents, timer jobs, the clock,
calendars, audit verification), ``case_admin`` (finding every case; suspend, resume, terminate), ``batches`` (bulk
operations over many cases, worked by the job executor), ``identity``
(accounts, API tokens), ``modeler`` (the designers' modeler in the browser: drafts, validation, deployment), and
for the staff screens ``cases``, ``worklist`` (the inbox), ``task_views``, ``submissions``, ``drafts``,
``attachments``, ``diagrams``, ``people`` (who the screens show, who may see what) and ``versions`` (what a
deployed version's sources say); for designers ``version_history`` (every version of a definition, its files as
deployed, the diff of two) and ``editors`` (a
version's forms in form-js's editor and decision tables in dmn-js's, drafts, validation, deployment).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from engine.audit.chain import VerifyReport
from engine.audit.dossier import DossierReport
from engine.casework import listing
from engine.casework.attachments import Attachments
from engine.casework.cases import Cases
from engine.casework.dashboard import DashboardQuery, Dashboards, Viewer
from engine.casework.dashboard import sheets as dashboard_sheets
from engine.casework.diagrams import Diagrams
from engine.casework.dossiers import Dossiers, verify_manifest
from engine.casework.drafts import Drafts
from engine.casework.evaluations import Evaluations
from engine.casework.inbox import Worklist
from engine.casework.listing import CaseQuery, InboxQuery
from engine.casework.notifications import NotificationCenter
from engine.casework.people import People
from engine.casework.submissions import Submissions
from engine.casework.tasks import TaskViews
from engine.casework.versions import VersionFacts
from engine.definitions import SpecCache
from engine.deploy.deployer import DeployedDefinition, Deployer
from engine.deploy.uploads import Upload
from engine.errors import InvalidInput, NotMigrated
from engine.identity.accounts import SignInLimits
from engine.jobs import batches as batch_operations
from engine.jobs.batches import BatchRunner
from engine.jobs.executor import JobExecutor, default_owner
from engine.management.batches import Batches
from engine.management.case_admin import CaseAdmin
from engine.management.directory import Directory
from engine.management.editors import SourceEditor
from engine.management.identity import Identity, PasswordCache, SignInOutcome
from engine.management.modeler import Modeler
from engine.management.operations import Management
from engine.management.repairs import CaseRepairs
from engine.management.versions import VersionHistory
from engine.queries import exports
from engine.runtime.commands import Runtime
from engine.runtime.task_actions import TaskActions
from engine.store import migrate
from engine.store.db import Database


class Whistle:
    """One engine per process; safe to share between threads (each command opens its own session)."""

    def __init__(self, database_url: str | None = None, *, check_schema: bool = True) -> None:
        self.db = Database(database_url)
        self.specs = SpecCache()
        self.deployer = Deployer(self.specs)
        self.runtime = Runtime(self.db, self.specs)
        self.task_actions = TaskActions(self.runtime)
        self.executor = JobExecutor(self.db, self.runtime)
        self.executor.batches = self.batch_runner(self.executor.owner)
        self.batches = Batches(self.db, self.runtime)
        self.management = Management(self.db, self.runtime, self.deployer, self.executor)
        self.identity = Identity(self.db, self.runtime)
        self.directory = Directory(self.db, self.runtime)
        self.modeler = Modeler(self.db, self.runtime, self.deployer)
        self.repairs = CaseRepairs(self.db, self.runtime, self.executor)
        self.editors = SourceEditor(self.db, self.runtime, self.deployer)
        self.versions = VersionFacts(self.db)
        self.version_history = VersionHistory(self.db)
        self.people = People(self.db)
        self.cases = Cases(self.db, self.people, self.versions)
        self.worklist = Worklist(self.db, self.versions)
        self.task_views = TaskViews(self.db, self.runtime, self.people, self.worklist)
        self.attachments = Attachments(self.db, self.runtime, self.people)
        self.drafts = Drafts(self.db)
        self.submissions = Submissions(self.db, self.runtime, self.versions, self.attachments)
        self.diagrams = Diagrams(self.db, self.runtime)
        self.evaluations = Evaluations(self.db)
        self.dossiers = Dossiers(self.db, self.cases, self.diagrams, self.versions, self.attachments)
        self.case_admin = CaseAdmin(self.db, self.runtime, self.versions)
        self.notification_center = NotificationCenter(self.db, self.runtime)
        self.dashboards = Dashboards(self.db)
        self.management.install_clock()
        self.management.install_calendar()
        if check_schema:
            self.check_schema()

    def close(self) -> None:
        self.management.release_calendar()
        self.db.dispose()

    # -- schema -----------------------------------------------------------------------------------------

    def migrate(self) -> str | None:
        migrate.upgrade(self.db.engine)
        return migrate.current_revision(self.db.engine)

    def check_schema(self) -> None:
        current = migrate.current_revision(self.db.engine)
        if current != migrate.head_revision():
            state = "is empty" if current is None else f"is at revision {current}"
            raise NotMigrated(f"the database {state}; run `whistle migrate` first")

    # -- the README's commands and queries ----------------------------------------------------------------

    def deploy(self, paths: list[str | Path], actor: str = "system") -> list[DeployedDefinition]:
        return self.management.deploy(paths, actor)

    def plan_upload(self, files: Upload, actor: str) -> dict:
        """The dry run of uploaded files: every problem, and new/unchanged per definition (designers, admins)."""
        return self.management.plan_upload(files, actor)

    def deploy_upload(self, files: Upload, actor: str, expected_hash: str | None = None) -> list[DeployedDefinition]:
        """Deploy uploaded files atomically, only those checked when ``expected_hash`` is given (designers, admins)."""
        return self.management.deploy_upload(files, actor, expected_hash)

    def start(self, process_id: str, version: int | None = None, data: dict | None = None,
              business_key: str | None = None, user: str | None = None, lang: str = "zh") -> int:
        return self.runtime.start(process_id, version, data, business_key, user, lang)

    def claim(self, task_id: str, user: str) -> dict:
        return self.runtime.claim(task_id, user)

    def unclaim(self, task_id: str, user: str) -> dict:
        return self.runtime.unclaim(task_id, user)

    def complete(self, task_id: str, user: str, data: dict | None = None, lang: str = "zh") -> dict:
        return self.runtime.complete(task_id, user, data, lang)

    # -- task actions (engine.runtime.task_actions): 转办 委派 退回 撤回 催办 抄送 ------------------------------------

    def transfer(self, task_id: str, user: str, to: str, reason: object) -> dict:
        return self.task_actions.transfer(task_id, user, to, reason)

    def delegate(self, task_id: str, user: str, to: str, note: object = None) -> dict:
        return self.task_actions.delegate(task_id, user, to, note)

    def return_task(self, task_id: str, user: str, element_id: str, reason: object) -> dict:
        return self.task_actions.return_to(task_id, user, element_id, reason)

    def withdraw(self, task_id: str, user: str) -> dict:
        return self.task_actions.withdraw(task_id, user)

    def urge(self, task_id: str, user: str, note: object = None) -> dict:
        return self.task_actions.urge(task_id, user, note)

    def cc(self, instance_id: int, user: str, to: str, note: object = None) -> dict:
        return self.task_actions.cc(instance_id, user, to, note)

    def copies(self, user: str, limit: int = 100) -> list[dict]:
        return self.task_actions.copies(user, limit)

    def message(self, name: str, key: str | None = None, data: dict | None = None, actor: str = "system") -> dict:
        """Deliver a message from outside; NotFound (and nothing changed) when nobody awaits it."""
        return self.runtime.deliver_message(name, key, data, actor)

    def repair(self, instance_id: int, actor: str = "system") -> dict:
        """Move a case with no way forward again where the engine can (``Runtime.repair``)."""
        return self.runtime.repair(instance_id, actor)

    # -- administrators keep cases flowing (engine.management.repairs; admins only, one command per case) --------

    def upgrade_check(self, instance_id: int, to_version: int, mapping: dict | list | None = None,
                      actor: str = "", from_version: int | None = None) -> dict:
        """The pure dry run of moving one case to ``to_version``: ``can_move`` and ``reason``."""
        return self.repairs.upgrade_check(instance_id, to_version, mapping, actor, from_version)

    def upgrade_as_batch(self, process_id: str, to_version: int, *, from_version: int | None = None,
                         instance_ids: list[int] | None = None, mapping: Any = None, actor: str = "") -> dict:
        """The migration of many cases as a persisted batch (``upgrade`` over the cases the dry run finds movable):
        the workers share it, a killed one loses nothing; ``batch`` shows its progress and report."""
        plan = self.repairs.upgrade_cases(process_id, to_version, from_version=from_version,
                                          instance_ids=instance_ids, mapping=mapping, actor=actor, dry_run=True)
        movable = [r["instance_id"] for r in plan["results"] if r["can_move"]]
        if not movable:
            raise InvalidInput(f"no case of {process_id} can move to version {plan['to_version']}: run the dry run")
        return self.batches.create(actor, "upgrade", instance_ids=movable, expected_count=len(movable),
                                   params={"to_version": plan["to_version"], "from_version": from_version,
                                           "mapping": plan["mapping"] or None})

    def upgrade_instance(self, instance_id: int, to_version: int, mapping: dict | list | None = None,
                         actor: str = "", from_version: int | None = None) -> dict:
        return self.repairs.upgrade_instance(instance_id, to_version, mapping, actor, from_version)

    def upgrade_cases(self, process_id: str, to_version: int, *, from_version: int | None = None,
                      instance_ids: list[int] | None = None, mapping: dict | list | None = None, actor: str = "",
                      dry_run: bool = False) -> dict:
        return self.repairs.upgrade_cases(process_id, to_version, from_version=from_version,
                                          instance_ids=instance_ids, mapping=mapping, actor=actor, dry_run=dry_run)

    def incident_list(self, actor: str, open_only: bool = False, limit: int = 500, *, state: str | None = None,
                      process_id: str | None = None, element_id: str | None = None) -> dict:
        return self.repairs.incident_list(actor, open_only, limit, state=state, process_id=process_id,
                                          element_id=element_id)

    def incident(self, incident_id: int, actor: str) -> dict:
        return self.repairs.incident(incident_id, actor)

    def retry_incident(self, incident_id: int, actor: str) -> dict:
        """Run again what an incident recorded: a timer job, a replayed user command, a repair."""
        return self.repairs.retry_incident(incident_id, actor)

    def resolve_incident(self, incident_id: int, note: str, actor: str) -> dict:
        return self.repairs.resolve_incident(incident_id, note, actor)

    def modify_instance(self, instance_id: int, *, cancel: list[str] | None = None, start: list[str] | None = None,
                        back_to: str | None = None, data: dict | None = None, actor: str = "",
                        reason: str | None = None) -> dict:
        """Move a case's token by hand: cancel/start elements, or back to an earlier task (admins)."""
        return self.repairs.modify(instance_id, cancel=cancel, start=start, back_to=back_to, data=data, actor=actor,
                                   reason=reason)

    def tasks(self, user: str | None = None, limit: int = 200, offset: int = 0,
              process_id: str | None = None) -> list[dict]:
        """Open tasks in inbox order; for a user, those claimed by them or offered to them and unclaimed."""
        return self.task_views.open_tasks(user, limit, offset, process_id)

    def task(self, task_id: str) -> dict:
        return self.task_views.task(task_id)

    def show(self, instance_id: int) -> dict:
        return self.cases.show(instance_id)

    def history(self, instance_id: int) -> list[dict]:
        return self.cases.history(instance_id)

    def definitions(self) -> list[dict]:
        return self.management.definitions()

    def versions_of(self, process_id: str, actor: str | None) -> dict:
        return self.version_history.versions(process_id, actor)

    def element_counts(self, process_id: str, version: int, actor: str | None) -> dict:
        return self.version_history.element_counts(process_id, version, actor)

    def version_files(self, process_id: str, version: int, actor: str | None) -> list[tuple[str, str]]:
        return self.version_history.files(process_id, version, actor)

    def version_file(self, process_id: str, version: int, file_name: str, actor: str | None) -> str:
        return self.version_history.file(process_id, version, file_name, actor)

    def version_archive(self, process_id: str, version: int, actor: str | None) -> tuple[str, bytes]:
        return self.version_history.archive(process_id, version, actor)

    def diff(self, process_id: str, old: int, new: int, actor: str | None) -> dict:
        return self.version_history.diff(process_id, old, new, actor)

    def incidents(self, instance_id: int | None = None) -> list[dict]:
        return self.management.incidents(instance_id)

    def verify_audit(self) -> VerifyReport:
        return self.management.verify_audit()

    # -- administrators keep cases flowing (engine.management.case_admin; admins only) ------------------------

    def search_instances(self, user: str, query: CaseQuery, *, limit: int = 50, page: int = 1) -> dict:
        """A page of every case under a checked query, with its total (``CaseQuery.from_args``)."""
        return self.case_admin.search(user, query, limit=limit, page=page)

    def export_instances(self, user: str, query: CaseQuery) -> str:
        """Every case under the query as CSV (UTF-8 with a byte order mark, for Excel)."""
        return self.case_admin.export_csv(user, query)

    def suspend_instance(self, instance_id: int, reason: object, actor: str) -> dict:
        return self.case_admin.suspend(instance_id, reason, actor)

    def resume_instance(self, instance_id: int, actor: str, note: object = None) -> dict:
        return self.case_admin.resume(instance_id, actor, note)

    def terminate_instance(self, instance_id: int, reason: object, actor: str) -> dict:
        return self.case_admin.terminate(instance_id, reason, actor)

    # -- the whistle's dashboards (engine.casework.dashboard) and tables as files (engine.queries.exports) ------

    def dashboard(self, user: str | None, query: DashboardQuery) -> dict:
        return self.dashboards.figures(user, query)

    def dashboard_viewer(self, user: str) -> Viewer | None:
        return self.dashboards.viewer(user)

    def dashboard_export(self, user: str | None, query: DashboardQuery, fmt: str, tables: tuple[str, ...] | None = None
                         ) -> bytes:
        """The dashboards' tables (all, or ``tables``) as CSV (the first) or one XLSX workbook."""
        exports.check_format(fmt)
        figures = self.dashboards.figures(user, query)
        labels = {value: label for kind in self.scope_options().values() for value, (label, _en) in kind.items()}
        return exports.export(fmt, dashboard_sheets(figures, tables, labels))

    def is_admin(self, user: str) -> bool:
        """May ``user`` find, suspend, resume and terminate cases (the group ``admins``)?"""
        return self.case_admin.is_admin(user)

    # -- administration: accounts, tokens, timer jobs, the clock, calendars (the CLI's other commands) ------

    def add_user(self, username: str, groups: list[str], password: str | None = None,
                 display_name: str | None = None, actor: str = "system") -> dict:
        return self.identity.add_user(username, groups, password, display_name, actor)

    def import_users(self, path: str | Path, actor: str = "system") -> dict:
        return self.identity.import_users(path, actor)

    def create_token(self, name: str, user: str, scopes: list[str] | None = None, actor: str = "system") -> dict:
        return self.identity.create_token(name, user, scopes, actor)

    def revoke_token(self, name: str, actor: str = "system") -> dict:
        return self.identity.revoke_token(name, actor)

    def list_tokens(self) -> list[dict]:
        return self.identity.list_tokens()

    # -- the administrators' directory: accounts, groups, bulk loads, tokens (every call names the admin) ----

    def accounts(self, actor: str, text: str | None = None, group: str | None = None, active: bool | None = None,
                 page: int = 1, per_page: int = 50) -> dict:
        return self.directory.accounts(actor, text, group, active, page, per_page)

    def account_groups(self, actor: str) -> list[dict]:
        return self.directory.groups(actor)

    def create_account(self, actor: str, username: str, display_name: str | None = None,
                       groups: list[str] | None = None, password: str | None = None) -> dict:
        return self.directory.create_account(actor, username, display_name, groups, password)

    def set_account_groups(self, actor: str, username: str, groups: list[str]) -> dict:
        return self.directory.set_groups(actor, username, groups)

    def set_account_active(self, actor: str, username: str, active: bool) -> dict:
        return self.directory.set_active(actor, username, active)

    def reset_password(self, actor: str, username: str) -> dict:
        return self.directory.reset_password(actor, username)

    def preview_people(self, actor: str, name: str, content: bytes | str) -> dict:
        return self.directory.preview_people(actor, name, content)

    def load_people(self, actor: str, name: str, content: bytes | str, expected_hash: str | None = None) -> dict:
        return self.directory.load_people(actor, name, content, expected_hash)

    def admin_tokens(self, actor: str) -> list[dict]:
        return self.directory.tokens(actor)

    def admin_create_token(self, actor: str, name: str, user: str, scopes: list[str]) -> dict:
        return self.directory.create_token(actor, name, user, scopes)

    def admin_revoke_token(self, actor: str, name: str) -> dict:
        result = self.directory.revoke_token(actor, name)
        self.identity.forget_tokens()
        return result

    def authenticate_token(self, token: str) -> dict | None:
        return self.identity.authenticate_token(token)

    def sign_in(self, username: str, password: str, address: str | None, channel: str, limits: SignInLimits,
                cache: PasswordCache | None = None) -> SignInOutcome:
        return self.identity.sign_in(username, password, address, channel, limits, cache)

    def session_user(self, username: str, version: object) -> dict | None:
        return self.identity.session_user(username, version)

    def end_sessions(self, username: str) -> None:
        self.identity.end_sessions(username)

    def fire_due_jobs(self, limit: int | None = None) -> int:
        return self.management.fire_due_jobs(limit)

    # -- notifications (engine.notifications; the person's own, engine.casework.notifications) --------------

    def notifications(self, user: str, unread: bool = False, channel: str | None = None, limit: int = 50,
                      lang: str = "zh") -> list[dict]:
        return self.notification_center.listing(user, unread, channel, limit, lang)

    def unread_notifications(self, user: str) -> int:
        return self.notification_center.unread_count(user)

    def notifications_since(self, user: str, after_id: int, lang: str = "zh") -> list[dict]:
        return self.notification_center.since(user, after_id, lang)

    def newest_notification_id(self, user: str) -> int:
        return self.notification_center.newest_id(user)

    def mark_notification_read(self, user: str, notification_id: int | None = None) -> dict:
        return self.notification_center.mark_read(user, notification_id)

    def notification_preferences(self, user: str) -> dict:
        return self.notification_center.preferences(user)

    def set_notification_preferences(self, user: str, channels: list[str], email: str | None = None,
                                     mobile: str | None = None) -> dict:
        return self.notification_center.set_preferences(user, channels, email, mobile)

    def deliver_notifications(self) -> dict:
        return self.notification_center.deliver()

    def scan_notifications(self) -> dict:
        return self.notification_center.scan()

    def jobs(self, include_scheduled: bool = False, limit: int = 500) -> list[dict]:
        return self.management.jobs(include_scheduled, limit)

    def retry_job(self, job_id: int, actor: str = "system") -> dict:
        return self.management.retry_job(job_id, actor)

    def clock_show(self) -> dict:
        return self.management.clock_show()

    def clock_advance(self, duration: str, actor: str = "system") -> dict:
        return self.management.clock_advance(duration, actor)

    def clock_set(self, when: str, actor: str = "system") -> dict:
        return self.management.clock_set(when, actor)

    def calendar_import(self, path: str | Path, actor: str = "system") -> list[dict]:
        return self.management.calendar_import(path, actor)

    def calendar_upload(self, name: str, content: bytes, actor: str) -> list[dict]:
        return self.management.calendar_upload(name, content, actor)

    def calendar_show(self, year: int | None = None) -> list[dict]:
        return self.management.calendar_show(year)

    def calendar_notices(self) -> list[dict]:
        return self.management.calendar_notices()

    # -- bulk operations over many cases (engine.management.batches; administrators only) ---------------------

    def batch_runner(self, owner: str | None = None, lock_seconds: float | None = None) -> BatchRunner:
        """A worker of batch items for this engine (``whistle batch run``; the job executor holds one)."""
        return BatchRunner(self.db, self, owner=owner or default_owner(),
                           lock_seconds=lock_seconds or batch_operations.DEFAULT_LOCK_SECONDS)

    def batch_operations(self, user: str | None) -> list[dict]:
        return self.batches.operations(user)

    def preview_batch(self, user: str, operation: str, *, instance_ids: object = None, filter: object = None,
                      params: dict | None = None, reason: str | None = None) -> dict:
        return self.batches.preview(user, operation, instance_ids=instance_ids, filter=filter, params=params,
                                    reason=reason)

    def create_batch(self, user: str, operation: str, *, instance_ids: object = None, filter: object = None,
                     params: dict | None = None, reason: str | None = None,
                     expected_count: int | None = None) -> dict:
        return self.batches.create(user, operation, instance_ids=instance_ids, filter=filter, params=params,
                                   reason=reason, expected_count=expected_count)

    def cancel_batch(self, user: str, batch_id: int) -> dict:
        return self.batches.cancel(user, batch_id)

    def batch_list(self, user: str | None, limit: int = 50, offset: int = 0) -> list[dict]:
        return self.batches.listing(user, limit, offset)

    def batch(self, user: str | None, batch_id: int) -> dict:
        return self.batches.show(user, batch_id)

    def batch_items(self, user: str | None, batch_id: int, status: str | None = None, limit: int | None = 200,
                    offset: int = 0) -> list[dict]:
        return self.batches.items(user, batch_id, status, limit, offset)

    def batch_report_csv(self, user: str | None, batch_id: int, lang: str = "zh") -> str:
        return self.batches.report_csv(user, batch_id, lang)

    # -- the staff screens (engine.casework), as the web pages call them ------------------------------------

    @property
    def attachments_dir(self) -> Path | None:
        return self.attachments.directory

    @attachments_dir.setter
    def attachments_dir(self, value: Path | None) -> None:
        self.attachments.directory = value

    @property
    def max_attachment_bytes(self) -> int | None:
        return self.attachments.max_bytes

    @max_attachment_bytes.setter
    def max_attachment_bytes(self, value: int | None) -> None:
        self.attachments.max_bytes = value

    def user_info(self, username: str) -> dict | None:
        return self.people.user_info(username)

    def group_labels(self) -> dict[str, str]:
        return self.people.group_labels()

    def user_labels(self, usernames: Iterable[str | None]) -> dict[str, str]:
        return self.people.user_labels(usernames)

    def can_see_instance(self, user: str, instance_id: int) -> bool:
        return self.people.can_see_instance(user, instance_id)

    def require_case(self, user: str, instance_id: int) -> None:
        self.people.require_case(user, instance_id)

    def cases_for(self, user: str, *, text: str | None = None, status: str | None = None,
                  process_id: str | None = None, limit: int = 50, offset: int = 0) -> list[dict]:
        return self.cases.visible_to(user, text=text, status=status, process_id=process_id, limit=limit,
                                     offset=offset)

    def case_list(self, user: str, query: CaseQuery, *, limit: int = 50, offset: int = 0) -> dict:
        """A page of the cases a user may see, for a checked query (``CaseQuery.from_args`` reads URL parameters)."""
        return self.cases.case_list(user, query, limit=limit, offset=offset)

    def case(self, user: str, instance_id: int) -> dict:
        return self.cases.page(user, instance_id)

    def instance_for(self, user: str, instance_id: int) -> dict:
        return self.cases.shown_to(user, instance_id)

    def inbox(self, user: str, view: str | None = None, *, process_id: str | None = None, tier: str | None = None,
              street: str | None = None, department: str | None = None, deadline: str | None = None,
              created_from: date | None = None, created_to: date | None = None, sort: str | None = None,
              text: str | None = None, limit: int = 50, offset: int = 0) -> dict:
        return self.worklist.inbox(user, view, process_id=process_id, tier=tier, street=street,
                                   department=department, deadline=deadline, created_from=created_from,
                                   created_to=created_to, sort=sort, text=text, limit=limit, offset=offset)

    def inbox_page(self, user: str, query: InboxQuery, *, limit: int = 50, offset: int = 0) -> dict:
        """One tab of the inbox for a checked query (``InboxQuery.from_args`` reads one from URL parameters)."""
        return self.worklist.inbox_page(user, query, limit=limit, offset=offset)

    def scope_options(self) -> dict[str, dict[str, tuple[str, str | None]]]:
        """The streets and departments the lists' filters offer, with their labels."""
        return listing.scope_options(self.versions.scope_options(), self.people.group_labels())

    def inbox_digest(self, user: str) -> dict:
        return self.worklist.digest(user)

    def workable_tasks(self, user: str, instance_id: int) -> set[str]:
        return self.worklist.workable_tasks(user, instance_id)

    def task_view(self, user: str, task_id: str) -> dict:
        return self.task_views.view(user, task_id)

    def task_data(self, task_id: str) -> dict:
        return self.task_views.data(task_id)

    def startable(self, user: str) -> list[dict]:
        return self.submissions.startable(user)

    def start_info(self, user: str, process_id: str) -> dict:
        return self.submissions.start_info(user, process_id)

    def start_case(self, process_id: str, user: str, data: dict, business_key: str | None = None,
                   attachment_ids: Iterable[str] = (), lang: str = "zh") -> int:
        return self.submissions.start_case(process_id, user, data, business_key, attachment_ids, lang)

    def complete_task(self, task_id: str, user: str, data: dict, attachment_ids: Iterable[str] = (),
                      lang: str = "zh") -> dict:
        return self.submissions.complete_task(task_id, user, data, attachment_ids, lang)

    def save_draft(self, task_key: str, user: str, data: dict) -> None:
        self.drafts.save(task_key, user, data)

    def draft(self, task_key: str, user: str) -> dict | None:
        return self.drafts.get(task_key, user)

    def add_attachment(self, user: str, file_name: str, content: bytes, *, instance_id: int | None = None,
                       task_id: str | None = None, field: str | None = None) -> dict:
        return self.attachments.add(user, file_name, content, instance_id=instance_id, task_id=task_id, field=field)

    def attachment(self, user: str, attachment_id: str) -> tuple[dict, Path]:
        return self.attachments.read(user, attachment_id)

    def attachments_of(self, instance_id: int) -> list[dict]:
        return self.attachments.of_case(instance_id)

    def attachments_by_id(self, ids: Iterable[str]) -> dict[str, dict]:
        return self.attachments.by_id(ids)

    def process_names(self) -> dict[str, str]:
        return self.versions.process_names()

    def version_forms(self, version_id: int) -> dict[str, dict]:
        return self.versions.forms(version_id)

    def form(self, form_key: str | None, *, version_id: int | None = None, instance_id: int | None = None,
             task_id: str | None = None) -> dict | None:
        return self.versions.form(form_key, version_id=version_id, instance_id=instance_id, task_id=task_id)

    def case_labels(self, version_id: int) -> dict[str, dict]:
        return self.versions.case_labels(version_id)

    def case_fields(self, version_id: int) -> list[str]:
        return self.versions.case_fields(version_id)

    def diagram_xml(self, version_id: int) -> str | None:
        return self.versions.diagram_xml(version_id)

    def element_names(self, version_id: int) -> dict[str, str]:
        return self.versions.element_names(version_id)

    def version_elements(self, version_id: int) -> list[dict]:
        return self.versions.elements(version_id)

    def element_states(self, instance_id: int) -> dict[str, dict]:
        return self.diagrams.element_states(instance_id)

    # -- case dossiers (engine.casework.dossiers, engine.audit.dossier) -----------------------------------------

    def dossier(self, user: str | None, instance_id: int) -> dict:
        return self.dossiers.contents(user, instance_id)

    def verify_dossier(self, manifest: object) -> DossierReport:
        return verify_manifest(self.db, manifest)

    @staticmethod
    def verify_dossier_offline(manifest: object) -> DossierReport:
        return verify_manifest(None, manifest)

    # -- the evaluation, explained, and what-if (engine.casework.evaluations) ------------------------------------

    def evaluation_years(self, user: str) -> list[int]:
        return self.evaluations.years(user)

    def evaluation_explained(self, user: str | None, year: int) -> dict:
        return self.evaluations.explained(user, year)

    def evaluation_whatif(self, user: str | None, year: int, *, weights: object = None, dmn: object = None) -> dict:
        return self.evaluations.whatif(user, year, weights=weights, dmn=dmn)

    # -- the designers' modeler in the browser (engine.management.modeler; designers and admins only) ---------

    def modeler_open(self, user: str, *, process_id: str | None = None, version_id: int | None = None) -> dict:
        return self.modeler.open(user, process_id=process_id, version_id=version_id)

    def modeler_blank(self, user: str, process_id: str, name: str = "") -> dict:
        return self.modeler.blank(user, process_id, name)

    def save_modeler_draft(self, user: str, process_id: str, base_version_id: int | None, xml: object) -> dict:
        return self.modeler.save_draft(user, process_id, base_version_id, xml)

    def modeler_draft(self, user: str, process_id: str) -> dict | None:
        return self.modeler.draft(user, process_id)

    def discard_modeler_draft(self, user: str, process_id: str) -> bool:
        return self.modeler.discard_draft(user, process_id)

    def modeler_drafts(self, user: str) -> list[dict]:
        return self.modeler.drafts(user)

    def modeler_validate(self, user: str, process_id: str, xml: object) -> dict:
        return self.modeler.validate(user, process_id, xml)

    def modeler_deploy(self, user: str, process_id: str, xml: object, base_version_id: int | None, *,
                       confirm_stale: bool = False) -> dict:
        return self.modeler.deploy(user, process_id, xml, base_version_id, confirm_stale=confirm_stale)

    # -- the designers' form and decision editors (engine.management.editors; designers and admins only) -------

    def editor_open(self, user: str, version_id: int, file: str) -> dict:
        return self.editors.open(user, version_id, file)

    def save_editor_draft(self, user: str, process_id: str, file: str, base_version_id: int, content: object) -> dict:
        return self.editors.save_draft(user, process_id, file, base_version_id, content)

    def discard_editor_draft(self, user: str, process_id: str, file: str) -> bool:
        return self.editors.discard_draft(user, process_id, file)

    def editor_validate(self, user: str, process_id: str, file: str, base_version_id: int, content: object) -> dict:
        return self.editors.validate(user, process_id, file, base_version_id, content)

    def editor_deploy(self, user: str, process_id: str, file: str, base_version_id: int, content: object, *,
                      confirm_stale: bool = False) -> dict:
        return self.editors.deploy(user, process_id, file, base_version_id, content, confirm_stale=confirm_stale)

# The operations a batch may run over many cases (engine.jobs.batches), one line each over the facade's per-case
# command: (the facade, the case's id, the batch's parameters with its "reason", the administrator) -> its result.
batch_operations.register("repair", lambda whistle, instance_id, params, actor: whistle.repair(instance_id, actor),
                          label="修复")
batch_operations.register("suspend", lambda whistle, instance_id, params, actor: whistle.suspend_instance(
    instance_id, params["reason"], actor), label="挂起", reason_required=True)
batch_operations.register("resume", lambda whistle, instance_id, params, actor: whistle.resume_instance(
    instance_id, actor, params.get("reason")), label="恢复")
batch_operations.register("terminate", lambda whistle, instance_id, params, actor: whistle.terminate_instance(
    instance_id, params["reason"], actor), label="终止", reason_required=True)


def _retry_case(whistle: Whistle, instance_id: int, actor: str) -> object:
    """A case's oldest open incident run again (one command); a case without one is skipped."""
    found = whistle.incidents(instance_id)
    open_ones = [i for i in found if not i.get("resolved_at")]
    if not open_ones:
        return batch_operations.Outcome("skipped", f"case {instance_id} has no open incident")
    return whistle.retry_incident(open_ones[0]["incident_id"], actor)


def _upgrade_case(whistle: Whistle, instance_id: int, params: dict, actor: str) -> object:
    """Move a case to the batch's version; one that cannot move is skipped with why, one that failed fails."""
    moved = whistle.upgrade_instance(instance_id, params["to_version"], params.get("mapping"), actor,
                                     params.get("from_version"))
    if moved.get("failed"):
        raise RuntimeError(moved.get("reason") or "the migration failed")
    if not moved.get("moved"):
        return batch_operations.Outcome("skipped", moved.get("reason"))
    return moved


def _upgrade_params(params: dict) -> dict:
    for key in ("to_version", "from_version"):
        value = params.get(key)
        if (value is not None or key == "to_version") and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidInput(f"params.{key} must be a version number from 1")
    mapping = params.get("mapping")
    if mapping is not None and not (isinstance(mapping, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())):
        raise InvalidInput("params.mapping must be an object of old element id → new element id")
    unknown = set(params) - {"to_version", "from_version", "mapping"}
    if unknown:
        raise InvalidInput(f"params has unknown keys: {', '.join(sorted(unknown))}")
    return params


batch_operations.register("retry", lambda whistle, instance_id, params, actor: _retry_case(whistle, instance_id,
                                                                                            actor), label="重试")
batch_operations.register("upgrade", _upgrade_case, label="迁移版本", validate=_upgrade_params)
