"""AppTests of the Picture pages (Overview, Map) on the ingested Rhode Island fixture:
filters change the figures, and the URL restores a view."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_support import metric, open_app, table_with

# The fixture's incidents fall in January-February 2025.
WINTER_2025 = {"period": "custom", "start": "2025-01-01", "end": "2025-02-28"}


def _params(at: AppTest, key: str) -> list[str]:
    value = at.query_params[key]
    return [value] if isinstance(value, str) else list(value)


def test_overview_kpis_for_the_period(ingested_ri: tuple[Path, str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025)
    assert at.title[0].value == "Statewide picture"
    # P-101, P-104; P-100 repeats R-1 and counts once.
    assert metric(at, "Incidents") == ("5", "+5 (new)")
    assert metric(at, "SARs")[0] == "2"
    assert metric(at, "Products")[0] == "4"
    assert metric(at, "Centers reporting")[0] == "2"
    assert metric(at, "Open quarantine") == ("11", "")  # no comparison for a backlog
    latest = table_with(at, "title")
    assert latest["title"].tolist()[0] == "North region narcotics picture"


def test_region_filter_changes_the_kpis_and_the_url(ingested_ri: tuple[Path, str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025)
    at.multiselect(key="filter_regions").set_value(["south"]).run()
    assert metric(at, "Incidents")[0] == "1"  # R-7 in Newport
    assert metric(at, "Centers reporting")[0] == "1"
    assert _params(at, "regions") == ["south"]
    at.toggle(key="filter_duplicates_once").set_value(False).run()
    assert _params(at, "duplicates_once") == ["0"]


def test_duplicates_switch_counts_both_reports(ingested_ri: tuple[Path, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, {**WINTER_2025, "duplicates_once": "0"})
    assert metric(at, "Incidents")[0] == "6"


def test_url_restores_every_filter(ingested_ri: tuple[Path, str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    params: dict[str, str | list[str]] = {
        **WINTER_2025, "counties": ["44007", "44001"], "categories": ["narcotics"],
        "centers": ["prov"], "severities": ["2"],
    }
    at = open_app(ingested_ri, monkeypatch, params)
    assert at.selectbox(key="filter_period").value == "custom"
    assert at.multiselect(key="filter_counties").value == ["44007", "44001"]
    assert at.multiselect(key="filter_categories").value == ["narcotics"]
    assert at.multiselect(key="filter_centers").value == ["prov"]
    assert metric(at, "Incidents")[0] == "2"  # P-101 (Bristol), P-104 (Providence)
    # Unknown values in a hand-edited link are dropped, not trusted.
    hostile = open_app(ingested_ri, monkeypatch, {**WINTER_2025, "counties": ["99999"],
                                                "categories": ["<script>"]})
    assert hostile.multiselect(key="filter_counties").value == []
    assert metric(hostile, "Incidents")[0] == "5"


def test_map_page_lists_counties_with_hotspot_classes(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page="pages/map.py")
    assert at.title[0].value == "Map"
    table = table_with(at, "hotspot_class").set_index("county_fips")
    assert table.loc["44007", "incidents"] == 2
    assert set(table.index) == {"44001", "44003", "44005", "44007"}
    assert table["hotspot_class"].notna().all()
    at.segmented_control(key="map_measure").set_value("per_1000_km2").run()
    assert not at.exception
    at.multiselect(key="filter_regions").set_value(["north"]).run()
    table = table_with(at, "hotspot_class")
    assert set(table["county_fips"]) == {"44001", "44003", "44007"}


def test_map_layers_with_points_and_heat_render(ingested_ri: tuple[Path, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page="pages/map.py")
    at.pills(key="map_layers").set_value(["Regions", "Hot spots", "Center AORs", "Points",
                                          "Heat map"]).run()
    assert not at.exception
