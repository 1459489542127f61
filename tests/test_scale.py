"""Speed and scale (issue 7): the grid duplicate matcher, the columnar frame reader, the bulk
ingest's deferred indexes, and reads while an ingest writes, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import columnar, frames
from dashboard.demo import generate
from dashboard.frames import load_health_frames, load_picture_frames
from dashboard.ingest import pipeline, write
from dashboard.ingest.dedup import (
    EARTH_RADIUS_KM,
    LINK_COLUMNS,
    candidate_pairs,
    haversine_km,
)
from dashboard.ingest.pipeline import run_ingest
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LINK_SCHEMA = {"center_id": pl.String, "incident_id": pl.String, "category": pl.String,
               "occurred_at": pl.Datetime("us", "UTC"), "latitude": pl.Float64,
               "longitude": pl.Float64, "county_fips": pl.String}
PICTURE = ("incidents", "products", "regions", "centers", "center_aor")

# A fixed day: the demo's activity (and so how many reports pair up) depends on it.
DEMO_TODAY = date(2026, 11, 30)


# --- the grid matcher finds exactly the pairs of the rule ---------------------------------


def brute_force_pairs(frame: pl.DataFrame, max_km: float, max_minutes: float
                      ) -> set[frozenset[str]]:
    """The duplicate rule applied to every pair of reports, one by one."""
    rows = frame.to_dicts()
    pairs = set()
    for index, first in enumerate(rows):
        for second in rows[index + 1:]:
            if first["center_id"] == second["center_id"] or \
                    first["category"] != second["category"]:
                continue
            minutes = abs((first["occurred_at"] - second["occurred_at"]).total_seconds()) / 60
            if minutes > max_minutes:
                continue
            located = None not in (first["latitude"], first["longitude"], second["latitude"],
                                   second["longitude"])
            if located:
                distance = pl.select(haversine_km(
                    pl.lit(first["latitude"]), pl.lit(first["longitude"]),
                    pl.lit(second["latitude"]), pl.lit(second["longitude"]))).item()
                near = distance <= max_km
            else:
                near = first["county_fips"] is not None and \
                    first["county_fips"] == second["county_fips"]
            if near:
                pairs.add(frozenset((first["incident_id"], second["incident_id"])))
    return pairs


# Places where a grid could go wrong: cell edges, the antimeridian, high latitudes.
ANCHORS = [(37.0, -122.0), (0.0, 179.9995), (0.0, -179.9995), (71.3, -156.8), (64.8, -147.7)]
report = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["gangs", "narcotics"]),
    st.integers(min_value=0, max_value=400),  # minutes after T0
    st.sampled_from(range(len(ANCHORS))),
    st.one_of(st.none(), st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5))),  # km offsets
    st.sampled_from(["02020", "06075", None]),
)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(report, max_size=14), st.sampled_from([0.5, 1.0, 3.0]))
def test_grid_matcher_finds_exactly_the_pairs_of_the_rule(
        rows: list[tuple[Any, ...]], max_km: float) -> None:
    km_per_degree = EARTH_RADIUS_KM * math.pi / 180
    reports = []
    for index, (center, category, minutes, anchor, offset, county) in enumerate(rows):
        latitude, longitude = ANCHORS[anchor]
        if offset is not None:
            latitude += offset[0] / km_per_degree
            longitude += offset[1] / (km_per_degree * math.cos(math.radians(latitude)))
            longitude = (longitude + 180) % 360 - 180
        reports.append((center, f"{center}-{index}", category,
                        T0 + timedelta(minutes=minutes),
                        None if offset is None else latitude,
                        None if offset is None else longitude, county))
    frame = pl.DataFrame(reports, schema=LINK_SCHEMA, orient="row")

    found = candidate_pairs(frame, max_km, 120)

    assert {frozenset(pair) for pair in found.select("incident_id", "incident_id_b").rows()} \
        == brute_force_pairs(frame, max_km, 120)
    assert found.filter(pl.col("order") >= pl.col("order_b")).is_empty()  # earliest first


# --- the columnar reader gives the frames the row reader gives ----------------------------


def assert_same_frames(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = load_picture_frames(engine, "America/New_York")
    with monkeypatch.context() as patched:
        patched.setattr(frames, "read_snapshot", lambda *_: None)
        rows = load_picture_frames(engine, "America/New_York")
    for name in PICTURE:
        mine, theirs = getattr(fast, name), getattr(rows, name)
        key = mine.columns[:2]
        assert mine.schema == theirs.schema, name
        assert mine.sort(key).equals(theirs.sort(key)), name
    assert (fast.quarantine_rows, fast.data_version) == (rows.quarantine_rows,
                                                         rows.data_version)
    assert fast.incidents.height > 0


def test_columnar_read_equals_the_row_read_on_sqlite(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    engine = open_store(ingested_ri[1])
    calls: list[str] = []
    original = columnar._sqlite_in_child
    monkeypatch.setattr(columnar, "_sqlite_in_child",
                        lambda *args: calls.append("child") or original(*args))
    assert_same_frames(engine, monkeypatch)
    assert calls == ["child"]  # the columnar path really ran


@pytest.mark.postgres
def test_columnar_read_equals_the_row_read_on_postgres(
        ri_config: ProjectConfig, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = open_store(postgres_url)
    run_ingest(ri_config, engine)
    assert columnar.read_snapshot(engine, {"one": sa.select(sa.literal(1))}) is not None
    assert_same_frames(engine, monkeypatch)
    engine.dispose()


def test_a_failing_columnar_reader_falls_back_to_rows(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    engine = open_store(ingested_ri[1])
    expected = load_picture_frames(engine, "UTC")
    monkeypatch.setattr(columnar.sys, "executable", "/nonexistent/python")

    assert columnar.read_snapshot(engine, {"one": sa.select(sa.literal(1))}) is None
    again = load_picture_frames(engine, "UTC")
    assert again.incidents.sort("center_id", "incident_id").equals(
        expected.incidents.sort("center_id", "incident_id"))


# --- bulk ingest: indexes rebuilt once, exactly as they were --------------------------------


def index_definitions(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "ORDER BY name").all()


def test_a_large_load_rebuilds_the_indexes_it_deferred(
        ri_config: ProjectConfig, sqlite_store: sa.Engine,
        monkeypatch: pytest.MonkeyPatch) -> None:
    before = index_definitions(sqlite_store)
    deferred: list[str] = []
    monkeypatch.setattr(write, "DEFERRED_INDEX_MIN_ROWS", 1)
    original = write.BulkLoad.finish
    monkeypatch.setattr(write.BulkLoad, "finish", lambda self: (
        deferred.extend(self.deferred), original(self))[1])

    run_ingest(ri_config, sqlite_store)

    assert "incidents" in deferred  # the fixture's first load is more than the empty table
    assert index_definitions(sqlite_store) == before
    with sqlite_store.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar_one() == -2000
        plan = connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT * FROM incidents WHERE category = 'gangs'").all()
    assert "ix_incidents_category" in str(plan)


def test_a_failed_large_load_keeps_the_indexes(
        ri_config: ProjectConfig, sqlite_store: sa.Engine, monkeypatch: pytest.MonkeyPatch,
        inject_failure: Callable[[str, int], None]) -> None:
    before = index_definitions(sqlite_store)
    monkeypatch.setattr(write, "DEFERRED_INDEX_MIN_ROWS", 1)
    deferred: list[str] = []  # tables whose indexes were dropped for a while
    original = write.BulkLoad.before_insert

    def before_insert(self: write.BulkLoad, table_name: str, rows: int) -> None:
        original(self, table_name, rows)
        deferred.extend(self.deferred)

    monkeypatch.setattr(write.BulkLoad, "before_insert", before_insert)
    # The rifc products source fails after its upsert dropped the products indexes, before
    # they are rebuilt; the sources after it load (and defer indexes) in their own transactions.
    inject_failure("_write_coverage", 1)

    report = run_ingest(ri_config, sqlite_store)

    assert [(s.center_id, s.source_name, s.status) for s in report.sources] == [
        ("rifc", "incidents", "loaded"), ("rifc", "products", "failed"),
        ("prov", "incidents", "loaded"), ("prov", "products", "loaded")]
    assert "injected failure: _write_coverage call 1" in (report.failed[0].error or "")
    assert {"incidents", "products"} <= set(deferred)
    assert index_definitions(sqlite_store) == before
    with sqlite_store.connect() as connection:
        stored: dict[str, int] = dict(connection.exec_driver_sql(
            "SELECT center_id, count(*) FROM products GROUP BY center_id").all())
        assert stored == {"prov": 2}  # the failed source wrote nothing, the later one loaded
        assert connection.exec_driver_sql("SELECT count(*) FROM incidents").scalar_one() == 7
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar_one() == -2000
        plan = connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT * FROM products WHERE published_at = '2025-01-20'").all()
    assert "ix_products_published_at" in str(plan), plan


@pytest.mark.postgres
def test_a_large_load_refreshes_postgres_statistics(
        ri_config: ProjectConfig, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = open_store(postgres_url)
    monkeypatch.setattr(write, "DEFERRED_INDEX_MIN_ROWS", 1)

    run_ingest(ri_config, engine)

    with engine.connect() as connection:
        analyzed = dict(connection.exec_driver_sql(
            "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema()").all())
    assert analyzed["incidents"] and analyzed["products"] and analyzed["incident_links"]
    engine.dispose()


def stored_links(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return connection.exec_driver_sql(
            "SELECT center_id, incident_id, duplicate_of_center_id, duplicate_of_incident_id "
            "FROM incident_links ORDER BY center_id, incident_id").all()


def test_links_put_together_from_the_run_equal_links_read_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each incident source relinks only the neighbourhood of the rows it touched; the links
    equal those of relinking every incident read back through the source's transaction."""
    folder = tmp_path / "demo"
    together = open_store(f"sqlite:///{tmp_path / 'together.sqlite'}")
    read_back = open_store(f"sqlite:///{tmp_path / 'read_back.sqlite'}")
    original = pipeline.relink_duplicates
    touched_by: list[tuple[list[str], int]] = []  # (centers, rows) of each incremental relink

    def incremental(connection: sa.Connection, config: ProjectConfig,
                    touched: pl.DataFrame, previous: pl.DataFrame) -> int:
        touched_by.append((sorted(touched["center_id"].unique()),
                           touched.height + previous.height))
        return original(connection, config, touched, previous)

    def everything(connection: sa.Connection, config: ProjectConfig, *_: pl.DataFrame) -> int:
        return original(connection, config, frames.read_frame(connection, "incidents",
                                                               list(LINK_COLUMNS)))

    for seed in (3, 4):  # a first load, then feeds in which most rows changed
        generate(folder, state="CA", incidents=4_000, seed=seed, today=DEMO_TODAY)
        config = load_config(folder / "config")
        touched_by.clear()
        monkeypatch.setattr(pipeline, "relink_duplicates", incremental)
        report = run_ingest(config, together)
        monkeypatch.setattr(pipeline, "relink_duplicates", everything)
        run_ingest(config, read_back)
        assert stored_links(together) == stored_links(read_back)
        assert len(stored_links(together)) > 10
        assert report.duplicate_links == len(stored_links(together))
        # One relink per incident source that wrote rows, given only that source's new rows,
        # its changed rows and their previous versions.
        written = [([s.center_id], s.rows_inserted + 2 * s.rows_updated)
                   for s in report.sources if s.table_name == "incidents"
                   and s.rows_inserted + s.rows_updated]
        assert touched_by == written and len(written) == 5
        assert sum(rows for _, rows in written) < 2 * len(frames.read_frame(together,
                                                                            "incidents"))
    together.dispose()
    read_back.dispose()


