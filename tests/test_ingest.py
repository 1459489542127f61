"""Ingest of the Rhode Island fixture deployment, and cross-center duplicate linking."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import polars as pl
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dashboard.frames import read_frame
from dashboard.ingest.dedup import LINK_COLUMNS, link_duplicates
from dashboard.ingest.pipeline import IngestReport, run_ingest
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store

NOW = datetime(2025, 12, 1, tzinfo=UTC)
FIXTURE = Path(__file__).parent / "fixtures" / "ri"
Edit = Callable[[Path, str, str], None]

# (center, source) -> (status, read, inserted, updated, unchanged, rejected, flagged)
FIXTURE_COUNTS = {
    ("rifc", "incidents"): ("loaded", 10, 4, 0, 0, 6, 1),
    ("rifc", "products"): ("loaded", 4, 2, 0, 0, 2, 0),
    ("prov", "incidents"): ("loaded", 6, 3, 0, 0, 3, 0),
    ("prov", "products"): ("loaded", 2, 2, 0, 0, 0, 0),
}
UNCHANGED = ("unchanged", 0, 0, 0, 0, 0, 0)
BAD_DATE = ("occurred_at: not a valid date/time (expected format '%m/%d/%Y %H:%M', "
            "local time America/New_York)")
# (center, source, row_number, field, value, reason): one per deliberately bad fixture row.
FIXTURE_QUARANTINE = [
    ("prov", "incidents", 3, "severity", "9", "severity: above the maximum 5"),
    ("prov", "incidents", 4, "(row)", ANY, "unreadable row: not valid JSON (Expecting ',' "
     "delimiter)"),
    ("prov", "incidents", 6, "incident_id", "P-104",
     "incident_id: repeats the id first sent at line 5"),
    ("rifc", "incidents", 4, "occurred_at", "13/40/2025 10:00", BAD_DATE),
    ("rifc", "incidents", 5, "category", "Jaywalking",
     "category: 'Jaywalking' is not among the known categories"),
    ("rifc", "incidents", 6, "county_fips", "99999",
     "county_fips: '99999' is not among the known counties"),
    ("rifc", "incidents", 7, "latitude, longitude", "40.7128, -74.006",
     "latitude, longitude: (40.7128, -74.006) is outside RI and no county is given"),
    ("rifc", "incidents", 9, "incident_id", None, "incident_id: required field is empty"),
    # In the hour New York skipped when clocks went forward: no such local time.
    ("rifc", "incidents", 10, "occurred_at", "03/09/2025 02:30",
     "occurred_at: local time that does not exist in America/New_York (skipped when clocks "
     "went forward)"),
    ("rifc", "products", 3, "topics", "weather", "topics: weather not among the known categories"),
    ("rifc", "products", 4, "county_fips, region, statewide", None,
     "county_fips, region, statewide: no area: give counties, regions or statewide"),
]


def ingest(config: ProjectConfig, engine: sa.Engine, now: datetime = NOW) -> IngestReport:
    return run_ingest(config, engine, now=now)


def counts(report: IngestReport) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {
        (s.center_id, s.source_name): (s.status, s.rows_read, s.rows_inserted, s.rows_updated,
                                       s.rows_unchanged, s.rows_rejected, s.rows_flagged)
        for s in report.sources
    }


def incident(engine: sa.Engine, center_id: str, incident_id: str) -> dict[str, Any]:
    frame = read_frame(engine, "incidents").filter(
        pl.col("center_id") == center_id, pl.col("incident_id") == incident_id)
    assert frame.height == 1, f"{center_id}/{incident_id} not stored"
    return frame.row(0, named=True)


def quarantine(engine: sa.Engine) -> list[dict[str, Any]]:
    return read_frame(engine, "quarantine").sort(
        "center_id", "source_name", "row_number").to_dicts()


# --- the fixture deployment, ingested once for the tests that only read -------------------

@dataclass(frozen=True)
class Ingested:
    report: IngestReport
    engine: sa.Engine
    feeds: Path


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingested]:
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('ingested') / 'store.sqlite'}")
    report = ingest(load_config(FIXTURE / "config"), engine)
    yield Ingested(report, engine, (FIXTURE / "feeds").resolve())
    engine.dispose()


def test_fixture_ingest_counts_per_source(ingested: Ingested) -> None:
    report = ingested.report
    assert counts(report) == FIXTURE_COUNTS
    assert report.rows_rejected == 11 and report.rows_written == 11
    assert report.duplicate_links == 1
    stored = read_frame(ingested.engine, "ingest_runs").sort("run_id")
    assert stored.select(
        "center_id", "source_name", "connector_kind", "status", "rows_read", "rows_inserted",
        "rows_updated", "rows_unchanged", "rows_rejected", "rows_flagged",
    ).rows() == [
        ("rifc", "incidents", "csv", "loaded", 10, 4, 0, 0, 6, 1),
        ("rifc", "products", "ndjson", "loaded", 4, 2, 0, 0, 2, 0),
        ("prov", "incidents", "ndjson", "loaded", 6, 3, 0, 0, 3, 0),
        ("prov", "products", "csv", "loaded", 2, 2, 0, 0, 0, 0),
    ]
    assert stored["batch_id"].n_unique() == 1 and stored["batch_id"][0] == report.batch_id


def test_fixture_stores_the_valid_rows(ingested: Ingested) -> None:
    incidents = read_frame(ingested.engine, "incidents").sort("center_id", "incident_id")
    assert incidents.select("center_id", "incident_id").rows() == [
        ("prov", "P-100"), ("prov", "P-101"), ("prov", "P-104"),
        ("rifc", "R-1"), ("rifc", "R-2"), ("rifc", "R-7"), ("rifc", "R-9"),
    ]
    # The first of two rows with the same id is the one kept.
    assert incident(ingested.engine, "prov", "P-104")["narrative"] == "Repeated id, first copy"
    products = read_frame(ingested.engine, "products").sort("center_id", "product_id")
    assert products.select("center_id", "product_id").rows() == [
        ("prov", "PP-1"), ("prov", "PP-2"), ("rifc", "RP-1"), ("rifc", "RP-2"),
    ]


def test_every_bad_fixture_row_is_quarantined_with_its_reason(ingested: Ingested) -> None:
    rows = quarantine(ingested.engine)
    assert [(r["center_id"], r["source_name"], r["row_number"], r["field"], r["value"],
             r["reason"]) for r in rows] == FIXTURE_QUARANTINE
    feeds = ingested.feeds
    assert {(r["center_id"], r["source_name"], r["table_name"], r["location"]) for r in rows} == {
        ("prov", "incidents", "incidents", str(feeds / "prov_incidents.ndjson")),
        ("rifc", "incidents", "incidents", str(feeds / "rifc_incidents.csv")),
        ("rifc", "products", "products", str(feeds / "rifc_products.ndjson")),
    }


def test_example_errors_name_file_and_line(ingested: Ingested) -> None:
    prov_incidents = next(s for s in ingested.report.sources
                          if (s.center_id, s.source_name) == ("prov", "incidents"))
    feed = ingested.feeds / "prov_incidents.ndjson"
    assert prov_incidents.example_errors == [
        f"{feed}, line 3: severity: above the maximum 5",
        f"{feed}, line 4: unreadable row: not valid JSON (Expecting ',' delimiter)",
        f"{feed}, line 6: incident_id: repeats the id first sent at line 5",
    ]


def test_quarantine_keeps_the_raw_record_with_the_original_values(ingested: Ingested) -> None:
    raw = {(r["center_id"], r["source_name"], r["row_number"]): json.loads(r["raw_record"])
           for r in quarantine(ingested.engine)}
    # Feed column names and spellings, before any column or value map.
    assert raw[("rifc", "incidents", 5)] == {
        "Case No": "R-4", "Date/Time": "02/01/2025 10:00", "Offense": "Jaywalking",
        "County FIPS": "44009", "Lat": None, "Lon": None, "Behavior": None, "Sector": None,
        "Sev": "2", "Marking": "GREEN", "Details": "Unknown category",
    }
    assert raw[("prov", "incidents", 3)] == {
        "id": "P-102", "when": "2025-02-10T12:00:00+00:00", "type": "cybercrime",
        "fips": "44003", "lat": None, "lon": None, "severity": "9", "tlp": None,
        "text": "Severity out of range",
    }
    assert raw[("rifc", "products", 3)]["topics"] == ["weather"]
    assert raw[("rifc", "products", 4)]["title"] == "<img src=x onerror=alert(1)>"


def test_unreadable_json_line_keeps_the_line_in_quarantine(ingested: Ingested) -> None:
    row = next(r for r in quarantine(ingested.engine)
               if (r["center_id"], r["row_number"]) == ("prov", 4))
    # Without the line an analyst cannot see what the feed sent; either column may keep it.
    line = '{"id": "P-103" "when": broken json'
    assert line in (row["value"] or "") or json.dumps(line)[1:-1] in row["raw_record"]


def test_ambiguous_local_time_resolves_to_the_earlier_offset(ingested: Ingested) -> None:
    # 2025-11-02 01:30 happens twice in New York; the first time is EDT (UTC-4).
    assert incident(ingested.engine, "rifc", "R-9")["occurred_at"] == datetime(
        2025, 11, 2, 5, 30, tzinfo=UTC)


def test_csv_local_times_are_stored_in_utc(ingested: Ingested) -> None:
    assert incident(ingested.engine, "rifc", "R-1")["occurred_at"] == datetime(
        2025, 1, 15, 13, 0, tzinfo=UTC)
    assert incident(ingested.engine, "rifc", "R-7")["occurred_at"] == datetime(
        2025, 2, 4, 16, 0, tzinfo=UTC)
    # Offsets in the feed are honoured as given.
    assert incident(ingested.engine, "prov", "P-100")["occurred_at"] == datetime(
        2025, 1, 15, 13, 5, tzinfo=UTC)


def test_value_maps_and_defaults_are_applied(ingested: Ingested) -> None:
    r2 = incident(ingested.engine, "rifc", "R-2")
    assert (r2["category"], r2["tlp"], r2["sar_behavior"], r2["target_sector"], r2["severity"]) \
        == ("cybercrime", "TLP:AMBER", "CYBER", "ENRG", 4)
    # No marking in the feed: the center's default.
    assert incident(ingested.engine, "rifc", "R-9")["tlp"] == "TLP:AMBER"
    assert incident(ingested.engine, "prov", "P-101")["tlp"] == "TLP:GREEN"


def test_county_is_derived_from_coordinates_when_absent(ingested: Ingested) -> None:
    r2 = incident(ingested.engine, "rifc", "R-2")
    assert (r2["county_fips"], r2["county_source"], r2["geo_flag"]) == (
        "44003", "coordinates", None)
    r1 = incident(ingested.engine, "rifc", "R-1")
    assert (r1["county_fips"], r1["county_source"], r1["geo_flag"]) == ("44007", "feed", None)


def test_coordinates_far_from_the_given_county_are_flagged_not_fixed(ingested: Ingested) -> None:
    r7 = incident(ingested.engine, "rifc", "R-7")
    assert (r7["county_fips"], r7["county_source"], r7["geo_flag"]) == (
        "44005", "feed", "county_mismatch")


def test_county_mismatch_tolerance_comes_from_settings(ri_dir: Path, edit_file: Edit,
                                                       sqlite_store: sa.Engine) -> None:
    edit_file(ri_dir / "config" / "settings.toml", "county_mismatch_tolerance_km = 2.0",
              "county_mismatch_tolerance_km = 100.0")

    report = ingest(load_config(ri_dir / "config"), sqlite_store)

    assert incident(sqlite_store, "rifc", "R-7")["geo_flag"] is None
    assert counts(report)[("rifc", "incidents")][-1] == 0


def test_coordinates_outside_the_state_with_a_county_are_kept_flagged(
    ri_config: ProjectConfig, ri_dir: Path, edit_file: Edit, sqlite_store: sa.Engine
) -> None:
    feed = ri_dir / "feeds" / "rifc_incidents.csv"
    last = "R-9,11/02/2025 01:30,Gang Activity,44007,,,,,3,,Ambiguous local time (DST end)\n"
    edit_file(feed, last, last + "R-10,02/06/2025 10:00,Narcotics,44009,40.7128,-74.0060,,,2,"
              "GREEN,Coordinates in New York but county Washington\n")

    report = ingest(ri_config, sqlite_store)

    r10 = incident(sqlite_store, "rifc", "R-10")
    assert (r10["county_fips"], r10["county_source"], r10["geo_flag"]) == (
        "44009", "feed", "outside_state")
    assert counts(report)[("rifc", "incidents")] == ("loaded", 11, 5, 0, 0, 6, 2)


def test_product_areas_go_to_product_coverage(ingested: Ingested) -> None:
    coverage = read_frame(ingested.engine, "product_coverage")
    assert sorted(coverage.rows()) == [
        ("prov", "PP-1", "county", "44007"),
        ("prov", "PP-2", "region", "north"),
        ("rifc", "RP-1", "county", "44007"),
        ("rifc", "RP-2", "statewide", "statewide"),
    ]


def test_product_fields_are_canonical(ingested: Ingested) -> None:
    products = read_frame(ingested.engine, "products").sort("center_id", "product_id")
    assert products.select(
        "product_id", "product_type", "published_at", "topics", "tlp", "incident_ids"
    ).rows() == [
        # A bare date is midnight local time of the center.
        ("PP-1", "bulletin", datetime(2025, 1, 22, 5, 0, tzinfo=UTC), ["gangs"], "TLP:AMBER",
         None),
        ("PP-2", "assessment", datetime(2025, 2, 15, 10, 0, tzinfo=UTC), ["narcotics", "gangs"],
         "TLP:GREEN", None),
        ("RP-1", "bulletin", datetime(2025, 1, 20, 15, 0, tzinfo=UTC), ["gangs"], "TLP:GREEN",
         ["R-1"]),
        ("RP-2", "assessment", datetime(2025, 2, 1, 15, 0, tzinfo=UTC), ["cybercrime"],
         "TLP:CLEAR", None),
    ]


def test_cross_center_duplicate_links_to_the_earlier_report(ingested: Ingested) -> None:
    links = read_frame(ingested.engine, "incident_links").to_dicts()
    assert links == [{
        "center_id": "prov", "incident_id": "P-100", "duplicate_of_center_id": "rifc",
        "duplicate_of_incident_id": "R-1", "distance_km": pytest.approx(0.01386, abs=1e-4),
        "minutes_apart": 5.0,
    }]


def test_narratives_are_stored_verbatim(ingested: Ingested) -> None:
    # Escaping is the display's job; the store keeps what the feed sent.
    assert incident(ingested.engine, "rifc", "R-2")["narrative"] == (
        "<script>alert(1)</script> phishing wave")


def test_dates_beyond_the_future_tolerance_are_rejected(ri_config: ProjectConfig,
                                                        sqlite_store: sa.Engine) -> None:
    report = ingest(ri_config, sqlite_store, now=datetime(2025, 11, 1, 4, 0, tzinfo=UTC))

    # R-9 (2025-11-02 05:30 UTC) is 25.5 h after "now"; the tolerance is 24 h.
    assert counts(report)[("rifc", "incidents")] == ("loaded", 10, 3, 0, 0, 7, 1)
    r9 = next(r for r in quarantine(sqlite_store)
              if (r["center_id"], r["source_name"], r["row_number"]) == ("rifc", "incidents", 11))
    assert (r9["field"], r9["value"], r9["reason"]) == (
        "occurred_at", "11/02/2025 01:30", "occurred_at: impossible date: in the future")


# --- re-ingest ---------------------------------------------------------------------------------

def test_reingest_of_unchanged_feeds_changes_nothing(
    ri_config: ProjectConfig, sqlite_store: sa.Engine, snapshot_tables: Callable[..., Any]
) -> None:
    ingest(ri_config, sqlite_store)
    before = snapshot_tables(sqlite_store, exclude=("ingest_runs",))

    report = ingest(ri_config, sqlite_store)

    assert counts(report) == dict.fromkeys(FIXTURE_COUNTS, UNCHANGED)
    assert report.duplicate_links is None
    assert snapshot_tables(sqlite_store, exclude=("ingest_runs",)) == before
    runs = read_frame(sqlite_store, "ingest_runs").sort("run_id")
    assert runs["status"].to_list() == ["loaded"] * 4 + ["unchanged"] * 4
    # An unchanged source is recorded with the hash it was loaded with.
    assert runs["source_hash"][4:].to_list() == runs["source_hash"][:4].to_list()


def test_changed_row_is_updated_in_place(ri_config: ProjectConfig, ri_dir: Path,
                                         edit_file: Edit, sqlite_store: sa.Engine) -> None:
    ingest(ri_config, sqlite_store)
    edit_file(ri_dir / "feeds" / "rifc_incidents.csv",
              "-71.5694,,,3,GREEN,Graffiti near", "-71.5694,,,5,GREEN,Graffiti near")

    report = ingest(ri_config, sqlite_store)

    assert counts(report) == {
        ("rifc", "incidents"): ("loaded", 10, 0, 1, 3, 6, 1),
        ("rifc", "products"): UNCHANGED,
        ("prov", "incidents"): UNCHANGED,
        ("prov", "products"): UNCHANGED,
    }
    r1 = incident(sqlite_store, "rifc", "R-1")
    assert (r1["severity"], r1["run_id"]) == (5, 5)
    assert incident(sqlite_store, "rifc", "R-2")["run_id"] == 1
    assert read_frame(sqlite_store, "incidents").height == 7
    assert read_frame(sqlite_store, "incident_links").select(
        "incident_id", "duplicate_of_incident_id").rows() == [("P-100", "R-1")]
    assert len(quarantine(sqlite_store)) == len(FIXTURE_QUARANTINE)


def test_changed_product_area_replaces_its_coverage(ri_config: ProjectConfig, ri_dir: Path,
                                                    edit_file: Edit,
                                                    sqlite_store: sa.Engine) -> None:
    ingest(ri_config, sqlite_store)
    edit_file(ri_dir / "feeds" / "prov_products.csv", "bulletin,2025-01-22,gangs,44007,,",
              "bulletin,2025-01-22,gangs,44001;44003,south,")

    report = ingest(ri_config, sqlite_store)

    assert counts(report)[("prov", "products")] == ("loaded", 2, 0, 1, 1, 0, 0)
    coverage = read_frame(sqlite_store, "product_coverage").filter(
        pl.col("product_id") == "PP-1")
    assert sorted(coverage.select("scope", "area_id").rows()) == [
        ("county", "44001"), ("county", "44003"), ("region", "south"),
    ]


def test_changed_config_forces_a_reread(ri_config: ProjectConfig, ri_dir: Path, edit_file: Edit,
                                        sqlite_store: sa.Engine) -> None:
    ingest(ri_config, sqlite_store)
    edit_file(ri_dir / "config" / "centers.toml", '"Narcotics" = "narcotics"',
              '"Narcotics" = "narcotics"\n"Jaywalking" = "narcotics"')

    report = ingest(load_config(ri_dir / "config"), sqlite_store)

    assert counts(report) == {
        ("rifc", "incidents"): ("loaded", 10, 1, 0, 4, 5, 1),
        ("rifc", "products"): UNCHANGED,
        ("prov", "incidents"): UNCHANGED,
        ("prov", "products"): UNCHANGED,
    }
    assert incident(sqlite_store, "rifc", "R-4")["category"] == "narcotics"
    assert [r["row_number"] for r in quarantine(sqlite_store)
            if (r["center_id"], r["source_name"]) == ("rifc", "incidents")] == [4, 6, 7, 9, 10]


def test_sql_source_is_hashed_by_content(ri_dir: Path, edit_file: Edit,
                                         sqlite_store: sa.Engine) -> None:
    feed = sa.create_engine(f"sqlite:///{ri_dir / 'feeds' / 'prov.sqlite'}")
    with feed.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE incidents (id TEXT, occurred TEXT, type TEXT, fips TEXT, sev INTEGER)")
        connection.exec_driver_sql(
            "INSERT INTO incidents VALUES ('S-1', '2025-01-15T13:00:00Z', 'gangs', '44007', 3),"
            " ('S-2', '2025-01-16T13:00:00Z', 'narcotics', '44001', 2)")
    edit_file(ri_dir / "config" / "centers.toml",
              'kind = "ndjson"\nlocation = "../feeds/prov_incidents.ndjson"',
              'kind = "sql"\nlocation = "sqlite:///../feeds/prov.sqlite"\n'
              'options = { query = "SELECT id, occurred AS \\"when\\", type, fips, sev AS severity'
              ' FROM incidents" }')
    config = load_config(ri_dir / "config")

    first, second = ingest(config, sqlite_store), ingest(config, sqlite_store)
    with feed.begin() as connection:
        connection.exec_driver_sql("UPDATE incidents SET sev = 5 WHERE id = 'S-1'")
    third = ingest(config, sqlite_store)
    feed.dispose()

    assert counts(first)[("prov", "incidents")] == ("loaded", 2, 2, 0, 0, 0, 0)
    assert counts(second)[("prov", "incidents")] == UNCHANGED
    assert counts(third)[("prov", "incidents")] == ("loaded", 2, 0, 1, 1, 0, 0)
    assert incident(sqlite_store, "prov", "S-1")["severity"] == 5


# --- failures: a source that fails is rolled back alone ---------------------------------------

# (function made to fail, on which call, the (center, source) being written at that call). The
# fixture's sources run rifc incidents, rifc products, prov incidents, prov products.
INJECTION_POINTS = [
    pytest.param("upsert", 2, ("rifc", "products"), id="upsert-2"),
    pytest.param("_write_coverage", 1, ("rifc", "products"), id="_write_coverage-1"),
    pytest.param("relink_duplicates", 1, ("rifc", "incidents"), id="relink_duplicates-1"),
]
FEED_FILES = {("rifc", "incidents"): "rifc_incidents.csv",
              ("rifc", "products"): "rifc_products.ndjson",
              ("prov", "incidents"): "prov_incidents.ndjson",
              ("prov", "products"): "prov_products.csv"}
# Ids the store assigns, which differ between two stores holding the same data.
SURROGATE_IDS = ("run_id", "quarantine_id")
Snapshot = dict[str, list[tuple[Any, ...]]]
SourceRows = dict[str, list[dict[str, Any]]]


def named_rows(engine: sa.Engine, snapshot: Snapshot, table_name: str,
               drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """A snapshotted table's rows as dicts, without the ``drop`` columns."""
    names = [column["name"] for column in sa.inspect(engine).get_columns(table_name)]
    rows = [{name: value for name, value in zip(names, row, strict=True) if name not in drop}
            for row in snapshot[table_name]]
    return sorted(rows, key=lambda row: repr(tuple(row.values())))


