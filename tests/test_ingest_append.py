"""A text feed that only grew is read from where the last load ended (issue 13, item 5): the
store ends up exactly as a read of the whole file gives, and anything else (an edit, a new
config, a file that may still be growing its last line) is read whole."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from dashboard.frames import load_health_frames, read_frame
from dashboard.ingest.pipeline import SourceReport, run_ingest
from dashboard.pagemodels.data_health import data_health_page
from dashboard.security.policy import VisibilityClass
from dashboard.settings import load_config
from dashboard.store import open_store
from data_sources import connector_for
from data_sources.files import scan_file
from data_sources.sql import cursor_text, cursor_value

RIFC = ("rifc", "incidents")
PROV = ("prov", "incidents")
BOOKKEEPING = ["run_id", "entered_at", "review_by"]

CSV_APPENDED = (
    "R-40,01/21/2025 08:00,Gang Activity,44007,41.8606,-71.5694,,,3,GREEN,Tagging again\n"
    "R-41,01/21/2025 09:00,Gang Activity,44007,,,,,3,GREEN,Too many,fields\n"
    "R-1,01/15/2025 08:00,Gang Activity,44007,41.8606,-71.5694,,,3,GREEN,Sent again\n"
    'R-42,01/21/2025 10:00,Narcotics,44001,,,,,2,GREEN,"Two\nlines"\n'
    "R-43,01/21/2025 11:00,Narcotics,44001,,,,,2,GREEN,Café\n"
)
NDJSON_APPENDED = [
    {"id": "P-200", "when": "2025-01-22T10:00:00Z", "type": "gangs", "fips": "44007",
     "lat": 41.8607, "lon": -71.5693, "severity": 3, "tlp": "TLP:GREEN", "text": "Appended"},
    {"id": "P-100", "when": "2025-01-15T13:05:00Z", "type": "gangs", "fips": "44007",
     "severity": 3, "tlp": "TLP:GREEN", "text": "Sent again"},
]


def feed(ri_dir: Path, key: tuple[str, str]) -> Path:
    name = {RIFC: "rifc_incidents.csv", PROV: "prov_incidents.ndjson"}[key]
    return ri_dir / "feeds" / name


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8", newline="") as out:
        out.write(text)


def ndjson_lines(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def ingest(ri_dir: Path, engine: sa.Engine) -> dict[tuple[str, str], SourceReport]:
    report = run_ingest(load_config(ri_dir / "config"), engine)
    for source in report.sources:  # every record read is accounted for, appended or not
        assert source.rows_read == source.rows_accounted, source
    return {(s.center_id, s.source_name): s for s in report.sources}


def picture(engine: sa.Engine) -> dict[str, Any]:
    """What a user can see of a store: rows (bookkeeping aside), links, quarantine."""
    incidents = read_frame(engine, "incidents").drop(BOOKKEEPING).sort("center_id", "incident_id")
    links = read_frame(engine, "incident_links")
    quarantine = read_frame(engine, "quarantine").select(
        "center_id", "source_name", "row_number", "field", "value", "reason", "raw_record")
    # A repeated id is named with the line first sending it after a whole read, with the
    # line an appended read starts at otherwise: the same rows, the same field.
    quarantine = quarantine.with_columns(
        pl.col("reason").str.replace(r"repeats .*", "repeats an id")
    ).sort("center_id", "source_name", "row_number")
    return {"incidents": incidents.to_dicts(),
            "links": sorted(links.drop("run_id", strict=False).rows()),
            "quarantine": quarantine.to_dicts()}


def whole_read_store(ri_dir: Path, tmp_path: Path) -> sa.Engine:
    engine = open_store(f"sqlite:///{tmp_path / 'whole.sqlite'}")
    ingest(ri_dir, engine)
    return engine


def test_appended_csv_lines_alone_are_read_and_the_store_equals_a_whole_read(
        ri_dir: Path, sqlite_store: sa.Engine, tmp_path: Path) -> None:
    first = ingest(ri_dir, sqlite_store)[RIFC]
    earlier_rejects = set(_rejects(sqlite_store))
    lines = feed(ri_dir, RIFC).read_bytes().count(b"\n")
    append(feed(ri_dir, RIFC), CSV_APPENDED)

    second = ingest(ri_dir, sqlite_store)[RIFC]

    assert first.read_from_line is None
    assert second.read_from_line == lines + 1
    assert second.rows_read == 5  # five records, one of them over two lines
    assert (second.rows_inserted, second.rows_updated, second.rows_rejected) == (3, 0, 2)
    reasons = _rejects(sqlite_store)
    assert reasons[lines + 2] == "unreadable row: has 12 fields, header has 11"
    assert reasons[lines + 3] == (
        f"incident_id: repeats an id this feed sent before line {lines + 1}")
    # The earlier lines' rejects stay: their lines are still in the feed.
    assert earlier_rejects and earlier_rejects < set(reasons)
    stored = read_frame(sqlite_store, "incidents").filter(pl.col("center_id") == "rifc")
    assert stored.filter(pl.col("incident_id") == "R-1")["narrative"].to_list() == [
        "Graffiti near the rail yard"]  # the repeat did not overwrite the first
    assert stored.filter(pl.col("incident_id") == "R-42")["narrative"].to_list() == ["Two\nlines"]
    assert picture(sqlite_store) == picture(whole_read_store(ri_dir, tmp_path))


def _rejects(engine: sa.Engine) -> dict[int, str]:
    quarantine = read_frame(engine, "quarantine").filter(
        pl.col("source_name") == "incidents", pl.col("center_id") == "rifc")
    return dict(zip(quarantine["row_number"], quarantine["reason"], strict=True))


def test_appended_ndjson_lines_alone_are_read_and_the_store_equals_a_whole_read(
        ri_dir: Path, sqlite_store: sa.Engine, tmp_path: Path) -> None:
    ingest(ri_dir, sqlite_store)
    lines = feed(ri_dir, PROV).read_bytes().count(b"\n")
    append(feed(ri_dir, PROV), ndjson_lines(NDJSON_APPENDED) + "not json\n")

    second = ingest(ri_dir, sqlite_store)[PROV]

    assert second.read_from_line == lines + 1
    assert (second.rows_read, second.rows_inserted, second.rows_rejected) == (3, 1, 2)
    assert picture(sqlite_store) == picture(whole_read_store(ri_dir, tmp_path))


def test_appends_over_several_runs_number_lines_from_the_file_start(
        ri_dir: Path, sqlite_store: sa.Engine, tmp_path: Path) -> None:
    ingest(ri_dir, sqlite_store)
    path = feed(ri_dir, RIFC)
    starts = []
    for number in range(3):
        starts.append(path.read_bytes().count(b"\n") + 1)
        append(path, f"R-5{number},01/2{number}/2025 08:00,Narcotics,44001,,,,,2,GREEN,n\n"
                     f"R-6{number},01/2{number}/2025 09:00,Narcotics\n")
        report = ingest(ri_dir, sqlite_store)[RIFC]
        assert report.read_from_line == starts[-1]
        assert (report.rows_inserted, report.rows_rejected) == (1, 1)
    quarantine = read_frame(sqlite_store, "quarantine").filter(
        pl.col("center_id") == "rifc", pl.col("source_name") == "incidents")
    assert {start + 1 for start in starts} <= set(quarantine["row_number"].to_list())
    assert picture(sqlite_store) == picture(whole_read_store(ri_dir, tmp_path))


def _edit_earlier_line(ri_dir: Path) -> None:
    path = feed(ri_dir, RIFC)
    path.write_bytes(path.read_bytes().replace(b"Graffiti near", b"Graffito near", 1)
                     + CSV_APPENDED.encode())


def _leave_last_line_open(ri_dir: Path) -> None:
    path = feed(ri_dir, RIFC)
    path.write_bytes(path.read_bytes() + b"R-70,01/22/2025 08:00,Narcotics,44001,,,,,2,GREEN,Par")


@pytest.mark.parametrize(("change", "why"), [
    (_edit_earlier_line, "an earlier line changed"),
    (lambda ri_dir: feed(ri_dir, RIFC).write_bytes(b"Case No,Date/Time\n"), "the file shrank"),
])
def test_a_file_that_did_not_only_grow_is_read_whole(
        ri_dir: Path, sqlite_store: sa.Engine, tmp_path: Path,
        change: Callable[[Path], None], why: str) -> None:
    ingest(ri_dir, sqlite_store)
    change(ri_dir)

    report = ingest(ri_dir, sqlite_store)[RIFC]

    assert report.read_from_line is None, why
    if why == "an earlier line changed":
        assert report.rows_updated == 1
        assert picture(sqlite_store) == picture(whole_read_store(ri_dir, tmp_path))


def test_a_last_line_without_a_line_break_is_read_again_whole_once_completed(
        ri_dir: Path, sqlite_store: sa.Engine, tmp_path: Path) -> None:
    ingest(ri_dir, sqlite_store)
    _leave_last_line_open(ri_dir)
    cut = ingest(ri_dir, sqlite_store)[RIFC]
    assert cut.read_from_line is not None  # what came after the last full load is new lines
    append(feed(ri_dir, RIFC), "tly done\n")

    completed = ingest(ri_dir, sqlite_store)[RIFC]

    assert completed.read_from_line is None  # the run before ended inside a line
    narratives = read_frame(sqlite_store, "incidents").filter(
        pl.col("incident_id") == "R-70")["narrative"].to_list()
    assert narratives == ["Partly done"]
    assert picture(sqlite_store) == picture(whole_read_store(ri_dir, tmp_path))


def test_a_quote_left_open_at_the_end_means_a_whole_read_next_time(
        ri_dir: Path, sqlite_store: sa.Engine, tmp_path: Path) -> None:
    ingest(ri_dir, sqlite_store)
    append(feed(ri_dir, RIFC), 'R-80,01/22/2025 08:00,Narcotics,44001,,,,,2,GREEN,"Open\n')
    ingest(ri_dir, sqlite_store)
    append(feed(ri_dir, RIFC), 'quote closed"\n')

    closed = ingest(ri_dir, sqlite_store)[RIFC]

    assert closed.read_from_line is None
    narratives = read_frame(sqlite_store, "incidents").filter(
        pl.col("incident_id") == "R-80")["narrative"].to_list()
    assert narratives == ["Open\nquote closed"]
    assert picture(sqlite_store) == picture(whole_read_store(ri_dir, tmp_path))


def test_a_changed_config_means_a_whole_read(ri_dir: Path, sqlite_store: sa.Engine,
                                             edit_file: Callable[[Path, str, str], None]) -> None:
    first = ingest(ri_dir, sqlite_store)[RIFC]
    append(feed(ri_dir, RIFC), CSV_APPENDED)
    edit_file(ri_dir / "config" / "centers.toml", '"Narcotics" = "narcotics"\n',
              '"Narcotics" = "narcotics"\n"Dope" = "narcotics"\n')

    report = ingest(ri_dir, sqlite_store)[RIFC]

    assert report.read_from_line is None
    assert report.rows_read == first.rows_read + 5


def test_utf16_feeds_are_always_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text("id,name\nA-1,Ann\n", encoding="utf-16")
    connector = connector_for("csv")
    options = connector.Options.model_validate({"encoding": "utf-16"})
    scan = scan_file(str(path), None)
    assert hasattr(connector, "read_appended")
    assert connector.read_appended(str(path), options, scan.size, 2) is None


def test_scan_hashes_the_prefix_and_counts_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(b"a\nb\n" + b"x" * (3 << 20) + b"\n")
    whole = scan_file(str(path), None)
    prefix = scan_file(str(path), 4)
    assert (whole.size, whole.lines, whole.prefix_sha256) == (4 + (3 << 20) + 1, 3, None)
    assert prefix.sha256 == whole.sha256
    assert prefix.prefix_sha256 == scan_file(str(_write(tmp_path, b"a\nb\n")), None).sha256
    # A prefix longer than one read block is hashed across blocks.
    long_prefix = scan_file(str(path), (1 << 20) + 7)
    assert long_prefix.prefix_sha256 == scan_file(
        str(_write(tmp_path, path.read_bytes()[:(1 << 20) + 7])), None).sha256
    assert scan_file(str(path), 10 << 20).prefix_sha256 is None  # the file is shorter
    assert scan_file(str(_write(tmp_path, b"a\nb")), None).lines is None


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"part-{len(data)}.csv"
    path.write_bytes(data)
    return path


def test_data_health_says_what_the_last_load_read(ri_dir: Path, sqlite_store: sa.Engine) -> None:
    ingest(ri_dir, sqlite_store)
    lines = feed(ri_dir, RIFC).read_bytes().count(b"\n")
    append(feed(ri_dir, RIFC), CSV_APPENDED)
    ingest(ri_dir, sqlite_store)

    page = data_health_page(VisibilityClass("admin", "rifc", "TLP:RED"),
                            load_health_frames(sqlite_store), datetime.now(UTC))

    read = {(row["Center"], row["Source"]): (row["Read"], row["Rows read"])
            for row in page.freshness.to_dicts()}
    assert read[("Rhode Island Fusion Center", "incidents")] == (
        f"Appended lines, from line {lines + 1:,}", 5)
    assert read[("Providence Regional Intelligence Center", "incidents")][0] == "Whole source"


# --- a database read by its incremental column -------------------------------------------

SQL_ROWS = [
    (1, "P-100", "2025-01-15T13:05:00Z", "gangs", "44007", 41.8607, -71.5693, "Rail yard"),
    (2, "P-101", "2025-01-20T17:00:00Z", "narcotics", "44001", None, None, "Pills seized"),
    (3, "P-102", "2025-02-30T12:00:00Z", "narcotics", "44001", None, None, "No such day"),
]


def sql_source(ri_dir: Path, edit_file: Callable[[Path, str, str], None],
               options: str = 'table = "reports", incremental_column = "seq"') -> Path:
    """Make the prov center's incidents come from a SQLite table with a sequence column."""
    path = ri_dir / "feeds" / "prov.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute('CREATE TABLE reports (seq INTEGER, id TEXT, "when" TEXT, type TEXT, '
                           "fips TEXT, lat REAL, lon REAL, text TEXT)")
        connection.executemany("INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?, ?)", SQL_ROWS)
    edit_file(ri_dir / "config" / "centers.toml",
              'kind = "ndjson"\nlocation = "../feeds/prov_incidents.ndjson"\n',
              f'kind = "sql"\nlocation = "sqlite:///{path}"\noptions = {{ {options} }}\n')
    return path


