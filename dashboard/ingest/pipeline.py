"""One ingest run: every configured source, normalize -> validate -> quarantine -> geocode ->
write -> link cross-center duplicates, each source in its own transaction.

A source is read, validated and geocoded outside any transaction; only its writes (rows,
coverage, quarantine, duplicate links of the rows it touched, its ``ingest_runs`` row) run in
one short write transaction. A reader sees a source's old or new data, never half of it. A
source that cannot be read or fails mid-way is rolled back alone and recorded as a ``failed``
run with its error; every other source still loads. A source whose content and config are
unchanged since its last load is recorded as ``unchanged`` and not read again.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import polars as pl
import sqlalchemy as sa

from dashboard.frames import read_frame
from dashboard.geo import state_counties
from dashboard.ingest.dedup import (
    LINK_COLUMNS,
    candidate_pairs,
    link_duplicates,
    ordered_reports,
)
from dashboard.ingest.geocode import geocode
from dashboard.ingest.normalize import RAW_RECORD_COLUMN, normalize, raw_records_of
from dashboard.ingest.validate import (
    FIELD_COLUMN,
    REASON_COLUMN,
    VALUE_COLUMN,
    ValidationContext,
    validate,
)
from dashboard.ingest.write import (
    BulkLoad,
    WriteCounts,
    delete_keys,
    insert_rows,
    replace_rows,
    stored_keys_from_source,
    upsert,
)
from dashboard.schema import TABLES
from dashboard.settings import Center, ProjectConfig, Source
from dashboard.store import table as sql_table
from dashboard.store import write_transaction
from data_sources import ROW_COLUMN, AppendReader, FileScan, IncrementalReader, connector_for
from data_sources.files import OPEN_QUOTE_REASON

# (step description, steps done, steps in all)
ProgressCallback = Callable[[str, int, int], None]
STEPS_PER_SOURCE = 4
EXAMPLE_ERRORS_PER_SOURCE = 5
# Keys per query when reading the stored versions of changed incidents.
KEYS_PER_QUERY = 500
# Index range reads per pass when reading the time windows around touched incidents.
RANGE_READS_PER_PASS = 64


class IngestError(RuntimeError):
    """The run cannot start (the store cannot take the reference tables)."""


class SourceFailed(RuntimeError):
    """One source failed; its message is the one line recorded in ``ingest_runs.error``."""


@dataclass
class SourceReport:
    center_id: str
    source_name: str
    table_name: str
    location: str
    status: str  # loaded, unchanged or failed
    rows_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_rejected: int = 0
    rows_flagged: int = 0
    example_errors: list[str] = field(default_factory=list)
    error: str | None = None  # one line, for a failed source
    # Set when only the lines appended since the last load were read (rows_read counts them).
    read_from_line: int | None = None

    @property
    def rows_accounted(self) -> int:
        """Rows stored new + updated + unchanged + quarantined: equals rows_read."""
        return (self.rows_inserted + self.rows_updated + self.rows_unchanged
                + self.rows_rejected)


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

    @property
    def failed(self) -> list[SourceReport]:
        return [source for source in self.sources if source.status == "failed"]


def run_ingest(config: ProjectConfig, engine: sa.Engine, *,
               progress: ProgressCallback | None = None,
               now: datetime | None = None,
               sources: Collection[tuple[str, str]] | None = None) -> IngestReport:
    """Ingest every configured source (or only ``sources``: (center id, source name) pairs)
    into the store, each in its own transaction."""
    now = now or datetime.now(UTC)
    report_progress = progress or (lambda *_: None)
    counties = state_counties(config.settings.state)
    chosen = None if sources is None else set(sources)
    unknown = sorted(chosen - {(c.id, s.name) for c in config.centers for s in c.sources}) \
        if chosen is not None else []
    if unknown:
        raise IngestError(f"no such source: {', '.join('/'.join(key) for key in unknown)}")
    to_run = [(center, source) for center in config.centers for source in center.sources
              if chosen is None or (center.id, source.name) in chosen]
    total_steps = len(to_run) * STEPS_PER_SOURCE + 1
    batch_id = uuid.uuid4().hex
    try:
        with write_transaction(engine) as connection:
            sync_reference_tables(connection, config, counties)
    except sa.exc.SQLAlchemyError as error:
        raise IngestError(f"store: cannot write the reference tables: {one_line(error)}"
                          ) from error
    reports: list[SourceReport] = []
    for index, (center, source) in enumerate(to_run):
        step = index * STEPS_PER_SOURCE

        def tick(what: str, done: int, center: Center = center,
                 source: Source = source, step: int = step) -> None:
            report_progress(f"{center.id}/{source.name}: {what}", step + done, total_steps)

        reports.append(_run_source(engine, config, counties, center, source, batch_id, now,
                                   tick))
    links: int | None = None
    if any(r.table_name == "incidents" and r.status == "loaded" for r in reports):
        with contextlib.suppress(sa.exc.SQLAlchemyError), engine.connect() as connection:
            links = int(connection.execute(sa.select(sa.func.count()).select_from(
                sql_table("incident_links"))).scalar_one())
    report_progress("done", total_steps, total_steps)
    return IngestReport(batch_id=batch_id, sources=reports, duplicate_links=links)


def one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else error.__class__.__name__


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


@dataclass(frozen=True)
class LastLoad:
    """What the last load of a source read: its hash and, for a text file, where it ended."""
    source_hash: str
    source_bytes: int | None
    source_lines: int | None
    source_cursor: str | None


def last_load(connection: sa.Connection, center_id: str, source_name: str) -> LastLoad | None:
    runs = sql_table("ingest_runs")
    query = (sa.select(runs.c.source_hash, runs.c.source_bytes, runs.c.source_lines,
                       runs.c.source_cursor)
             .where(runs.c.center_id == center_id, runs.c.source_name == source_name,
                    runs.c.status == "loaded")
             .order_by(runs.c.run_id.desc()).limit(1))
    row = connection.execute(query).one_or_none()
    return None if row is None else LastLoad(*row)


@dataclass
class _Prepared:
    """A source read, validated and geocoded, ready to write."""
    source_hash: str
    valid: pl.DataFrame
    quarantined: pl.DataFrame
    scan: FileScan | None = None
    # A source read by its incremental column: rows read so far, and the cursor after them.
    rows_so_far: int | None = None
    cursor: str | None = None


# Tells a cursor apart from a content hash in ingest_runs.source_hash.
CURSOR_HASH_PREFIX = "cursor:"


def _resumes_after_cursor(last: LastLoad | None, config_hash: str) -> bool:
    """Whether the last load read by cursor under the same config: read on from its cursor."""
    return (last is not None and last.source_cursor is not None
            and last.source_lines is not None
            and _combine(CURSOR_HASH_PREFIX + last.source_cursor, config_hash)
            == last.source_hash)


def _only_appended(last: LastLoad | None, scan: FileScan | None, config_hash: str) -> bool:
    """Whether the file is the one last loaded (same bytes, same config) with lines added."""
    return (last is not None and scan is not None and last.source_bytes is not None
            and last.source_lines is not None and last.source_bytes > 0
            and scan.size > last.source_bytes and scan.prefix_sha256 is not None
            and _combine(scan.prefix_sha256, config_hash) == last.source_hash)


def _run_source(engine: sa.Engine, config: ProjectConfig, counties: gpd.GeoDataFrame,
                center: Center, source: Source, batch_id: str, now: datetime,
                tick: Callable[[str, int], None]) -> SourceReport:
    """Ingest one source in its own transaction; a failure is recorded, never raised."""
    started_at = datetime.now(UTC)
    location = source.location
    with contextlib.suppress(Exception):
        location = config.resolve_location(source)
    report = SourceReport(center.id, source.name, source.table, location, status="loaded")
    hashes: list[str] = []
    try:
        prepared = _prepare_source(engine, config, counties, center, source, report, now, tick,
                                   hashes)
        if prepared is None:  # unchanged
            with write_transaction(engine) as connection:
                _record_run(connection, report, batch_id, source, hashes[-1], started_at)
            return report
        tick("writing", 3)
        with write_transaction(engine) as connection:
            _write_source(connection, config, center, source, report, prepared, batch_id, now,
                          started_at)
    except Exception as error:  # one source never hurts another
        where = f"{location} (center {center.id}, source {source.name})"
        message = str(error) if isinstance(error, SourceFailed) else one_line(error)
        _record_failure(engine, report, batch_id, source, hashes[-1] if hashes else "",
                        started_at, message if message.startswith(where)
                        else f"{where}: failed: {message}")
    return report


def _prepare_source(engine: sa.Engine, config: ProjectConfig, counties: gpd.GeoDataFrame,
                    center: Center, source: Source, report: SourceReport, now: datetime,
                    tick: Callable[[str, int], None], hashes: list[str]) -> _Prepared | None:
    """Read, normalize, validate and geocode outside any transaction; None when unchanged."""
    location = report.location
    where = f"{location} (center {center.id}, source {source.name})"
    tick("reading", 0)
    try:
        connector = connector_for(source.kind)
        options = connector.Options.model_validate(source.options)
        config_hash = source_config_fingerprint(config, center, source)
        with engine.connect() as connection:
            last = last_load(connection, center.id, source.name)
        previous_hash = None if last is None else last.source_hash
        scan: FileScan | None = None
        if isinstance(connector, AppendReader):
            scan = connector.scan(location, None if last is None else last.source_bytes)
            file_hash: str | None = scan.sha256
        else:
            file_hash = connector.fingerprint(location, options)
        if file_hash:
            hashes.append(_combine(file_hash, config_hash))
            if hashes[-1] == previous_hash:
                report.status = "unchanged"
                return None
        appended: pl.LazyFrame | None = None
        by_cursor: tuple[pl.LazyFrame, str | None] | None = None
        cursor: str | None = None
        if _only_appended(last, scan, config_hash):
            assert last is not None and last.source_bytes is not None \
                and last.source_lines is not None and isinstance(connector, AppendReader)
            appended = connector.read_appended(location, options, last.source_bytes,
                                               last.source_lines)
            if appended is not None:
                report.read_from_line = last.source_lines + 1
        elif file_hash is None and isinstance(connector, IncrementalReader):
            resume = _resumes_after_cursor(last, config_hash)
            assert last is not None or not resume
            rows_before = (last.source_lines or 0) if last is not None and resume else 0
            by_cursor = connector.read_after(
                location, options, last.source_cursor if last is not None and resume else None,
                rows_before)
            if by_cursor is not None:
                appended, cursor = by_cursor
                if resume:
                    report.read_from_line = rows_before + 1
        raw = (appended if appended is not None else connector.read(location, options)).collect()
        normalized = normalize(raw.lazy(), source, center, raw_records=False)
    except Exception as error:  # a connector may raise anything
        raise SourceFailed(f"{where}: cannot read: {one_line(error)}") from error
    if by_cursor is not None and cursor is not None:
        hashes.append(_combine(CURSOR_HASH_PREFIX + cursor, config_hash))
        if hashes[-1] == previous_hash:  # no row past the cursor
            report.status = "unchanged"
            return None
    elif not file_hash:
        content_hash = normalized.drop(RAW_RECORD_COLUMN).hash_rows(seed=0).sum()
        hashes.append(_combine(str(content_hash), config_hash))
        if hashes[-1] == previous_hash:
            report.status = "unchanged"
            return None
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
    del normalized
    valid, rejected = validated.valid, [validated.rejected]
    if report.read_from_line is not None and by_cursor is None:
        # Appended lines: an id the file sent before is a repeat. (Rows past a cursor with a
        # known id are changed rows: they update.)
        valid, repeated = _split_ids_sent_before(engine, valid, center, source, unit_line=
                                                 f"{connector.row_unit} {report.read_from_line}")
        rejected.append(repeated)
    if source.table == "incidents":
        tick("geocoding", 2)
        geocoded = geocode(valid, counties, config.settings.state,
                           config.settings.ingest.county_mismatch_tolerance_km)
        valid = geocoded.placed
        rejected.append(geocoded.rejected)
        report.rows_flagged = valid.height - valid["geo_flag"].null_count()
    quarantined = pl.concat(rejected).sort(ROW_COLUMN)
    # Only a quarantined row keeps a copy of the row as the feed sent it.
    records = raw_records_of(raw.lazy(), quarantined[ROW_COLUMN])
    quarantined = quarantined.drop(RAW_RECORD_COLUMN).join(records, on=ROW_COLUMN, how="left")
    report.rows_rejected = quarantined.height
    unit = connector.row_unit
    report.example_errors = [
        f"{location}, {unit} {row[ROW_COLUMN]}: {row[REASON_COLUMN]}"
        for row in quarantined.head(EXAMPLE_ERRORS_PER_SOURCE).iter_rows(named=True)
    ]
    return _Prepared(hashes[-1], valid.drop(ROW_COLUMN, RAW_RECORD_COLUMN), quarantined, scan,
                     rows_so_far=None if by_cursor is None or cursor is None
                     else (report.read_from_line or 1) - 1 + report.rows_read,
                     cursor=cursor if by_cursor is not None else None)


def _split_ids_sent_before(engine: sa.Engine, valid: pl.DataFrame, center: Center,
                           source: Source, unit_line: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Appended rows whose id the same feed already sent (and which was stored from it) are
    rejected, as a read of the whole file rejects an id's repeats."""
    key = next(name for name in TABLES[source.table].primary_key if name != "center_id")
    with engine.connect() as connection:
        stored = stored_keys_from_source(connection, source.table, center.id, source.name,
                                         valid[key])
    is_repeat = pl.col(key).is_in(stored)
    repeated = valid.filter(is_repeat).select(
        ROW_COLUMN,
        pl.lit(key).alias(FIELD_COLUMN),
        pl.lit(f"{key}: repeats an id this feed sent before {unit_line}").alias(REASON_COLUMN),
        pl.col(key).cast(pl.String).alias(VALUE_COLUMN),
        RAW_RECORD_COLUMN,
    )
    return valid.filter(~is_repeat), repeated