def rows_of_source(engine: sa.Engine, snapshot: Snapshot, center: str, source: str,
                   drop: tuple[str, ...] = (), links: bool = True) -> SourceRows:
    """What a snapshot holds of one fixture source (named after its table): its rows, their
    coverage or (with ``links``) the duplicate links of its center, and its quarantine."""
    def where(table_name: str, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [row for row in named_rows(engine, snapshot, table_name, drop) if keep(row)]

    def in_center(row: dict[str, Any]) -> bool:
        return bool(row["center_id"] == center)

    rows = {source: where(source, in_center),
            "quarantine": where("quarantine", lambda row: in_center(row)
                                and row["source_name"] == source)}
    if source == "products":
        rows["product_coverage"] = where("product_coverage", in_center)
    elif links:
        rows["incident_links"] = where("incident_links", lambda row: center in (
            row["center_id"], row["duplicate_of_center_id"]))
    return rows


def store_state(engine: sa.Engine, snapshot: Snapshot) -> dict[str, list[tuple[Any, ...]]]:
    """Every table but ingest_runs, without surrogate ids: equal for two stores that hold the
    same data."""
    return {name: [tuple(row.values()) for row in named_rows(engine, snapshot, name,
                                                             SURROGATE_IDS)]
            for name in snapshot if name != "ingest_runs"}


def full_relink(engine: sa.Engine, config: ProjectConfig) -> list[tuple[Any, ...]]:
    rules = config.settings.ingest
    links = link_duplicates(read_frame(engine, "incidents", list(LINK_COLUMNS)),
                            rules.duplicate_max_km, rules.duplicate_max_minutes)
    return sorted(links.select("center_id", "incident_id", "duplicate_of_center_id",
                               "duplicate_of_incident_id").rows())


def stored_links(engine: sa.Engine) -> list[tuple[Any, ...]]:
    return sorted(read_frame(engine, "incident_links").select(
        "center_id", "incident_id", "duplicate_of_center_id", "duplicate_of_incident_id").rows())


def assert_failed_alone(
    config: ProjectConfig, engine: sa.Engine, clean: sa.Engine, snapshot_tables: Callable[..., Any],
    before: Snapshot, report: IngestReport, failing: tuple[str, str], error: str,
) -> None:
    """The failing source's rows are as ``before``, a failed run names ``error``, every other
    source is stored as in the ``clean`` store, and a run without the failure completes the
    store to the clean store's state."""
    after, reference = snapshot_tables(engine), snapshot_tables(clean)
    assert rows_of_source(engine, after, *failing) == rows_of_source(engine, before, *failing)
    # The failure was real: a clean run stores that source differently.
    assert rows_of_source(clean, reference, *failing, drop=SURROGATE_IDS) != \
        rows_of_source(engine, before, *failing, drop=SURROGATE_IDS)
    # The sources committed before and after the failing one are stored as by a clean run
    # (duplicate links checked on their own below: the failed source's incidents are missing).
    for other in FEED_FILES:
        if other != failing:
            assert rows_of_source(engine, after, *other, drop=SURROGATE_IDS, links=False) == \
                rows_of_source(clean, reference, *other, drop=SURROGATE_IDS, links=False), other
    assert stored_links(engine) == full_relink(engine, config)

    [failed] = report.failed
    assert (failed.center_id, failed.source_name, failed.error) == (*failing, error)
    assert "\n" not in error
    runs = read_frame(engine, "ingest_runs").filter(pl.col("batch_id") == report.batch_id)
    assert runs.height == 4
    recorded = runs.filter(pl.col("status") == "failed").select(
        "center_id", "source_name", "location", "error", "rows_read", "rows_inserted").rows()
    assert recorded == [(*failing, failed.location, error, 0, 0)]
    assert runs.filter(pl.col("status") != "failed")["error"].null_count() == 3

    # Without the failure (the injected one fires once), the failed source loads and the store
    # ends as after a clean run; the sources that loaded are not read again.
    again = ingest(config, engine)
    assert {(s.center_id, s.source_name): s.status for s in again.sources} == {
        source: "loaded" if source == failing else "unchanged" for source in FEED_FILES}
    assert again.failed == []
    assert store_state(engine, snapshot_tables(engine)) == store_state(clean, reference)


@pytest.mark.parametrize(("name", "call_number", "failing"), INJECTION_POINTS)
def test_failure_mid_run_leaves_the_failing_source_empty_in_an_empty_store(
    ri_config: ProjectConfig, ri_dir: Path, tmp_path: Path, sqlite_store: sa.Engine,
    snapshot_tables: Callable[..., Any], inject_failure: Callable[[str, int], None], name: str,
    call_number: int, failing: tuple[str, str],
) -> None:
    clean = open_store(f"sqlite:///{tmp_path / 'clean.sqlite'}")
    assert counts(ingest(ri_config, clean)) == FIXTURE_COUNTS
    before = snapshot_tables(sqlite_store)
    assert all(not rows for table_name, rows in before.items() if table_name != "alembic_version")
    inject_failure(name, call_number)

    report = ingest(ri_config, sqlite_store)

    feed = (ri_dir / "feeds" / FEED_FILES[failing]).resolve()
    assert counts(report) == {**FIXTURE_COUNTS, failing: ("failed", 0, 0, 0, 0, 0, 0)}
    error = (f"{feed} (center {failing[0]}, source {failing[1]}): failed: "
             f"injected failure: {name} call {call_number}")
    assert_failed_alone(ri_config, sqlite_store, clean, snapshot_tables, before, report,
                        failing, error)
    clean.dispose()


@pytest.mark.parametrize(("name", "call_number", "failing"), INJECTION_POINTS)
def test_failure_mid_run_leaves_the_failing_source_of_a_loaded_store_as_it_was(
    ri_config: ProjectConfig, ri_dir: Path, tmp_path: Path, edit_file: Edit,
    sqlite_store: sa.Engine, snapshot_tables: Callable[..., Any],
    inject_failure: Callable[[str, int], None], name: str, call_number: int,
    failing: tuple[str, str],
) -> None:
    clean = open_store(f"sqlite:///{tmp_path / 'clean.sqlite'}")
    ingest(ri_config, sqlite_store)
    ingest(ri_config, clean)
    # Change both rifc feeds so the failing source writes to several tables before it fails,
    # and the other rifc source has something to commit.
    edit_file(ri_dir / "feeds" / "rifc_incidents.csv",
              "-71.5694,,,3,GREEN,Graffiti near", "-71.5694,,,5,GREEN,Graffiti near")
    edit_file(ri_dir / "feeds" / "rifc_products.ndjson", '"county_fips": ["44007"]',
              '"county_fips": ["44001"]')
    clean_counts = counts(ingest(ri_config, clean))
    before = snapshot_tables(sqlite_store)
    assert len(before["incidents"]) == 7 and len(before["product_coverage"]) == 4
    inject_failure(name, call_number)

    report = ingest(ri_config, sqlite_store)

    feed = (ri_dir / "feeds" / FEED_FILES[failing]).resolve()
    assert counts(report) == {**clean_counts, failing: ("failed", 0, 0, 0, 0, 0, 0)}
    assert [s.status for s in report.sources].count("unchanged") == 2  # the prov sources
    error = (f"{feed} (center {failing[0]}, source {failing[1]}): failed: "
             f"injected failure: {name} call {call_number}")
    assert_failed_alone(ri_config, sqlite_store, clean, snapshot_tables, before, report,
                        failing, error)
    clean.dispose()


def test_missing_feed_file_fails_its_source_alone_naming_file_center_and_source(
    ri_config: ProjectConfig, ri_dir: Path, tmp_path: Path, sqlite_store: sa.Engine,
    snapshot_tables: Callable[..., Any]
) -> None:
    clean = open_store(f"sqlite:///{tmp_path / 'clean.sqlite'}")
    ingest(ri_config, clean)
    failing = ("prov", "products")
    feed = (ri_dir / "feeds" / FEED_FILES[failing]).resolve()
    content = feed.read_bytes()
    feed.unlink()
    before = snapshot_tables(sqlite_store)

    report = ingest(ri_config, sqlite_store)

    assert counts(report) == {**FIXTURE_COUNTS, failing: ("failed", 0, 0, 0, 0, 0, 0)}
    [failed] = report.failed
    assert failed.error is not None and "\n" not in failed.error
    assert failed.error.startswith(f"{feed} (center prov, source products): cannot read: ")
    assert "No such file or directory" in failed.error
    after, reference = snapshot_tables(sqlite_store), snapshot_tables(clean)
    assert rows_of_source(sqlite_store, after, *failing) == \
        rows_of_source(sqlite_store, before, *failing) == {
            "products": [], "product_coverage": [], "quarantine": []}
    for other in FEED_FILES:  # the other three sources load as in a clean run
        if other != failing:
            assert rows_of_source(sqlite_store, after, *other, drop=SURROGATE_IDS) == \
                rows_of_source(clean, reference, *other, drop=SURROGATE_IDS), other
    runs = read_frame(sqlite_store, "ingest_runs").sort("run_id")
    assert runs.select("center_id", "source_name", "status", "location", "error").rows() == [
        ("rifc", "incidents", "loaded", str(ri_dir.resolve() / "feeds" / "rifc_incidents.csv"),
         None),
        ("rifc", "products", "loaded",
         str(ri_dir.resolve() / "feeds" / "rifc_products.ndjson"), None),
        ("prov", "incidents", "loaded",
         str(ri_dir.resolve() / "feeds" / "prov_incidents.ndjson"), None),
        ("prov", "products", "failed", str(feed), failed.error),
    ]

    feed.write_bytes(content)
    again = ingest(ri_config, sqlite_store)
    assert counts(again) == {**dict.fromkeys(FIXTURE_COUNTS, UNCHANGED),
                             failing: FIXTURE_COUNTS[failing]}
    assert store_state(sqlite_store, snapshot_tables(sqlite_store)) == \
        store_state(clean, reference)
    clean.dispose()


# --- link_duplicates -------------------------------------------------------------------------

T0 = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)  # a multiple of 120 minutes since the epoch
LAT, LON = 41.8, -71.4
KM_PER_DEGREE_LATITUDE = 6371.0088 * 3.141592653589793 / 180
LINK_SCHEMA = {"center_id": pl.String, "incident_id": pl.String, "category": pl.String,
               "occurred_at": pl.Datetime("us", "UTC"), "latitude": pl.Float64,
               "longitude": pl.Float64, "county_fips": pl.String}


