"""Sync health counts refused pushes per origin; the rewards report counts each reward
once (`events.reward_units`, voucher purchases apart from immediate rewards); the online
channel remembers client request ids so a retried refund or redemption is answered, not
done again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 12:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("origins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refused_gaps", sa.BigInteger(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("refused_chains", sa.BigInteger(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("last_refused_at", sa.String(length=40)))
    # A plain ADD COLUMN (nullable, no default): no copy of the ledger on either backend.
    op.add_column("events", sa.Column("reward_units", sa.Integer()))
    # Rows recorded before: a points purchase of a voucher (gift card, store credit) was
    # counted as redeemed at once, and a stamp event as one reward whatever it completed.
    op.execute("UPDATE events SET reward_action = 'issue' WHERE reward_action = 'redeem' "
               "AND content LIKE '%\"vouchers_issued\"%'")
    completed = ("CAST(json_extract(content, '$.data.completed') AS INTEGER)"
                 if op.get_bind().dialect.name == "sqlite"
                 else "CAST(content::json -> 'data' ->> 'completed' AS INTEGER)")
    op.execute(f"UPDATE events SET reward_units = {completed} WHERE reward_action = 'stamp'")
    op.create_table(
        "online_requests",
        sa.Column("request_id", sa.String(length=80), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )


def downgrade() -> None:
    op.drop_table("online_requests")
    op.execute("UPDATE events SET reward_action = 'redeem' WHERE reward_action = 'issue'")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("reward_units")
    with op.batch_alter_table("origins", schema=None) as batch_op:
        batch_op.drop_column("last_refused_at")
        batch_op.drop_column("refused_chains")
        batch_op.drop_column("refused_gaps")
