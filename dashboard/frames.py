"""Canonical tables -> Polars frames with the schema's dtypes.

The picture frames (a million incidents and more) are read as Arrow columns in one snapshot of
the store where a columnar reader serves it (:mod:`dashboard.columnar`); every other read, and
the fallback, goes through SQLAlchemy, with SQLite's raw values (stored text of times and
lists, 0/1 booleans) converted by Polars a column at a time rather than by Python per value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import sqlalchemy as sa

from dashboard.columnar import read_snapshot
from dashboard.schema import derived_schema, polars_schema
from dashboard.store import data_version as data_version_of
from dashboard.store import data_version_query
from dashboard.store import table as sql_table

# How SQLAlchemy (and dashboard.ingest.write) store a DateTime in SQLite: UTC, no offset.
SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S%.f"


def read_frame(
    connection: sa.Connection | sa.Engine,
    table_name: str,
    columns: Sequence[str] | None = None,
    where: sa.ColumnElement[bool] | None = None,
) -> pl.DataFrame:
    """Rows of one canonical table (optionally some columns / rows), typed by the schema."""
    table = sql_table(table_name)
    wanted = _wanted(table_name, columns)
    query = _select(table_name, wanted)
    if where is not None:
        query = query.where(where)
    if isinstance(connection, sa.Engine):
        with connection.connect() as opened:
            return _read_rows(opened, table, query, wanted)
    return _read_rows(connection, table, query, wanted)


def read_committed(engine: sa.Engine, table_name: str, columns: Sequence[str]
                   ) -> pl.DataFrame | None:
    """A table's columns as last committed, through the columnar reader (another connection:
    not what an open transaction of this process wrote); None when no columnar reader serves
    the store."""
    wanted = _wanted(table_name, columns)
    arrow = read_snapshot(engine, {table_name: _select(table_name, wanted)})
    if arrow is None:
        return None
    try:
        return to_schema(pl.DataFrame(arrow.pop(table_name)), wanted)
    except (pl.exceptions.PolarsError, ValueError, TypeError):
        return None


def _wanted(table_name: str, columns: Sequence[str] | None) -> pl.Schema:
    schema = polars_schema(table_name)
    names = list(columns) if columns is not None else list(schema)
    return pl.Schema({name: schema[name] for name in names})


def _select(table_name: str, wanted: pl.Schema) -> sa.Select[Any]:
    table = sql_table(table_name)
    return sa.select(*[table.c[name] for name in wanted])


def _read_rows(connection: sa.Connection, table: sa.Table, query: sa.Select[Any],
               wanted: pl.Schema) -> pl.DataFrame:
    if connection.dialect.name != "sqlite":
        return _frame_of_rows(connection.execute(query).all(), wanted)
    # SQLite: the stored text of times and lists and the 0/1 of booleans, straight from the
    # driver; Polars parses them a column at a time (SQLAlchemy would, a value at a time).
    raw = sa.select(*[sa.type_coerce(table.c[name], _raw_sqlite_type(dtype)).label(name)
                      for name, dtype in wanted.items()])
    if query.whereclause is not None:
        raw = raw.where(query.whereclause)
    result = connection.execute(raw)
    try:
        rows = result.cursor.fetchall()  # plain tuples: no Row object per row
    finally:
        result.close()
    try:
        frame = pl.DataFrame(rows, schema={name: _raw_polars_type(dtype)
                                           for name, dtype in wanted.items()}, orient="row")
        return to_schema(frame, wanted)
    except (pl.exceptions.PolarsError, ValueError, TypeError):
        # A value stored in another form than this code writes: SQLAlchemy's typed rows.
        return _frame_of_rows(connection.execute(query).all(), wanted)


def _raw_sqlite_type(dtype: pl.DataType) -> sa.types.TypeEngine[Any]:
    if isinstance(dtype, pl.Datetime | pl.List):
        return sa.Text()
    if isinstance(dtype, pl.Boolean):
        return sa.Integer()
    return sa.types.NullType()


def _raw_polars_type(dtype: pl.DataType) -> pl.DataType:
    if isinstance(dtype, pl.Datetime | pl.List):
        return pl.String()
    if isinstance(dtype, pl.Boolean):
        return pl.Int64()
    return dtype


def _frame_of_rows(rows: Sequence[Any], wanted: pl.Schema) -> pl.DataFrame:
    """Typed rows as the driver and SQLAlchemy return them -> the schema's dtypes."""
    if not rows:
        return pl.DataFrame(schema=wanted)
    frame = pl.DataFrame(rows, schema=list(wanted), orient="row", infer_schema_length=None)
    return frame.with_columns(as_schema_dtype(pl.col(name), frame.schema[name], dtype)
                              for name, dtype in wanted.items())


