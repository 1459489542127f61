"""AppTests of the Picture pages (Overview, Map) on the ingested Rhode Island fixture:
filters change the figures, and the URL restores a view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.views.formatting import markdown_text
from tests.app_support import metric, open_app, table_with

# The fixture's incidents fall in January-February 2025.
WINTER_2025 = {"period": "custom", "start": "2025-01-01", "end": "2025-02-28"}


def _params(at: AppTest, key: str) -> list[str]:
    value = at.query_params[key]
    return [value] if isinstance(value, str) else list(value)


def test_overview_kpis_for_the_period(ingested_ri: tuple[Path, str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025)
    assert at.title[0].value == "Statewide picture · 01 Jan 2025 – 28 Feb 2025"
    # P-101, P-104; P-100 repeats R-1 and counts once.
    assert metric(at, "Incidents") == ("5", "+5 (new)")
    assert metric(at, "SARs")[0] == "2"
    assert metric(at, "Products")[0] == "4"
    assert metric(at, "Centers reporting")[0] == "2"
    assert metric(at, "Open quarantine") == ("11", "")  # no comparison for a backlog
    # The latest products, newest first, each opened in full (feed text shown as text).
    assert [e.label for e in at.expander][:2] == [
        markdown_text("15 Feb · North region narcotics picture"),
        markdown_text("01 Feb · Statewide cyber threat assessment")]
    opened = at.expander[0].markdown[0].value.split("\n\n")
    assert opened[0] == f"**{markdown_text('North region narcotics picture')}**"
    assert markdown_text("15 Feb 2025 · Providence Regional Intelligence Center · Threat "
                         "assessment · TLP:GREEN") in opened
    assert markdown_text("Pill seizures in Bristol and Providence.") in opened


def test_overview_heading_says_what_the_filters_show(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, {**WINTER_2025, "regions": ["north"],
                                             "categories": ["narcotics", "gangs"]})
    assert at.title[0].value == markdown_text(
        "North region · Narcotics + Gangs · 01 Jan 2025 – 28 Feb 2025")
    assert markdown_text("Filters: Region: North · Threat category: Narcotics, Gangs") in [
        m.value for m in at.markdown]
    at.multiselect(key="filter_regions").set_value([]).run()
    at.multiselect(key="filter_counties").set_value(["44007"]).run()
    assert at.title[0].value == markdown_text(
        "Providence County · Narcotics + Gangs · 01 Jan 2025 – 28 Feb 2025")
    at.multiselect(key="filter_counties").set_value([]).run()
    at.multiselect(key="filter_categories").set_value([]).run()
    assert at.title[0].value == "Statewide picture · 01 Jan 2025 – 28 Feb 2025"
    assert not any(m.value.startswith("Filters") for m in at.markdown)


def test_overview_change_bars_are_labelled_with_their_length(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025)
    for key in ("rising_categories", "place_changes"):
        figure = json.loads(next(c for c in at.get("plotly_chart")
                                 if key in c.proto.id).proto.spec)
        bars = figure["data"][0]
        labels = {a["y"]: a["text"] for a in figure["layout"]["annotations"]
                  if a.get("yref") == "y" and "→" not in a["text"]}
        assert {name: int(labels[name].split(" ")[0]) for name in bars["y"]} == dict(
            zip(bars["y"], bars["x"], strict=True))
    # Counties by their full names: R-1/P-101 in Providence, R-2 in Kent, P-104 in Providence,
    # R-7 in Newport, all new in the period.
    assert sorted(bars["y"]) == ["Bristol", "Kent", "Newport", "Providence"]


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
    assert at.title[0].value == "Map · Statewide · 01 Jan 2025 – 28 Feb 2025"
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


def test_the_map_heading_names_the_place_and_lists_the_filters(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, {**WINTER_2025, "counties": "44007",
                                             "categories": "narcotics"}, page="pages/map.py")
    assert at.title[0].value.startswith("Map · Providence County · Narcotics · ")
    # Escaped Markdown: config names are shown as text.
    assert "Filters\\: County\\: Providence · Threat category\\: Narcotics" in [
        line.value for line in at.markdown]
