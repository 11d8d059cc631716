"""Member snapshots written behind the ledger: the hot columns stay exact per batch, the
JSON snapshot (`state`) records how far it has folded (`state_seq`) and is caught up on
demand (docs/hub.md, "Snapshots behind the ledger").

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STALE = "state_seq < hub_seq"


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state_seq", sa.BigInteger(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("state_at", sa.String(length=40), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("last_hlc", sa.String(length=32), nullable=False,
                                      server_default=""))
    # Existing snapshots were written with every batch: they hold everything so far.
    extract = ("json_extract(state, '$.last_hlc')" if op.get_bind().dialect.name == "sqlite"
               else "(state::json ->> 'last_hlc')")
    op.execute(f"UPDATE members SET state_seq = hub_seq, state_at = updated_at, "
               f"last_hlc = COALESCE({extract}, '')")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index("ix_members_stale", ["member_id"], unique=False,
                              sqlite_where=sa.text(STALE), postgresql_where=sa.text(STALE))
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_member_seq", ["member_id", "hub_seq"], unique=False)
        batch_op.drop_index("ix_events_member")


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_member", ["member_id"], unique=False)
        batch_op.drop_index("ix_events_member_seq")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_stale")
        batch_op.drop_column("last_hlc")
        batch_op.drop_column("state_at")
        batch_op.drop_column("state_seq")
