"""alert_rules and alerts: subscriptions and the alerts they fire (issue 17)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INTEGER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("rule_id", INTEGER, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=100), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=200), autoincrement=False, nullable=False),
        sa.Column("regions", sa.JSON(), autoincrement=False, nullable=True),
        sa.Column("counties", sa.JSON(), autoincrement=False, nullable=True),
        sa.Column("geofence", sa.Text(), autoincrement=False, nullable=True),
        sa.Column("categories", sa.JSON(), autoincrement=False, nullable=True),
        sa.Column("sar_behaviors", sa.JSON(), autoincrement=False, nullable=True),
        sa.Column("target_sectors", sa.JSON(), autoincrement=False, nullable=True),
        sa.Column("condition", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("threshold", INTEGER, autoincrement=False, nullable=True),
        sa.Column("window_days", INTEGER, autoincrement=False, nullable=True),
        sa.Column("min_severity", INTEGER, autoincrement=False, nullable=True),
        sa.Column("email", sa.String(length=320), autoincrement=False, nullable=True),
        sa.Column("webhook", sa.Boolean(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), autoincrement=False,
                  nullable=False),
        sa.Column("active", sa.Boolean(), autoincrement=False, nullable=False),
        sa.Column("evaluated_version", INTEGER, autoincrement=False, nullable=True),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), autoincrement=False,
                  nullable=True),
        sa.Column("state", sa.Text(), autoincrement=False, nullable=True),
        sa.PrimaryKeyConstraint("rule_id"),
    )
    with op.batch_alter_table("alert_rules", schema=None) as batch_op:
        batch_op.create_index("ix_alert_rules_username", ["username"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("alert_id", INTEGER, autoincrement=True, nullable=False),
        sa.Column("rule_id", INTEGER, autoincrement=False, nullable=False),
        sa.Column("recipient", sa.String(length=100), autoincrement=False, nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), autoincrement=False, nullable=False),
        sa.Column("event_key", sa.String(length=500), autoincrement=False, nullable=False),
        sa.Column("sentence", sa.String(length=2000), autoincrement=False, nullable=False),
        sa.Column("view_url", sa.String(length=4000), autoincrement=False, nullable=False),
        sa.Column("marking", sa.Text(), autoincrement=False, nullable=False),
        sa.Column("records", INTEGER, autoincrement=False, nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        sa.Column("delivered_email_at", sa.DateTime(timezone=True), autoincrement=False,
                  nullable=True),
        sa.Column("delivered_webhook_at", sa.DateTime(timezone=True), autoincrement=False,
                  nullable=True),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_recipient", ["recipient"], unique=False)
        # No second alert for the same event of a rule, whoever evaluates it.
        batch_op.create_index("uq_alerts_rule_id_event_key", ["rule_id", "event_key"],
                              unique=True)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("uq_alerts_rule_id_event_key")
        batch_op.drop_index("ix_alerts_recipient")
    op.drop_table("alerts")
    with op.batch_alter_table("alert_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_rules_username")
    op.drop_table("alert_rules")
