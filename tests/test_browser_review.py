"""Issue 14, item 6: what a director or analyst met on the first look at 1440x900 and 1920x1080,
checked in Debian's Chromium on the small served California demo.

- The Map's controls fit: no shading option and no layer pill is cut off at the page's edge.
- The Map's county table fits the page at 1440 px: the hot-spot class is in view, not cut to
  "Not si…" behind a horizontal scroll.
- The Coverage heat map by county names every county legibly (no label over the next).
- The Overview's small map shows every county: its legend and layer switch sit beside the
  state, not over Los Angeles.

Streamlit draws tables on a canvas, so a table's fit is read from its scroller (content width
against the width on screen), and a map's cover from what lies at each county's middle.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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

SIZES = [(1440, 900), (1920, 1080)]
MAP_IFRAME = "iframe[title*='streamlit_folium']"

# The Map's shading, hot-spot and layer options, as an analyst sees them.
MAP_OPTIONS = ["Incidents", "Per 100,000 residents", "Per 1,000 km²", "Counts", "Rates",
               "Places", "Regions", "Hot spots", "Center AORs", "Points", "Heat map"]
# Of the buttons in the page's main block with these labels, those cut off: past the block's
# right edge, or hidden at their own right end (clipped by their column).
_CLIPPED_BUTTONS_JS = """(labels) => {
    const block = document.querySelector("[data-testid='stMainBlockContainer']");
    const main = block.getBoundingClientRect();
    const buttons = [...block.querySelectorAll("button")]
        .filter(button => labels.includes(button.textContent.trim()));
    const clipped = buttons.filter(button => {
        const box = button.getBoundingClientRect();
        const hit = document.elementFromPoint(box.right - 3, box.top + box.height / 2);
        return box.right > main.right + 1 || !(hit === button || button.contains(hit));
    }).map(button => button.textContent.trim());
    return [buttons.map(button => button.textContent.trim()), clipped];
}"""
# In the map's iframe: the counties whose middle lies under a map control (legend, layer
# switch, zoom, scale, attribution), by code.
_COVERED_COUNTIES_JS = """() => Object.values(window.map._layers)
    .filter(layer => layer._path && layer.feature && layer.feature.properties.county_fips
        && layer.feature.geometry.type !== "Point")
    .filter(layer => {
        const box = layer._path.getBoundingClientRect();
        const hit = document.elementFromPoint(box.left + box.width / 2,
                                              box.top + box.height / 2);
        return hit !== null && hit.closest(".leaflet-control") !== null;
    })
    .map(layer => layer.feature.properties.county)"""
# Each table's content width beyond what shows (0: it fits).
_TABLE_OVERFLOW_JS = """() => [...document.querySelectorAll("[data-testid='stDataFrame']")]
    .map(table => table.querySelector(".dvn-scroller"))
    .map(scroller => scroller.scrollWidth - scroller.clientWidth)"""


@pytest.fixture(params=SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def sized_page(request: pytest.FixtureRequest) -> Iterator[tuple[Any, list[str], list[str]]]:
    width, height = request.param
    with recorded_page(width, height) as recorded:
        yield recorded


def _map_drawn(page: Any) -> Any:
    frame = page.frame_locator(MAP_IFRAME).first
    frame.locator("path.leaflet-interactive").first.wait_for(timeout=60_000)
    frame.locator(".tp-legend").wait_for(timeout=60_000)
    return page.locator(MAP_IFRAME).first.element_handle().content_frame()


def test_map_controls_are_never_cut_off(served_demo: str,
                                        sized_page: tuple[Any, list[str], list[str]]) -> None:
    page, requests, dialogs = sized_page
    open_page(page, served_demo, "/map?period=90d", heading=re.compile(r"^Map · Statewide"))
    page.get_by_role("button", name="Heat map").wait_for(state="attached")
    shown, clipped = page.evaluate(_CLIPPED_BUTTONS_JS, MAP_OPTIONS)
    assert sorted(shown) == sorted(MAP_OPTIONS)
    assert clipped == []
    assert_stayed_home(requests, dialogs)


def test_map_county_table_fits_at_1440_px(served_demo: str) -> None:
    with recorded_page(1440, 900) as (page, requests, dialogs):
        open_page(page, served_demo, "/map?period=90d", heading=re.compile(r"^Map · Statewide"))
        page.get_by_role("heading", name="Counties under the current filter").wait_for()
        page.locator("[data-testid='stDataFrame'] .dvn-scroller").first.wait_for()
        assert page.evaluate(_TABLE_OVERFLOW_JS) == [0]
        assert_stayed_home(requests, dialogs)


def test_overview_map_covers_no_county_with_its_legend(
        served_demo: str, sized_page: tuple[Any, list[str], list[str]]) -> None:
    page, requests, dialogs = sized_page
    open_page(page, served_demo, "/", heading=re.compile(r"^Statewide picture"),
              role="leadership")
    frame = _map_drawn(page)
    covered = frame.evaluate(_COVERED_COUNTIES_JS)
    if covered:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "overview_map_covered.png"), full_page=True)
    assert covered == []
    assert_stayed_home(requests, dialogs)


# Of the first plotly chart on the page: how many x-axis tick labels there are, and how many
# pairs of neighbours run into each other on screen. A label's box is its line box, which
# holds some leading (about 0.3 of the font size) beside the glyphs: boxes that share no more
# than that still show every glyph clear of the next label's.
_OVERLAPPING_TICKS_JS = """() => {
    const chart = document.querySelector(".js-plotly-plot");
    const labels = [...chart.querySelectorAll(".xtick text")]
        .map(text => [text.getBoundingClientRect(), parseFloat(getComputedStyle(text).fontSize)])
        .filter(([box]) => box.width > 0).sort((a, b) => a[0].left - b[0].left);
    let overlaps = 0;
    for (let i = 1; i < labels.length; i++) {
        const [box, font] = labels[i];
        if (labels[i - 1][0].right - box.left > 0.3 * font) { overlaps += 1; }
    }
    return [labels.length, overlaps];
}"""


def test_coverage_county_names_do_not_run_into_each_other(
        served_demo: str, sized_page: tuple[Any, list[str], list[str]]) -> None:
    page, requests, dialogs = sized_page
    open_page(page, served_demo, "/coverage?period=90d",
              heading="Coverage gaps & redundancy", role="leadership")
    page.locator("[data-testid='stMain'] button").filter(
        has_text=re.compile(r"^County$")).first.click()
    page.wait_for_function(
        "() => document.querySelectorAll('.js-plotly-plot .xtick text').length > 40",
        timeout=60_000)
    wait_for_app(page)
    labels, overlaps = page.evaluate(_OVERLAPPING_TICKS_JS)
    assert labels > 40  # a column per county with activity
    assert overlaps == 0
    assert_stayed_home(requests, dialogs)
