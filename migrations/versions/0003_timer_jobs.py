"""timer jobs and the shared clock offset

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('timer_job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.String(length=255), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('element_id', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('timer_type', sa.String(length=16), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('schedule', sa.JSON(), nullable=True),
    sa.Column('lock_owner', sa.String(length=128), nullable=True),
    sa.Column('lock_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retries', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ),
    sa.ForeignKeyConstraint(['version_id'], ['definition_version.id'], ),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('timer_job', schema=None) as batch_op:
        batch_op.create_index('ix_timer_job_due_at', ['due_at'], unique=False)
        batch_op.create_index('ix_timer_job_instance', ['instance_id'], unique=False)
        batch_op.create_index('ix_timer_job_process_kind', ['process_id', 'kind'], unique=False)

    op.create_table('clock_setting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offset_us', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('clock_setting')
    with op.batch_alter_table('timer_job', schema=None) as batch_op:
        batch_op.drop_index('ix_timer_job_process_kind')
        batch_op.drop_index('ix_timer_job_instance')
        batch_op.drop_index('ix_timer_job_due_at')
    op.drop_table('timer_job')
