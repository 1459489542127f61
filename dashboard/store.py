"""The SQL store: engine, migrations, and the data-version token the caches key on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from dashboard.schema import METADATA

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000


class StoreError(RuntimeError):
    """The store cannot be opened or is not at the expected schema version."""


def make_engine(url: str) -> sa.Engine:
    """An engine for the store; SQLite gets WAL and a busy timeout so readers never block
    an ingest and an ingest never breaks a reader."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction, committed at the end of the block (rolled back on an error).

    On SQLite it takes the write lock at its start (BEGIN IMMEDIATE, waiting up to the busy
    timeout): a transaction that read first and wrote later could find another writer's commit
    in between and fail with "database is locked" at once, whatever the busy timeout. Keep the
    block short: every other writer (audit rows, sign-ins) waits while it runs.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield connection


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def migrate(engine: sa.Engine) -> None:
    """Bring the store to the newest schema version (creates it when empty)."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")


def head_revision() -> str:
    """The newest migration shipped with this version."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def schema_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def open_store(url: str) -> sa.Engine:
    """Engine for an existing or new store, migrated to the current schema."""
    try:
        engine = make_engine(url)
        migrate(engine)
    except sa.exc.SQLAlchemyError as error:
        raise StoreError(f"store {make_url(url).render_as_string(hide_password=True)}: "
                         f"{error.__class__.__name__}: {str(error).splitlines()[0]}") from error
    return engine


def table(name: str) -> sa.Table:
    return METADATA.tables[name]


def data_version_query() -> sa.Select[int]:
    """The data version: the id of the last ingest run that loaded rows or failed (0 before
    any); a failed run changes what Data health shows, so it counts too."""
    runs = table("ingest_runs")
    return sa.select(sa.func.coalesce(sa.func.max(runs.c.run_id), 0)).where(
        runs.c.status.in_(("loaded", "failed"))
    )


def data_version(engine: sa.Engine | sa.Connection) -> int:
    """Changes whenever an ingest wrote something (or a source failed): the id of the last
    such run."""
    query = data_version_query()
    if isinstance(engine, sa.Connection):
        return int(engine.execute(query).scalar_one())
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def table_row_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            name: int(connection.execute(sa.select(sa.func.count()).select_from(tbl)).scalar_one())
            for name, tbl in METADATA.tables.items()
        }