# --- an ingest running while the app reads never breaks a read ------------------------------


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo_8k")
    generate(folder, state="CA", incidents=8_000, seed=3)
    return folder / "config"


# (center, table) -> rows of it one read saw
Counts = dict[tuple[str, str], int]


def per_source(frame: pl.DataFrame, table: str) -> Counts:
    return {(center, table): rows for center, rows in
            frame.group_by("center_id").len().iter_rows()}


def read_while_ingesting(config_dir: Path, store_url: str
                         ) -> tuple[list[tuple[int, Counts, Counts]], Counts]:
    """Frames and data health read over and over while a full ingest runs in another thread;
    returns (data version, rows per source in the frames, rows per source in data health) of
    every read, and the rows per source stored at the end."""
    config = load_config(config_dir)
    writer_engine, reader_engine = open_store(store_url), open_store(store_url)
    errors: list[BaseException] = []
    reports: list[pipeline.IngestReport] = []

    def ingest() -> None:
        try:
            reports.append(run_ingest(config, writer_engine))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=ingest)
    seen: list[tuple[int, Counts, Counts]] = []
    thread.start()
    while thread.is_alive():
        picture = load_picture_frames(reader_engine, config.settings.timezone)
        health = load_health_frames(reader_engine)  # the Data health page's reads, too
        seen.append((picture.data_version, {**per_source(picture.incidents, "incidents"),
                                            **per_source(picture.products, "products")},
                     {(center, table): rows for center, table, rows in
                      health.rows_per_center.select("center_id", "table_name", "rows")
                      .iter_rows()}))
    thread.join()
    assert not errors, errors
    assert [report.failed for report in reports] == [[]]
    final = {**per_source(frames.read_frame(reader_engine, "incidents"), "incidents"),
             **per_source(frames.read_frame(reader_engine, "products"), "products")}
    writer_engine.dispose()
    reader_engine.dispose()
    return seen, final


