"""human_task carries the street and department a task concerns (issue 14: the inbox's filters)

The inbox and the case list filter by street and department on an index (``ix_human_task_street``,
``ix_human_task_department``) instead of reading every case's data. New rows are filled by the inbox
projection (``engine.runtime.inbox.task_scope``); the rows already there are filled here by the same rule:
a candidate group names the street (``street-<id>-command``, ``street-<id>-party``, ``grid-<id>``) or the
department (``dept-<id>``, ``dept-<id>-party``) first, then the case's data (``street``; ``department``,
``lead_department``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-12
"""
import json
import re

from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

WIDTH = 128
STREET_GROUP = re.compile(r"(?:street-(?P<street>[^,]+)-(?:command|party)|grid-(?P<grid>[^,]+))")
BATCH = 1000


def _value(value):
    if isinstance(value, str) and value.strip() and len(value.strip()) <= WIDTH:
        return value.strip()
    return None


def _scope(groups, data):
    street = department = None
    for name in sorted(groups):
        match = STREET_GROUP.fullmatch(name)
        if match and street is None:
            street = match.group("street") or match.group("grid")
        if name.startswith("dept-") and department is None:
            department = name[:-len("-party")] if name.endswith("-party") else name
    if street is None:
        street = _value(data.get("street"))
    if department is None:
        department = _value(data.get("department")) or _value(data.get("lead_department"))
    return street, department


def upgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('street', sa.String(length=WIDTH), nullable=True))
        batch_op.add_column(sa.Column('department', sa.String(length=WIDTH), nullable=True))
    op.create_index('ix_human_task_street', 'human_task', ['street', 'status', 'due_at'])
    op.create_index('ix_human_task_department', 'human_task', ['department', 'status', 'due_at'])

    conn = op.get_bind()
    groups = {}
    for task_id, name in conn.execute(sa.text("SELECT task_id, name FROM task_candidate WHERE kind = 'group'")):
        groups.setdefault(task_id, []).append(name)
    data_of = {}
    updates = []
    rows = conn.execute(sa.text("SELECT t.id, t.instance_id FROM human_task t")).all()
    for task_id, instance_id in rows:
        if instance_id not in data_of:
            raw = conn.execute(sa.text("SELECT data FROM process_instance WHERE id = :id"), {"id": instance_id}).scalar()
            if isinstance(raw, str):
                try:
                    raw = json.loads(raw)
                except ValueError:
                    raw = None
            data_of[instance_id] = raw if isinstance(raw, dict) else {}
        street, department = _scope(groups.get(task_id, []), data_of[instance_id])
        if street or department:
            updates.append({"task_id": task_id, "street": street, "department": department})
    statement = sa.text("UPDATE human_task SET street = :street, department = :department WHERE id = :task_id")
    for start in range(0, len(updates), BATCH):
        conn.execute(statement, updates[start:start + BATCH])


def downgrade() -> None:
    op.drop_index('ix_human_task_department', table_name='human_task')
    op.drop_index('ix_human_task_street', table_name='human_task')
    # Not batch mode: on SQLite it copies human_task into a new table and drops the old one, and the drop
    # cascades to task_candidate (foreign keys are on); SQLite 3.35+ drops a column in place.
    op.drop_column('human_task', 'department')
    op.drop_column('human_task', 'street')
