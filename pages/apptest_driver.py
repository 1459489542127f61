"""The app driven through Streamlit's AppTest, as a user's browser would drive it: shared by
the tests (tests/app_support.py, tests/conftest.py) and the bench's page runs
(`threat-picture bench`, in a process of its own so its peak memory is an app process's).

Not a page: a Streamlit-side helper, which is why it lives in pages/.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dashboard.analytics.filters import Filters
from dashboard.security.accounts import demo_password

APP = Path(__file__).resolve().parent.parent / "app.py"
# The demo accounts ensure_demo_users creates; admin opens the Administration page.
ANALYST, ADMIN = "analyst", "admin"
ADMIN_PAGES = ("admin",)


def navigation_pages_manager() -> type:
    """A PagesManager that makes AppTest run app.py's st.navigation on every rerun, as the
    server does. AppTest resets Streamlit's legacy "pages/ directory" flag before every run and
    sets it again because pages/ exists; in that legacy mode a rerun executes the page file
    alone (no sidebar, no shared filters). The real server clears the flag when app.py calls
    st.navigation; this does the same for AppTest (install it as
    ``streamlit.testing.v1.app_test.PagesManager``)."""
    from streamlit.runtime.pages_manager import PagesManager

    class NavigationPagesManager(PagesManager):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            PagesManager.uses_pages_directory = False

    return NavigationPagesManager


def sign_in(at: Any, username: str, password: str) -> Any:
    """Fill in and submit the app's sign-in form."""
    at.text_input(key="sign_in_user").input(username)
    at.text_input(key="sign_in_password").input(password)
    next(button for button in at.button if button.label == "Sign in").click().run()
    return at


def signed_in_app(username: str, timeout: float) -> Any:
    """The app, signed in through its sign-in form as ``username``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=timeout)
    sign_in(at.run(), username, demo_password(username))
    if at.exception or "signed_in" not in at.session_state:
        raise RuntimeError(f"AppTest: could not sign in as {username!r}: "
                           f"{[e.value for e in at.exception] or [e.value for e in at.error]}")
    return at


def set_filters(at: Any, filters: Filters) -> None:
    """Change the sidebar's period, regions and categories (what the bench varies)."""
    at.selectbox(key="filter_period").set_value(filters.period)
    at.multiselect(key="filter_regions").set_value(list(filters.regions))
    at.multiselect(key="filter_categories").set_value(list(filters.categories))


def payload_bytes(at: Any) -> int:
    """Bytes of the page's elements as sent to the browser (the serialized element protos:
    dataframes as Arrow, charts as JSON, the map component's HTML)."""
    total = 0
    for node in at._tree:  # the element tree of the last run
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ByteSize"):
            total += proto.ByteSize() if not hasattr(node, "children") else 0
    return total


def run_pages(config_dir: Path, store_url: str, variants: dict[str, list[Filters]],
              timeout: float, progress: Callable[[str], None] | None = None,
              ) -> dict[str, dict[str, Any]]:
    """For each page (of ``variants``): its first run, then one timed rerun per filter state
    of its own (the first is the warm-up). Returns seconds, payload bytes and any exception
    per page."""
    os.environ["THREAT_PICTURE_CONFIG"] = str(config_dir)
    os.environ["THREAT_PICTURE_STORE"] = store_url
    from streamlit.testing.v1 import app_test

    app_test.PagesManager = navigation_pages_manager()  # type: ignore[attr-defined,misc]
    report = progress or (lambda _page: None)
    results: dict[str, dict[str, Any]] = {}
    apps: dict[str, Any] = {}
    for page, page_variants in variants.items():
        report(page)
        username = ADMIN if page in ADMIN_PAGES else ANALYST
        if username not in apps:
            apps[username] = signed_in_app(username, timeout)
        at = apps[username]
        started = time.perf_counter()
        at.switch_page(f"pages/{page}.py").run()
        first = time.perf_counter() - started
        runs: list[float] = []
        payloads: list[int] = [payload_bytes(at)]
        errors = [str(e.value) for e in at.exception]
        for filters in page_variants:
            set_filters(at, filters)
            started = time.perf_counter()
            at.run()
            runs.append(time.perf_counter() - started)
            payloads.append(payload_bytes(at))
            errors += [str(e.value) for e in at.exception]
        results[page] = {"first_run_s": first, "runs_s": runs, "payload_bytes": max(payloads),
                         "errors": errors[:3]}
    return results
