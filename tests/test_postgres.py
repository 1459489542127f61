"""The same ingest against PostgreSQL (127.0.0.1:5432, database test, a schema per test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from dashboard.frames import read_frame
from dashboard.ingest.pipeline import run_ingest
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import head_revision, open_store, schema_revision

pytestmark = pytest.mark.postgres

NOW = datetime(2025, 12, 1, tzinfo=UTC)
# Table -> sort key; surrogate ids are left out of the comparison.
COMPARED_TABLES = {
    "incidents": ("center_id", "incident_id"),
    "products": ("center_id", "product_id"),
    "product_coverage": ("center_id", "product_id", "scope", "area_id"),
    "incident_links": ("center_id", "incident_id"),
    "quarantine": ("center_id", "source_name", "row_number"),
}


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[sa.Engine]:
    engine = open_store(postgres_url)
    yield engine
    engine.dispose()


def stored_rows(engine: sa.Engine, table_name: str) -> pl.DataFrame:
    frame = read_frame(engine, table_name).sort(COMPARED_TABLES[table_name])
    return frame.drop("quarantine_id", strict=False)


def test_store_is_migrated_to_the_current_revision(postgres_store: sa.Engine) -> None:
    assert schema_revision(postgres_store) == head_revision()
    assert postgres_store.dialect.name == "postgresql"


def test_fixture_ingest_gives_the_same_rows_as_sqlite(
    ri_config: ProjectConfig, postgres_store: sa.Engine, sqlite_store: sa.Engine
) -> None:
    run_ingest(ri_config, postgres_store, now=NOW)
    run_ingest(ri_config, sqlite_store, now=NOW)

    for table_name in COMPARED_TABLES:
        on_postgres, on_sqlite = (stored_rows(engine, table_name)
                                  for engine in (postgres_store, sqlite_store))
        assert not on_postgres.is_empty(), table_name
        assert on_postgres.to_dicts() == on_sqlite.to_dicts(), table_name
        assert on_postgres.schema == on_sqlite.schema, table_name


def test_reingest_is_a_no_op(ri_config: ProjectConfig, postgres_store: sa.Engine,
                             snapshot_tables: Callable[..., Any]) -> None:
    run_ingest(ri_config, postgres_store, now=NOW)
    before = snapshot_tables(postgres_store, exclude=("ingest_runs",))

    report = run_ingest(ri_config, postgres_store, now=NOW)

    assert [source.status for source in report.sources] == ["unchanged"] * 4
    assert report.rows_written == 0 and report.duplicate_links is None
    assert snapshot_tables(postgres_store, exclude=("ingest_runs",)) == before


# The tables holding a source's rows (besides its quarantine), by the source's table.
SOURCE_TABLES = {"incidents": ("incidents",), "products": ("products", "product_coverage")}
SOURCES = [("rifc", "incidents"), ("rifc", "products"), ("prov", "incidents"),
           ("prov", "products")]


def rows_of_source(engine: sa.Engine, center: str, source: str) -> dict[str, list[Any]]:
    """A fixture source's rows (named after its table) and its quarantine, without the run ids
    a store assigns."""
    rows = {name: stored_rows(engine, name).filter(pl.col("center_id") == center)
            for name in SOURCE_TABLES[source]}
    rows["quarantine"] = stored_rows(engine, "quarantine").filter(
        pl.col("center_id") == center, pl.col("source_name") == source)
    return {name: frame.drop("run_id", strict=False).to_dicts() for name, frame in rows.items()}


def snapshot_of_source(engine: sa.Engine, snapshot: dict[str, list[tuple[Any, ...]]],
                       center: str, source: str) -> dict[str, list[tuple[Any, ...]]]:
    """The rows a ``snapshot_tables`` snapshot holds of a fixture source: its rows, the
    duplicate links of its center, its quarantine (surrogate ids and all)."""
    inspector = sa.inspect(engine)

    def where(name: str, keep: Callable[[dict[str, Any]], bool]) -> list[tuple[Any, ...]]:
        names = [column["name"] for column in inspector.get_columns(name)]
        return [row for row in snapshot[name] if keep(dict(zip(names, row, strict=True)))]

    rows = {name: where(name, lambda row: row["center_id"] == center)
            for name in SOURCE_TABLES[source]}
    rows["quarantine"] = where("quarantine", lambda row: (row["center_id"], row["source_name"])
                               == (center, source))
    if source == "incidents":
        rows["incident_links"] = where("incident_links", lambda row: center in (
            row["center_id"], row["duplicate_of_center_id"]))
    return rows


@pytest.mark.parametrize("loaded_first", [False, True], ids=["empty_store", "loaded_store"])
def test_failure_mid_run_rolls_back_only_the_failing_source(
    ri_dir: Path, edit_file: Callable[[Path, str, str], None], postgres_store: sa.Engine,
    sqlite_store: sa.Engine, snapshot_tables: Callable[..., Any],
    inject_failure: Callable[[str, int], None], loaded_first: bool
) -> None:
    failing = ("prov", "incidents")  # the third source: upsert's third call
    feed = (ri_dir / "feeds" / "prov_incidents.ndjson").resolve()
    if loaded_first:
        for engine in (postgres_store, sqlite_store):
            run_ingest(load_config(ri_dir / "config"), engine, now=NOW)
        # Settings are part of every source's fingerprint: the next run reads every source.
        edit_file(ri_dir / "config" / "settings.toml", 'title = "Rhode Island test picture"',
                  'title = "Rhode Island, renamed"')
        # And the failing source really changes (P-100 is a duplicate of R-1).
        edit_file(feed, '"Graffiti at the rail yard"', '"Graffiti at the rail yard, again"')
    config = load_config(ri_dir / "config")
    # The same run on SQLite, without a failure (the two stores hold the same rows: see above).
    run_ingest(config, sqlite_store, now=NOW)
    before = snapshot_tables(postgres_store)
    inject_failure("upsert", 3)

    report = run_ingest(config, postgres_store, now=NOW)

    assert postgres_store.dialect.name == "postgresql"
    assert {(s.center_id, s.source_name): s.status for s in report.sources} == {
        source: "failed" if source == failing else "loaded" for source in SOURCES}
    error = (f"{feed} (center prov, source incidents): failed: "
             "injected failure: upsert call 3")
    assert [s.error for s in report.failed] == [error]
    after = snapshot_tables(postgres_store)
    assert snapshot_of_source(postgres_store, after, *failing) == \
        snapshot_of_source(postgres_store, before, *failing)
    assert rows_of_source(postgres_store, *failing) != rows_of_source(sqlite_store, *failing)
    for other in SOURCES:  # committed before and after the failing source
        if other != failing:
            assert rows_of_source(postgres_store, *other) == \
                rows_of_source(sqlite_store, *other), other
    runs = read_frame(postgres_store, "ingest_runs").filter(
        pl.col("batch_id") == report.batch_id)
    assert runs.sort("run_id").select("center_id", "source_name", "status", "error").rows() == [
        (*source, "failed", error) if source == failing else (*source, "loaded", None)
        for source in SOURCES]

    # Without the failure (it fires once), only the failed source is read again, and the store
    # ends as the clean run's.
    again = run_ingest(config, postgres_store, now=NOW)
    assert {(s.center_id, s.source_name): s.status for s in again.sources} == {
        source: "loaded" if source == failing else "unchanged" for source in SOURCES}
    for table_name in COMPARED_TABLES:
        on_postgres, on_sqlite = (stored_rows(engine, table_name).drop("run_id", strict=False)
                                  for engine in (postgres_store, sqlite_store))
        assert on_postgres.to_dicts() == on_sqlite.to_dicts(), table_name
