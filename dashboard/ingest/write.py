"""Write canonical rows to the store inside the caller's transaction (one source's).

Rows are compared with the store by a hash of their canonical content: new rows are inserted,
changed rows replaced in place (same key), identical rows left alone, so re-ingesting an
unchanged feed writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import polars as pl
import sqlalchemy as sa

from dashboard.frames import as_schema_dtype
from dashboard.schema import TABLES, polars_schema
from dashboard.store import table as sql_table

INSERT_BATCH_ROWS = 50_000
# SQLite page cache while an ingest writes (KiB): the index B-trees of a few million rows stay
# in memory instead of being re-read from disk for every insert.
SQLITE_INGEST_CACHE_KIB = 262_144
# A table receiving at least this many rows, and more than it already holds, has its secondary
# indexes rebuilt once at the end of the run instead of updated row by row.
DEFERRED_INDEX_MIN_ROWS = 50_000
# Up to this many rows given, their stored versions are looked up by key (an append of a few
# rows costs a few reads); more, and the center's stored rows are read in one scan.
KEYED_LOOKUP_MAX_ROWS = 50_000
KEYS_PER_LOOKUP = 500
# Bookkeeping the store keeps about a row, not part of what the feed said about it.
BOOKKEEPING = ("row_hash", "run_id", "entered_at", "review_by")


@dataclass(frozen=True)
class WriteCounts:
    inserted: int
    updated: int
    unchanged: int  # identical to the store, or purged at review (neither is written)


def with_row_hash(frame: pl.DataFrame, table_name: str) -> pl.DataFrame:
    # Content = every canonical field the row carries (area fields of products included, so a
    # changed coverage counts as a change), not the bookkeeping columns.
    content = [field.name for field in TABLES[table_name].fields
               if field.name in frame.columns and field.name not in BOOKKEEPING]
    # Polars' row hash is stable for a given Polars version; after an upgrade rows may be
    # rewritten once with identical content, which is harmless.
    hashed = frame.select(content).hash_rows(seed=0)
    return frame.with_columns(hashed.cast(pl.String).alias("row_hash"))


def stored_columns(frame: pl.DataFrame, table_name: str) -> pl.Schema:
    """The columns an insert of ``frame`` writes: every stored column, except autoincrement
    keys the frame lacks (the database assigns those)."""
    table = TABLES[table_name]
    return pl.Schema({name: dtype for name, dtype in polars_schema(table).items()
                      if name in frame.columns or not table.field(name).autoincrement})


def _driver_value(name: str, dtype: pl.DataType, present: bool, dialect: str) -> pl.Expr:
    """One column as the database driver takes it without per-value Python conversion."""
    column = pl.col(name).cast(dtype) if present else pl.lit(None, dtype)
    if isinstance(dtype, pl.List):
        # JSON text, as SQLAlchemy's JSON type stores it (read back with json.loads).
        encoded = pl.struct(column.alias("v")).struct.json_encode().str.slice(5).str.head(-1)
        return pl.when(column.is_null()).then(None).otherwise(encoded).alias(name)
    if dialect == "sqlite" and isinstance(dtype, pl.Datetime):
        # SQLAlchemy's SQLite DateTime storage format; every stored time is UTC.
        text = column.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S.%6f")
        return text.alias(name)
    if dialect == "sqlite" and isinstance(dtype, pl.Boolean):
        return column.cast(pl.Int8).alias(name)
    return column.alias(name)


def insert_rows(connection: sa.Connection, table_name: str, frame: pl.DataFrame) -> None:
    """Bulk insert through the driver: SQLite executemany of plain tuples, PostgreSQL COPY.
    SQLAlchemy's per-value parameter processing would cost most of an ingest's time."""
    if frame.is_empty():
        return
    dialect = connection.dialect.name
    schema = stored_columns(frame, table_name)
    rows = frame.select(_driver_value(name, dtype, name in frame.columns, dialect)
                        for name, dtype in schema.items())
    names = ", ".join(schema)
    if dialect == "postgresql":
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table_name} ({names}) FROM STDIN") as copy:
            for row in rows.iter_rows():
                copy.write_row(row)
        return
    if dialect != "sqlite":
        connection.execute(sql_table(table_name).insert(), rows.to_dicts())
        return
    marks = ", ".join("?" * len(schema))
    statement = f"INSERT INTO {table_name} ({names}) VALUES ({marks})"
    for start in range(0, rows.height, INSERT_BATCH_ROWS):
        connection.exec_driver_sql(statement, rows.slice(start, INSERT_BATCH_ROWS).rows())


def delete_keys(connection: sa.Connection, table_name: str, keys: pl.DataFrame) -> None:
    """Delete the rows whose key columns equal those of ``keys``."""
    if keys.is_empty():
        return
    table = sql_table(table_name)
    condition = sa.and_(*[table.c[name] == sa.bindparam(f"key_{name}") for name in keys.columns])
    rows = keys.rename(lambda name: f"key_{name}").to_dicts()
    connection.execute(table.delete().where(condition), rows)


def _key_chunks(keys: pl.Series) -> list[list[object]]:
    unique = keys.unique().to_list()
    return [unique[start:start + KEYS_PER_LOOKUP]
            for start in range(0, len(unique), KEYS_PER_LOOKUP)]


def existing_hashes(connection: sa.Connection, table_name: str, center_id: str,
                    key: str, keys: pl.Series | None = None) -> pl.DataFrame:
    """Key, hash and review dates of a center's stored rows (only those with ``keys``, when
    given and few)."""
    table = sql_table(table_name)
    query = sa.select(table.c[key], table.c.row_hash, table.c.entered_at,
                      table.c.review_by).where(table.c.center_id == center_id)
    if keys is not None and keys.len() <= KEYED_LOOKUP_MAX_ROWS:
        rows = [row for chunk in _key_chunks(keys)
                for row in connection.execute(query.where(table.c[key].in_(chunk))).all()]
    else:
        rows = list(connection.execute(query).all())
    names = [key, "stored_hash", "stored_entered_at", "stored_review_by"]
    frame = pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
    wanted = [pl.String(), pl.String(), pl.Datetime("us", "UTC"), pl.Datetime("us", "UTC")]
    return frame.with_columns(as_schema_dtype(pl.col(name), frame.schema[name], dtype)
                              for name, dtype in zip(names, wanted, strict=True))


def stored_keys_from_source(connection: sa.Connection, table_name: str, center_id: str,
                            source_name: str, keys: pl.Series) -> list[str]:
    """Those of ``keys`` stored for this center by a run of this source."""
    table, runs = sql_table(table_name), sql_table("ingest_runs")
    key = next(name for name in TABLES[table_name].primary_key if name != "center_id")
    query = (sa.select(table.c[key]).join(runs, runs.c.run_id == table.c.run_id)
             .where(table.c.center_id == center_id, runs.c.source_name == source_name))
    return [value for chunk in _key_chunks(keys.drop_nulls())
            for value in connection.execute(query.where(table.c[key].in_(chunk))).scalars()]


def purged_keys(connection: sa.Connection, table_name: str, center_id: str) -> list[str]:
    """Ids of this center's records purged at review: a feed that still carries them must not
    bring them back."""
    log = sql_table("purge_log")
    query = sa.select(log.c.record_id).where(log.c.table_name == table_name,
                                             log.c.center_id == center_id)
    return list(connection.execute(query).scalars())


class BulkLoad:
    """How one ingest run writes a lot of rows fast, inside its transaction.

    SQLite gets a large page cache, and a table that receives more rows than it holds has its
    secondary indexes dropped and rebuilt once in :meth:`finish` (one sort per index instead of
    a B-tree update per row: about twice as fast at a million rows). WAL readers keep reading
    the last committed state, indexes included, meanwhile; a failed run rolls the drop back.
    PostgreSQL keeps its indexes (dropping one would lock readers out until the run commits);
    its statistics are refreshed after a large load.
    """

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self.sqlite = connection.dialect.name == "sqlite"
        self.deferred: dict[str, list[str]] = {}
        self.rows = 0
        self._cache_size: int | None = None
        if self.sqlite:
            self._cache_size = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
            connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_INGEST_CACHE_KIB}")

    def before_insert(self, table_name: str, rows: int) -> None:
        """Called before ``rows`` rows go into ``table_name``."""
        self.rows += rows
        if not self.sqlite or table_name in self.deferred or rows < DEFERRED_INDEX_MIN_ROWS:
            return
        held = self.connection.execute(
            sa.select(sa.func.count()).select_from(sql_table(table_name))).scalar_one()
        if rows <= held:
            return
        indexes = self.connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL ORDER BY name", (table_name,)).all()
        for name, _ in indexes:
            self.connection.exec_driver_sql(f'DROP INDEX "{name}"')
        self.deferred[table_name] = [sql for _, sql in indexes]

    def finish(self) -> None:
        """Rebuild the deferred indexes exactly as they were (still inside the run); after a
        large load into PostgreSQL, refresh the planner's statistics, or the first queries
        after it plan for the tables as they were (a full scan where an index serves)."""
        for statements in self.deferred.values():
            for statement in statements:
                self.connection.exec_driver_sql(statement)
        self.deferred.clear()
        if self.connection.dialect.name == "postgresql" and self.rows >= DEFERRED_INDEX_MIN_ROWS:
            self.connection.exec_driver_sql(
                "ANALYZE incidents, products, incident_links, product_coverage")
        self.restore()

    def restore(self) -> None:
        """Give the connection its own page cache size back (also after a failed run)."""
        if self._cache_size is not None:
            self.connection.exec_driver_sql(f"PRAGMA cache_size={self._cache_size}")
            self._cache_size = None


def upsert(connection: sa.Connection, table_name: str, frame: pl.DataFrame, center_id: str,
           run_id: int, entered_at: datetime, review_by: datetime,
           bulk: BulkLoad | None = None,
           before_replace: Callable[[pl.DataFrame], None] | None = None,
           ) -> tuple[WriteCounts, pl.DataFrame]:
    """Insert new and replace changed rows of one center; returns counts and the written rows.

    New rows enter now with the review date given; a changed row keeps the dates it entered
    with (an update is not a revalidation). Rows purged at review are never written again
    (counted as unchanged, so inserted + updated + unchanged = rows given).
    ``before_replace`` gets the keys (center_id and id) of the changed rows while their
    stored versions are still there.
    """
    key = next(name for name in TABLES[table_name].primary_key if name != "center_id")
    given = frame.height
    frame = with_row_hash(frame, table_name)
    purged = purged_keys(connection, table_name, center_id)
    if purged:
        frame = frame.filter(~pl.col(key).is_in(purged))
    stored = existing_hashes(connection, table_name, center_id, key, frame[key])
    compared = frame.join(stored, on=key, how="left")
    is_new = pl.col("stored_hash").is_null()
    is_changed = ~is_new & (pl.col("stored_hash") != pl.col("row_hash"))
    stored_columns = ["stored_hash", "stored_entered_at", "stored_review_by"]
    new_rows = compared.filter(is_new).drop(stored_columns).with_columns(
        pl.lit(entered_at).dt.convert_time_zone("UTC").alias("entered_at"),
        pl.lit(review_by).dt.convert_time_zone("UTC").alias("review_by"))
    changed_rows = compared.filter(is_changed).drop("stored_hash").rename(
        {"stored_entered_at": "entered_at", "stored_review_by": "review_by"})
    written = pl.concat([new_rows, changed_rows.select(new_rows.columns)]).with_columns(
        pl.lit(run_id).alias("run_id"))
    if before_replace is not None:
        before_replace(changed_rows.select("center_id", key))
    delete_keys(connection, table_name, changed_rows.select("center_id", key))
    if bulk is not None:
        bulk.before_insert(table_name, written.height)
    insert_rows(connection, table_name, written)
    counts = WriteCounts(
        inserted=new_rows.height,
        updated=changed_rows.height,
        unchanged=given - new_rows.height - changed_rows.height,
    )
    return counts, written


def replace_rows(connection: sa.Connection, table_name: str, frame: pl.DataFrame) -> None:
    """Make a whole reference table equal to ``frame`` (used for config-derived tables)."""
    connection.execute(sql_table(table_name).delete())
    insert_rows(connection, table_name, frame)
