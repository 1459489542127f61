"""Figures for the Centers page: weekly activity per center, reporting lag, products by type,
the AOR overlap matrix and a center's reports against its AOR.

Every trace that stands for one center carries its id in ``customdata[0]``, so a click on it
(``st.plotly_chart(on_select="rerun")``) can narrow the filters to that center. A center is
named by its configured name, in full (wrapped where a panel is narrow), never by its id. Every
label is HTML-escaped: plotly renders a subset of HTML in hover text and annotations. Each panel
has one y-axis: two measures are two panels, never one panel with two scales.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from html import escape
from textwrap import wrap

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


WRAP_CHARS = 24


def center_name(names: Mapping[str, str], center_id: str) -> str:
    """A center's configured name, escaped (its id only when it has none)."""
    return escape(names.get(center_id, center_id))


def wrapped_name(names: Mapping[str, str], center_id: str, width: int = WRAP_CHARS) -> str:
    """A center's name, escaped, in lines of about ``width`` characters (joined by <br>)."""
    return "<br>".join(escape(line) for line in wrap(names.get(center_id, center_id), width)
                       or [""])


def _no_data(title: str, message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=escape(message), showarrow=False, font={"size": 14},
                          xref="paper", yref="paper", x=0.5, y=0.5)
    figure.update_layout(title={"text": escape(title), "font": {"size": 15}}, height=220,
                         xaxis={"visible": False}, yaxis={"visible": False}, margin=MARGIN)
    return figure


