"""AppTests of the Trends page on the ingested Rhode Island fixture: the split and granularity
switches change the series, the shared filters change the CompStat figures, the anomaly rule
explained is the configured one, and partners see no small count."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.ingest.pipeline import run_ingest
from dashboard.security.accounts import ensure_demo_users
from dashboard.settings import load_config
from dashboard.store import open_store
from dashboard.views.export import to_safe_csv
from dashboard.views.trends import (
    cell_selection_changes,
    compstat_display,
    series_selection_changes,
)
from tests.app_support import metric, open_app, table_with
from tests.conftest import RI_FIXTURE

# The fixture's incidents fall in January-February 2025 (and one in November).
WINTER_2025 = {"period": "custom", "start": "2025-01-01", "end": "2025-02-28"}
PAGE = "pages/trends.py"


def series_chart(at: AppTest) -> dict[str, list[object]]:
    """Incidents per series on the main chart (trace name -> y values), baselines left out."""
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return {trace["name"]: trace["y"] for trace in spec["data"]
            if not trace["name"].endswith(" baseline") and trace["name"] != "Anomaly"}


def test_split_and_granularity_switch_the_series(ingested_ri: tuple[Path, str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page=PAGE)
    # Scoped like every other page (issue 14): place and period, then any filter.
    assert at.title[0].value == "Trends · Statewide · 01 Jan 2025 – 28 Feb 2025"
    by_category = series_chart(at)
    # Weeks from 13 January (the data start on the 15th) to 24 February.
    assert by_category == {"Narcotics": [0, 1, 0, 0, 1, 0, 0], "Cybercrime": [1, 0, 0, 0, 0, 0, 0],
                           "Gangs": [1, 0, 0, 0, 0, 0, 0],
                           "Suspicious activity": [0, 0, 0, 1, 0, 0, 0]}

    at.segmented_control(key="trends_split").set_value("region").run()
    assert series_chart(at) == {"North": [2, 1, 0, 0, 1, 0, 0], "South": [0, 0, 0, 1, 0, 0, 0]}

    at.segmented_control(key="trends_granularity").set_value("month").run()
    assert not at.exception
    assert series_chart(at) == {"North": [3, 1], "South": [0, 1]}

    # Every report counted: P-100 repeats R-1 (gangs, North, 15 January).
    at.toggle(key="filter_duplicates_once").set_value(False).run()
    assert series_chart(at) == {"North": [4, 1], "South": [0, 1]}
    # No series in this little fixture rises significantly: the page says so.
    assert any("rose significantly" in info.value for info in at.info)


def test_category_filter_changes_the_compstat_figures(ingested_ri: tuple[Path, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page=PAGE)
    # As of 28 February 2025: the year so far is, P-101, R-7, P-104; 1-28 February
    # (R-7, P-104) against 4-31 January (R-1, R-2, P-101).
    assert metric(at, "Year to date") == ("5", "+5 (new)")
    assert metric(at, "Last 28 days") == ("2", "-1 (-33.3 %)")
    assert metric(at, "Last 7 days") == ("0", "no change")
    table = table_with(at, "28d").set_index("category")
    assert table.loc["narcotics", ["28d", "28d_prior", "ytd", "ytd_prior"]].tolist() == [
        1, 1, 2, 0]
    assert table.loc["cybercrime", "28d_change"] == -1
    assert table.loc["cybercrime", "28d_change_pct"] == -100.0

    at.multiselect(key="filter_categories").set_value(["narcotics"]).run()
    assert metric(at, "Year to date") == ("2", "+2 (new)")
    narcotics = table_with(at, "28d")
    assert narcotics["category"].tolist() == ["narcotics"]
    assert narcotics[["28d", "28d_prior", "28d_change", "28d_change_pct"]].iloc[0].tolist() == [
        1, 1, 0, 0.0]

    at.toggle(key="compstat_by_region").set_value(True).run()
    by_region = table_with(at, "region_id").set_index("region_id")
    assert by_region["ytd"].to_dict() == {"north": 2, "south": 0}
    assert by_region.loc["north", "name"] == "North"


def test_the_explained_rule_is_the_configured_one(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(RI_FIXTURE, tmp_path, dirs_exist_ok=True)
    settings = tmp_path / "config" / "settings.toml"
    settings.write_text(settings.read_text() + "\n[anomalies]\nmethod = \"negative_binomial\"\n"
                        "baseline_weeks = 6\nalpha = 0.05\ncorrection = \"bonferroni\"\n"
                        "min_count = 7\n", encoding="utf-8")
    config = load_config(tmp_path / "config")
    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = open_store(store_url)
    run_ingest(config, store)
    ensure_demo_users(store, config)
    at = open_app((tmp_path / "config", store_url), monkeypatch, WINTER_2025, page=PAGE)
    explained = " ".join(m.value for m in at.markdown if "baseline" in m.value)
    for wanted in ("**6 whole weeks**", "**negative binomial**", "Bonferroni",
                   "below **0.05**", "at least **7** incidents", "**1.5 ×**"):
        assert wanted in explained


def test_partners_see_no_small_count(ingested_ri: tuple[Path, str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page=PAGE, role="partner")
    table = table_with(at, "28d")
    counts = table[["7d", "7d_prior", "28d", "28d_prior", "ytd", "ytd_prior"]]
    # Every week x county x category cell here is below the partner threshold of 5: none is
    # released, so every figure (counts, changes, totals) is computed from nothing.
    assert set(counts.stack().tolist()) == {0}
    assert set(table["28d_change"].tolist()) == {0}
    assert metric(at, "Year to date")[0] == "0"
    assert any("withheld and counted in no figure" in info.value for info in at.info)
    # Days, centers and the hour x weekday rhythm are not in the release.
    assert at.segmented_control(key="trends_split").options == ["Category", "Region"]
    assert at.segmented_control(key="trends_granularity").options == ["Week", "Month"]
    assert "Rhythm" not in [header.value for header in at.subheader]
    assert all(value is None or value == 0 for values in series_chart(at).values()
               for value in values)


def test_selections_become_filter_changes() -> None:
    points = [["narcotics", "2025-01-13", "2025-01-19"], ["gangs", "2025-01-20", "2025-01-26"]]
    assert series_selection_changes(points, "category") == {
        "period": "custom", "start": date(2025, 1, 13), "end": date(2025, 1, 26),
        "categories": ("gangs", "narcotics")}
    assert series_selection_changes([["north", "2025-02-01", "2025-02-28"]], "region")[
        "counties"] == ()
    assert cell_selection_changes([["narcotics", "north", "2025-01-13", "2025-01-19"]]) == {
        "categories": ("narcotics",), "regions": ("north",), "counties": ()}


def test_compstat_csv_is_formula_safe() -> None:
    table = pl.DataFrame({"category": ["narcotics"], "28d": [3]})
    shown = compstat_display(table, "category", {"narcotics": "=HYPERLINK(\"x\")"})
    assert shown.columns == ["name", "category", "28d"]
    assert to_safe_csv(shown).decode("utf-8-sig").splitlines()[1].startswith("\"'=HYPERLINK")