def _write_source(connection: sa.Connection, config: ProjectConfig, center: Center,
                  source: Source, report: SourceReport, prepared: _Prepared, batch_id: str,
                  now: datetime, started_at: datetime) -> None:
    """A source's writes, inside its one transaction."""
    run_id = _record_run(connection, report, batch_id, source, prepared.source_hash, started_at)
    review_by = now + timedelta(days=config.settings.security.review_period_days)
    previous: list[pl.DataFrame] = []

    def keep_previous(keys: pl.DataFrame) -> None:
        if source.table == "incidents":
            previous.append(_stored_link_columns(connection, keys))

    bulk = BulkLoad(connection)
    try:
        counts, written = upsert(connection, source.table, prepared.valid, center.id, run_id,
                                 entered_at=now, review_by=review_by, bulk=bulk,
                                 before_replace=keep_previous)
        if source.table == "products":
            _write_coverage(connection, written)
        bulk.finish()
    finally:
        with contextlib.suppress(sa.exc.SQLAlchemyError):  # never hide the source's own error
            bulk.restore()
    if source.table == "incidents" and not written.is_empty():
        linked = written.select(LINK_COLUMNS)
        relink_duplicates(connection, config, linked, pl.concat(
            [linked.clear(), *(rows.cast(linked.schema) for rows in previous)]))
    _replace_quarantine(connection, prepared.quarantined, report, run_id,
                        keep_earlier=report.read_from_line is not None)
    _finish_run(connection, run_id, report, counts, _file_extent(prepared))


