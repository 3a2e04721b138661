"""message subscriptions and message start events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('message_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('element_id', sa.String(length=255), nullable=False),
    sa.Column('message_name', sa.String(length=255), nullable=False),
    sa.Column('correlation_key', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('message_subscription', schema=None) as batch_op:
        batch_op.create_index('ix_message_subscription_name_key', ['message_name', 'correlation_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_subscription_instance_id'), ['instance_id'], unique=False)

    op.create_table('message_start',
    sa.Column('message_name', sa.String(length=255), nullable=False),
    sa.Column('process_key', sa.String(length=255), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('element_id', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['definition_version.id'], ),
    sa.PrimaryKeyConstraint('message_name', 'process_key')
    )


def downgrade() -> None:
    op.drop_table('message_start')
    with op.batch_alter_table('message_subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_subscription_instance_id'))
        batch_op.drop_index('ix_message_subscription_name_key')
    op.drop_table('message_subscription')
