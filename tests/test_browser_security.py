"""Browser journeys through sign-in on the served California demo: a deep link keeps its page
and filters through the sign-in, a failed sign-in says nothing about the account, and a
partner gets the partner view (no record layers, no analyst pages, GREEN marking)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dashboard.security.accounts import SIGN_IN_FAILED
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
    with recorded_page(1440, 1000) as recorded:
        yield recorded


def test_deep_link_waits_for_sign_in_and_wrong_password_is_generic(
        served_demo: str, browser_page: tuple[object, list[str], list[str]]) -> None:
    page, requests, dialogs = browser_page
    page.goto(served_demo + "/map?period=90d")  # type: ignore[attr-defined]
    page.get_by_label("User name").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    # Nothing of the app before sign-in: no map, no filters, no figures.
    assert page.locator("iframe").count() == 0  # type: ignore[attr-defined]
    assert page.get_by_text("Threat category").count() == 0  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sign_in.png"))  # type: ignore[attr-defined]
    page.get_by_label("User name").fill("analyst")  # type: ignore[attr-defined]
    page.get_by_label("Password", exact=True).fill("wrong password")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.get_by_text(SIGN_IN_FAILED).wait_for(timeout=30_000)  # type: ignore[attr-defined]
    page.get_by_label("User name").fill("analyst")  # type: ignore[attr-defined]
    page.get_by_label("Password", exact=True).fill("analyst-demo-2026")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    # The link's page and period survive the sign-in.
    page.get_by_role("heading", name="Map").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    wait_for_app(page)
    assert "period=90d" in page.url  # type: ignore[attr-defined]
    assert_stayed_home(requests, dialogs)


def test_partner_view(served_demo: str,
                      browser_page: tuple[object, list[str], list[str]]) -> None:
    page, requests, dialogs = browser_page
    open_page(page, served_demo, "/map?period=90d", heading="Map", role="partner")
    page.get_by_text("Partner view: incidents counted per county").wait_for(timeout=30_000)  # type: ignore[attr-defined]
    assert page.get_by_role("button", name="Points").count() == 0  # type: ignore[attr-defined]
    banner = page.get_by_role("note", name="Handling marking")  # type: ignore[attr-defined]
    assert banner.inner_text().startswith("TLP:GREEN")
    navigation = page.locator("[data-testid='stSidebarNav']").inner_text()  # type: ignore[attr-defined]
    assert "Map" in navigation and "Data health" not in navigation
    assert "Coverage" not in navigation and "Administration" not in navigation
    page.screenshot(path=str(ARTIFACTS / "partner_map.png"), full_page=True)  # type: ignore[attr-defined]
    assert_stayed_home(requests, dialogs)


@pytest.mark.parametrize("first_path", ["/map?period=90d", "/signin", "/common"])
def test_a_fresh_servers_first_request_goes_through_the_app(
        ingested_ri: tuple[object, str], first_path: str) -> None:
    """Streamlit's legacy pages/ mode would serve a fresh server's first request to /map as
    that page alone (blank: no sign-in), and list every module of pages/. The first request
    of a server of its own, to a page or to a name that is no page, shows the sign-in."""
    from pathlib import Path

    from tests.browser_support import served_app

    config_dir, store_url = ingested_ri
    with served_app(Path(str(config_dir)), store_url) as url, recorded_page() as (
            page, requests, dialogs):
        page.goto(url + first_path)  # type: ignore[attr-defined]
        page.get_by_label("User name").wait_for(timeout=60_000)  # type: ignore[attr-defined]
        body = page.locator("body").inner_text()  # type: ignore[attr-defined]
        for module in ("apptest_driver", "sidebar", "common", "signin"):
            assert module not in body.lower().split()
        assert_stayed_home(requests, dialogs)
