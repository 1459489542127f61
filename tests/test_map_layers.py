"""Issue 14: the map a director reads. Hot spots are symbols (not a second red fill) that carry
their county, with a legend; a place filter opens the map on its counties and shows only their
hot spots; towns are labelled offline; counties can be shaded per 100,000 residents."""

from __future__ import annotations

import json
import re
from html import escape as html_escape

import polars as pl
import pytest

from dashboard.analytics.filters import Filters
from dashboard.analytics.picture import county_counts
from dashboard.frames import PictureFrames
from dashboard.geo.places import PLACES_ATTRIBUTION, places_for_state
from dashboard.geo.population import state_county_population
from dashboard.pagemodels.map import map_page, map_points
from dashboard.security.audience import view_data
from dashboard.security.policy import VisibilityClass
from dashboard.settings import ProjectConfig
from dashboard.views.maps import (
    AOR_COLOURS,
    CHOROPLETH_COLOURS,
    EMERGING_COLOURS,
    HOTSPOT_COLOURS,
    ZERO_COLOUR,
    MapLayers,
    aor_outline,
    class_labels,
    county_map,
    zoom_for_bounds,
)
from tests import test_partner_attacks
from tests.test_partner_attacks import TODAY, K

demo = test_partner_attacks.demo  # the CA demo fixture the partner attacks use

RI_FIPS = ["44001", "44003", "44005", "44007", "44009"]


def ri_table() -> pl.DataFrame:
    regions = pl.DataFrame({"county_fips": RI_FIPS, "county_name": ["Bristol", "Kent", "Newport",
                                                                    "Providence", "Washington"],
                            "region_id": ["n", "n", "s", "n", "s"],
                            "region_name": ["North", "North", "South", "North", "South"],
                            "area_km2": [100.0, 500.0, 300.0, 1100.0, 900.0]})
    changes = pl.DataFrame({"county_fips": RI_FIPS, "current": [5, 0, 2, 40, 3],
                            "previous": [1, 0, 2, 30, 3], "change": [4, 0, 0, 10, 0],
                            "change_pct": [400.0, None, 0.0, 33.3, 0.0]})
    return county_counts(regions, changes)


def hotspots(bins: dict[str, int]) -> pl.DataFrame:
    return pl.DataFrame({"county_fips": RI_FIPS,
                         "gi_bin": [bins.get(fips, 0) for fips in RI_FIPS],
                         "hotspot_class": ["Hot spot, 99 %" if bins.get(f) == 99 else
                                           "Cold spot, 95 %" if bins.get(f) == -95 else
                                           "Not significant" for f in RI_FIPS],
                         "z_score": [3.1 if bins.get(f) == 99 else -2.1 if bins.get(f) == -95
                                     else 0.2 for f in RI_FIPS]})


def rendered(folium_map: object) -> str:
    return folium_map.get_root().render()  # type: ignore[attr-defined]


def geojson_layers(html: str) -> list[dict]:
    """The GeoJSON feature collections embedded in a rendered map (folium adds each layer's
    data with one ``..._add({...});`` call per line)."""
    return [json.loads(line.split("_add(", 1)[1].rsplit(");", 1)[0])
            for line in html.splitlines() if re.search(r"_add\(\{\"features\"", line)]


def test_counties_shade_per_100k_residents_from_the_census_estimates() -> None:
    table = ri_table()
    population = dict(state_county_population("RI").rows())
    rates = dict(table.select("county_fips", "per_100k").rows())
    assert rates["44007"] == pytest.approx(40 * 100_000 / population["44007"])
    assert rates["44003"] == 0.0
    html = rendered(county_map("RI", table, "per_100k", "Per 100,000 residents"))
    assert "Per 100,000 residents" in html


