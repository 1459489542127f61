"""AppTests of the Centers page on the ingested Rhode Island fixture: the summary's figures, and
the shared filters changing them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from dashboard.views.formatting import markdown_text
from tests.app_support import metric, open_app, table_with

# The fixture's incidents fall in January-February 2025: rifc filed; prov filed
# P-100 (the same event as R-1), P-101, P-104.
WINTER_2025 = {"period": "custom", "start": "2025-01-01", "end": "2025-02-28"}


RIFC, PROV = "Rhode Island Fusion Center", "Providence Regional Intelligence Center"


def _summary(at: object) -> dict[str, dict[str, object]]:
    table = table_with(at, "Share")  # type: ignore[arg-type]
    return {row["Center"]: row for row in table.to_dict("records")}


def test_summary_credits_each_center_with_its_reports(ingested_ri: tuple[Path, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page="pages/centers.py")
    assert at.title[0].value == "Centers · Statewide · 01 Jan 2025 – 28 Feb 2025"
    assert metric(at, "Incidents statewide")[0] == "5"
    assert metric(at, "Reports statewide")[0] == "6"
    assert metric(at, "Filed by two centers")[0] == "1"
    summary = _summary(at)
    # Centers by their configured names, in full; headers a reader's.
    assert set(summary) == {RIFC, PROV}
    assert list(summary[PROV]) == ["Center", "Kind", "Incidents", "Share", "Products",
                                   "Median lag", "90 % within", "Outside AOR", "Last report"]
    assert summary[RIFC]["Incidents"] == summary[PROV]["Incidents"] == 3
    assert summary[RIFC]["Share"] == summary[PROV]["Share"] == "50.0 %"
    assert summary[PROV]["Products"] == 2  # PP-1, PP-2
    # The fixture's feeds carry no report time: the lag is unknown, not zero, and never None.
    assert summary[RIFC]["Median lag"] == summary[RIFC]["90 % within"] == "unknown"
    assert summary[PROV]["Outside AOR"] == "0.0 %"
    assert all(value is not None and value != "None" for row in summary.values()
               for value in row.values())
    lag_note = next(c.value for c in at.caption if "Left out of the lag" in c.value)
    assert markdown_text(f"{RIFC}: 3 of 3 without a report time") in lag_note
    # Washington is in the statewide center's AOR only.
    only_statewide = table_with(at, "County")
    assert only_statewide["County"].tolist() == ["Washington"]


def test_center_and_period_filters_change_the_summary(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page="pages/centers.py")
    at.multiselect(key="filter_centers").set_value(["prov"]).run()
    assert not at.exception, at.exception
    summary = _summary(at)
    assert list(summary) == [PROV]
    assert summary[PROV]["Share"] == "50.0 %"  # still a share of every center's reports
    assert metric(at, "Reports statewide")[0] == "6"

    at.multiselect(key="filter_centers").set_value([]).run()
    at.date_input(key="filter_custom_range").set_value((date(2025, 2, 1),
                                                        date(2025, 2, 28))).run()
    assert not at.exception, at.exception
    summary = _summary(at)
    # February: R-7 (rifc, Newport) and P-104 (prov, Providence).
    assert summary[RIFC]["Incidents"] == summary[PROV]["Incidents"] == 1
    assert metric(at, "Incidents statewide")[0] == "2"


def test_detail_picker_shows_a_center_against_its_aor(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, {**WINTER_2025, "regions": ["north"]},
                  page="pages/centers.py")
    picker = at.selectbox(key="centers_detail_center")
    assert picker.options == [RIFC, PROV]  # by name, not by id
    picker.set_value("rifc").run()
    assert not at.exception, at.exception
    assert metric(at, "Reports")[0] == "2"  # in the North region
    assert metric(at, "% outside AOR")[0] == "0.0 %"
    assert f"**{markdown_text(RIFC)}: region by region**" in [m.value for m in at.markdown]
    regions = table_with(at, "AOR counties")
    assert regions.to_dict("records") == [{"Region": "North", "Reports": 2,
                                           "Outside AOR": 0, "AOR counties": "3 of 3"}]


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
    assert list(_summary(at)) == [PROV]
    # The same selection on later runs does not fight a filter the user changes afterwards.
    at.multiselect(key="filter_centers").set_value([]).run()
    assert metric(at, "Centers reporting")[0] == "2 of 2"


def test_a_product_opens_in_full_from_its_row(
        ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, WINTER_2025, page="pages/centers.py")
    products = table_with(at, "Title")
    assert list(products.columns) == ["Published", "Center", "Title", "Type", "Marking"]
    row = products["Title"].tolist().index("Gang graffiti trends in Providence")
    assert products.loc[row, "Center"] == PROV
    at.session_state["centers_products_table"] = {
        "selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    opened = next(m.value for m in at.markdown if m.value.startswith("**Gang graffiti"))
    assert opened.split("\n\n") == [
        f"**{markdown_text('Gang graffiti trends in Providence')}**",
        markdown_text(f"22 Jan 2025 · {PROV} · Intelligence bulletin · TLP:AMBER"),
        markdown_text("Topics: Gangs"),
        markdown_text("Tagging along the rail corridor is rising.")]
    assert not at.get("link_button")  # the feeds give no link to open

