"""Clicks on the Map page's map, in Debian's Chromium on the small served California demo
(issue 14): one click on a county selects it even when the map is only partly on screen, and
the page keeps its scroll position through the rerun; a click on a hot-spot symbol selects the
symbol's county; a county cleared in the sidebar can be clicked again.

Clicks are real mouse clicks at page coordinates (``page.mouse``), computed inside the map's
iframe; Playwright's element clicks would scroll the map into view first and hide exactly what
is tested. Streamlit scrolls its main column (``stMain``), not the window, so that is whose
scroll position is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
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
MAIN = "[data-testid='stMain']"
FRESNO = "06019"  # a large county in the middle of the state
# Where a click may land: this far inside the part of the map on screen.
MARGIN_PX = 40

# In the map's iframe: a point of the county's polygon (or of its hot-spot symbol) within the
# band [top, bottom] of the iframe that is on screen, where a click hits that very layer (the
# element there is the layer's own SVG path: no symbol, label or control above it); the
# iframe's coordinates, or null.
_HIT_POINT_JS = """([fips, kind, top, bottom, margin]) => {
    const wanted = Object.values(window.map._layers).filter(layer => layer._path
        && layer.feature && layer.feature.properties.county_fips === fips
        && (kind === "hotspot") === (layer.feature.geometry.type === "Point"));
    for (const layer of wanted) {
        const box = layer._path.getBoundingClientRect();
        const step = 6;
        for (let y = box.top + step; y < box.bottom; y += step) {
            if (y < top + margin || y > bottom - margin) { continue; }
            for (let x = box.left + step; x < box.right; x += step) {
                if (x < margin || x > window.innerWidth - margin) { continue; }
                if (document.elementFromPoint(x, y) === layer._path) { return [x, y]; }
            }
        }
    }
    return null;
}"""
_HOTSPOT_COUNTIES_JS = """() => Object.values(window.map._layers)
    .filter(layer => layer._path && layer.feature && layer.feature.geometry.type === "Point")
    .map(layer => [layer.feature.properties.county_fips, layer.feature.properties.county])"""


@pytest.fixture()
def map_page(served_demo: str) -> Iterator[tuple[Any, list[str], list[str]]]:
    """The Map page at 1440x900, signed in as the analyst, its map drawn."""
    with recorded_page(1440, 900) as recorded:
        page = recorded[0]
        open_page(page, served_demo, "/map?period=90d", heading=re.compile(r"^Map · Statewide"))
        page.frame_locator(MAP_IFRAME).first.locator("path.leaflet-interactive").first.wait_for(
            timeout=60_000)
        yield recorded


def _heading(page: Any) -> str:
    return str(page.get_by_role("heading", level=1).inner_text())


def _scroll_top(page: Any) -> float:
    return float(page.evaluate(f"document.querySelector(\"{MAIN}\").scrollTop"))


def _map_redrawn_after(page: Any, action: Callable[[], None], failure: str) -> None:
    """Do ``action``, then wait until a new map (a filter change gives new counts, so a new
    iframe) has drawn its counties at its full height, and the run has finished."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate(f"window.mapBefore = document.querySelector(\"{MAP_IFRAME}\")")
    action()
    try:
        page.wait_for_function(f"""() => {{
            const frame = document.querySelector("{MAP_IFRAME}");
            return frame !== null && frame !== window.mapBefore
                && frame.getBoundingClientRect().height >= 600 && frame.contentDocument !== null
                && frame.contentDocument.querySelector("path.leaflet-interactive") !== null;
        }}""", timeout=60_000)
    except PlaywrightTimeout:
        pytest.fail(f"{failure}: the map was not redrawn, the heading reads {_heading(page)!r}")
    wait_for_app(page)


def _click_point(page: Any, fips: str, kind: str) -> tuple[float, float] | None:
    """Page coordinates where a click hits ``fips``'s county polygon (``kind`` "county") or
    hot-spot symbol ("hotspot"), on screen; None if there is no such point."""
    iframe = page.locator(MAP_IFRAME).first
    box = iframe.bounding_box()
    # The band of the map on screen, in the iframe's own coordinates.
    top = max(0.0, -box["y"])
    bottom = min(box["height"], page.viewport_size["height"] - box["y"])
    point = iframe.element_handle().content_frame().evaluate(
        _HIT_POINT_JS, [fips, kind, top, bottom, MARGIN_PX])
    return None if point is None else (box["x"] + point[0], box["y"] + point[1])


def _click(page: Any, fips: str, kind: str = "county") -> None:
    """One click on the county (or its hot-spot symbol), and the rerun it starts."""
    point = _click_point(page, fips, kind)
    assert point is not None, f"no point of {kind} {fips} on screen to click"
    _map_redrawn_after(page, lambda: page.mouse.click(*point),
                       f"one click on {kind} {fips} at {point} selected nothing")


