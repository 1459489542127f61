"""STIX 2.1 (issue 16): the published samples are valid, the connector reads them into the rows
they mean, a bad object is quarantined with its JSON path, TLP 2.0 markings map both ways, the
export is a valid bundle that imports back into the same products, and a partner's export
carries no withheld count.

The samples are the standard's own (tests/fixtures/stix/SOURCES.md). None of them is about a
place in a US state, so placing objects is tested on bundles made with the OASIS ``stix2``
library, and on the project's own exports.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import stix2
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from stix2validator import ValidationOptions, validate_instance, validate_string
from typer.testing import CliRunner

from dashboard.analytics.filters import Filters
from dashboard.analytics.health import standard_conformance
from dashboard.cli import app
from dashboard.exchange.stix import (
    AGGREGATE_EXTENSION_ID,
    county_location_id,
    report_id,
    stix_export,
)
from dashboard.frames import PictureFrames, load_health_frames, load_picture_frames
from dashboard.ingest.pipeline import run_ingest
from dashboard.security.audience import view_data
from dashboard.security.audit import audit_frame
from dashboard.security.policy import VisibilityClass
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store
from data_sources import ERROR_COLUMN, RAW_TEXT_COLUMN, ROW_COLUMN, connector_for
from data_sources.stix import (
    TLP2_MARKINGS,
    marking_of_definition,
    place_of,
    tlp_marking_definition,
)

FIXTURES = Path(__file__).parent / "fixtures" / "stix"
SCHEMAS = FIXTURES / "schemas"
SCHEMA_BASE = "http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/schemas/"
TLP_FILES = {"TLP:CLEAR": "tlp-clear.json", "TLP:GREEN": "tlp-green.json",
             "TLP:AMBER": "tlp-amber.json", "TLP:AMBER+STRICT": "tlp-amber-strict.json",
             "TLP:RED": "tlp-red.json"}
TLP2_SCHEMA = FIXTURES / "tlp2" / "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d.json"
VALIDATOR = ValidationOptions(version="2.1")
# Best-practice warnings our exports may carry: deterministic ids are UUIDv5 (103), and a
# product's source URL comes with no hash of the page (302).
ACCEPTED_WARNINGS = {"103", "302"}
RI_TODAY = date(2025, 3, 20)
RI_VIEW = Filters(period="custom", start=date(2025, 1, 1), end=RI_TODAY)
ADMIN = VisibilityClass("admin", "rifc", "TLP:AMBER")
REPORTS = connector_for("stix").Options.model_validate({"objects": ["report"]})
INCIDENTS = connector_for("stix").Options.model_validate(
    {"objects": ["sighting", "incident", "observed-data"]})
EXCHANGE_CENTER = """
[[centers]]
id = "xchg"
name = "Exchange partner"
kind = "regional"
timezone = "America/New_York"
default_tlp = "TLP:AMBER"
aor_counties = ["44007"]

[[centers.sources]]
name = "reports"
table = "products"
kind = "stix"
location = "../feeds/reports.json"
options = { objects = ["report"] }

