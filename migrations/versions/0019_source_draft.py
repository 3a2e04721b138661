"""source_draft: the forms and decision tables designers are editing in the browser (issue 15)

One row per designer, process and file (the file's stored name): a form as the form-js schema the editor
holds, a decision table as DMN XML, as last saved, with the deployed version it was opened from
(``base_version_id``; deploying says so when a later version was deployed since) and when it was saved. A draft
is deleted when it is deployed; nothing refers to it, so the table starts empty and dropping it loses only drafts.

Revision ID: 0019
Revises: 0015
Create Date: 2026-12-20
"""
from alembic import op
import sqlalchemy as sa

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'source_draft',
        sa.Column('username', sa.String(length=128), nullable=False),
        sa.Column('process_id', sa.String(length=255), nullable=False),
        sa.Column('file_name', sa.String(length=512), nullable=False),
        sa.Column('base_version_id', sa.Integer(), nullable=False),
        sa.Column('content', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('username', 'process_id', 'file_name'),
    )


def downgrade() -> None:
    op.drop_table('source_draft')
