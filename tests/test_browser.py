"""Browser journey: the app served on 127.0.0.1, driven by Debian's Chromium through Playwright.

Records every request the page makes and fails on any that leaves 127.0.0.1 (closed network),
and on any JavaScript dialog (feed text like `<img onerror=alert(1)>` must never run).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from dashboard.ingest.pipeline import run_ingest
from dashboard.settings import load_config
from dashboard.store import open_store

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "ri"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium")

if CHROMIUM is None and os.environ.get("CI") == "true":
    raise RuntimeError("CI needs Debian's chromium for browser tests (apt-get install chromium)")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed "
                       "(apt-get install chromium); browser tests need it"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(port: int, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"app did not listen on 127.0.0.1:{port} within {seconds} s")


@pytest.fixture(scope="module")
def served_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("ri_browser")
    shutil.copytree(FIXTURE, folder, dirs_exist_ok=True)
    store_url = f"sqlite:///{folder / 'store.sqlite'}"
    run_ingest(load_config(folder / "config"), open_store(store_url))
    port = _free_port()
    env = {**os.environ, "THREAT_PICTURE_CONFIG": str(folder / "config"),
           "THREAT_PICTURE_STORE": store_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_serving(port, process, seconds=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture()
def browser_page(served_app: str) -> Iterator[tuple[object, list[str], list[str]]]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        requests: list[str] = []
        dialogs: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        try:
            yield page, requests, dialogs
        finally:
            browser.close()


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

    foreign = [url for url in requests if urlparse(url).hostname not in ("127.0.0.1", None)
               and not url.startswith(("data:", "blob:"))]
    assert foreign == [], f"requests left 127.0.0.1: {foreign}"
    assert dialogs == [], f"feed text ran as script: {dialogs}"