def test_hot_spots_are_symbols_carrying_their_county_with_a_legend() -> None:
    table = ri_table()
    html = rendered(county_map("RI", table, layers=MapLayers(
        hotspots=hotspots({"44007": 99, "44009": -95}))))
    # Symbols at a point inside each significant county, each carrying its county code, so a
    # click on one selects the county as a click on the fill does.
    points = [feature for layer in geojson_layers(html) for feature in layer["features"]
              if feature["geometry"]["type"] == "Point"]
    assert sorted((f["properties"]["county_fips"], f["properties"]["fill"]) for f in points) == [
        ("44007", HOTSPOT_COLOURS[99]), ("44009", HOTSPOT_COLOURS[-95])]
    assert {f["properties"]["radius"] for f in points} == {11, 9}
    # Hot-spot colours are never choropleth colours: a hot spot cannot read as a high count.
    assert not set(HOTSPOT_COLOURS.values()) & set(CHOROPLETH_COLOURS)
    assert "Hot spot, 99 %" in html and "Cold spot, 95 %" in html
    assert "Getis-Ord Gi* (symbols)" in html


def test_a_county_filter_opens_the_map_on_its_counties() -> None:
    table = ri_table()
    state = county_map("RI", table)
    one = county_map("RI", table, selected=("44005",))
    assert one.options["zoom"] > state.options["zoom"]
    assert state.options["zoom"] == zoom_for_bounds(((41.146, -71.908), (42.019, -71.120)))


def test_town_labels_are_offline_text_with_attribution() -> None:
    places = places_for_state("RI")
    html = rendered(county_map("RI", ri_table(), layers=MapLayers(places=places)))
    assert '"Providence"' in html and "Warwick" in html
    assert PLACES_ATTRIBUTION in html
    # Names are set as text content, never as HTML.
    assert "span.textContent = place[2]" in html
    assert "innerHTML = place" not in html
    hostile = places.head(1).with_columns(pl.lit("<img src=x onerror=alert(1)>").alias("name"))
    html = rendered(county_map("RI", ri_table(), layers=MapLayers(places=hostile)))
    assert "<img src=x" not in html.replace('"<img src=x onerror=alert(1)>"', "")


def test_hot_spots_in_view_follow_the_place_filter(
        demo: tuple[ProjectConfig, PictureFrames]) -> None:
    config, frames = demo
    analyst = VisibilityClass("analyst", "cac", "TLP:AMBER+STRICT")
    data = view_data(frames, analyst, K, TODAY, "UTC")
    statewide = map_page(config, data, Filters(period="90d"), TODAY)
    assert statewide.hotspots_in_view.equals(statewide.hotspots)
    significant = statewide.hotspots.filter(pl.col("gi_bin") != 0)["county_fips"].to_list()
    assert significant  # the demo plants hot spots
    one = map_page(config, data, Filters(period="90d", counties=(significant[0],)), TODAY)
    assert one.hotspots_in_view["county_fips"].to_list() == [significant[0]]
    assert one.hotspots.equals(statewide.hotspots)  # still computed statewide


def legend_of(html: str) -> str:
    """The legend's HTML as the map script sets it."""
    return json.loads(re.search(r"div\.innerHTML = (\".*?(?<!\\)\");", html).group(1))


def test_legend_classes_start_above_zero_and_never_overlap() -> None:
    # The Overview's legend read "0", then "0 – 17": zero in two classes, and the first
    # class's real floor (1 incident) not said.
    assert class_labels([17.0, 39.4, 70.0], 1.0, integers=True) == [
        (CHOROPLETH_COLOURS[3], "1 – 17"), (CHOROPLETH_COLOURS[4], "18 – 39"),
        (CHOROPLETH_COLOURS[5], "40 – 70")]
    # A class with no whole number in it is not listed.
    assert class_labels([3.2, 3.6, 9.0], 1.0, integers=True) == [
        (CHOROPLETH_COLOURS[3], "1 – 3"), (CHOROPLETH_COLOURS[5], "4 – 9")]
    # Fewer classes than colours take the top of the ramp: the most is always the darkest.
    assert class_labels([2.0], 2.0, integers=True) == [(CHOROPLETH_COLOURS[-1], "2")]
    # Rates start at the smallest rate shaded.
    assert [label for _c, label in class_labels([4.5, 9.25], 0.8, integers=False)] == [
        "0.8 – 4.5", "4.5 – 9.2"]
    legend = legend_of(rendered(county_map("RI", ri_table())))
    labels = re.findall(r"</span>([^<]+)</div>", legend)
    assert labels[0] == "0" and not any(label.startswith("0 –") for label in labels)


