"""Static pictures of a briefing, drawn with matplotlib (no browser, no network): the
statewide map (incidents per county and Gi* hot spots, regions outlined), the trend chart and
the category changes. Each returns PNG bytes; the same data always gives the same bytes.

The category changes are the Overview's chart (``views.overview.change_bars_figure``: a bar as
long as the change its label says first); the HTML draws that figure, the PDF its bars.

matplotlib's object API (``Figure`` + the Agg canvas) is used rather than pyplot: it keeps no
global state, so the app's threads can draw at once.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from html import unescape

import numpy as np
import plotly.graph_objects as go
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from dashboard.briefing.compose import Briefing
from dashboard.views.maps import (
    CHOROPLETH_COLOURS,
    HOTSPOT_COLOURS,
    ZERO_COLOUR,
    class_breaks,
    colour_for,
    region_outlines,
    simplified_counties,
)
from dashboard.views.overview import FALL_COLOUR, RISE_COLOUR, change_bars_figure
from dashboard.views.trends import ANOMALY_COLOUR, PALETTE

DPI = 160
PAGE_WIDTH_IN = 7.2  # the PDF's text width
FONT_SIZE = 8
NOT_SIGNIFICANT = "#eeeeee"
MAX_SERIES = 6  # lines a printed chart can tell apart
CATEGORY_CHANGES_TITLE = "Categories changing most"
CHANGE_COLUMN_PT = 62  # the change chart's first right-hand column (the change; then the counts)
HOTSPOT_LABELS = {99: "Hot spot, 99 %", 95: "Hot spot, 95 %", 90: "Hot spot, 90 %",
                  -90: "Cold spot, 90 %", -95: "Cold spot, 95 %", -99: "Cold spot, 99 %"}


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _figure(width_in: float, height_in: float) -> Figure:
    figure = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    figure.set_facecolor("white")
    return figure


def map_png(briefing: Briefing) -> bytes:
    """Two panels of the state: incidents per county under the filters, and Gi* hot and cold
    spots over the whole state; region outlines and names on both."""
    counties = simplified_counties(briefing.state).copy()
    regions = region_outlines(briefing.state, dict(briefing.county_to_region),
                              dict(briefing.region_names))
    counts = dict(zip(briefing.county_counts["county_fips"].to_list(),
                      briefing.county_counts["incidents"].to_list(), strict=True))
    bins = dict(zip(briefing.hotspots["county_fips"].to_list(),
                    briefing.hotspots["gi_bin"].to_list(), strict=True))
    values = np.array([counts.get(fips, 0) or 0 for fips in counties["county_fips"]], float)
    breaks = class_breaks(values)
    counties["count_colour"] = [colour_for(value, breaks) for value in values]
    counties["hotspot_colour"] = [HOTSPOT_COLOURS.get(bins.get(fips, 0), NOT_SIGNIFICANT)
                                  for fips in counties["county_fips"]]

    west, south, east, north = counties.total_bounds
    # Equirectangular with the aspect corrected at the state's middle latitude.
    aspect = 1 / math.cos(math.radians((south + north) / 2))
    panel_width = PAGE_WIDTH_IN / 2
    height = min(max(panel_width * (north - south) * aspect / max(east - west, 1e-6) + 0.9,
                     2.8), 6.0)
    figure = _figure(PAGE_WIDTH_IN, height)
    left, right = figure.subplots(1, 2)
    for axes, column, title in ((left, "count_colour", "Incidents per county"),
                                (right, "hotspot_colour", "Hot spots (Getis-Ord Gi*)")):
        counties.plot(ax=axes, color=counties[column], edgecolor="#9a9a9a", linewidth=0.3)
        regions.boundary.plot(ax=axes, color="#1b1b1b", linewidth=1.1)
        axes.set_aspect(aspect)
        axes.set_axis_off()
        axes.set_title(title, fontsize=FONT_SIZE + 1, fontweight="bold")
    for _, region in regions.iterrows():
        point = region.geometry.representative_point()
        right.annotate(region["region_name"], (point.x, point.y), fontsize=FONT_SIZE - 2,
                       ha="center", va="center", color="#1b1b1b",
                       bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                             "alpha": 0.7})
    left.legend(handles=_count_legend(values, counties["count_colour"].to_list()),
                title="incidents per county", fontsize=FONT_SIZE - 1,
                title_fontsize=FONT_SIZE - 1, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                ncol=4, frameon=False)
    present = sorted({value for value in bins.values() if value}, reverse=True)
    hot_legend: list[Patch | Line2D] = [
        Patch(facecolor=HOTSPOT_COLOURS[value], edgecolor="#9a9a9a", label=HOTSPOT_LABELS[value])
        for value in present]
    hot_legend.append(Patch(facecolor=NOT_SIGNIFICANT, edgecolor="#9a9a9a",
                            label="Not significant"))
    hot_legend.append(Line2D([0], [0], color="#1b1b1b", linewidth=1.1, label="Region"))
    right.legend(handles=hot_legend, fontsize=FONT_SIZE - 1, loc="upper center",
                 bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)
    return _png(figure)


def _count_legend(values: np.ndarray, colours: list[str]) -> list[Patch]:
    """One swatch per colour in use, labelled with the counts it actually stands for."""
    ranges: dict[str, list[float]] = {}
    for value, colour in zip(values, colours, strict=True):
        ranges.setdefault(colour, []).append(float(value))
    order = [ZERO_COLOUR, *CHOROPLETH_COLOURS]
    swatches = []
    for colour in sorted(ranges, key=order.index):
        low, high = int(min(ranges[colour])), int(max(ranges[colour]))
        label = f"{low:,}" if low == high else f"{low:,}–{high:,}"
        swatches.append(Patch(facecolor=colour, edgecolor="#9a9a9a", label=label))
    return swatches


def series_png(briefing: Briefing, max_series: int = MAX_SERIES) -> bytes:
    """Incidents per bucket for the busiest categories (solid), their trailing baselines
    (dashed) and anomalies (red rings)."""
    series = briefing.series.series
    figure = _figure(PAGE_WIDTH_IN, 3.0)
    axes = figure.subplots()
    _style(axes)
    if series.is_empty():
        axes.text(0.5, 0.5, "No incidents under these filters in the period.",
                  ha="center", va="center", transform=axes.transAxes, fontsize=FONT_SIZE + 1)
        axes.set_axis_off()
        return _png(figure)
    totals = series.group_by("series").agg(pl.col("incidents").sum()).sort(
        ["incidents", "series"], descending=[True, False])
    shown = totals["series"].head(max_series).to_list()
    labels = briefing.category_labels
    for number, key in enumerate(shown):
        rows = series.filter(pl.col("series") == key).sort("bucket_start")
        colour = PALETTE[number % len(PALETTE)]
        days = rows["bucket_start"].to_list()
        axes.plot(days, rows["incidents"].to_list(), color=colour, linewidth=1.6,
                  marker="o", markersize=2.5, label=labels.get(key, key))
        expected = [np.nan if value is None else value for value in rows["expected"].to_list()]
        axes.plot(days, expected, color=colour, linewidth=1, linestyle="--", alpha=0.7)
        flagged = rows.filter(pl.col("anomaly"))
        if not flagged.is_empty():
            axes.scatter(flagged["bucket_start"].to_list(), flagged["incidents"].to_list(),
                         s=90, facecolors="none", edgecolors=ANOMALY_COLOUR, linewidths=1.6,
                         zorder=5)
    axes.set_ylabel(f"incidents per {briefing.series.granularity}", fontsize=FONT_SIZE)
    axes.set_ylim(bottom=0)
    others = totals.height - len(shown)
    title = (f"The {len(shown)} busiest categories" + (f" of {totals.height}" if others else "")
             + "; dashed: baseline; red ring: anomaly")
    axes.set_title(title, fontsize=FONT_SIZE + 1, loc="left")
    axes.legend(fontsize=FONT_SIZE - 1, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                frameon=False)
    locator = AutoDateLocator(maxticks=10)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    return _png(figure)


@dataclass(frozen=True)
class ChangeBar:
    """One bar of the category changes, as drawn."""

    name: str
    change: int  # the bar's length
    label: str  # written beside it, the length first: '+14 (+16 %)'
    counts: str  # what the change is the difference of: '87 → 101'


def category_changes_figure(briefing: Briefing) -> go.Figure:
    """The categories changing most against the period before, as the Overview draws them."""
    return change_bars_figure(briefing.by_category, "category", briefing.category_labels,
                              CATEGORY_CHANGES_TITLE)


def category_change_bars(briefing: Briefing) -> list[ChangeBar]:
    """The bars of :func:`category_changes_figure`, bottom to top, with the texts written on
    their rows: the PDF draws the very bars and labels the HTML and the Overview draw."""
    figure = category_changes_figure(briefing)
    if not figure.data:
        return []
    texts: dict[str, list[str]] = {}
    for annotation in figure.layout.annotations:
        if annotation.yref == "y":  # on a bar's row: its change, then its counts
            texts.setdefault(annotation.y, []).append(annotation.text)
    bars = figure.data[0]
    return [ChangeBar(unescape(name), int(change), *texts[name])
            for name, change in zip(bars.y, bars.x, strict=True)]


def category_changes_png(briefing: Briefing) -> bytes:
    """:func:`category_change_bars` (rises red, falls blue; the largest rise on top), each
    row's change and counts in two columns right of the bars."""
    bars = category_change_bars(briefing)
    figure = _figure(PAGE_WIDTH_IN, max(1.6, 0.3 * len(bars) + 1.0))
    axes = figure.subplots()
    _style(axes)
    if not bars:
        axes.text(0.5, 0.5, "No category changed against the period before.", ha="center",
                  va="center", transform=axes.transAxes, fontsize=FONT_SIZE + 1)
        axes.set_axis_off()
        return _png(figure)
    rows = range(len(bars))
    colours = [RISE_COLOUR if bar.change > 0 else FALL_COLOUR for bar in bars]
    axes.barh(list(rows), [bar.change for bar in bars], color=colours)
    axes.set_yticks(list(rows), [bar.name for bar in bars])
    axes.axvline(0, color="#555555", linewidth=0.8)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(axis="y", visible=False)
    axes.grid(axis="x", color="#e5e5e5", linewidth=0.6)
    for row, bar, colour in zip(rows, bars, colours, strict=True):
        for text, shift, ink in ((bar.label, 0, colour),
                                 (bar.counts, CHANGE_COLUMN_PT, "#444444")):
            axes.annotate(text, (1, row), xycoords=("axes fraction", "data"),
                          xytext=(8 + shift, 0), textcoords="offset points", va="center",
                          ha="left", fontsize=FONT_SIZE - 1, color=ink)
    for header, shift in (("change", 0), ("before → now", CHANGE_COLUMN_PT)):
        axes.annotate(header, (1, 1), xycoords="axes fraction", xytext=(8 + shift, 2),
                      textcoords="offset points", va="bottom", ha="left",
                      fontsize=FONT_SIZE - 1.5, color="#7f7f7f")
    axes.set_xlabel("change in incidents against the period before", fontsize=FONT_SIZE)
    axes.set_title(CATEGORY_CHANGES_TITLE, fontsize=FONT_SIZE + 1, loc="left")
    return _png(figure)


def _style(axes: Axes) -> None:
    axes.tick_params(labelsize=FONT_SIZE - 1)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    axes.set_axisbelow(True)
