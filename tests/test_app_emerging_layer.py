"""Issue 17: the Map's "Emerging hot spots" layer, off by default; on, a table of the counties in
view with a pattern, in words (a small California demo: the RI fixture has too few incidents for
any county to show a pattern)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.demo import generate
from dashboard.ingest.pipeline import run_ingest
from dashboard.security.accounts import ensure_demo_users
from dashboard.settings import load_config
from dashboard.store import open_store
from tests.app_support import open_app, table_with

# Twelve complete weeks ending on the demo's last Sunday: the same weeks on any real day.
TWELVE_WEEKS = {"period": "custom", "start": "2026-09-07", "end": "2026-11-29"}
HEADING = "Emerging hot spots (12 weeks to 29 Nov 2026)"


def shown_headers(at: AppTest, column: str) -> list[str]:
    """The headers a reader sees on the table with ``column``: its shown columns, as labelled."""
    frame = next(frame for frame in at.dataframe if column in frame.value.columns)
    labels = json.loads(frame.proto.columns)
    return [labels[name]["label"] for name in frame.proto.column_order]


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("emerging_app")
    generate(folder, incidents=5_000, today=date(2026, 11, 30))
    config = load_config(folder / "config")
    store_url = f"sqlite:///{folder / 'store.sqlite'}"
    engine = open_store(store_url)
    run_ingest(config, engine)
    ensure_demo_users(engine, config)
    return folder / "config", store_url


def test_the_emerging_layer_shows_its_table(small_demo: tuple[Path, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(small_demo, monkeypatch, TWELVE_WEEKS, page="pages/map.py")
    layers = at.pills(key="map_layers")
    assert "Emerging hot spots" in layers.options
    assert "Emerging hot spots" not in layers.value  # off by default: no cube computed
    assert not any(s.value.startswith("Emerging hot spots") for s in at.subheader)

    layers.set_value([*layers.value, "Emerging hot spots"]).run()
    assert not at.exception, at.exception
    assert HEADING in [s.value for s in at.subheader]
    # Readable headers, no codes (the FIPS is carried, not shown).
    assert shown_headers(at, "why") == ["County", "Region", "Class", "Trend (z, p)",
                                        "Weeks hot %", "Last week z", "Why"]
    table = table_with(at, "why")
    assert len(table) > 0
    assert "No Pattern Detected" not in set(table["class_name"])
    assert all(name.endswith(("Hot Spot", "Cold Spot")) for name in table["class_name"])
    assert all(why.startswith("A significant") for why in table["why"])
    assert all(re.fullmatch(r"[+-]\d+\.\d\d \(p \d\.\d{3}\)", trend) for trend in table["trend"])
    assert table["weeks_significant_pct"].between(0, 100).all()
    config = load_config(small_demo[0])
    assert set(table["region_name"]) <= set(config.labels["region"].values())

    # A place filter keeps its own counties only (the analysis stays statewide).
    first = table["county_fips"].iloc[0]
    at.multiselect(key="filter_counties").set_value([first]).run()
    assert not at.exception, at.exception
    assert list(table_with(at, "why")["county_fips"]) == [first]
