"""Browser journey: the app served on 127.0.0.1, driven by Debian's Chromium through Playwright.

Records every request the page makes and fails on any that leaves 127.0.0.1 (closed network),
and on any JavaScript dialog (feed text like `<img onerror=alert(1)>` must never run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.ingest.pipeline import run_ingest
from dashboard.settings import load_config
from dashboard.store import open_store
from tests.browser_support import (
    assert_stayed_home,
    free_port,
    needs_chromium,
    recorded_page,
    wait_until_serving,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "ri"
ARTIFACTS = ROOT / "test-artifacts"
pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture(scope="module")
def served_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("ri_browser")
    shutil.copytree(FIXTURE, folder, dirs_exist_ok=True)
    store_url = f"sqlite:///{folder / 'store.sqlite'}"
    run_ingest(load_config(folder / "config"), open_store(store_url))
    port = free_port()
    env = {**os.environ, "THREAT_PICTURE_CONFIG": str(folder / "config"),
           "THREAT_PICTURE_STORE": store_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(port, process, seconds=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture()
def browser_page(served_app: str) -> Iterator[tuple[object, list[str], list[str]]]:
    with recorded_page() as recorded:
        yield recorded


def test_data_health_journey(served_app: str,
                             browser_page: tuple[object, list[str], list[str]]) -> None:
    page, requests, dialogs = browser_page
    page.goto(served_app + "/data_health")  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Data health").wait_for(timeout=60_000)  # type: ignore[attr-defined]
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
