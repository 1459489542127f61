"""Centers (leadership, analysts): who contributes what, how fast, where; how the AORs overlap
and which counties no center covers; the period's products, each opened in full. A click on a
center in a chart filters every page by it."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.analytics.filters import Filters
from dashboard.pagemodels.centers import OVERLAP_MEASURES, centers_page
from dashboard.views.formatting import markdown_text
from page_glue import (
    audited_download,
    current_filters,
    load_context,
    page_model,
    request_filter_change,
)

CHART_CONFIG = {"displaylogo": False}
# Taller than 4 rem, so that the table wraps long titles and names instead of cutting them.
PRODUCT_ROW_PX = 72


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


def clickable_chart(figure: Any, key: str, known: set[str], filters: Filters) -> None:
    """A chart whose click on a center (one of ``known``) filters every page by it."""
    event = st.plotly_chart(figure, width="stretch", key=key, on_select="rerun",
                            selection_mode="points", config=CHART_CONFIG)
    narrow_to_clicked_center(event, key, known, filters)


context = load_context()
config = context.config
filters = current_filters()
page = page_model(context, centers_page, filters)
period, figures, names = page.period, page.figures, page.names
known = set(names)

st.title(markdown_text(f"Centers · {page.scope.heading}"))
if page.scope.filters_line:
    st.markdown(markdown_text(page.scope.filters_line))
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
cards[3].metric("Centers reporting", f"{page.active_centers} of {figures.summary.height}",
                border=True, help="Centers with at least one report under the filters.")

st.subheader("Summary")
st.dataframe(
    page.summary, hide_index=True, width="stretch", key="centers_summary",
    column_config={
        "Incidents": st.column_config.NumberColumn(
            format="localized", help="Reports the center filed under the filters."),
        "Share": st.column_config.TextColumn(
            help="Share of all reports filed statewide under the same filters."),
        "Products": st.column_config.NumberColumn(
            format="localized",
            help="Analytic products it published on the selected topics and area."),
        "Median lag": st.column_config.TextColumn(
            help="Median hours from occurrence to report, over the reports whose feed gives "
            "a report time (unknown: none does; —: no report)."),
        "90 % within": st.column_config.TextColumn(
            help="Nine in ten reports with a report time arrived within this."),
        "Outside AOR": st.column_config.TextColumn(
            help="Reports in counties outside the center's area of responsibility, as a share "
            "of its reports with a known county (—: none has a known county)."),
        "Last report": st.column_config.TextColumn(
            help="Its latest report up to the end of the period (any start date), in "
            f"{config.settings.timezone} time: shows a center that went quiet."),
    },
)
st.caption(markdown_text(page.lag_note))
audited_download(context, "Download summary (CSV)", page.csv, page.csv_name,
                 rows=figures.summary.height, key="centers_summary_csv")

clickable_chart(page.weekly_chart, "centers_weekly", known, filters)
st.caption("Weeks are the 7 days ending on the period's last day; a hollow point is a shorter "
           "first week. Every center is drawn on the same scale (one for incidents, one for "
           "products), so the rows compare. Products are those on the selected topics and "
           "area.")
clickable_chart(page.lag_chart, "centers_lag", known, filters)
st.caption("Lag is measured from when the incident occurred to when the center received the "
           "report (UTC, so daylight-saving changes do not distort it). Reports whose feed "
           "carries no report time are shown grey and left out of the median.")
clickable_chart(page.products_chart, "centers_products", known, filters)

st.subheader("Products in the period")
if page.products.is_empty():
    st.info("No analytic product on these topics and places was published in the period.")
else:
    st.caption(f"{page.products.height:,} products on the selected topics and area, newest "
               "first: select a row to read one.")
    chosen = st.dataframe(
        page.products, hide_index=True, width="stretch", key="centers_products_table",
        on_select="rerun", selection_mode="single-row", row_height=PRODUCT_ROW_PX,
        # Widths in proportion (the table stretches them to its width): the title widest.
        column_config={"Published": st.column_config.DateColumn(format="D MMM YYYY",
                                                                width=95),
                       "Center": st.column_config.TextColumn(width=160),
                       "Title": st.column_config.TextColumn(width=330),
                       "Type": st.column_config.TextColumn(width=140),
                       "Marking": st.column_config.TextColumn(width=135)})
    rows = chosen.selection.rows if chosen else []
    if rows and rows[0] < len(page.product_cards):
        product = page.product_cards[rows[0]]
        with st.container(border=True, key="centers_product_card"):
            st.markdown(product.details_markdown())
            if product.link:
                st.link_button("Open the source", product.link)
                st.text(product.link)

st.subheader("Areas of responsibility")
measure = st.segmented_control(
    "Overlap measure", list(OVERLAP_MEASURES), format_func=OVERLAP_MEASURES.__getitem__,
    default="shared_counties", key="centers_overlap_measure",
    help="Shared counties: counties in both AORs. Incidents reported by both: events in those "
    "counties that both centers reported (linked as duplicates at ingest), under the "
    "filters.") or "shared_counties"
st.plotly_chart(page.overlap_charts[measure], width="stretch", key="centers_overlap",
                config=CHART_CONFIG)
st.caption("Every configured center is shown whatever the center filter; the diagonal gives "
           "the size of each center's AOR. Hover a cell for the shared counties.")
uncovered, only_statewide, depth = st.columns(3)
counties = figures.county_coverage.height
county_columns = {"Incidents": st.column_config.NumberColumn(
    format="localized", help="Events in the period, duplicates once, every center.")}
with uncovered:
    st.markdown("**Counties no center covers**")
    if page.uncovered.is_empty():
        st.success(f"Every one of the {counties} counties"
                   f"{' under the place filter' if filters.regions or filters.counties else ''}"
                   " is in at least one center's AOR.", icon=":material/check_circle:")
    else:
        st.error(f"{page.uncovered.height} of {counties} counties are in no center's AOR.",
                 icon=":material/warning:")
        st.dataframe(page.uncovered, hide_index=True, width="stretch", key="centers_uncovered",
                     column_config=county_columns)
with only_statewide:
    st.markdown("**Counties only a statewide center covers**")
    if page.only_statewide.is_empty():
        st.caption("None: every county is also in a regional or urban-area center's AOR.")
    else:
        st.caption(f"{page.only_statewide.height} counties have no regional or urban-area "
                   "center: the statewide center is their only analytic cover.")
        st.dataframe(page.only_statewide, hide_index=True, width="stretch",
                     key="centers_only_statewide", column_config=county_columns)
with depth:
    st.markdown("**Centers per county**")
    st.caption(page.depth)

st.subheader("One center against its AOR")
if not page.order:
    st.info("No center under these filters.")
else:
    chosen_center = st.columns([2, 3])[0].selectbox(
        "Center", page.order, key="centers_detail_center", format_func=names.__getitem__)
    detail = page.details[chosen_center]
    cards = st.columns(4)
    cards[0].metric("Reports", f"{detail.reports:,}", border=True)
    cards[1].metric("Outside its AOR", f"{detail.outside_aor:,}", border=True,
                    help="Reports in counties outside its area of responsibility.")
    cards[2].metric("% outside AOR", detail.outside_aor_pct, border=True,
                    help="Of its reports with a known county.")
    cards[3].metric("Without a county", f"{detail.without_county:,}", border=True,
                    help="Reports with no county: neither inside nor outside the AOR.")
    left, right = st.columns([1, 1])
    with left:
        st.plotly_chart(detail.categories, width="stretch", key="centers_detail_categories",
                        config=CHART_CONFIG)
    with right:
        st.markdown(f"**{markdown_text(detail.name)}: region by region**")
        if detail.regions.is_empty():
            st.caption("No report under these filters.")
        else:
            st.dataframe(
                detail.regions, hide_index=True, width="stretch", key="centers_detail_regions",
                column_config={
                    "Reports": st.column_config.NumberColumn(format="localized"),
                    "Outside AOR": st.column_config.NumberColumn(format="localized"),
                    "AOR counties": st.column_config.TextColumn(
                        help="How many of the region's counties the center's AOR holds."),
                })
        if not detail.outside_counties.is_empty():
            st.markdown("**Counties outside its AOR it reports on**")
            st.dataframe(detail.outside_counties, hide_index=True, width="stretch",
                         key="centers_detail_outside",
                         column_config={"Reports": st.column_config.NumberColumn(
                             format="localized")})