def reports(*rows: tuple[str, str, str, datetime, float | None, float | None, str]
            ) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=LINK_SCHEMA, orient="row")


def north_of(km: float) -> float:
    return LAT + km / KM_PER_DEGREE_LATITUDE


def minutes(count: float) -> timedelta:
    return timedelta(minutes=count)


def links(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return link_duplicates(frame, max_km=1.0, max_minutes=120).rows()


def test_chain_of_three_reports_links_both_later_ones_to_the_earliest() -> None:
    frame = reports(
        ("c", "C-1", "gangs", T0 + minutes(60), north_of(0.2), LON, "44007"),
        ("a", "A-1", "gangs", T0, LAT, LON, "44007"),
        ("b", "B-1", "gangs", T0 + minutes(30), north_of(0.1), LON, "44007"),
    )

    assert links(frame) == [
        ("b", "B-1", "a", "A-1", pytest.approx(0.1), 30.0),
        ("c", "C-1", "a", "A-1", pytest.approx(0.2), 60.0),
    ]


def test_reports_of_one_center_are_never_linked() -> None:
    frame = reports(("a", "A-1", "gangs", T0, LAT, LON, "44007"),
                    ("a", "A-2", "gangs", T0 + minutes(5), LAT, LON, "44007"))
    assert links(frame) == []


def test_reports_of_one_center_are_not_linked_through_another_center() -> None:
    frame = reports(("a", "A-1", "gangs", T0, LAT, LON, "44007"),
                    ("b", "B-1", "gangs", T0 + minutes(30), LAT, LON, "44007"),
                    ("a", "A-2", "gangs", T0 + minutes(60), LAT, LON, "44007"))

    linked = links(frame)

    assert ("b", "B-1", "a", "A-1", 0.0, 30.0) in linked
    assert [link for link in linked if link[0] == link[2]] == []


def test_different_categories_are_not_linked() -> None:
    frame = reports(("a", "A-1", "gangs", T0, LAT, LON, "44007"),
                    ("b", "B-1", "narcotics", T0, LAT, LON, "44007"))
    assert links(frame) == []


@pytest.mark.parametrize(("km", "later", "linked"), [
    (0.99, minutes(120), True),
    (1.01, minutes(10), False),
    (0.5, minutes(120) + timedelta(seconds=1), False),
])
def test_distance_and_time_thresholds(km: float, later: timedelta, linked: bool) -> None:
    frame = reports(("a", "A-1", "gangs", T0, LAT, LON, "44007"),
                    ("b", "B-1", "gangs", T0 + later, north_of(km), LON, "44007"))
    assert bool(links(frame)) is linked


def test_reports_in_adjacent_time_buckets_are_linked() -> None:
    # 11:50 and 12:10 fall in different 120-minute buckets but are 20 minutes apart.
    frame = reports(("b", "B-1", "gangs", T0 + minutes(10), LAT, LON, "44007"),
                    ("a", "A-1", "gangs", T0 - minutes(10), LAT, LON, "44007"))
    assert links(frame) == [("b", "B-1", "a", "A-1", 0.0, 20.0)]


def test_without_coordinates_the_same_county_counts_as_near() -> None:
    frame = reports(("a", "A-1", "gangs", T0, None, None, "44007"),
                    ("b", "B-1", "gangs", T0 + minutes(15), LAT, LON, "44007"),
                    ("c", "C-1", "gangs", T0 + minutes(20), None, None, "44001"))
    assert links(frame) == [("b", "B-1", "a", "A-1", None, 15.0)]


def test_no_reports_no_links() -> None:
    linked = link_duplicates(reports(), max_km=1.0, max_minutes=120)
    assert linked.is_empty()
    assert linked.columns == ["center_id", "incident_id", "duplicate_of_center_id",
                              "duplicate_of_incident_id", "distance_km", "minutes_apart"]


report_rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(["gangs", "narcotics"]),
        st.integers(min_value=0, max_value=360),  # minutes after T0
        st.one_of(st.none(), st.integers(min_value=0, max_value=4)),  # 0.6 km steps north
        st.sampled_from(["44007", "44001"]),
    ),
    max_size=8,
)