def _file_extent(prepared: _Prepared) -> dict[str, int | str | None]:
    """Where this read of a text file ended, for the next run to read only what follows it.
    A file whose last CSV record is a quote left open has no such place: lines appended to
    it continue that record."""
    scan = prepared.scan
    if scan is None:
        return {"source_bytes": None, "source_lines": prepared.rows_so_far,
                "source_cursor": prepared.cursor}
    left_open = prepared.quarantined.height > 0 and prepared.quarantined[REASON_COLUMN] \
        .str.contains(OPEN_QUOTE_REASON, literal=True).any()
    return {"source_bytes": scan.size, "source_lines": None if left_open else scan.lines,
            "source_cursor": None}


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
        "rows_flagged": report.rows_flagged, "error": report.error,
        "read_from_line": report.read_from_line,
    }
    result = connection.execute(runs.insert().values(values).returning(runs.c.run_id))
    return int(result.scalar_one())


def _record_failure(engine: sa.Engine, report: SourceReport, batch_id: str, source: Source,
                    source_hash: str, started_at: datetime, error: str) -> None:
    """Mark the report failed (nothing of it was written) and record it, if the store can."""
    report.status, report.error = "failed", error
    report.rows_inserted = report.rows_updated = report.rows_unchanged = 0
    report.rows_rejected = report.rows_flagged = report.rows_read = 0
    report.example_errors = []
    with contextlib.suppress(sa.exc.SQLAlchemyError), write_transaction(engine) as connection:
        _record_run(connection, report, batch_id, source, source_hash, started_at)


