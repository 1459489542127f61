"""Canonical tables -> Polars frames with the schema's dtypes."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import sqlalchemy as sa

from dashboard.schema import polars_schema
from dashboard.store import table as sql_table


def read_frame(
    connection: sa.Connection | sa.Engine,
    table_name: str,
    columns: Sequence[str] | None = None,
    where: sa.ColumnElement[bool] | None = None,
) -> pl.DataFrame:
    """Rows of one canonical table (optionally some columns / rows), typed by the schema."""
    table = sql_table(table_name)
    schema = polars_schema(table_name)
    names = list(columns) if columns is not None else list(schema)
    query = sa.select(*[table.c[name] for name in names])
    if where is not None:
        query = query.where(where)
    if isinstance(connection, sa.Engine):
        with connection.connect() as opened:
            rows = opened.execute(query).all()
    else:
        rows = connection.execute(query).all()
    if not rows:
        return pl.DataFrame(schema={name: schema[name] for name in names})
    frame = pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
    return frame.with_columns(_as_schema_dtype(pl.col(name), frame.schema[name], schema[name])
                              for name in names)


def _as_schema_dtype(column: pl.Expr, actual: pl.DataType, wanted: pl.DataType) -> pl.Expr:
    if isinstance(wanted, pl.Datetime) and isinstance(actual, pl.Datetime):
        # SQLite hands back naive datetimes, PostgreSQL aware ones; every stored time is UTC.
        if actual.time_zone is None:
            return column.dt.replace_time_zone("UTC")
        return column.dt.convert_time_zone("UTC")
    return column.cast(wanted)
