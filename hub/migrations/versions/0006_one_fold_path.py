"""One fold path: a push folds its events into the member rows in its own transaction,
so a member's snapshot always holds every event and the projector's mark and the
snapshot's own version columns go (`hub.upgrade.fold_left_behind` caught up whatever
the projector era left behind just before this runs).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 08:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM counters WHERE name = 'projected'")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("state_seq")
        batch_op.drop_column("state_at")


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state_seq", sa.BigInteger(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("state_at", sa.String(length=40), nullable=False,
                                      server_default=""))
    op.execute("UPDATE members SET state_seq = hub_seq")
    op.execute("INSERT INTO counters (name, value) "
               "SELECT 'projected', COALESCE(MAX(hub_seq), 0) FROM events")