def _finish_run(connection: sa.Connection, run_id: int, report: SourceReport,
                counts: WriteCounts, extent: dict[str, int | str | None]) -> None:
    report.rows_inserted, report.rows_updated = counts.inserted, counts.updated
    report.rows_unchanged = counts.unchanged
    runs = sql_table("ingest_runs")
    connection.execute(runs.update().where(runs.c.run_id == run_id).values(
        rows_inserted=counts.inserted, rows_updated=counts.updated,
        rows_unchanged=counts.unchanged, finished_at=datetime.now(UTC), **extent,
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
                        report: SourceReport, run_id: int, keep_earlier: bool) -> None:
    """A source's quarantine shows what its current feed sends that cannot be stored: after a
    read of the whole feed, that read's rejects; after a read of its appended lines, the
    earlier rejects (their lines are unchanged) and the new ones."""
    quarantine = sql_table("quarantine")
    if not keep_earlier:
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


def _stored_link_columns(connection: sa.Connection, keys: pl.DataFrame) -> pl.DataFrame:
    """The stored link columns of the incidents with these keys (center_id, incident_id)."""
    incidents = sql_table("incidents")
    frames = [read_frame(connection, "incidents", LINK_COLUMNS, where=sa.and_(
        incidents.c.center_id == center_id, incidents.c.incident_id.in_(ids[i:i + KEYS_PER_QUERY])))
        for center_id, ids in keys.group_by("center_id").agg("incident_id").iter_rows()
        for i in range(0, len(ids), KEYS_PER_QUERY)]
    return pl.concat(frames) if frames else read_frame(connection, "incidents", LINK_COLUMNS,
                                                       where=sa.false())


def _merge(windows: pl.DataFrame) -> pl.DataFrame:
    """Overlapping (category, lo, hi) windows merged into disjoint ones."""
    ordered = windows.sort("category", "lo")
    starts = (pl.col("lo") > pl.col("hi").cum_max().shift(1).over("category")).fill_null(True)
    return ordered.with_columns(starts.cum_sum().alias("_group")).group_by(
        "category", "_group").agg(pl.col("lo").min(), pl.col("hi").max()).drop("_group").sort(
        "category", "lo")


def _read_windows(connection: sa.Connection, windows: pl.DataFrame) -> pl.DataFrame:
    """The incidents inside the (category, lo, hi) windows: one index range read per stretch
    of time the windows cover (whatever their category), then narrowed to the windows."""
    incidents = sql_table("incidents")
    spans = _merge(windows.with_columns(pl.lit("").alias("category")))
    if spans.height > RANGE_READS_PER_PASS:
        # Bridge the smallest gaps: a few range reads (rows in the gaps are read and dropped)
        # instead of one query per window.
        gaps = (pl.col("lo") - pl.col("hi").shift(1)).fill_null(pl.duration(days=0))
        cutoff = spans.select(gaps.alias("gap"))["gap"].sort(descending=True)[
            RANGE_READS_PER_PASS - 1]
        spans = spans.with_columns((gaps >= cutoff).cum_sum().alias("_span")).group_by(
            "_span").agg(pl.lit("").alias("category"), pl.col("lo").min(), pl.col("hi").max()
                         ).select("category", "lo", "hi").sort("lo")
    frames = [read_frame(connection, "incidents", LINK_COLUMNS, where=sa.and_(
        incidents.c.occurred_at >= lo, incidents.c.occurred_at <= hi))
        for _, lo, hi in spans.iter_rows()]
    if not frames:
        return read_frame(connection, "incidents", LINK_COLUMNS, where=sa.false())
    rows = pl.concat(frames).unique(["center_id", "incident_id"]).sort("occurred_at")
    inside = rows.join_asof(windows.sort("lo").rename({"lo": "_lo", "hi": "_hi"}),
                            left_on="occurred_at", right_on="_lo", by="category",
                            strategy="backward", check_sortedness=False)
    return inside.filter(pl.col("occurred_at") <= pl.col("_hi")).drop("_lo", "_hi")


# Touched reports at least 1/WHOLE_READ_SHARE of their categories' stored incidents: read the
# categories whole instead of growing the neighbourhood window by window.
WHOLE_READ_SHARE = 20
# Windows that read 1/NEIGHBOURHOOD_WHOLE_SHARE of the categories' stored incidents or more:
# read the categories whole instead.
NEIGHBOURHOOD_WHOLE_SHARE = 2
# Marks the previous version of a changed report among the stored ones (its key is taken).
PREVIOUS_VERSION = "\x00previous"


def _components(pairs: pl.DataFrame, size: int) -> list[int]:
    """Connected components of ``size`` reports (0..size-1) joined by (order, order_b) pairs,
    as each report's component label."""
    parent = list(range(size))

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for first, second in pairs.iter_rows():
        a, b = root(first), root(second)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [root(node) for node in range(size)]


def _outside(reports: pl.DataFrame, windows: pl.DataFrame, window: timedelta) -> pl.DataFrame:
    """The reports whose own +-``window`` (in their category) is not inside the read windows."""
    placed = reports.sort("occurred_at").join_asof(
        windows.sort("lo"), left_on="occurred_at", right_on="lo", by="category",
        strategy="backward", check_sortedness=False)
    covered = (pl.col("occurred_at") - window >= pl.col("lo")) & (
        pl.col("occurred_at") + window <= pl.col("hi"))
    return placed.filter(~covered.fill_null(False)).select("category", "occurred_at")


def linking_neighbourhood(connection: sa.Connection, touched: pl.DataFrame,
                          max_km: float, max_minutes: float,
                          previous: pl.DataFrame | None = None) -> pl.DataFrame:
    """The stored incidents whose duplicate links may change because the ``touched`` reports
    (new and changed, stored now) were written over their ``previous`` versions.

    A report's link depends only on the reports it may pair with (same category, another
    center, within ``max_minutes`` and ``max_km``), theirs on theirs, and so on: its connected
    component of candidate pairs. The result is every component holding a touched report or
    a previous version (which may have held two groups together that now fall apart). It is
    found by reading the time windows around the touched reports and widening them around any
    member whose own window was not read yet, so dense data (a report every few minutes)
    costs reads around the new rows, not the whole table.
    """
    window = timedelta(minutes=max_minutes)
    previous = (previous if previous is not None else touched.clear()).select(LINK_COLUMNS)
    seeds = pl.concat([touched.select(LINK_COLUMNS), previous]).with_columns(
        pl.col("occurred_at").dt.convert_time_zone("UTC")).drop_nulls(
        ["category", "occurred_at"])
    incidents = sql_table("incidents")
    categories = seeds["category"].unique().to_list()
    stored = connection.execute(sa.select(sa.func.count()).select_from(incidents).where(
        incidents.c.category.in_(categories))).scalar_one()
    whole = incidents.c.category.in_(categories)
    if seeds.height * WHOLE_READ_SHARE >= stored:
        # A large load (a first load, a rewritten feed): read these categories once.
        return read_frame(connection, "incidents", LINK_COLUMNS, where=whole)
    phantoms = previous.with_columns(pl.col("incident_id") + PREVIOUS_VERSION)
    seed_keys = pl.concat([touched.select("center_id", "incident_id"),
                           phantoms.select("center_id", "incident_id")])
    windows = _merge(seeds.select("category", (pl.col("occurred_at") - window).alias("lo"),
                                  (pl.col("occurred_at") + window).alias("hi")))
    while True:
        rows = _read_windows(connection, windows)
        if NEIGHBOURHOOD_WHOLE_SHARE * rows.height >= stored:
            # The neighbourhood runs through most of these categories; read them once.
            return read_frame(connection, "incidents", LINK_COLUMNS, where=whole)
        candidates = pl.concat([rows, phantoms.cast(rows.schema)])
        reports = ordered_reports(candidates)  # the same order candidate_pairs gives
        pairs = candidate_pairs(candidates, max_km, max_minutes).select(
            pl.col("order") - 1, pl.col("order_b") - 1)
        reports = reports.sort("order").with_columns(
            pl.Series("_component", _components(pairs, reports.height)))
        hit = reports.join(seed_keys, on=["center_id", "incident_id"], how="semi")[
            "_component"].unique()
        members = reports.filter(pl.col("_component").is_in(hit.implode()))
        missing = _outside(members, windows, window)
        if missing.is_empty():
            real = ~pl.col("incident_id").str.ends_with(PREVIOUS_VERSION)
            return members.filter(real).select(LINK_COLUMNS)
        windows = _merge(pl.concat([windows, missing.select(
            "category", (pl.col("occurred_at") - window).alias("lo"),
            (pl.col("occurred_at") + window).alias("hi"))]))


def relink_duplicates(connection: sa.Connection, config: ProjectConfig,
                      touched: pl.DataFrame, previous: pl.DataFrame | None = None) -> int:
    """Bring ``incident_links`` up to date for the reports a source wrote (``touched``, over
    the ``previous`` versions of the changed ones): only the reports that may pair with them,
    directly or through others (see :func:`linking_neighbourhood`), are linked again, and only
    their links replaced. The result equals linking every stored incident again. Returns the
    links of those reports."""
    rules = config.settings.ingest
    reports = linking_neighbourhood(connection, touched, rules.duplicate_max_km,
                                    rules.duplicate_max_minutes, previous)
    links = link_duplicates(reports, rules.duplicate_max_km, rules.duplicate_max_minutes)
    touched_keys = pl.concat([reports.select("center_id", "incident_id"),
                              touched.select("center_id", "incident_id")]).unique()
    delete_keys(connection, "incident_links", touched_keys)
    insert_rows(connection, "incident_links", links)
    return links.height
