"""Task actions (issue 17, part 3): delegation on the inbox row, and cases copied to people for information

``human_task.delegated_by`` / ``delegation_state``: a task 委派 (delegated) by its holder to another person
carries who delegated it and ``pending`` until the delegate hands it back (``resolved``); the owner then
completes it for real (``engine.runtime.task_actions``). Rows written before were never delegated: NULL.

``case_copy``: a case 抄送 (copied) to a user or a group for information — a read-only item in their inbox that
lets them read the case (``engine.casework.people.can_see_instance``). Nothing refers to it; dropping it loses
only the copies (the audit chain keeps each ``case_copied`` event).

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delegated_by', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('delegation_state', sa.String(length=16), nullable=True))
    op.create_table(
        'case_copy',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('copied_by', sa.String(length=128), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('copied_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_case_copy_recipient', 'case_copy', ['kind', 'name', 'copied_at'])
    op.create_index('ix_case_copy_instance', 'case_copy', ['instance_id'])


def downgrade() -> None:
    op.drop_index('ix_case_copy_instance', table_name='case_copy')
    op.drop_index('ix_case_copy_recipient', table_name='case_copy')
    op.drop_table('case_copy')
    # Not batch mode: on SQLite it copies human_task into a new table and drops the old one, and the drop
    # cascades to task_candidate (foreign keys are on); SQLite 3.35+ drops a column in place.
    op.drop_column('human_task', 'delegation_state')
    op.drop_column('human_task', 'delegated_by')