def test_a_county_shaded_alone_is_drawn_darkest() -> None:
    # A county filter leaves one county with incidents: it was drawn in the palest purple.
    table = ri_table().with_columns(
        pl.when(pl.col("county_fips") == "44007").then(pl.col("incidents")).otherwise(0)
        .alias("incidents"))
    html = rendered(county_map("RI", table, selected=("44007",)))
    fills = {f["properties"]["county_fips"]: f["properties"]["fill"]
             for layer in geojson_layers(html) for f in layer["features"]}
    assert fills["44007"] == CHOROPLETH_COLOURS[-1]
    assert fills["44001"] == ZERO_COLOUR


def test_legend_keys_withheld_counties_and_each_centers_aor() -> None:
    # A partner's map shows withheld counties grey: the legend must say what grey is.
    withheld = ri_table().with_columns(
        pl.when(pl.col("county_fips") == "44001").then(None).otherwise(pl.col("incidents"))
        .alias("incidents"))
    legend = legend_of(rendered(county_map("RI", withheld)))
    assert "Withheld (small counts)" in legend
    assert "Withheld" not in legend_of(rendered(county_map("RI", ri_table())))
    # Each AOR outline is keyed by its colour and its center's (escaped) name.
    outline = aor_outline("RI", RI_FIPS[:2])
    legend = legend_of(rendered(county_map("RI", ri_table(), layers=MapLayers(aors={
        "North Center": outline, "<b>South</b> Center": outline}))))
    assert f"dashed {AOR_COLOURS[0]}" in legend and "AOR: North Center" in legend
    assert f"dashed {AOR_COLOURS[1]}" in legend and "AOR: &lt;b&gt;South&lt;/b&gt; Center" in legend


def test_place_credit_is_in_the_attribution_line_not_the_legend() -> None:
    html = rendered(county_map("RI", ri_table(), layers=MapLayers(
        places=places_for_state("RI"))))
    added = re.search(r"control\.addAttribution\((\".*?\")\);", html)
    assert added is not None and ".attributionControl);" in html
    assert json.loads(added.group(1)) == html_escape(PLACES_ATTRIBUTION)
    assert PLACES_ATTRIBUTION not in legend_of(html)


def test_point_clusters_are_not_drawn_in_hot_spot_colours() -> None:
    points = pl.DataFrame({"latitude": [41.8, 41.81], "longitude": [-71.4, -71.41],
                           "popup": ["a", "b"]})
    html = rendered(county_map("RI", ri_table(), layers=MapLayers(points=points,
                                                                  points_total=2)))
    assert ".marker-cluster-medium div {background-color:rgba(31,78,121" in html


def test_point_popups_name_the_center_and_the_day_in_words(
        demo: tuple[ProjectConfig, PictureFrames]) -> None:
    config, frames = demo
    analyst = VisibilityClass("analyst", "cac", "TLP:AMBER+STRICT")
    data = view_data(frames, analyst, K, TODAY, "UTC")
    points, total = map_points(config, data, None, Filters(period="28d"),  # type: ignore[arg-type]
                               TODAY, 50, with_narratives=False)
    assert total > 0 and points.height == min(total, 50)
    names = set(config.labels["center"].values())
    for popup in points["popup"]:
        category, day, center, record = popup.split(" · ")
        assert category in config.labels["category"].values(), popup
        assert re.fullmatch(r"\d\d [A-Z][a-z]{2} \d{4}", day), popup
        assert center in names, popup
        assert record, popup


def test_county_tooltip_gives_the_rate_per_residents() -> None:
    # Shaded per 100,000 residents, the tooltip gave only incidents per 1,000 km².
    table = ri_table()
    html = rendered(county_map("RI", table, "per_100k", "Per 100,000 residents"))
    counties = next(layer for layer in geojson_layers(html)
                    if layer["features"][0]["geometry"]["type"] != "Point")
    rates = {f["properties"]["county_fips"]: f["properties"]["per_100k"]
             for f in counties["features"]}
    expected = dict(table.select("county_fips", "per_100k").rows())
    assert rates["44007"] == f"{expected['44007']:,.1f}"
    assert "Per 100,000 residents" in html and '"per_100k"' in html