def weekly_activity_figure(weekly: pl.DataFrame, names: Mapping[str, str],
                           center_order: Sequence[str]) -> go.Figure:
    """Small multiples, one row per center: incidents per week (left) and products per week
    (right), each panel on its own y-axis, every center's on the same scale per column: the
    rows are read against each other, and a center of 120 a week must not look as busy as one
    of 600 (issue 14). Short first weeks are drawn hollow and say so on hover."""
    centers = [c for c in center_order if c in set(weekly["center_id"].to_list())]
    if not centers:
        return _no_data("Incidents and products per week", "No center under these filters.")
    shown = weekly.filter(pl.col("center_id").is_in(centers))
    most_incidents = max(int(shown["incidents"].max() or 0), 1)  # type: ignore[arg-type]
    most_products = max(int(shown["products"].max() or 0), 1)  # type: ignore[arg-type]
    row_px, gap_px = 110, 46  # each row's panels, and the gap that holds the next row's name
    plot_px = row_px * len(centers) + gap_px * (len(centers) - 1)
    figure = make_subplots(rows=len(centers), cols=2, shared_xaxes=True,
                           horizontal_spacing=0.1, vertical_spacing=gap_px / plot_px,
                           column_titles=["Incidents per week", "Products per week"])
    figure.update_annotations(font={"size": 13, "color": "#555"}, yshift=22)
    for row, center_id in enumerate(centers, start=1):
        rows = weekly.filter(pl.col("center_id") == center_id).sort("week_end")
        days = rows["days"].to_list()
        note = [("" if d == 7 else f" (short week: {d} days)") for d in days]
        name = center_name(names, center_id)
        custom = [[center_id, start.strftime("%d %b"), end.strftime("%d %b %Y"), n, name]
                  for start, end, n in zip(rows["week_start"].to_list(),
                                           rows["week_end"].to_list(), note, strict=True)]
        figure.add_trace(go.Scatter(
            x=rows["week_end"].to_list(), y=rows["incidents"].to_list(), name="Incidents",
            mode="lines+markers", line={"color": INCIDENT_COLOUR, "width": 2},
            marker={"symbol": ["circle" if d == 7 else "circle-open" for d in days],
                    "size": 7},
            customdata=custom, showlegend=False,
            hovertemplate="%{customdata[4]}<br>%{customdata[1]} – %{customdata[2]}"
                          "%{customdata[3]}: %{y:,} incidents<extra></extra>",
        ), row=row, col=1)
        figure.add_trace(go.Bar(
            x=rows["week_end"].to_list(), y=rows["products"].to_list(), name="Products",
            marker_color=PRODUCT_COLOUR, customdata=custom, showlegend=False,
            hovertemplate="%{customdata[4]}<br>%{customdata[1]} – %{customdata[2]}"
                          "%{customdata[3]}: %{y:,} products<extra></extra>",
        ), row=row, col=2)
        figure.update_yaxes(range=[0, most_incidents * 1.15], tickformat=",d", nticks=4,
                            row=row, col=1)
        figure.update_yaxes(range=[0, most_products * 1.15],
                            dtick=max(1, -(-most_products // 3)), tickformat=",d", row=row,
                            col=2)
        # The center's name above its row, across both panels.
        top = figure.get_subplot(row, 1).yaxis.domain[1]
        figure.add_annotation(text=f"<b>{name}</b>", x=0, xref="paper", xanchor="left",
                              y=top, yref="paper", yanchor="bottom", yshift=4,
                              showarrow=False, font={"size": 13, "color": "#262730"})
    ends = sorted(set(weekly["week_end"].to_list()))
    step = -(-len(ends) // 6)  # at most about six labels, the last on the period's end
    ticks = ends[::-1][::step][::-1]
    for col in (1, 2):
        figure.update_xaxes(tickvals=ticks, ticktext=[d.strftime("%d %b") for d in ticks],
                            row=len(centers), col=col, title_text="7 days ending")
    figure.update_layout(
        title={"text": "Incidents and products per week, by center", "font": {"size": 15}},
        height=plot_px + 150, margin={**MARGIN, "t": 100, "b": 60}, bargap=0.4,
        hovermode="closest", showlegend=False,
    )
    return figure


def lag_figure(lag_bands: pl.DataFrame, names: Mapping[str, str],
               center_order: Sequence[str]) -> go.Figure:
    """Each center's reports by reporting lag (occurred -> reported) as a 100 % bar."""
    centers = [c for c in center_order if c in set(lag_bands["center_id"].to_list())]
    shown = lag_bands.filter(pl.col("reports") > 0)
    if not centers or shown.is_empty():
        return _no_data("Reporting lag", "No reports under these filters.")
    labels = [center_name(names, c) for c in centers]
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
            customdata=[[c, n] for c, n in zip(centers, count, strict=True)],
            hovertemplate="%{y} · " + escape(band) + ": %{customdata[1]:,} "
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
        xaxis={"range": [0, 100], "tickvals": [0, 25, 50, 75, 100],
               "ticktext": ["0 %", "25 %", "50 %", "75 %", "100 %"]},
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
    # Names wrapped to their panel's width: about 160 px of a ~1,000 px chart per panel of 5.
    width = max(14, 100 // len(centers))
    titles = [wrapped_name(names, c, width) for c in centers]
    lines = max(title.count("<br>") + 1 for title in titles)
    figure = make_subplots(rows=1, cols=len(centers), shared_yaxes=True,
                           subplot_titles=titles,
                           horizontal_spacing=min(0.04, 0.2 / len(centers)))
    figure.update_annotations(font={"size": 12})
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
                hovertemplate=center_name(names, center_id) + " · %{x} · " + label
                + ": %{y:,}<extra></extra>",
            ), row=1, col=col)
    figure.update_layout(
        barmode="stack", title={"text": "Products per month by type", "font": {"size": 15}},
        height=340 + 16 * lines, margin={**MARGIN, "t": 50 + 16 * lines},
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
    # Column labels wrapped to about a column's width of a full-width chart.
    labels = [wrapped_name(names, c, max(12, 110 // len(centers))) for c in centers]
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
                hover_row.append(f"<b>{center_name(names, a)}</b><br>AOR: "
                                 f"{cell['shared_counties']} counties")
                continue
            value = cell[measure] or 0
            z_row.append(value)
            text_row.append(f"{value:,}")
            hover_row.append(
                f"<b>{center_name(names, a)} × {center_name(names, b)}</b><br>"
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
        title={"text": title, "font": {"size": 15}}, height=max(360, 64 * len(centers) + 190),
        margin=MARGIN, xaxis={"tickangle": 0, "automargin": True},
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
