"""The Alerts page's drawn geofence (issue 17, item 2): what Leaflet.draw gives becomes the
rule's GeoJSON, and the drawing map offers areas only and shows saved rules' names as text."""

from __future__ import annotations

import json
import re

import pytest
from shapely.geometry import shape

from dashboard.alerts.rules import parse_geofence
from dashboard.pagemodels.alerts import geofence_from_drawings
from dashboard.views.maps import GEOFENCE_DRAW_OPTIONS, geofence_map, region_outlines


def _feature(geometry: dict) -> dict:
    # As streamlit-folium returns a drawing: a Feature with empty properties.
    return {"type": "Feature", "properties": {}, "geometry": geometry}


def _rectangle(west: float, south: float, east: float, north: float) -> dict:
    return _feature({"type": "Polygon", "coordinates": [[
        [west, south], [west, north], [east, north], [east, south], [west, south]]]})


PROVIDENCE = _rectangle(-71.4512345678, 41.8012345678, -71.3912345678, 41.8412345678)
NEWPORT = _rectangle(-71.34, 41.46, -71.28, 41.51)


def test_nothing_drawn_gives_no_geofence() -> None:
    assert geofence_from_drawings([]) is None
    # A marker or a line is not an area (the toolbar offers neither; a pasted drawing might).
    assert geofence_from_drawings([_feature({"type": "Point", "coordinates": [-71.4, 41.8]})]) \
        is None


def test_one_rectangle_becomes_a_polygon_rounded_to_five_decimals() -> None:
    text = geofence_from_drawings([PROVIDENCE])
    assert text is not None
    geometry = json.loads(text)
    assert geometry["type"] == "Polygon"
    assert geometry["coordinates"][0][0] == [-71.45123, 41.80123]
    assert shape(geometry).bounds == pytest.approx((-71.45123, 41.80123, -71.39123, 41.84123))
    assert parse_geofence(text).equals(shape(geometry))  # a rule accepts it as it is


def test_two_apart_become_a_multipolygon_and_overlapping_ones_one_polygon() -> None:
    apart = json.loads(geofence_from_drawings([PROVIDENCE, NEWPORT]) or "")
    assert apart["type"] == "MultiPolygon" and len(apart["coordinates"]) == 2
    overlapping = _rectangle(-71.42, 41.82, -71.35, 41.86)
    merged = shape(json.loads(geofence_from_drawings([PROVIDENCE, overlapping]) or ""))
    assert merged.geom_type == "Polygon"
    assert merged.bounds == pytest.approx((-71.45123, 41.80123, -71.35, 41.86))


def test_a_self_crossing_outline_is_refused_in_one_line() -> None:
    bow_tie = _feature({"type": "Polygon", "coordinates": [[
        [-71.45, 41.80], [-71.39, 41.84], [-71.39, 41.80], [-71.45, 41.84], [-71.45, 41.80]]]})
    with pytest.raises(ValueError, match=r"^not a valid polygon: Self-intersection"):
        geofence_from_drawings([bow_tie])


def test_the_drawing_map_offers_areas_only_and_shows_rule_names_as_text() -> None:
    from dashboard.settings import load_config
    from tests.conftest import RI_FIXTURE

    config = load_config(RI_FIXTURE / "config")
    regions = region_outlines("RI", config.county_to_region, config.labels["region"])
    saved = {"3 · <img src=x onerror=alert(1)>": json.loads(
        geofence_from_drawings([PROVIDENCE]) or "")}
    html = geofence_map("RI", regions, None, saved).get_root().render()
    assert "L.Control.Draw" in html
    offered = {tool for tool, option in GEOFENCE_DRAW_OPTIONS.items() if option}
    assert offered == {"polygon", "rectangle"}
    assert '"marker": false' in html and '"polyline": false' in html
    assert "<img src=x" not in html
    # The tooltip's text, escaped for Leaflet's HTML and then JSON-encoded into the script.
    assert '"rule": "3 \\u00b7 \\u0026lt;img src=x onerror=alert(1)\\u0026gt;"' in html
    assert not re.search(r"https?://(?!127\.0\.0\.1)", re.sub(r"https?://(www\.)?"
                                                             r"geonames\.org", "", html))