def sql_run(path: Path, statement: str, rows: list[tuple[Any, ...]] | None = None) -> None:
    with sqlite3.connect(path) as connection:
        connection.executemany(statement, rows or [()])


def test_a_table_read_by_its_incremental_column_reads_only_rows_past_the_cursor(
        ri_dir: Path, sqlite_store: sa.Engine, tmp_path: Path,
        edit_file: Callable[[Path, str, str], None]) -> None:
    path = sql_source(ri_dir, edit_file)
    first = ingest(ri_dir, sqlite_store)[PROV]
    assert (first.read_from_line, first.rows_read, first.rows_inserted,
            first.rows_rejected) == (None, 3, 2, 1)

    unchanged = ingest(ri_dir, sqlite_store)[PROV]
    assert (unchanged.status, unchanged.rows_read) == ("unchanged", 0)

    sql_run(path, "INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
        (4, "P-103", "2025-02-11T09:00:00Z", "gangs", "44007", 41.86, -71.57, "New"),
        (5, "P-104", "2025-02-12T09:00:00Z", "gangs", "44007", None, None, "Newer")])
    sql_run(path, "UPDATE reports SET seq = 6, text = 'Rail yard, again' WHERE id = 'P-100'")

    later = ingest(ri_dir, sqlite_store)[PROV]

    assert (later.status, later.read_from_line, later.rows_read) == ("loaded", 4, 3)
    assert (later.rows_inserted, later.rows_updated, later.rows_rejected) == (2, 1, 0)
    stored = read_frame(sqlite_store, "incidents").filter(pl.col("center_id") == "prov")
    assert sorted(stored["incident_id"]) == ["P-100", "P-101", "P-103", "P-104"]
    assert stored.filter(pl.col("incident_id") == "P-100")["narrative"].to_list() == [
        "Rail yard, again"]
    # The reject of the first read stays: its row is still in the table.
    assert _rejects_of(sqlite_store, "prov") == {3: "occurred_at"}
    assert picture(sqlite_store) == picture(whole_read_store(ri_dir, tmp_path))


