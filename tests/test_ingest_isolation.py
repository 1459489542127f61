"""Issue 13: one source never hurts another; counts add up per source; duplicate links are
kept up to date incrementally and equal linking every incident again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from dashboard.demo import generate
from dashboard.frames import read_frame
from dashboard.ingest.dedup import LINK_COLUMNS, link_duplicates
from dashboard.ingest.pipeline import IngestReport, run_ingest
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import data_version, open_store

NOW = datetime(2025, 12, 1, tzinfo=UTC)
Edit = Callable[[Path, str, str], None]
Snapshot = Callable[..., Any]

# A fixed day: the demo's activity (and so how many reports pair up) depends on it.
DEMO_TODAY = date(2026, 11, 30)


def ingest(config: ProjectConfig, engine: sa.Engine) -> IngestReport:
    return run_ingest(config, engine, now=NOW)


def source_rows(snapshot: dict[str, list[tuple[Any, ...]]], center: str) -> dict[str, Any]:
    """The rows of one center in the data tables of a snapshot."""
    return {name: [row for row in rows if center in row]
            for name, rows in snapshot.items()
            if name in ("incidents", "products", "product_coverage", "quarantine")}


def assert_counts_add_up(engine: sa.Engine, report: IngestReport) -> None:
    for source in report.sources:
        assert source.rows_read == source.rows_accounted, source
    runs = read_frame(engine, "ingest_runs").filter(pl.col("batch_id") == report.batch_id)
    assert runs.height == len(report.sources)
    for run in runs.iter_rows(named=True):
        assert run["rows_read"] == (run["rows_inserted"] + run["rows_updated"]
                                    + run["rows_unchanged"] + run["rows_rejected"]), run


# --- one source never hurts another -----------------------------------------------------------

@pytest.mark.parametrize(("name", "call_number", "failing"), [
    ("upsert", 2, ("rifc", "products")),
    ("_write_coverage", 1, ("rifc", "products")),
    ("relink_duplicates", 1, ("rifc", "incidents")),
    ("_replace_quarantine", 3, ("prov", "incidents")),
])
def test_a_failing_source_is_rolled_back_alone_and_recorded(
    ri_config: ProjectConfig, sqlite_store: sa.Engine, inject_failure: Callable[[str, int], None],
    name: str, call_number: int, failing: tuple[str, str],
) -> None:
    inject_failure(name, call_number)

    report = ingest(ri_config, sqlite_store)

    statuses = {(s.center_id, s.source_name): s.status for s in report.sources}
    assert statuses.pop(failing) == "failed"
    assert set(statuses.values()) == {"loaded"}
    failed = report.failed[0]
    assert failed.error is not None and "injected failure" in failed.error
    assert "\n" not in failed.error and failed.error.startswith(failed.location)
    runs = read_frame(sqlite_store, "ingest_runs")
    recorded = runs.filter(pl.col("status") == "failed").row(0, named=True)
    assert (recorded["center_id"], recorded["source_name"]) == failing
    assert recorded["error"] == failed.error
    assert runs.filter(pl.col("status") == "loaded")["error"].null_count() == 3
    table = "incidents" if failing[1] == "incidents" else "products"
    stored = read_frame(sqlite_store, table)
    assert stored.filter(pl.col("center_id") == failing[0]).is_empty()
    assert not stored.filter(pl.col("center_id") != failing[0]).is_empty()
    assert read_frame(sqlite_store, "quarantine").filter(
        (pl.col("center_id") == failing[0]) & (pl.col("source_name") == failing[1])).is_empty()
    assert_counts_add_up(sqlite_store, report)


def test_a_failing_source_leaves_its_stored_rows_as_they_were(
    ri_config: ProjectConfig, ri_dir: Path, edit_file: Edit, sqlite_store: sa.Engine,
    snapshot_tables: Snapshot, inject_failure: Callable[[str, int], None],
) -> None:
    ingest(ri_config, sqlite_store)
    edit_file(ri_dir / "feeds" / "rifc_incidents.csv",
              "-71.5694,,,3,GREEN,Graffiti near", "-71.5694,,,5,GREEN,Graffiti near")
    edit_file(ri_dir / "feeds" / "rifc_products.ndjson", '"county_fips": ["44007"]',
              '"county_fips": ["44001"]')
    before = snapshot_tables(sqlite_store, exclude=("ingest_runs",))
    inject_failure("_write_coverage", 1)  # the rifc products source fails after its upsert

    report = ingest(ri_config, sqlite_store)

    statuses = {(s.center_id, s.source_name): s.status for s in report.sources}
    assert statuses == {("rifc", "incidents"): "loaded", ("rifc", "products"): "failed",
                        ("prov", "incidents"): "unchanged", ("prov", "products"): "unchanged"}
    after = snapshot_tables(sqlite_store, exclude=("ingest_runs",))
    assert after["products"] == before["products"]
    assert after["product_coverage"] == before["product_coverage"]
    assert after["incidents"] != before["incidents"]  # the other source of the center loaded
    # The failed source is read again next time (its last load is still the old one).
    again = ingest(ri_config, sqlite_store)
    assert {(s.center_id, s.source_name): s.status for s in again.sources}[
        ("rifc", "products")] == "loaded"
    coverage = read_frame(sqlite_store, "product_coverage")
    assert "44001" in coverage["area_id"].to_list()


def test_a_missing_feed_fails_alone_naming_file_center_and_source(
    ri_config: ProjectConfig, ri_dir: Path, sqlite_store: sa.Engine,
) -> None:
    feed = (ri_dir / "feeds" / "prov_products.csv").resolve()
    feed.unlink()

    report = ingest(ri_config, sqlite_store)

    [failed] = report.failed
    assert failed.error is not None
    assert failed.error.startswith(f"{feed} (center prov, source products): cannot read: ")
    assert "No such file or directory" in failed.error
    assert [s.status for s in report.sources].count("loaded") == 3
    assert read_frame(sqlite_store, "incidents").height == 7
    assert read_frame(sqlite_store, "products").filter(pl.col("center_id") == "prov").is_empty()
    version = data_version(sqlite_store)
    runs = read_frame(sqlite_store, "ingest_runs")
    assert version == runs["run_id"].max()  # a failed run changes what Data health shows


def test_a_connector_exception_fails_only_its_source(
    ri_config: ProjectConfig, sqlite_store: sa.Engine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dashboard.ingest import pipeline

    original = pipeline.connector_for

    def connector_for(kind: str) -> Any:
        connector = original(kind)
        if kind != "ndjson":
            return connector

        class Broken(connector):  # type: ignore[misc, valid-type]
            @staticmethod
            def read(*_: Any, **__: Any) -> Any:
                raise KeyError("boom")

            @staticmethod
            def fingerprint(*_: Any, **__: Any) -> None:
                return None

        return Broken

    monkeypatch.setattr(pipeline, "connector_for", connector_for)
    report = ingest(ri_config, sqlite_store)
    statuses = {(s.center_id, s.source_name): s.status for s in report.sources}
    assert statuses == {("rifc", "incidents"): "loaded", ("rifc", "products"): "failed",
                        ("prov", "incidents"): "failed", ("prov", "products"): "loaded"}
    assert all("cannot read: " in (s.error or "") for s in report.failed), report.failed


def test_counts_add_up_per_source_on_first_load_and_changes(
    ri_config: ProjectConfig, ri_dir: Path, edit_file: Edit, sqlite_store: sa.Engine,
) -> None:
    assert_counts_add_up(sqlite_store, ingest(ri_config, sqlite_store))
    edit_file(ri_dir / "feeds" / "rifc_incidents.csv",
              "-71.5694,,,3,GREEN,Graffiti near", "-71.5694,,,5,GREEN,Graffiti near")
    report = ingest(ri_config, sqlite_store)
    assert_counts_add_up(sqlite_store, report)
    rifc = next(s for s in report.sources if (s.center_id, s.source_name) == ("rifc",
                                                                                "incidents"))
    assert (rifc.rows_read, rifc.rows_inserted, rifc.rows_updated, rifc.rows_unchanged,
            rifc.rows_rejected) == (10, 0, 1, 3, 6)


def test_only_quarantined_rows_keep_a_raw_copy(ri_config: ProjectConfig,
                                                sqlite_store: sa.Engine) -> None:
    ingest(ri_config, sqlite_store)
    quarantine = read_frame(sqlite_store, "quarantine")
    assert quarantine["raw_record"].null_count() == 0
    assert "_raw_record" not in read_frame(sqlite_store, "incidents").columns


# --- incremental duplicate linking equals linking every incident again ----------------------

def all_links(engine: sa.Engine, config: ProjectConfig) -> list[tuple[Any, ...]]:
    rules = config.settings.ingest
    full = link_duplicates(read_frame(engine, "incidents", LINK_COLUMNS),
                           rules.duplicate_max_km, rules.duplicate_max_minutes)
    return sorted(full.select("center_id", "incident_id", "duplicate_of_center_id",
                              "duplicate_of_incident_id").rows())


def stored_links(engine: sa.Engine) -> list[tuple[Any, ...]]:
    return sorted(read_frame(engine, "incident_links").select(
        "center_id", "incident_id", "duplicate_of_center_id", "duplicate_of_incident_id").rows())


def test_incremental_links_equal_full_relinking_on_the_fixture(
    ri_config: ProjectConfig, ri_dir: Path, edit_file: Edit, sqlite_store: sa.Engine,
) -> None:
    ingest(ri_config, sqlite_store)
    assert stored_links(sqlite_store) == all_links(sqlite_store, ri_config) != []
    edit_file(ri_dir / "feeds" / "rifc_incidents.csv",
              "-71.5694,,,3,GREEN,Graffiti near", "-71.5694,,,5,GREEN,Graffiti near")
    ingest(ri_config, sqlite_store)
    assert stored_links(sqlite_store) == all_links(sqlite_store, ri_config) != []


def test_incremental_links_equal_full_relinking_on_a_small_demo(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    engine = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    for seed in (3, 4):  # a first load, then feeds in which most rows changed
        generate(folder, state="CA", incidents=4_000, seed=seed, today=DEMO_TODAY)
        config = load_config(folder / "config")
        run_ingest(config, engine)
        links = stored_links(engine)
        assert links == all_links(engine, config)
        assert len(links) > 10
    # Appended rows: a copy of some incidents of one center under new ids, which duplicates
    # other centers' reports.
    feed = next(p for p in (folder / "feeds").iterdir() if p.suffix == ".csv"
                and "incident" in p.name)
    lines = feed.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    id_column = next(i for i, name in enumerate(header) if "id" in name.lower())
    extra = []
    for number, line in enumerate(lines[1:41]):
        cells = line.split(",")
        cells[id_column] = f"{cells[id_column]}-copy{number}"
        extra.append(",".join(cells))
    feed.write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")
    report = run_ingest(config, engine)
    assert any(s.rows_inserted for s in report.sources)
    assert stored_links(engine) == all_links(engine, config)
    engine.dispose()


def test_one_source_can_be_ingested_alone(ri_config: ProjectConfig, tmp_path: Path) -> None:
    """What the watch service does on a source's schedule: that source, and nothing else."""
    from dashboard.ingest.pipeline import IngestError

    engine = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    report = run_ingest(ri_config, engine, now=NOW, sources=[("rifc", "incidents")])
    assert [(s.center_id, s.source_name) for s in report.sources] == [("rifc", "incidents")]
    incidents = read_frame(engine, "incidents", ["center_id"])
    assert incidents["center_id"].unique().to_list() == ["rifc"]
    with pytest.raises(IngestError, match="no such source: rifc/nope"):
        run_ingest(ri_config, engine, now=NOW, sources=[("rifc", "nope")])
