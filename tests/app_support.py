"""What every AppTest shares: the app opened on a deployment, on a page, with URL params."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def open_app(deployment: tuple[Path, str], monkeypatch: pytest.MonkeyPatch,
             params: dict[str, str | list[str]] | None = None, page: str | None = None,
             role: str = "analyst") -> AppTest:
    """The app run once on ``deployment`` (config folder, store URL), then on ``page``
    (e.g. "pages/trends.py") when given; fails on any exception. ``role`` is the signed-in
    user's role once sign-in exists."""
    config_dir, store_url = deployment
    monkeypatch.setenv("THREAT_PICTURE_CONFIG", str(config_dir))
    monkeypatch.setenv("THREAT_PICTURE_STORE", store_url)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.run()
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
