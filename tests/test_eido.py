"""NENA EIDO (issue 16): the published sample is valid under the published schema, the
connector reads EIDOs into the incidents they mean, the crosswalk maps only registered incident
types to taxonomy keys, a bad EIDO is quarantined with the JSON path of what fails and the rest
load, through the real ingest pipeline.

NENA publishes one EIDO instance that is valid under the current schema
(tests/fixtures/eido/SOURCES.md): a call transfer, with no incident component and a place in
Delaware. So the incidents read here are that published sample with an incident component and
Rhode Island locations added (``incident_eido``), built in this file and labelled as such.
"""

from __future__ import annotations

import copy
import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import data_sources.eido  # noqa: F401  (registers the "eido" kind)
from dashboard.frames import load_health_frames, load_picture_frames
from dashboard.ingest.pipeline import run_ingest
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store
from data_sources import ERROR_COLUMN, RAW_TEXT_COLUMN, ROW_COLUMN, connector_for
from data_sources.eido import SCHEMA_PATH, crosswalk, schema_problems

FIXTURES = Path(__file__).parent / "fixtures" / "eido"
PUBLISHED_SAMPLE = FIXTURES / "samples" / "sample-call-transfer-eido.json"
PUBLISHED_SCHEMA = FIXTURES / "schema" / "openapi.yaml"
TAXONOMY = Path(__file__).parents[1] / "config" / "taxonomy.toml"
EIDO_CENTER = """
[[centers]]
id = "psap"
name = "Regional 9-1-1 CAD"
kind = "regional"
timezone = "America/New_York"
default_tlp = "TLP:AMBER"
aor_counties = ["44007"]

[[centers.sources]]
name = "cad"
table = "incidents"
kind = "eido"
location = "../feeds/cad.json"
"""

PROVIDENCE = (41.824, -71.4128)
NEWPORT = (41.4901, -71.3128)
WILMINGTON_DE = (39.7391, -75.5398)


