"""Browser test of the Coverage page on the served California demo: the heat map and the gap
list render, a product title carrying markup shows as text (no dialog, no injected element), a
click on a heat-map cell narrows the shared filters, and nothing leaves 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
HEADING = "Coverage gaps & redundancy"
MARKUP_TITLE = "<img src=x onerror=alert('title')>"  # dashboard.demo.text.MARKUP_PRODUCT_TITLE


@pytest.fixture()
def browser_page(served_demo: str) -> Iterator[tuple[object, list[str], list[str]]]:
    # Tall enough for the heat map, the gap list and the first redundancy tab in one shot.
    with recorded_page(1440, 2300) as recorded:
        yield recorded


def _metric(page: object, label: str) -> str:
    card = page.locator("[data-testid='stMetric']").filter(has_text=label).first  # type: ignore[attr-defined]
    return card.locator("[data-testid='stMetricValue']").inner_text()


def test_coverage_page_shows_gaps_clusters_and_narrows_on_a_click(
        served_demo: str, browser_page: tuple[object, list[str], list[str]]) -> None:
    page, requests, dialogs = browser_page
    open_page(page, served_demo, "/coverage?period=90d", heading=HEADING)
    # The gap heat map and the center x topic matrix are drawn.
    # Both drawn (the second can follow the first by a moment on a loaded machine).
    page.locator(".heatmaplayer image").nth(1).wait_for(timeout=60_000)  # type: ignore[attr-defined]
    assert page.locator(".heatmaplayer image").count() == 2  # type: ignore[attr-defined]
    gaps = int(_metric(page, "Gaps"))
    assert gaps >= 1
    assert page.get_by_role("heading", name="Gaps, worst first").count() == 1  # type: ignore[attr-defined]
    reasons = page.locator(".gap-list li .gap-reason")  # type: ignore[attr-defined]
    assert reasons.count() == min(gaps, 5)
    assert "no current product" in reasons.first.inner_text()

    # The recent near-duplicate cluster: its markup title is text, not an element.
    titles = page.locator(".cov-title").filter(has_text=MARKUP_TITLE)  # type: ignore[attr-defined]
    titles.first.wait_for(timeout=30_000)
    assert MARKUP_TITLE in titles.first.inner_text()
    assert page.locator(".cov-title img").count() == 0  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "coverage.png"), full_page=True)  # type: ignore[attr-defined]

    # A click on the first cell narrows the filters to its topic and region.
    point = page.locator(".scatterlayer .point").first  # type: ignore[attr-defined]
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # type: ignore[attr-defined]
    page.wait_for_url("**categories=*", timeout=30_000)  # type: ignore[attr-defined]
    wait_for_app(page)
    assert "regions=" in page.url  # type: ignore[attr-defined]
    assert _metric(page, "Active cells").endswith("/1")
    assert_stayed_home(requests, dialogs)


def test_the_coverage_page_downloads_the_view_as_a_valid_stix_bundle(
        served_demo: str, browser_page: tuple[object, list[str], list[str]]) -> None:
    """Issue 16, item 2: the button builds the bundle on the click, as the analyst receives the
    view (TLP 2.0 markings; the products of the period and the counts), and the bundle passes
    the OASIS validator."""
    import json

    from stix2validator import ValidationOptions, validate_string

    page, requests, dialogs = browser_page
    open_page(page, served_demo, "/coverage?period=28d", heading=HEADING)
    button = page.get_by_role("button", name="STIX 2.1 bundle")  # type: ignore[attr-defined]
    button.wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as download:  # type: ignore[attr-defined]
        button.click()
    assert download.value.suggested_filename.startswith("threat-picture_coverage_")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    bundle = json.loads(text)
    assert bundle["type"] == "bundle"
    types = [obj["type"] for obj in bundle["objects"]]
    assert types.count("note") == 1 and types.count("report") >= 1
    tlp = {obj["extensions"]["extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"]
           ["tlp_2_0"] for obj in bundle["objects"] if obj["type"] == "marking-definition"}
    assert tlp and tlp <= {"clear", "green", "amber", "amber+strict"}  # no RED for an analyst
    result = validate_string(text, ValidationOptions(version="2.1", strict=False))
    assert result.is_valid, [error.message for error in result.errors]
    assert_stayed_home(requests, dialogs)
