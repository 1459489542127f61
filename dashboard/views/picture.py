"""Figures and display tables for the Overview page."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from dashboard.analytics.picture import Kpi
from dashboard.views.formatting import plotly_text

RISE_COLOUR = "#c0392b"
FALL_COLOUR = "#2e86c1"


def kpi_delta(kpi: Kpi) -> str | None:
    """'+12 (+8.5 %)' against the previous period; None when there is no comparison."""
    if kpi.change is None:
        return None
    if kpi.change == 0:
        return "no change"
    pct = kpi.change_pct
    share = "new" if pct is None and kpi.current else ("" if pct is None else f"{pct:+.1f} %")
    return f"{kpi.change:+,}" + (f" ({share})" if share else "")


def change_bar_figure(table: pl.DataFrame, label_column: str, labels: dict[str, str],
                      title: str, top: int = 8) -> go.Figure:
    """Horizontal bars of the largest changes (rises red, falls blue), biggest on top."""
    shown = table.filter(pl.col("change") != 0).head(top).reverse()
    # Config labels (and keys) are untrusted text: plotly renders a subset of HTML.
    names = [plotly_text(str(labels.get(value, value))) for value in
             shown[label_column].to_list()]
    colours = [RISE_COLOUR if change > 0 else FALL_COLOUR for change in shown["change"]]
    percent = [("new" if p is None else f"{p:+.0f} %") for p in shown["change_pct"].to_list()]
    figure = go.Figure(go.Bar(
        x=shown["change"].to_list(), y=names, orientation="h", marker_color=colours,
        customdata=list(zip(shown["current"].to_list(), shown["previous"].to_list(), percent,
                            strict=True)),
        hovertemplate="%{y}: %{customdata[0]:,} now, %{customdata[1]:,} before "
                      "(%{customdata[2]})<extra></extra>",
        text=percent, textposition="auto",
    ))
    figure.update_layout(
        title={"text": plotly_text(title), "font": {"size": 15}},
        height=max(220, 34 * len(names) + 80),
        margin={"l": 10, "r": 10, "t": 40, "b": 10}, xaxis={"title": "change in incidents",
                                                           "tickformat": ",", "zeroline": True},
        yaxis={"automargin": True},
    )
    return figure