def assert_whole_sources(seen: list[tuple[int, Counts, Counts]], final: Counts) -> None:
    assert len(final) == 10 and min(final.values()) > 0
    assert sum(rows for (_, table), rows in final.items() if table == "incidents") > 7_000
    states: dict[int, Counts] = {}
    loaded_before: set[tuple[str, str]] = set()
    for version, picture, health in seen:
        # Each source was read with its rows before the ingest (none) or after it, never half.
        for counts in (picture, health):
            assert all(counts[source] == final[source] for source in counts), (counts, final)
        # One data version, one state: a source's rows and its ingest_runs row commit together.
        assert states.setdefault(version, picture) == picture, version
        # Sources commit one by one: a later read never loses a source an earlier one saw.
        assert loaded_before <= picture.keys(), (loaded_before, picture)
        loaded_before = set(picture)
    # Some read happened between two sources' commits (neither none nor all of them).
    assert any(0 < len(picture) < len(final) for _, picture, _ in seen), [
        len(picture) for _, picture, _ in seen]


def slow_down_between_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wait before each source, so reads happen between the commits of two sources."""
    original = pipeline._run_source
    monkeypatch.setattr(pipeline, "_run_source", lambda *args: (
        threading.Event().wait(0.2), original(*args))[1])


def test_reads_during_an_ingest_see_whole_sources_on_sqlite(
        small_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_down_between_sources(monkeypatch)
    assert_whole_sources(*read_while_ingesting(small_demo,
                                               f"sqlite:///{tmp_path / 'store.sqlite'}"))


@pytest.mark.postgres
def test_reads_during_an_ingest_see_whole_sources_on_postgres(
        small_demo: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_down_between_sources(monkeypatch)
    assert_whole_sources(*read_while_ingesting(small_demo, postgres_url))