def _rejects_of(engine: sa.Engine, center: str) -> dict[int, str]:
    quarantine = read_frame(engine, "quarantine").filter(pl.col("center_id") == center,
                                                         pl.col("source_name") == "incidents")
    return dict(zip(quarantine["row_number"], quarantine["field"], strict=True))


def test_a_query_read_by_its_incremental_column(
        ri_dir: Path, sqlite_store: sa.Engine, edit_file: Callable[[Path, str, str], None],
        ) -> None:
    path = sql_source(ri_dir, edit_file, 'query = "SELECT * FROM reports WHERE type = '
                                         "'gangs'\", incremental_column = \"seq\"")
    assert ingest(ri_dir, sqlite_store)[PROV].rows_inserted == 1
    sql_run(path, "INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
        (4, "P-103", "2025-02-11T09:00:00Z", "gangs", "44007", 41.86, -71.57, "New"),
        (5, "P-104", "2025-02-12T09:00:00Z", "narcotics", "44007", None, None, "Other")])

    later = ingest(ri_dir, sqlite_store)[PROV]

    assert (later.read_from_line, later.rows_read, later.rows_inserted) == (2, 1, 1)


def test_a_changed_config_reads_the_table_whole_again(
        ri_dir: Path, sqlite_store: sa.Engine, edit_file: Callable[[Path, str, str], None],
        ) -> None:
    sql_source(ri_dir, edit_file)
    ingest(ri_dir, sqlite_store)
    # Any change to the source's config (here a value map) may change the rows it yields.
    edit_file(ri_dir / "config" / "centers.toml", 'text = "narrative"\n',
              'text = "narrative"\n\n[centers.sources.values.category]\n'
              '"Gangs" = "gangs"\n')

    again = ingest(ri_dir, sqlite_store)[PROV]

    assert (again.status, again.read_from_line, again.rows_read) == ("loaded", None, 3)


def test_an_incremental_column_the_source_lacks_fails_that_source_in_one_line(
        ri_dir: Path, sqlite_store: sa.Engine, edit_file: Callable[[Path, str, str], None],
        ) -> None:
    sql_source(ri_dir, edit_file, 'table = "reports", incremental_column = "changed_at"')

    report = ingest(ri_dir, sqlite_store)

    assert report[PROV].status == "failed"
    assert report[PROV].error is not None
    assert "no column 'changed_at' (incremental_column)" in report[PROV].error
    assert report[RIFC].status == "loaded"  # the other centers load


def test_cursor_values_keep_their_type() -> None:
    for value in (7, 2.5, "2025-01-02 03:04:05", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
                  date(2025, 1, 2)):
        assert cursor_value(cursor_text(value)) == value