# Explicit phases leave out "explain", which alone takes most of a failing run's time.
@settings(max_examples=100, deadline=None, database=None, report_multiple_bugs=False,
          phases=[Phase.explicit, Phase.generate, Phase.shrink],
          suppress_health_check=[HealthCheck.too_slow])
@given(report_rows)
def test_links_are_cross_center_same_category_within_thresholds(
    rows: list[tuple[str, str, int, int | None, str]]
) -> None:
    frame = reports(*[
        (center, f"{center}-{index}", category, T0 + minutes(offset),
         None if step is None else north_of(0.6 * step), None if step is None else LON, county)
        for index, (center, category, offset, step, county) in enumerate(rows)
    ])
    linked = link_duplicates(frame, max_km=1.0, max_minutes=120)

    by_id = {row["incident_id"]: row for row in frame.iter_rows(named=True)}
    for link in linked.iter_rows(named=True):
        duplicate, original = by_id[link["incident_id"]], by_id[link["duplicate_of_incident_id"]]
        assert duplicate["center_id"] != original["center_id"]
        assert duplicate["category"] == original["category"]
        assert original["occurred_at"] <= duplicate["occurred_at"]
        assert link["minutes_apart"] <= 120
        if link["distance_km"] is None:
            assert duplicate["county_fips"] == original["county_fips"]
        else:
            assert link["distance_km"] <= 1.0
    duplicates = set(linked["incident_id"])
    assert len(duplicates) == linked.height
    assert duplicates.isdisjoint(set(linked["duplicate_of_incident_id"]))
