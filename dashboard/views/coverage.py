"""Figures and HTML blocks for the Coverage page: the topic x area gap heat map, the center x
topic matrix, and products side by side.

Every label and every piece of feed text is HTML-escaped: plotly renders a subset of HTML in
hover text and cell text, and the product cards are HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import plotly.graph_objects as go
import polars as pl

from dashboard.analytics.coverage import CoverageScope, Level

# Light grey for covered cells (score 0) up to deep red for the worst gaps.
GAP_COLOURSCALE = [[0.0, "#eef2f5"], [0.08, "#fde6cf"], [0.35, "#f4a261"], [0.7, "#d9543b"],
                   [1.0, "#8c1d18"]]
MATRIX_COLOURSCALE = [[0.0, "#f4f8fb"], [1.0, "#1f4e79"]]
TLP_BADGE_COLOURS = {"TLP:CLEAR": "#ffffff", "TLP:GREEN": "#33ff00", "TLP:AMBER": "#ffc000",
                     "TLP:AMBER+STRICT": "#ffc000", "TLP:RED": "#ff2b2b"}
MAX_CELL_TEXT_COLUMNS = 12  # beyond this many areas the counts no longer fit in a cell
COUNTY_TICK_PX = 10  # county names, upright over their columns
AXIS_LINE_CHARACTERS = 16
TOPIC_LINE_CHARACTERS = 20
SUMMARY_CHARACTERS = 400
MARGIN = {"l": 10, "r": 10, "t": 50, "b": 10}


def area_order(scope: CoverageScope, level: Level, area_ids: Sequence[str]) -> list[str]:
    """Regions in config order; counties grouped by region, then by name."""
    present = set(area_ids)
    if level == "region":
        return [region for region in scope.regions if region in present]
    region_rank = {region: rank for rank, region in enumerate(scope.regions)}
    return sorted(present, key=lambda fips: (region_rank.get(scope.county_to_region.get(
        fips, ""), len(region_rank)), scope.counties.get(fips, fips)))


def wrapped(label: str, width: int = AXIS_LINE_CHARACTERS) -> str:
    """An escaped axis label broken into lines of about ``width`` characters."""
    lines: list[str] = []
    for word in label.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return "<br>".join(escape(line) for line in lines)


def _no_data(title: str, message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=escape(message), showarrow=False, font={"size": 14},
                          xref="paper", yref="paper", x=0.5, y=0.5)
    figure.update_layout(title={"text": escape(title), "font": {"size": 15}}, height=220,
                         xaxis={"visible": False}, yaxis={"visible": False}, margin=MARGIN)
    return figure


def _cell_hover(cell: Mapping[str, Any], centers: Mapping[str, str], threshold: float) -> str:
    incidents = int(cell["incidents"])
    change = cell["change_pct"]
    trend = ("no incidents before" if change is None
             else f"{change:+.0f} % on the period before")
    named = [escape(centers.get(str(c), str(c))) for c in cell["centers"]]
    last = cell["last_published"]
    last_text = "never" if last is None else (
        f"{last.isoformat()} by {escape(centers.get(str(cell['last_center_id']), ''))}")
    score = float(cell["score"])
    verdict = " — <b>GAP</b>" if cell["is_gap"] else ""
    return (
        f"<b>{escape(str(cell['topic_label']))} · {escape(str(cell['area_label']))}</b><br>"
        f"Incidents: {incidents:,} ({trend})<br>"
        f"Severity-weighted activity: {float(cell['weighted_activity']):,.1f}<br>"
        f"Current products: {cell['current_products']} of {cell['needed_products']} needed<br>"
        f"Centers writing: {', '.join(named) if named else 'none'}<br>"
        f"Last product: {last_text}<br>"
        f"Gap score: {score:.2f} (gap at {threshold:.2f}){verdict}"
    )


def gap_heatmap(cells: pl.DataFrame, scope: CoverageScope, level: Level) -> go.Figure:
    """Topic (rows) x area (columns), coloured by gap score; each cell shows incidents and
    current products, a gap is marked. A transparent marker on every cell carries the hover
    and makes the cell clickable (plotly heat maps cannot be selected), with
    ``customdata = [topic, area_id]``."""
    if cells.is_empty():
        return _no_data("Gap scores", "No topic or area under these filters.")
    topics = [topic for topic in scope.topics if topic in set(cells["topic"].to_list())]
    areas = area_order(scope, level, cells["area_id"].unique().to_list())
    by_cell = {(row["topic"], row["area_id"]): row for row in cells.iter_rows(named=True)}
    area_labels = [scope.area_label(level, area).removesuffix(" County") for area in areas]
    area_labels = [wrapped(label) if level == "region" else escape(label)
                   for label in area_labels]
    # Topics on two lines where long, and the colour bar's title on its side: the room goes
    # to the columns (58 counties at 1440 px).
    topic_labels = [wrapped(scope.topics[topic], TOPIC_LINE_CHARACTERS) for topic in topics]
    show_text = len(areas) <= MAX_CELL_TEXT_COLUMNS
    threshold = scope.settings.gap_min_score
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    xs, ys, hover, custom = [], [], [], []
    for y, topic in enumerate(topics):
        z_row, text_row = [], []
        for x, area in enumerate(areas):
            cell = by_cell[(topic, area)]
            active = cell["incidents"] > 0
            z_row.append(float(cell["score"]) if active else None)
            label = f"{cell['incidents']:,} · {cell['current_products']}" if active else ""
            text_row.append(f"<b>GAP</b><br>{label}" if cell["is_gap"] and show_text
                            else (label if show_text else ""))
            xs.append(x)
            ys.append(y)
            hover.append(_cell_hover(cell, scope.centers, threshold))
            custom.append([topic, area])
        z.append(z_row)
        text.append(text_row)
    highest = max([value for row in z for value in row if value is not None] or [0.0])
    figure = go.Figure(go.Heatmap(
        z=z, x=list(range(len(areas))), y=list(range(len(topics))), text=text,
        texttemplate="%{text}", textfont={"size": 11}, colorscale=GAP_COLOURSCALE, zmin=0,
        zmax=max(1.0, highest), xgap=2, ygap=2, hoverinfo="skip",
        colorbar={"title": {"text": "Gap score", "side": "right"}, "thickness": 12},
    ))
    figure.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers", customdata=custom, hovertext=hover,
        hovertemplate="%{hovertext}<extra></extra>", showlegend=False,
        marker={"symbol": "square", "size": 30, "color": "rgba(0,0,0,0)"},
        selected={"marker": {"opacity": 1}}, unselected={"marker": {"opacity": 1}},
    ))
    figure.update_layout(
        height=90 + 44 * len(topics) + (70 if level == "county" else 30),
        margin={"l": 10, "r": 10, "t": 10, "b": 10}, plot_bgcolor="#ffffff",
        # Counties stand upright in a small font: at -60° the names of 58 counties ran into
        # each other at 1440 px (issue 14); upright, each fits its column's width.
        xaxis={"tickvals": list(range(len(areas))), "ticktext": area_labels, "side": "top",
               "tickangle": -90 if level == "county" else 0,
               "tickfont": {"size": COUNTY_TICK_PX if level == "county" else 12},
               "showgrid": False, "zeroline": False, "fixedrange": True, "automargin": True},
        yaxis={"tickvals": list(range(len(topics))), "ticktext": topic_labels,
               "autorange": "reversed", "showgrid": False, "zeroline": False,
               "fixedrange": True, "automargin": True},
        dragmode=False, clickmode="event+select",
    )
    return figure


def center_topic_figure(center_topics: pl.DataFrame, scope: CoverageScope) -> go.Figure:
    """Center (rows) x topic (columns): products each center published on each topic."""
    title = "Products per center and topic"
    if center_topics.is_empty():
        return _no_data(title, "No product under these filters.")
    centers = [c for c in scope.centers if c in set(center_topics["center_id"].to_list())]
    centers += sorted(set(center_topics["center_id"].to_list()) - set(centers))
    topics = [t for t in scope.topics if t in set(center_topics["topic"].to_list())]
    counts = {(row["center_id"], row["topic"]): row["products"]
              for row in center_topics.iter_rows(named=True)}
    z = [[counts.get((center, topic), 0) for topic in topics] for center in centers]
    hover = [[f"<b>{escape(scope.center_label(center))}</b><br>{escape(scope.topics[topic])}: "
              f"{counts.get((center, topic), 0):,} products" for topic in topics]
             for center in centers]
    figure = go.Figure(go.Heatmap(
        z=z, x=[escape(scope.topics[t]) for t in topics],
        y=[escape(scope.center_label(c)) for c in centers], text=z, texttemplate="%{text}",
        colorscale=MATRIX_COLOURSCALE, hovertext=hover,
        hovertemplate="%{hovertext}<extra></extra>", xgap=2, ygap=2,
        colorbar={"title": {"text": "Products"}, "thickness": 12},
    ))
    figure.update_layout(
        height=130 + 40 * len(centers), margin={"l": 10, "r": 10, "t": 10, "b": 10},
        yaxis={"autorange": "reversed", "automargin": True},
        xaxis={"side": "bottom", "tickangle": -35, "automargin": True},
    )
    return figure


def product_cards_html(products: pl.DataFrame, scope: CoverageScope,
                       similarity_column: str | None = None) -> str:
    """Products side by side as HTML cards (title, center, date, type, marking, summary), every
    value escaped. For st.html."""
    cards = []
    for row in products.iter_rows(named=True):
        marking = str(row.get("tlp") or "")
        colour = TLP_BADGE_COLOURS.get(marking, "#dddddd")
        summary = str(row.get("summary") or "")
        if len(summary) > SUMMARY_CHARACTERS:
            summary = summary[:SUMMARY_CHARACTERS].rstrip() + "…"
        similarity = ""
        if similarity_column and row.get(similarity_column) is not None:
            similarity = (f'<span class="cov-sim">similarity '
                          f'{float(row[similarity_column]):.2f}</span>')
        published = row.get("published_date")
        published_text = published.strftime("%d %b %Y") if published is not None else ""
        product_type = str(row.get("product_type") or "")
        cards.append(
            '<div class="cov-card">'
            f'<div class="cov-meta"><span class="cov-tlp" style="color:{colour}">'
            f'{escape(marking)}</span> {escape(published_text)} · '
            f'{escape(scope.product_types.get(product_type, product_type))} {similarity}</div>'
            f'<div class="cov-title">{escape(str(row.get("title") or ""))}</div>'
            f'<div class="cov-center">{escape(scope.center_label(row.get("center_id")))} · '
            f'{escape(str(row.get("product_id") or ""))}</div>'
            f'<div class="cov-summary">{escape(summary)}</div>'
            '</div>'
        )
    return (
        "<style>.cov-row{display:flex;gap:12px;flex-wrap:wrap;margin:4px 0 12px}"
        ".cov-card{flex:1 1 260px;border:1px solid #d0d7de;border-radius:6px;padding:10px 12px;"
        "background:#fff;font-size:0.9rem}"
        ".cov-meta{font-size:0.78rem;color:#57606a;margin-bottom:4px}"
        ".cov-tlp{background:#000;padding:1px 6px;border-radius:3px;font-weight:600}"
        ".cov-sim{float:right;color:#8c1d18;font-weight:600}"
        ".cov-title{font-weight:600;margin-bottom:2px}"
        ".cov-center{color:#1f4e79;font-size:0.82rem;margin-bottom:6px}"
        ".cov-summary{color:#333;font-size:0.82rem;line-height:1.35}</style>"
        f'<div class="cov-row">{"".join(cards)}</div>'
    )


def gap_list_html(gaps: pl.DataFrame, limit: int) -> str:
    """The worst ``limit`` gaps as a numbered list: score, topic and area, and the reason."""
    items = []
    for row in gaps.head(limit).iter_rows(named=True):
        items.append(
            f'<li><span class="gap-score">{float(row["score"]):.2f}</span>'
            f'<span class="gap-cell">{escape(str(row["topic_label"]))} · '
            f'{escape(str(row["area_label"]))}</span><br>'
            f'<span class="gap-reason">{escape(str(row["reason"]))}</span></li>')
    return (
        "<style>.gap-list{margin:0 0 8px 0;padding-left:1.6em}"
        ".gap-list li{margin-bottom:8px;line-height:1.4}"
        ".gap-score{display:inline-block;min-width:3.2em;text-align:center;background:#8c1d18;"
        "color:#fff;border-radius:3px;padding:0 6px;margin-right:8px;font-weight:600;"
        "font-size:0.85rem}"
        ".gap-cell{font-weight:600}.gap-reason{color:#333;font-size:0.92rem}</style>"
        f'<ol class="gap-list">{"".join(items)}</ol>'
    )
