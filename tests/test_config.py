"""Config loading: the fixture loads, and every mistake fails naming the file and key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dashboard.schema import TABLES
from dashboard.settings import (
    STORE_ENV,
    ConfigError,
    ProjectConfig,
    Source,
    load_config,
    resolve_store_url,
)

Edit = Callable[[Path, str, str], None]
RIFC_INCIDENTS_KIND = 'kind = "csv"\nlocation = "../feeds/rifc_incidents.csv"'
PROV_INCIDENTS_KIND = 'kind = "ndjson"\nlocation = "../feeds/prov_incidents.ndjson"'
INCIDENT_FIELDS = ", ".join(field.name for field in TABLES["incidents"].feed_fields)

# (file, text in the fixture, replacement, the error after "<file path>: ")
CONFIG_MISTAKES = {
    "unknown connector kind": (
        "centers.toml", RIFC_INCIDENTS_KIND, RIFC_INCIDENTS_KIND.replace('"csv"', '"xml"'),
        "centers['rifc'].sources['incidents'].kind: unknown connector kind 'xml' "
        "(known: csv, eido, excel, isesar, json, ndjson, nibrs, parquet, sql, stix)"),
    "typo in a source key": (
        "centers.toml", 'list_delimiter = ";"', 'list_delimeter = ";"',
        "centers['prov'].sources['products'].list_delimeter: Extra inputs are not permitted"),
    "typo in a center key": (
        "centers.toml", "statewide = true", "statewide = true\naor_region = []",
        "centers['rifc'].aor_region: Extra inputs are not permitted"),
    "typo in an ingest setting": (
        "settings.toml", "duplicate_max_km = 1.0", "duplicate_max_kms = 1.0",
        "ingest.duplicate_max_kms: Extra inputs are not permitted"),
    "ingest setting out of range": (
        "settings.toml", "duplicate_max_km = 1.0", "duplicate_max_km = 0",
        "ingest.duplicate_max_km: Input should be greater than 0"),
    "value map target not in the taxonomy": (
        "centers.toml", '"Narcotics" = "narcotics"', '"Narcotics" = "drugs"',
        "centers['rifc'].sources['incidents'].values.category.'Narcotics': 'drugs' is not in "
        "categories"),
    "value map for a field that does not exist": (
        "centers.toml", "[centers.sources.values.tlp]", "[centers.sources.values.marking]",
        "centers['rifc'].sources['incidents']: 'marking' is not a field of incidents"),
    "column map target not a field": (
        "centers.toml", '"Sev" = "severity"', '"Sev" = "sevrity"',
        "centers['rifc'].sources['incidents'].columns.Sev: 'sevrity' is not a field of "
        f"incidents (fields: {INCIDENT_FIELDS})"),
    "column map onto a computed field": (
        "centers.toml", '"Details" = "narrative"', '"Details" = "geo_flag"',
        "centers['rifc'].sources['incidents'].columns.Details: 'geo_flag' is not a field of "
        f"incidents (fields: {INCIDENT_FIELDS})"),
    "datetime format for a field that is not a datetime": (
        "centers.toml", 'datetime_formats = { occurred_at = "%m/%d/%Y %H:%M" }',
        'datetime_formats = { severity = "%d" }',
        "centers['rifc'].sources['incidents'].datetime_formats.severity: not a datetime field"),
    "region with a county of another state": (
        "regions.toml", '"44001", "44003"', '"44001", "25001", "44003"',
        "regions['north'].counties: '25001' is not a county of RI"),
    "county in two regions": (
        "regions.toml", 'counties = ["44005", "44009"]', 'counties = ["44005", "44009", "44001"]',
        "regions['south'].counties: '44001' is already in region 'north'"),
    "county in no region": (
        "regions.toml", 'counties = ["44005", "44009"]', 'counties = ["44005"]',
        "regions: counties in no region: 44009"),
    "unknown center time zone": (
        "centers.toml", 'kind = "state"\ntimezone = "America/New_York"',
        'kind = "state"\ntimezone = "America/Nowhere"',
        "centers['rifc'].timezone: Value error, unknown time zone 'America/Nowhere'"),
    "unknown source time zone": (
        "centers.toml", 'list_delimiter = ";"', 'naive_timezone = "EST5EDTX"',
        "centers['prov'].sources['products'].naive_timezone: Value error, unknown time zone "
        "'EST5EDTX'"),
    "unknown state": (
        "settings.toml", 'state = "RI"', 'state = "XX"',
        "state: Value error, unknown state postal code 'XX'"),
    "unknown AOR region": (
        "centers.toml", 'aor_regions = ["north"]', 'aor_regions = ["east"]',
        "centers['prov'].aor_regions: unknown region 'east'"),
    "AOR county of another state": (
        "centers.toml", 'aor_counties = ["44005"]', 'aor_counties = ["25005"]',
        "centers['prov'].aor_counties: '25005' is not a county of the state"),
    "duplicate center id": (
        "centers.toml", 'id = "prov"', 'id = "rifc"', "centers['rifc'].id: duplicate center id"),
    "duplicate source name": (
        "centers.toml", 'name = "products"\ntable = "products"\nkind = "ndjson"',
        'name = "incidents"\ntable = "products"\nkind = "ndjson"',
        "centers['rifc'].sources['incidents'].name: duplicate source name"),
    "unknown TLP marking": (
        "centers.toml", 'default_tlp = "TLP:GREEN"', 'default_tlp = "GREEN"',
        "centers['prov'].default_tlp: Input should be 'TLP:CLEAR', 'TLP:GREEN', 'TLP:AMBER', "
        "'TLP:AMBER+STRICT' or 'TLP:RED'"),
    "unknown csv option": (
        "centers.toml", RIFC_INCIDENTS_KIND, RIFC_INCIDENTS_KIND + '\noptions = { sheet = "A" }',
        "centers['rifc'].sources['incidents'].options.sheet: Extra inputs are not permitted"),
    "csv delimiter of two characters": (
        "centers.toml", RIFC_INCIDENTS_KIND,
        RIFC_INCIDENTS_KIND + '\noptions = { delimiter = ";;" }',
        "centers['rifc'].sources['incidents'].options.delimiter: String should have at most 1 "
        "character"),
    "sql options with both table and query": (
        "centers.toml", PROV_INCIDENTS_KIND,
        'kind = "sql"\nlocation = "sqlite:///feeds.sqlite"\n'
        'options = { table = "incidents", query = "SELECT * FROM incidents" }',
        "centers['prov'].sources['incidents'].options: Value error, give exactly one of 'table' "
        "or 'query'"),
}


@pytest.mark.parametrize("mistake", CONFIG_MISTAKES)
def test_config_mistake_names_file_and_key(ri_dir: Path, edit_file: Edit, mistake: str) -> None:
    file_name, old, new, message = CONFIG_MISTAKES[mistake]
    path = ri_dir / "config" / file_name
    edit_file(path, old, new)

    with pytest.raises(ConfigError) as raised:
        load_config(ri_dir / "config")

    assert str(raised.value) == f"{path.resolve()}: {message}"


def test_invalid_toml_names_the_file(ri_dir: Path, edit_file: Edit) -> None:
    path = ri_dir / "config" / "settings.toml"
    edit_file(path, 'state = "RI"', "state = RI")

    with pytest.raises(ConfigError) as raised:
        load_config(ri_dir / "config")

    # The rest of the message is tomllib's, which says where in the file.
    assert str(raised.value).startswith(f"{path.resolve()}: not valid TOML: ")
    assert "line 2" in str(raised.value)


def test_missing_config_file_names_the_file(ri_dir: Path) -> None:
    path = ri_dir / "config" / "taxonomy.toml"
    path.unlink()

    with pytest.raises(ConfigError) as raised:
        load_config(ri_dir / "config")

    assert str(raised.value) == f"{path.resolve()}: config file missing"


def test_missing_config_folder_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "nowhere")
    assert str(raised.value) == f"{(tmp_path / 'nowhere').resolve()}: config folder not found"


def test_fixture_config_loads(ri_config: ProjectConfig) -> None:
    assert ri_config.settings.state == "RI"
    assert ri_config.settings.ingest.duplicate_max_minutes == 120
    assert [center.id for center in ri_config.centers] == ["rifc", "prov"]
    assert ri_config.county_to_region == {
        "44001": "north", "44003": "north", "44007": "north", "44005": "south", "44009": "south",
    }
    rifc, prov = ri_config.centers
    assert ri_config.aor_counties(rifc) == ["44001", "44003", "44005", "44007", "44009"]
    assert ri_config.aor_counties(prov) == ["44001", "44003", "44005", "44007"]
    assert [(s.name, s.table, s.kind) for s in rifc.sources] == [
        ("incidents", "incidents", "csv"), ("products", "products", "ndjson")]
    assert rifc.sources[0].values["category"]["Gang Activity"] == "gangs"
    assert ri_config.vocabularies()["regions"] == frozenset({"north", "south"})


def test_config_models_are_frozen(ri_config: ProjectConfig) -> None:
    with pytest.raises(ValueError, match="frozen"):
        ri_config.centers[0].sources[0].list_delimiter = ","  # type: ignore[misc]


def test_file_locations_resolve_against_the_config_folder(ri_config: ProjectConfig,
                                                          ri_dir: Path) -> None:
    source = ri_config.center("rifc").sources[0]
    assert ri_config.resolve_location(source) == str(
        (ri_dir / "feeds" / "rifc_incidents.csv").resolve())


@pytest.mark.parametrize(("location", "resolved"), [
    ("sqlite:///feeds.sqlite", "sqlite:///{config}/feeds.sqlite"),
    ("sqlite:///../feeds/x.sqlite", "sqlite:///{root}/feeds/x.sqlite"),
    ("sqlite:////srv/feeds.sqlite", "sqlite:////srv/feeds.sqlite"),
    ("sqlite:///:memory:", "sqlite:///:memory:"),
    ("postgresql+psycopg://u@db/feeds", "postgresql+psycopg://u@db/feeds"),
])
def test_sqlite_urls_resolve_against_the_config_folder(
    ri_config: ProjectConfig, ri_dir: Path, location: str, resolved: str
) -> None:
    source = Source(name="feed", table="incidents", kind="sql", location=location,
                    options={"table": "t"})
    expected = resolved.format(config=(ri_dir / "config").resolve(), root=ri_dir.resolve())
    assert ri_config.resolve_location(source) == expected


def test_store_url_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("THREAT_PICTURE_DATA", str(tmp_path))
    monkeypatch.delenv(STORE_ENV, raising=False)
    assert resolve_store_url() == f"sqlite:///{(tmp_path / 'threat_picture.sqlite').resolve()}"
    assert resolve_store_url(None, "sqlite:///configured.sqlite") == "sqlite:///configured.sqlite"
    monkeypatch.setenv(STORE_ENV, "sqlite:///env.sqlite")
    assert resolve_store_url(None, "sqlite:///configured.sqlite") == "sqlite:///env.sqlite"
    assert resolve_store_url("sqlite:///flag.sqlite", "sqlite:///c.sqlite") == (
        "sqlite:///flag.sqlite")
