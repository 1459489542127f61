"""Figures and display tables for the Data health and Administration pages."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from dashboard.views.formatting import plotly_text

STATUS_COLOURS = {"stored": "#1f4e79", "quarantined": "#c0392b", "flagged": "#e67e22"}
# The measures of rows_per_center_figure: column, panel title, colour.
PER_CENTER_MEASURES = (
    ("incidents", "Incidents stored", STATUS_COLOURS["stored"]),
    ("products", "Products stored", "#2e86c1"),
    ("quarantined", "Rows quarantined", STATUS_COLOURS["quarantined"]),
)
MISSING = "—"  # what a table shows for no value (Streamlit would print "None")


def rows_per_center_figure(per_center: pl.DataFrame) -> go.Figure:
    """A panel per measure (incidents, products, quarantined rows), each with its own axis:
    counts thousands apart on one axis would leave the small ones invisible. Centers by name,
    each bar labelled with its count, every axis reaching past its largest bar."""
    names = [plotly_text(name) for name in per_center["name"]]
    figure = make_subplots(rows=1, cols=len(PER_CENTER_MEASURES), shared_yaxes=True,
                           horizontal_spacing=0.05,
                           subplot_titles=[title for _c, title, _k in PER_CENTER_MEASURES])
    for col, (column, title, colour) in enumerate(PER_CENTER_MEASURES, start=1):
        values = per_center[column].to_list()
        figure.add_bar(
            x=values, y=names, orientation="h", name=title, marker_color=colour,
            text=[f"{value:,}" for value in values], textposition="outside", cliponaxis=False,
            hovertemplate="%{y}: %{x:,}<extra>" + title + "</extra>", row=1, col=col)
        # Room for the count labelled past the longest bar.
        figure.update_xaxes(range=[0, max([*values, 1]) * 1.25], row=1, col=col)
    figure.update_xaxes(tickformat=",", nticks=4, rangemode="tozero")
    figure.update_yaxes(autorange="reversed")  # the table's order, top to bottom
    figure.update_layout(height=90 + 36 * max(per_center.height, 1), showlegend=False,
                         margin={"l": 10, "r": 30, "t": 40, "b": 10}, title=None,
                         bargap=0.35)
    return figure


def display_table(frame: pl.DataFrame, headers: Mapping[str, str], *,
                  missing: str = MISSING, time_format: str = "%Y-%m-%d %H:%M") -> pl.DataFrame:
    """``frame``'s columns in ``headers``' order under their headers, as a page shows them:
    times as text (UTC, sortable), and ``missing`` for no value in a text or time column
    (a count column with gaps is passed in as text already)."""
    shown = frame.select(list(headers)).with_columns(
        pl.col(name).dt.strftime(time_format) for name, dtype in frame.schema.items()
        if name in headers and isinstance(dtype, pl.Datetime)
    )
    return shown.with_columns(
        pl.col(name).fill_null(missing) for name, dtype in shown.schema.items()
        if dtype == pl.String
    ).rename(dict(headers))


def count_text(column: str) -> pl.Expr:
    """A count column with gaps, as text ('1,234'; MISSING for none)."""
    return pl.col(column).map_elements(lambda count: f"{count:,}", return_dtype=pl.String,
                                       skip_nulls=True).fill_null(MISSING)
