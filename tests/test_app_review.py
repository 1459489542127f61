"""Issue 14, item 6, in AppTests on the Rhode Island fixture: what a first look at 1440x900 found
in the tables and the sidebar.

- A table wider than the page keeps the column that says what a row is (county, center, topic
  and place, account) pinned, and puts the long text (a sentence, a list of centers) last, so
  that the figures are in view before the scroll.
- The sidebar names the viewer's role and center in words, not "analyst · rifc".
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.app_support import open_app

WINTER_2025 = {"period": "custom", "start": "2025-01-01", "end": "2025-02-28"}


def layout_of(at: AppTest, column: str) -> tuple[list[str], list[str]]:
    """Of the first table on the page with ``column``: its headers in the order shown (pinned
    columns first, as Streamlit draws them), and those pinned (Streamlit's column
    configuration, as the browser receives it)."""
    element = next(frame for frame in at.dataframe if column in frame.value.columns)
    config = json.loads(element.proto.columns)
    order = list(element.proto.column_order) or [
        name for name in element.value.columns if not config.get(name, {}).get("hidden")]

    def header(name: str) -> str:
        return str(config.get(name, {}).get("label") or name)

    pinned = [name for name in order if config.get(name, {}).get("pinned")]
    return ([header(name) for name in pinned + [n for n in order if n not in pinned]],
            [header(name) for name in pinned])


def test_map_table_puts_the_county_first_and_pinned_and_the_code_last(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page="pages/map.py")
    headers, pinned = layout_of(at, "hotspot_class")
    assert pinned == ["County"]
    assert headers[:3] == ["County", "Region", "Incidents"]
    assert headers.index("Hot spot") < headers.index("Per 1,000 km²")
    assert headers[-1] == "FIPS"
    partner = open_app(ingested_ri, monkeypatch, WINTER_2025, page="pages/map.py",
                       role="partner")
    headers, pinned = layout_of(partner, "hotspot_class")
    assert pinned == ["County"] and "Withheld" in headers


def test_data_health_tables_keep_the_center_in_view(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, page="pages/data_health.py")
    for column, key_columns in {"Location": ["Center"], "Example reason": ["Center"],
                                "Raw record": ["Center", "Row/line"],
                                "Apart (km)": ["Center", "Incident"]}.items():
        headers, pinned = layout_of(at, column)
        assert pinned == key_columns, column
        assert headers[:len(key_columns)] == key_columns, column
    # A feed's freshness and what its last load read come before when it was checked.
    headers, _ = layout_of(at, "Location")
    assert headers[:8] == ["Center", "Source", "Table", "Format", "Age (h)", "Rows read",
                           "Rejected", "Read"]



def test_coverage_tables_show_the_cell_and_its_figures_before_the_words(
        ri_any_activity: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ri_any_activity, monkeypatch, WINTER_2025, page="pages/coverage.py")
    headers, pinned = layout_of(at, "reason")
    assert pinned == ["#", "Topic", "Region"]
    assert headers[:4] == ["#", "Topic", "Region", "Gap score"] and headers[-1] == "Why"
    headers, pinned = layout_of(at, "center_names")
    assert pinned == ["Topic", "Region"] and headers[-1] == "Who"
    headers, pinned = layout_of(at, "first_by_a")
    assert pinned == ["Center A", "Center B"]


def test_accounts_keep_the_user_name_in_view(ingested_ri: tuple[Path, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, page="pages/admin.py", role="admin")
    headers, pinned = layout_of(at, "User name")
    assert pinned == ["User name"] and headers[0] == "User name"


def test_sidebar_names_the_role_and_the_center(ingested_ri: tuple[Path, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, role="leadership")
    signed_in = [text.value for text in at.sidebar.text if text.value.startswith("Signed in")]
    home = pd.Series(signed_in).str.split(" · ").iloc[0]
    assert home[1:3] == ["Leadership", "Rhode Island Fusion Center"], signed_in