def as_schema_dtype(column: pl.Expr, actual: pl.DataType, wanted: pl.DataType) -> pl.Expr:
    if isinstance(wanted, pl.Datetime) and isinstance(actual, pl.Datetime):
        # SQLite hands back naive datetimes, PostgreSQL aware ones; every stored time is UTC.
        if actual.time_zone is None:
            return column.dt.replace_time_zone("UTC")
        return column.dt.convert_time_zone("UTC")
    return column.cast(wanted)


def to_schema(frame: pl.DataFrame, wanted: pl.Schema) -> pl.DataFrame:
    """Columns as a driver delivers them column-wise (times and lists possibly as stored text,
    booleans as 0/1, an all-null column of any type) -> the schema's dtypes. Raises on a
    value that does not parse, so the caller can take the row-wise path."""
    if frame.height == 0:
        # (Literal columns alone would make a one-row frame.)
        return pl.DataFrame(schema=wanted)
    columns = []
    for name, dtype in wanted.items():
        actual = frame.schema[name]
        column = pl.col(name)
        if frame[name].null_count() == frame.height:
            columns.append(pl.lit(None, dtype).alias(name))
        elif isinstance(dtype, pl.Datetime) and actual == pl.String:
            columns.append(column.str.to_datetime(SQLITE_DATETIME_FORMAT, time_unit="us",
                                                  time_zone="UTC", strict=True).alias(name))
        elif isinstance(dtype, pl.List) and actual == pl.String:
            columns.append(column.str.json_decode(dtype).alias(name))
        else:
            columns.append(as_schema_dtype(column, actual, dtype).alias(name))
    return frame.select(columns)


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
    # Network bundles received (issue 16): every import attempt, accepted or rejected.
    bundles: pl.DataFrame | None = None


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
            bundles=read_frame(connection, "network_bundles"),
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
    # Every user named as a recipient of a TLP:RED incident or product (see VisibilityClass).
    red_recipients: frozenset[str] = frozenset()


# The canonical tables the picture frames are built from, and the columns read of each.
PICTURE_TABLES: dict[str, Sequence[str] | None] = {
    "incidents": INCIDENT_PICTURE_COLUMNS,
    # The original each duplicate repeats: the Centers page pairs reports across centers.
    "incident_links": ("center_id", "incident_id", "duplicate_of_center_id",
                       "duplicate_of_incident_id"),
    "products": ("center_id", "product_id", "title", "product_type", "published_at", "topics",
                 "audience", "tlp", "recipients", "summary", "source_url"),
    "product_coverage": None, "regions": None, "centers": None, "center_aor": None,
}


# A network deployment's picture: the network tables, read with the canonical ones.
NETWORK_TABLES = ("network_counts", "network_coverage", "network_bundles")
# The product type of a member state's coverage, as a product (a network's taxonomy names it).
NETWORK_COVERAGE_TYPE = "network_coverage"


