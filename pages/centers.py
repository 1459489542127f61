"""Centers (leadership, analysts): who contributes what, how fast, where; how the AORs overlap
and which counties no center covers. A click on a center in a chart filters every page by it."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from dashboard.analytics.filters import Filters
from dashboard.pagemodels.centers import centers_page
from dashboard.views.centers import (
    aor_category_figure,
    center_label,
    lag_figure,
    overlap_figure,
    products_by_month_figure,
    weekly_activity_figure,
)
from dashboard.views.formatting import markdown_text
from page_glue import (
    audited_download,
    current_filters,
    load_context,
    page_model,
    request_filter_change,
)

KIND_LABELS = {"state": "State", "regional": "Regional", "urban_area": "Urban area"}
CHART_CONFIG = {"displaylogo": False}


def narrow_to_clicked_center(event: Any, chart_key: str, known: set[str],
                             filters: Filters) -> None:
    """A click on a center's trace narrows the shared filters to it (once per new click)."""
    points = ((event or {}).get("selection") or {}).get("points") or []
    clicked = [point["customdata"][0] for point in points
               if point.get("customdata") and point["customdata"][0] in known]
    handled_key = f"{chart_key}_handled"
    if not clicked or st.session_state.get(handled_key) == clicked:
        return
    st.session_state[handled_key] = clicked
    if filters.centers != (clicked[0],):
        request_filter_change(centers=(clicked[0],))


def lag_text(column: str) -> pl.Expr:
    """Hours as '2.1 h'; 'unknown' when no report had a report time."""
    return pl.when(pl.col(column).is_null()).then(pl.lit("unknown")).otherwise(
        pl.format("{} h", pl.col(column).round(1)))


context = load_context()
config = context.config
filters = current_filters()
page = page_model(context, centers_page, filters)
period, figures = page.period, page.figures
names = dict(config.labels["center"])
names.update({row["center_id"]: row["name"] for row in figures.summary.iter_rows(named=True)
              if row["center_id"] not in names})
# One fixed order in every chart (state center first, then regional, then urban-area ones), so
# a center keeps its place when the filters change; the table sorts by volume.
every_center = list(dict.fromkeys(figures.overlap["center_a"].to_list()))
shown = set(figures.summary["center_id"].to_list())
order = [c for c in every_center if c in shown] + [c for c in figures.summary["center_id"]
                                                   if c not in every_center]

st.title("Centers")
st.caption(
    f"{period.label()} ({period.days} days) · each center is credited with every report it "
    "filed, so an event two centers reported counts for both; shares are of all reports "
    "statewide under the same filters · click a center in a chart to filter every page by it")

duplicated = figures.statewide_reports - figures.statewide_events
cards = st.columns(4)
cards[0].metric("Incidents statewide", f"{figures.statewide_events:,}", border=True,
                help="Events under the filters (every center), a cross-center duplicate once.")
cards[1].metric("Reports statewide", f"{figures.statewide_reports:,}", border=True,
                help="Every center's reports under the filters: the base of each center's "
                "share.")
cards[2].metric("Filed by two centers", f"{duplicated:,}", border=True,
                help="Reports linked at ingest as the same event as an earlier report by "
                "another center.")
active = int((figures.summary["incidents"] > 0).sum())
cards[3].metric("Centers reporting", f"{active} of {figures.summary.height}", border=True,
                help="Centers with at least one report under the filters.")

