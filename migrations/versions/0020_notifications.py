"""notifications (issue 17): notification, notification_templates; user_account.email, .mobile, .notify_channels

A ``notification`` row is one message to one person on one channel (inbox | email | webhook | sms), written in the
transaction of the step that causes it (a task offered, due soon, overdue, a supervision opened …) and delivered by
the worker loop (engine.notifications.delivery) with retries and backoff. ``about`` is the task id, or
``instance:<id>`` for an event of the case: with the event, the recipient and the channel it is unique, so each
person hears of each event once per channel, however often a step or the due-date scan runs.
``notification_templates`` keeps each deployed version of the templates file (processes/notifications/
templates.json). ``user_account`` gains the person's e-mail address, mobile number and chosen channels (NULL: the
default, the inbox and e-mail when there is an address).

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-20
"""
from alembic import op
import sqlalchemy as sa

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'notification',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=64), nullable=False),
        sa.Column('about', sa.String(length=64), nullable=False),
        sa.Column('recipient', sa.String(length=128), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('instance_id', sa.Integer(), nullable=True),
        sa.Column('task_id', sa.String(length=64), nullable=True),
        sa.Column('title', sa.String(length=255), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('title_en', sa.String(length=255), nullable=True),
        sa.Column('text_en', sa.Text(), nullable=True),
        sa.Column('address', sa.String(length=255), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lock_owner', sa.String(length=128), nullable=True),
        sa.Column('lock_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event', 'about', 'recipient', 'channel', name='uq_notification_once'),
    )
    op.create_index('ix_notification_due', 'notification', ['state', 'next_attempt_at'])
    op.create_index('ix_notification_recipient', 'notification', ['recipient', 'channel', 'id'])
    op.create_index('ix_notification_instance', 'notification', ['instance_id'])
    op.create_table(
        'notification_templates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('file_name', sa.String(length=512), nullable=False),
        sa.Column('content', sa.Text(), nullable=False),
        sa.Column('content_hash', sa.String(length=64), nullable=False),
        sa.Column('deployed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('deployed_by', sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('version', name='uq_notification_templates_version'),
    )
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('mobile', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('notify_channels', sa.JSON(), nullable=True))


def downgrade() -> None:
    # Not batch mode: on SQLite it would copy user_account into a new table and drop the old one, which
    # group_membership refers to (foreign keys are on); SQLite 3.35+ drops a column in place.
    op.drop_column('user_account', 'notify_channels')
    op.drop_column('user_account', 'mobile')
    op.drop_column('user_account', 'email')
    op.drop_table('notification_templates')
    op.drop_index('ix_notification_instance', table_name='notification')
    op.drop_index('ix_notification_recipient', table_name='notification')
    op.drop_index('ix_notification_due', table_name='notification')
    op.drop_table('notification')
