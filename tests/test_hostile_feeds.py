"""Hostile feeds (issue 13): every line of a feed ends up a parsed row or an error row with its
line number and the reason; no single bad line aborts a run, no byte is silently altered."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from dashboard.frames import read_frame
from dashboard.ingest.pipeline import run_ingest
from dashboard.settings import ProjectConfig, load_config
from data_sources import ERROR_COLUMN, RAW_TEXT_COLUMN, ROW_COLUMN, connector_for
from data_sources import sql as sql_module

HEADER = "id,name,county,severity\n"


def read(kind: str, path: Path | str, **options: Any) -> pl.DataFrame:
    connector = connector_for(kind)
    return connector.read(str(path), connector.Options.model_validate(options)).collect()


def parsed(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return frame.filter(pl.col(ERROR_COLUMN).is_null()).drop(
        ERROR_COLUMN, RAW_TEXT_COLUMN).rows()


def errors(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return frame.filter(pl.col(ERROR_COLUMN).is_not_null()).select(
        ROW_COLUMN, ERROR_COLUMN, RAW_TEXT_COLUMN).rows()


def write(tmp_path: Path, data: bytes, name: str = "feed.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- CSV structure ------------------------------------------------------------------------

def test_ragged_long_and_short_lines_are_error_rows_with_line_and_reason(tmp_path: Path) -> None:
    path = write(tmp_path, (HEADER + "A-1,Ann,44007,3\nA-2,Bob,44007,3,extra\nA-3,Cy\n"
                            "A-4,Di,44001,2\n").encode())

    frame = read("csv", path)

    assert parsed(frame) == [(2, "A-1", "Ann", "44007", "3"), (5, "A-4", "Di", "44001", "2")]
    assert errors(frame) == [
        (3, "has 5 fields, header has 4", "A-2,Bob,44007,3,extra"),
        (4, "has 2 fields, header has 4", "A-3,Cy"),
    ]
    assert frame.height == 4  # every record of the file, once


def test_bom_crlf_quotes_and_embedded_newlines(tmp_path: Path) -> None:
    data = ("\ufeff" + HEADER.replace("\n", "\r\n")
            + 'A-1,"Smith, ""Jr""",44007,3\r\n'
            + 'A-2,"two\r\nlines\r\nhere",44007,3\r\n'
            + "A-3,Cy,44001,1\r\n").encode()
    frame = read("csv", write(tmp_path, data))

    assert frame.columns[:5] == [ROW_COLUMN, "id", "name", "county", "severity"]
    assert parsed(frame) == [
        (2, "A-1", 'Smith, "Jr"', "44007", "3"),
        (3, "A-2", "two\r\nlines\r\nhere", "44007", "3"),
        (6, "A-3", "Cy", "44001", "1"),
    ]
    assert errors(frame) == []


def test_nul_bytes_and_very_long_fields(tmp_path: Path) -> None:
    long = "x" * 10_000
    data = (HEADER + f"A-1,{long},44007,3\nA-2,Bad\x00Name,44007,3\nA-3,Cy,44001,1\n").encode()

    frame = read("csv", write(tmp_path, data))

    assert [row[:3] for row in parsed(frame)] == [(2, "A-1", long), (4, "A-3", "Cy")]
    assert errors(frame) == [(3, "contains a NUL byte", "A-2,Bad\\x00Name,44007,3")]


@pytest.mark.parametrize("tail", ['A-3,"unterminated,44001,1', 'A-3,"unterminated,44001,1\n'])
def test_truncated_last_line_is_an_error_row_and_earlier_rows_are_kept(
    tmp_path: Path, tail: str
) -> None:
    frame = read("csv", write(tmp_path, (HEADER + "A-1,Ann,44007,3\nA-2,Bob,44007,2\n"
                                         + tail).encode()))

    assert [row[:2] for row in parsed(frame)] == [(2, "A-1"), (3, "A-2")]
    assert errors(frame) == [
        (4, "quoted field not closed before the end of the file", 'A-3,"unterminated,44001,1'),
    ]


