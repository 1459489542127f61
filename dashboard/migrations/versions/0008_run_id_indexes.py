"""Indexes on incidents.run_id and products.run_id: the alert rules read what was written since
their watermark (run_id > N) after every ingest, which was a scan of the whole table

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 16:20:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incidents_run_id", "incidents", ["run_id"])
    op.create_index("ix_products_run_id", "products", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_products_run_id", table_name="products")
    op.drop_index("ix_incidents_run_id", table_name="incidents")
