"""The projector's mark (`counters['projected']`): the hub_seq through which every event
is folded into members, flags and the change feed (hub.store.projector). A hub upgraded
from 0004 folded every event at its push, so the mark starts at the ledger's top.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 20:00:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM counters WHERE name = 'projected'")
    op.execute("INSERT INTO counters (name, value) "
               "SELECT 'projected', COALESCE(MAX(hub_seq), 0) FROM events")


def downgrade() -> None:
    # 0004 folds at every push: fold what is pending first (`pos-hub rebuild`).
    op.execute("DELETE FROM counters WHERE name = 'projected'")
