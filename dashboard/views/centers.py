"""Figures for the Centers page: weekly activity per center, reporting lag, products by type,
the AOR overlap matrix and a center's reports against its AOR.

Every trace that stands for one center carries its id in ``customdata[0]``, so a click on it
(``st.plotly_chart(on_select="rerun")``) can narrow the filters to that center. Every label is
HTML-escaped: plotly renders a subset of HTML in hover text and annotations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from html import escape

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from dashboard.analytics.centers import LAG_BAND_ORDER, NEGATIVE_BAND, UNKNOWN_BAND
from dashboard.analytics.filters import Period

INCIDENT_COLOUR = "#1f4e79"
PRODUCT_COLOUR = "#e67e22"
INSIDE_COLOUR = "#2e86c1"
OUTSIDE_COLOUR = "#e67e22"
UNKNOWN_COLOUR = "#b3b6b7"
# Lag bands from quick (green) to slow (red); unknown grey; reported-before-occurred purple.
LAG_COLOURS = {
    NEGATIVE_BAND: "#6c3483", "under 1 h": "#1e8449", "1–6 h": "#52be80", "6–24 h": "#f4d03f",
    "1–3 days": "#f39c12", "3–7 days": "#e67e22", "7–30 days": "#cb4335",
    "over 30 days": "#922b21", UNKNOWN_BAND: UNKNOWN_COLOUR,
}
PRODUCT_TYPE_COLOURS = ("#1f4e79", "#e67e22", "#27ae60", "#8e44ad", "#c0392b", "#16a085",
                        "#7f8c8d", "#d4ac0d")
MAX_HOVER_COUNTIES = 15
MARGIN = {"l": 10, "r": 10, "t": 50, "b": 10}


def center_label(center_id: str) -> str:
    """A short, escaped label for charts: the center's id in capitals (its acronym)."""
    return escape(center_id.upper())


def _no_data(title: str, message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=escape(message), showarrow=False, font={"size": 14},
                          xref="paper", yref="paper", x=0.5, y=0.5)
    figure.update_layout(title={"text": escape(title), "font": {"size": 15}}, height=220,
                         xaxis={"visible": False}, yaxis={"visible": False}, margin=MARGIN)
    return figure


