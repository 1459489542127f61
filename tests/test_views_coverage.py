"""The Coverage page's figures and HTML blocks: cells in the right place with the right values,
clickable markers carrying (topic, area), and every label and feed text escaped."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import plotly.graph_objects as go
import polars as pl

from dashboard.analytics.coverage import coverage_cells, coverage_figures
from dashboard.views.coverage import (
    area_order,
    center_topic_figure,
    gap_heatmap,
    gap_list_html,
    product_cards_html,
    wrapped,
)
from tests.coverage_support import END, LAST_90, PERIOD, SCOPE, incidents, products

MARKUP = "<script>alert(1)</script>"


def test_heat_map_places_cells_and_marks_gaps() -> None:
    activity = pl.concat([incidents({"county_fips": "44001"}, count=30),
                          incidents({"county_fips": "44005", "category": "gangs"}, count=12)])
    cells = coverage_cells(activity, products({"covered_counties": ["44005"],
                                               "topics": ["gangs"]}), LAST_90, PERIOD, SCOPE)
    figure = gap_heatmap(cells, SCOPE, "region")
    heat, clicks = figure.data
    assert isinstance(heat, go.Heatmap) and isinstance(clicks, go.Scatter)
    # Rows: cyber, Gangs (taxonomy order); columns: Region 3, South Coast (config order).
    assert [[None if v is None else round(v, 3) for v in row] for row in heat.z] == [
        [1.429, None], [None, 0.0]]
    assert heat.text[0][0] == "<b>GAP</b><br>30 · 0"
    assert heat.text[1][1] == "12 · 1"
    assert [list(c) for c in clicks.customdata] == [
        ["cybercrime", "north"], ["cybercrime", "south"], ["gangs", "north"], ["gangs", "south"]]
    assert "Current products: 0 of 1 needed" in clicks.hovertext[0]
    assert "Centers writing: Center A" in clicks.hovertext[3]
    assert list(figure.layout.xaxis.ticktext) == ["Region 3", "South Coast"]


def test_heat_map_escapes_labels_and_handles_no_cells() -> None:
    scope = replace(SCOPE, topics={"cybercrime": MARKUP, "gangs": "Gangs"},
                    centers={"a": f"Center {MARKUP}"})
    cells = coverage_cells(incidents({}, count=3), products({}), LAST_90, PERIOD, scope)
    figure = gap_heatmap(cells, scope, "region")
    texts = [*figure.data[0].y, *figure.layout.yaxis.ticktext, *figure.data[1].hovertext]
    assert not any(MARKUP in str(text) for text in texts)
    assert any("&lt;script&gt;" in str(text) for text in texts)
    empty = gap_heatmap(cells.clear(), scope, "region")
    assert empty.layout.annotations[0].text == "No topic or area under these filters."


def test_counties_are_ordered_by_region_then_name() -> None:
    assert area_order(SCOPE, "county", ["44009", "44007", "44001", "44005"]) == [
        "44001", "44007", "44005", "44009"]
    assert area_order(SCOPE, "region", ["south", "north"]) == ["north", "south"]
    assert wrapped("Sacramento Valley and Sierra") == "Sacramento<br>Valley and<br>Sierra"
    assert wrapped("A <b> label") == "A &lt;b&gt; label"


def test_product_cards_escape_titles_and_summaries() -> None:
    shelf = products({"title": f"Bulletin {MARKUP}", "summary": "<img src=x onerror=alert(2)>",
                      "tlp": "TLP:AMBER", "product_type": "bulletin"})
    html = product_cards_html(shelf, replace(SCOPE, product_types={"bulletin": "Bulletin"}))
    assert MARKUP not in html and "<img" not in html
    assert "Bulletin &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert f"{(END - timedelta(days=10)):%d %b %Y} · Bulletin" in html
    assert "Center A · p0" in html


def test_gap_list_and_center_matrix() -> None:
    activity = incidents({"county_fips": "44001"}, {"county_fips": "44005"}, count=12)
    shelf = products({"center_id": "b", "topics": ["gangs", "cybercrime"],
                      "published_date": END - timedelta(days=200)},
                     {"center_id": "a"}, {"center_id": "a", "topics": ["gangs"]})
    figures = coverage_figures(activity, shelf, LAST_90, PERIOD, SCOPE)
    html = gap_list_html(figures.gaps, 5)
    assert html.count("<li>") == 1
    assert "cyber · South Coast" in html and "no product on record" in html
    matrix = center_topic_figure(figures.center_topics, SCOPE)
    # The 200-day-old product is outside the 90-day window.
    assert list(matrix.data[0].y) == ["Center A"]
    assert [list(row) for row in matrix.data[0].z] == [[1, 1]]
    assert center_topic_figure(figures.center_topics.clear(), SCOPE).layout.annotations
