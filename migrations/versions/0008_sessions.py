"""sessions and sign-in limits (issue 19): per-user session version, sign-in attempts

Reserved in the chain so that work in parallel keeps one linear history; filled in by the change that needs it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every account starts at version 1; cookies issued before this revision carry no version and so end.
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False, server_default='1'))
    op.create_table(
        'sign_in_attempt',
        sa.Column('scope', sa.String(length=8), nullable=False),
        sa.Column('key', sa.String(length=128), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('scope', 'key'),
    )
    op.create_index('ix_sign_in_attempt_last_failure', 'sign_in_attempt', ['last_failure_at'])


def downgrade() -> None:
    op.drop_index('ix_sign_in_attempt_last_failure', table_name='sign_in_attempt')
    op.drop_table('sign_in_attempt')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('session_version')
