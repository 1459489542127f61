"""NIBRS (issue 16): the FBI's published IEPD 4.2 samples validate against its schemas, the
connector reads them and the published flat files into the incidents they mean, the crosswalk
covers exactly NIBRS's offense codes with taxonomy keys, bad input is quarantined per report
with the element path or line, and a NIBRS source loads through the ingest pipeline.

The samples are the standard's own (tests/fixtures/nibrs/SOURCES.md). Their agencies are in
West Virginia, Maryland and Hawaii, so tests give their ORIs counties through ``ori_counties``
(the real counties here; Rhode Island counties in the pipeline test, whose deployment is RI).
"""

from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import xmlschema

import data_sources.nibrs  # noqa: F401  (registers the connector)
from dashboard.analytics.health import standard_conformance
from dashboard.frames import load_health_frames, load_picture_frames
from dashboard.ingest.pipeline import run_ingest
from dashboard.settings import load_config
from dashboard.store import open_store
from data_sources import ERROR_COLUMN, RAW_TEXT_COLUMN, ROW_COLUMN, connector_for
from data_sources.nibrs import crosswalk

FIXTURES = Path(__file__).parent / "fixtures" / "nibrs"
GROUP_A_SAMPLE = FIXTURES / "iep-sample" / "nibrs_GroupAIncident_Sample.xml"
ALL_FIELDS_SAMPLE = FIXTURES / "iep-sample" / "nibrs_AllFields_Sample.xml"
FLAT_MD = FIXTURES / "flat" / "two-incidents-MD.txt"
FLAT_HI = FIXTURES / "flat" / "NIBRS_Test_Sample.txt"
NIBRS_XSD = FIXTURES / "xsd" / "nibrs" / "4.2" / "nibrs.xsd"
NIBRS_CODES_XSD = FIXTURES / "xsd" / "nibrs" / "4.2" / "nibrs-codes.xsd"
TAXONOMY = Path(__file__).parents[1] / "config" / "taxonomy.toml"
XSD = "{http://www.w3.org/2001/XMLSchema}"
# Counties given to the samples' agencies for the tests, in each agency's state (no ORI table
# was checked: "WVNDX0100" is the FBI's made-up agency; HI0020000 is Honolulu's police).
SAMPLE_COUNTIES = {"WVNDX0100": "54051", "MD0160400": "24031", "HI0020000": "15003"}
NIBRS = connector_for("nibrs")
OPTIONS = NIBRS.Options.model_validate({"ori_counties": SAMPLE_COUNTIES})
NIBRS_CENTER = """
[[centers]]
id = "ucr"
name = "State UCR program"
kind = "regional"
timezone = "America/New_York"
default_tlp = "TLP:AMBER"
aor_counties = ["44007"]

[[centers.sources]]
name = "nibrs"
table = "incidents"
kind = "nibrs"
location = "../feeds/nibrs.txt"
options = { format = "flat", ori_counties = { MD0160400 = "44007" } }

# The RI test taxonomy has no violent crime: the source's value map takes the crosswalk's key.
[centers.sources.values.category]
violent_crime = "gangs"
"""


def read(path: Path, options: Any = OPTIONS) -> pl.DataFrame:
    return NIBRS.read(str(path), options).collect()


