"""The network deployment end to end (issue 16, item 4): two neighbouring states' demos are
loaded, each exports its signed bundle, a network deployment imports them, and its pages show
the states' released figures and nothing else: totals equal the sum of what the states
released, the map spans both states' counties with Gi* computed across the state line, and
every network page runs (AppTest)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from dashboard.analytics.filters import Filters
from dashboard.demo.network import generate_network
from dashboard.exchange.network import BundleRejected, import_bundle
from dashboard.frames import load_picture_frames
from dashboard.pagemodels.map import map_page
from dashboard.pagemodels.overview import overview_page
from dashboard.security.audience import view_data
from dashboard.security.policy import VisibilityClass
from dashboard.settings import load_config
from dashboard.store import open_store
from tests.app_support import open_app

STATES = ("OR", "WA")
TODAY = date(2026, 11, 30)  # a Monday: the bundles end on Sunday the 29th
INCIDENTS_PER_STATE = 20_000
# Pages whose title names no place: their own controls say what they cover.
NOT_SCOPED = ("pages/coverage.py", "pages/briefing.py", "pages/alerts.py")


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("network")
    made = generate_network(folder, STATES, incidents=INCIDENTS_PER_STATE, seed=3, weeks=12,
                            today=TODAY)
    return made | {"folder": folder}


def _bundle(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def test_the_network_store_holds_exactly_what_the_states_released(network: dict) -> None:
    engine = open_store(network["store"])
    with engine.connect() as connection:
        stored = dict(connection.execute(sa.text(
            "SELECT sending_state, SUM(count) FROM network_counts GROUP BY sending_state")).all())
        statuses = connection.execute(sa.text(
            "SELECT sending_state, status FROM network_bundles WHERE status = 'accepted' "
            "ORDER BY bundle_id")).all()
        incidents_rows = connection.execute(sa.text("SELECT COUNT(*) FROM incidents")).scalar()
    assert statuses == [(state, "accepted") for state in STATES]
    for state in STATES:
        bundle = _bundle(network["states"][state]["bundle"])
        released = sum(cell["count"] for cell in bundle["payload"]["counts"])
        assert released == network["states"][state]["incidents"] > 0
        assert stored[state] == released
    assert incidents_rows == 0  # no record crossed: the network has aggregates only


def test_network_pages_total_the_states_released_figures(network: dict) -> None:
    config = load_config(network["config"])
    assert config.settings.network and config.settings.state == "OR+WA"
    frames = load_picture_frames(open_store(network["store"]), config.settings.timezone,
                                 network=True)
    start, end = (date.fromisoformat(day) for day in network["period"])
    everyone = VisibilityClass("leadership", None, "TLP:RED")
    data = view_data(frames, everyone, config.settings.security.partner_min_count, TODAY,
                     config.settings.timezone)
    whole = Filters(period="custom", start=start, end=end)
    expected = sum(figures["incidents"] for figures in network["states"].values())
    overview = overview_page(config, data, whole, TODAY)
    assert overview.scope.heading.startswith("Network-wide")
    counties = map_page(config, data, whole, TODAY).county_counts
    assert int(counties["incidents"].sum()) == expected
    # Both states' counties are on the map, and each state's total is its own release.
    by_state = counties.group_by(pl.col("county_fips").str.slice(0, 2)).agg(
        pl.col("incidents").sum())
    assert dict(by_state.iter_rows()) == {
        "41": network["states"]["OR"]["incidents"], "53": network["states"]["WA"]["incidents"]}
    # Gi* is computed over both states at once: one significance class for every county.
    hotspots = map_page(config, data, whole, TODAY).hotspots
    assert set(hotspots["county_fips"].str.slice(0, 2)) == {"41", "53"}
    # A week before the bundles' period has nothing: no figure is invented.
    before = Filters(period="custom", start=start - timedelta(days=14),
                     end=start - timedelta(days=1))
    assert int(map_page(config, data, before, TODAY).county_counts["incidents"].sum()) == 0


@pytest.mark.parametrize("page", ["pages/overview.py", "pages/map.py", "pages/trends.py",
                                  "pages/centers.py", "pages/coverage.py",
                                  "pages/briefing.py", "pages/alerts.py"])
def test_every_network_page_runs(network: dict, monkeypatch: pytest.MonkeyPatch,
                                 page: str) -> None:
    at = open_app((Path(network["config"]), network["store"]), monkeypatch, page=page,
                  role="leadership")
    assert not at.exception
    headings = " ".join(str(element.value) for element in [*at.title, *at.header])
    assert "Network\\-wide" in headings or page in NOT_SCOPED, headings


def test_data_health_shows_which_state_sent_what(network: dict, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # A bundle altered on the way is refused, and the page says so beside the accepted ones.
    tampered = tmp_path / "OR-altered.json"
    original = Path(network["states"]["OR"]["bundle"]).read_bytes()
    tampered.write_bytes(original.replace(b'"count":', b'"count":1', 1))
    with pytest.raises(BundleRejected, match="bad signature"):
        import_bundle(open_store(network["store"]), load_config(network["config"]), tampered,
                      "test")
    at = open_app((Path(network["config"]), network["store"]), monkeypatch,
                  page="pages/data_health.py", role="admin")
    bundles = next(frame.value for frame in at.dataframe if "Why rejected" in frame.value.columns)
    rows = bundles[["State", "Status", "File"]].to_numpy().tolist()
    assert rows[0] == ["OR", "rejected", "OR-altered.json"]
    assert sorted(rows[1:]) == [[state, "accepted", f"{state}.json"] for state in STATES]
    assert "bad signature" in bundles["Why rejected"].iloc[0]
    accepted = bundles[bundles["Status"] == "accepted"]
    assert sorted(accepted["Incidents"].astype(int)) == sorted(
        network["states"][state]["incidents"] for state in STATES)
    feeds = " ".join(frame.value.to_csv() for frame in at.dataframe)
    assert "network bundle" in feeds  # each accepted bundle is its state's load


def test_a_network_stix_export_places_each_county_in_its_own_state(network: dict) -> None:
    """The STIX export works over a network too: each county location names its own state, the
    aggregate note counts what the states released, and the OASIS validator accepts it."""
    from datetime import UTC, datetime

    from stix2validator import ValidationOptions, validate_string

    from dashboard.exchange.stix import stix_export

    config = load_config(network["config"])
    frames = load_picture_frames(open_store(network["store"]), config.settings.timezone,
                                 network=True)
    start, end = (date.fromisoformat(day) for day in network["period"])
    data = view_data(frames, VisibilityClass("leadership", None, "TLP:RED"),
                     config.settings.security.partner_min_count, TODAY, config.settings.timezone)
    export = stix_export(config, data, Filters(period="custom", start=start, end=end), TODAY,
                         datetime(2026, 11, 30, 12, tzinfo=UTC))
    locations = [obj for obj in export.bundle["objects"] if obj["type"] == "location"]
    areas = {obj["administrative_area"] for obj in locations}
    assert areas == {"US-OR", "US-WA"}
    for obj in locations:
        fips = obj["external_references"][0]["external_id"]
        postal = {"41": "OR", "53": "WA"}[fips[:2]]
        assert obj["administrative_area"] == f"US-{postal}"
    assert export.incidents == sum(figures["incidents"] for figures in network["states"].values())
    result = validate_string(json.dumps(export.bundle), ValidationOptions(version="2.1",
                                                                         strict=False))
    assert result.is_valid, [error.message for error in result.errors]
