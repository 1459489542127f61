"""ISE-SAR connector (issue 16): NIEM SAR exchange XML becomes SAR incidents with the
published NIEM `sar` codes, crosswalked to the taxonomy.

No ISE-SAR instance is published in a public repository; the sample is constructed and
validated against the published NIEM 5.2 schemas (tests/fixtures/isesar/SOURCES.md).
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import xmlschema

import data_sources.isesar  # noqa: F401  (registers the connector)
from dashboard.frames import load_health_frames, load_picture_frames
from dashboard.ingest.pipeline import run_ingest
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store
from data_sources import ERROR_COLUMN, RAW_TEXT_COLUMN, ROW_COLUMN, connector_for
from data_sources.isesar import crosswalk

FIXTURES = Path(__file__).parent / "fixtures" / "isesar"
SAMPLE = FIXTURES / "constructed" / "sar-reports.xml"
EXCHANGE_SCHEMA = FIXTURES / "constructed" / "isesar-exchange.xsd"
SAR_CODES = FIXTURES / "niem-5.2" / "codes" / "sar.xsd"
CONNECTOR = connector_for("isesar")
OPTIONS = CONNECTOR.Options()
SAR_CENTER = """
[[centers]]
id = "sarx"
name = "SAR partner"
kind = "regional"
timezone = "America/New_York"
default_tlp = "TLP:AMBER"
aor_counties = ["44007"]

