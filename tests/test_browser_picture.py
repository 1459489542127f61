"""Browser journey over the Picture pages on a small California demo, served by
`threat-picture serve` on a free local port and driven by Debian's Chromium.

Records every request (the page and its map iframe) and fails on any that leaves 127.0.0.1;
fails on any JavaScript dialog (demo narratives carry `<script>` and `onerror=` payloads);
checks the map's county polygons are drawn; saves screenshots as test artifacts.
"""

from __future__ import annotations

import re
import time
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


@pytest.fixture()
def browser_page(served_demo: str) -> Iterator[tuple[object, list[str], list[str]]]:
    with recorded_page(1440, 1100) as recorded:
        yield recorded


def _kpi(page: object, label: str) -> str:
    card = page.locator("[data-testid='stMetric']").filter(has_text=label).first  # type: ignore[attr-defined]
    return card.locator("[data-testid='stMetricValue']").inner_text()


def _kpi_once_changed(page: object, label: str, before: int, seconds: float = 30) -> int:
    """The KPI's value once the rerun a filter change started has redrawn it."""
    deadline = time.monotonic() + seconds
    while True:
        wait_for_app(page)
        value = int(_kpi(page, label).replace(",", ""))
        if value != before or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def _choose_first_region(page: Any, attempts: int = 3) -> None:
    """Open the Region filter and pick its first region. A rerun that redraws the sidebar
    while the list is open closes it, so a list that does not show is opened again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    region_box = page.locator("[data-testid='stMultiSelect']").filter(has_text="Region").first
    # The first option is Streamlit's "Select all"; take the first real region.
    option = page.get_by_role("option").filter(has_not_text="Select all").first
    for attempt in range(attempts):
        wait_for_app(page)
        region_box.click()
        try:
            option.wait_for(timeout=10_000)
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
            continue
        option.click()
        return


def test_overview_region_filter_changes_the_kpis(
        served_demo: str, browser_page: tuple[object, list[str], list[str]]) -> None:
    page, requests, dialogs = browser_page
    open_page(page, served_demo, "/?period=90d", heading="Statewide picture")
    assert page.get_by_text("SYNTHETIC DATA").count() >= 1  # type: ignore[attr-defined]
    statewide = int(_kpi(page, "Incidents").replace(",", ""))
    assert statewide > 0

    _choose_first_region(page)
    page.keyboard.press("Escape")  # type: ignore[attr-defined]
    page.wait_for_url("**regions=*", timeout=30_000)  # type: ignore[attr-defined]
    regional = _kpi_once_changed(page, "Incidents", statewide)
    assert 0 < regional < statewide
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)  # type: ignore[attr-defined]

    # The link reproduces the view: a new visit to the same URL shows the same figure.
    # The heading names the region chosen, no longer "Statewide picture" (issue 14).
    open_page(page, page.url, "", heading=re.compile(r"region · last 90 days$"))  # type: ignore[attr-defined]
    assert int(_kpi(page, "Incidents").replace(",", "")) == regional
    assert_stayed_home(requests, dialogs)


def test_map_draws_counties_offline(
        served_demo: str, browser_page: tuple[object, list[str], list[str]]) -> None:
    page, requests, dialogs = browser_page
    open_page(page, served_demo, "/map?period=90d", heading="Map")
    frame = page.frame_locator("iframe[title*='streamlit_folium']").first  # type: ignore[attr-defined]
    polygons = frame.locator("path.leaflet-interactive")
    polygons.first.wait_for(timeout=60_000)
    # 58 California counties, plus any hot-spot overlays.
    assert polygons.count() >= 58
    # Switch on points: clustered markers, never one DOM node per incident.
    page.get_by_role("button", name="Points").click()  # type: ignore[attr-defined]
    wait_for_app(page)
    frame.locator(".marker-cluster").first.wait_for(timeout=60_000)
    markers = frame.locator(".leaflet-marker-icon, path.leaflet-interactive").count()
    assert markers < 5_000
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map.png"), full_page=True)  # type: ignore[attr-defined]
    assert_stayed_home(requests, dialogs)
