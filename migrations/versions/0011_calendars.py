"""working-day calendars as data (issue 12)

Reserved in the chain so that work in parallel keeps one linear history; filled in by the change that needs it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