def test_an_open_quote_mid_file_swallows_the_rest_into_one_error_row(tmp_path: Path) -> None:
    frame = read("csv", write(tmp_path, (HEADER + 'A-1,"Ann,44007,3\nA-2,Bob,44007,2\n').encode()))

    assert parsed(frame) == []
    assert [row[:2] for row in errors(frame)] == [
        (2, "quoted field not closed before the end of the file")]


@pytest.mark.parametrize("data", [b"", HEADER.encode(), HEADER.encode().rstrip(b"\n")])
def test_empty_file_and_header_only_give_zero_rows(tmp_path: Path, data: bytes) -> None:
    frame = read("csv", write(tmp_path, data))
    assert frame.height == 0


def test_duplicate_ids_and_blank_lines(tmp_path: Path) -> None:
    frame = read("csv", write(tmp_path, (HEADER + "A-1,Ann,44007,3\n\nA-1,Ann,44007,3\n").encode()))

    # Duplicates are just rows (dedup is the pipeline's job); a blank line is no record.
    assert [row[:2] for row in parsed(frame)] == [(2, "A-1"), (4, "A-1")]
    assert errors(frame) == []


# --- encodings ----------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["latin-1", "iso-8859-1", "cp1252", "utf-16", "utf-8",
                                      "utf8", "utf-8-sig"])
def test_accented_names_are_decoded_in_the_declared_encoding(tmp_path: Path,
                                                             encoding: str) -> None:
    data = (HEADER + "A-1,Café San José,44007,3\n").encode(
        "utf-8-sig" if encoding == "utf-8-sig" else encoding)

    frame = read("csv", write(tmp_path, data), encoding=encoding)

    assert parsed(frame) == [(2, "A-1", "Café San José", "44007", "3")]


@pytest.mark.parametrize(("encoding", "bad", "shown"), [
    ("utf8", b"\xff", "\\xff"), ("utf-8", b"Caf\xe9", "Caf\\xe9"), ("cp1252", b"\x81", "\\x81"),
])
def test_bytes_invalid_in_the_encoding_quarantine_only_their_line(
    tmp_path: Path, encoding: str, bad: bytes, shown: str
) -> None:
    data = (HEADER.encode() + b"A-1,Ann,44007,3\nA-2," + bad + b",44007,3\nA-3,Cy,44001,1\n")

    frame = read("csv", write(tmp_path, data), encoding=encoding)

    assert [row[:3] for row in parsed(frame)] == [(2, "A-1", "Ann"), (4, "A-3", "Cy")]
    bad_repr = repr(bytes([bad[-1]]))
    assert errors(frame) == [(3, f"invalid bytes for encoding {encoding}: {bad_repr}",
                              f"A-2,{shown},44007,3")]
    assert not frame.select(pl.col(pl.String).str.contains("\ufffd").any()).row(0)[0]


def test_utf8_lossy_stays_lossy(tmp_path: Path) -> None:
    frame = read("csv", write(tmp_path, HEADER.encode() + b"A-1,Caf\xe9,44007,3\n"),
                 encoding="utf8-lossy")
    assert parsed(frame) == [(2, "A-1", "Caf\ufffd", "44007", "3")]


def test_unknown_encoding_is_refused_by_config() -> None:
    with pytest.raises(ValueError, match="unknown encoding 'klingon'"):
        connector_for("csv").Options.model_validate({"encoding": "klingon"})


def test_ndjson_and_json_take_an_encoding(tmp_path: Path) -> None:
    ndjson = write(tmp_path, '{"name": "Café San José"}\n'.encode("cp1252") + b'{"name": "\x81"}\n'
                   + b"\n" + b"{broken\n", "feed.ndjson")
    frame = read("ndjson", ndjson, encoding="cp1252")
    assert parsed(frame) == [(1, "Café San José")]
    assert errors(frame) == [
        (2, "invalid bytes for encoding cp1252: b'\\x81'", '{"name": "\\x81"}'),
        (3, "blank line", None),
        (4, "not valid JSON (Expecting property name enclosed in double quotes)", "{broken"),
    ]
    document = write(tmp_path, json.dumps([{"name": "Café"}, {"name": "José"}],
                                          ensure_ascii=False).encode("utf-16"), "feed.json")
    assert parsed(read("json", document, encoding="utf-16")) == [(1, "Café"), (2, "José")]


# --- SQL ----------------------------------------------------------------------------------

