"""Figures for the Data health page."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

STATUS_COLOURS = {"stored": "#1f4e79", "quarantined": "#c0392b", "flagged": "#e67e22"}


def rows_per_center_figure(per_center: pl.DataFrame) -> go.Figure:
    """Stacked bars per center: stored incidents and products, quarantined rows."""
    figure = go.Figure()
    labels = per_center["center_id"].to_list()
    for column, name, colour in (
        ("incidents", "Incidents stored", STATUS_COLOURS["stored"]),
        ("products", "Products stored", "#5dade2"),
        ("quarantined", "Rows quarantined", STATUS_COLOURS["quarantined"]),
    ):
        figure.add_bar(x=labels, y=per_center[column].to_list(), name=name, marker_color=colour,
                       hovertemplate="%{x}: %{y:,}<extra>" + name + "</extra>")
    figure.update_layout(
        barmode="group", height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        yaxis={"title": "rows", "tickformat": ","},
        legend={"orientation": "h", "y": 1.12}, title=None,
    )
    return figure
