"""Alembic environment: migrations run on the connection the store hands over.

New revisions are generated against ``dashboard.schema.METADATA`` (the one schema), e.g.
``alembic -x ... revision --autogenerate`` through ``dashboard.store.alembic_config``; a test
checks that upgrading an empty store to head yields exactly that metadata.
"""

from __future__ import annotations

from alembic import context

from dashboard.schema import METADATA

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through dashboard.store.migrate(engine)")

context.configure(
    connection=connection,
    target_metadata=METADATA,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
