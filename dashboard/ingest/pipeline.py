"""One ingest run: every configured source, normalize -> validate -> quarantine -> geocode ->
write, then link cross-center duplicates; all in one transaction.

A failure anywhere rolls the whole run back, so the store is exactly as it was before. A source
whose content and config are unchanged since its last load is recorded as ``unchanged`` and
not read again.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import polars as pl
import sqlalchemy as sa

from dashboard.frames import read_committed, read_frame
from dashboard.geo import state_counties
from dashboard.ingest.dedup import LINK_COLUMNS, link_duplicates
from dashboard.ingest.geocode import geocode
from dashboard.ingest.normalize import RAW_RECORD_COLUMN, normalize
from dashboard.ingest.validate import (
    FIELD_COLUMN,
    REASON_COLUMN,
    VALUE_COLUMN,
    ValidationContext,
    validate,
)
from dashboard.ingest.write import BulkLoad, WriteCounts, insert_rows, replace_rows, upsert
from dashboard.schema import TABLES
from dashboard.settings import Center, ProjectConfig, Source
from dashboard.store import table as sql_table
from data_sources import ROW_COLUMN, connector_for

# (step description, steps done, steps in all)
ProgressCallback = Callable[[str, int, int], None]
STEPS_PER_SOURCE = 4
EXAMPLE_ERRORS_PER_SOURCE = 5


class IngestError(RuntimeError):
    """A source could not be read at all: the run is rolled back."""


@dataclass
class SourceReport:
    center_id: str
    source_name: str
    table_name: str
    location: str
    status: str
    rows_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_rejected: int = 0
    rows_flagged: int = 0
    example_errors: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    batch_id: str
    sources: list[SourceReport]
    duplicate_links: int | None  # None when no incident source changed (links kept as they were)

    @property
    def rows_rejected(self) -> int:
        return sum(source.rows_rejected for source in self.sources)

    @property
    def rows_written(self) -> int:
        return sum(source.rows_inserted + source.rows_updated for source in self.sources)


def run_ingest(config: ProjectConfig, engine: sa.Engine, *,
               progress: ProgressCallback | None = None,
               now: datetime | None = None) -> IngestReport:
    """Ingest every configured source into the store as one transaction."""
    now = now or datetime.now(UTC)
    report_progress = progress or (lambda *_: None)
    counties = state_counties(config.settings.state)
    sources = [(center, source) for center in config.centers for source in center.sources]
    total_steps = len(sources) * STEPS_PER_SOURCE + 1
    batch_id = uuid.uuid4().hex
    reports: list[SourceReport] = []
    with engine.begin() as connection:
        bulk = BulkLoad(connection)
        try:
            sync_reference_tables(connection, config, counties)
            # SQLite has one writer at a time, and this run is it from here on: the incidents
            # committed now plus those the run writes are the store's at its end, so linking
            # needs no read of a million rows back through this connection.
            stored = (read_committed(engine, "incidents", LINK_COLUMNS)
                      if connection.dialect.name == "sqlite" else None)
            written: list[pl.DataFrame] = []
            for index, (center, source) in enumerate(sources):
                step = index * STEPS_PER_SOURCE

                def tick(what: str, done: int, center: Center = center,
                         source: Source = source, step: int = step) -> None:
                    report_progress(f"{center.id}/{source.name}: {what}", step + done,
                                    total_steps)

                reports.append(_ingest_source(connection, config, counties, center, source,
                                              batch_id, now, tick, bulk, written))
            links: int | None = None
            if any(r.table_name == "incidents" and r.status == "loaded" for r in reports):
                report_progress("linking cross-center duplicates", total_steps - 1,
                                total_steps)
                links = relink_duplicates(connection, config, stored, written)
            if bulk.deferred:
                report_progress("rebuilding indexes", total_steps - 1, total_steps)
            bulk.finish()
        finally:
            with contextlib.suppress(sa.exc.SQLAlchemyError):  # never hide the run's own error
                bulk.restore()
        report_progress("done", total_steps, total_steps)
    return IngestReport(batch_id=batch_id, sources=reports, duplicate_links=links)


def sync_reference_tables(connection: sa.Connection, config: ProjectConfig,
                          counties: gpd.GeoDataFrame) -> None:
    """Centers, AORs and regions come from config; the store mirrors them."""
    regions_by_id = {region.id: region for region in config.regions}
    county_rows = counties[["county_fips", "county_name", "area_km2"]].to_dict("records")
    regions = pl.DataFrame(county_rows).with_columns(
        pl.col("county_fips").replace_strict(config.county_to_region).alias("region_id")
    ).with_columns(
        pl.col("region_id").replace_strict({k: r.name for k, r in regions_by_id.items()})
        .alias("region_name")
    )
    centers = pl.DataFrame(
        [{"center_id": c.id, "name": c.name, "kind": c.kind, "timezone": c.timezone,
          "default_tlp": c.default_tlp} for c in config.centers],
        schema=["center_id", "name", "kind", "timezone", "default_tlp"],
    )
    aor = pl.DataFrame(
        [{"center_id": c.id, "county_fips": fips} for c in config.centers
         for fips in config.aor_counties(c)],
        schema=["center_id", "county_fips"],
    )
    for name, frame in (("regions", regions), ("centers", centers), ("center_aor", aor)):
        replace_rows(connection, name, frame)


def source_config_fingerprint(config: ProjectConfig, center: Center, source: Source) -> str:
    """What, besides the data, decides the rows a source yields: a change means re-read."""
    parts = [
        source.model_dump_json(), center.timezone, center.default_tlp,
        config.settings.model_dump_json(), config.taxonomy.model_dump_json(),
        "".join(region.model_dump_json() for region in config.regions),
        ",".join(sorted(TABLES[source.table].field_names)),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def last_loaded_hash(connection: sa.Connection, center_id: str, source_name: str) -> str | None:
    runs = sql_table("ingest_runs")
    query = (sa.select(runs.c.source_hash)
             .where(runs.c.center_id == center_id, runs.c.source_name == source_name,
                    runs.c.status == "loaded")
             .order_by(runs.c.run_id.desc()).limit(1))
    return connection.execute(query).scalar_one_or_none()


def _ingest_source(connection: sa.Connection, config: ProjectConfig,
                   counties: gpd.GeoDataFrame, center: Center, source: Source, batch_id: str,
                   now: datetime, tick: Callable[[str, int], None],
                   bulk: BulkLoad | None = None,
                   written_incidents: list[pl.DataFrame] | None = None) -> SourceReport:
    location = config.resolve_location(source)
    report = SourceReport(center.id, source.name, source.table, location, status="loaded")
    connector = connector_for(source.kind)
    options = connector.Options.model_validate(source.options)
    config_hash = source_config_fingerprint(config, center, source)
    started_at = datetime.now(UTC)
    previous_hash = last_loaded_hash(connection, center.id, source.name)
    where = f"{location} (center {center.id}, source {source.name})"

    tick("reading", 0)
    try:
        file_hash = connector.fingerprint(location, options)
        source_hash = _combine(file_hash, config_hash) if file_hash else None
        if source_hash is not None and source_hash == previous_hash:
            report.status = "unchanged"
            _record_run(connection, report, batch_id, source, source_hash, started_at)
            return report
        raw = connector.read(location, options)
        normalized = normalize(raw, source, center)
    except (OSError, ValueError, pl.exceptions.PolarsError, sa.exc.SQLAlchemyError) as error:
        message = str(error).splitlines()[0] if str(error) else error.__class__.__name__
        raise IngestError(f"{where}: cannot read: {message}") from error
    if source_hash is None:
        content_hash = normalized.drop(RAW_RECORD_COLUMN).hash_rows(seed=0).sum()
        source_hash = _combine(str(content_hash), config_hash)
        if source_hash == previous_hash:
            report.status = "unchanged"
            _record_run(connection, report, batch_id, source, source_hash, started_at)
            return report
    report.rows_read = normalized.height

    tick("validating", 1)
    context = ValidationContext(
        vocabularies=config.vocabularies(),
        naive_timezone=source.naive_timezone or center.timezone,
        datetime_formats=source.datetime_formats,
        rules=config.settings.ingest,
        now=now,
        row_unit=connector.row_unit,
    )
    validated = validate(normalized, TABLES[source.table], context)
    valid, rejected = validated.valid, [validated.rejected]
    if source.table == "incidents":
        tick("geocoding", 2)
        geocoded = geocode(valid, counties, config.settings.state,
                           config.settings.ingest.county_mismatch_tolerance_km)
        valid = geocoded.placed
        rejected.append(geocoded.rejected)
        report.rows_flagged = valid.height - valid["geo_flag"].null_count()
    quarantined = pl.concat(rejected).sort(ROW_COLUMN)
    report.rows_rejected = quarantined.height
    unit = connector.row_unit
    report.example_errors = [
        f"{location}, {unit} {row[ROW_COLUMN]}: {row[REASON_COLUMN]}"
        for row in quarantined.head(EXAMPLE_ERRORS_PER_SOURCE).iter_rows(named=True)
    ]

    tick("writing", 3)
    run_id = _record_run(connection, report, batch_id, source, source_hash, started_at)
    review_by = now + timedelta(days=config.settings.security.review_period_days)
    counts, written = upsert(connection, source.table, valid.drop(ROW_COLUMN, RAW_RECORD_COLUMN),
                             center.id, run_id, entered_at=now, review_by=review_by, bulk=bulk)
    if source.table == "products":
        _write_coverage(connection, written)
    elif written_incidents is not None:
        written_incidents.append(written.select(LINK_COLUMNS))
    _replace_quarantine(connection, quarantined, report, run_id)
    _finish_run(connection, run_id, report, counts)
    return report


def _combine(data_hash: str, config_hash: str) -> str:
    return hashlib.sha256(f"{data_hash}:{config_hash}".encode()).hexdigest()


def _record_run(connection: sa.Connection, report: SourceReport, batch_id: str, source: Source,
                source_hash: str, started_at: datetime) -> int:
    runs = sql_table("ingest_runs")
    values = {
        "batch_id": batch_id, "center_id": report.center_id, "source_name": report.source_name,
        "table_name": report.table_name, "connector_kind": source.kind,
        "location": report.location, "source_hash": source_hash, "started_at": started_at,
        "finished_at": datetime.now(UTC), "status": report.status,
        "rows_read": report.rows_read, "rows_inserted": 0, "rows_updated": 0,
        "rows_unchanged": 0, "rows_rejected": report.rows_rejected,
        "rows_flagged": report.rows_flagged,
    }
    result = connection.execute(runs.insert().values(values).returning(runs.c.run_id))
    return int(result.scalar_one())


def _finish_run(connection: sa.Connection, run_id: int, report: SourceReport,
                counts: WriteCounts) -> None:
    report.rows_inserted, report.rows_updated = counts.inserted, counts.updated
    report.rows_unchanged = counts.unchanged
    runs = sql_table("ingest_runs")
    connection.execute(runs.update().where(runs.c.run_id == run_id).values(
        rows_inserted=counts.inserted, rows_updated=counts.updated,
        rows_unchanged=counts.unchanged, finished_at=datetime.now(UTC),
    ))


def _write_coverage(connection: sa.Connection, products: pl.DataFrame) -> None:
    """The areas of the products just written replace their previous areas."""
    if products.is_empty():
        return
    keys = products.select("center_id", "product_id")
    coverage = sql_table("product_coverage")
    connection.execute(
        coverage.delete().where(
            coverage.c.center_id == sa.bindparam("key_center_id"),
            coverage.c.product_id == sa.bindparam("key_product_id"),
        ),
        keys.rename(lambda name: f"key_{name}").to_dicts(),
    )
    by_county = products.select("center_id", "product_id", pl.col("county_fips").alias("area_id"))
    by_region = products.select("center_id", "product_id", pl.col("region").alias("area_id"))
    rows = pl.concat([
        by_county.explode("area_id").with_columns(pl.lit("county").alias("scope")),
        by_region.explode("area_id").with_columns(pl.lit("region").alias("scope")),
        products.filter(pl.col("statewide").fill_null(False)).select(
            "center_id", "product_id", pl.lit("statewide").alias("area_id"),
            pl.lit("statewide").alias("scope")),
    ], how="diagonal").drop_nulls("area_id").unique()
    insert_rows(connection, "product_coverage", rows)


def _replace_quarantine(connection: sa.Connection, quarantined: pl.DataFrame,
                        report: SourceReport, run_id: int) -> None:
    """A source's quarantine shows what its current feed sends that cannot be stored."""
    quarantine = sql_table("quarantine")
    connection.execute(quarantine.delete().where(
        quarantine.c.center_id == report.center_id,
        quarantine.c.source_name == report.source_name,
    ))
    rows = quarantined.select(
        pl.lit(run_id).alias("run_id"),
        pl.lit(report.center_id).alias("center_id"),
        pl.lit(report.source_name).alias("source_name"),
        pl.lit(report.table_name).alias("table_name"),
        pl.lit(report.location).alias("location"),
        pl.col(ROW_COLUMN).alias("row_number"),
        pl.col(FIELD_COLUMN).alias("field"),
        pl.col(VALUE_COLUMN).alias("value"),
        pl.col(REASON_COLUMN).alias("reason"),
        pl.col(RAW_RECORD_COLUMN).alias("raw_record"),
    )
    insert_rows(connection, "quarantine", rows)


def relink_duplicates(connection: sa.Connection, config: ProjectConfig,
                      committed: pl.DataFrame | None = None,
                      written: list[pl.DataFrame] | None = None) -> int:
    """Recompute cross-center duplicate links over every stored incident: read back through
    the run's connection, or (``committed``: the incidents as committed before the run wrote
    any, ``written``: every incident the run wrote) put together without reading."""
    if committed is None:
        incidents = read_frame(connection, "incidents", LINK_COLUMNS)
    else:
        keys = ["center_id", "incident_id"]
        fresh = pl.concat([committed.clear(), *(rows.cast(committed.schema)
                                                for rows in written or [])]
                          ).unique(keys, keep="last", maintain_order=True)
        # A rewritten row replaces its committed version; nothing else is ever deleted.
        incidents = pl.concat([committed.join(fresh, on=keys, how="anti"), fresh])
    rules = config.settings.ingest
    links = link_duplicates(incidents, rules.duplicate_max_km, rules.duplicate_max_minutes)
    replace_rows(connection, "incident_links", links)
    return links.height
