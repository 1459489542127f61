"""Browser test of the Trends page on the served California demo: the series chart, CompStat
table, rhythm heat map and small multiples draw offline, and box-selecting a point on the
series chart narrows the shared filters to its week and category."""

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
    # Tall enough for the whole page in one screenshot (Streamlit scrolls inside the app).
    with recorded_page(1440, 3700) as recorded:
        yield recorded


def test_trends_page_draws_and_a_box_selection_narrows_the_filters(
        served_demo: str, browser_page: tuple[object, list[str], list[str]]) -> None:
    page, requests, dialogs = browser_page
    open_page(page, served_demo, "/trends?period=90d", heading="Trends")
    charts = page.locator("[data-testid='stPlotlyChart']")  # type: ignore[attr-defined]
    charts.first.locator(".scatterlayer .trace").first.wait_for(timeout=60_000)
    assert charts.count() == 3  # series, rhythm, small multiples
    # One line and one dashed baseline per category (the demo has ten), plus anomaly rings.
    series_traces = charts.first.locator(".scatterlayer .trace").count()
    assert series_traces >= 20
    assert charts.nth(1).locator(".heatmaplayer image, .heatmaplayer path, .hm").count() >= 1
    assert charts.nth(2).locator(".scatterlayer .trace").count() >= 60  # 10 x 6 cells, lines

    page.get_by_role("heading", name="CompStat").wait_for()  # type: ignore[attr-defined]
    assert page.locator("[data-testid='stDataFrame']").count() >= 1  # type: ignore[attr-defined]
    year_to_date = page.locator("[data-testid='stMetric']").filter(has_text="Year to date")  # type: ignore[attr-defined]
    assert int(year_to_date.locator("[data-testid='stMetricValue']").inner_text()
               .replace(",", "")) > 0
    page.get_by_text("How anomalies are found").click()  # type: ignore[attr-defined]
    page.get_by_text("whole weeks").first.wait_for()  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "trends.png"), full_page=True)  # type: ignore[attr-defined]

    # Box-select the busiest category's last week: every page narrows to that week and
    # category.
    point = charts.first.locator(".scatterlayer .trace").first.locator(".points path").last
    box = point.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)  # type: ignore[attr-defined]
    charts.first.hover()
    tool = charts.first.locator("[data-title='Box Select']")
    tool.wait_for(state="visible")
    tool.click()
    page.mouse.move(x - 40, y - 30, steps=3)  # type: ignore[attr-defined]
    page.mouse.down()  # type: ignore[attr-defined]
    page.mouse.move(x + 15, y + 15, steps=10)  # type: ignore[attr-defined]
    page.mouse.up()  # type: ignore[attr-defined]
    page.get_by_text("(7 days)").first.wait_for(timeout=30_000)  # type: ignore[attr-defined]
    wait_for_app(page)
    legend = charts.first.locator(".legend .traces")
    legend.first.wait_for()
    assert legend.count() == 1  # the one selected category
    assert_stayed_home(requests, dialogs)
