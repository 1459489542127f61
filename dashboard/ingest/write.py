"""Write canonical rows to the store inside the caller's transaction.

Rows are compared with the store by a hash of their canonical content: new rows are inserted,
changed rows replaced in place (same key), identical rows left alone, so re-ingesting an
unchanged feed writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
import sqlalchemy as sa

from dashboard.schema import TABLES, polars_schema
from dashboard.store import table as sql_table

INSERT_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class WriteCounts:
    inserted: int
    updated: int
    unchanged: int


def with_row_hash(frame: pl.DataFrame, table_name: str) -> pl.DataFrame:
    # Content = every canonical field the row carries (area fields of products included, so a
    # changed coverage counts as a change), not the bookkeeping columns.
    content = [field.name for field in TABLES[table_name].fields
               if field.name in frame.columns and field.name not in ("row_hash", "run_id")]
    # Polars' row hash is stable for a given Polars version; after an upgrade rows may be
    # rewritten once with identical content, which is harmless.
    hashed = frame.select(content).hash_rows(seed=0)
    return frame.with_columns(hashed.cast(pl.String).alias("row_hash"))


def records(frame: pl.DataFrame, table_name: str) -> list[dict[str, Any]]:
    """Rows shaped for a SQL insert: every stored column, canonical dtypes."""
    table = TABLES[table_name]
    # Autoincrement keys absent from the frame are left to the database.
    schema = pl.Schema({name: dtype for name, dtype in polars_schema(table).items()
                        if name in frame.columns or not table.field(name).autoincrement})
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in schema.items()
               if name not in frame.columns]
    return frame.with_columns(missing).select(
        [pl.col(name).cast(dtype) for name, dtype in schema.items()]
    ).to_dicts()


def insert_rows(connection: sa.Connection, table_name: str, frame: pl.DataFrame) -> None:
    if frame.is_empty():
        return
    statement = sql_table(table_name).insert()
    for start in range(0, frame.height, INSERT_BATCH_ROWS):
        connection.execute(statement, records(frame.slice(start, INSERT_BATCH_ROWS), table_name))


def delete_keys(connection: sa.Connection, table_name: str, keys: pl.DataFrame) -> None:
    """Delete the rows whose key columns equal those of ``keys``."""
    if keys.is_empty():
        return
    table = sql_table(table_name)
    condition = sa.and_(*[table.c[name] == sa.bindparam(f"key_{name}") for name in keys.columns])
    rows = keys.rename(lambda name: f"key_{name}").to_dicts()
    connection.execute(table.delete().where(condition), rows)


def existing_hashes(connection: sa.Connection, table_name: str, center_id: str,
                    key: str) -> pl.DataFrame:
    table = sql_table(table_name)
    query = sa.select(table.c[key], table.c.row_hash).where(table.c.center_id == center_id)
    rows = connection.execute(query).all()
    return pl.DataFrame(rows, schema={key: pl.String, "stored_hash": pl.String}, orient="row")


def upsert(connection: sa.Connection, table_name: str, frame: pl.DataFrame, center_id: str,
           run_id: int) -> tuple[WriteCounts, pl.DataFrame]:
    """Insert new and replace changed rows of one center; returns counts and the written rows."""
    key = next(name for name in TABLES[table_name].primary_key if name != "center_id")
    frame = with_row_hash(frame, table_name)
    stored = existing_hashes(connection, table_name, center_id, key)
    compared = frame.join(stored, on=key, how="left")
    is_new = pl.col("stored_hash").is_null()
    is_changed = ~is_new & (pl.col("stored_hash") != pl.col("row_hash"))
    new_rows = compared.filter(is_new).drop("stored_hash")
    changed_rows = compared.filter(is_changed).drop("stored_hash")
    written = pl.concat([new_rows, changed_rows]).with_columns(pl.lit(run_id).alias("run_id"))
    delete_keys(connection, table_name, changed_rows.select("center_id", key))
    insert_rows(connection, table_name, written)
    counts = WriteCounts(
        inserted=new_rows.height,
        updated=changed_rows.height,
        unchanged=frame.height - new_rows.height - changed_rows.height,
    )
    return counts, written


def replace_rows(connection: sa.Connection, table_name: str, frame: pl.DataFrame) -> None:
    """Make a whole reference table equal to ``frame`` (used for config-derived tables)."""
    connection.execute(sql_table(table_name).delete())
    insert_rows(connection, table_name, frame)