def test_sql_reads_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'feed.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE feed (id TEXT, severity INTEGER)")
        connection.exec_driver_sql(
            "INSERT INTO feed VALUES " + ",".join(
                f"('S-{i}', {'NULL' if i < 3 else i})" for i in range(7)))
    engine.dispose()
    monkeypatch.setattr(sql_module, "BATCH_ROWS", 3)  # first batch: severity all NULL

    frame = read("sql", url, table="feed")

    assert frame[ROW_COLUMN].to_list() == list(range(1, 8))
    assert frame["severity"].to_list() == [None, None, None, 3, 4, 5, 6]


@pytest.mark.parametrize(("url", "message"), [
    ("sqlite:////nonexistent-folder/feed.sqlite", "cannot connect: unable to open database"),
    ("postgresql+psycopg://feed:secret@127.0.0.1:1/feeds", r"feed:\*\*\*@127.0.0.1:1/feeds: "
     "cannot connect"),
])
def test_unreachable_database_raises_one_clear_line(url: str, message: str) -> None:
    with pytest.raises(ConnectionError, match=message) as raised:
        read("sql", url, table="feed")
    assert "\n" not in str(raised.value) and "secret" not in str(raised.value)


def test_missing_table_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    with pytest.raises(ValueError, match="no table 'feed'"):
        read("sql", url, table="feed")


# --- end to end ---------------------------------------------------------------------------

def test_hostile_csv_feed_loads_its_good_rows_and_quarantines_the_bad(
    ri_dir: Path, edit_file: Callable[[Path, str, str], None], sqlite_store: sa.Engine
) -> None:
    feed = ri_dir / "feeds" / "rifc_incidents.csv"
    text = feed.read_text(encoding="utf-8")
    lines = text.count("\n")
    text += ("R-20,01/20/2025 08:00,Gang Activity,44007,,,,,3,GREEN,Café San José,extra\n"
             "R-21,01/20/2025 09:00,Gang Activity\n"
             "R-22,01/20/2025 10:00,Gang Activity,44007,,,,,3,GREEN,Café San José\n")
    feed.write_bytes(text.encode("latin-1"))
    edit_file(ri_dir / "config" / "centers.toml", 'location = "../feeds/rifc_incidents.csv"\n',
              'location = "../feeds/rifc_incidents.csv"\noptions = { encoding = "latin-1" }\n')
    config: ProjectConfig = load_config(ri_dir / "config")

    report = run_ingest(config, sqlite_store)

    source = next(s for s in report.sources
                  if s.center_id == "rifc" and s.source_name == "incidents")
    assert source.status == "loaded"
    incidents = read_frame(sqlite_store, "incidents").filter(pl.col("center_id") == "rifc")
    assert incidents.filter(pl.col("incident_id") == "R-22")["narrative"].to_list() == [
        "Café San José"]
    assert "R-1" in incidents["incident_id"].to_list()
    quarantine = read_frame(sqlite_store, "quarantine").filter(
        pl.col("center_id") == "rifc", pl.col("source_name") == "incidents")
    rows = {row["row_number"]: row for row in quarantine.to_dicts()}
    assert rows[lines + 1]["reason"] == "unreadable row: has 12 fields, header has 11"
    assert rows[lines + 2]["reason"] == "unreadable row: has 3 fields, header has 11"
    assert json.loads(rows[lines + 1]["raw_record"]) == {
        "_raw_text": "R-20,01/20/2025 08:00,Gang Activity,44007,,,,,3,GREEN,Café San José,extra"}
    assert json.loads(rows[lines + 2]["raw_record"]) == {
        "_raw_text": "R-21,01/20/2025 09:00,Gang Activity"}


# --- everything at once, through the pipeline -----------------------------------------------

GOOD = "R-1,01/15/2025 08:00,Gang Activity,44007,41.8606,-71.5694,,,3,GREEN,Graffiti"
LONG_NARRATIVE = "x" * 10_000