st.subheader("Summary")
summary = figures.summary.with_columns(
    pl.col("center_id").str.to_uppercase().alias("center_id"),
    pl.col("kind").replace(KIND_LABELS),
    lag_text("median_lag_h").alias("median_lag"), lag_text("p90_lag_h").alias("p90_lag"),
)
st.dataframe(
    summary, hide_index=True, width="stretch", key="centers_summary",
    column_order=["center_id", "name", "kind", "incidents", "share_pct", "products",
                  "median_lag", "p90_lag", "outside_aor_pct", "last_report_at"],
    column_config={
        "center_id": st.column_config.TextColumn("ID", width="small"),
        "name": st.column_config.TextColumn("Center", width="medium"),
        "kind": st.column_config.TextColumn("Kind", width="small"),
        "incidents": st.column_config.NumberColumn(
            "Incidents", format="localized", help="Reports the center filed under the filters."),
        "share_pct": st.column_config.NumberColumn(
            "Share", format="%.1f%%",
            help="Share of all reports filed statewide under the same filters."),
        "products": st.column_config.NumberColumn(
            "Products", format="localized",
            help="Analytic products it published on the selected topics and area."),
        "median_lag": st.column_config.TextColumn(
            "Median lag", help="Median hours from occurrence to report, over the reports "
            "whose feed gives a report time (unknown: none does)."),
        "p90_lag": st.column_config.TextColumn(
            "90 % within", help="Nine in ten reports with a report time arrived within this."),
        "outside_aor_pct": st.column_config.NumberColumn(
            "Outside AOR", format="%.1f%%",
            help="Reports in counties outside the center's area of responsibility, as a share "
            "of its reports with a known county."),
        "last_report_at": st.column_config.DatetimeColumn(
            "Last report", format="D MMM YYYY, HH:mm",
            help="Its latest report up to the end of the period (any start date), in "
            f"{config.settings.timezone} time: shows a center that went quiet."),
    },
)
rows = list(figures.summary.iter_rows(named=True))
notes = [f"{row['center_id'].upper()} {row['lag_unknown']:,} of {row['incidents']:,} "
         "without a report time" for row in rows if row["lag_unknown"]]
notes += [f"{row['center_id'].upper()} {row['lag_negative']:,} reported before they occurred "
          "(a feed error)" for row in rows if row["lag_negative"]]
st.caption(("Left out of the lag: " + " · ".join(notes) + ". " if notes else "")
           + "The CSV adds each center's reports another center also filed, outside-AOR counts "
           "and lag data-quality counts.")
audited_download(context, "Download summary (CSV)", page.csv, page.csv_name,
                 rows=figures.summary.height,
                 key="centers_summary_csv")

known = set(names)
activity, lag = st.columns([3, 2])
with activity:
    event = st.plotly_chart(weekly_activity_figure(figures.weekly, names, order),
                            width="stretch", key="centers_weekly", on_select="rerun",
                            selection_mode="points", config=CHART_CONFIG)
    narrow_to_clicked_center(event, "centers_weekly", known, filters)
    st.caption("Weeks are the 7 days ending on the period's last day; a hollow point is a "
               "shorter first week. Products (bars, right axis) are those on the selected "
               "topics and area.")
with lag:
    event = st.plotly_chart(lag_figure(figures.lag_bands, names, order), width="stretch",
                            key="centers_lag", on_select="rerun", selection_mode="points",
                            config=CHART_CONFIG)
    narrow_to_clicked_center(event, "centers_lag", known, filters)
    st.caption("Lag is measured from when the incident occurred to when the center received "
               "the report (UTC, so daylight-saving changes do not distort it). Reports whose "
               "feed carries no report time are shown grey and left out of the median.")

type_labels = dict(config.taxonomy.product_types)
event = st.plotly_chart(products_by_month_figure(figures.products_by_month, names, order,
                                                 type_labels, period),
                        width="stretch", key="centers_products", on_select="rerun",
                        selection_mode="points", config=CHART_CONFIG)
narrow_to_clicked_center(event, "centers_products", known, filters)

st.subheader("Areas of responsibility")
matrix, coverage = st.columns([3, 2])
with matrix:
    measures = {"shared_counties": "Shared counties",
                "both_reported": "Incidents reported by both"}
    measure = st.segmented_control(
        "Overlap measure", list(measures), format_func=measures.__getitem__,
        default="shared_counties", key="centers_overlap_measure",
        help="Shared counties: counties in both AORs. Incidents reported by both: events in "
        "those counties that both centers reported (linked as duplicates at ingest), under "
        "the filters.") or "shared_counties"
    st.plotly_chart(overlap_figure(figures.overlap, names, every_center, measure),
                    width="stretch", key="centers_overlap", config=CHART_CONFIG)
    st.caption("Every configured center is shown whatever the center filter; the diagonal "
               "gives the size of each center's AOR. Hover a cell for the shared counties.")