[[centers.sources]]
name = "sightings"
table = "incidents"
kind = "stix"
location = "../feeds/sightings.json"
options = { objects = ["sighting", "incident", "observed-data"] }
"""


def sample(*parts: str) -> Any:
    return json.loads(FIXTURES.joinpath(*parts).read_text(encoding="utf-8"))


def sample_objects() -> list[dict[str, Any]]:
    """Every STIX object of the published samples."""
    objects: list[dict[str, Any]] = []
    for path in sorted(FIXTURES.glob("*/*.json")):
        if path.parent.name == "schemas" or path == TLP2_SCHEMA:
            continue
        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and document.get("type") == "bundle":
            objects += document["objects"]
        else:
            objects += document if isinstance(document, list) else [document]
    return objects


def schema_registry() -> Registry:
    """The published JSON schemas by their $id (their relative $refs resolve against it)."""
    resources = []
    for path in SCHEMAS.rglob("*.json"):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def schema_errors(obj: dict[str, Any], registry: Registry) -> list[str]:
    """Errors of one object under its type's published schema (draft 2020-12)."""
    folder = "sros" if obj["type"] in ("sighting", "relationship") else "sdos"
    validator = Draft202012Validator({"$ref": f"{SCHEMA_BASE}{folder}/{obj['type']}.json"},
                                     registry=registry,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{list(error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(obj)]


# Published samples that are not valid STIX 2.1 themselves: the specification's report bundle
# (section 4.17) carries an indicator written before pattern_type became required. The
# connector never needs it (it is no report), so the report still loads.
KNOWN_INVALID = {"indicator--26ffb872-1dd9-446e-b6f5-d58527e5b5d2":
                 ["'pattern_type' is a required property"]}
SCHEMA_TYPES = ("identity", "incident", "location", "note", "observed-data", "report",
                "relationship", "sighting")


def write_bundle(path: Path, objects: list[Any]) -> Path:
    bundle = {"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
              "objects": objects}
    path.write_text(json.dumps(bundle, default=str), encoding="utf-8")
    return path


def read(path: Path, options: Any) -> pl.DataFrame:
    return connector_for("stix").read(str(path), options).collect()


# --- the samples --------------------------------------------------------------------------


def test_samples_validate_against_the_published_schemas_and_the_oasis_validator() -> None:
    registry = schema_registry()
    objects = sample_objects()
    checked = set()
    for obj in objects:
        if obj["type"] in SCHEMA_TYPES:
            assert schema_errors(obj, registry) == [], obj["id"]
            checked.add(obj["type"])
        result = validate_instance(obj, VALIDATOR)
        errors = [str(error).removeprefix(f"{obj['id']}: ") for error in result.errors]
        assert errors == KNOWN_INVALID.get(obj["id"], []), obj["id"]
    assert {"report", "sighting", "incident", "observed-data", "identity"} <= checked
    # The TLP 2.0 marking definitions against the extension's own schema (draft-07).
    tlp_schema = json.loads(TLP2_SCHEMA.read_text())
    validator = Draft7Validator(tlp_schema, registry=registry)
    for marking, name in TLP_FILES.items():
        (definition,) = sample("tlp2", name)["objects"]
        assert list(validator.iter_errors(definition)) == [], marking
    assert list(validator.iter_errors({**definition, "name": "TLP:PURPLE"})) != []


def test_a_bad_sample_is_caught_by_the_schema() -> None:
    # The check above can fail: a report without its required published time.
    report = next(o for o in sample("spec", "report-bundle.json")["objects"]
                  if o["type"] == "report")
    report = {key: value for key, value in report.items() if key != "published"}
    assert any("'published' is a required property" in error
               for error in schema_errors(report, schema_registry()))


# --- reading ------------------------------------------------------------------------------


def test_a_spec_report_becomes_a_product_row() -> None:
    rows = read(FIXTURES / "spec" / "report-bundle.json", REPORTS)
    assert rows.drop("stix_object").to_dicts() == [{
        ROW_COLUMN: 2,  # the bundle's second object
        "product_id": "report--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcbd",
        "title": "The Black Vine Cyberespionage Group",
        # Its report type, for the source's value map to name a product type of ours.
        "product_type": "campaign",
        "published_at": "2016-01-20T17:00:00.000Z",
        "topics": [],  # a campaign says nothing of the threat category (crosswalk)
        "county_fips": [], "statewide": None, "audience": None, "tlp": None,
        "summary": "A simple report with an indicator and campaign",
        "incident_ids": [], "source_url": None, ERROR_COLUMN: None, RAW_TEXT_COLUMN: None,
    }]
    assert json.loads(rows["stix_object"][0])["id"] == rows["product_id"][0]


def test_sightings_and_observed_data_become_incident_rows(tmp_path: Path) -> None:
    rows = read(FIXTURES / "cti-documentation" / "sighting-of-observed-data.json", INCIDENTS)
    assert rows.select(ROW_COLUMN, "incident_id", "occurred_at", "reported_at", "category",
                       "county_fips", "latitude", "tlp", ERROR_COLUMN).rows() == [
        (5, "observed-data--cf8eaa41-6f4c-482e-89b9-9cd2d6a83cb1", "2017-02-27T21:37:11.213Z",
         "2017-02-28T19:37:11.213Z", "cybercrime", None, None, None, None),
        # A sighting of malware: cyber activity (crosswalk, object types).
        (6, "sighting--779c4ae8-e134-4180-baa4-03141095d971", "2017-02-28T19:07:24.856Z",
         "2017-02-28T19:37:11.213Z", "cybercrime", None, None, None, None),
        (8, "observed-data--a0d34360-66ad-4977-b255-d9e1080421c4", "2017-02-27T21:37:11.213Z",
         "2017-02-28T19:37:11.213Z", "cybercrime", None, None, None, None),
    ]
    # The spec's incident: no time but its creation, no place, no label (so no category).
    rows = read(write_bundle(tmp_path / "incident.json", [sample("spec", "incident.json")]),
                INCIDENTS)
    assert rows.select("incident_id", "occurred_at", "category", "county_fips", "narrative",
                       ERROR_COLUMN).rows() == [
        ("incident--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "2016-04-06T20:03:48.000Z", None,
         None, "This incident addresses APT 28 ...", None)]


def test_an_incident_is_placed_by_its_location(tmp_path: Path) -> None:
    """Coordinates (a sighting's where_sighted_refs), a county FIPS code (a located-at
    relationship): what the pipeline geocodes and validates."""
    providence = stix2.v21.Location(latitude=41.8240, longitude=-71.4128,
                                    name="Kennedy Plaza, Providence")
    newport = stix2.v21.Location(country="US", administrative_area="US-RI",
                                 external_references=[{"source_name": "census-fips",
                                                       "external_id": "44005"}])
    malware = stix2.v21.Malware(name="Trickbot", is_family=True)
    sighting = stix2.v21.Sighting(sighting_of_ref=malware.id, where_sighted_refs=[providence.id],
                                  first_seen="2025-02-03T10:00:00Z", count=3,
                                  object_marking_refs=[TLP2_MARKINGS["TLP:GREEN"][0]])
    incident = stix2.v21.Incident(name="Threat at the bridge", labels=["terrorism"],
                                  description="Caller named the bridge.",
                                  created="2025-02-04T08:30:00Z", modified="2025-02-04T08:30:00Z")
    located = stix2.v21.Relationship(incident, "located-at", newport)
    nowhere = stix2.v21.ObservedData(first_observed="2025-02-05T00:00:00Z",
                                     last_observed="2025-02-05T00:00:00Z", number_observed=1,
                                     object_refs=["ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd"],
                                     labels=["sar-behavior:CYBER", "target-sector:ENRG"])
    path = write_bundle(tmp_path / "bundle.json", [
        json.loads(obj.serialize()) for obj in (providence, newport, malware, sighting,
                                                incident, located, nowhere)]
        + [tlp_marking_definition("TLP:GREEN")])
    rows = read(path, INCIDENTS)
    assert rows.select("incident_id", "category", "county_fips", "latitude", "longitude",
                       "sar_behavior", "target_sector", "tlp", "narrative").rows() == [
        (sighting.id, "cybercrime", None, "41.824", "-71.4128", None, None, "TLP:GREEN", None),
        (incident.id, "counterterrorism", "44005", None, None, None, None, None,
         "Caller named the bridge."),
        (nowhere.id, "cybercrime", None, None, None, "CYBER", "ENRG", None, None),
    ]


def test_a_report_area_comes_from_its_locations() -> None:
    # County by FIPS; a state by FIPS or ISO 3166-2 (all its counties, and statewide); the
    # country (statewide in any state); coordinates (the county that holds them).
    county = place_of({"external_references": [{"source_name": "census-fips",
                                                "external_id": "44007"}]}, whole_areas=True)
    assert (county.counties, county.statewide) == (("44007",), False)
    rhode_island = ("44001", "44003", "44005", "44007", "44009")
    for state in ({"administrative_area": "US-RI"},
                  {"external_references": [{"source_name": "census-fips", "external_id": "44"}]}):
        place = place_of({"country": "us", **state}, whole_areas=True)
        assert (place.counties, place.statewide) == (rhode_island, True)
    assert place_of({"country": "US"}, whole_areas=True).statewide
    assert place_of({"latitude": 41.49, "longitude": -71.31}, whole_areas=True).counties \
        == ("44005",)
    # Finer than a state without coordinates, or another country: no area.
    assert place_of({"administrative_area": "US-RI", "city": "Newport"}, whole_areas=True) \
        == place_of({"country": "th", "administrative_area": "Tak"}, whole_areas=True) \
        == place_of({"region": "northern-america"}, whole_areas=True)
    assert not place_of({"country": "th"}, whole_areas=True).counties
    # An incident is not placed by a whole state.
    assert place_of({"administrative_area": "US-RI"}, whole_areas=False).counties == ()


def test_a_bundle_that_is_not_json_raises_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"type": "bundle", "objects": [', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json: line 1: not valid JSON") as raised:
        read(path, REPORTS)
    assert "\n" not in str(raised.value)
    path.write_text('[{"type": "report"}]', encoding="utf-8")
    with pytest.raises(ValueError, match="not a STIX bundle"):
        read(path, REPORTS)


def test_an_entry_that_is_no_stix_object_is_an_error_row(tmp_path: Path) -> None:
    rows = read(write_bundle(tmp_path / "odd.json", [5, {"id": "report--x"}]), REPORTS)
    assert rows.select(ROW_COLUMN, ERROR_COLUMN, RAW_TEXT_COLUMN).rows() == [
        (1, "$.objects[0]: expected a JSON object, got int", "5"),
        (2, "$.objects[1].type: required property missing", '{"id": "report--x"}')]


def test_options_are_strict() -> None:
    options = connector_for("stix").Options
    with pytest.raises(ValueError, match="Field required"):
        options.model_validate({})
    with pytest.raises(ValueError, match="list them in two sources"):
        options.model_validate({"objects": ["report", "sighting"]})
    with pytest.raises(ValueError, match="objects"):
        options.model_validate({"objects": ["indicator"]})


# --- ingest: quarantine with the JSON path, conformance -------------------------------------


@pytest.fixture
def exchange_config(ri_dir: Path) -> ProjectConfig:
    """The RI fixture with a center that receives STIX: reports and sightings."""
    with (ri_dir / "config" / "centers.toml").open("a", encoding="utf-8") as centers:
        centers.write(EXCHANGE_CENTER)
    return load_config(ri_dir / "config")


def broken_sightings() -> list[dict[str, Any]]:
    """The cti-documentation sample with its sighting broken: a month 13, a negative count."""
    objects = sample("cti-documentation", "sighting-of-observed-data.json")["objects"]
    objects[5] = {**objects[5], "first_seen": "2017-13-45T19:07:24.856Z", "count": -3}
    return objects


def test_a_bad_object_is_quarantined_with_its_path_and_the_rest_loads(
        exchange_config: ProjectConfig, tmp_path: Path) -> None:
    feeds = exchange_config.config_dir.parent / "feeds"
    providence = {"type": "location", "spec_version": "2.1",
                  "id": "location--0f7b2f5a-1b8e-4b55-9c1e-0b2d7a0c0f11",
                  "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
                  "latitude": 41.824, "longitude": -71.4128}
    objects = [*broken_sightings(), providence]
    # The valid observed data, placed in Providence; the other one has no place.
    objects.append({"type": "relationship", "spec_version": "2.1",
                    "id": "relationship--2f4b1e0d-6c43-4f5e-9d0a-3b1c8e7f6a21",
                    "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
                    "relationship_type": "located-at",
                    "source_ref": "observed-data--cf8eaa41-6f4c-482e-89b9-9cd2d6a83cb1",
                    "target_ref": providence["id"]})
    write_bundle(feeds / "sightings.json", objects)
    engine = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    report = run_ingest(exchange_config, engine, sources=[("xchg", "sightings")],
                        now=datetime(2025, 3, 1, tzinfo=UTC))
    (source,) = report.sources
    assert (source.status, source.rows_read, source.rows_inserted, source.rows_rejected) == \
        ("loaded", 3, 1, 2)
    health = load_health_frames(engine)
    quarantine = health.quarantine.sort("row_number")
    assert quarantine.select("row_number", "field").rows() == [
        (6, "(row)"), (8, "county_fips, latitude, longitude")]
    reason = quarantine["reason"][0]
    assert reason.startswith("unreadable row: $.objects[5].first_seen: '2017-13-45T19:07:24.856Z'"
                             " does not match the timestamp format")
    assert "$.objects[5].count: -3 is less than the minimum of 0" in reason
    raw = json.loads(json.loads(quarantine["raw_record"][0])["_raw_text"])
    assert raw["id"] == "sighting--779c4ae8-e134-4180-baa4-03141095d971"
    stored = load_picture_frames(engine, "UTC").incidents
    assert stored.select("incident_id", "county_fips", "category").rows() == [
        ("observed-data--cf8eaa41-6f4c-482e-89b9-9cd2d6a83cb1", "44007", "cybercrime")]
    # Data health: one of the three objects read failed STIX validation.
    conformance = standard_conformance(health)
    assert conformance.select("source_name", "standard", "records", "conformant").rows() == [
        ("sightings", "STIX 2.1", 3, 2)]
    assert conformance["conformant_share"][0] == pytest.approx(2 / 3)
    assert conformance["common_failures"][0].splitlines()[0].startswith("$.objects[*]")


# --- markings -----------------------------------------------------------------------------


@pytest.mark.parametrize("marking", list(TLP_FILES))
def test_every_tlp2_marking_maps_both_ways(marking: str, tmp_path: Path) -> None:
    (official,) = sample("tlp2", TLP_FILES[marking])["objects"]
    # Export: the official object, byte for byte the same JSON value.
    assert tlp_marking_definition(marking) == official
    # Import: by its id, and by its content under another id.
    assert marking_of_definition(official) == marking
    assert marking_of_definition({**official, "id": "marking-definition--"
                                  "0a3c4e6f-8b1d-4f2a-9c5e-7d6b8a9f0e12"}) == marking
    report = stix2.v21.Report(name="Marked", published="2025-02-01T00:00:00Z",
                              report_types=["threat-report"], object_marking_refs=[official["id"]],
                              object_refs=["location--4a7d8c1e-2b3f-4e5a-9c6d-0e1f2a3b4c5d"])
    rows = read(write_bundle(tmp_path / "marked.json", [json.loads(report.serialize()),
                                                         official]), REPORTS)
    assert rows["tlp"].to_list() == [marking]


def test_tlp1_markings_read_as_their_tlp2_levels() -> None:
    objects = sample("cti-documentation", "using-marking-definitions.json")["objects"]
    definition = next(o for o in objects if o.get("definition_type") == "tlp")
    assert marking_of_definition(definition) == "TLP:AMBER"
    statement = next(o for o in objects if o.get("definition_type") == "statement")
    assert marking_of_definition(statement) is None


# --- export and round trip ----------------------------------------------------------------


@pytest.fixture(scope="module")
def ri_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectConfig, PictureFrames]:
    folder = tmp_path_factory.mktemp("ri_stix")
    shutil.copytree(Path(__file__).parent / "fixtures" / "ri", folder, dirs_exist_ok=True)
    config = load_config(folder / "config")
    engine = open_store(f"sqlite:///{folder / 'store.sqlite'}")
    run_ingest(config, engine, now=datetime(2025, 3, 20, tzinfo=UTC))
    return config, load_picture_frames(engine, config.settings.timezone)


def export_of(config: ProjectConfig, frames: PictureFrames, visibility: VisibilityClass,
              filters: Filters = RI_VIEW, today: date = RI_TODAY, k: int = 5) -> dict[str, Any]:
    data = view_data(frames, visibility, k, today, config.settings.timezone)
    return stix_export(config, data, filters, today, datetime(2026, 1, 1, tzinfo=UTC)).bundle


def assert_valid_bundle(bundle: dict[str, Any]) -> None:
    # The bundle and every object in it, as the validator reads a file.
    result = validate_string(json.dumps(bundle), VALIDATOR)
    assert result.is_valid, [str(error) for error in result.errors]
    codes = {re.search(r"\{(\d+)\}", str(warning)).group(1)  # type: ignore[union-attr]
             for warning in result.warnings}
    assert codes <= ACCEPTED_WARNINGS
    registry = schema_registry()
    for obj in bundle["objects"]:
        if obj["type"] in SCHEMA_TYPES:
            assert schema_errors(obj, registry) == [], obj["id"]


def test_the_export_is_a_valid_stix_bundle(ri_store: tuple[ProjectConfig, PictureFrames]) -> None:
    config, frames = ri_store
    bundle = export_of(config, frames, ADMIN)
    assert_valid_bundle(bundle)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for obj in bundle["objects"]:
        by_type.setdefault(obj["type"], []).append(obj)
    assert len(by_type["report"]) == 4 and len(by_type["note"]) == 1
    assert {o["id"] for o in by_type["marking-definition"]} == {
        TLP2_MARKINGS[m][0] for m in ("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER")}
    (note,) = by_type["note"]
    counts = note["extensions"][AGGREGATE_EXTENSION_ID]
    assert counts["period_start"] == "2025-01-01" and counts["period_end"] == "2025-03-20"
    expected = frames.incidents.filter(
        ~pl.col("is_duplicate") & pl.col("occurred_date").is_between(date(2025, 1, 1), RI_TODAY)
        & pl.col("tlp").is_in(["TLP:CLEAR", "TLP:GREEN", "TLP:AMBER"])
    ).group_by("county_fips", "category").len().sort("county_fips", "category")
    assert [(c["county_fips"], c["category"], c["incidents"]) for c in counts["cells"]] == \
        expected.rows()
    assert set(note["object_refs"]) == {county_location_id(c["county_fips"])
                                        for c in counts["cells"]}
    # Every location referred to is in the bundle.
    locations = {o["id"] for o in by_type["location"]}
    assert {r for o in [*by_type["report"], note] for r in o["object_refs"]} <= locations


def product_view(frames: PictureFrames) -> list[dict[str, Any]]:
    """What a round trip must keep of each product."""
    return frames.products.select(
        "product_id", "title", "product_type", "published_at", "topics", "covered_counties",
        "statewide", "tlp", "summary", "audience", "source_url",
    ).sort("product_id").to_dicts()


def import_reports(config: ProjectConfig, bundle: dict[str, Any], store: Path) -> PictureFrames:
    (config.config_dir.parent / "feeds" / "reports.json").write_text(json.dumps(bundle))
    engine = open_store(f"sqlite:///{store}")
    report = run_ingest(config, engine, sources=[("xchg", "reports")],
                        now=datetime(2025, 3, 20, tzinfo=UTC))
    assert [source.rows_rejected for source in report.sources] == [0], report.sources
    return load_picture_frames(engine, config.settings.timezone)


def test_import_of_export_gives_back_the_products(
        ri_store: tuple[ProjectConfig, PictureFrames], exchange_config: ProjectConfig,
        tmp_path: Path) -> None:
    config, frames = ri_store
    bundle = export_of(config, frames, ADMIN)
    imported = import_reports(exchange_config, bundle, tmp_path / "b.sqlite")
    # A product's id of its own becomes a fixed report id (the center's id travels with it);
    # a source URL that is no web address (RP-2's "javascript:...") is not sent.
    originals = [{**row, "product_id": report_id(center, row["product_id"]),
                  "source_url": row["source_url"] if str(row["source_url"]).startswith("http")
                  else None}
                 for center, row in zip(frames.products.sort("product_id")["center_id"],
                                        product_view(frames), strict=True)]
    assert product_view(imported) == sorted(originals, key=lambda row: row["product_id"])
    references = {o["id"]: o["external_references"][0] for o in bundle["objects"]
                  if o["type"] == "report"}
    assert sorted((r["source_name"], r["external_id"]) for r in references.values()) == sorted(
        frames.products.select("center_id", "product_id").rows())
    # Products whose ids are STIX ids keep them exactly: import(export(x)) == x.
    again = export_of(exchange_config, imported, VisibilityClass("admin", "xchg", "TLP:AMBER"))
    assert_valid_bundle(again)
    twice = import_reports(exchange_config, again, tmp_path / "c.sqlite")
    assert product_view(twice) == product_view(imported)


def test_the_note_is_not_read_as_a_product(ri_store: tuple[ProjectConfig, PictureFrames],
                                           tmp_path: Path) -> None:
    config, frames = ri_store
    bundle = export_of(config, frames, ADMIN)
    rows = read(write_bundle(tmp_path / "export.json", bundle["objects"]), REPORTS)
    assert rows.height == 4 and rows[ERROR_COLUMN].null_count() == 4


# --- the viewer's policy ------------------------------------------------------------------


def test_a_partner_export_has_released_counts_and_no_summaries(
        ri_store: tuple[ProjectConfig, PictureFrames]) -> None:
    config, frames = ri_store
    partner = VisibilityClass("partner", "rifc", "TLP:GREEN")
    bundle = export_of(config, frames, partner, k=1)
    assert_valid_bundle(bundle)
    reports = [o for o in bundle["objects"] if o["type"] == "report"]
    assert reports and all("description" not in report for report in reports)
    assert {o["object_marking_refs"][0] for o in reports} <= {
        TLP2_MARKINGS["TLP:CLEAR"][0], TLP2_MARKINGS["TLP:GREEN"][0]}
    (note,) = [o for o in bundle["objects"] if o["type"] == "note"]
    counts = note["extensions"][AGGREGATE_EXTENSION_ID]
    assert counts["min_count"] == 1 and counts["released_through"] == "2025-03-16"


TODAY = date(2026, 6, 10)  # a Wednesday
K = 5


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectConfig, PictureFrames]:
    from dashboard.demo import generate

    folder = tmp_path_factory.mktemp("stix_demo")
    generate(folder, state="CA", incidents=6_000, seed=3, today=TODAY)
    config = load_config(folder / "config")
    engine = open_store(f"sqlite:///{folder / 'store.sqlite'}")
    run_ingest(config, engine)
    return config, load_picture_frames(engine, config.settings.timezone)


def comparable(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The bundle less what differs on every export: its id, the note's creation time."""
    return [{k: v for k, v in obj.items() if obj["type"] != "note" or k not in ("created",
                                                                             "modified")}
            for obj in bundle["objects"]]


def test_a_partner_export_carries_no_withheld_count(
        demo: tuple[ProjectConfig, PictureFrames]) -> None:
    """The partner attack test's proof (tests/test_partner_attacks.py): two stores that differ
    only in withheld counts give the partner the same bundle; an analyst's differ."""
    from tests.test_partner_attacks import released_cells, with_small_cells_changed

    config, frames = demo
    small = released_cells(frames).filter(pl.col("count").is_between(1, K - 2))
    assert small.height > 50
    changed = with_small_cells_changed(frames, small)
    partner = VisibilityClass("partner", "cac", "TLP:GREEN")
    released: list[dict[str, Any]] = []
    for filters in (Filters(period="28d"), Filters(period="90d"), Filters(period="ytd"),
                    Filters(period="90d", regions=("north_state",))):
        before = export_of(config, frames, partner, filters, TODAY, K)
        after = export_of(config, changed, partner, filters, TODAY, K)
        assert comparable(before) == comparable(after)
        (note,) = [o for o in before["objects"] if o["type"] == "note"]
        released += note["extensions"][AGGREGATE_EXTENSION_ID].get("cells", [])
    assert released and all(cell["incidents"] >= K for cell in released)
    analyst = VisibilityClass("analyst", "cac", "TLP:GREEN")
    assert comparable(export_of(config, frames, analyst, Filters(period="90d"), TODAY, K)) != \
        comparable(export_of(config, changed, analyst, Filters(period="90d"), TODAY, K))


def test_export_stix_command(ingested_ri: tuple[Path, str], tmp_path: Path) -> None:
    config_dir, store = ingested_ri
    out = tmp_path / "picture.json"
    result = CliRunner().invoke(app, [
        "export", "stix", "--out", str(out), "--user", "partner", "--config", str(config_dir),
        "--store", store, "--period", "custom", "--start", "2025-01-01", "--end", "2025-03-20",
        "--as-of", "2025-03-20"])
    assert result.exit_code == 0, result.output
    assert "STIX 2.1 bundle written to" in result.output
    bundle = json.loads(out.read_text(encoding="utf-8"))
    assert_valid_bundle(bundle)
    assert all("description" not in o for o in bundle["objects"] if o["type"] == "report")
    audit = audit_frame(open_store(store)).filter(pl.col("page") == "export stix")
    assert audit.select("username", "action").rows() == [("partner", "download")]
    assert json.loads(audit["detail"][0])["file"] == "picture.json"
