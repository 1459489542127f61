"""What every browser test shares: a free port, waiting for a server, Debian's Chromium with
the request and dialog recorders, and the closed-network assertion."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium")
# Mark of every browser test: without Debian's Chromium the test skips, saying so, locally and
# fails under CI=true (conftest.chromium_executable). Session-scoped, the check runs before the
# session's served demo is built.
needs_chromium = pytest.mark.usefixtures("chromium_executable")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_serving(port: int, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {seconds} s")


@contextmanager
def served_app(config_dir: Path, store_url: str, *, secrets: Path | None = None,
               port: int | None = None) -> Iterator[str]:
    """The app served by `threat-picture serve` on a free local port (or ``port``), reading
    Streamlit secrets from ``secrets`` when given; yields its base URL."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "serve", "--config", str(config_dir),
         "--store", store_url, "--port", str(port), "--headless",
         *(["--secrets", str(secrets)] if secrets else [])],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(port, process, seconds=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def recorded_page(width: int = 1400, height: int = 1000) -> Iterator[tuple[Any, list[str],
                                                                           list[str]]]:
    """A Chromium page, the URLs it (and its iframes) requested, and any dialogs it opened."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        requests: list[str] = []
        dialogs: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        try:
            yield page, requests, dialogs
        finally:
            browser.close()


def assert_stayed_home(requests: list[str], dialogs: list[str]) -> None:
    foreign = [url for url in requests if urlparse(url).hostname not in ("127.0.0.1", None)
               and not url.startswith(("data:", "blob:", "about:"))]
    assert foreign == [], f"requests left 127.0.0.1: {foreign}"
    assert dialogs == [], f"feed text ran as script: {dialogs}"


def wait_for_app(page: Any) -> None:
    """Until Streamlit has finished the current run of the page's script."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']",
                           timeout=60_000)


def open_page(page: Any, base_url: str, path: str = "/", heading: str | None = None,
              role: str = "analyst") -> None:
    """Go to ``path`` (with any query string) of the served app, signed in as the demo user of
    ``role`` (each page load is a new Streamlit session, so the form is filled each time),
    wait for ``heading`` when given, and for the run to finish."""
    from dashboard.security.accounts import demo_password
    from tests.app_support import USER_OF_ROLE

    page.goto(base_url + path)
    page.get_by_label("User name").wait_for(timeout=60_000)
    username = USER_OF_ROLE[role]
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(demo_password(username))
    page.get_by_role("button", name="Sign in").click()
    if heading is not None:
        page.get_by_role("heading", name=heading).wait_for(timeout=60_000)
    wait_for_app(page)