def emerging(rows: dict[str, tuple[str, str, str]], name: str = "", why: str = "") -> pl.DataFrame:
    """An emerging layer over RI: fips -> (pattern, kind, class name); other counties none."""
    patterns = [rows.get(fips, ("none", "", "No Pattern Detected")) for fips in RI_FIPS]
    return pl.DataFrame({
        "county_fips": RI_FIPS,
        "county_name": [name or fips for fips in RI_FIPS],
        "class_name": [p[2] for p in patterns], "pattern": [p[0] for p in patterns],
        "kind": [p[1] for p in patterns],
        "why": [why or f"Because {p[0]}." for p in patterns]})


def test_emerging_hot_spots_are_lettered_squares_carrying_their_county() -> None:
    layer = emerging({"44007": ("intensifying", "hot", "Intensifying Hot Spot"),
                      "44009": ("diminishing", "cold", "Diminishing Cold Spot")})
    html = rendered(county_map("RI", ri_table(), layers=MapLayers(
        hotspots=hotspots({"44007": 99}), emerging=layer)))
    squares = [f for collection in geojson_layers(html) for f in collection["features"]
               if "symbol" in f["properties"]]
    # One symbol per county with a pattern, none for "no pattern"; each carries its county,
    # so a click on it selects the county like a click on the fill.
    assert sorted(f["properties"]["county_fips"] for f in squares) == ["44007", "44009"]
    symbols = {f["properties"]["county_fips"]: f["properties"]["symbol"] for f in squares}
    assert EMERGING_COLOURS["hot"] in symbols["44007"] and ">I</span>" in symbols["44007"]
    assert EMERGING_COLOURS["cold"] in symbols["44009"] and ">D</span>" in symbols["44009"]
    # The Gi* circles are still drawn, and the squares are not circles.
    assert "border-radius" not in symbols["44007"]
    assert any(f["properties"].get("radius") == 11 for c in geojson_layers(html)
               for f in c["features"])
    legend = legend_of(html)
    assert "Intensifying Hot Spot" in legend and "Diminishing Cold Spot" in legend
    assert "No Pattern Detected" not in legend and "Emerging: 2 counties" in legend
    assert '"Emerging hot spots"' in html  # its own entry in the layer switcher


def test_no_pattern_draws_nothing_and_says_so() -> None:
    html = rendered(county_map("RI", ri_table(), layers=MapLayers(emerging=emerging({}))))
    assert not any("symbol" in f["properties"] for c in geojson_layers(html)
                   for f in c["features"])
    legend = legend_of(html)
    assert "Emerging: no county shows a pattern." in legend
    assert "No Pattern Detected" not in legend


def test_emerging_tooltips_are_text_not_html() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    layer = emerging({"44007": ("new", "hot", "New Hot Spot")}, name=f"Provi{hostile}dence",
                     why=f"Because {hostile}.")
    html = rendered(county_map("RI", ri_table(), layers=MapLayers(emerging=layer)))
    assert hostile not in html
    square = next(f for c in geojson_layers(html) for f in c["features"]
                  if "symbol" in f["properties"])
    assert square["properties"]["county"] == html_escape(f"Provi{hostile}dence")
    assert square["properties"]["why"] == html_escape(f"Because {hostile}.")
    assert '["county", "class", "why"]' in html


def test_the_map_computes_emerging_hot_spots_only_when_asked(
        demo: tuple[ProjectConfig, PictureFrames]) -> None:
    config, frames = demo
    data = view_data(frames, VisibilityClass("analyst", "cac", "TLP:AMBER+STRICT"), K, TODAY,
                     "UTC")
    assert map_page(config, data, Filters(period="90d"), TODAY).emerging is None
    page = map_page(config, data, Filters(period="90d"), TODAY, with_emerging=True)
    assert page.emerging is not None and page.emerging_table is not None
    patterned = page.emerging.in_view.filter(pl.col("pattern") != "none")
    assert page.emerging_table["county_fips"].to_list() == patterned["county_fips"].to_list()
