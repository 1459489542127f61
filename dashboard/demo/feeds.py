"""How each synthetic center's feeds look: format, column names, vocabulary, timestamps.

A *style* turns canonical rows (taxonomy keys, UTC datetimes) into what one center's system
would export, and says how ``centers.toml`` maps it back (``columns``, ``values``,
``naive_timezone``, ``datetime_formats``, ``list_delimiter``, connector ``options``). Rows that
the generator marked with a ``defect`` get the kind of damage real feeds carry.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter

# Canonical frames carry these extra columns; a style never writes them.
SEQUENCE = "sequence"  # 1.. per center in time order: the number inside the feed's own id
DEFECT = "defect"  # bad-row kind (see generator docstring) or null
MISSING_FIELD = "missing_field"  # which required field a missing_required row lacks
BLANK_TLP = "blank_tlp"  # the feed leaves the marking empty (the source default applies)
HIDE_COUNTY = "hide_county"  # the feed gives coordinates only (the ingest finds the county)

# Where the connectors start counting: a CSV header or a sheet's header row is number 1.
FIRST_ROW_NUMBER = {"csv": 2, "ndjson": 1, "json": 1, "parquet": 1, "sql": 1, "excel": 2}
COORDINATE_DECIMALS = 6


@dataclass(frozen=True)
class IncidentStyle:
    kind: str  # connector kind
    suffix: str  # file name ending; sql styles write <center>.sqlite
    columns: dict[str, str]  # canonical field -> source column, in the order written
    category_words: dict[str, str]  # taxonomy key -> the feed's own word
    id_format: str  # "{code}" is the center's code, then the zero-padded sequence
    id_digits: int
    time_format: str | None  # None: real UTC datetime values (Parquet)
    local_time: bool  # text timestamps in the center's time zone instead of UTC
    impossible_time: str | datetime  # what an impossible_date row carries ({year} filled in)
    unknown_category: str
    severity_words: dict[int, str] | None = None
    tlp_words: dict[str, str] | None = None
    county_only_share: float = 0.0  # rows with a county but no coordinates
    coordinates_only_share: float = 0.0  # rows with coordinates but no county
    blank_tlp_share: float = 0.0  # rows without a marking (the source default applies)
    default_tlp: str | None = None
    declare_formats: bool = True  # False for ISO-8601 with offsets, which ingest reads as is
    options: dict[str, Any] = field(default_factory=dict)

    def defects(self) -> tuple[str, ...]:
        kinds = ["impossible_date", "unknown_category", "outside_state", "missing_required"]
        if "county_fips" in self.columns:
            kinds.insert(1, "unknown_county")
        return tuple(kinds)


@dataclass(frozen=True)
class ProductStyle:
    kind: str
    suffix: str
    columns: dict[str, str]
    id_format: str
    time_format: str | None
    local_time: bool
    impossible_time: str
    list_delimiter: str | None = None  # lists as delimited text (None: real lists)
    type_words: dict[str, str] | None = None
    audience_words: dict[str, str] | None = None
    statewide_words: tuple[str, str] | None = None  # (true, false) spelling
    records_path: str | None = None  # json: where the list of products sits
    defects: tuple[str, ...] = ()
    missing_field: str = "product_id"  # the required field a missing_required row lacks
    declare_formats: bool = True
    options: dict[str, Any] = field(default_factory=dict)


CSV_INCIDENTS = IncidentStyle(
    kind="csv", suffix="_incidents.csv",
    columns={"incident_id": "Incident Number", "occurred_at": "Date/Time Occurred",
             "reported_at": "Date/Time Reported", "category": "Offense Type",
             "county_fips": "County FIPS", "latitude": "Lat", "longitude": "Lon",
             "sar_behavior": "SAR Code", "target_sector": "Sector", "severity": "Priority",
             "tlp": "Handling", "narrative": "Synopsis"},
    category_words={
        "counterterrorism": "TERRORISM", "homegrown_violent_extremism": "DOMESTIC EXTREMISM",
        "cybercrime": "CYBER", "gangs": "GANG", "narcotics": "NARCOTICS",
        "critical_infrastructure": "CRIT INFRA", "sar_analysis": "SAR",
        "violent_crime": "VIOLENT", "human_trafficking": "TRAFFICKING",
        "officer_safety": "OFFICER SAFETY"},
    id_format="{code}-", id_digits=7,
    time_format="%m/%d/%Y %H:%M", local_time=True,
    impossible_time="13/27/{year} 10:15", unknown_category="NOISE COMPLAINT",
    severity_words={1: "Low", 2: "Guarded", 3: "Elevated", 4: "High", 5: "Severe"},
    county_only_share=0.06,
)

NDJSON_INCIDENTS = IncidentStyle(
    kind="ndjson", suffix="_incidents.ndjson",
    columns={"incident_id": "id", "occurred_at": "ts", "reported_at": "received",
             "category": "type", "county_fips": "county", "latitude": "lat",
             "longitude": "lon", "sar_behavior": "behavior", "target_sector": "sector",
             "severity": "severity", "tlp": "marking", "narrative": "text"},
    category_words={
        "counterterrorism": "terrorism", "homegrown_violent_extremism": "hve",
        "cybercrime": "cyber", "gangs": "gang", "narcotics": "drugs",
        "critical_infrastructure": "infrastructure", "sar_analysis": "suspicious_activity",
        "violent_crime": "violence", "human_trafficking": "trafficking",
        "officer_safety": "officer_safety"},
    id_format="{code_lower}-", id_digits=8,
    time_format="%Y-%m-%dT%H:%M:%SZ", local_time=False, declare_formats=False,
    impossible_time="2091-06-14T10:15:00Z", unknown_category="noise",
    coordinates_only_share=0.1,
    tlp_words={"TLP:CLEAR": "CLEAR", "TLP:GREEN": "GREEN", "TLP:AMBER": "AMBER",
               "TLP:AMBER+STRICT": "AMBER+STRICT", "TLP:RED": "RED"},
)

# Coordinates only: the ingest finds the county by a spatial join.
PARQUET_INCIDENTS = IncidentStyle(
    kind="parquet", suffix="_incidents.parquet",
    columns={"incident_id": "event_uid", "occurred_at": "occurred_utc",
             "reported_at": "received_utc", "category": "threat_category",
             "latitude": "latitude", "longitude": "longitude", "sar_behavior": "sar_code",
             "target_sector": "sector_code", "severity": "severity", "tlp": "tlp",
             "narrative": "summary"},
    category_words={
        "counterterrorism": "CT", "homegrown_violent_extremism": "HVE", "cybercrime": "CYB",
        "gangs": "GNG", "narcotics": "NAR", "critical_infrastructure": "CIP",
        "sar_analysis": "SAR", "violent_crime": "VCR", "human_trafficking": "HTR",
        "officer_safety": "OFS"},
    id_format="{code}_EV", id_digits=7,
    time_format=None, local_time=False,
    impossible_time=datetime(1899, 12, 31, 10, 15, tzinfo=UTC), unknown_category="ZZZ",
    blank_tlp_share=0.1,
)

SQL_INCIDENTS = IncidentStyle(
    kind="sql", suffix=".sqlite",
    columns={"incident_id": "report_no", "occurred_at": "incident_date",
             "reported_at": "entered_date", "category": "offense",
             "county_fips": "county_code", "latitude": "lat", "longitude": "lng",
             "sar_behavior": "sar_behavior", "target_sector": "target", "severity": "sev",
             "tlp": "classification", "narrative": "remarks"},
    category_words={
        "counterterrorism": "Counter-Terrorism",
        "homegrown_violent_extremism": "Homegrown Violent Extremism",
        "cybercrime": "Cyber Crime", "gangs": "Gang Activity", "narcotics": "Narcotics",
        "critical_infrastructure": "Critical Infrastructure",
        "sar_analysis": "Suspicious Activity Report", "violent_crime": "Violent Crime",
        "human_trafficking": "Human Trafficking", "officer_safety": "Officer Safety"},
    id_format="{code}-R", id_digits=7,
    time_format="%Y-%m-%d %H:%M:%S", local_time=False,
    impossible_time="{year}-02-30 08:00:00", unknown_category="Lost Property",
    # Read whole each run (no incremental_column): regenerating the demo with another seed
    # rewrites the table, which a cursor on its entry times would not notice.
    options={"table": "incident_reports"},
)

# Spreadsheets are slow to write: the generator gives this style to the smallest center.
EXCEL_INCIDENTS = IncidentStyle(
    kind="excel", suffix="_incidents.xlsx",
    columns={"incident_id": "Case ID", "occurred_at": "Occurred", "category": "Incident Type",
             "county_fips": "County Code", "latitude": "Latitude", "longitude": "Longitude",
             "sar_behavior": "Behavior", "target_sector": "Target",
             "severity": "Severity Level", "tlp": "Marking", "narrative": "Description"},
    category_words={
        "counterterrorism": "Terrorism", "homegrown_violent_extremism": "Extremism",
        "cybercrime": "Cyber", "gangs": "Gangs", "narcotics": "Drugs",
        "critical_infrastructure": "Infrastructure", "sar_analysis": "Suspicious Activity",
        "violent_crime": "Violence", "human_trafficking": "Trafficking",
        "officer_safety": "Officer Safety"},
    id_format="{code}-", id_digits=6,
    time_format="%d-%b-%Y %H:%M", local_time=True,
    impossible_time="31-Feb-{year} 10:15", unknown_category="Parking",
    blank_tlp_share=0.25, default_tlp="TLP:AMBER",
    options={"sheet": "Incidents"},
)

PRODUCT_FIELDS = ("product_id", "title", "product_type", "published_at", "topics",
                  "county_fips", "region", "statewide", "audience", "tlp", "summary",
                  "incident_ids")

JSON_PRODUCTS = ProductStyle(
    kind="json", suffix="_products.json",
    columns={"product_id": "id", "title": "headline", "product_type": "type",
             "published_at": "published", "topics": "topics", "county_fips": "counties",
             "region": "regions", "statewide": "statewide", "audience": "audience",
             "tlp": "marking", "summary": "abstract", "incident_ids": "sources"},
    id_format="{code}-P", time_format="%Y-%m-%dT%H:%M:%SZ", local_time=False,
    declare_formats=False, impossible_time="2091-01-01T00:00:00Z",
    records_path="data.products", options={"records_path": "data.products"},
)

CSV_PRODUCTS = ProductStyle(
    kind="csv", suffix="_products.csv",
    columns={"product_id": "Product ID", "title": "Title", "product_type": "Product Type",
             "published_at": "Published", "topics": "Topics", "county_fips": "Counties",
             "region": "Regions", "statewide": "Statewide", "audience": "Audience",
             "tlp": "TLP", "summary": "Summary", "incident_ids": "Related Incidents"},
    id_format="{code}-BUL-", time_format="%Y-%m-%d %H:%M", local_time=True,
    impossible_time="{year}-14-03 09:00", list_delimiter=";",
    type_words={"bulletin": "Intelligence Bulletin", "assessment": "Threat Assessment",
                "situational_awareness": "Situational Awareness",
                "officer_safety": "Officer Safety Notice",
                "special_event": "Special Event Assessment"},
    audience_words={"law_enforcement": "LE", "public_safety": "Fire/EMS",
                    "emergency_management": "EM", "private_sector": "Private Sector",
                    "federal": "Federal", "leadership": "Command Staff"},
    statewide_words=("Y", "N"),
    defects=("impossible_date", "unknown_county", "missing_required"), missing_field="title",
)

# Canonical column names and real list columns: no column map needed.
PARQUET_PRODUCTS = ProductStyle(
    kind="parquet", suffix="_products.parquet",
    columns={name: name for name in PRODUCT_FIELDS},
    id_format="{code}-AP", time_format=None, local_time=False, impossible_time="",
)

SQL_PRODUCTS = ProductStyle(
    kind="sql", suffix=".sqlite",
    columns={"product_id": "bulletin_no", "title": "headline", "product_type": "bulletin_type",
             "published_at": "issued_utc", "topics": "topic_list", "county_fips": "county_list",
             "region": "region_list", "statewide": "is_statewide", "audience": "audience",
             "tlp": "tlp", "summary": "abstract", "incident_ids": "incident_refs"},
    id_format="{code}-B", time_format="%Y-%m-%d %H:%M:%S", local_time=False,
    impossible_time="", list_delimiter="|",
    type_words={"bulletin": "IB", "assessment": "TA", "situational_awareness": "SA",
                "officer_safety": "OSN", "special_event": "SEA"},
    statewide_words=("1", "0"),
)

NDJSON_PRODUCTS = ProductStyle(
    kind="ndjson", suffix="_products.ndjson",
    columns={"product_id": "ref", "title": "headline", "product_type": "format",
             "published_at": "issued", "topics": "tags", "county_fips": "fips",
             "region": "regions", "statewide": "statewide", "audience": "audience",
             "tlp": "tlp", "summary": "abstract", "incident_ids": "incidents"},
    id_format="{code_lower}-prod-", time_format="%Y-%m-%dT%H:%M:%SZ", local_time=False,
    declare_formats=False, impossible_time="2091-03-01T12:00:00Z",
    defects=("impossible_date", "missing_required"),
)

# One incident style per center; the center's products come in the paired style.
STYLE_PAIRS = (
    (CSV_INCIDENTS, JSON_PRODUCTS),
    (NDJSON_INCIDENTS, CSV_PRODUCTS),
    (PARQUET_INCIDENTS, PARQUET_PRODUCTS),
    (SQL_INCIDENTS, SQL_PRODUCTS),
    (EXCEL_INCIDENTS, NDJSON_PRODUCTS),
)
SQL_PRODUCTS_TABLE = "bulletins"


PRODUCT_ID_DIGITS = 5


def feed_id_prefix(id_format: str, code: str) -> str:
    return id_format.format(code=code.upper(), code_lower=code.lower())


def feed_ids(prefix: str, digits: int, sequence: pl.Expr) -> pl.Expr:
    """Record ids of a whole feed; :func:`feed_id` spells one the same way."""
    return pl.concat_str(pl.lit(prefix), sequence.cast(pl.String).str.zfill(digits))


def feed_id(id_format: str, code: str, digits: int, sequence: int) -> str:
    return f"{feed_id_prefix(id_format, code)}{sequence:0{digits}d}"


def feed_file_name(center_id: str, suffix: str) -> str:
    return f"{center_id}{suffix}"


def location(kind: str, file_name: str) -> str:
    """Where centers.toml points: relative to the config folder."""
    return f"sqlite:///../feeds/{file_name}" if kind == "sql" else f"../feeds/{file_name}"


def _timestamps(column: pl.Expr, time_format: str | None, local_time: bool,
                timezone: str) -> pl.Expr:
    if time_format is None:
        return column
    if local_time:
        column = column.dt.convert_time_zone(timezone)
    return column.dt.strftime(time_format)


def incident_feed_frame(canonical: pl.DataFrame, style: IncidentStyle, *, code: str,
                        timezone: str, state_fips: str, outside_point: tuple[float, float],
                        today: date) -> pl.DataFrame:
    """Canonical incident rows (plus sequence/defect columns) as this style exports them."""
    defect = pl.col(DEFECT)
    missing = pl.col(MISSING_FIELD)
    impossible = style.impossible_time
    if isinstance(impossible, str):
        impossible = impossible.format(year=today.year)
    occurred = _timestamps(pl.col("occurred_at"), style.time_format, style.local_time, timezone)
    reported = _timestamps(pl.col("reported_at"), style.time_format, style.local_time, timezone)
    category = pl.col("category").replace_strict(style.category_words, return_dtype=pl.String)
    severity: pl.Expr = pl.col("severity")
    if style.severity_words:
        severity = severity.replace_strict(style.severity_words, return_dtype=pl.String)
    tlp = pl.when(pl.col(BLANK_TLP)).then(None).otherwise(pl.col("tlp"))
    if style.tlp_words:
        tlp = tlp.replace_strict(style.tlp_words, return_dtype=pl.String)
    unknown_county = defect == "unknown_county"
    outside = defect == "outside_state"
    out_lon, out_lat = outside_point
    prefix = feed_id_prefix(style.id_format, code)
    columns: dict[str, pl.Expr] = {
        "incident_id": pl.when((defect == "missing_required") & (missing == "incident_id"))
        .then(None).otherwise(feed_ids(prefix, style.id_digits, pl.col(SEQUENCE))),
        "occurred_at": pl.when(defect == "impossible_date").then(pl.lit(impossible))
        .otherwise(occurred),
        "reported_at": reported,
        "category": pl.when(defect == "unknown_category").then(pl.lit(style.unknown_category))
        .when((defect == "missing_required") & (missing == "category")).then(None)
        .otherwise(category),
        "county_fips": pl.when(unknown_county).then(pl.lit(f"{state_fips}999"))
        .when(outside | pl.col(HIDE_COUNTY)).then(None).otherwise(pl.col("county_fips")),
        "latitude": pl.when(unknown_county).then(None).when(outside).then(pl.lit(out_lat))
        .otherwise(pl.col("latitude")).round(COORDINATE_DECIMALS),
        "longitude": pl.when(unknown_county).then(None).when(outside).then(pl.lit(out_lon))
        .otherwise(pl.col("longitude")).round(COORDINATE_DECIMALS),
        "sar_behavior": pl.col("sar_behavior"),
        "target_sector": pl.col("target_sector"),
        "severity": severity,
        "tlp": tlp,
        "narrative": pl.col("narrative"),
    }
    return canonical.select(
        [columns[name].alias(source) for name, source in style.columns.items()]
    )


def product_feed_frame(canonical: pl.DataFrame, style: ProductStyle, *, code: str,
                       timezone: str, state_fips: str, today: date) -> pl.DataFrame:
    """Canonical product rows as this style exports them."""
    defect = pl.col(DEFECT)
    published = _timestamps(pl.col("published_at"), style.time_format, style.local_time,
                            timezone)
    if style.impossible_time:
        published = pl.when(defect == "impossible_date").then(
            pl.lit(style.impossible_time.format(year=today.year))).otherwise(published)
    counties = pl.when(defect == "unknown_county").then(
        pl.concat_list(pl.lit(f"{state_fips}999"), pl.col("county_fips"))
    ).otherwise(pl.col("county_fips"))
    product_type: pl.Expr = pl.col("product_type")
    if style.type_words:
        product_type = product_type.replace_strict(style.type_words, return_dtype=pl.String)
    audience: pl.Expr = pl.col("audience")
    if style.audience_words:
        audience = audience.replace_strict(style.audience_words, return_dtype=pl.String)
    statewide: pl.Expr = pl.col("statewide")
    if style.statewide_words:
        yes, no = style.statewide_words
        statewide = pl.when(statewide).then(pl.lit(yes)).otherwise(pl.lit(no))
    missing = defect == "missing_required"
    prefix = feed_id_prefix(style.id_format, code)
    product_id = feed_ids(prefix, PRODUCT_ID_DIGITS, pl.col(SEQUENCE))
    columns: dict[str, pl.Expr] = {
        # A product without an id (JSON lines) or without a title (CSV): both are required.
        "product_id": pl.when(missing & (pl.col(MISSING_FIELD) == "product_id")).then(None)
        .otherwise(product_id),
        "title": pl.when(missing & (pl.col(MISSING_FIELD) == "title")).then(None)
        .otherwise(pl.col("title")),
        "product_type": product_type,
        "published_at": published,
        "topics": pl.col("topics"),
        "county_fips": counties,
        "region": pl.col("region"),
        "statewide": statewide,
        "audience": audience,
        "tlp": pl.col("tlp"),
        "summary": pl.col("summary"),
        "incident_ids": pl.col("incident_ids"),
    }
    if style.list_delimiter is not None:
        for name in ("topics", "county_fips", "region", "incident_ids"):
            columns[name] = columns[name].list.join(style.list_delimiter)
    return canonical.select(
        [columns[name].alias(source) for name, source in style.columns.items()]
    )


def write_incident_feed(frame: pl.DataFrame, style: IncidentStyle, path: Path,
                        created: datetime) -> None:
    if style.kind == "csv":
        frame.write_csv(path)
    elif style.kind == "ndjson":
        frame.write_ndjson(path)
    elif style.kind == "parquet":
        frame.write_parquet(path, compression="zstd")
    elif style.kind == "sql":
        _write_sqlite_table(frame, path, style.options["table"])
    elif style.kind == "excel":
        _write_excel(frame, path, style.options["sheet"], created)
    else:
        raise ValueError(f"no writer for incident feeds of kind {style.kind!r}")


def write_product_feed(frame: pl.DataFrame, style: ProductStyle, path: Path, *,
                       center_id: str, as_of: date) -> None:
    if style.kind == "csv":
        frame.write_csv(path)
    elif style.kind == "ndjson":
        frame.write_ndjson(path)
    elif style.kind == "parquet":
        frame.write_parquet(path, compression="zstd")
    elif style.kind == "sql":
        _write_sqlite_table(frame, path, SQL_PRODUCTS_TABLE)
    elif style.kind == "json":
        # Products sit under data.products, beside export metadata, as some portals export them.
        document = {"meta": {"center": center_id, "as_of": as_of.isoformat(),
                             "count": frame.height},
                    "data": {"products": frame.to_dicts()}}
        path.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n",
                        encoding="utf-8")
    else:
        raise ValueError(f"no writer for product feeds of kind {style.kind!r}")


def sql_products_query(style: ProductStyle) -> str:
    """The query the sql connector runs: ordered by insertion, so row numbers are stable."""
    return (f"SELECT {', '.join(style.columns.values())} FROM {SQL_PRODUCTS_TABLE} "
            "ORDER BY rowid")


_SQLITE_TYPES = {pl.String: "TEXT", pl.Float64: "REAL", pl.Int64: "INTEGER",
                 pl.Int32: "INTEGER", pl.Int8: "INTEGER", pl.Boolean: "INTEGER"}


def _write_sqlite_table(frame: pl.DataFrame, path: Path, table: str) -> None:
    columns = ", ".join(
        f'"{name}" {_SQLITE_TYPES.get(dtype.base_type(), "TEXT")}'
        for name, dtype in frame.schema.items()
    )
    placeholders = ", ".join("?" for _ in frame.columns)
    with sqlite3.connect(path) as connection:
        connection.execute(f'DROP TABLE IF EXISTS "{table}"')
        connection.execute(f'CREATE TABLE "{table}" ({columns})')
        connection.executemany(f'INSERT INTO "{table}" VALUES ({placeholders})',
                               frame.iter_rows())
    connection.close()


def _write_excel(frame: pl.DataFrame, path: Path, sheet: str, created: datetime) -> None:
    # A fixed creation date keeps the file identical for the same seed.
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False,
                                               "strings_to_urls": False})
    workbook.set_properties({"created": created.replace(tzinfo=None)})
    frame.write_excel(workbook, worksheet=sheet, autofit=False, table_style=None)
    workbook.close()


def incident_source_config(style: IncidentStyle, *, file_name: str, timezone: str
                           ) -> dict[str, Any]:
    """The ``[[centers.sources]]`` entry for an incident feed of this style."""
    source: dict[str, Any] = {
        "name": "incidents", "table": "incidents", "kind": style.kind,
        "location": location(style.kind, file_name),
    }
    _time_settings(source, style.time_format, style.local_time, style.declare_formats,
                   timezone, ("occurred_at", "reported_at"), style.columns)
    if style.default_tlp:
        source["default_tlp"] = style.default_tlp
    if style.options:
        source["options"] = dict(style.options)
    source["columns"] = {column: name for name, column in style.columns.items()
                         if column != name}
    values: dict[str, dict[str, str]] = {
        "category": {word: key for key, word in style.category_words.items()},
    }
    if style.severity_words:
        values["severity"] = {word: str(level) for level, word in style.severity_words.items()}
    if style.tlp_words:
        values["tlp"] = {word: marking for marking, word in style.tlp_words.items()}
    source["values"] = values
    return source


def product_source_config(style: ProductStyle, *, file_name: str, timezone: str
                          ) -> dict[str, Any]:
    source: dict[str, Any] = {
        "name": "products", "table": "products", "kind": style.kind,
        "location": location(style.kind, file_name),
    }
    _time_settings(source, style.time_format, style.local_time, style.declare_formats,
                   timezone, ("published_at",), style.columns)
    if style.list_delimiter is not None:
        source["list_delimiter"] = style.list_delimiter
    if style.kind == "sql":
        source["options"] = {"query": sql_products_query(style)}
    elif style.options:
        source["options"] = dict(style.options)
    columns = {column: name for name, column in style.columns.items() if column != name}
    if columns:
        source["columns"] = columns
    values: dict[str, dict[str, str]] = {}
    if style.type_words:
        values["product_type"] = {word: key for key, word in style.type_words.items()}
    if style.audience_words:
        values["audience"] = {word: key for key, word in style.audience_words.items()}
    if values:
        source["values"] = values
    return source


def _time_settings(source: dict[str, Any], time_format: str | None, local_time: bool,
                   declare_formats: bool, timezone: str, fields: tuple[str, ...],
                   columns: dict[str, str]) -> None:
    if time_format is None or not declare_formats:
        return
    source["naive_timezone"] = timezone if local_time else "UTC"
    source["datetime_formats"] = {name: time_format for name in fields if name in columns}
