"""The product catalogue (issue 17): `products` and `product_barcodes`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 17:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("sku", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("tax_rate", sa.Integer(), nullable=False),
        sa.Column("barcodes", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("sku"),
    )
    op.create_table(
        "product_barcodes",
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("code", sa.String(length=14), nullable=False),
        sa.Column("sku", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("gtin"),
    )
    op.create_index("ix_product_barcodes_sku", "product_barcodes", ["sku"])


def downgrade() -> None:
    op.drop_index("ix_product_barcodes_sku", table_name="product_barcodes")
    op.drop_table("product_barcodes")
    op.drop_table("products")