def weekly_activity_figure(weekly: pl.DataFrame, names: Mapping[str, str],
                           center_order: Sequence[str]) -> go.Figure:
    """Small multiples, one row per center: incidents per week (line) and products per week
    (bars, right axis). Short first weeks are drawn hollow and say so on hover."""
    centers = [c for c in center_order if c in set(weekly["center_id"].to_list())]
    if not centers:
        return _no_data("Incidents and products per week", "No center under these filters.")
    titles = [f"{center_label(c)} · {escape(names.get(c, c))}" for c in centers]
    figure = make_subplots(rows=len(centers), cols=1, shared_xaxes=True,
                           vertical_spacing=min(0.08, 0.35 / len(centers)),
                           subplot_titles=titles,
                           specs=[[{"secondary_y": True}] for _ in centers])
    for row, center_id in enumerate(centers, start=1):
        rows = weekly.filter(pl.col("center_id") == center_id).sort("week_end")
        days = rows["days"].to_list()
        note = [("" if d == 7 else f" (short week: {d} days)") for d in days]
        custom = [[center_id, start.strftime("%d %b"), end.strftime("%d %b %Y"), n]
                  for start, end, n in zip(rows["week_start"].to_list(),
                                           rows["week_end"].to_list(), note, strict=True)]
        # Products go on the primary axis (drawn right) and incidents on the secondary one
        # (drawn left): plotly paints secondary traces last, so the line stays above the bars.
        figure.add_trace(go.Bar(
            x=rows["week_end"].to_list(), y=rows["products"].to_list(), name="Products",
            marker_color=PRODUCT_COLOUR, opacity=0.35, customdata=custom,
            showlegend=row == 1, legendgroup="products",
            hovertemplate="%{customdata[1]} – %{customdata[2]}%{customdata[3]}: "
                          "%{y:,} products<extra></extra>",
        ), row=row, col=1, secondary_y=False)
        figure.add_trace(go.Scatter(
            x=rows["week_end"].to_list(), y=rows["incidents"].to_list(), name="Incidents",
            mode="lines+markers", line={"color": INCIDENT_COLOUR, "width": 2},
            marker={"symbol": ["circle" if d == 7 else "circle-open" for d in days],
                    "size": 7},
            customdata=custom, showlegend=row == 1, legendgroup="incidents",
            hovertemplate="%{customdata[1]} – %{customdata[2]}%{customdata[3]}: "
                          "%{y:,} incidents<extra></extra>",
        ), row=row, col=1, secondary_y=True)
        figure.update_yaxes(title_text="incidents", rangemode="tozero", tickformat=",d",
                            tickmode="auto", nticks=4, showgrid=True, side="left", row=row,
                            col=1, secondary_y=True, title_font={"size": 10})
        most = max(*rows["products"].to_list(), 1)
        figure.update_yaxes(title_text="products", range=[0, most * 1.15], showgrid=False,
                            dtick=max(1, -(-most // 3)), tickformat=",d", side="right",
                            row=row, col=1, secondary_y=False, title_font={"size": 10},
                            color=PRODUCT_COLOUR)
    ends = sorted(set(weekly["week_end"].to_list()))
    step = -(-len(ends) // 8)  # at most about eight labels, the last on the period's end
    ticks = ends[::-1][::step][::-1]
    figure.update_xaxes(tickvals=ticks, ticktext=[d.strftime("%d %b") for d in ticks],
                        row=len(centers), col=1, title_text="7 days ending")
    plot_px = 150 * len(centers)
    figure.update_layout(
        title={"text": "Incidents and products per week", "font": {"size": 15}},
        height=plot_px + 140, margin={**MARGIN, "t": 80, "b": 60}, bargap=0.5,
        hovermode="closest",
        # In the title's row, right-aligned: clear of the first panel's title.
        legend={"orientation": "h", "y": 1 + 45 / plot_px, "yanchor": "bottom", "x": 1,
                "xanchor": "right"},
    )
    for annotation in figure.layout.annotations:
        annotation.font = {"size": 12}
    return figure


def lag_figure(lag_bands: pl.DataFrame, names: Mapping[str, str],
               center_order: Sequence[str]) -> go.Figure:
    """Each center's reports by reporting lag (occurred -> reported) as a 100 % bar."""
    centers = [c for c in center_order if c in set(lag_bands["center_id"].to_list())]
    shown = lag_bands.filter(pl.col("reports") > 0)
    if not centers or shown.is_empty():
        return _no_data("Reporting lag", "No reports under these filters.")
    labels = [center_label(c) for c in centers]
    figure = go.Figure()
    for band in LAG_BAND_ORDER:
        rows = lag_bands.filter(pl.col("band") == band)
        if rows["reports"].sum() == 0 and band in (NEGATIVE_BAND, UNKNOWN_BAND):
            continue  # data-quality bands appear only when they occur
        by_center = {r["center_id"]: r for r in rows.iter_rows(named=True)}
        share = [by_center.get(c, {}).get("share_pct") or 0.0 for c in centers]
        count = [by_center.get(c, {}).get("reports") or 0 for c in centers]
        figure.add_trace(go.Bar(
            y=labels, x=share, orientation="h", name=escape(band),
            marker_color=LAG_COLOURS[band],
            customdata=[[c, n, escape(names.get(c, c))]
                        for c, n in zip(centers, count, strict=True)],
            hovertemplate="%{customdata[2]} · " + escape(band) + ": %{customdata[1]:,} "
                          "reports (%{x:.1f} %)<extra></extra>",
            text=[(escape(band) if band == UNKNOWN_BAND else f"{x:.0f} %") if x >= 12 else ""
                  for x in share],
            textposition="inside", insidetextanchor="middle",
        ))
    # Sized in pixels so the legend sits below the axis however many centers there are.
    plot_px = 46 * len(centers) + 30
    legend_px = 22 * -(-len(figure.data) // 3)
    figure.update_layout(
        barmode="stack", title={"text": "Reporting lag: occurrence → report",
                                "font": {"size": 15}},
        height=plot_px + 60 + legend_px + 40, bargap=0.25,
        margin={**MARGIN, "r": 30, "t": 60, "b": legend_px + 40},
        xaxis={"range": [0, 100], "tickvals": [0, 25, 50, 75, 100], "ticksuffix": " %"},
        yaxis={"autorange": "reversed", "automargin": True},
        legend={"orientation": "h", "y": -34 / plot_px, "yanchor": "top",
                "traceorder": "normal", "entrywidth": 0.33, "entrywidthmode": "fraction"},
    )
    return figure


def month_label(month: date, period: Period | None = None) -> str:
    """'Sep<br>2026', or the days the period holds of a month it only partly covers
    ('Aug<br>27–31'), so a short month does not read as a fall."""
    last = (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if period is None or (period.start <= month and last <= period.end):
        return f"{month:%b}<br>{month:%Y}"
    first, end = max(month, period.start), min(last, period.end)
    days = f"{first.day}" if first == end else f"{first.day}–{end.day}"
    return f"{month:%b}<br>{days}"


def products_by_month_figure(products_by_month: pl.DataFrame, names: Mapping[str, str],
                             center_order: Sequence[str], type_labels: Mapping[str, str],
                             period: Period | None = None) -> go.Figure:
    """One panel per center: products per calendar month, stacked by product type (months the
    period only partly covers are labelled with their days)."""
    centers = [c for c in center_order if c in set(products_by_month["center_id"].to_list())]
    if not centers:
        return _no_data("Products per month by type", "No product under these filters.")
    months = sorted(set(products_by_month["month"].to_list()))
    month_labels = [month_label(m, period) for m in months]
    types = sorted(set(products_by_month["product_type"].to_list()),
                   key=lambda t: type_labels.get(t, t))
    figure = make_subplots(rows=1, cols=len(centers), shared_yaxes=True,
                           subplot_titles=[center_label(c) for c in centers],
                           horizontal_spacing=min(0.04, 0.2 / len(centers)))
    for col, center_id in enumerate(centers, start=1):
        rows = products_by_month.filter(pl.col("center_id") == center_id)
        for index, product_type in enumerate(types):
            counts = dict(zip(*rows.filter(pl.col("product_type") == product_type)
                              .select("month", "products").to_dict(as_series=False).values(),
                              strict=True))
            label = escape(type_labels.get(product_type, product_type))
            figure.add_trace(go.Bar(
                x=month_labels, y=[counts.get(m, 0) for m in months], name=label,
                marker_color=PRODUCT_TYPE_COLOURS[index % len(PRODUCT_TYPE_COLOURS)],
                legendgroup=product_type, showlegend=col == 1,
                customdata=[[center_id]] * len(months),
                hovertemplate=escape(names.get(center_id, center_id)) + " · %{x} · " + label
                + ": %{y:,}<extra></extra>",
            ), row=1, col=col)
    figure.update_layout(
        barmode="stack", title={"text": "Products per month by type", "font": {"size": 15}},
        height=360, margin=MARGIN,
        legend={"orientation": "h", "y": -0.2, "yanchor": "top"},
    )
    figure.update_yaxes(title_text="products", row=1, col=1)
    figure.update_xaxes(tickangle=0, tickfont={"size": 10})
    return figure


def _county_list(names: list[str]) -> str:
    shown = ", ".join(escape(n) for n in names[:MAX_HOVER_COUNTIES])
    more = len(names) - MAX_HOVER_COUNTIES
    return shown + (f" and {more} more" if more > 0 else "") if names else "none"


def overlap_figure(overlap: pl.DataFrame, names: Mapping[str, str],
                   center_order: Sequence[str], measure: str) -> go.Figure:
    """Heat map of the AOR overlap between every two centers. ``measure`` is
    "shared_counties" or "both_reported"; the diagonal shows each AOR's size and is not
    coloured; hover names the shared counties and both figures."""
    centers = [c for c in center_order if c in set(overlap["center_a"].to_list())]
    if not centers:
        return _no_data("AOR overlap", "No center configured.")
    cells = {(r["center_a"], r["center_b"]): r for r in overlap.iter_rows(named=True)}
    labels = [center_label(c) for c in centers]
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    hover: list[list[str]] = []
    for a in centers:
        z_row: list[float | None] = []
        text_row: list[str] = []
        hover_row: list[str] = []
        for b in centers:
            cell = cells.get((a, b), {"shared_counties": 0, "shared_county_names": [],
                                      "both_reported": 0})
            counties = cell["shared_county_names"] or []
            if a == b:
                z_row.append(None)
                text_row.append(f"AOR {cell['shared_counties']}")
                hover_row.append(f"<b>{escape(names.get(a, a))}</b><br>AOR: "
                                 f"{cell['shared_counties']} counties")
                continue
            value = cell[measure] or 0
            z_row.append(value)
            text_row.append(f"{value:,}")
            hover_row.append(
                f"<b>{center_label(a)} × {center_label(b)}</b><br>"
                f"Shared counties: {cell['shared_counties']}<br>"
                f"Incidents in them reported by both: {cell['both_reported'] or 0:,}<br>"
                f"{_county_list(counties)}")
        z.append(z_row)
        text.append(text_row)
        hover.append(hover_row)
    highest = max((v for row in z for v in row if v is not None), default=0)
    title = ("Shared AOR counties" if measure == "shared_counties"
             else "Incidents in the shared counties reported by both centers")
    figure = go.Figure(go.Heatmap(
        z=z, x=labels, y=labels, text=text, texttemplate="%{text}", hovertext=hover,
        hovertemplate="%{hovertext}<extra></extra>", colorscale="Blues", hoverongaps=True,
        zmin=0, zmax=max(highest, 1),
        colorbar={"title": {"text": "counties" if measure == "shared_counties"
                            else "incidents", "side": "right"}, "thickness": 12,
                  "tickformat": ",d", "dtick": max(1, -(-highest // 5))},
        xgap=2, ygap=2,
    ))
    figure.update_layout(
        title={"text": title, "font": {"size": 15}}, height=max(320, 60 * len(centers) + 140),
        margin=MARGIN, xaxis={"tickangle": 0},
        yaxis={"autorange": "reversed", "automargin": True},
        plot_bgcolor="#f4f6f7",
    )
    return figure


def aor_category_figure(by_category: pl.DataFrame, center_id: str,
                        category_labels: Mapping[str, str]) -> go.Figure:
    """One center's reports per category: inside its AOR, outside it, county unknown."""
    rows = by_category.filter(pl.col("center_id") == center_id).sort("incidents")
    if rows.is_empty():
        return _no_data("Categories against the AOR", "No report by this center under these "
                        "filters.")
    labels = [escape(category_labels.get(c, c)) for c in rows["category"].to_list()]
    inside = (rows["incidents"] - rows["outside_aor"] - rows["unknown_county"]).to_list()
    figure = go.Figure()
    for name, values, colour in (
        ("inside its AOR", inside, INSIDE_COLOUR),
        ("outside its AOR", rows["outside_aor"].to_list(), OUTSIDE_COLOUR),
        ("county unknown", rows["unknown_county"].to_list(), UNKNOWN_COLOUR),
    ):
        if name == "county unknown" and not any(values):
            continue
        figure.add_trace(go.Bar(y=labels, x=values, orientation="h", name=name,
                                marker_color=colour,
                                hovertemplate="%{y} · " + name + ": %{x:,}<extra></extra>"))
    figure.update_layout(
        barmode="stack", title={"text": "Categories it reports on, against its AOR",
                                "font": {"size": 15}},
        height=max(240, 30 * rows.height + 120), margin=MARGIN,
        xaxis={"title": "reports", "tickformat": ","}, yaxis={"automargin": True},
        legend={"orientation": "h", "y": -0.2, "yanchor": "top", "traceorder": "normal"},
    )
    return figure
