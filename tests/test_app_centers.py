"""AppTests of the Centers page on the ingested Rhode Island fixture: the summary's figures, and
the shared filters changing them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.app_support import metric, open_app, table_with

# The fixture's incidents fall in January-February 2025: rifc filed; prov filed
# P-100 (the same event as R-1), P-101, P-104.
WINTER_2025 = {"period": "custom", "start": "2025-01-01", "end": "2025-02-28"}


def _summary(at: object) -> dict[str, dict[str, object]]:
    table = table_with(at, "share_pct")  # type: ignore[arg-type]
    return {row["center_id"]: row for row in table.to_dict("records")}


def test_summary_credits_each_center_with_its_reports(ingested_ri: tuple[Path, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page="pages/centers.py")
    assert at.title[0].value == "Centers"
    assert metric(at, "Incidents statewide")[0] == "5"
    assert metric(at, "Reports statewide")[0] == "6"
    assert metric(at, "Filed by two centers")[0] == "1"
    summary = _summary(at)
    assert set(summary) == {"RIFC", "PROV"}
    assert summary["RIFC"]["incidents"] == summary["PROV"]["incidents"] == 3
    assert summary["RIFC"]["share_pct"] == summary["PROV"]["share_pct"] == 50.0
    assert summary["PROV"]["also_reported_by_other"] == 1
    assert summary["PROV"]["products"] == 2  # PP-1, PP-2
    # The fixture's feeds carry no report time: the lag is unknown, not zero.
    assert summary["RIFC"]["lag_unknown"] == 3
    assert summary["RIFC"]["median_lag_h"] != summary["RIFC"]["median_lag_h"]  # NaN: empty
    assert summary["PROV"]["outside_aor_pct"] == 0.0
    # Washington is in the statewide center's AOR only.
    only_statewide = table_with(at, "county_name")
    assert only_statewide["county_name"].tolist() == ["Washington"]


def test_center_and_period_filters_change_the_summary(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page="pages/centers.py")
    at.multiselect(key="filter_centers").set_value(["prov"]).run()
    assert not at.exception, at.exception
    summary = _summary(at)
    assert list(summary) == ["PROV"]
    assert summary["PROV"]["share_pct"] == 50.0  # still a share of every center's reports
    assert metric(at, "Reports statewide")[0] == "6"

    at.multiselect(key="filter_centers").set_value([]).run()
    at.date_input(key="filter_custom_range").set_value((date(2025, 2, 1),
                                                        date(2025, 2, 28))).run()
    assert not at.exception, at.exception
    summary = _summary(at)
    # February: R-7 (rifc, Newport) and P-104 (prov, Providence).
    assert summary["RIFC"]["incidents"] == summary["PROV"]["incidents"] == 1
    assert metric(at, "Incidents statewide")[0] == "2"


def test_detail_picker_shows_a_center_against_its_aor(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, {**WINTER_2025, "regions": ["north"]},
                  page="pages/centers.py")
    at.selectbox(key="centers_detail_center").set_value("rifc").run()
    assert not at.exception, at.exception
    assert metric(at, "Reports")[0] == "2"  # in the North region
    assert metric(at, "% outside AOR")[0] == "0.0 %"
    regions = table_with(at, "aor_share")
    assert regions.to_dict("records") == [{"region_name": "North", "incidents": 2,
                                           "outside_aor": 0, "aor_share": "3 of 3"}]


def _click(center_id: str) -> dict[str, object]:
    """What st.plotly_chart(on_select="rerun") stores for a click on a center's bar."""
    return {"selection": {"points": [{"customdata": [center_id, 1]}], "point_indices": [0],
                          "box": [], "lasso": []}}


def test_clicking_a_center_narrows_the_shared_filters(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page="pages/centers.py")
    at.session_state["centers_lag"] = _click("<b>nowhere</b>")  # not a center: ignored
    at.run()
    assert not at.exception, at.exception
    assert at.multiselect(key="filter_centers").value == []
    at.session_state["centers_lag"] = _click("prov")
    at.run()
    assert not at.exception, at.exception
    assert at.multiselect(key="filter_centers").value == ["prov"]
    assert at.query_params["centers"] in ("prov", ["prov"])
    assert list(_summary(at)) == ["PROV"]
    # The same selection on later runs does not fight a filter the user changes afterwards.
    at.multiselect(key="filter_centers").set_value([]).run()
    assert metric(at, "Centers reporting")[0] == "2 of 2"
