"""the outbox (issue 12, the 12345 round trip): outbox_delivery, outbound webhook deliveries

A row is written in the same transaction as the step that causes it (the service task whistle.notify) and delivered by
the worker loop (engine.outbox) with retries and backoff, HMAC-signed; event_id is unique, one row per case and event.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'outbox_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=255), nullable=False),
        sa.Column('channel', sa.String(length=64), nullable=False),
        sa.Column('event', sa.String(length=64), nullable=False),
        sa.Column('instance_id', sa.Integer(), nullable=True),
        sa.Column('correlation_key', sa.String(length=255), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('lock_owner', sa.String(length=128), nullable=True),
        sa.Column('lock_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('incident_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id']),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event_id', name='uq_outbox_delivery_event_id'),
    )
    op.create_index('ix_outbox_delivery_due', 'outbox_delivery', ['status', 'next_attempt_at'])
    op.create_index('ix_outbox_delivery_instance', 'outbox_delivery', ['instance_id'])


def downgrade() -> None:
    op.drop_index('ix_outbox_delivery_instance', table_name='outbox_delivery')
    op.drop_index('ix_outbox_delivery_due', table_name='outbox_delivery')
    op.drop_table('outbox_delivery')
