"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 04:07:54.131199
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "center_aor",
        sa.Column("center_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("county_fips", sa.Text(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("center_id", "county_fips"),
    )
    op.create_table(
        "centers",
        sa.Column("center_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=200), autoincrement=False, nullable=False),
        sa.Column("kind", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("timezone", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("default_tlp", sa.Text(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("center_id"),
    )
    op.create_table(
        "incident_links",
        sa.Column("center_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("incident_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("duplicate_of_center_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("duplicate_of_incident_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("distance_km", sa.Float(), autoincrement=False, nullable=True),
        sa.Column("minutes_apart", sa.Float(), autoincrement=False, nullable=True),
        sa.PrimaryKeyConstraint("center_id", "incident_id"),
    )
    op.create_table(
        "incidents",
        sa.Column("center_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("incident_id", sa.String(length=100), autoincrement=False, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), autoincrement=False, nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("category", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("county_fips", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("latitude", sa.Float(), autoincrement=False, nullable=True),
        sa.Column("longitude", sa.Float(), autoincrement=False, nullable=True),
        sa.Column("sar_behavior", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("target_sector", sa.Text(), autoincrement=False, nullable=True),
        sa.Column(
            "severity",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=True,
        ),
        sa.Column("tlp", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("narrative", sa.String(length=20000), autoincrement=False, nullable=True),
        sa.Column("county_source", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("geo_flag", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("row_hash", sa.Text(), autoincrement=False, nullable=True),
        sa.Column(
            "run_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("center_id", "incident_id"),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_category", ["category"], unique=False)
        batch_op.create_index("ix_incidents_county_fips", ["county_fips"], unique=False)
        batch_op.create_index("ix_incidents_occurred_at", ["occurred_at"], unique=False)

    op.create_table(
        "ingest_runs",
        sa.Column(
            "run_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("batch_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("center_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("source_name", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("table_name", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("connector_kind", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("location", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("source_hash", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), autoincrement=False, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), autoincrement=False, nullable=False),
        sa.Column("status", sa.Text(), autoincrement=False, nullable=False),
        sa.Column(
            "rows_read",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column(
            "rows_inserted",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column(
            "rows_updated",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column(
            "rows_unchanged",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column(
            "rows_rejected",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column(
            "rows_flagged",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_table(
        "product_coverage",
        sa.Column("center_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("product_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("scope", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("area_id", sa.Text(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("center_id", "product_id", "scope", "area_id"),
    )
    op.create_table(
        "products",
        sa.Column("center_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("product_id", sa.String(length=100), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(length=500), autoincrement=False, nullable=False),
        sa.Column("product_type", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), autoincrement=False, nullable=False),
        sa.Column("topics", sa.JSON(), autoincrement=False, nullable=False),
        sa.Column("audience", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("tlp", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("summary", sa.String(length=20000), autoincrement=False, nullable=True),
        sa.Column("incident_ids", sa.JSON(), autoincrement=False, nullable=True),
        sa.Column("row_hash", sa.Text(), autoincrement=False, nullable=True),
        sa.Column(
            "run_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("center_id", "product_id"),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index("ix_products_published_at", ["published_at"], unique=False)

    op.create_table(
        "quarantine",
        sa.Column(
            "quarantine_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "run_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("center_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("source_name", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("table_name", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("location", sa.Text(), autoincrement=False, nullable=False),
        sa.Column(
            "row_number",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("field", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("reason", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("raw_record", sa.Text(), autoincrement=False, nullable=True),
        sa.PrimaryKeyConstraint("quarantine_id"),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index(
            "ix_quarantine_center_id_source_name", ["center_id", "source_name"], unique=False
        )

    op.create_table(
        "regions",
        sa.Column("county_fips", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("county_name", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("region_id", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("region_name", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("area_km2", sa.Float(), autoincrement=False, nullable=True),
        sa.PrimaryKeyConstraint("county_fips"),
    )


def downgrade() -> None:
    op.drop_table("regions")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantine_center_id_source_name")

    op.drop_table("quarantine")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index("ix_products_published_at")

    op.drop_table("products")
    op.drop_table("product_coverage")
    op.drop_table("ingest_runs")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_occurred_at")
        batch_op.drop_index("ix_incidents_county_fips")
        batch_op.drop_index("ix_incidents_category")

    op.drop_table("incidents")
    op.drop_table("incident_links")
    op.drop_table("centers")
    op.drop_table("center_aor")
