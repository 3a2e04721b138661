"""The schema. Changed only through Alembic migrations (``migrations/``).

One module over 400 lines by choice: the tables refer to each other, and one file reads as the schema does
in a migration, table after table."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from engine.store.columns import UTCDateTime


class Base(DeclarativeBase):
    pass


class SourceBlob(Base):
    """A deployed file's content, stored once however many versions use it."""

    __tablename__ = "source_blob"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)


class DefinitionVersion(Base):
    """One deployed version of a process (BPMN) or a decision (DMN)."""

    __tablename__ = "definition_version"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_definition_key_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "process" | "decision"
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64))
    source_file: Mapped[str] = mapped_column(String(512))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deployed_by: Mapped[str] = mapped_column(String(128))
    warnings: Mapped[list] = mapped_column(JSON, default=list)


class VersionSource(Base):
    """The files a version was built from: its own file and those of what it calls or decides with."""

    __tablename__ = "version_source"
    version_id: Mapped[int] = mapped_column(ForeignKey("definition_version.id"), primary_key=True)
    file_name: Mapped[str] = mapped_column(String(512), primary_key=True)
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("source_blob.sha256"))


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    __table_args__ = (
        Index("ix_instance_process_status", "process_id", "status"),
        # Finding cases (engine.management.case_admin; migration 0016): each filter with the newest first.
        Index("ix_instance_started", "started_at", "id"),
        Index("ix_instance_status_started", "status", "started_at"),
        Index("ix_instance_process_started", "process_id", "started_at"),
        Index("ix_instance_version_started", "version_id", "started_at"),
        Index("ix_instance_street", "street"),
        Index("ix_instance_department", "department"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("definition_version.id"))
    process_id: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16))  # running | suspended | completed | terminated | cancelled
    state: Mapped[str] = mapped_column(Text)  # SpiffWorkflow state as JSON, without the spec
    data: Mapped[dict] = mapped_column(JSON, default=dict)  # the case data as of the last step
    started_by: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    # Hash of the newest audit row of this instance's chain: a removed tail is detectable too.
    audit_head: Mapped[str | None] = mapped_column(String(64))
    # Whom the case concerns, from its data as of the last step (engine.runtime.inbox.task_scope over the case
    # data), so that finding cases by street or department reads an index (migration 0016).
    street: Mapped[str | None] = mapped_column(String(128))
    department: Mapped[str | None] = mapped_column(String(128))
    # An administrator's hold (status suspended) and its end (terminated: ``completed_at`` is when), each with a
    # written reason (engine.runtime.lifecycle; docs/adr/0011-suspended-cases.md).
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_by: Mapped[str | None] = mapped_column(String(128))
    suspended_reason: Mapped[str | None] = mapped_column(Text)
    terminated_by: Mapped[str | None] = mapped_column(String(128))
    terminated_reason: Mapped[str | None] = mapped_column(Text)

    __mapper_args__ = {"version_id_col": revision}


