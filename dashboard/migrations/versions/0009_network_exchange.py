"""network_bundles, network_counts, network_coverage: the national network's imports (issue 16)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-15 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INTEGER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "network_bundles",
        sa.Column("bundle_id", INTEGER, autoincrement=True, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), autoincrement=False,
                  nullable=False),
        sa.Column("received_by", sa.String(length=100), autoincrement=False, nullable=False),
        sa.Column("file_name", sa.String(length=300), autoincrement=False, nullable=False),
        sa.Column("status", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("reason", sa.String(length=2000), autoincrement=False, nullable=True),
        sa.Column("sending_state", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("key_id", sa.String(length=100), autoincrement=False, nullable=True),
        sa.Column("period_start", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("period_end", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("marking", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("cells", INTEGER, autoincrement=False, nullable=True),
        sa.Column("incidents", INTEGER, autoincrement=False, nullable=True),
        sa.Column("content_hash", sa.String(length=64), autoincrement=False, nullable=True),
        sa.PrimaryKeyConstraint("bundle_id"),
    )
    with op.batch_alter_table("network_bundles", schema=None) as batch_op:
        batch_op.create_index("ix_network_bundles_sending_state_period_end",
                              ["sending_state", "period_end"], unique=False)

    op.create_table(
        "network_counts",
        sa.Column("count_id", INTEGER, autoincrement=True, nullable=False),
        sa.Column("sending_state", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("county_fips", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("week_end", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("category", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("sar_behavior", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("count", INTEGER, autoincrement=False, nullable=False),
        sa.Column("bundle_id", INTEGER, autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("count_id"),
    )
    with op.batch_alter_table("network_counts", schema=None) as batch_op:
        batch_op.create_index("ix_network_counts_sending_state_week_end",
                              ["sending_state", "week_end"], unique=False)
        batch_op.create_index("ix_network_counts_bundle_id", ["bundle_id"], unique=False)

    op.create_table(
        "network_coverage",
        sa.Column("sending_state", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("scope", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("area_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("area_name", sa.String(length=200), autoincrement=False, nullable=True),
        sa.Column("topic", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("covered", sa.Boolean(), autoincrement=False, nullable=False),
        sa.Column("as_of", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("bundle_id", INTEGER, autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("sending_state", "scope", "area_id", "topic"),
    )
    with op.batch_alter_table("network_coverage", schema=None) as batch_op:
        batch_op.create_index("ix_network_coverage_bundle_id", ["bundle_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("network_coverage", schema=None) as batch_op:
        batch_op.drop_index("ix_network_coverage_bundle_id")
    op.drop_table("network_coverage")
    with op.batch_alter_table("network_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_network_counts_bundle_id")
        batch_op.drop_index("ix_network_counts_sending_state_week_end")
    op.drop_table("network_counts")
    with op.batch_alter_table("network_bundles", schema=None) as batch_op:
        batch_op.drop_index("ix_network_bundles_sending_state_period_end")
    op.drop_table("network_bundles")
