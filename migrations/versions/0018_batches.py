"""batch, batch_item: bulk operations over a set of cases, run by the job executor (issue 16)

A batch is an operation (repair, suspend, terminate, ...), its parameters, what the administrator selected and who;
its items are the cases, resolved once when it was created, each pending, locked by a worker, then done, skipped
or failed with a reason. Both tables start empty and nothing else refers to them: downgrading drops them alone.

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-20
"""
from alembic import op
import sqlalchemy as sa

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'batch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('operation', sa.String(length=64), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('filter', sa.JSON(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('actor', sa.String(length=128), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('cancelled_by', sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_batch_created', 'batch', ['created_at'])
    op.create_table(
        'batch_item',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('lock_owner', sa.String(length=128), nullable=True),
        sa.Column('lock_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['batch_id'], ['batch.id']),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('batch_id', 'instance_id', name='uq_batch_item_instance'),
    )
    op.create_index('ix_batch_item_acquire', 'batch_item', ['status', 'lock_expires_at', 'id'])
    op.create_index('ix_batch_item_batch_status', 'batch_item', ['batch_id', 'status'])


def downgrade() -> None:
    op.drop_index('ix_batch_item_batch_status', table_name='batch_item')
    op.drop_index('ix_batch_item_acquire', table_name='batch_item')
    op.drop_table('batch_item')
    op.drop_index('ix_batch_created', table_name='batch')
    op.drop_table('batch')
