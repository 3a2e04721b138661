"""case_fact and obligation_fact: the aggregates the dashboards read (issue 18, ADR 13)

``case_fact``: one row per case with what it is counted by (start month, status, street, tier, category,
decision, rating, resolved, whistled), filled here from the cases there by the rule of
``engine.audit.facts.case_fact``. ``obligation_fact``: one row per obligation of the accountability ledger, its
``assigned`` row and the row that closed it folded together, filled here from ``ledger_entry``. Both are kept by
the engine from then on, in the step's transaction. Nothing refers to them: downgrade drops them and loses
nothing the other tables do not hold.

Revision ID: 0022
Revises: 0019
Create Date: 2026-12-22
"""
import json

from alembic import op
import sqlalchemy as sa

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    op.create_table(
        'case_fact',
        sa.Column('instance_id', sa.Integer(), sa.ForeignKey('process_instance.id'), nullable=False),
        sa.Column('process_id', sa.String(length=255), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('street', sa.String(length=128), nullable=True),
        sa.Column('tier', sa.String(length=16), nullable=True),
        sa.Column('category', sa.String(length=64), nullable=True),
        sa.Column('decision', sa.String(length=16), nullable=True),
        sa.Column('whistled', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('satisfaction', sa.Integer(), nullable=True),
        sa.Column('resolved', sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint('instance_id'),
    )
    op.create_index('ix_case_fact_process_started', 'case_fact', ['process_id', 'started_at'])
    op.create_index('ix_case_fact_street', 'case_fact', ['street', 'started_at'])
    op.create_table(
        'obligation_fact',
        sa.Column('task_id', sa.String(length=36), nullable=False),
        sa.Column('instance_id', sa.Integer(), sa.ForeignKey('process_instance.id'), nullable=False),
        sa.Column('process_id', sa.String(length=255), nullable=False),
        sa.Column('element_id', sa.String(length=255), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('party', sa.String(length=255), nullable=True),
        sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_event', sa.String(length=16), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('seconds', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('task_id'),
    )
    op.create_index('ix_obligation_fact_instance', 'obligation_fact', ['instance_id'])
    op.create_index('ix_obligation_fact_party', 'obligation_fact', ['party', 'kind'])
    op.create_index('ix_obligation_fact_open_due', 'obligation_fact', ['closed_event', 'due_at'])
    _fill()


def _fill() -> None:
    # The engine's own rule and statements, so the rows written here are those the engine would have written;
    # the columns are named one by one, as they are at this revision.
    from sqlalchemy.orm import Session

    from engine.audit.facts import case_fact
    from engine.store import facts
    from engine.store.models import CaseFact, LedgerEntry, ProcessInstance

    session = Session(bind=op.get_bind())
    p = ProcessInstance
    rows = []
    for instance_id, process_id, started_at, status, street, data in session.execute(
            sa.select(p.id, p.process_id, p.started_at, p.status, p.street, p.data).order_by(p.id)):
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                data = None
        rows.append({"instance_id": instance_id, "whistled": False,
                     **case_fact(process_id, started_at, status, street, data)})
    for start in range(0, len(rows), BATCH):
        session.execute(sa.insert(CaseFact), rows[start:start + BATCH])
    e = LedgerEntry
    ledger = [dict(r) for r in session.execute(sa.select(
        e.instance_id, e.process_id, e.task_id, e.element_id, e.kind, e.party, e.event, e.at, e.due_at)
        .order_by(e.id)).mappings()]
    for start in range(0, len(ledger), BATCH):
        facts.record_ledger(session, ledger[start:start + BATCH])


def downgrade() -> None:
    op.drop_table('obligation_fact')
    op.drop_table('case_fact')