[[centers.sources]]
name = "sars"
table = "incidents"
kind = "isesar"
location = "../feeds/sars.xml"
"""


def read(path: Path) -> pl.DataFrame:
    return CONNECTOR.read(str(path), OPTIONS).collect()


def published_codes(simple_type: str) -> list[str]:
    """The enumeration of one simple type of the published NIEM sar code list."""
    schema = xmlschema.XMLSchema(SAR_CODES)
    simple = schema.types[simple_type]
    assert isinstance(simple, xmlschema.validators.XsdAtomicRestriction)
    return [str(code) for code in simple.enumeration or []]


def broken(text: str, old: str, new: str, count: int = 1) -> str:
    assert text.count(old) >= count
    return text.replace(old, new, count)


# --- the published code lists and the sample ------------------------------------------------


def test_the_sample_validates_against_the_published_niem_schemas() -> None:
    schema = xmlschema.XMLSchema(EXCHANGE_SCHEMA)
    assert list(schema.iter_errors(SAMPLE)) == []
    # The validator is not a rubber stamp: an unpublished code fails.
    bad = SAMPLE.read_text(encoding="utf-8").replace(">ELICIT<", ">ASKING<")
    errors = list(schema.iter_errors(bad))
    assert len(errors) == 1 and "ASKING" in str(errors[0])


def test_the_crosswalk_covers_exactly_the_published_codes() -> None:
    behaviours = published_codes("SuspiciousActivityCodeSimpleType")
    sectors = published_codes("TargetSectorCodeSimpleType")
    assert len(behaviours) == 16 and len(sectors) == 34
    assert sorted(crosswalk().sar_behaviors) == sorted(behaviours)
    assert sorted(crosswalk().target_sectors) == sorted(sectors)


def test_the_crosswalk_lands_on_taxonomy_keys() -> None:
    import tomllib

    taxonomy = tomllib.loads((Path(__file__).parents[1] / "config" / "taxonomy.toml")
                             .read_text(encoding="utf-8"))
    assert set(crosswalk().sar_behaviors.values()) <= set(taxonomy["sar_behaviors"])
    assert set(crosswalk().target_sectors.values()) - {""} <= set(taxonomy["target_sectors"])
    assert "sar_analysis" in taxonomy["categories"]


# --- reading ------------------------------------------------------------------------------


def test_reports_become_sar_incident_rows() -> None:
    rows = read(SAMPLE)
    assert rows[ERROR_COLUMN].null_count() == len(rows)
    assert rows.select(ROW_COLUMN, "incident_id", "occurred_at", "category", "sar_behavior",
                       "target_sector", "latitude", "longitude").rows() == [
        (1, "SAR-2025-0001", "2025-02-03T14:30:00Z", "sar_analysis", "PHOTO", "ENRG",
         "41.824", "-71.4128"),
        (2, "SAR-2025-0002", "2025-02-10T09:05:00-05:00", "sar_analysis", "ELICIT", "WATR",
         "41.49", "-71.31"),
        (3, "SAR-2025-0003", "2025-02-14T22:40:00Z", "sar_analysis", "INTRSN", "TELCM",
         None, None),
    ]
    assert rows["narrative"][1] == ("Caller asked staff detailed questions about reservoir "
                                    "intake schedules.")


@pytest.mark.parametrize(("old", "new", "reason"), [
    ("<nc:DateTime>2025-02-10T09:05:00-05:00</nc:DateTime>", "",
     "/SuspiciousActivityReportSet/SuspiciousActivityReport[2]/ActivityDate/DateTime: "
     "required element missing or empty"),
    ("2025-02-10T09:05:00-05:00", "2025-13-10T09:05:00",
     "/SuspiciousActivityReportSet/SuspiciousActivityReport[2]/ActivityDate/DateTime: "
     "'2025-13-10T09:05:00' is not an xs:dateTime"),
    (">ELICIT<", ">ASKING<",
     "/SuspiciousActivityReportSet/SuspiciousActivityReport[2]/SuspiciousActivityCode[1]: "
     "'ASKING' is not a NIEM sar code"),
    (">WATR<", ">WATER<",
     "/SuspiciousActivityReportSet/SuspiciousActivityReport[2]/TargetSectorCode[1]: "
     "'WATER' is not a NIEM sar code"),
    ("<nc:LatitudeDegreeValue>41.49<", "<nc:LatitudeDegreeValue>141.49<",
     "/SuspiciousActivityReportSet/SuspiciousActivityReport[2]/ActivityLocation/"
     "Location2DGeospatialCoordinate/GeographicCoordinateLatitude/LatitudeDegreeValue: "
     "'141.49' is not a latitude in degrees (-90 to 90)"),
])
def test_a_bad_report_is_one_error_row_and_the_others_load(
        tmp_path: Path, old: str, new: str, reason: str) -> None:
    path = tmp_path / "sars.xml"
    path.write_text(broken(SAMPLE.read_text(encoding="utf-8"), old, new), encoding="utf-8")
    rows = read(path)
    assert rows[ERROR_COLUMN].to_list() == [None, reason, None]
    assert "\n" not in reason
    assert "SAR-2025-0002" in rows[RAW_TEXT_COLUMN][1]
    assert rows["incident_id"].to_list() == ["SAR-2025-0001", None, "SAR-2025-0003"]


@pytest.mark.parametrize(("text", "message"), [
    ("<sarx:SuspiciousActivityReportSet xmlns:sarx='urn:x'><oops></sarx:SuspiciousActivity"
     "ReportSet>", r"sars\.xml: line 1, column \d+: not well-formed XML \(mismatched tag\)$"),
    ("<Other/>", r"sars\.xml: /Other: no SuspiciousActivityReport elements"),
    ("<!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>",
     r"sars\.xml: XML with a document type declaration is not accepted$"),
])
def test_a_file_that_is_no_sar_exchange_raises_one_line(
        tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sars.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as raised:
        read(path)
    assert "\n" not in str(raised.value)
    assert re.search(message, str(raised.value))


def test_options_are_strict() -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        CONNECTOR.Options.model_validate({"objects": ["report"]})


# --- ingest -------------------------------------------------------------------------------


@pytest.fixture
def sar_config(ri_dir: Path) -> ProjectConfig:
    """The RI fixture with a center that receives an ISE-SAR feed, and the sample's codes in
    its (small) taxonomy."""
    taxonomy = ri_dir / "config" / "taxonomy.toml"
    text = taxonomy.read_text(encoding="utf-8")
    text = text.replace("[sar_behaviors]\n", '[sar_behaviors]\nELICIT = "Eliciting information"\n'
                        'INTRSN = "Breach / attempted intrusion"\n')
    text = text.replace("[target_sectors]\n", '[target_sectors]\nWATR = "Water"\n'
                        'TELCM = "Telecommunications"\n')
    taxonomy.write_text(text, encoding="utf-8")
    with (ri_dir / "config" / "centers.toml").open("a", encoding="utf-8") as centers:
        centers.write(SAR_CENTER)
    return load_config(ri_dir / "config")


def test_the_feed_loads_through_the_pipeline_and_a_bad_report_is_quarantined(
        sar_config: ProjectConfig, tmp_path: Path) -> None:
    feeds = sar_config.config_dir.parent / "feeds"
    feeds.mkdir(exist_ok=True)
    shutil.copy(SAMPLE, feeds / "sars.xml")
    text = (feeds / "sars.xml").read_text(encoding="utf-8")
    (feeds / "sars.xml").write_text(broken(text, ">PHOTO<", ">SELFIE<"), encoding="utf-8")
    engine = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    report = run_ingest(sar_config, engine, sources=[("sarx", "sars")],
                        now=datetime(2025, 3, 1, tzinfo=UTC))
    (source,) = report.sources
    # Report 1: an unpublished code; report 3: no place (no coordinates, no county).
    assert (source.status, source.rows_read, source.rows_inserted, source.rows_rejected) == \
        ("loaded", 3, 1, 2)
    quarantine = load_health_frames(engine).quarantine.sort("row_number")
    assert quarantine.select("row_number", "field").rows() == [
        (1, "(row)"), (3, "county_fips, latitude, longitude")]
    assert quarantine["reason"][0] == (
        "unreadable row: /SuspiciousActivityReportSet/SuspiciousActivityReport[1]/"
        "SuspiciousActivityCode[1]: 'SELFIE' is not a NIEM sar code")
    stored = load_picture_frames(engine, "UTC").incidents
    assert stored.select("incident_id", "county_fips", "category", "sar_behavior",
                         "target_sector").rows() == [
        ("SAR-2025-0002", "44005", "sar_analysis", "ELICIT", "WATR")]
    assert stored["occurred_at"][0] == datetime(2025, 2, 10, 14, 5, tzinfo=UTC)  # -05:00 read
