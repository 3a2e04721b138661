"""incident keeps the command that failed and how it was resolved (issue 16: administrators retry and replay)

A failed user command (completing a task, delivering a message) is rolled back whole; its incident now keeps what
was submitted (``command_data``: the task id, the data, the message name and key; no password or other secret,
``engine.runtime.incidents.command_data``), so that an administrator can read it and replay it once a fix is
deployed and the case migrated. ``resolved_by`` and ``resolution`` say who resolved an incident and their note.
Incidents recorded before have none of these (NULL): they can be resolved, not replayed.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-18
"""
from alembic import op
import sqlalchemy as sa

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('command_data', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('resolved_by', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('resolution', sa.Text(), nullable=True))


def downgrade() -> None:
    # Not batch mode: on SQLite it copies incident into a new table and drops the old one, which timer_job
    # refers to (foreign keys are on); SQLite 3.35+ drops a column in place.
    op.drop_column('incident', 'resolution')
    op.drop_column('incident', 'resolved_by')
    op.drop_column('incident', 'command_data')
