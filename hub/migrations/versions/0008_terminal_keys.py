"""Per-terminal signing keys and their certificates (issue 16 part 2): `terminal_keys`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 16:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "terminal_keys",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.String(length=40), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("revoked_at", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
        sa.UniqueConstraint("public_key"),
    )
    op.create_index("ix_terminal_keys_origin", "terminal_keys", ["origin"])


def downgrade() -> None:
    op.drop_index("ix_terminal_keys_origin", table_name="terminal_keys")
    op.drop_table("terminal_keys")
