"""Creating a geofence alert rule by drawing on the Alerts page's map, in Debian's Chromium on
the small served California demo (issue 17, item 5): the analyst draws a rectangle with the
map's rectangle tool (real mouse drags at page coordinates), the drawn area fills the form's
Geofence field as a GeoJSON Polygon with the corners drawn, the rule is added, the Rules table
lists it with its geofence and the map draws it dashed; removing it leaves no rule behind.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.browser_support import (
    ARTIFACTS,
    assert_stayed_home,
    needs_chromium,
    open_page,
    recorded_page,
    wait_for_app,
)

pytestmark = [pytest.mark.browser, needs_chromium]

MAP_IFRAME = "iframe[title*='streamlit_folium']"
GEOFENCE_FIELD = "Geofence (GeoJSON)"
RULE_NAME = "Central Valley watch <b>drawn</b>"
# The drag, as fractions of the map's width and height: a box in the middle of the state.
DRAG_FROM, DRAG_TO = (0.42, 0.40), (0.58, 0.56)
# How far a stored corner may be from the point dragged to: the mouse lands on whole pixels.
CORNER_TOLERANCE_PIXELS = 2

# The geographic position of a point of the map's iframe (its own pixel coordinates).
_LATLNG_JS = """([x, y]) => { const at = window.map.containerPointToLatLng([x, y]);
    return [at.lng, at.lat]; }"""
# The dashed layers of the user's saved rules: their tooltips' text.
_SAVED_RULES_JS = """() => Object.values(window.map._layers)
    .filter(layer => layer.feature && layer.feature.properties
            && layer.feature.properties.rule !== undefined)
    .map(layer => layer.feature.properties.rule)"""


def _map_frame(page: Any) -> Any:
    handle = page.locator(MAP_IFRAME).first.element_handle()
    return handle.content_frame()


def _drag_rectangle(page: Any) -> tuple[tuple[float, float], tuple[float, float], float]:
    """Draw a rectangle with the toolbar's rectangle tool; its two corners (lon, lat) and the
    degrees of longitude a pixel spans there."""
    frame = _map_frame(page)
    frame.locator("a.leaflet-draw-draw-rectangle").click()
    box = page.locator(MAP_IFRAME).first.bounding_box()
    points = [(box["width"] * fx, box["height"] * fy) for fx, fy in (DRAG_FROM, DRAG_TO)]
    corners = [tuple(frame.evaluate(_LATLNG_JS, [x, y])) for x, y in points]
    pixel = abs(frame.evaluate(_LATLNG_JS, [points[0][0] + 1, points[0][1]])[0] - corners[0][0])
    (x0, y0), (x1, y1) = points
    page.mouse.move(box["x"] + x0, box["y"] + y0)
    page.mouse.down()
    page.mouse.move(box["x"] + (x0 + x1) / 2, box["y"] + (y0 + y1) / 2, steps=5)
    page.mouse.move(box["x"] + x1, box["y"] + y1, steps=5)
    page.mouse.up()
    return corners[0], corners[1], pixel


def test_a_rectangle_drawn_on_the_map_becomes_the_rules_geofence(served_demo: str) -> None:
    with recorded_page(1440, 900) as (page, requests, dialogs):
        open_page(page, served_demo, "/alerts", heading="Alerts")
        page.get_by_role("tab", name="Rules").click()
        frame_ready = page.frame_locator(MAP_IFRAME).first
        frame_ready.locator("a.leaflet-draw-draw-rectangle").wait_for(timeout=60_000)
        wait_for_app(page)
        # The component reports its first (empty) value once drawn: draw after that rerun.
        page.wait_for_timeout(1_000)
        wait_for_app(page)
        field = page.get_by_role("textbox", name=GEOFENCE_FIELD)
        assert field.input_value() == ""

        (west_lon, north_lat), (east_lon, south_lat), pixel = _drag_rectangle(page)
        page.wait_for_function(
            f"() => [...document.querySelectorAll('textarea')].some(area => "
            f"area.getAttribute('aria-label') === {json.dumps(GEOFENCE_FIELD)} "
            f"&& area.value.includes('Polygon'))", timeout=30_000)
        wait_for_app(page)
        geometry = json.loads(field.input_value())
        assert geometry["type"] == "Polygon"
        ring = geometry["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) == 5  # a closed rectangle
        lons, lats = [point[0] for point in ring], [point[1] for point in ring]
        for drawn, expected in ((min(lons), west_lon), (max(lons), east_lon),
                                (min(lats), south_lat), (max(lats), north_lat)):
            assert drawn == pytest.approx(expected, abs=CORNER_TOLERANCE_PIXELS * pixel)
        assert all(len(str(value).split(".")[-1]) <= 5 for value in lons + lats)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "alerts_geofence_drawn.png"))

        page.get_by_label("When").click()
        page.get_by_role("option", name="New incident in the area").click()
        wait_for_app(page)
        # Choosing the condition reran the page: the drawn geofence is still in the field.
        assert json.loads(field.input_value()) == geometry
        page.get_by_role("textbox", name="Name").fill(RULE_NAME)
        page.get_by_role("button", name="Add rule").click()
        page.get_by_text(re.compile(r"^Rule \d+ added")).wait_for(timeout=30_000)
        wait_for_app(page)

        rule_id = int(page.get_by_text(re.compile(r"^Rule \d+ added")).inner_text().split()[1])
        page.get_by_role("tab", name="Rules").click()
        page.frame_locator(MAP_IFRAME).first.locator("path.leaflet-interactive").first.wait_for(
            timeout=60_000)
        page.wait_for_function(
            "() => { const frame = document.querySelector(\"iframe[title*='streamlit_folium']\");"
            " return frame && frame.contentWindow.map && Object.values("
            "frame.contentWindow.map._layers).some(layer => layer.feature && layer.feature"
            ".properties && layer.feature.properties.rule !== undefined); }", timeout=30_000)
        saved = _map_frame(page).evaluate(_SAVED_RULES_JS)
        # The name is shown as text: escaped in the tooltip, never markup.
        assert saved == [f"{rule_id} · Central Valley watch &lt;b&gt;drawn&lt;/b&gt;"]
        page.screenshot(path=str(ARTIFACTS / "alerts_geofence_saved.png"))

        page.get_by_label("Rule", exact=True).click()
        page.get_by_role("option", name=re.compile(rf"^{rule_id} · ")).click()
        page.get_by_role("button", name="Remove rule").click()
        page.get_by_text("No alert rule yet.").wait_for(timeout=30_000)
        assert_stayed_home(requests, dialogs)
