"""Members lose the partial index of stale snapshots (`ix_members_stale`, state_seq <
hub_seq): every batch moved a member's hub_seq, which rewrote that index entry on SQLite
and, on PostgreSQL, made each UPDATE of the hot columns a non-HOT one (a column in an
index's predicate counts as indexed), with a new entry in every index of the table. The
jobs that catch every stale snapshot up scan the members instead, once per run, in key
order (`hub.store.members.stale_ids`). On PostgreSQL the table keeps a fifth of each page
free for those in-place (HOT) updates.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 18:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_members_stale", table_name="members")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE members SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE members RESET (fillfactor)")
    op.create_index("ix_members_stale", "members", ["member_id"], unique=False,
                    sqlite_where=sa.text("state_seq < hub_seq"),
                    postgresql_where=sa.text("state_seq < hub_seq"))