with coverage:
    table = figures.county_coverage
    uncovered = table.filter(pl.col("center_count") == 0)
    only_statewide = table.filter(pl.col("only_statewide"))
    county_columns = {
        "county_name": "County", "region_name": "Region",
        "incidents": st.column_config.NumberColumn("Incidents", format="localized",
                                                   help="Events in the period, duplicates "
                                                   "once, every center."),
    }
    st.markdown("**Counties no center covers**")
    if uncovered.is_empty():
        st.success(f"Every one of the {table.height} counties"
                   f"{' under the place filter' if filters.regions or filters.counties else ''}"
                   " is in at least one center's AOR.", icon=":material/check_circle:")
    else:
        st.error(f"{uncovered.height} of {table.height} counties are in no center's AOR.",
                 icon=":material/warning:")
        st.dataframe(uncovered.select("county_name", "region_name", "incidents"),
                     hide_index=True, width="stretch", key="centers_uncovered",
                     column_config=county_columns)
    st.markdown("**Counties only a statewide center covers**")
    if only_statewide.is_empty():
        st.caption("None: every county is also in a regional or urban-area center's AOR.")
    else:
        st.caption(f"{only_statewide.height} counties have no regional or urban-area center: "
                   "the statewide center is their only analytic cover.")
        st.dataframe(only_statewide.select("county_name", "region_name", "incidents").sort(
            "incidents", descending=True), hide_index=True, width="stretch",
            key="centers_only_statewide", column_config=county_columns)
    st.markdown("**Centers per county**")
    depth = table.group_by("center_count").agg(pl.len().alias("counties")).sort("center_count")
    st.caption(" · ".join(f"{row['counties']} counties in {row['center_count']} AOR"
                          f"{'' if row['center_count'] == 1 else 's'}"
                          for row in depth.iter_rows(named=True)) or "No county.")

st.subheader("One center against its AOR")
if not order:
    st.info("No center under these filters.")
else:
    chosen = st.columns([2, 3])[0].selectbox(
        "Center", order, key="centers_detail_center",
        format_func=lambda c: f"{center_label(c)} · {names.get(c, c)}")
    row = figures.summary.filter(pl.col("center_id") == chosen).row(0, named=True)
    located = row["incidents"] - int(figures.by_category.filter(
        pl.col("center_id") == chosen)["unknown_county"].sum())
    cards = st.columns(4)
    cards[0].metric("Reports", f"{row['incidents']:,}", border=True)
    cards[1].metric("Outside its AOR", f"{row['outside_aor']:,}", border=True,
                    help="Reports in counties outside its area of responsibility.")
    cards[2].metric("% outside AOR", "—" if row["outside_aor_pct"] is None
                    else f"{row['outside_aor_pct']:.1f} %", border=True,
                    help="Of its reports with a known county.")
    cards[3].metric("Without a county", f"{row['incidents'] - located:,}", border=True,
                    help="Reports with no county: neither inside nor outside the AOR.")
    category_labels = {key: value.label for key, value in config.taxonomy.categories.items()}
    left, right = st.columns([1, 1])
    with left:
        st.plotly_chart(aor_category_figure(figures.by_category, chosen, category_labels),
                        width="stretch", key="centers_detail_categories", config=CHART_CONFIG)
    with right:
        st.markdown(f"**{markdown_text(center_label(chosen))} region by region**")
        regions = figures.by_region.filter(pl.col("center_id") == chosen).with_columns(
            pl.format("{} of {}", "aor_counties", "region_counties").alias("aor_share"))
        if regions.is_empty():
            st.caption("No report under these filters.")
        else:
            st.dataframe(
                regions.select("region_name", "incidents", "outside_aor", "aor_share"),
                hide_index=True, width="stretch", key="centers_detail_regions",
                column_config={
                    "region_name": "Region",
                    "incidents": st.column_config.NumberColumn("Reports", format="localized"),
                    "outside_aor": st.column_config.NumberColumn("Outside AOR",
                                                                 format="localized"),
                    "aor_share": st.column_config.TextColumn(
                        "AOR counties",
                        help="How many of the region's counties the center's AOR holds."),
                })
        outside = figures.outside_counties.filter(pl.col("center_id") == chosen)
        if not outside.is_empty():
            st.markdown("**Counties outside its AOR it reports on**")
            st.dataframe(outside.select("county_name", "region_name", "incidents"),
                         hide_index=True, width="stretch", key="centers_detail_outside",
                         column_config={"county_name": "County", "region_name": "Region",
                                        "incidents": st.column_config.NumberColumn(
                                            "Reports", format="localized")})
