"""Figures for the Overview page: what changed most against the period before.

A bar's length is its change in incidents and its label, on the same row right of the bars,
says that same number first ("+14 (+16 %)"), then the counts it is the difference of
("87 → 101"): a short bar with a large percentage (a small place) cannot pass for a large
rise. Names are shown in full on the axis (the margin grows to fit them).
"""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
import polars as pl

from dashboard.views.formatting import plotly_text

RISE_COLOUR = "#c0392b"
FALL_COLOUR = "#2e86c1"
BAR_PX = 34
CHANGE_COLUMN_PX = 95  # the right-hand columns: the change, then the counts
COUNTS_COLUMN_PX = 95


def change_label(change: int, change_pct: float | None) -> str:
    """'+14 (+16 %)'; '+3 (new)' when nothing was counted the period before."""
    share = "new" if change_pct is None else f"{change_pct:+.0f} %"
    return f"{change:+,} ({share})"


def change_bars_figure(table: pl.DataFrame, label_column: str, labels: Mapping[str, str],
                       title: str, top: int = 8) -> go.Figure:
    """Horizontal bars of the ``top`` largest changes (rises red, falls blue; the largest
    rise on top). ``table`` has ``label_column``, current, previous, change and change_pct."""
    shown = (table.filter(pl.col("change") != 0)
             .sort([pl.col("change").abs(), pl.col(label_column)], descending=[True, False])
             .head(top).sort(["change", label_column], descending=[False, True]))
    figure = go.Figure()
    if shown.is_empty():
        figure.add_annotation(text="No change against the period before.", showarrow=False,
                              xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 14})
        figure.update_layout(title={"text": plotly_text(title), "font": {"size": 15}},
                             height=200, xaxis={"visible": False}, yaxis={"visible": False},
                             margin={"l": 10, "r": 10, "t": 40, "b": 10})
        return figure
    rows = list(shown.iter_rows(named=True))
    # Config labels (and keys) are untrusted text: plotly renders a subset of HTML.
    names = [plotly_text(str(labels.get(row[label_column], row[label_column]))) for row in rows]
    texts = [change_label(row["change"], row["change_pct"]) for row in rows]
    counts = [f"{row['previous']:,} → {row['current']:,}" for row in rows]
    figure.add_trace(go.Bar(
        x=[row["change"] for row in rows], y=names, orientation="h",
        marker_color=[RISE_COLOUR if row["change"] > 0 else FALL_COLOUR for row in rows],
        customdata=[[row["current"], row["previous"], text] for row, text in
                    zip(rows, texts, strict=True)],
        hovertemplate="<b>%{y}</b><br>%{customdata[0]:,} this period, %{customdata[1]:,} "
                      "the period before: %{customdata[2]}<extra></extra>",
    ))
    figure.update_xaxes(title="change in incidents", tickformat=",d", zeroline=True,
                        zerolinecolor="#7f8c8d", zerolinewidth=1.5)
    figure.update_yaxes(automargin=True, type="category")
    # Two columns right of the bars, on each bar's row: its change (the bar's length) and the
    # counts it is the difference of.
    column = {"x": 1, "xref": "paper", "xanchor": "left", "showarrow": False}
    for row, name, text, count in zip(rows, names, texts, counts, strict=True):
        colour = RISE_COLOUR if row["change"] > 0 else FALL_COLOUR
        figure.add_annotation(text=text, xshift=10, y=name, yref="y",
                              font={"size": 12, "color": colour}, **column)
        figure.add_annotation(text=count, xshift=10 + CHANGE_COLUMN_PX, y=name, yref="y",
                              font={"size": 12, "color": "#444"}, **column)
    for header, shift in (("change", 0), ("before → now", CHANGE_COLUMN_PX)):
        figure.add_annotation(text=header, xshift=10 + shift, y=1, yref="paper",
                              yanchor="bottom", font={"size": 11, "color": "#7f8c8d"},
                              **column)
    figure.update_layout(
        title={"text": plotly_text(title), "font": {"size": 15}},
        height=max(220, BAR_PX * len(rows) + 110), showlegend=False,
        margin={"l": 10, "r": 20 + CHANGE_COLUMN_PX + COUNTS_COLUMN_PX, "t": 60, "b": 10},
    )
    return figure
