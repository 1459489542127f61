"""What every AppTest shares: the app opened on a deployment, on a page, with URL params."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.security.accounts import demo_password
from page_glue import sign_in

ROOT = Path(__file__).resolve().parent.parent
# The accounts ensure_demo_users creates in every test deployment, one per role.
USER_OF_ROLE = {"admin": "admin", "leadership": "director", "analyst": "analyst",
                "partner": "partner"}


def open_app(deployment: tuple[Path, str], monkeypatch: pytest.MonkeyPatch,
             params: dict[str, str | list[str]] | None = None, page: str | None = None,
             role: str | None = "analyst") -> AppTest:
    """The app on ``deployment`` (config folder, store URL), signed in through the sign-in form
    as the demo user of ``role`` (None: not signed in), then on ``page`` (e.g.
    "pages/trends.py") when given; fails on any exception."""
    config_dir, store_url = deployment
    monkeypatch.setenv("THREAT_PICTURE_CONFIG", str(config_dir))
    monkeypatch.setenv("THREAT_PICTURE_STORE", store_url)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.run()
    if role is not None:
        sign_in(at, USER_OF_ROLE[role], demo_password(USER_OF_ROLE[role]))
        assert not at.exception, at.exception
        assert "signed_in" in at.session_state, [e.value for e in at.error]
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first dataframe on the page that has ``column`` (AppTest exposes no dataframe keys)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def metric(at: AppTest, label: str) -> tuple[str, str]:
    found = next(m for m in at.metric if m.label == label)
    return found.value, found.delta
