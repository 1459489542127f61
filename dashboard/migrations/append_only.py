"""Triggers that make a table append-only in the store itself (SQLite and PostgreSQL): evidence
such as the audit trail, the purge log and the dissemination log is never changed, by the
application or by a stray SQL client using its account. Shared by the migrations that create
such tables; a migration's behaviour must not change, so change these only with a new one."""

from __future__ import annotations

from alembic import op


def reject_updates_and_deletes(table_name: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE OR REPLACE FUNCTION reject_append_only_change() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
            END $$ LANGUAGE plpgsql""")
        op.execute(f"CREATE TRIGGER {table_name}_append_only BEFORE UPDATE OR DELETE ON "
                   f"{table_name} FOR EACH ROW EXECUTE FUNCTION reject_append_only_change()")
        op.execute(f"CREATE TRIGGER {table_name}_no_truncate BEFORE TRUNCATE ON {table_name} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION reject_append_only_change()")
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER {table_name}_no_{event.lower()} BEFORE {event} ON "
                   f"{table_name} BEGIN SELECT RAISE(ABORT, '{table_name} is append-only'); END")


def allow_updates_and_deletes(table_name: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table_name}_append_only ON {table_name}")
        op.execute(f"DROP TRIGGER IF EXISTS {table_name}_no_truncate ON {table_name}")
        return
    for event in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {table_name}_no_{event}")
