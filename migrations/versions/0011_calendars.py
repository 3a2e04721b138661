"""working-day calendars as data (issue 12): calendar_version (one row per loaded year) and calendar_day

Every process reads the newest version of each year (engine.workdays.DatabaseCalendar) and rereads when the
number of rows changes: versions are only ever added.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'calendar_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('source', sa.Text(), nullable=True),
        sa.Column('file_name', sa.String(length=512), nullable=False),
        sa.Column('content_hash', sa.String(length=64), nullable=False),
        sa.Column('loaded_via', sa.String(length=16), nullable=False),
        sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('loaded_by', sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('year', 'version', name='uq_calendar_version_year_version'),
    )
    op.create_table(
        'calendar_day',
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(['version_id'], ['calendar_version.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('version_id', 'day'),
    )


def downgrade() -> None:
    op.drop_table('calendar_day')
    op.drop_table('calendar_version')
