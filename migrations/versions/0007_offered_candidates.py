"""task_candidate carries whether its task is claimable, and the task's inbox order

A group's claimable tasks become one ordered range of the partial index ``ix_task_candidate_offered``, so
an inbox page reads about 50 index entries per group of the user instead of every candidate row the group
ever had (bench/RESULTS.md, "HTTP").

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('task_candidate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offered', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('process_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('priority', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('created_at', sa.DateTime(timezone=True), nullable=True))
    # Copy what the rows of tasks already in the database need (correlated subqueries work on both backends).
    op.execute("""
        UPDATE task_candidate SET
            offered = (SELECT t.status = 'open' AND t.assignee IS NULL FROM human_task t WHERE t.id = task_candidate.task_id),
            process_id = (SELECT t.process_id FROM human_task t WHERE t.id = task_candidate.task_id),
            due_at = (SELECT t.due_at FROM human_task t WHERE t.id = task_candidate.task_id),
            priority = (SELECT t.priority FROM human_task t WHERE t.id = task_candidate.task_id),
            created_at = (SELECT t.created_at FROM human_task t WHERE t.id = task_candidate.task_id)
    """)
    offered = sa.column('offered')
    op.create_index('ix_task_candidate_offered', 'task_candidate',
                    ['kind', 'name', 'due_at', sa.text('priority DESC'), 'created_at', 'task_id'],
                    postgresql_where=offered, sqlite_where=offered)


def downgrade() -> None:
    op.drop_index('ix_task_candidate_offered', table_name='task_candidate')
    with op.batch_alter_table('task_candidate', schema=None) as batch_op:
        for column in ('created_at', 'priority', 'due_at', 'process_id', 'offered'):
            batch_op.drop_column(column)
