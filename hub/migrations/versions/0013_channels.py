"""Online channels and retries that tell the truth (issue 18): the `channels` table, the
channel and first answer of each online order, the channel of each request id.

A hub from before has at most one channel, `online`: its live tokens keep working as the
channel named `online` with origin `online`, and its orders and request ids are that
channel's. Orders recorded before keep no first answer: a repeat of one is answered as
before (status duplicate, the balance now).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:00:00

"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    channels = op.create_table(
        "channels",
        sa.Column("name", sa.String(length=24), nullable=False),
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("origin"),
    )
    conn = op.get_bind()
    credentials = sa.table("credentials", sa.column("kind", sa.String),
                           sa.column("name", sa.String))
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    names = conn.execute(sa.select(credentials.c.name).distinct()
                         .where(credentials.c.kind == "channel")).scalars().all()
    # Only ever `online` before this revision; after a downgrade, other channel origins
    # come back named by their origin without `online-` (the default origin's channel).
    if names:
        op.bulk_insert(channels, [
            {"name": n if n == "online" else n.removeprefix("online-")[:24], "origin": n,
             "created_at": now} for n in sorted(names)])
    op.add_column("online_orders", sa.Column("origin", sa.String(length=64), nullable=False,
                                             server_default="online"))
    op.add_column("online_orders", sa.Column("body_hash", sa.String(length=64)))
    op.add_column("online_orders", sa.Column("answer", sa.Text()))
    op.add_column("online_requests", sa.Column("origin", sa.String(length=64),
                                               nullable=False, server_default="online"))


def downgrade() -> None:
    with op.batch_alter_table("online_requests") as batch:
        batch.drop_column("origin")
    with op.batch_alter_table("online_orders") as batch:
        batch.drop_column("answer")
        batch.drop_column("body_hash")
        batch.drop_column("origin")
    op.drop_table("channels")