class HumanTask(Base):
    """The inbox projection: one row per user/manual task that is or was READY."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_status_assignee_due", "status", "assignee", "due_at"),  # the inbox (migration 0004)
        Index("ix_human_task_instance", "instance_id", "status"),
        Index("ix_human_task_status_due", "status", "due_at"),
        # The inbox's and case list's street and department filters (migration 0013).
        Index("ix_human_task_street", "street", "status", "due_at"),
        Index("ix_human_task_department", "department", "status", "due_at"),
        # Finding the cases that wait at an element (migration 0016).
        Index("ix_human_task_element", "element_id", "status"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # SpiffWorkflow task id
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    process_id: Mapped[str] = mapped_column(String(255))
    version_id: Mapped[int] = mapped_column(ForeignKey("definition_version.id"))
    element_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    lane: Mapped[str | None] = mapped_column(String(255))
    form_key: Mapped[str | None] = mapped_column(String(255))
    documentation: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=50)
    status: Mapped[str] = mapped_column(String(16))  # open | completed | cancelled
    assignee: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(128))
    # Whom the task concerns (engine.runtime.inbox.task_scope): a street id (``wudadao``) and a department group
    # (``dept-housing``), from its candidate groups or its data, so the inbox filters by them on an index.
    street: Mapped[str | None] = mapped_column(String(128))
    department: Mapped[str | None] = mapped_column(String(128))
    # What the task is about: the values its form's ``subject`` names, from the task's own data when it became
    # READY (engine.runtime.inbox.task_subject), so parallel tasks of one case read apart (migration 0014).
    subject: Mapped[dict | None] = mapped_column(JSON)
    # Its case is suspended (engine.runtime.lifecycle): the inbox shows 已挂起 and nobody may work on it. Written
    # with the case's status, in the same command, so the inbox reads it from its own row (migration 0016).
    suspended: Mapped[bool] = mapped_column(default=False, server_default=false())
    # 委派 (engine.runtime.task_actions, migration 0021): who delegated the task to its assignee, and ``pending``
    # until the delegate hands it back (``resolved``); the owner then completes it for real.
    delegated_by: Mapped[str | None] = mapped_column(String(128))
    delegation_state: Mapped[str | None] = mapped_column(String(16))


class CaseCopy(Base):
    """A case 抄送 (copied) to a user or a group for information: a read-only item in their inbox that lets them
    read the case (engine.runtime.task_actions, migration 0021)."""

    __tablename__ = "case_copy"
    __table_args__ = (Index("ix_case_copy_recipient", "kind", "name", "copied_at"),
                      Index("ix_case_copy_instance", "instance_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    kind: Mapped[str] = mapped_column(String(8))  # user | group
    name: Mapped[str] = mapped_column(String(128))
    copied_by: Mapped[str] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    copied_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskCandidate(Base):
    """Who may work on a human task: a group or a user, one row each, so the inbox is an indexed join.

    ``offered`` is true while the task is open and nobody has claimed it; with it the row carries a copy of
    the task's inbox order (due, priority, created) and process, so that one group's claimable tasks are
    one ordered range of a partial index however long the group's history grows (migration 0007).
    ``Runtime`` keeps these in step with ``human_task``.
    """

    __tablename__ = "task_candidate"
    __table_args__ = (Index("ix_task_candidate_kind_name", "kind", "name"),)
    task_id: Mapped[str] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # group | user
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    offered: Mapped[bool] = mapped_column(default=False)
    process_id: Mapped[str | None] = mapped_column(String(255))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    priority: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Incident(Base):
    __tablename__ = "incident"
    # The cases with an incident not resolved yet: finding cases by status ``with_incident`` (migration 0016).
    __table_args__ = (Index("ix_incident_open", "resolved_at", "instance_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    process_id: Mapped[str | None] = mapped_column(String(255))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("definition_version.id"))
    task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(255))
    command: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(128))
    error_type: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    traceback: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # migration 0017: what a failed user command submitted (to read and replay), who resolved it, their note
    command_data: Mapped[dict | None] = mapped_column(JSON)
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolution: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    """Append-only, hash-chained record of every state change (一次一留痕)."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_type: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(128))
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON, hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # The audit key that signed the row (``engine.keys.key_id``); NULL for plain SHA-256 rows written before
    # migration 0009, which verify by their links and the signed head of their chain.
    key_id: Mapped[str | None] = mapped_column(String(16))


class AuditChainHead(Base):
    """The signed head of a chain that has no row of its own to keep it: the system chain (deployments,
    accounts, tokens, timer schedules). ``head`` is ``engine.audit``'s signed "rows:key id:tag" text."""

    __tablename__ = "audit_chain_head"
    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    rows: Mapped[int] = mapped_column(Integer)
    head: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserAccount(Base):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Signed into every session cookie and compared on each request: bumping it (sign-out, a new password)
    # ends every session of the account at once, though the cookies themselves live on in browsers.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # How the person is reached (engine.notifications, migration 0020): the e-mail address, the mobile number (SMS,
    # and the @ of a DingTalk or WeCom robot), and the channels chosen (NULL: inbox, and e-mail with an address).
    email: Mapped[str | None] = mapped_column(String(255))
    mobile: Mapped[str | None] = mapped_column(String(32))
    notify_channels: Mapped[list | None] = mapped_column(JSON)


class SignInAttempt(Base):
    """Failed sign-ins counted per account name (``scope`` user) and per client address (``scope`` address),
    shared by every server process; ``locked_until`` set when a limit is reached (``engine.accounts``)."""

    __tablename__ = "sign_in_attempt"
    __table_args__ = (Index("ix_sign_in_attempt_last_failure", "last_failure_at"),)
    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserGroup(Base):
    __tablename__ = "user_group"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(255))


class Membership(Base):
    __tablename__ = "membership"
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    group_name: Mapped[str] = mapped_column(ForeignKey("user_group.name"), primary_key=True)


