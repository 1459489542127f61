"""Data health and Administration as a reader meets them: a chart panel and axis per measure
that reaches past its longest bar, every bar labelled; tables with a reader's headers, centers
by their configured names and "—" (never "None") for no value; an audit CSV that says what the
table says and is named after its dates and filters."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.frames import load_health_frames
from dashboard.pagemodels.admin import accounts_view, audit_view, review_view
from dashboard.pagemodels.data_health import data_health_page
from dashboard.security import audit
from dashboard.security.policy import VisibilityClass
from dashboard.settings import load_config
from dashboard.store import open_store
from dashboard.views.health import rows_per_center_figure
from tests.app_support import open_app

NAMES = {"rifc": "Rhode Island Fusion Center", "prov": "Providence Regional Intelligence Center"}
CENTER_ID = re.compile(r"^(rifc|prov)$")
SNAKE_CASE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
ANALYST = VisibilityClass("analyst", "rifc", "TLP:AMBER")


def assert_reads_as_words(table: pd.DataFrame, where: str) -> None:
    """Headers a reader would write, no "None", no bare center id."""
    for header in table.columns:
        assert not SNAKE_CASE.match(str(header)) and str(header)[:1].isupper(), (where, header)
    for column in table.columns:
        cells = table[column].tolist()
        assert all(cell is not None and not (isinstance(cell, float) and pd.isna(cell))
                   for cell in cells), (where, column)
        assert "None" not in [str(cell) for cell in cells], (where, column)
        assert not any(CENTER_ID.match(str(cell)) for cell in cells), (where, column)


def test_rows_per_center_gives_each_measure_its_own_axis_past_its_longest_bar() -> None:
    # Two centers at 61,215 incidents: an axis that stops at 60,000 clips them.
    per_center = pl.DataFrame({
        "center_id": ["a", "b", "c"], "name": ["Alpha Center", "Beta Center", "Gamma Center"],
        "incidents": [61_215, 61_215, 2_300], "products": [310, 12, 0],
        "quarantined": [4, 0, 1]})
    figure = json.loads(rows_per_center_figure(per_center).to_json())
    bars = figure["data"]
    assert [bar["name"] for bar in bars] == ["Incidents stored", "Products stored",
                                             "Rows quarantined"]
    # A panel and axis each: products (hundreds) and quarantined rows (ones) are not drawn on
    # the incidents' scale (tens of thousands), where they would not show.
    assert len({bar["xaxis"] for bar in bars}) == 3
    layout = figure["layout"]
    for bar in bars:
        assert bar["orientation"] == "h"
        assert bar["y"] == ["Alpha Center", "Beta Center", "Gamma Center"]  # names, not ids
        axis = layout["xaxis" + bar["xaxis"][1:]]
        low, high = axis["range"]
        assert low == 0 and high > max(bar["x"])  # reaches past the longest bar
        assert bar["text"] == [f"{value:,}" for value in bar["x"]]  # each bar labelled
    assert "legend" not in layout or layout.get("showlegend") is False  # titles, not a legend
    titles = [a["text"] for a in layout["annotations"]]
    assert titles == ["Incidents stored", "Products stored", "Rows quarantined"]


def test_data_health_model_names_centers_and_shows_no_none(
        ingested_ri: tuple[Path, str]) -> None:
    config = load_config(ingested_ri[0])
    page = data_health_page(ANALYST, load_health_frames(open_store(ingested_ri[1])),
                            datetime.now(UTC), config)
    assert page.per_center["name"].to_list() == sorted(NAMES.values())
    assert page.per_center_table["Kind"].to_list() == ["Urban area", "State"]
    chart = json.loads(page.per_center_chart.to_json())
    assert chart["data"][0]["y"] == sorted(NAMES.values())
    assert page.quarantine_centers == {"prov": NAMES["prov"], "rifc": NAMES["rifc"]}
    for name, table in {"per center": page.per_center_table, "feeds": page.freshness,
                        "quarantine summary": page.quarantine_summary,
                        "quarantined rows": page.quarantine_rows([], [], ""),
                        "flagged": page.flagged, "links": page.links}.items():
        assert table is not None
        assert_reads_as_words(table.to_pandas(), name)
    # Another center's rejected values are withheld from an analyst, in words.
    rows = page.quarantine_rows(["prov"], [], "")
    assert set(rows["Value"]) == {"(withheld: another center's feed)"}
    flagged = page.flagged.row(0, named=True)
    assert flagged["Flag"] in {"Outside the state", "County mismatch"}
    assert flagged["County from"] in {"Feed", "Coordinates"}


@pytest.fixture()
def health_app(ingested_ri: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return open_app(ingested_ri, monkeypatch, page="pages/data_health.py")


def test_data_health_page_tables_read_as_words(health_app: AppTest) -> None:
    tables = [frame.value for frame in health_app.dataframe]
    assert len(tables) >= 5  # per center, feeds, quarantine summary and rows, links
    for number, table in enumerate(tables):
        assert_reads_as_words(table, f"data health table {number}")
    chart = json.loads(health_app.get("plotly_chart")[0].proto.spec)
    assert len({bar["xaxis"] for bar in chart["data"]}) == 3


def test_audit_trail_reads_as_words_and_its_csv_says_the_same(
        ingested_ri: tuple[Path, str]) -> None:
    store = open_store(ingested_ri[1])
    now = datetime.now(UTC)
    audit.record(store, "clerk", "download", page="compstat_csv", rows=12_345,
                 detail={"file": "x.csv"})
    audit.record(store, "clerk", "page_view", page="data_health")
    today = now.date()
    view = audit_view(store, today - timedelta(days=1), today, ["download", "page_view"],
                      "cle")
    rows = view.rows
    assert rows.columns == ["Entry", "When (UTC)", "User", "Action", "Where", "Rows", "Detail"]
    assert rows["Action"].to_list() == ["Page view", "Download"]  # newest first
    assert rows["Where"].to_list() == ["Data health", "Compstat csv"]
    assert rows["Rows"].to_list() == ["—", "12,345"]
    assert rows["Detail"][0] == "—"
    assert_reads_as_words(rows.to_pandas(), "audit")
    assert view.csv_name == (f"audit_{today - timedelta(days=1)}-to-{today}_download_page-view_"
                             "user-cle.csv")
    exported = pl.read_csv(io.BytesIO(view.csv))
    assert exported.columns == rows.columns
    assert exported["Rows"].to_list() == [None, 12_345]  # a number; no value: an empty cell
    assert exported["When (UTC)"].to_list() == rows["When (UTC)"].to_list()
    assert "None" not in view.csv.decode("utf-8-sig")


def test_review_and_accounts_read_as_words(ingested_ri: tuple[Path, str]) -> None:
    config = load_config(ingested_ri[0])
    store = open_store(ingested_ri[1])
    names = config.labels["center"]
    due = review_view(store, 3650 * 3, datetime.now(UTC), names).due
    assert not due.is_empty()
    assert set(due["Record"]) <= {"Incident", "Product"}
    assert set(due["Center"]) <= set(NAMES.values())
    assert_reads_as_words(due.to_pandas(), "due for review")
    users = accounts_view(store, names)
    assert_reads_as_words(users.to_pandas(), "accounts")
    assert set(users["Center"]) <= set(NAMES.values())
    assert set(users["Role"]) == {"Admin", "Leadership", "Analyst", "Partner"}
    assert set(users["Signs in with"]) == {"Password"}
    partner = users.filter(pl.col("User name") == "partner").row(0, named=True)
    assert partner["Locked until (UTC)"] == "—"
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d$", partner["Created (UTC)"])


def test_administration_page_tables_read_as_words(ingested_ri: tuple[Path, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(ingested_ri, monkeypatch, page="pages/admin.py", role="admin")
    at.number_input(key="review_within").set_value(3650).run()
    assert not at.exception
    tables = {frame.value.columns[0]: frame.value for frame in at.dataframe}
    assert set(tables) == {"Entry", "Record", "User name"}  # audit, review, accounts
    for name, table in tables.items():
        assert_reads_as_words(table, name)
    assert date.fromisoformat(tables["Entry"]["When (UTC)"].iloc[0][:10]) <= date.today()


def test_audit_details_read_as_words_with_centers_by_name(
        ingested_ri: tuple[Path, str]) -> None:
    # The Detail column showed raw JSON: {"center_id": "rifc", "client": null, "role": ...}.
    store = open_store(ingested_ri[1])
    audit.record(store, "scribe", "sign_in", page="local",
                 detail={"role": "analyst", "center_id": "rifc", "client": None})
    audit.record(store, "scribe", "analyze", page="analyze",
                 detail={"filters": {"period": "90d", "counties": ["44007", "44001"]},
                         "data_version": 7})
    today = datetime.now(UTC).date()
    view = audit_view(store, today, today, ["sign_in", "analyze"], "scribe", NAMES)
    assert view.rows["Detail"].to_list() == [
        "Data version: 7 · Filters: counties=44007, 44001; period=90d",
        "Center: Rhode Island Fusion Center · Role: Analyst"]
    assert_reads_as_words(view.rows.to_pandas(), "audit details")
    for detail in view.rows["Detail"]:
        assert not re.search(r"[{}]|null|center_id", detail), detail
    # The export says what the table says.
    exported = pl.read_csv(io.BytesIO(view.csv))
    assert exported["Detail"].to_list() == view.rows["Detail"].to_list()
