"""The Centers page's model: one y-axis per chart panel, every center by its configured name in
full (tables, axes, titles, hover), tables with a reader's headers and no "None", the period's
products each opened in full, and a CSV rounded as shown and named after its view."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import plotly.graph_objects as go
import polars as pl
import pytest

from dashboard.analytics.centers import SUMMARY_COLUMNS
from dashboard.analytics.filters import Filters
from dashboard.frames import load_picture_frames
from dashboard.pagemodels.centers import CentersPage, centers_page, summary_csv
from dashboard.security.audience import ViewData, view_data
from dashboard.security.policy import VisibilityClass
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store

TODAY = date(2025, 3, 1)
WINTER = Filters(period="custom", start=date(2025, 1, 1), end=date(2025, 2, 28))
LEADERSHIP = VisibilityClass("leadership", "rifc", "TLP:AMBER+STRICT", need_to_know=True)
NAMES = {"rifc": "Rhode Island Fusion Center", "prov": "Providence Regional Intelligence Center"}
# A center's id, in any case, standing alone (not "Providence").
CENTER_ID = re.compile(r"\b(rifc|prov)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def ri(ingested_ri: tuple[Path, str]) -> tuple[ProjectConfig, ViewData]:
    config = load_config(ingested_ri[0])
    frames = load_picture_frames(open_store(ingested_ri[1]), config.settings.timezone)
    return config, view_data(frames, LEADERSHIP, config.settings.security.partner_min_count,
                             TODAY, config.settings.timezone)


@pytest.fixture(scope="module")
def page(ri: tuple[ProjectConfig, ViewData]) -> CentersPage:
    return centers_page(*ri, WINTER, TODAY)


def charts(page: CentersPage) -> dict[str, go.Figure]:
    return {"weekly": page.weekly_chart, "lag": page.lag_chart,
            "products": page.products_chart,
            **{f"overlap {m}": figure for m, figure in page.overlap_charts.items()},
            **{f"detail {c}": detail.categories for c, detail in page.details.items()}}


def shown_text(figure: go.Figure) -> list[str]:
    """Every text a reader sees on a figure: titles, annotations, tick and category labels,
    trace names and hover templates (not customdata, which carries ids for clicks)."""
    layout = json.loads(figure.to_json())["layout"]
    texts = [str(layout.get("title", {}).get("text", ""))]
    texts += [str(a.get("text", "")) for a in layout.get("annotations", [])]
    for key, axis in layout.items():
        if key.startswith(("xaxis", "yaxis")):
            texts += [str(t) for t in axis.get("ticktext", [])]
            texts.append(str(axis.get("title", {}).get("text", "")))
    for trace in figure.data:
        texts += [str(trace.name or ""), str(getattr(trace, "hovertemplate", "") or "")]
        for values in (getattr(trace, "x", None), getattr(trace, "y", None)):
            texts += [v for v in (values or []) if isinstance(v, str)]
    return texts


def test_every_panel_has_one_y_axis(page: CentersPage) -> None:
    for name, figure in charts(page).items():
        layout = figure.layout
        axes = [key for key in layout.to_plotly_json() if key.startswith("yaxis")]
        assert all(layout[key].overlaying is None for key in axes), name
        per_axis: dict[str, set[str]] = {}
        for trace in figure.data:
            per_axis.setdefault(trace.yaxis or "y", set()).add(trace.name or "")
        # Each axis carries one measure (stacked bands of one measure count as one).
        measures = {axis: {"Incidents" if n == "Incidents" else "Products" if n == "Products"
                           else "other" for n in names} for axis, names in per_axis.items()}
        assert all(len(found) == 1 for found in measures.values()), (name, measures)
    weekly = page.weekly_chart
    assert {trace.name for trace in weekly.data} == {"Incidents", "Products"}
    incident_axes = {trace.yaxis for trace in weekly.data if trace.name == "Incidents"}
    product_axes = {trace.yaxis for trace in weekly.data if trace.name == "Products"}
    assert incident_axes.isdisjoint(product_axes)
    assert len(incident_axes) == len(product_axes) == 2  # one row per center


def test_centers_are_named_in_full_never_by_id(page: CentersPage) -> None:
    assert sorted(page.summary["Center"].to_list()) == sorted(NAMES.values())
    assert list(page.lag_chart.data[0].y) == [NAMES[c] for c in page.order]
    overlap = page.overlap_charts["shared_counties"].data[0]
    for labels in (overlap.x, overlap.y):
        assert [label.replace("<br>", " ") for label in labels] == [
            NAMES[c] for c in page.order]
    titles = [a.text.replace("<br>", " ") for a in page.products_chart.layout.annotations]
    assert set(NAMES.values()) <= set(titles)
    weekly = [a.text for a in page.weekly_chart.layout.annotations]
    assert {f"<b>{name}</b>" for name in NAMES.values()} <= set(weekly)
    for name, figure in charts(page).items():
        found = [text for text in shown_text(figure) if CENTER_ID.search(text)]
        assert found == [], (name, found)
    assert {page.names[c] for c in page.order} == set(NAMES.values())
    assert all(not CENTER_ID.search(text) for text in (page.lag_note, *page.products["Center"]))


def test_summary_has_a_readers_headers_and_no_none(
        ri: tuple[ProjectConfig, ViewData]) -> None:
    # Cybercrime: only R-2 (rifc); Providence's center has no report, so no lag, no share of
    # its reports outside its AOR and no last report.
    page = centers_page(*ri, WINTER.with_changes(categories=("cybercrime",)), TODAY)
    summary = page.summary
    assert summary.columns == ["Center", "Kind", "Incidents", "Share", "Products",
                               "Median lag", "90 % within", "Outside AOR", "Last report"]
    rows = {row["Center"]: row for row in summary.iter_rows(named=True)}
    providence = rows[NAMES["prov"]]
    assert (providence["Kind"], providence["Incidents"], providence["Share"],
            providence["Median lag"], providence["Outside AOR"], providence["Last report"]) == (
        "Urban area", 0, "0.0 %", "—", "—", "—")
    assert rows[NAMES["rifc"]]["Share"] == "100.0 %"
    for row in summary.iter_rows():
        assert all(cell is not None and cell != "None" and cell == cell for cell in row), row
    for table in (page.uncovered, page.only_statewide, page.products,
                  *(d.regions for d in page.details.values()),
                  *(d.outside_counties for d in page.details.values())):
        assert all("_" not in column for column in table.columns), table.columns
    assert page.details["prov"].outside_aor_pct == "—"


def test_summary_csv_is_rounded_as_shown_with_a_readers_headers() -> None:
    summary = pl.DataFrame([
        {"center_id": "rifc", "name": "Rhode Island Fusion Center", "kind": "state",
         "incidents": 3, "share_pct": 100 / 3, "also_reported_by_other": 0, "products": 1,
         "median_lag_h": 2.0 / 3, "p90_lag_h": None, "lag_unknown": 1, "lag_negative": 0,
         "outside_aor": 1, "outside_aor_pct": 200 / 3,
         "last_report_at": datetime(2025, 2, 4, 16, 0, 12, tzinfo=UTC)},
    ], schema_overrides={"p90_lag_h": pl.Float64}).select(SUMMARY_COLUMNS)
    text = summary_csv(summary).decode("utf-8-sig")
    table = pl.read_csv(io.StringIO(text))
    row = table.row(0, named=True)
    assert (row["Share of statewide reports (%)"], row["Median lag (hours)"],
            row["90 % within (hours)"], row["Outside AOR (%)"], row["Last report"],
            row["Kind"]) == (33.3, 0.7, None, 66.7, "2025-02-04 16:00", "State")
    assert "33.33" not in text and "0.666" not in text
    assert all("_" not in column for column in table.columns)


def test_csv_name_carries_the_period_and_the_filters(
        ri: tuple[ProjectConfig, ViewData], page: CentersPage) -> None:
    assert page.csv_name == "centers_2025-01-01-to-2025-02-28.csv"
    narcotics = centers_page(*ri, WINTER.with_changes(categories=("narcotics",),
                                                      centers=("prov",)), TODAY)
    assert narcotics.csv_name == "centers_2025-01-01-to-2025-02-28_narcotics_prov.csv"


def test_products_are_listed_whole_and_open_in_full(page: CentersPage) -> None:
    products = page.products
    assert products.columns == ["Published", "Center", "Title", "Type", "Marking"]
    assert products["Published"].to_list() == sorted(products["Published"].to_list(),
                                                     reverse=True)
    by_title = {card.title: card for card in page.product_cards}
    assert products["Title"].to_list() == [card.title for card in page.product_cards]
    gangs = by_title["Gang graffiti trends in Providence"]
    assert (gangs.center, gangs.product_type, gangs.marking, gangs.topics, gangs.summary) == (
        NAMES["prov"], "Intelligence bulletin", "TLP:AMBER", "Gangs",
        "Tagging along the rail corridor is rising.")
    assert "Gang graffiti trends in Providence" in gangs.details_markdown()


def test_weekly_rows_share_one_scale_per_measure(page: CentersPage) -> None:
    # Small multiples compared row against row: a center of 120 incidents a week drawn on its
    # own axis looked as busy as one of 600 (issue 14).
    layout = page.weekly_chart.layout
    ranges: dict[str, set[tuple[float, float]]] = {}
    most: dict[str, float] = {}
    for trace in page.weekly_chart.data:
        axis = layout["yaxis" + (trace.yaxis or "y")[1:]]
        assert axis.range is not None, trace.yaxis
        ranges.setdefault(trace.name, set()).add(tuple(axis.range))
        most[trace.name] = max(most.get(trace.name, 0), *trace.y)
    assert {name: len(found) for name, found in ranges.items()} == {"Incidents": 1,
                                                                    "Products": 1}
    for name, found in ranges.items():
        low, high = next(iter(found))
        assert low == 0 and high >= most[name], name