class MessageSubscription(Base):
    """A waiting message catch event or receive task, with the correlation key it waits for."""

    __tablename__ = "message_subscription"
    __table_args__ = (Index("ix_message_subscription_name_key", "message_name", "correlation_key"),
                      Index("ix_message_subscription_element", "element_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(255))
    message_name: Mapped[str] = mapped_column(String(255))
    correlation_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MessageStart(Base):
    """A message that starts a process: only the latest deployed version of each process subscribes."""

    __tablename__ = "message_start"
    message_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    process_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("definition_version.id"))
    element_id: Mapped[str] = mapped_column(String(255))


class TimerJob(Base):
    """A timer waiting to fire: one row per waiting timer of an instance, or per timer start event of the
    deployed version that owns the schedule (``instance_id`` is then NULL).

    Rows are written with the instance state (``Runtime.save``) or at deploy, and taken by job executors:
    a worker sets ``lock_owner``/``lock_expires_at`` to claim a due job; a crashed worker's lock expires.
    """

    __tablename__ = "timer_job"
    __table_args__ = (Index("ix_timer_job_due_at", "due_at"),
                      Index("ix_timer_job_instance", "instance_id"),
                      Index("ix_timer_job_process_kind", "process_id", "kind"),
                      # What workers acquire: the due jobs of cases not suspended (migration 0016).
                      Index("ix_timer_job_suspended_due", "suspended", "due_at"),
                      Index("ix_timer_job_element", "element_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("definition_version.id"))
    process_id: Mapped[str] = mapped_column(String(255))
    task_id: Mapped[str | None] = mapped_column(String(36))  # the waiting SpiffWorkflow task
    element_id: Mapped[str] = mapped_column(String(255))  # the timer event's BPMN id
    kind: Mapped[str] = mapped_column(String(32))  # boundary | boundary_non_interrupting | intermediate | ...
    timer_type: Mapped[str] = mapped_column(String(16))  # date | duration | cycle
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    schedule: Mapped[dict | None] = mapped_column(JSON)  # timer start cycles: repetitions left, period
    lock_owner: Mapped[str | None] = mapped_column(String(128))
    lock_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retries: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Its case is suspended: no worker acquires it until the case is resumed; then, if due, it fires once
    # (docs/timers.md, "Suspended cases"; migration 0016).
    suspended: Mapped[bool] = mapped_column(default=False, server_default=false())


class ClockSetting(Base):
    """The shift of the engine clock in demo and test mode (one row), shared by every process."""

    __tablename__ = "clock_setting"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset_us: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str | None] = mapped_column(String(128))


class ApiToken(Base):
    """A bearer token for a system client (a 12345 hotline, a grid platform). Only its SHA-256 is stored;
    the token acts as ``username`` within its ``scopes`` (``engine.tokens.SCOPES``)."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    username: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(128))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Attachment(Base):
    """A file attached to a case (a photo of the problem, a signed letter). The bytes live under the
    attachments folder with a random name (``storage_name``); ``id`` is the random public id used in case data.
    Until its case exists (a start form), ``instance_id`` is NULL and only the uploader may read it."""

    __tablename__ = "attachment"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(64))
    field: Mapped[str | None] = mapped_column(String(128))
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_name: Mapped[str] = mapped_column(String(64), unique=True)
    uploaded_by: Mapped[str] = mapped_column(String(128))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskDraft(Base):
    """A form saved but not yet submitted, per user: ``task_key`` is a task id, or ``start:<process id>``."""

    __tablename__ = "task_draft"
    task_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ModelerDraft(Base):
    """A diagram a designer is editing in the browser's modeler, saved as they go (migration 0015): one per
    designer and process, with the version it was opened from (``base_version_id``; NULL for a new process), so
    that deploying it can say when another version was deployed since. Deleted once it is deployed."""

    __tablename__ = "modeler_draft"
    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    base_version_id: Mapped[int | None] = mapped_column(Integer)
    xml: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)



class SourceDraft(Base):
    """A form or decision table a designer is editing in the browser's form or decision editor (migration 0019):
    one per designer, process and file (its stored name), as last saved — a form as the form-js schema the
    editor holds, a table as DMN XML — with the version it was opened from. Deleted once deployed."""

    __tablename__ = "source_draft"
    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    file_name: Mapped[str] = mapped_column(String(512), primary_key=True)
    base_version_id: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

# "Done by me" in the inbox and "cases I started" (migration 0005).
Index("ix_human_task_completed_by", HumanTask.completed_by, HumanTask.completed_at)
Index("ix_process_instance_started_by", ProcessInstance.started_by)
# A group's (or user's) claimable tasks in inbox order (migration 0007); PostgreSQL keeps NULL due dates last.
Index("ix_task_candidate_offered", TaskCandidate.kind, TaskCandidate.name, TaskCandidate.due_at,
      TaskCandidate.priority.desc(), TaskCandidate.created_at, TaskCandidate.task_id,
      postgresql_where=TaskCandidate.offered, sqlite_where=TaskCandidate.offered)


class CalendarVersion(Base):
    """One loaded version of one year's working-day calendar (``engine.time.calendars``): from a deployment
    (``processes/calendars/*.csv``) or ``whistle calendar import``. Rows are only ever added, so the newest row
    of a year is its calendar and the row count tells every process when to reread (migration 0011)."""

    __tablename__ = "calendar_version"
    __table_args__ = (UniqueConstraint("year", "version", name="uq_calendar_version_year_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, … per year
    status: Mapped[str] = mapped_column(String(16))  # official | statutory only
    source: Mapped[str | None] = mapped_column(Text)  # the notice or the law the days come from
    file_name: Mapped[str] = mapped_column(String(512))
    content_hash: Mapped[str] = mapped_column(String(64))
    loaded_via: Mapped[str] = mapped_column(String(16))  # deploy | import
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    loaded_by: Mapped[str] = mapped_column(String(128))


class CalendarDay(Base):
    """A day of a calendar version that differs from "Monday to Friday": a holiday, or a make-up working day."""

    __tablename__ = "calendar_day"
    version_id: Mapped[int] = mapped_column(ForeignKey("calendar_version.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # holiday | workday
    name: Mapped[str | None] = mapped_column(String(255))


class CaseFact(Base):
    """One row per case: what the dashboards count a case by (``engine.audit.facts``; ADR 13), written in the
    step's transaction from the case data of that step, so the dashboards never read case JSON."""

    __tablename__ = "case_fact"
    __table_args__ = (
        Index("ix_case_fact_process_started", "process_id", "started_at"),
        Index("ix_case_fact_street", "street", "started_at"),
    )
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM of started_at in the calendars' time zone
    status: Mapped[str] = mapped_column(String(16))
    street: Mapped[str | None] = mapped_column(String(128))
    tier: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[str | None] = mapped_column(String(16))  # whistle | self | reject, once reviewed
    whistled: Mapped[bool] = mapped_column(default=False, server_default=false())  # an obligation was assigned
    satisfaction: Mapped[int | None] = mapped_column(Integer)  # the resident's rating 1-5 of a closed case
    resolved: Mapped[bool | None] = mapped_column()  # the street accepted the lead department's result


class ObligationFact(Base):
    """One row per obligation of the accountability ledger (``engine.audit.facts``; ADR 13): its ``assigned``
    row with the row that closed it folded in, kept in the same transaction as the ledger rows."""

    __tablename__ = "obligation_fact"
    __table_args__ = (
        Index("ix_obligation_fact_instance", "instance_id"),
        Index("ix_obligation_fact_party", "party", "kind"),
        Index("ix_obligation_fact_open_due", "closed_event", "due_at"),
    )
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    process_id: Mapped[str] = mapped_column(String(255))
    element_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    party: Mapped[str | None] = mapped_column(String(255))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_event: Mapped[str | None] = mapped_column(String(16))  # done | cancelled | terminated; None: open
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seconds: Mapped[int | None] = mapped_column(BigInteger)  # assigned to done, for a done obligation


class LedgerEntry(Base):
    """The accountability ledger (engine.audit.ledger): append-only facts about the obligations a diagram declares on
    its tasks (``obligation`` property: sign, on_site, handle, reply, feedback, answer…). One ``assigned`` row
    when the task opens (with its party and due time), one ``done`` or ``cancelled`` row when it closes, written
    by the engine in the step's transaction from the task itself — never from case data a submission could set."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        Index("ix_ledger_entry_task", "task_id", "event"),
        Index("ix_ledger_entry_party", "process_id", "party", "kind"),
        Index("ix_ledger_entry_instance", "instance_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    process_id: Mapped[str] = mapped_column(String(255))
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    party: Mapped[str | None] = mapped_column(String(255))  # the group (or user) the obligation falls on
    event: Mapped[str] = mapped_column(String(16))  # assigned | done | cancelled | terminated
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # on the assigned row
    actor: Mapped[str | None] = mapped_column(String(128))  # who did it (done rows)
    detail: Mapped[dict | None] = mapped_column(JSON)  # what the completion submitted (done rows)


class OutboxDelivery(Base):
    """An outbound webhook delivery (engine.outbox): written in the same transaction as the step that causes it (a
    service task ``whistle.notify``), so a delivery exists exactly when its step committed; delivered by the worker
    loop with retries and backoff, HMAC-signed, until the receiver answers 2xx or the last attempt fails (migration
    0012). ``event_id`` is the delivery's stable identity, sent with every attempt so receivers can drop repeats."""

    __tablename__ = "outbox_delivery"
    __table_args__ = (
        UniqueConstraint("event_id", name="uq_outbox_delivery_event_id"),
        Index("ix_outbox_delivery_due", "status", "next_attempt_at"),
        Index("ix_outbox_delivery_instance", "instance_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255))  # e.g. hotline-17-response: one per case and event
    channel: Mapped[str] = mapped_column(String(64))  # hotline: WHISTLE_HOTLINE_WEBHOOK_URL / _SECRET
    event: Mapped[str] = mapped_column(String(64))  # response | resolution | satisfaction …
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    correlation_key: Mapped[str | None] = mapped_column(String(255))  # the receiver's key (the 12345 ticket number)
    body: Mapped[str] = mapped_column(Text)  # the exact JSON text signed and sent on every attempt
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lock_owner: Mapped[str | None] = mapped_column(String(128))
    lock_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)  # the receiver's last HTTP status
    last_error: Mapped[str | None] = mapped_column(Text)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Batch(Base):
    """A bulk operation over a set of cases, run by the job executor (``engine.jobs.batches``, migration 0018):
    the operation's name and parameters, what the administrator selected (``filter``, kept for the report) and who;
    the cases themselves were resolved once, when it was created, into its ``batch_item`` rows (``total``), so the
    set does not drift while it runs. ``status``: queued, running, done, cancelled."""

    __tablename__ = "batch"
    __table_args__ = (Index("ix_batch_created", "created_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operation: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    filter: Mapped[dict | None] = mapped_column(JSON)  # the selection as given: instance ids, or a case filter
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | cancelled
    total: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its first item taken by a worker
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its last item finished, or cancelled
    cancelled_by: Mapped[str | None] = mapped_column(String(128))


class BatchItem(Base):
    """One case of a batch. ``pending`` items are taken by workers (``locked``: ``lock_owner`` until
    ``lock_expires_at``; a killed worker's lock runs out and another takes the item) and end ``done`` (in the same
    transaction as the operation's own work on the case), ``skipped`` (the operation refused it, or the batch was
    cancelled; ``reason``) or ``failed`` (after its last attempt; ``reason``). A pending item that failed an
    attempt waits until ``lock_expires_at`` before it is tried again. ``lock_owner`` of a finished item names the
    worker that finished it."""

    __tablename__ = "batch_item"
    __table_args__ = (
        UniqueConstraint("batch_id", "instance_id", name="uq_batch_item_instance"),
        Index("ix_batch_item_acquire", "status", "lock_expires_at", "id"),  # what a worker may take next
        Index("ix_batch_item_batch_status", "batch_id", "status"),  # progress and the report
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"))
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    status: Mapped[str] = mapped_column(String(16))  # pending | locked | done | skipped | failed
    reason: Mapped[str | None] = mapped_column(Text)
    lock_owner: Mapped[str | None] = mapped_column(String(128))
    lock_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Notification(Base):
    """One message to one person on one channel (engine.notifications, migration 0020): written in the transaction
    of the step that causes it (or by the worker's due-date scan), its text rendered then; delivered by the worker
    with retries (``pending`` → ``sent`` or, after the last attempt, ``failed``); an inbox row is ``sent`` at once and
    ``read`` when the person reads it. ``about`` is the task id or ``instance:<id>``: unique with the event, the
    recipient and the channel, so each is notified once."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("event", "about", "recipient", "channel", name="uq_notification_once"),
        Index("ix_notification_due", "state", "next_attempt_at"),
        Index("ix_notification_recipient", "recipient", "channel", "id"),
        Index("ix_notification_instance", "instance_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(String(64))  # task_offered | task_due_soon | task_overdue | …
    about: Mapped[str] = mapped_column(String(64))  # the task id, or instance:<id>
    recipient: Mapped[str] = mapped_column(String(128))  # a username
    channel: Mapped[str] = mapped_column(String(16))  # inbox | email | webhook | sms
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    task_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))  # Chinese
    text: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str | None] = mapped_column(String(255))
    text_en: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(255))  # the e-mail address or mobile number, as of writing
    state: Mapped[str] = mapped_column(String(16))  # pending | sent | failed | read
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lock_owner: Mapped[str | None] = mapped_column(String(128))
    lock_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationTemplates(Base):
    """A deployed version of the notification templates (``processes/notifications/templates.json``,
    engine.notifications.templates; migration 0020)."""

    __tablename__ = "notification_templates"
    __table_args__ = (UniqueConstraint("version", name="uq_notification_templates_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    file_name: Mapped[str] = mapped_column(String(512))
    content: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deployed_by: Mapped[str | None] = mapped_column(String(128))
