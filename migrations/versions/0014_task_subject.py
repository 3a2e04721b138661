"""human_task carries what a task is about (issue 14: inbox cards that tell parallel tasks apart)

A form's ``subject`` template (``"{opinion.street}：{opinion.text}"``) names values of the task's own data; a
multi-instance task's data holds its own item (the opinion, the street, the department), which the case data does
not. The inbox projection keeps those values on the task's row when it becomes READY
(``engine.runtime.inbox.task_subject``), so the inbox shows each card's subject without loading the instance.

Rows written before have none, and need none: their versions' forms were deployed without a subject (a form with
one is a new version), so their cards read as before.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-14
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.JSON(), nullable=True))


def downgrade() -> None:
    # Not batch mode: on SQLite it copies human_task into a new table and drops the old one, and the drop
    # cascades to task_candidate (foreign keys are on); SQLite 3.35+ drops a column in place.
    op.drop_column('human_task', 'subject')
