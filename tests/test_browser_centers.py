"""Browser journey over the Centers page on the small California demo (served once per session
by `served_demo`): the summary table and the AOR overlap matrix render, the overlap measure
switches, and a click on a center's bar narrows every page to that center; nothing leaves
127.0.0.1 and no feed text runs as script."""

from __future__ import annotations

from collections.abc import Iterator

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
    # Tall enough for the summary, the weekly and lag charts and the overlap matrix at once.
    with recorded_page(1440, 2900) as recorded:
        yield recorded


def _metric(page: object, label: str) -> str:
    card = page.locator("[data-testid='stMetric']").filter(has_text=label).first  # type: ignore[attr-defined]
    return card.locator("[data-testid='stMetricValue']").inner_text()


def test_centers_page_shows_the_summary_and_the_overlap_matrix(
        served_demo: str, browser_page: tuple[object, list[str], list[str]]) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page, requests, dialogs = browser_page
    open_page(page, served_demo, "/centers?period=90d", heading="Centers")
    assert page.get_by_text("SYNTHETIC DATA").count() >= 1  # type: ignore[attr-defined]
    reports = int(_metric(page, "Reports statewide").replace(",", ""))
    events = int(_metric(page, "Incidents statewide").replace(",", ""))
    assert 0 < events <= reports
    assert _metric(page, "Centers reporting") == "5 of 5"  # the demo's five centers

    summary = page.locator("[data-testid='stDataFrame']").first  # type: ignore[attr-defined]
    summary.wait_for(timeout=30_000)
    assert summary.bounding_box()["height"] > 150  # five center rows under the header

    charts = page.locator(".js-plotly-plot")  # type: ignore[attr-defined]
    matrix = charts.filter(has_text="Shared AOR counties").first
    matrix.wait_for(timeout=30_000)
    # The statewide center's AOR is every California county: its diagonal cell says so.
    assert matrix.get_by_text("AOR 58").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "centers.png"))  # type: ignore[attr-defined]

    page.get_by_role("radio", name="Incidents reported by both").click()  # type: ignore[attr-defined]
    wait_for_app(page)
    charts.filter(has_text="reported by both centers").first.wait_for(timeout=30_000)

    # A click on a center's bar in the lag chart filters every page by that center (plotly's
    # drag layer takes the pointer, so click where the bar is).
    # The first click can land while plotly is still redrawing after the rerun: click again.
    lag = charts.filter(has_text="Reporting lag").first
    for attempt in range(3):
        wait_for_app(page)
        box = lag.locator("g.trace.bars path").first.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # type: ignore[attr-defined]
        try:
            page.wait_for_url("**centers=*", timeout=15_000)  # type: ignore[attr-defined]
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    wait_for_app(page)
    page.get_by_text("1 of 1").first.wait_for(timeout=30_000)  # type: ignore[attr-defined]
    assert_stayed_home(requests, dialogs)
