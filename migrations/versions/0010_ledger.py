"""accountability ledger (issue 11): obligations per case, department and kind

Append-only rows written by the engine from the tasks a diagram marks as obligations (engine.ledger): one
``assigned`` row when the task opens, one ``done`` or ``cancelled`` row when it closes. Cases already in the
database keep no rows: the ledger starts with the tasks opened after this revision.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ledger_entry',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('process_id', sa.String(length=255), nullable=False),
        sa.Column('task_id', sa.String(length=36), nullable=False),
        sa.Column('element_id', sa.String(length=255), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('party', sa.String(length=255), nullable=True),
        sa.Column('event', sa.String(length=16), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('actor', sa.String(length=128), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_ledger_entry_task', 'ledger_entry', ['task_id', 'event'])
    op.create_index('ix_ledger_entry_party', 'ledger_entry', ['process_id', 'party', 'kind'])
    op.create_index('ix_ledger_entry_instance', 'ledger_entry', ['instance_id'])


def downgrade() -> None:
    op.drop_index('ix_ledger_entry_instance', table_name='ledger_entry')
    op.drop_index('ix_ledger_entry_party', table_name='ledger_entry')
    op.drop_index('ix_ledger_entry_task', table_name='ledger_entry')
    op.drop_table('ledger_entry')