def _assert_selected(page: Any, county_name: str, fips: str) -> None:
    """The county is the filter: in the heading and the URL."""
    assert _heading(page).startswith(f"Map · {county_name} County · "), _heading(page)
    assert re.search(rf"[?&]counties={fips}(&|$)", page.url), page.url


def test_a_click_on_a_partly_visible_map_selects_the_county_and_keeps_the_scroll(
        map_page: tuple[Any, list[str], list[str]]) -> None:
    page, requests, dialogs = map_page
    # The map's top 150 px above the viewport: Leaflet's focus on the first mousedown used to
    # scroll the page to show all of the map, moving it under the pointer.
    iframe_top = page.locator(MAP_IFRAME).first.bounding_box()["y"]
    page.evaluate(f"document.querySelector(\"{MAIN}\").scrollTop += {iframe_top + 150}")
    page.wait_for_function(
        f"document.querySelector(\"{MAP_IFRAME}\").getBoundingClientRect().top < -100")
    before = _scroll_top(page)
    assert before > 300

    _click(page, FRESNO)

    _assert_selected(page, "Fresno", FRESNO)
    # Where the reader was, not the top (the page is shorter now: one county in the table).
    after = _scroll_top(page)
    assert abs(after - before) <= 60, f"scrolled from {before:.0f} px to {after:.0f} px"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map_click.png"))
    assert_stayed_home(requests, dialogs)


def test_a_click_on_a_hot_spot_symbol_selects_its_county(
        map_page: tuple[Any, list[str], list[str]]) -> None:
    page, requests, dialogs = map_page
    frame = page.locator(MAP_IFRAME).first.element_handle().content_frame()
    on_screen = [(fips, county) for fips, county in frame.evaluate(_HOTSPOT_COUNTIES_JS)
                 if _click_point(page, fips, "hotspot") is not None]
    assert on_screen, "no hot- or cold-spot symbol on screen in the demo's last 90 days"
    fips, county = on_screen[0]

    _click(page, fips, "hotspot")

    _assert_selected(page, county, fips)
    assert_stayed_home(requests, dialogs)


def test_a_county_cleared_in_the_sidebar_can_be_clicked_again(
        map_page: tuple[Any, list[str], list[str]]) -> None:
    page, requests, dialogs = map_page
    _click(page, FRESNO)
    _assert_selected(page, "Fresno", FRESNO)
    county_filter = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']") \
        .filter(has_text="Fresno").first
    _map_redrawn_after(page, county_filter.get_by_label("Clear all").click,
                       "clearing the county filter")
    assert _heading(page).startswith("Map · Statewide · "), _heading(page)

    # The redrawn statewide map reports the very county clicked before: still a new click.
    _click(page, FRESNO)

    _assert_selected(page, "Fresno", FRESNO)
    assert_stayed_home(requests, dialogs)


# The emerging hot spots' squares: Leaflet markers (an icon element, not an SVG path) of the
# layer's features; the iframe's coordinates of the middle of one on screen, and its county.
_EMERGING_SQUARE_JS = """([top, bottom, margin]) => {
    for (const layer of Object.values(window.map._layers)) {
        if (!layer._icon || !layer.feature || !layer.feature.properties.symbol) { continue; }
        const box = layer._icon.getBoundingClientRect();
        const [x, y] = [(box.left + box.right) / 2, (box.top + box.bottom) / 2];
        if (y < top + margin || y > bottom - margin || x < margin
            || x > window.innerWidth - margin) { continue; }
        if (layer._icon.contains(document.elementFromPoint(x, y))) {
            return [x, y, layer.feature.properties.county_fips, layer.feature.properties.county];
        }
    }
    return null;
}"""


def test_a_click_on_an_emerging_hot_spot_square_selects_its_county(
        map_page: tuple[Any, list[str], list[str]]) -> None:
    page, requests, dialogs = map_page
    pill = page.locator("[data-testid='stButtonGroup']").filter(has_text="Emerging hot spots") \
        .get_by_role("button", name="Emerging hot spots")
    _map_redrawn_after(page, pill.click, "turning the emerging hot spots on")
    iframe = page.locator(MAP_IFRAME).first
    iframe.scroll_into_view_if_needed()
    box = iframe.bounding_box()
    top = max(0.0, -box["y"])
    bottom = min(box["height"], page.viewport_size["height"] - box["y"])
    found = iframe.element_handle().content_frame().evaluate(
        _EMERGING_SQUARE_JS, [top, bottom, MARGIN_PX])
    assert found is not None, "no emerging hot spot square on screen (the demo plants three)"
    x, y, fips, county = found

    _map_redrawn_after(page, lambda: page.mouse.click(box["x"] + x, box["y"] + y),
                       f"one click on the emerging square of {fips} selected nothing")

    _assert_selected(page, county, fips)
    assert_stayed_home(requests, dialogs)