def incidents(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return frame.select(ROW_COLUMN, "incident_id", "occurred_at", "category",
                        "county_fips").rows()


def errors(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return frame.filter(pl.col(ERROR_COLUMN).is_not_null()).select(ROW_COLUMN,
                                                                   ERROR_COLUMN).rows()


# --- the samples --------------------------------------------------------------------------


@pytest.mark.parametrize("sample", [GROUP_A_SAMPLE, ALL_FIELDS_SAMPLE])
def test_samples_validate_against_the_published_iepd_schema(sample: Path) -> None:
    schema = xmlschema.XMLSchema(str(NIBRS_XSD))
    assert [str(error) for error in schema.iter_errors(str(sample))] == []


def test_a_sample_broken_is_caught_by_the_schema(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text(GROUP_A_SAMPLE.read_text(encoding="utf-8").replace(
        "<nibrs:OffenseUCRCode>13A<", "<nibrs:OffenseUCRCode>13Z<"), encoding="utf-8")
    assert not xmlschema.XMLSchema(str(NIBRS_XSD)).is_valid(str(broken))


def test_xml_samples_become_their_incidents() -> None:
    assert incidents(read(GROUP_A_SAMPLE)) == [
        (34, "WVNDX0100-000054236732", "2016-02-19T10:00:00", "violent_crime", "54051")]
    # The all-fields sample's only offense is motor vehicle theft: outside the taxonomy, so
    # the category is its code for the source's value map.
    frame = read(ALL_FIELDS_SAMPLE)
    assert incidents(frame) == [(34, "WVNDX0100-54236732", "2016-02-19T10:00:00", "240", "54051")]
    assert frame["narrative"][0] == "NIBRS offenses: 240 Motor Vehicle Theft"
    assert errors(frame) == []


def test_flat_files_become_their_incidents() -> None:
    frame = read(FLAT_MD)
    # Both incidents: 290 vandalism and 13B simple assault; the assault decides the category.
    assert incidents(frame) == [
        (1, "MD0160400-16024058", "2016-05-14T23:00:00", "violent_crime", "24031"),
        (9, "MD0160400-16033481", "2016-07-02T03:00:00", "violent_crime", "24031")]
    assert frame["narrative"][1] == ("NIBRS offenses: 290 Destruction/Damage/Vandalism of "
                                     "Property; 13B Simple Assault")
    assert frame["nibrs_record"][0].splitlines()[0].startswith("00881I112016    MD0160400")


def test_the_published_sample_with_a_cut_line_is_quarantined_by_its_line() -> None:
    frame = read(FLAT_HI)
    assert errors(frame) == [
        (1, "line 6: segment length 110 (positions 1-4) but the line has 80 characters")]
    assert frame[RAW_TEXT_COLUMN][0].count("\n") == 5  # the incident's six lines


def test_both_formats_are_told_apart_or_chosen() -> None:
    as_xml = NIBRS.Options.model_validate({"format": "xml", "ori_counties": SAMPLE_COUNTIES})
    assert incidents(read(GROUP_A_SAMPLE, as_xml)) == incidents(read(GROUP_A_SAMPLE))
    as_flat = NIBRS.Options.model_validate({"format": "flat"})
    with pytest.raises(ValueError, match="not a NIBRS flat file"):
        read(GROUP_A_SAMPLE, as_flat)


def test_options_are_strict() -> None:
    with pytest.raises(ValueError, match="format"):
        NIBRS.Options.model_validate({"format": "json"})
    with pytest.raises(ValueError, match="Extra inputs"):
        NIBRS.Options.model_validate({"ori_county": {}})
    with pytest.raises(ValueError, match="not a 5-digit FIPS code"):
        NIBRS.Options.model_validate({"ori_counties": {"RI0040200": "4407"}})
    with pytest.raises(ValueError, match="is not an ORI"):
        NIBRS.Options.model_validate({"ori_counties": {"Providence": "44007"}})


# --- the crosswalk ------------------------------------------------------------------------


def published_offense_codes() -> dict[str, str]:
    """NIBRS offense code -> name, as the IEPD enumerates them (OffenseCodeSimpleType)."""
    root = ET.parse(NIBRS_CODES_XSD).getroot()
    (simple_type,) = [node for node in root.iter(f"{XSD}simpleType")
                      if node.get("name") == "OffenseCodeSimpleType"]
    return {value.get("value", ""): value.findtext(f"{XSD}annotation/{XSD}documentation", "")
            for value in simple_type.iter(f"{XSD}enumeration")}


def test_the_crosswalk_covers_every_nibrs_offense_code_with_a_taxonomy_key() -> None:
    published = published_offense_codes()
    offenses = crosswalk()
    assert set(offenses) == set(published)
    for code, offense in offenses.items():
        # The IEPD's own name, in full where its documentation cut it ("Trespass of Real").
        assert offense.name.startswith(published[code]), code
    with TAXONOMY.open("rb") as handle:
        categories = set(tomllib.load(handle)["categories"])
    assert {offense.category for offense in offenses.values()} - {""} <= categories
    mapped = {code: offense.category for code, offense in offenses.items() if offense.category}
    assert {mapped[code] for code in ("13A", "35A", "200", "520", "64A", "26G")} == {
        "violent_crime", "narcotics", "human_trafficking", "cybercrime"}


def test_the_crosswalk_orders_offenses_by_seriousness() -> None:
    ranks = {code: offense.rank for code, offense in crosswalk().items()}
    # The Hierarchy Rule's head comes first: homicide, rape, robbery, aggravated assault.
    assert ranks["09A"] < ranks["11A"] < ranks["120"] < ranks["13A"] < ranks["35A"]
    assert ranks["13A"] < ranks["13B"] < ranks["290"]


# --- bad input ----------------------------------------------------------------------------


def two_reports(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """The Group A sample with its report twice, the second as a new incident number (2) with
    ``replacements`` made in it."""
    text = GROUP_A_SAMPLE.read_text(encoding="utf-8")
    start, end = text.index("<nibrs:Report>"), text.index("</nibrs:Report>") + 15
    second = text[start:end]
    for old, new in (("000054236732", "2"), *replacements):
        assert old in second
        second = second.replace(old, new)
    path = tmp_path / "submission.xml"
    path.write_text(text[:end] + "\n\t" + second + text[end:], encoding="utf-8")
    return path


def test_an_incident_without_a_date_is_quarantined_with_its_path(tmp_path: Path) -> None:
    path = two_reports(tmp_path, ("<nc:DateTime>2016-02-19T10:00:00</nc:DateTime>", ""),
                       ("<nc:Date>2016-02-19</nc:Date>", ""),
                       ("<nc:YearMonthDate>1999-01</nc:YearMonthDate>", ""))
    frame = read(path)
    assert frame.filter(pl.col(ERROR_COLUMN).is_null())["incident_id"].to_list() == [
        "WVNDX0100-000054236732"]
    (error,) = errors(frame)
    assert error[1] == ("/nibrs:Submission/nibrs:Report[2]/nc:Incident/nc:ActivityDate: no "
                        "incident date (nc:DateTime or nc:Date)")
    assert error[0] > 34


def test_an_unknown_offense_code_is_quarantined_with_its_path(tmp_path: Path) -> None:
    path = two_reports(tmp_path, (">13A<", ">13Z<"))
    frame = read(path)
    assert len(frame) == 2
    assert [reason for _, reason in errors(frame)] == [
        "/nibrs:Submission/nibrs:Report[2]/j:Offense[1]/nibrs:OffenseUCRCode: unknown NIBRS "
        "offense code '13Z'"]


def test_an_ori_with_no_county_is_quarantined_naming_it() -> None:
    frame = read(FLAT_MD, NIBRS.Options.model_validate({}))
    assert [reason for _, reason in errors(frame)] == [
        "line 1: ORI 'MD0160400' has no county (add it to the source's ori_counties) and the "
        "report has no coordinates",
        "line 9: ORI 'MD0160400' has no county (add it to the source's ori_counties) and the "
        "report has no coordinates"]


def test_coordinates_place_an_incident_without_its_ori(tmp_path: Path) -> None:
    """A state's extension may carry NIEM coordinates (the FBI's 4.2 schema has none)."""
    coordinate = ("<nc:Location2DGeospatialCoordinate><nc:GeographicCoordinateLatitude>"
                  "<nc:LatitudeDegreeValue>41.824</nc:LatitudeDegreeValue>"
                  "</nc:GeographicCoordinateLatitude><nc:GeographicCoordinateLongitude>"
                  "<nc:LongitudeDegreeValue>-71.4128</nc:LongitudeDegreeValue>"
                  "</nc:GeographicCoordinateLongitude></nc:Location2DGeospatialCoordinate>")
    text = GROUP_A_SAMPLE.read_text(encoding="utf-8").replace(
        "<nibrs:LocationCategoryCode>16</nibrs:LocationCategoryCode>",
        "<nibrs:LocationCategoryCode>16</nibrs:LocationCategoryCode>" + coordinate)
    path = tmp_path / "placed.xml"
    path.write_text(text, encoding="utf-8")
    frame = read(path, NIBRS.Options.model_validate({}))
    assert frame.select("county_fips", "latitude", "longitude").rows() == [
        (None, "41.824", "-71.4128")]


def test_a_truncated_document_keeps_the_reports_before_the_break(tmp_path: Path) -> None:
    complete = two_reports(tmp_path).read_text(
        encoding="utf-8")
    cut = complete[:complete.index("<j:Offense", complete.index("<nc:IdentificationID>2<"))]
    path = tmp_path / "cut.xml"
    path.write_text(cut, encoding="utf-8")
    frame = read(path)
    assert frame.filter(pl.col(ERROR_COLUMN).is_null())["incident_id"].to_list() == [
        "WVNDX0100-000054236732"]
    ((line, reason),) = errors(frame)
    assert line == cut.count("\n") + 1
    assert reason.startswith(f"line {line}: XML not well-formed (no element found at column ")
    assert reason.endswith("; the rest of the document is not read")
    assert frame[RAW_TEXT_COLUMN][1].startswith("<nibrs:Report>")


def test_a_file_that_is_no_submission_raises_one_line(tmp_path: Path) -> None:
    path = tmp_path / "other.xml"
    path.write_text("<feed xmlns='http://www.w3.org/2005/Atom'/>", encoding="utf-8")
    with pytest.raises(ValueError, match=r"not a NIBRS 4\.x submission \(root element is feed"):
        read(path)
    path.write_text("<nibrs:Submission xmlns:nibrs='http://fbi.gov/cjis/nibrs/4.2'", "utf-8")
    with pytest.raises(ValueError, match=r"line 1: not well-formed XML"):
        read(path)


def test_a_flat_line_of_the_wrong_length_loses_no_other_incident(tmp_path: Path) -> None:
    lines = FLAT_MD.read_text(encoding="ascii").splitlines()
    lines[10] = lines[10][:50]  # line 11: an offense segment of the second incident, cut
    path = tmp_path / "cut.txt"
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    frame = read(path)
    assert incidents(frame.filter(pl.col(ERROR_COLUMN).is_null())) == [
        (1, "MD0160400-16024058", "2016-05-14T23:00:00", "violent_crime", "24031")]
    assert errors(frame) == [
        (9, "line 11: segment length 63 (positions 1-4) but the line has 50 characters")]


def test_an_unknown_flat_offense_code_names_its_line(tmp_path: Path) -> None:
    text = FLAT_MD.read_text(encoding="ascii").replace("13BCA  18", "99XCA  18")
    path = tmp_path / "unknown.txt"
    path.write_text(text, encoding="ascii")
    assert [reason for _, reason in errors(read(path))] == [
        "line 11, positions 38-40: unknown NIBRS offense code '99X'"]


# --- through the pipeline -----------------------------------------------------------------


def test_a_nibrs_source_loads_through_the_pipeline(ri_dir: Path, tmp_path: Path) -> None:
    with (ri_dir / "config" / "centers.toml").open("a", encoding="utf-8") as centers:
        centers.write(NIBRS_CENTER)
    # The two Maryland incidents, the cut Hawaii one, and an unknown offense code.
    lines = FLAT_MD.read_text(encoding="ascii").splitlines()
    unknown = [line.replace("16024058", "16099999").replace("13BCA  20", "99XCA  20")
               for line in lines[:8]]
    feed = "\n".join([*lines, *FLAT_HI.read_text(encoding="ascii").splitlines(), *unknown])
    (ri_dir / "feeds" / "nibrs.txt").write_text(feed + "\n", encoding="ascii")
    config = load_config(ri_dir / "config")
    engine = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    report = run_ingest(config, engine, sources=[("ucr", "nibrs")],
                        now=datetime(2025, 3, 1, tzinfo=UTC))
    (source,) = report.sources
    assert (source.status, source.rows_read, source.rows_inserted, source.rows_rejected) == \
        ("loaded", 4, 2, 2)
    stored = load_picture_frames(engine, "UTC").incidents.sort("incident_id")
    assert stored.select("center_id", "incident_id", "category", "county_fips").rows() == [
        ("ucr", "MD0160400-16024058", "gangs", "44007"),
        ("ucr", "MD0160400-16033481", "gangs", "44007")]
    # 23:00 and 03:00 in the center's time zone (EDT, UTC-4).
    assert stored["occurred_at"].to_list() == [datetime(2016, 5, 15, 3, 0, tzinfo=UTC),
                                               datetime(2016, 7, 2, 7, 0, tzinfo=UTC)]
    health = load_health_frames(engine)
    assert sorted(health.quarantine.select("row_number", "reason").rows()) == [
        (18, "unreadable row: line 23: segment length 110 (positions 1-4) but the line has 80 "
             "characters"),
        (24, "unreadable row: line 26, positions 38-40: unknown NIBRS offense code '99X'")]
    conformance = standard_conformance(health)
    assert conformance.select("source_name", "standard", "records", "conformant").rows() == [
        ("nibrs", "NIBRS", 4, 2)]
