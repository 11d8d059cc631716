"""Trust: held points. A points_held flag resolved by HQ names the hub `release` event
that made its points spendable (or ended the hold when they were cancelled); a member
row says how many of its points are held, for the liability report.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 16:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("release_event_id", sa.String(length=36)))
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held", sa.BigInteger(), nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("held")
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_column("release_event_id")
