"""modeler_draft: the diagrams designers are editing in the browser's modeler (issue 15)

One row per designer and process: the BPMN XML as last autosaved, the deployed version it was opened from
(``base_version_id``, NULL for a new process; deploying says so when a later version was deployed since) and when
it was saved. A draft is deleted when it is deployed; nothing else refers to it, so the table starts empty.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-16
"""
from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'modeler_draft',
        sa.Column('username', sa.String(length=128), nullable=False),
        sa.Column('process_id', sa.String(length=255), nullable=False),
        sa.Column('base_version_id', sa.Integer(), nullable=True),
        sa.Column('xml', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('username', 'process_id'),
    )


def downgrade() -> None:
    op.drop_table('modeler_draft')
