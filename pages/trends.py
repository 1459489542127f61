"""Trends (leadership and analysts): series against their own baseline with anomalies marked,
the CompStat table, the weekly rhythm and category x region small multiples. Selecting points
on a chart narrows the shared filters."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboard.analytics.filters import Filters, period_of
from dashboard.analytics.picture import Kpi
from dashboard.analytics.trends import (
    COMPSTAT_WINDOWS,
    Granularity,
    SeriesView,
    compstat_table,
    compstat_totals,
    hour_weekday_counts,
    series_view,
)
from dashboard.security.policy import suppress_small_counts
from dashboard.views.export import to_safe_csv
from dashboard.views.picture import kpi_delta
from dashboard.views.trends import (
    anomaly_table,
    cell_selection_changes,
    compstat_column_names,
    compstat_display,
    hour_weekday_figure,
    rule_text,
    series_figure,
    series_selection_changes,
    small_multiples_figure,
)
from pages.common import (
    PageContext,
    audited_download,
    context_frames,
    load_context,
    today_in,
)
from pages.sidebar import current_filters, request_filter_change

SPLITS = {"category": "Category", "region": "Region", "center": "Center"}
GRANULARITY_NAMES = {"day": "Day", "week": "Week", "month": "Month"}
PLOTLY_CONFIG = {"displaylogo": False}
CELL_MAX_BUCKETS = 120  # a small multiple is ~150 px wide: more points are a smear


def _labels(context: PageContext) -> dict[str, dict[str, str]]:
    config = context.config
    categories = {key: value.label for key, value in config.taxonomy.categories.items()}
    regions = {region.id: region.name for region in config.regions}
    centers = {center.id: center.name for center in config.centers}
    return {"category": categories, "region": regions, "center": centers,
            "category_region": categories | regions}


def _for_viewer(context: PageContext, table: pl.DataFrame, counts: list[str],
                derived: list[str]) -> pl.DataFrame:
    """Partners see no small count (nor what gives it back: a ratio, a change)."""
    return suppress_small_counts(context.viewer, table, counts,
                                 context.config.settings.security.partner_min_count, derived)


def _series_for_viewer(context: PageContext, view: SeriesView) -> SeriesView:
    series = _for_viewer(context, view.series, ["incidents"], ["ratio"]).with_columns(
        pl.col("anomaly") & pl.col("incidents").is_not_null())
    return replace(view, series=series)


@st.cache_data(max_entries=32, show_spinner="Computing the series...")
def _series(_context: PageContext, cache_key: tuple[object, ...], filters: Filters,
            today: date, split: str, granularity: Granularity
            ) -> tuple[SeriesView, go.Figure]:
    frames = context_frames(_context)
    config = _context.config
    view = series_view(frames.incidents, filters, config.county_to_region,
                       period_of(filters, today), split, granularity,
                       config.settings.anomalies)
    view = _series_for_viewer(_context, view)
    figure = series_figure(view.series, _labels(_context)[split], view.granularity, view.rule,
                           f"Incidents by {SPLITS[split].lower()} per {view.granularity}, "
                           "with each series' baseline (dashed)")
    return view, figure


@st.cache_data(max_entries=32, show_spinner="Computing the small multiples...")
def _cells(_context: PageContext, cache_key: tuple[object, ...], filters: Filters,
           today: date, granularity: Granularity) -> tuple[SeriesView, go.Figure]:
    frames = context_frames(_context)
    config = _context.config
    view = series_view(frames.incidents, filters, config.county_to_region,
                       period_of(filters, today), "category_region", granularity,
                       config.settings.anomalies, traces_per_series=3,
                       max_buckets=CELL_MAX_BUCKETS)
    view = _series_for_viewer(_context, view)
    labels = _labels(_context)
    figure = small_multiples_figure(view.series, labels["category"], labels["region"],
                                    view.granularity,
                                    f"Each category in each region, per {view.granularity}")
    return view, figure


@st.cache_data(max_entries=32, show_spinner=False)
def _rhythm(_context: PageContext, cache_key: tuple[object, ...], filters: Filters,
            today: date) -> go.Figure:
    frames = context_frames(_context)
    config = _context.config
    counts = hour_weekday_counts(frames.incidents, frames.centers, filters,
                                 config.county_to_region, period_of(filters, today),
                                 config.settings.timezone)
    counts = _for_viewer(_context, counts, ["incidents"], [])
    return hour_weekday_figure(counts, "When incidents occur (each center's local time)")


@st.cache_data(max_entries=32, show_spinner=False)
def _compstat(_context: PageContext, cache_key: tuple[object, ...], filters: Filters,
              today: date, by: str) -> tuple[pl.DataFrame, list[Kpi]]:
    frames = context_frames(_context)
    config = _context.config
    # A row for every category (region) the filters allow, zeros included.
    if by == "category":
        keys = list(filters.categories or config.taxonomy.categories)
    else:
        keys = list(filters.regions) if filters.regions or filters.counties else [
            region.id for region in config.regions]
    table = compstat_table(frames.incidents, filters, config.county_to_region,
                           period_of(filters, today).end, by, keys)
    # Totals from the whole table: a partner's suppressed rows still count in them.
    return _for_viewer(
        _context, table, [w + s for w in COMPSTAT_WINDOWS for s in ("", "_prior")],
        [w + s for w in COMPSTAT_WINDOWS for s in ("_change", "_change_pct")],
    ), compstat_totals(table)


def _narrow_on_selection(event: Any, state_key: str,
                         changes_for: Callable[[list[list[str]]], dict[str, object]]) -> None:
    """Turn a new selection of points (click or box) into filter changes, once."""
    points = [point.get("customdata") for point in
              ((event or {}).get("selection") or {}).get("points", [])]
    points = [list(p) for p in points if p]
    signature = json.dumps(sorted(points))
    if not points:
        st.session_state.pop(state_key, None)
        return
    if st.session_state.get(state_key) == signature:
        return
    st.session_state[state_key] = signature
    request_filter_change(**changes_for(points))


context = load_context()
config = context.config
filters = current_filters()
today = today_in(context)
period = period_of(filters, today)
labels = _labels(context)

st.title("Trends")
st.caption(f"{period.label()} ({period.days} days) · "
           f"{'duplicates counted once' if filters.duplicates_once else 'every report counted'}"
           " · click points, or draw a box with the chart's box-select tool, to narrow every page "
           "to them")

controls = st.columns([3, 3, 4])
split = controls[0].segmented_control(
    "Split by", list(SPLITS), format_func=SPLITS.__getitem__, default="category",
    key="trends_split") or "category"
wanted = controls[1].segmented_control(
    "Granularity", list(GRANULARITY_NAMES), format_func=GRANULARITY_NAMES.__getitem__,
    default="week", key="trends_granularity") or "week"

view, figure = _series(context, context.cache_key, filters, today, split, wanted)
if view.granularity != wanted:
    st.info(f"Shown per {view.granularity}: per {wanted} this period would draw more than "
            "100,000 points.", icon=":material/info:")
st.caption(("Weeks end on the last day shown, so the latest week is always whole. "
            if view.granularity == "week" else "")
           + "A hollow point is a bucket partly outside the period: its count and baseline "
           "cover only its days inside.")
selected = st.plotly_chart(figure, width="stretch", key="trend_series", config=PLOTLY_CONFIG,
                           on_select="rerun", selection_mode=("points", "box"))
_narrow_on_selection(selected, "trend_series_handled",
                     lambda points: series_selection_changes(points, split))

cells, cells_figure = _cells(context, context.cache_key, filters, today, view.granularity)

st.subheader("Anomalies")
found = pl.concat([
    anomaly_table(view.anomalies, labels[split]).with_columns(
        pl.lit(SPLITS[split]).alias("level")),
    anomaly_table(cells.anomalies, labels["category_region"]).with_columns(
        pl.lit("Category in region").alias("level")),
]).sort("p_value")
if found.is_empty():
    st.info(f"No {SPLITS[split].lower()} series, and no category within a region, rose "
            "significantly above its baseline in this period.", icon=":material/check_circle:")
else:
    st.dataframe(
        found.select("level", "series", "start", "end", "incidents", "expected", "ratio",
                     "p_value", "adjusted_p"),
        hide_index=True, width="stretch", key="anomaly_table",
        column_config={
            "level": "Series of", "series": st.column_config.TextColumn("Series", width="medium"),
            "start": st.column_config.DateColumn("From"),
            "end": st.column_config.DateColumn("To"),
            "incidents": st.column_config.NumberColumn("Observed", format="localized"),
            "expected": st.column_config.NumberColumn("Expected", format="%.1f"),
            "ratio": st.column_config.NumberColumn("× baseline", format="%.1f"),
            "p_value": st.column_config.NumberColumn("p", format="%.2e"),
            "adjusted_p": st.column_config.NumberColumn("Adjusted p", format="%.2e"),
        },
    )
with st.expander("How anomalies are found", icon=":material/function:"):
    st.markdown(rule_text(view.rule, view.granularity))
    if cells.granularity != view.granularity:
        st.markdown(rule_text(cells.rule, cells.granularity))

st.subheader("CompStat")
as_of = period.end
by_region = st.toggle("By region", key="compstat_by_region",
                      help="Rows by region instead of by threat category.")
by = "region_id" if by_region else "category"
table, totals = _compstat(context, context.cache_key, filters, today, by)
st.caption(f"As of {as_of:%d %b %Y} (the period's last day), under every filter but the "
           "period. The year to date is compared with the same span of last year (a year to "
           "date ending on 29 February with 1 January to 28 February).")
cards = st.columns(3)
min_count = config.settings.security.partner_min_count
for card, kpi in zip(cards, totals, strict=True):
    flat = kpi.change == 0
    if context.viewer.aggregates_only and any(
            0 < count < min_count for count in (kpi.current, kpi.previous or 0)):
        card.metric(kpi.label, f"< {min_count}", help=kpi.help, border=True)
        continue
    card.metric(kpi.label, f"{kpi.current:,}", kpi_delta(kpi), help=kpi.help,
                delta_color="off" if flat else "inverse",
                delta_arrow="off" if flat else "auto", border=True)
shown = compstat_display(table, by, labels["category" if by == "category" else "region"])
names = compstat_column_names()
column_config: dict[str, Any] = {
    "name": st.column_config.TextColumn("Category" if by == "category" else "Region"),
    by: None,
}
for column, header in names.items():
    fmt = "%+.1f%%" if column.endswith("_pct") else ("%+d" if column.endswith("_change")
                                                      else "localized")
    column_config[column] = st.column_config.NumberColumn(header, format=fmt)
st.dataframe(shown, hide_index=True, width="stretch", key="compstat_table",
             column_config=column_config)
audited_download(context, "Download CompStat (CSV)", to_safe_csv(shown.rename(names)),
                 f"compstat_{'region' if by_region else 'category'}_{as_of}.csv",
                 rows=shown.height, key="compstat_csv")

st.subheader("Rhythm")
st.plotly_chart(_rhythm(context, context.cache_key, filters, today), width="stretch",
                key="trend_rhythm", config=PLOTLY_CONFIG)

st.subheader("Category by region")
st.caption("Dashed: baseline; red rings: anomalies of a category within a region. Select "
           "points in a cell to narrow every page to that category and region.")
picked = st.plotly_chart(cells_figure, width="stretch", key="trend_cells", config=PLOTLY_CONFIG,
                         on_select="rerun", selection_mode=("points", "box"))
_narrow_on_selection(picked, "trend_cells_handled", cell_selection_changes)
