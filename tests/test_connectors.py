"""Connectors: every file kind and the sql connector yield the same canonical rows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from dashboard.ingest.normalize import RAW_RECORD_COLUMN, normalize
from dashboard.ingest.validate import Validated, ValidationContext, validate
from dashboard.schema import TABLES
from dashboard.settings import ProjectConfig, Source
from data_sources import CONNECTORS, ERROR_COLUMN, ROW_COLUMN, connector_for

NOW = datetime(2025, 12, 1, tzinfo=UTC)
INCIDENTS = TABLES["incidents"]
TIME_FIELDS = ("occurred_at", "reported_at")

# Four incidents as a feed would send them, in canonical field names and real dtypes.
FEED_SCHEMA = {
    "incident_id": pl.String, "occurred_at": pl.Datetime("us", "UTC"),
    "reported_at": pl.Datetime("us", "UTC"), "category": pl.String, "county_fips": pl.String,
    "latitude": pl.Float64, "longitude": pl.Float64, "sar_behavior": pl.String,
    "target_sector": pl.String, "severity": pl.Int64, "tlp": pl.String, "narrative": pl.String,
}
FEED_ROWS = [
    ("R-1", datetime(2025, 1, 15, 13, 0, tzinfo=UTC), datetime(2025, 1, 15, 14, 5, tzinfo=UTC),
     "gangs", "44007", 41.8606, -71.5694, None, None, 3, "TLP:GREEN",
     "Graffiti near the rail yard"),
    ("R-2", datetime(2025, 1, 15, 14, 30, 15, tzinfo=UTC), None, "cybercrime", "44003", 41.6802,
     -71.6146, "CYBER", "ENRG", 4, "TLP:AMBER", 'Phishing wave, "urgent" subject; 3 utilities'),
    ("R-3", datetime(2025, 2, 1, 8, 30, tzinfo=UTC), None, "narcotics", "44009", None, None,
     None, None, None, None, None),
    ("R-4", datetime(2025, 3, 9, 7, 30, tzinfo=UTC), datetime(2025, 3, 10, 0, 0, tzinfo=UTC),
     "sar_analysis", "44005", 41.4901, -71.3128, "PHOTO", "EDU", 1, "TLP:CLEAR",
     "Café – photos of the Newport bridge"),
]


def feed_frame() -> pl.DataFrame:
    return pl.DataFrame(FEED_ROWS, schema=FEED_SCHEMA, orient="row")


def expected_valid() -> pl.DataFrame:
    """What validation must make of FEED_ROWS for center rifc (default marking TLP:AMBER)."""
    return feed_frame().select(
        pl.lit("rifc").alias("center_id"),
        *[pl.col(name) for name in FEED_SCHEMA],
        # The feeds name no TLP:RED recipients.
        pl.lit(None, pl.List(pl.String)).alias("recipients"),
    ).with_columns(pl.col("tlp").fill_null("TLP:AMBER"))


def json_records(frame: pl.DataFrame, *, drop_nulls: bool) -> list[dict[str, Any]]:
    records = []
    for row in frame.iter_rows(named=True):
        record = {key: value.isoformat() if isinstance(value, datetime) else value
                  for key, value in row.items()}
        records.append({k: v for k, v in record.items() if v is not None or not drop_nulls})
    return records


# Writers put the feed into one format and return (location, options, naive time zone).
Written = tuple[str, dict[str, Any], str | None]


def write_csv(frame: pl.DataFrame, folder: Path) -> Written:
    path = folder / "incidents.csv"
    frame.with_columns(pl.col(TIME_FIELDS).dt.to_string("%Y-%m-%dT%H:%M:%SZ")).write_csv(path)
    return str(path), {}, None


def write_csv_semicolons(frame: pl.DataFrame, folder: Path) -> Written:
    path = folder / "incidents.csv"
    frame.with_columns(pl.col(TIME_FIELDS).dt.to_string("%Y-%m-%d %H:%M:%S+00:00")).write_csv(
        path, separator=";")
    return str(path), {"delimiter": ";"}, None


def write_ndjson(frame: pl.DataFrame, folder: Path) -> Written:
    path = folder / "incidents.ndjson"
    lines = [json.dumps(record) for record in json_records(frame, drop_nulls=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path), {}, None


def write_json_list(frame: pl.DataFrame, folder: Path) -> Written:
    path = folder / "incidents.json"
    path.write_text(json.dumps(json_records(frame, drop_nulls=False)), encoding="utf-8")
    return str(path), {}, None


def write_json_nested(frame: pl.DataFrame, folder: Path) -> Written:
    path = folder / "incidents.json"
    document = {"meta": {"count": frame.height},
                "data": {"items": json_records(frame, drop_nulls=False)}}
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path), {"records_path": "data.items"}, None


def write_parquet(frame: pl.DataFrame, folder: Path) -> Written:
    path = folder / "incidents.parquet"
    frame.write_parquet(path)
    return str(path), {}, None


def write_xlsx(frame: pl.DataFrame, folder: Path) -> Written:
    # Excel has no time zones: real datetime cells, which the source declares to be UTC.
    path = folder / "incidents.xlsx"
    frame.with_columns(pl.col(TIME_FIELDS).dt.replace_time_zone(None)).write_excel(
        path, worksheet="Incidents")
    return str(path), {"sheet": "Incidents"}, "UTC"


def _write_sqlite_table(frame: pl.DataFrame, folder: Path) -> str:
    url = f"sqlite:///{folder / 'feed.sqlite'}"
    engine = sa.create_engine(url)
    feed = sa.Table(
        "feed_incidents", sa.MetaData(),
        *[sa.Column(name, {pl.Float64: sa.Float, pl.Int64: sa.Integer}.get(dtype, sa.Text))
          for name, dtype in FEED_SCHEMA.items()],
    )
    text_times = frame.with_columns(pl.col(TIME_FIELDS).dt.to_string("%Y-%m-%dT%H:%M:%S%:z"))
    with engine.begin() as connection:
        feed.create(connection)
        if not text_times.is_empty():
            connection.execute(feed.insert(), text_times.to_dicts())
    engine.dispose()
    return url


def write_sql_table(frame: pl.DataFrame, folder: Path) -> Written:
    return _write_sqlite_table(frame, folder), {"table": "feed_incidents"}, None


def write_sql_query(frame: pl.DataFrame, folder: Path) -> Written:
    query = "SELECT * FROM feed_incidents WHERE incident_id LIKE 'R-%' ORDER BY incident_id"
    return _write_sqlite_table(frame, folder), {"query": query}, None


# kind, writer, _row of the first data row
FORMATS: dict[str, tuple[str, Callable[[pl.DataFrame, Path], Written], int]] = {
    "csv": ("csv", write_csv, 2),
    "csv_semicolons": ("csv", write_csv_semicolons, 2),
    "ndjson": ("ndjson", write_ndjson, 1),
    "json_list": ("json", write_json_list, 1),
    "json_records_path": ("json", write_json_nested, 1),
    "parquet": ("parquet", write_parquet, 1),
    "xlsx": ("excel", write_xlsx, 2),
    "sql_table": ("sql", write_sql_table, 1),
    "sql_query": ("sql", write_sql_query, 1),
}


def read_canonical(config: ProjectConfig, kind: str, location: str, options: dict[str, Any],
                   table: str = "incidents", **source_fields: Any) -> Validated:
    """One source through connector -> normalize -> validate, as the pipeline runs it."""
    source = Source(name="feed", table=table, kind=kind, location=location, options=options,
                    **source_fields)
    center = config.center("rifc")
    connector = connector_for(kind)
    raw = connector.read(location, connector.Options.model_validate(options))
    context = ValidationContext(
        vocabularies=config.vocabularies(),
        naive_timezone=source.naive_timezone or center.timezone,
        datetime_formats=source.datetime_formats,
        rules=config.settings.ingest,
        now=NOW,
        row_unit=connector.row_unit,
    )
    return validate(normalize(raw, source, center), TABLES[table], context)


@pytest.mark.parametrize("format_name", FORMATS)
def test_every_format_yields_the_same_canonical_rows(
    ri_config: ProjectConfig, tmp_path: Path, format_name: str
) -> None:
    kind, writer, _ = FORMATS[format_name]
    location, options, naive_timezone = writer(feed_frame(), tmp_path)

    validated = read_canonical(ri_config, kind, location, options, naive_timezone=naive_timezone)

    assert validated.rejected.is_empty(), validated.rejected.to_dicts()
    canonical = validated.valid.drop(ROW_COLUMN, RAW_RECORD_COLUMN).sort("incident_id")
    assert_frame_equal(canonical, expected_valid())


@pytest.mark.parametrize("format_name", FORMATS)
def test_row_numbers_follow_each_format_convention(
    ri_config: ProjectConfig, tmp_path: Path, format_name: str
) -> None:
    kind, writer, first_row = FORMATS[format_name]
    location, options, naive_timezone = writer(feed_frame(), tmp_path)

    validated = read_canonical(ri_config, kind, location, options, naive_timezone=naive_timezone)

    rows = validated.valid.sort("incident_id")[ROW_COLUMN].to_list()
    assert rows == [first_row, first_row + 1, first_row + 2, first_row + 3]


def test_csv_row_number_is_the_line_a_record_starts_on(tmp_path: Path) -> None:
    # A quoted narrative may span lines; quarantine row_number is documented as the line.
    path = tmp_path / "incidents.csv"
    path.write_text('incident_id,narrative\nR-1,"first line\nsecond line"\nR-2,one line\n')
    connector = connector_for("csv")

    raw = connector.read(str(path), connector.Options()).collect()

    assert raw["incident_id"].to_list() == ["R-1", "R-2"]
    assert raw[ROW_COLUMN].to_list() == [2, 4]


def test_raw_record_keeps_the_feed_columns_as_text(ri_config: ProjectConfig,
                                                   tmp_path: Path) -> None:
    location, options, _ = write_parquet(feed_frame(), tmp_path)

    validated = read_canonical(ri_config, "parquet", location, options)

    first = json.loads(validated.valid.sort("incident_id")[RAW_RECORD_COLUMN][0])
    assert first == {
        "incident_id": "R-1", "occurred_at": "2025-01-15T13:00:00+00:00",
        "reported_at": "2025-01-15T14:05:00+00:00", "category": "gangs",
        "county_fips": "44007", "latitude": "41.8606", "longitude": "-71.5694",
        "sar_behavior": None, "target_sector": None, "severity": "3", "tlp": "TLP:GREEN",
        "narrative": "Graffiti near the rail yard",
    }


def test_excel_naive_cells_are_read_in_the_source_time_zone(ri_config: ProjectConfig,
                                                            tmp_path: Path) -> None:
    location, options, _ = write_xlsx(feed_frame(), tmp_path)

    validated = read_canonical(ri_config, "excel", location, options,
                               naive_timezone="America/New_York")

    occurred = validated.valid.sort("incident_id")["occurred_at"].to_list()
    # 13:00 on the sheet, read as New York winter time (UTC-5).
    assert occurred[0] == datetime(2025, 1, 15, 18, 0, tzinfo=UTC)


def test_sql_options_need_exactly_one_of_table_or_query() -> None:
    options = connector_for("sql").Options
    assert options.model_validate({"table": "t"}).table == "t"
    assert options.model_validate({"query": "SELECT 1"}).query == "SELECT 1"
    for bad in ({}, {"table": "t", "query": "SELECT 1"}):
        with pytest.raises(ValidationError, match="give exactly one of 'table' or 'query'"):
            options.model_validate(bad)


def test_csv_delimiter_must_be_one_character() -> None:
    options = connector_for("csv").Options
    assert options.model_validate({"delimiter": "|"}).delimiter == "|"
    for bad in ("", ";;"):
        with pytest.raises(ValidationError, match="delimiter"):
            options.model_validate({"delimiter": bad})


@pytest.mark.parametrize("kind", sorted(CONNECTORS))
def test_unknown_option_key_is_rejected(kind: str) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        connector_for(kind).Options.model_validate({"delimter": ","})


def test_unknown_connector_kind_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"unknown connector kind 'xml' \(known: csv, eido, "
                                       r"excel, isesar, json, ndjson, nibrs, parquet, sql, "
                                       r"stix\)"):
        connector_for("xml")


@pytest.mark.parametrize("format_name", [name for name, (kind, _, _) in FORMATS.items()
                                         if kind != "sql"])
def test_file_fingerprint_is_the_sha256_of_the_file(tmp_path: Path, format_name: str) -> None:
    kind, writer, _ = FORMATS[format_name]
    location, options, _ = writer(feed_frame(), tmp_path)
    connector = connector_for(kind)

    fingerprint = connector.fingerprint(location, connector.Options.model_validate(options))

    assert fingerprint == hashlib.sha256(Path(location).read_bytes()).hexdigest()


def test_sql_has_no_fingerprint(tmp_path: Path) -> None:
    location, options, _ = write_sql_table(feed_frame(), tmp_path)
    connector = connector_for("sql")
    assert connector.fingerprint(location, connector.Options.model_validate(options)) is None


def test_sql_table_with_no_rows_reads_as_empty(ri_config: ProjectConfig, tmp_path: Path) -> None:
    location, options, _ = write_sql_table(feed_frame().clear(), tmp_path)

    validated = read_canonical(ri_config, "sql", location, options)

    assert validated.valid.is_empty() and validated.rejected.is_empty()


def test_json_records_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    location, _, _ = write_json_nested(feed_frame(), tmp_path)
    connector = connector_for("json")
    with pytest.raises(ValueError, match=r"records_path 'data.rows': no key 'rows'"):
        connector.read(location, connector.Options(records_path="data.rows"))
    with pytest.raises(ValueError, match="expected a list of records"):
        connector.read(location, connector.Options(records_path="meta"))


def test_ndjson_unreadable_lines_become_error_rows(tmp_path: Path) -> None:
    path = tmp_path / "incidents.ndjson"
    path.write_text('{"incident_id": "R-1"}\n{"incident_id": "R-2" broken\n\n[1, 2]\n'
                    '{"incident_id": "R-5", "severity": 2, "urgent": true, "extra": {"a": 1}}\n')
    connector = connector_for("ndjson")

    raw = connector.read(str(path), connector.Options()).collect()

    assert raw.select(ROW_COLUMN, "incident_id", ERROR_COLUMN).rows() == [
        (1, "R-1", None),
        (2, None, "not valid JSON (Expecting ',' delimiter)"),
        (3, None, "blank line"),
        (4, None, "expected a JSON object, got list"),
        (5, "R-5", None),
    ]
    # Scalars arrive as text, nested objects as JSON text.
    assert raw.filter(pl.col(ROW_COLUMN) == 5).select(
        "severity", "urgent", "extra").row(0) == ("2", "true", '{"a": 1}')


def test_ndjson_error_rows_are_rejected_with_the_reason(ri_config: ProjectConfig,
                                                        tmp_path: Path) -> None:
    path = tmp_path / "incidents.ndjson"
    records = json_records(feed_frame().head(1), drop_nulls=True)
    path.write_text(json.dumps(records[0]) + "\nnot json at all\n")

    validated = read_canonical(ri_config, "ndjson", str(path), {})

    assert validated.valid["incident_id"].to_list() == ["R-1"]
    assert validated.rejected.select(ROW_COLUMN, "_fields", "_reason").rows() == [
        (2, "(row)", "unreadable row: not valid JSON (Expecting value)"),
    ]


def test_ndjson_field_that_is_a_list_in_one_record_and_text_in_another(
    ri_config: ProjectConfig, tmp_path: Path
) -> None:
    # One record sending "topics" as text instead of a list must not fail the whole file.
    path = tmp_path / "products.ndjson"
    base = {"title": "T", "product_type": "bulletin", "published_at": "2025-01-20T15:00:00Z",
            "statewide": True}
    path.write_text(json.dumps(base | {"product_id": "P-1", "topics": ["gangs"]}) + "\n"
                    + json.dumps(base | {"product_id": "P-2", "topics": "gangs"}) + "\n")

    validated = read_canonical(ri_config, "ndjson", str(path), {}, table="products")

    assert validated.valid.select("product_id", "topics").rows() == [
        ("P-1", ["gangs"]), ("P-2", ["gangs"]),
    ]


def test_column_and_value_maps_turn_a_center_vocabulary_into_taxonomy_keys(
    ri_config: ProjectConfig, tmp_path: Path
) -> None:
    path = tmp_path / "incidents.csv"
    path.write_text(
        "Case No,When,Offense,category,FIPS,Marking,Unused\n"
        "C-1,2025-01-15 08:00,Gang Activity,ignored,44007,GREEN,x\n"
        "C-2,2025-01-15 09:00,Drugs,ignored,44001,,y\n"
        "C-3,2025-01-15 10:00,Jaywalking,ignored,44001,GREEN,z\n"
    )
    columns = {"Case No": "incident_id", "When": "occurred_at", "Offense": "category",
               "FIPS": "county_fips", "Marking": "tlp"}
    values = {"category": {"Gang Activity": "gangs", "Drugs": "narcotics"},
              "tlp": {"GREEN": "TLP:GREEN"}}

    validated = read_canonical(ri_config, "csv", str(path), {}, columns=columns, values=values)

    # A mapped column wins over a raw column with the canonical name; naive times are
    # the center's local time (New York, UTC-5 in January); no marking -> center default.
    assert validated.valid.select("incident_id", "occurred_at", "category", "tlp").rows() == [
        ("C-1", datetime(2025, 1, 15, 13, 0, tzinfo=UTC), "gangs", "TLP:GREEN"),
        ("C-2", datetime(2025, 1, 15, 14, 0, tzinfo=UTC), "narcotics", "TLP:AMBER"),
    ]
    assert validated.rejected.select(ROW_COLUMN, "_reason", "_value").rows() == [
        (4, "category: 'Jaywalking' is not among the known categories", "Jaywalking"),
    ]
    raw = json.loads(validated.rejected[RAW_RECORD_COLUMN][0])
    assert raw["Offense"] == "Jaywalking" and raw["Unused"] == "z"


def test_list_fields_split_on_the_delimiter_and_value_maps_apply_to_each_item(
    ri_config: ProjectConfig, tmp_path: Path
) -> None:
    path = tmp_path / "products.csv"
    path.write_text(
        "id,title,type,published,topics,county_fips,statewide\n"
        "P-1,Two topics,Bulletin,2025-01-20T15:00:00Z,Gang Activity | narcotics |,"
        "44007|44001,\n"
        "P-2,Statewide,Assessment,2025-01-21T15:00:00Z,cybercrime,,yes\n"
    )
    validated = read_canonical(
        ri_config, "csv", str(path), {}, table="products", list_delimiter="|",
        columns={"id": "product_id", "type": "product_type", "published": "published_at"},
        values={"topics": {"Gang Activity": "gangs"},
                "product_type": {"Bulletin": "bulletin", "Assessment": "assessment"}},
    )

    assert validated.rejected.is_empty(), validated.rejected.to_dicts()
    assert validated.valid.select(
        "product_id", "product_type", "topics", "county_fips", "statewide"
    ).rows() == [
        ("P-1", "bulletin", ["gangs", "narcotics"], ["44007", "44001"], None),
        ("P-2", "assessment", ["cybercrime"], None, True),
    ]


def test_native_json_lists_are_kept_whole(ri_config: ProjectConfig, tmp_path: Path) -> None:
    path = tmp_path / "products.ndjson"
    record = {"product_id": "P-1", "title": "T", "product_type": "bulletin",
              "published_at": "2025-01-20T15:00:00Z", "topics": ["Gang Activity", "narcotics"],
              "region": ["north"], "incident_ids": ["R-1;R-2", " R-3 ", ""]}
    path.write_text(json.dumps(record) + "\n")

    validated = read_canonical(ri_config, "ndjson", str(path), {}, table="products",
                               values={"topics": {"Gang Activity": "gangs"}})

    # Items are trimmed and empty ones dropped, but never split on the list delimiter.
    assert validated.valid.select("topics", "region", "incident_ids").rows() == [
        (["gangs", "narcotics"], ["north"], ["R-1;R-2", "R-3"]),
    ]
