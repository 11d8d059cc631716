"""Who published each program version (issue 19, HQ's program editor): `published_by`,
the HQ user's name for a version published on /hq/program, "cli" for `pos-hub program
publish` and `pos-hub init`. Versions published before this revision show none.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 17:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        batch.add_column(sa.Column("published_by", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        batch.drop_column("published_by")