def network_rows(tables: Mapping[str, Any], incidents: pl.Schema, products: pl.Schema,
                 timezone: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """A network deployment's imported aggregates as rows the pages read, as the partner
    release is (``dashboard.security.audience``): each count as that many incidents of its
    sending state (``center_id``: its postal code in lower case), at noon local on its week's
    Sunday, with nothing but the cell's keys and its bundle's marking; each state's covered
    (county, topic) cells as one product per topic covering those counties, published on the
    day coverage was judged. Returns (incidents, products, product_coverage)."""
    counts = tables["network_counts"].join(
        tables["network_bundles"].select("bundle_id", "marking"), on="bundle_id", how="left")
    expanded = counts.with_columns(pl.int_ranges(0, pl.col("count")).alias("_each")).explode(
        "_each")
    state = pl.col("sending_state")
    rows = expanded.select(
        state.str.to_lowercase().alias("center_id"),
        pl.concat_str([state, "week_end", "county_fips", "category",
                       pl.col("sar_behavior").fill_null("-"), pl.col("_each").cast(pl.String)],
                      separator="-").alias("incident_id"),
        pl.col("week_end").str.to_date().cast(pl.Datetime("us")).dt.offset_by("12h")
        .dt.replace_time_zone(timezone).dt.convert_time_zone("UTC").alias("occurred_at"),
        "county_fips", "category", "sar_behavior", pl.col("marking").alias("tlp"))
    network_incidents = rows.select([
        (pl.col(name) if name in rows.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in incidents.items()])
    covered = tables["network_coverage"].filter(
        pl.col("covered") & (pl.col("scope") == "county")).join(
        tables["network_bundles"].select("bundle_id", "marking"), on="bundle_id", how="left")
    product_keys = [state.str.to_lowercase().alias("center_id"),
                    pl.concat_str([pl.lit("coverage"), state, "topic"], separator="-")
                    .alias("product_id")]
    by_topic = covered.group_by("sending_state", "topic").agg(
        pl.col("as_of").max(), pl.col("marking").first())
    built = by_topic.select(
        *product_keys,
        pl.format("{}: current products on {} (network coverage as of {})", state,
                  "topic", "as_of").alias("title"),
        pl.lit(NETWORK_COVERAGE_TYPE).alias("product_type"),
        pl.col("as_of").str.to_date().cast(pl.Datetime("us")).dt.offset_by("12h")
        .dt.replace_time_zone(timezone).dt.convert_time_zone("UTC").alias("published_at"),
        # Coverage travels under its bundle's marking, and is handled as such.
        pl.concat_list("topic").alias("topics"), pl.col("marking").alias("tlp"))
    network_products = built.select([
        (pl.col(name) if name in built.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in products.items()])
    coverage = covered.select(*product_keys, "scope", "area_id")
    return network_incidents, network_products, coverage


def load_picture_frames(engine: sa.Engine, timezone: str,
                        network: bool = False) -> PictureFrames:
    """Canonical tables -> analysis-ready frames (dates in ``timezone``, duplicates flagged),
    all read in one snapshot of the store (an ingest committing meanwhile shows up next
    time). ``network``: a network deployment, whose picture adds its member states' imported
    aggregates (:func:`network_rows`)."""
    wanted = {name: _wanted(name, columns) for name, columns in PICTURE_TABLES.items()}
    if network:
        wanted |= {name: _wanted(name, None) for name in NETWORK_TABLES}
    queries: dict[str, sa.Select[Any]] = {name: _select(name, schema)
                                          for name, schema in wanted.items()}
    queries["data_version"] = data_version_query()
    queries["quarantine_rows"] = sa.select(sa.func.count()).select_from(
        sql_table("quarantine"))
    tables = _arrow_tables(engine, queries, wanted)
    if tables is None:
        with engine.connect() as connection:
            tables = {name: read_frame(connection, name, list(schema))
                      for name, schema in wanted.items()}
            tables["data_version"] = data_version_of(connection)
            tables["quarantine_rows"] = connection.execute(
                queries["quarantine_rows"]).scalar_one()
    if network:
        extra_incidents, extra_products, extra_coverage = network_rows(
            tables, wanted["incidents"], wanted["products"], timezone)
        tables["incidents"] = pl.concat([tables["incidents"], extra_incidents])
        tables["products"] = pl.concat([tables["products"], extra_products])
        coverage_schema = tables["product_coverage"].schema
        tables["product_coverage"] = pl.concat([tables["product_coverage"], extra_coverage.select([
            (pl.col(name) if name in extra_coverage.columns else pl.lit(None)).cast(dtype)
            .alias(name) for name, dtype in coverage_schema.items()])])
    regions = tables["regions"]
    incidents = tables["incidents"]
    # New columns beside the million rows, never a join that would copy every column of them.
    duplicate_of = incidents.select("center_id", "incident_id").join(
        tables["incident_links"], on=["center_id", "incident_id"], how="left",
        maintain_order="left").select("duplicate_of_center_id", "duplicate_of_incident_id")
    region_of = dict(regions.select("county_fips", "region_id").iter_rows())
    incidents = incidents.with_columns(
        duplicate_of.to_series(0), duplicate_of.to_series(1),
        pl.col("county_fips").replace_strict(region_of, default=None, return_dtype=pl.String)
        .alias("region_id"),
    ).with_columns(
        pl.col("duplicate_of_incident_id").is_not_null().alias("is_duplicate"),
        pl.col("occurred_at").dt.convert_time_zone(timezone).dt.date().alias("occurred_date"),
        ((pl.col("category") == SAR_CATEGORY) | pl.col("sar_behavior").is_not_null())
        .alias("is_sar"),
    )
    products = tables["products"]
    return PictureFrames(
        incidents=_as_declared(incidents, "incidents", wanted["incidents"]),
        products=_as_declared(
            _with_covered_counties(products, tables["product_coverage"], regions, timezone),
            "products", wanted["products"]),
        regions=regions,
        centers=tables["centers"],
        center_aor=tables["center_aor"],
        quarantine_rows=int(tables["quarantine_rows"]),
        data_version=int(tables["data_version"]),
        red_recipients=red_recipients(incidents, products),
    )


def _as_declared(frame: pl.DataFrame, table: str, stored: pl.Schema) -> pl.DataFrame:
    """``frame`` as declared: the stored columns read, then the derived columns of
    ``dashboard.schema.DERIVED_FIELDS``, with their dtypes (a code change that breaks this
    fails here, not in a page)."""
    declared = pl.Schema({**stored, **derived_schema(table)})
    if frame.schema != declared:
        raise RuntimeError(f"the {table} frame's columns {dict(frame.schema)} are not the "
                           f"declared {dict(declared)} (dashboard/schema.py DERIVED_FIELDS)")
    return frame


def red_recipients(*frames: pl.DataFrame) -> frozenset[str]:
    """Every name listed as a recipient of a TLP:RED row of ``frames``."""
    names: set[str] = set()
    for frame in frames:
        names.update(frame.lazy().filter(pl.col("tlp") == "TLP:RED").select(
            pl.col("recipients").explode().drop_nulls().unique()).collect().to_series()
            .to_list())
    return frozenset(names)


def _arrow_tables(engine: sa.Engine, queries: Mapping[str, sa.Select[Any]],
                  wanted: Mapping[str, pl.Schema]) -> dict[str, Any] | None:
    """The frames (and scalars) through the columnar reader; None when it is not available
    or a value does not convert column-wise (the caller then reads row by row)."""
    arrow = read_snapshot(engine, queries)
    if arrow is None:
        return None
    tables: dict[str, Any] = {}
    try:
        for name, schema in wanted.items():
            tables[name] = to_schema(pl.DataFrame(arrow.pop(name)), schema)
    except (pl.exceptions.PolarsError, ValueError, TypeError):
        return None
    for name in queries.keys() - wanted.keys():
        tables[name] = arrow[name].column(0)[0].as_py() if arrow[name].num_rows else 0
    return tables


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