def published_sample() -> dict[str, Any]:
    return json.loads(PUBLISHED_SAMPLE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def pidf_lo(point: tuple[float, float] | None = None, county: str | None = None) -> str:
    """A PIDF-LO document (RFC 4119 / RFC 5491) with a GML point and/or a civic county."""
    shapes = (f'<gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>{point[0]} '
              f'{point[1]}</gml:pos></gml:Point>' if point else "")
    civic = (f'<civicAddress xmlns="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr">'
             f'<country>US</country><A1>RI</A1><A2>{county}</A2></civicAddress>'
             if county else "")
    return ('<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf"'
            ' xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:gml='
            '"http://www.opengis.net/gml" entity="pres:caller@example.com"><tuple id="t1">'
            f'<status><gp:geopriv><gp:location-info>{shapes}{civic}</gp:location-info>'
            '<gp:usage-rules/></gp:geopriv></status></tuple></presence>')


def incident_eido(number: int, incident_type: str, *, point: tuple[float, float] | None = None,
                  county: str | None = None, priority: int | None = None) -> dict[str, Any]:
    """NOT PUBLISHED: NENA's call-transfer sample with an incident component (the fields of
    the schema's IncidentInformationType) and its routing location replaced by a Rhode Island
    PIDF-LO; its call (answered 2021-04-30 14:40 -04:00) stays the first timestamp."""
    eido = copy.deepcopy(published_sample())
    eido["$id"] = f"urn:emergency:uid:incidentid:{number:04d}:psap.ri.example"
    location = eido["locationComponent"][0]
    location["locationByValue"] = pidf_lo(point, county)
    incident: dict[str, Any] = {
        "$id": f"urn:emergency:uid:incidentid:{number:04d}:psap.ri.example:incident",
        "lastUpdateTimeStamp": "2021-04-30T14:45:00.0-04:00",
        "updatedByAgencyReference": {"$ref": "state.pa.us"},
        "incidentTypeCommonRegistryText": incident_type,
        "locationReference": [{"$ref": location["$id"]}],
        "notesReference": [{"$ref": "note-1"}],
    }
    if priority is not None:
        incident["incidentCommonPriorityNumber"] = priority
    eido["incidentComponent"] = incident
    eido["notesComponent"] = [{"$id": "note-1", "lastUpdateTimeStamp": "2021-04-30T14:44:00Z",
                               "updatedByAgencyReference": {"$ref": "state.pa.us"},
                               "notesActionComments": f"Caller reports incident {number}."}]
    return eido


def write_eidos(path: Path, eidos: list[Any]) -> Path:
    path.write_text(json.dumps(eidos), encoding="utf-8")
    return path


def read(path: Path) -> pl.DataFrame:
    connector = connector_for("eido")
    return connector.read(str(path), connector.Options()).collect()


# --- the published files ------------------------------------------------------------------


def test_the_published_sample_validates_against_the_published_schema() -> None:
    assert schema_problems(published_sample(), "$") == []
    # The check can fail: the sample without its timestamp, with a call time in month 13.
    broken = published_sample()
    del broken["lastUpdateTimeStamp"]
    broken["callComponent"][0]["callStartTimestamp"] = "2021-13-30T14:40:00Z"
    assert schema_problems(broken, "$") == [
        "$.lastUpdateTimeStamp: required element missing",
        "$.callComponent[0].callStartTimestamp: '2021-13-30T14:40:00Z' is not a 'date-time'"]


def test_the_shipped_schema_is_the_published_yaml() -> None:
    yaml = pytest.importorskip("yaml")
    published = yaml.safe_load(PUBLISHED_SCHEMA.read_text(encoding="utf-8"))
    assert json.loads(SCHEMA_PATH.read_text(encoding="utf-8")) == published
    # The published typo the connector reads as the count it means (minItems "1,").
    roles = published["components"]["schemas"]["AgentType"]["allOf"][1]["properties"][
        "agentRoleRegistryText"]
    assert roles["minItems"] == "1,"
    sample = published_sample()
    sample["agentComponent"][0]["agentRoleRegistryText"] = []
    assert schema_problems(sample, "$") == [
        "$.agentComponent[0].agentRoleRegistryText: [] should be non-empty"]


def test_the_published_sample_has_no_incident_and_is_one_error_row() -> None:
    rows = read(PUBLISHED_SAMPLE)
    assert rows.select(ROW_COLUMN, "incident_id", ERROR_COLUMN).rows() == [
        (1, None, "$.incidentComponent: required element missing (an EIDO without an incident "
                  "component carries no incident)")]
    assert json.loads(rows[RAW_TEXT_COLUMN][0]) == published_sample()


# --- the crosswalk ------------------------------------------------------------------------


def test_the_crosswalk_maps_registered_types_to_taxonomy_keys() -> None:
    table = crosswalk()
    with TAXONOMY.open("rb") as handle:
        categories = set(tomllib.load(handle)["categories"])
    assert set(table.incident_types) <= set(table.registry)
    assert set(table.incident_types.values()) <= categories
    # The registry as NENA-STA-021.1b Table 32 lists it: NONEMERG and APCO ANS 2.103.2-2019.
    assert len(table.registry) == 245
    assert (table.registry["NONEMERG"], table.registry["TERROR"], table.registry["XTRICATE"]) \
        == ("The Incident is not an emergency.", "Terrorist Activity",
            "Confined Space Rescue, Vehicle Extrication")
    assert (table.incident_types["TERROR"], table.incident_types["SHOOT"],
            table.incident_types["SUSP"]) == ("counterterrorism", "violent_crime", "sar_analysis")


# --- reading ------------------------------------------------------------------------------


def test_eidos_become_incident_rows(tmp_path: Path) -> None:
    path = write_eidos(tmp_path / "cad.json", [
        incident_eido(1, "TERROR", point=PROVIDENCE, priority=10),
        incident_eido(2, "SHOOT", county="Newport", priority=5),
        # A registered type the crosswalk leaves to the source's value map: its code.
        incident_eido(3, "CARDIAC", point=NEWPORT, county="Newport", priority=0),
    ])
    rows = read(path)
    assert rows.select("incident_id", "occurred_at", "reported_at", "category", "county_fips",
                       "latitude", "longitude", "severity", ERROR_COLUMN).rows() == [
        ("urn:emergency:uid:incidentid:0001:psap.ri.example", "2021-04-30T14:40:00.0-04:00",
         "2021-04-30T14:43:49.439-04:00", "counterterrorism", None, "41.824", "-71.4128", "5",
         None),
        ("urn:emergency:uid:incidentid:0002:psap.ri.example", "2021-04-30T14:40:00.0-04:00",
         "2021-04-30T14:43:49.439-04:00", "violent_crime", "44005", None, None, "3", None),
        ("urn:emergency:uid:incidentid:0003:psap.ri.example", "2021-04-30T14:40:00.0-04:00",
         "2021-04-30T14:43:49.439-04:00", "CARDIAC", "44005", "41.4901", "-71.3128", "1", None),
    ]
    assert rows["narrative"].to_list() == [f"Caller reports incident {n}." for n in (1, 2, 3)]
    assert rows[ROW_COLUMN].to_list() == [1, 2, 3]


def test_without_a_call_the_incident_time_is_its_last_update(tmp_path: Path) -> None:
    eido = incident_eido(4, "DRUGS", point=PROVIDENCE)
    del eido["callComponent"]
    (row,) = read(write_eidos(tmp_path / "one.json", [eido])).to_dicts()
    assert (row["occurred_at"], row["category"], row["severity"]) == \
        ("2021-04-30T14:45:00.0-04:00", "narcotics", None)


def test_one_eido_and_ndjson_files_read_too(tmp_path: Path) -> None:
    single = tmp_path / "single.json"
    single.write_text(json.dumps(incident_eido(5, "BOMB", point=PROVIDENCE)), encoding="utf-8")
    assert read(single).select("incident_id", "category").rows() == [
        ("urn:emergency:uid:incidentid:0005:psap.ri.example", "counterterrorism")]
    # NDJSON: a line that is not JSON is an error row; the lines after it still load.
    lines = tmp_path / "cad.ndjson"
    lines.write_text("\n".join([json.dumps(incident_eido(6, "BOMB", point=PROVIDENCE)),
                                '{"$id": "urn:emergency:uid:incidentid:7", ',
                                "",
                                json.dumps(incident_eido(8, "ROBBERY", point=NEWPORT))]) + "\n",
                     encoding="utf-8")
    rows = read(lines)
    assert rows.select(ROW_COLUMN, "incident_id", ERROR_COLUMN).rows() == [
        (1, "urn:emergency:uid:incidentid:0006:psap.ri.example", None),
        (2, None, "$[1] (line 2): not valid JSON (Expecting property name enclosed in double "
                  "quotes)"),
        (3, "urn:emergency:uid:incidentid:0008:psap.ri.example", None)]
    assert rows[RAW_TEXT_COLUMN][1] == '{"$id": "urn:emergency:uid:incidentid:7", '


def test_a_file_that_is_not_json_raises_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[{"$id": "urn:emergency:uid:incidentid:1",', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json: line 1: not valid JSON") as raised:
        read(path)
    assert "\n" not in str(raised.value)


def test_bad_eidos_are_error_rows_with_their_paths_and_lose_no_other(tmp_path: Path) -> None:
    no_incident = published_sample()
    no_time = incident_eido(11, "SHOOT", point=PROVIDENCE)
    del no_time["incidentComponent"]["lastUpdateTimeStamp"]
    unknown_type = incident_eido(12, "ZOMBIES", point=PROVIDENCE)
    bad_priority = incident_eido(13, "SHOOT", point=PROVIDENCE, priority=11)
    bad_place = incident_eido(14, "SHOOT")
    bad_place["locationComponent"][0]["locationByValue"] = "<presence><tuple>"
    rows = read(write_eidos(tmp_path / "cad.json", [
        incident_eido(10, "SHOOT", point=PROVIDENCE), no_incident, no_time, unknown_type,
        bad_priority, bad_place, "not an EIDO", incident_eido(15, "HLP1", point=NEWPORT)]))
    assert rows.select(ROW_COLUMN, "incident_id", ERROR_COLUMN).rows() == [
        (1, "urn:emergency:uid:incidentid:0010:psap.ri.example", None),
        (2, None, "$[1].incidentComponent: required element missing (an EIDO without an "
                  "incident component carries no incident)"),
        (3, None, "$[2].incidentComponent.lastUpdateTimeStamp: required element missing"),
        (4, None, "$[3].incidentComponent.incidentTypeCommonRegistryText: 'ZOMBIES' is not in "
                  "the EIDO-IncidentType-Common registry"),
        (5, None, "$[4].incidentComponent.incidentCommonPriorityNumber: 11 is outside 0-10"),
        (6, None, "$[5].locationComponent[0].locationByValue: not well-formed PIDF-LO XML "
                  "(no element found: line 1, column 17)"),
        (7, None, "$[6]: expected a JSON object (an EIDO), got str"),
        (8, "urn:emergency:uid:incidentid:0015:psap.ri.example", None),
    ]
    assert all("\n" not in reason for reason in rows[ERROR_COLUMN].drop_nulls())
    assert json.loads(rows[RAW_TEXT_COLUMN][2])["$id"] == no_time["$id"]


def test_options_are_strict() -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        connector_for("eido").Options.model_validate({"objects": ["incident"]})


# --- ingest: the store, quarantine with the JSON path -----------------------------------------


@pytest.fixture
def cad_config(ri_dir: Path) -> ProjectConfig:
    """The RI fixture with a center whose CAD sends EIDOs."""
    with (ri_dir / "config" / "centers.toml").open("a", encoding="utf-8") as centers:
        centers.write(EIDO_CENTER)
    return load_config(ri_dir / "config")


def test_eidos_land_in_the_store_through_the_pipeline(cad_config: ProjectConfig,
                                                      tmp_path: Path) -> None:
    feeds = cad_config.config_dir.parent / "feeds"
    no_time = incident_eido(22, "BOMB", point=PROVIDENCE)
    del no_time["incidentComponent"]["lastUpdateTimeStamp"]
    write_eidos(feeds / "cad.json", [
        # The RI fixture's taxonomy: gangs, narcotics, cybercrime, sar_analysis.
        incident_eido(21, "SUSP", point=PROVIDENCE, priority=9),
        no_time,
        incident_eido(23, "ZOMBIES", point=PROVIDENCE),
        # Coordinates in Delaware, no county: the pipeline cannot place it in Rhode Island.
        incident_eido(24, "PERSUSP", point=WILMINGTON_DE),
        incident_eido(25, "DRUGS", county="Newport", priority=4),
    ])
    engine = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    report = run_ingest(cad_config, engine, sources=[("psap", "cad")],
                        now=datetime(2021, 5, 1, tzinfo=UTC))
    (source,) = report.sources
    assert (source.status, source.rows_read, source.rows_inserted, source.rows_rejected) == \
        ("loaded", 5, 2, 3)
    stored = load_picture_frames(engine, "UTC").incidents.sort("incident_id")
    assert stored.select("incident_id", "category", "county_fips", "severity").rows() == [
        ("urn:emergency:uid:incidentid:0021:psap.ri.example", "sar_analysis", "44007", 5),
        ("urn:emergency:uid:incidentid:0025:psap.ri.example", "narcotics", "44005", 2)]
    # 14:40 -04:00, the call that reported it.
    assert stored["occurred_at"].to_list()[0] == datetime(2021, 4, 30, 18, 40, tzinfo=UTC)
    quarantine = load_health_frames(engine).quarantine.sort("row_number")
    assert quarantine.select("row_number", "field").rows() == [
        (2, "(row)"), (3, "(row)"), (4, "latitude, longitude")]
    reasons = quarantine["reason"].to_list()
    assert reasons[0] == ("unreadable row: $[1].incidentComponent.lastUpdateTimeStamp: "
                          "required element missing")
    assert reasons[1].startswith("unreadable row: $[2].incidentComponent."
                                 "incidentTypeCommonRegistryText: 'ZOMBIES' is not in")
    assert "is outside" in reasons[2] and "no county is given" in reasons[2]
