"""accountability ledger (issue 11): obligations per case, department and kind

Reserved in the chain so that work in parallel keeps one linear history; filled in by the change that needs it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
