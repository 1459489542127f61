"""The SQL store: engine, migrations, and the data-version token the caches key on."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from dashboard.schema import METADATA

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000

# What users write while they work: accounts (sign-ins), the audit trail (every page view), the
# dissemination log (briefings, alert deliveries) and alert subscriptions with their inbox. On
# an embedded SQLite store these live in a second file beside the picture's
# (``store.sqlite`` -> ``store-operations.sqlite``): SQLite has one write
# lock per file, and an ingest holds the picture file's for seconds while it commits a large
# source, so a page view or sign-in writing to the same file would wait behind it. Both files
# carry the same schema (the same migrations); each table is used in one of them. On
# PostgreSQL, with row locks, everything stays in one database.
OPERATIONS_TABLES = frozenset({"users", "audit_log", "disseminations", "alert_rules", "alerts"})
OPERATIONS_SUFFIX = "-operations"
_operations_engines: dict[str, sa.Engine] = {}
_operations_lock = threading.Lock()
_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")


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


def operations_url(url: str | sa.URL) -> sa.URL | None:
    """The operations file of an embedded SQLite store; None where the store keeps the
    operations tables itself (PostgreSQL, in-memory SQLite, or ``url`` is already one)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" \
            or database.startswith("file:"):
        return None
    path = Path(database)
    if path.stem.endswith(OPERATIONS_SUFFIX):
        return None
    return parsed.set(database=str(path.with_name(f"{path.stem}{OPERATIONS_SUFFIX}{path.suffix}")))


def operations_engine(engine: sa.Engine) -> sa.Engine:
    """Where the OPERATIONS_TABLES (accounts, audit trail, dissemination log, alert rules and
    alerts) are read and written for the store behind ``engine``: its operations file on
    embedded SQLite (migrated, and on first use filled with the accounts and trail an older
    single-file store kept), else ``engine`` itself. One engine per file and process."""
    url = operations_url(engine.url)
    if url is None:
        return engine
    key = url.render_as_string(hide_password=False)
    with _operations_lock:
        operations = _operations_engines.get(key)
        if operations is None:
            operations = make_engine(key)
            migrate(operations)
            _adopt_single_file_operations(operations, engine)
            _operations_engines[key] = operations
    return operations


def on_operations(function: Callable[Concatenate[sa.Engine, _Params], _Result]
                  ) -> Callable[Concatenate[sa.Engine, _Params], _Result]:
    """For a function whose first argument is the store's engine and which reads or writes
    only operations tables: it runs on the operations engine (see OPERATIONS_TABLES)."""
    @functools.wraps(function)
    def on_operations_engine(engine: sa.Engine, /, *args: _Params.args,
                             **kwargs: _Params.kwargs) -> _Result:
        return function(operations_engine(engine), *args, **kwargs)
    return on_operations_engine


def _adopt_single_file_operations(operations: sa.Engine, picture: sa.Engine) -> None:
    """Copy accounts, audit trail and dissemination log from a store made before the
    operations file existed, once (while the new file is empty), and clear the password
    hashes left in the picture file. The old audit and dissemination rows stay where they
    were too: those tables refuse deletes."""
    picture_path = picture.url.database
    if not picture_path or not Path(picture_path).exists():
        return
    # SQLite attaches and detaches only outside a transaction: the DB-API connection in
    # autocommit mode, the copy in one explicit write transaction of both files.
    raw = operations.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        driver.isolation_level = None
        cursor = driver.cursor()
        cursor.execute("ATTACH DATABASE ? AS single_file", (picture_path,))
        try:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                present = {row[0] for row in cursor.execute(
                    "SELECT name FROM single_file.sqlite_master WHERE type = 'table'")}
                copied = sorted(OPERATIONS_TABLES & present)
                if not any(cursor.execute(f'SELECT count(*) FROM main."{name}"').fetchone()[0]
                           for name in copied):
                    for name in copied:
                        columns = ", ".join(f'"{column.name}"' for column in table(name).columns)
                        cursor.execute(f'INSERT INTO main."{name}" ({columns}) '
                                       f'SELECT {columns} FROM single_file."{name}"')
                    if "users" in present:
                        cursor.execute("DELETE FROM single_file.users")
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        finally:
            cursor.execute("DETACH DATABASE single_file")
            cursor.close()
            driver.isolation_level = ""
    finally:
        raw.close()


def data_version_query() -> sa.Select[int]:
    """The data version: the id of the last ingest run that loaded rows or failed (0 before
    any); a failed run changes what Data health shows, so it counts too."""
    runs = table("ingest_runs")
    return sa.select(sa.func.coalesce(sa.func.max(runs.c.run_id), 0)).where(
        runs.c.status.in_(("loaded", "failed"))
    )


def bundles_received(engine: sa.Engine) -> int:
    """Network bundle import attempts so far: a rejected one changes what Data health shows
    but not the data version."""
    with engine.connect() as connection:
        return int(connection.execute(
            sa.select(sa.func.count()).select_from(table("network_bundles"))).scalar_one())


def data_version(engine: sa.Engine | sa.Connection) -> int:
    """Changes whenever an ingest wrote something (or a source failed): the id of the last
    such run."""
    query = data_version_query()
    if isinstance(engine, sa.Connection):
        return int(engine.execute(query).scalar_one())
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def table_row_counts(engine: sa.Engine) -> dict[str, int]:
    """Rows per table, each counted where it lives."""
    operations = operations_engine(engine)
    counts: dict[str, int] = {}
    for name, tbl in METADATA.tables.items():
        with (operations if name in OPERATIONS_TABLES else engine).connect() as connection:
            counts[name] = int(connection.execute(
                sa.select(sa.func.count()).select_from(tbl)).scalar_one())
    return counts
