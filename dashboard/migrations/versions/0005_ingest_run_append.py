"""ingest_runs.source_bytes, source_lines, read_from_line, source_cursor: a text feed that only
grew is read from where the last load ended, a database from its incremental column's cursor

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = ("source_bytes", "source_lines", "read_from_line")


def upgrade() -> None:
    with op.batch_alter_table("ingest_runs", schema=None) as batch_op:
        for name in COLUMNS:
            column_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
            batch_op.add_column(sa.Column(name, column_type, autoincrement=False, nullable=True))
        batch_op.add_column(sa.Column("source_cursor", sa.Text(), autoincrement=False,
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ingest_runs", schema=None) as batch_op:
        batch_op.drop_column("source_cursor")
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
