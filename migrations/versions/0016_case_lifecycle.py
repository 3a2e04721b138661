"""Administrators find, suspend, resume and terminate cases (issue 16)

``process_instance`` gains the hold and the end an administrator gives a case — ``suspended_at``,
``suspended_by``, ``suspended_reason``; ``terminated_by``, ``terminated_reason`` (``completed_at`` is when) —
and the street and department it concerns, projected from its case data at every step by the rule of
``engine.runtime.inbox.task_scope`` (``street``; ``department``, ``lead_department``), filled here for the cases
already there. ``human_task.suspended`` and ``timer_job.suspended`` mark the rows of a suspended case in the same
command (the inbox shows 已挂起; workers do not acquire the job). Indexes make finding cases an index range: by
start time alone and with status, process or version; street; department; the element an open task, a timer or
a message subscription waits at; the cases with an incident not resolved yet.

Downgrade keeps every row: a terminated case becomes ``cancelled`` (with its ledger's ``terminated`` rows), a
suspended one ``running`` again (the version before knows no other states).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-18
"""
import json

from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

WIDTH = 128
BATCH = 1000
INDEXES = (
    ('ix_instance_started', 'process_instance', ['started_at', 'id']),
    ('ix_instance_status_started', 'process_instance', ['status', 'started_at']),
    ('ix_instance_process_started', 'process_instance', ['process_id', 'started_at']),
    ('ix_instance_version_started', 'process_instance', ['version_id', 'started_at']),
    ('ix_instance_street', 'process_instance', ['street']),
    ('ix_instance_department', 'process_instance', ['department']),
    ('ix_human_task_element', 'human_task', ['element_id', 'status']),
    ('ix_timer_job_suspended_due', 'timer_job', ['suspended', 'due_at']),
    ('ix_timer_job_element', 'timer_job', ['element_id']),
    ('ix_message_subscription_element', 'message_subscription', ['element_id']),
    ('ix_incident_open', 'incident', ['resolved_at', 'instance_id']),
)


def _value(value):
    if isinstance(value, str) and value.strip() and len(value.strip()) <= WIDTH:
        return value.strip()
    return None


def upgrade() -> None:
    for name in ('street', 'department', 'suspended_by', 'terminated_by'):
        op.add_column('process_instance', sa.Column(name, sa.String(length=WIDTH), nullable=True))
    op.add_column('process_instance', sa.Column('suspended_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('process_instance', sa.Column('suspended_reason', sa.Text(), nullable=True))
    op.add_column('process_instance', sa.Column('terminated_reason', sa.Text(), nullable=True))
    for table in ('human_task', 'timer_job'):
        op.add_column(table, sa.Column('suspended', sa.Boolean(), nullable=False, server_default=sa.false()))

    conn = op.get_bind()
    updates = []
    for instance_id, raw in conn.execute(sa.text("SELECT id, data FROM process_instance")):
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = None
        data = raw if isinstance(raw, dict) else {}
        street = _value(data.get('street'))
        department = _value(data.get('department')) or _value(data.get('lead_department'))
        if street or department:
            updates.append({'id': instance_id, 'street': street, 'department': department})
    statement = sa.text("UPDATE process_instance SET street = :street, department = :department WHERE id = :id")
    for start in range(0, len(updates), BATCH):
        conn.execute(statement, updates[start:start + BATCH])

    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE process_instance SET status = 'cancelled' WHERE status = 'terminated'"))
    conn.execute(sa.text("UPDATE process_instance SET status = 'running' WHERE status = 'suspended'"))
    conn.execute(sa.text("UPDATE ledger_entry SET event = 'cancelled' WHERE event = 'terminated'"))
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
    # Not batch mode: on SQLite it copies the table into a new one and drops the old one, and the drop cascades
    # to the tables whose foreign keys point at it; SQLite 3.35+ drops a column in place.
    for table in ('timer_job', 'human_task'):
        op.drop_column(table, 'suspended')
    for name in ('terminated_reason', 'terminated_by', 'suspended_reason', 'suspended_by', 'suspended_at',
                 'department', 'street'):
        op.drop_column('process_instance', name)
