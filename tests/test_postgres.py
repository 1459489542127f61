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


@pytest.mark.parametrize("loaded_first", [False, True], ids=["empty_store", "loaded_store"])
def test_failure_mid_run_rolls_back_everything(
    ri_dir: Path, edit_file: Callable[[Path, str, str], None], postgres_store: sa.Engine,
    snapshot_tables: Callable[..., Any], inject_failure: Callable[[str, int], None],
    loaded_first: bool
) -> None:
    if loaded_first:
        run_ingest(load_config(ri_dir / "config"), postgres_store, now=NOW)
        # Settings are part of every source's fingerprint: the next run reads every source.
        edit_file(ri_dir / "config" / "settings.toml", 'title = "Rhode Island test picture"',
                  'title = "Rhode Island, renamed"')
    before = snapshot_tables(postgres_store)
    inject_failure("upsert", 3)

    with pytest.raises(RuntimeError, match="injected failure"):
        run_ingest(load_config(ri_dir / "config"), postgres_store, now=NOW)

    assert snapshot_tables(postgres_store) == before
