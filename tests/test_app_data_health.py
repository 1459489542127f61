"""AppTest of the Data health page on the ingested Rhode Island fixture."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.security.accounts import ensure_demo_users
from dashboard.settings import load_config
from dashboard.store import open_store
from tests.app_support import open_app

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "ri"


@pytest.fixture()
def app(ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.chdir(ROOT)
    return open_app(ingested_ri, monkeypatch, page="pages/data_health.py")


def _metric(at: AppTest, label: str) -> str:
    return next(metric.value for metric in at.metric if metric.label == label)


def _table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first dataframe on the page with that column (AppTest does not expose their keys)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def test_data_health_shows_store_counts(app: AppTest) -> None:
    assert not app.exception
    assert app.title[0].value == "Data health"
    assert _metric(app, "Incidents stored") == "7"
    assert _metric(app, "Products stored") == "4"
    assert _metric(app, "Rows quarantined") == "11"
    assert _metric(app, "Locations flagged") == "1"
    assert _metric(app, "Cross-center duplicates") == "1"
    per_center = _table_with(app, "Duplicates")
    assert per_center.set_index("Center").loc["Rhode Island Fusion Center", "Quarantined"] == 8
    freshness = _table_with(app, "Format")
    assert sorted(freshness["Format"]) == ["csv", "csv", "ndjson", "ndjson"]


def test_quarantine_filters_narrow_the_rows(app: AppTest) -> None:
    rows = _table_with(app, "Raw record")
    assert len(rows) == 11
    app.multiselect(key="quarantine_centers").set_value(["prov"]).run()
    rows = _table_with(app, "Raw record")
    assert sorted(rows["Row/line"]) == [3, 4, 6]
    assert set(rows["Center"]) == {"Providence Regional Intelligence Center"}
    app.text_input(key="quarantine_search").input("maximum").run()
    rows = _table_with(app, "Raw record")
    assert rows["Reason"].tolist() == ["severity: above the maximum 5"]
    assert any("1 of 11 quarantined rows" in caption.value for caption in app.caption)


def test_feed_text_is_shown_as_text_not_markup(app: AppTest) -> None:
    # The only place feed text reaches the page is a dataframe cell, which renders text.
    rows = _table_with(app, "Raw record")
    assert rows["Raw record"].str.contains("<img src=x onerror=alert(1)>", regex=False).any()
    assert all("<img" not in markdown.value for markdown in app.markdown)


def test_sidebar_says_how_fresh_each_center_is(app: AppTest) -> None:
    # The lines are Markdown with their text escaped (a center id is config text).
    freshness = " ".join(caption.value for caption in app.sidebar.caption).replace("\\", "")
    assert "Data as of" in freshness
    assert "Providence Regional Intelligence Center:" in freshness
    assert "Rhode Island Fusion Center:" in freshness


def test_empty_store_says_how_to_load_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store_url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    ensure_demo_users(open_store(store_url), load_config(FIXTURE / "config"))
    at = open_app((FIXTURE / "config", store_url), monkeypatch)  # the Overview copes with no data
    assert [metric.value for metric in at.metric][:4] == ["0"] * 4
    at.switch_page("pages/data_health.py").run()
    assert not at.exception
    assert [metric.value for metric in at.metric] == ["0"] * 5
    assert "No data ingested yet" in at.sidebar.caption[0].value
    assert any("No rejected rows" in message.value for message in at.success)


def test_missing_config_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREAT_PICTURE_CONFIG", str(tmp_path / "no-config"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert "No configuration found" in at.error[0].value
