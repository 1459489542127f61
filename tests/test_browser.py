"""Browser journey: the app served on 127.0.0.1, driven by Debian's Chromium through Playwright.

Records every request the page makes and fails on any that leaves 127.0.0.1 (closed network),
and on any JavaScript dialog (feed text like `<img onerror=alert(1)>` must never run).
"""

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
)
from tests.browser_support import served_app as serve

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture(scope="module")
def served_app(ingested_ri: tuple[Path, str]) -> Iterator[str]:
    with serve(*ingested_ri) as url:
        yield url


@pytest.fixture()
def browser_page(served_app: str) -> Iterator[tuple[object, list[str], list[str]]]:
    with recorded_page() as recorded:
        yield recorded


def test_data_health_journey(served_app: str,
                             browser_page: tuple[object, list[str], list[str]]) -> None:
    page, requests, dialogs = browser_page
    open_page(page, served_app, "/data_health", heading="Data health")
    for text in ("Rows quarantined", "Incidents stored", "Cross-center duplicate links"):
        page.get_by_text(text).first.wait_for(timeout=30_000)  # type: ignore[attr-defined]
    # The fixture is real-format test data, not the synthetic demo: no SYNTHETIC banner.
    assert page.get_by_text("SYNTHETIC DATA").count() == 0  # type: ignore[attr-defined]
    # The quarantine search narrows the list (a user's filter, through the browser).
    search = page.get_by_label("Search reason or value")  # type: ignore[attr-defined]
    search.fill("maximum")
    search.press("Enter")
    page.get_by_text("1 of 11 quarantined rows").wait_for(timeout=30_000)  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "data_health.png"), full_page=True)  # type: ignore[attr-defined]

    assert_stayed_home(requests, dialogs)
