"""AppTests of the Coverage page on the ingested Rhode Island fixture: the figures for the
winter of 2025, a filter change, the county switch, and a gap with its reason when the config
lowers the thresholds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app_support import metric, open_app, table_with

PAGE = "pages/coverage.py"
# The fixture's incidents fall in January-February 2025.
WINTER_2025 = {"period": "custom", "start": "2025-01-01", "end": "2025-02-28"}



def test_coverage_figures_for_the_winter(ingested_ri: tuple[Path, str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page=PAGE)
    assert at.title[0].value == "Coverage gaps & redundancy"
    # Four categories x two regions; and P-101/P-104 make four active cells, none
    # with 10 incidents, so no gap.
    assert metric(at, "Gaps")[0] == "0"
    assert metric(at, "Active cells")[0] == "4/8"
    # Gangs in the North: RP-1 (rifc), PP-1 and PP-2 (prov).
    assert metric(at, "Covered by 2+ centers")[0] == "1"
    overlaps = table_with(at, "center_names")
    assert overlaps.iloc[0][["topic_label", "area_label", "center_count",
                             "current_products"]].tolist() == ["Gangs", "North", 2, 3]
    # RP-1 and PP-1: the same graffiti bulletin from both centers, two days apart.
    assert metric(at, "Near-duplicates")[0] == "1"
    assert any("Cluster 1" in block.value and "2 products from" in block.value
               for block in at.markdown)
    # P-100 repeats R-1.
    assert metric(at, "Duplicate reports")[0] == "1"
    pairs = table_with(at, "first_by_a")
    assert pairs.iloc[0].tolist() == ["Providence Regional Intelligence Center",
                                      "Rhode Island Fusion Center", 1, 0, 1, "Gangs"]
    assert any(success.value.startswith("No gap under these filters")
               for success in at.success)


def test_filters_and_the_county_switch_change_the_cells(ingested_ri: tuple[Path, str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page=PAGE)
    at.segmented_control(key="coverage_level").set_value("county").run()
    assert not at.exception, at.exception
    # R-1 and P-104 in Providence, R-2 in Kent, R-7 in Newport, P-101 in Bristol.
    assert metric(at, "Active cells")[0] == "5/20"
    at.multiselect(key="filter_categories").set_value(["narcotics"]).run()
    assert not at.exception, at.exception
    assert metric(at, "Active cells")[0] == "2/5"
    assert metric(at, "Near-duplicates")[0] == "0"
    assert metric(at, "Duplicate reports")[0] == "0"
    at.segmented_control(key="coverage_level").set_value("region").run()
    assert metric(at, "Active cells")[0] == "1/2"


def test_a_single_sar_in_the_south_is_a_gap_when_config_says_so(
        ri_any_activity: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ri_any_activity, monkeypatch, WINTER_2025, page=PAGE)
    assert metric(at, "Gaps")[0] == "1"
    gaps = table_with(at, "reason")
    assert gaps["reason"].tolist() == [
        "1 Suspicious activity incident in South from 2025-01-01 to 2025-02-28, none in the "
        "prior period; no current product; no product on record"]
    # Its weight (severity 2: 0.75) over the average active cell's (4.75 / 4).
    assert gaps["score"].tolist() == [pytest.approx(0.75 / (4.75 / 4))]
