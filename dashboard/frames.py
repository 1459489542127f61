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
    return frame.with_columns(as_schema_dtype(pl.col(name), frame.schema[name], schema[name])
                              for name in names)


def as_schema_dtype(column: pl.Expr, actual: pl.DataType, wanted: pl.DataType) -> pl.Expr:
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
                           "latitude", "longitude", "geo_flag", "county_source", "tlp",
                           "recipients"]
        flagged = read_frame(connection, "incidents", flagged_columns,
                             where=incidents.c.geo_flag.is_not(None))
        links = read_frame(connection, "incident_links")
        link_ends = read_frame(
            connection, "incidents", ["center_id", "incident_id", "category", "occurred_at",
                                      "county_fips", "tlp", "recipients"],
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


INCIDENT_PICTURE_COLUMNS = (
    "center_id", "incident_id", "occurred_at", "reported_at", "category", "county_fips",
    "latitude", "longitude", "sar_behavior", "target_sector", "severity", "tlp", "recipients",
    "geo_flag",
)
SAR_CATEGORY = "sar_analysis"


@dataclass(frozen=True)
class PictureFrames:
    """The analytic tables every page reads, loaded once per data version.

    ``incidents`` carries no narrative (untrusted, large, and shown only for a few points):
    :func:`load_narratives` fetches those on demand. A cross-center duplicate has
    ``is_duplicate`` and names the report it repeats in ``duplicate_of_center_id`` /
    ``duplicate_of_incident_id``.
    """

    incidents: pl.DataFrame
    products: pl.DataFrame  # with covered_counties: every county the product's area includes
    regions: pl.DataFrame
    centers: pl.DataFrame
    center_aor: pl.DataFrame
    quarantine_rows: int
    data_version: int


def load_picture_frames(engine: sa.Engine, timezone: str) -> PictureFrames:
    """Canonical tables -> analysis-ready frames (dates in ``timezone``, duplicates flagged)."""
    with engine.connect() as connection:
        version = data_version_of(connection)
        incidents = read_frame(connection, "incidents", INCIDENT_PICTURE_COLUMNS)
        # The original each duplicate repeats: the Centers page pairs reports across centers.
        links = read_frame(connection, "incident_links", [
            "center_id", "incident_id", "duplicate_of_center_id", "duplicate_of_incident_id"])
        products = read_frame(connection, "products", [
            "center_id", "product_id", "title", "product_type", "published_at", "topics",
            "audience", "tlp", "recipients", "summary"])
        coverage = read_frame(connection, "product_coverage")
        regions = read_frame(connection, "regions")
        centers = read_frame(connection, "centers")
        center_aor = read_frame(connection, "center_aor")
        quarantine_rows = int(connection.execute(
            sa.select(sa.func.count()).select_from(sql_table("quarantine"))).scalar_one())
    incidents = incidents.join(links, on=["center_id", "incident_id"], how="left").join(
        regions.select("county_fips", "region_id"), on="county_fips", how="left")
    incidents = incidents.with_columns(
        pl.col("duplicate_of_incident_id").is_not_null().alias("is_duplicate"),
        pl.col("occurred_at").dt.convert_time_zone(timezone).dt.date().alias("occurred_date"),
        ((pl.col("category") == SAR_CATEGORY) | pl.col("sar_behavior").is_not_null())
        .alias("is_sar"),
    )
    return PictureFrames(
        incidents=incidents,
        products=_with_covered_counties(products, coverage, regions, timezone),
        regions=regions,
        centers=centers,
        center_aor=center_aor,
        quarantine_rows=quarantine_rows,
        data_version=version,
    )


def _with_covered_counties(products: pl.DataFrame, coverage: pl.DataFrame,
                           regions: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Each product's area as the list of counties it covers (statewide = every county)."""
    all_counties = regions.select("county_fips")
    by_county = coverage.filter(pl.col("scope") == "county").select(
        "center_id", "product_id", pl.col("area_id").alias("county_fips"))
    by_region = coverage.filter(pl.col("scope") == "region").join(
        regions.select("county_fips", "region_id"), left_on="area_id", right_on="region_id"
    ).select("center_id", "product_id", "county_fips")
    statewide = coverage.filter(pl.col("scope") == "statewide").select(
        "center_id", "product_id").join(all_counties, how="cross")
    covered = pl.concat([by_county, by_region, statewide]).unique().group_by(
        "center_id", "product_id").agg(pl.col("county_fips").sort().alias("covered_counties"))
    statewide_keys = coverage.filter(pl.col("scope") == "statewide").select(
        "center_id", "product_id").with_columns(pl.lit(True).alias("statewide"))
    return products.join(covered, on=["center_id", "product_id"], how="left").join(
        statewide_keys.unique(), on=["center_id", "product_id"], how="left"
    ).with_columns(
        pl.col("covered_counties").fill_null([]),
        pl.col("statewide").fill_null(False),
        pl.col("published_at").dt.convert_time_zone(timezone).dt.date().alias("published_date"),
    )


def load_narratives(engine: sa.Engine, keys: pl.DataFrame) -> pl.DataFrame:
    """Narratives of a few incidents (center_id, incident_id), for popups and detail views."""
    if keys.is_empty():
        return pl.DataFrame(schema={"center_id": pl.String, "incident_id": pl.String,
                                    "narrative": pl.String})
    incidents = sql_table("incidents")
    wanted = [tuple(row) for row in keys.select("center_id", "incident_id").iter_rows()]
    return read_frame(engine, "incidents", ["center_id", "incident_id", "narrative"],
                      where=sa.tuple_(incidents.c.center_id, incidents.c.incident_id).in_(wanted))
