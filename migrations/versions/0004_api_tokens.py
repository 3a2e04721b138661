"""API tokens for system clients (bearer authentication); the inbox index orders by due time

``ix_human_task_status_assignee_due`` (status, assignee, due_at) replaces (status, assignee): a user's claimed
tasks and the unclaimed ones come out of it already in inbox order, so a page stops after 50 rows instead of
sorting hundreds (bench/RESULTS.md, "HTTP").

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=128), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', name='uq_api_token_name'),
    sa.UniqueConstraint('token_hash', name='uq_api_token_hash')
    )
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.create_index('ix_human_task_status_assignee_due', ['status', 'assignee', 'due_at'], unique=False)
        batch_op.drop_index('ix_human_task_status_assignee')


def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.create_index('ix_human_task_status_assignee', ['status', 'assignee'], unique=False)
        batch_op.drop_index('ix_human_task_status_assignee_due')
    op.drop_table('api_token')
