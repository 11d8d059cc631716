"""Privacy (issue 18): the `erasures` table, one row per erased member
(hub.privacy.erase_member).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 17:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("pseudonym", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("erased_by", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.String(length=40), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("member_id"),
    )


def downgrade() -> None:
    # The erased data is gone either way: only the record of the erasures goes with this.
    op.drop_table("erasures")
