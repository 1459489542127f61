"""Canonical tables -> Polars frames with the schema's dtypes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from dashboard.schema import polars_schema
from dashboard.store import data_version as data_version_of
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


@dataclass(frozen=True)
class HealthFrames:
    """What the Data health page and `status` need: small aggregates, not the big tables."""

    rows_per_center: pl.DataFrame  # center_id, table_name, rows
    centers: pl.DataFrame
    runs: pl.DataFrame
    quarantine: pl.DataFrame
    flagged: pl.DataFrame  # incidents with a geo_flag
    links: pl.DataFrame  # incident_links joined to both reports' category and time
    data_version: int


def load_health_frames(engine: sa.Engine) -> HealthFrames:
    incidents, products = sql_table("incidents"), sql_table("products")
    per_center = [
        sa.select(tbl.c.center_id, sa.literal(name).label("table_name"),
                  sa.func.count().label("rows")).group_by(tbl.c.center_id)
        for name, tbl in (("incidents", incidents), ("products", products))
    ]
    with engine.connect() as connection:
        counts = connection.execute(sa.union_all(*per_center)).all()
        flagged_columns = ["center_id", "incident_id", "occurred_at", "category", "county_fips",
                           "latitude", "longitude", "geo_flag", "county_source"]
        flagged = read_frame(connection, "incidents", flagged_columns,
                             where=incidents.c.geo_flag.is_not(None))
        links = read_frame(connection, "incident_links")
        link_ends = read_frame(
            connection, "incidents", ["center_id", "incident_id", "category", "occurred_at",
                                      "county_fips"],
            where=sa.tuple_(incidents.c.center_id, incidents.c.incident_id).in_(
                sa.select(sql_table("incident_links").c.center_id,
                          sql_table("incident_links").c.incident_id)
            ),
        )
        frames = HealthFrames(
            rows_per_center=pl.DataFrame(counts, schema={"center_id": pl.String,
                                                         "table_name": pl.String,
                                                         "rows": pl.Int64}, orient="row"),
            centers=read_frame(connection, "centers"),
            runs=read_frame(connection, "ingest_runs"),
            quarantine=read_frame(connection, "quarantine"),
            flagged=flagged,
            links=links.join(link_ends, on=["center_id", "incident_id"], how="left"),
            data_version=data_version_of(connection),
        )
    return frames
