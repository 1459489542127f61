"""The picture stays live (issue 13, item 4): `serve --watch` on an ingested RI copy; a row
appended to a feed is ingested by the watcher and the open Overview's Incidents KPI changes
without a reload; stopping the server stops the watcher too."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.browser_support import (
    ARTIFACTS,
    ROOT,
    assert_stayed_home,
    free_port,
    needs_chromium,
    open_page,
    recorded_page,
    wait_until_serving,
)

pytestmark = [pytest.mark.browser, needs_chromium]

WINTER_2025 = "?period=custom&start=2025-01-01&end=2025-03-31"
ROWS = ("R-98,02/10/2025 10:00,Gang Activity,44007,41.8606,-71.5694,,,3,GREEN,Live one\n"
        "R-99,02/11/2025 11:00,Narcotics,44007,41.8606,-71.5694,,,2,GREEN,Live two\n")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" in status.read_text()
    except FileNotFoundError:
        return True


def test_overview_shows_new_data_without_a_reload(ingested_ri: tuple[Path, str]) -> None:
    config_dir, store_url = ingested_ri
    settings = config_dir / "settings.toml"
    settings.write_text(settings.read_text() + "watch_interval_seconds = 2\n")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "serve", "--config", str(config_dir),
         "--store", store_url, "--port", str(port), "--headless", "--watch"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watchers: list[int] = []
    try:
        wait_until_serving(port, server, seconds=60)
        watchers = _children(server.pid)
        assert watchers, "serve --watch started no watch process"
        with recorded_page() as (page, requests, dialogs):
            open_page(page, f"http://127.0.0.1:{port}", "/" + WINTER_2025,
                      heading="Statewide picture")
            value = (page.locator("[data-testid='stMetric']").filter(has_text="Incidents")
                     .first.locator("[data-testid='stMetricValue']"))
            before = value.inner_text()
            with (config_dir.parent / "feeds" / "rifc_incidents.csv").open(
                    "a", encoding="utf-8") as out:
                out.write(ROWS)
            started = time.monotonic()
            deadline = started + 45
            while value.inner_text() == before:
                assert time.monotonic() < deadline, f"Incidents KPI still {before} after 45 s"
                page.wait_for_timeout(500)
            after = int(value.inner_text().replace(",", ""))
            assert after == int(before.replace(",", "")) + 2
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "live_overview.png"))
            assert_stayed_home(requests, dialogs)
    finally:
        server.terminate()
        server.wait(timeout=20)
    # The watcher stops with the server.
    deadline = time.monotonic() + 15
    while not all(_gone(pid) for pid in watchers):
        assert time.monotonic() < deadline, "the watch process outlived the server"
        time.sleep(0.2)
