"""Initial schema: the ledger, members, credentials, change feed, flags, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 00:06:50.768831

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# SQLite numbers only INTEGER PRIMARY KEY automatically; PostgreSQL wants BIGINT.
AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "cards",
        sa.Column("card_number", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("card_number"),
    )
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.create_index("ix_cards_member", ["member_id"], unique=False)

    op.create_table(
        "changes",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
        sa.UniqueConstraint("change_seq"),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "credentials",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("revoked_at", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "events",
        sa.Column("hub_seq", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("origin_epoch", sa.Integer(), nullable=False),
        sa.Column("origin_seq", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("program_version", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=80), nullable=False),
        sa.Column("occurred_at", sa.String(length=40), nullable=False),
        sa.Column("hlc", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.String(length=40), nullable=False),
        sa.Column("reward_id", sa.String(length=64), nullable=True),
        sa.Column("reward_action", sa.String(length=16), nullable=True),
        sa.Column("tier", sa.String(length=64), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("hub_seq"),
        sa.UniqueConstraint("event_id"),
        sa.UniqueConstraint("origin", "origin_epoch", "origin_seq", name="uq_events_stream_seq"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_member", ["member_id"], unique=False)
        batch_op.create_index(
            "ix_events_reward",
            ["reward_id"],
            unique=False,
            sqlite_where=sa.text("reward_id IS NOT NULL"),
            postgresql_where=sa.text("reward_id IS NOT NULL"),
        )

    op.create_table(
        "flags",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=True),
        sa.Column("origin", sa.String(length=64), nullable=True),
        sa.Column("store", sa.String(length=64), nullable=True),
        sa.Column("event_ids", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("resolved_at", sa.String(length=40), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("adjust_event_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.create_index("ix_flags_store", ["store"], unique=False)

    op.create_table(
        "members",
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("birthday", sa.String(length=10), nullable=True),
        sa.Column("consent_email", sa.Boolean(), nullable=False),
        sa.Column("consent_sms", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("merged_into", sa.String(length=36), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("debt", sa.BigInteger(), nullable=False),
        sa.Column("last_tier", sa.String(length=64), nullable=True),
        sa.Column("hub_seq", sa.BigInteger(), nullable=False),
        sa.Column("next_expiry", sa.String(length=40), nullable=True),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("member_id"),
    )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index("ix_members_email", ["email"], unique=False)
        batch_op.create_index("ix_members_next_expiry", ["next_expiry"], unique=False)
        batch_op.create_index("ix_members_phone", ["phone"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.String(length=40), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("sent_at", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedup_key"),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "online_orders",
        sa.Column("order_id", sa.String(length=80), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_table(
        "origin_totals",
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("credited", sa.BigInteger(), nullable=False),
        sa.Column("debited", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("origin"),
    )
    op.create_table(
        "origins",
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("last_push_at", sa.String(length=40), nullable=True),
        sa.Column("last_pull_at", sa.String(length=40), nullable=True),
        sa.Column("last_cursor", sa.BigInteger(), nullable=True),
        sa.Column("reported_high_seq", sa.BigInteger(), nullable=True),
        sa.Column("reported_at", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("origin"),
    )
    op.create_table(
        "programs",
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("published_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_table(
        "reward_stock",
        sa.Column("reward_id", sa.String(length=64), nullable=False),
        sa.Column("units_left", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("reward_id"),
    )
    op.create_table(
        "streams",
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("origin_epoch", sa.Integer(), nullable=False),
        sa.Column("high_seq", sa.BigInteger(), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("origin", "origin_epoch"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("streams")
    op.drop_table("reward_stock")
    op.drop_table("programs")
    op.drop_table("origins")
    op.drop_table("origin_totals")
    op.drop_table("online_orders")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_due")

    op.drop_table("notifications")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_phone")
        batch_op.drop_index("ix_members_next_expiry")
        batch_op.drop_index("ix_members_email")

    op.drop_table("members")
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_index("ix_flags_store")

    op.drop_table("flags")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_events_reward",
            sqlite_where=sa.text("reward_id IS NOT NULL"),
            postgresql_where=sa.text("reward_id IS NOT NULL"),
        )
        batch_op.drop_index("ix_events_member")

    op.drop_table("events")
    op.drop_table("credentials")
    op.drop_table("counters")
    op.drop_table("changes")
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_index("ix_cards_member")

    op.drop_table("cards")
