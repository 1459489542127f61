"""Trends (leadership and analysts): series against their own baseline with anomalies marked,
the CompStat table, the weekly rhythm and category x region small multiples. Selecting points
on a chart narrows the shared filters."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from dashboard.pagemodels.trends import (
    COMPSTAT_BY,
    GRANULARITIES,
    SPLITS,
    granularities_for,
    splits_for,
    trends_page,
)
from dashboard.views.formatting import markdown_text
from dashboard.views.picture import kpi_delta
from dashboard.views.trends import (
    MISSING,
    cell_selection_changes,
    compstat_column_names,
    rule_text,
    series_selection_changes,
)
from page_glue import (
    audited_download,
    context_data,
    current_filters,
    load_context,
    page_model,
    request_filter_change,
)

PLOTLY_CONFIG = {"displaylogo": False}


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
data = context_data(context)

# The title and filters line come from the model, which reads the controls: placeholders keep
# them above the controls.
heading = st.empty()
filters_line = st.empty()
controls = st.columns([3, 3, 4])
split = controls[0].segmented_control(
    "Split by", splits_for(data), format_func=SPLITS.__getitem__, default="category",
    key="trends_split") or "category"
wanted = controls[1].segmented_control(
    "Granularity", granularities_for(data, config), format_func=GRANULARITIES.__getitem__,
    default="week", key="trends_granularity") or "week"
by = "region_id" if st.session_state.get("compstat_by_region") else "category"
page = page_model(context, trends_page, filters, split=split, granularity=wanted,
                  compstat_by=by)
period = page.period
view = page.series
heading.title(f"Trends · {markdown_text(page.scope.heading)}")
if page.scope.filters_line:
    filters_line.markdown(markdown_text(page.scope.filters_line))

counted = ("duplicates counted once" if data.selection(filters).duplicates_once
           else "every report counted")
st.caption(f"{page.counted} · {counted} · click points, or draw a box "
           "with the chart's box-select tool, to narrow every page to them")
if page.note:
    st.info(page.note, icon=":material/shield:")
if view.granularity != wanted:
    st.info(f"Shown per {view.granularity}: per {wanted} this period would draw more than "
            "100,000 points.", icon=":material/info:")
if page.buckets_note:
    st.caption(page.buckets_note)
selected = st.plotly_chart(page.series_chart, width="stretch", key="trend_series",
                           config=PLOTLY_CONFIG, on_select="rerun",
                           selection_mode=("points", "box"))
_narrow_on_selection(selected, "trend_series_handled",
                     lambda points: series_selection_changes(points, view.split))

st.subheader("Anomalies")
if page.anomalies.is_empty():
    st.info(f"No {SPLITS[view.split].lower()} series, and no category within a region, rose "
            "significantly above its baseline in this period.", icon=":material/check_circle:")
else:
    # No set width on "Series": the column fits its longest name ('Category · Region').
    st.dataframe(
        page.anomaly_rows, hide_index=True, width="stretch", key="anomaly_table",
        column_config={
            "Observed": st.column_config.NumberColumn(format="localized"),
            "Expected": st.column_config.NumberColumn(format="%.1f"),
            "× baseline": st.column_config.NumberColumn(format="%.1f"),
            "p": st.column_config.TextColumn(help="Chance of at least the observed count "
                                             "under the baseline"),
            "Adjusted p": st.column_config.TextColumn(help="p adjusted for the many series "
                                                      "and buckets tested together"),
        },
    )
with st.expander("How anomalies are found", icon=":material/function:"):
    st.markdown(rule_text(view.rule, view.granularity))
    if page.cells.granularity != view.granularity:
        st.markdown(rule_text(page.cells.rule, page.cells.granularity))

st.subheader("CompStat")
switches = st.columns([2, 3, 7])
switches[0].toggle("By region", key="compstat_by_region",
                   help="Rows by region instead of by threat category.")
rates = switches[1].toggle(
    "Per 100,000 residents", key="compstat_rates",
    help="Each window's incidents per 100,000 residents, against the prior period's rate.")
st.caption(f"As of {period.end:%d %b %Y} (the period's last day), under every filter but the "
           "period. The year to date is compared with the same span of last year (a year to "
           "date ending on 29 February with 1 January to 28 February).")
cards = st.columns(3)
for card, kpi in zip(cards, page.compstat_totals, strict=True):
    flat = kpi.change == 0
    card.metric(kpi.label, f"{kpi.current:,}", kpi_delta(kpi), help=kpi.help,
                delta_color="off" if flat else "inverse",
                delta_arrow="off" if flat else "auto", border=True)
if rates:
    st.caption(page.compstat_rates_note)
column_config: dict[str, Any] = {
    # The name stays in view while the windows scroll.
    "name": st.column_config.TextColumn(COMPSTAT_BY[by], pinned=True)}
long_names = compstat_column_names()
for column, header in page.compstat_headers(rates).items():
    fmt = ("%+.1f%%" if column.endswith("_pct") else "%+d" if column.endswith("_change")
           else "%.1f" if column.endswith("_per_100k") else "localized")
    column_config[column] = st.column_config.NumberColumn(header, format=fmt,
                                                          help=long_names[column])
st.dataframe(page.compstat, hide_index=True, width="stretch", key="compstat_table",
             column_order=["name", *page.compstat_headers(rates)], column_config=column_config,
             placeholder=MISSING)
audited_download(context, "Download CompStat (CSV)", page.compstat_csv, page.compstat_csv_name,
                 rows=page.compstat.height, key="compstat_csv")

if page.rhythm is not None:
    st.subheader("Rhythm")
    st.plotly_chart(page.rhythm, width="stretch", key="trend_rhythm", config=PLOTLY_CONFIG)

st.subheader("Category by region")
st.caption("Each row shares one scale, labelled on its left: a category compared across the "
           "regions (scales differ from row to row). Dashed: baseline; red rings: anomalies of a "
           "category within a region. Select points in a cell to narrow every page to that "
           "category and region.")
picked = st.plotly_chart(page.cells_chart, width="stretch", key="trend_cells",
                         config=PLOTLY_CONFIG, on_select="rerun",
                         selection_mode=("points", "box"))
_narrow_on_selection(picked, "trend_cells_handled", cell_selection_changes)
