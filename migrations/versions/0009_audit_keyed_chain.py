"""keyed audit chain (issue 19): rows signed with the audit key, a signed head for every chain

- ``audit_event.key_id``: the key that signed a row; NULL marks the plain SHA-256 rows written before this
  migration. They are not re-chained: they keep their hashes (which anyone may have exported) and their links.
- ``audit_chain_head``: the signed head of the system chain (deployments, accounts, tokens keep no other).
- every ``process_instance.audit_head`` becomes a signed head ("rows:key id:tag", ``engine.audit.sign_head``)
  over the case's row count and the hash the old head named, so the old rows are covered from now on: a plain
  row changed, removed or added later no longer matches a head only the key can sign. A chain that did not
  end at its old head before the migration still does not (the signed head keeps the old head's hash).

Needs the audit key (``WHISTLE_AUDIT_KEY`` or ``var/audit_key``, ``engine.keys``) when there are rows to sign:
run ``whistle migrate`` with the same environment as the server.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=16), nullable=True))
    op.create_table(
        'audit_chain_head',
        sa.Column('chain', sa.String(length=32), primary_key=True),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('head', sa.String(length=64), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    bind = op.get_bind()
    ends = _chain_ends(bind)
    instances = bind.execute(sa.text("SELECT id, audit_head FROM process_instance ORDER BY id")).all()
    if not instances and not ends:
        return  # a new database: nothing to sign, and no key needed yet
    from engine.time import clock
    from engine.audit.chain import SYSTEM_CHAIN, chain_name, sign_head
    from engine.store.columns import UTCDateTime
    from engine.audit.keys import audit_keyring

    ring = audit_keyring()
    kid, key = ring.current_id, ring.current
    heads = []
    for instance_id, old_head in instances:
        rows, newest = ends.get(instance_id, (0, GENESIS))
        heads.append({"id": instance_id, "head": sign_head(kid, key, chain_name(instance_id), rows, old_head or newest)})
    if heads:
        bind.execute(sa.text("UPDATE process_instance SET audit_head = :head WHERE id = :id"), heads)
    if None in ends:
        rows, newest = ends[None]
        bind.execute(sa.text("INSERT INTO audit_chain_head (chain, rows, head, updated_at) "
                             "VALUES (:chain, :rows, :head, :at)").bindparams(sa.bindparam("at", type_=UTCDateTime())),
                     {"chain": SYSTEM_CHAIN, "rows": rows, "head": sign_head(kid, key, SYSTEM_CHAIN, rows, newest),
                      "at": clock.now()})


def _chain_ends(bind) -> dict:
    """{instance id or None (the system chain): (row count, hash of the newest row)}."""
    return {instance_id: (rows, newest) for instance_id, rows, newest in bind.execute(sa.text("""
        SELECT e.instance_id, t.rows, e.hash
        FROM (SELECT instance_id, count(*) AS rows, max(id) AS newest FROM audit_event GROUP BY instance_id) t
        JOIN audit_event e ON e.id = t.newest"""))}


def downgrade() -> None:
    # The heads go back to naming their newest row, as revision 0008 expects; its verifier cannot check the
    # signed rows written since (it reports them as modified).
    bind = op.get_bind()
    bind.execute(sa.text("""
        UPDATE process_instance SET audit_head = (
            SELECT e.hash FROM audit_event e WHERE e.id = (
                SELECT max(id) FROM audit_event WHERE instance_id = process_instance.id))"""))
    op.drop_table('audit_chain_head')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('key_id')