def hostile_feed() -> bytes:
    """The RI fixture's CSV header followed by every kind of line a real feed has sent."""
    lines = [
        "Case No,Date/Time,Offense,County FIPS,Lat,Lon,Behavior,Sector,Sev,Marking,Details",
        GOOD,
        "R-31,01/16/2025 08:00,Gang Activity,44007,,,,,3,GREEN,Too many,fields",
        "R-32,01/16/2025 09:00,Gang Activity",
        'R-33,01/16/2025 10:00,Gang Activity,44007,,,,,3,GREEN,"He said ""stop""\r\nthen left"',
        "R-34,01/16/2025 11:00,Gang Activity,44007,,,,,3,GREEN,Bad\x00byte",
        f"R-35,01/16/2025 12:00,Gang Activity,44007,,,,,3,GREEN,{LONG_NARRATIVE}",
        "R-36,01/16/2025 13:00,Gang Activity,44007,,,,,3,GREEN,Caf\udce9 in latin-1",
        "R-1,01/15/2025 08:00,Gang Activity,44007,41.8606,-71.5694,,,3,GREEN,Graffiti",
        "R-37,11/02/2025 01:30,Gang Activity,44007,,,,,3,GREEN,Clocks went back",
        "R-38,03/09/2025 02:30,Gang Activity,44007,,,,,3,GREEN,Clocks went forward",
        "R-39,01/16/2025 14:00,Gang Act",  # the last line, cut off mid-record
    ]
    text = "\r\n".join(lines)
    return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogateescape")


def run_rifc(ri_dir: Path, data: bytes, engine: sa.Engine) -> tuple[Any, pl.DataFrame,
                                                                    dict[int, str]]:
    (ri_dir / "feeds" / "rifc_incidents.csv").write_bytes(data)
    report = run_ingest(load_config(ri_dir / "config"), engine)
    source = next(s for s in report.sources
                  if (s.center_id, s.source_name) == ("rifc", "incidents"))
    for each in report.sources:  # nothing lost: every record read is accounted for
        assert each.rows_read == (each.rows_inserted + each.rows_updated + each.rows_unchanged
                                  + each.rows_rejected), each
    stored = read_frame(engine, "incidents").filter(pl.col("center_id") == "rifc")
    quarantine = read_frame(engine, "quarantine").filter(
        pl.col("center_id") == "rifc", pl.col("source_name") == "incidents")
    return source, stored, dict(zip(quarantine["row_number"], quarantine["reason"], strict=True))


def test_a_hostile_feed_end_to_end_loses_nothing_and_says_why(ri_dir: Path,
                                                              sqlite_store: sa.Engine) -> None:
    source, stored, reasons = run_rifc(ri_dir, hostile_feed(), sqlite_store)

    assert source.status == "loaded"
    assert source.rows_read == 11  # 12 records less the header; one spans two lines
    by_id = {row["incident_id"]: row for row in stored.iter_rows(named=True)}
    assert sorted(by_id) == ["R-1", "R-33", "R-35", "R-37"]
    assert by_id["R-33"]["narrative"] == 'He said "stop"\r\nthen left'
    assert by_id["R-35"]["narrative"] == LONG_NARRATIVE
    # 01:30 happened twice in New York that night; the first time was EDT (UTC-4).
    assert by_id["R-37"]["occurred_at"] == datetime(2025, 11, 2, 5, 30, tzinfo=UTC)
    assert reasons == {
        3: "unreadable row: has 12 fields, header has 11",
        4: "unreadable row: has 3 fields, header has 11",
        7: "unreadable row: contains a NUL byte",
        9: "unreadable row: invalid bytes for encoding utf8: b'\\xe9'",
        10: "incident_id: repeats the id first sent at line 2",
        12: "occurred_at: local time that does not exist in America/New_York "
            "(skipped when clocks went forward)",
        13: "unreadable row: has 3 fields, header has 11",
    }
    assert source.rows_rejected == len(reasons)


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbfCase No,Date/Time,Offense,County FIPS,Lat,"
                                  b"Lon,Behavior,Sector,Sev,Marking,Details\r\n"])
def test_an_empty_or_header_only_feed_loads_nothing_and_fails_nothing(
        ri_dir: Path, sqlite_store: sa.Engine, data: bytes) -> None:
    source, stored, reasons = run_rifc(ri_dir, data, sqlite_store)
    assert (source.status, source.rows_read, stored.height, reasons) == ("loaded", 0, 0, {})
