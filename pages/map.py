"""Map (analysts): county choropleth with hot spots, emerging hot spots, regions, AORs, points and
heat; a click on a county filters every page; the counties under the filter as a table and CSV."""

from __future__ import annotations

import streamlit as st

from dashboard.geo.population import POPULATION_VINTAGE
from dashboard.pagemodels.map import HOTSPOT_MEASURES, map_page
from dashboard.views.formatting import markdown_text
from page_glue import (
    audited_download,
    current_filters,
    load_context,
    page_model,
    render_analyst_map,
)

context = load_context()
config = context.config
filters = current_filters()
hotspot_measure = st.session_state.get("map_hotspot_measure") or "incidents"
EMERGING = "Emerging hot spots"
# A space-time cube of every county and week: computed only while its layer is on.
with_emerging = EMERGING in (st.session_state.get("map_layers") or ())
page = page_model(context, map_page, filters, hotspot_measure=hotspot_measure,
                  with_emerging=with_emerging)

# One block, however many lines the filters add: Streamlit matches elements by position, so a
# line more above the map (a click sets a county filter) would replace the map's block with
# another element for a moment, and the page, shorter, would scroll to the top (issue 14).
with st.container():
    st.title(f"Map · {markdown_text(page.scope.heading)}")
    if page.scope.filters_line:
        st.markdown(markdown_text(page.scope.filters_line))
    st.caption(f"{page.counted} · click a county to filter every page by it · hot and "
               f"cold spots are Getis-Ord Gi* over county {HOTSPOT_MEASURES[hotspot_measure]} "
               "(queen contiguity) at 90/95/99 % confidence, computed "
               f"{'across the network' if context.config.settings.network else 'statewide'}")
    if page.note:
        st.info(page.note, icon=":material/shield:")

MEASURES = {"incidents": "Incidents", "per_100k": "Per 100,000 residents",
            "per_1000_km2": "Per 1,000 km²"}
LAYERS = ["Places", "Regions", "Hot spots", EMERGING, "Center AORs"]
if page.points_allowed:
    LAYERS += ["Points", "Heat map"]
# One row that wraps: at 1440 px the layers go under the shading instead of being cut off at
# the page's edge (issue 14).
controls = st.container(horizontal=True, wrap=True, gap="medium", key="map_controls")
measure = controls.segmented_control(
    "Shade counties by", list(MEASURES), format_func=MEASURES.__getitem__, default="incidents",
    key="map_measure", help=f"Per 100,000 residents (Census Vintage {POPULATION_VINTAGE} "
    "estimates) is what crime analysts compare across places: a county of few residents can "
    "show a high rate from a handful of incidents. Per 1,000 km² normalises for county size.") \
    or "incidents"
controls.segmented_control(
    "Hot spots over", list(HOTSPOT_MEASURES), default="incidents", key="map_hotspot_measure",
    format_func={"incidents": "Counts", "rate": "Rates"}.__getitem__,
    help="Over counts, Gi* finds where incidents are many, which is mostly where people live. "
    "Over rates per 100,000 residents it finds where they are many for the population; rates "
    "are smoothed by empirical Bayes so that a county of few residents cannot stand out from a "
    "handful of incidents.")
shown = controls.pills("Layers", LAYERS, selection_mode="multi",
                       default=["Places", "Regions", "Hot spots"], key="map_layers")

render_analyst_map(context, filters, page.county_counts, measure, MEASURES[measure],
                   list(shown), page.hotspots_in_view,
                   page.emerging.in_view if page.emerging is not None else None)

if page.emerging is not None and page.emerging_table is not None:
    weeks = page.emerging.weeks
    st.subheader(f"Emerging hot spots ({len(weeks)} weeks to {weeks[-1]:%d %b %Y})")
    st.caption("Each county's weekly Gi* z-scores over the weeks, classed as ArcGIS's Emerging "
               "Hot Spot Analysis does (Mann-Kendall trend); on the map a red (hot) or blue "
               "(cold) square lettered by the pattern.")
    if page.emerging.note:
        st.info(page.emerging.note, icon=":material/shield:")
    if page.emerging_table.is_empty():
        st.caption("No county in view shows an emerging pattern.")
    else:
        st.dataframe(
            page.emerging_table, hide_index=True, width="stretch", key="emerging_table",
            column_order=["county_name", "region_name", "class_name", "trend",
                          "weeks_significant_pct", "last_z", "why"],
            column_config={
                "county_name": st.column_config.TextColumn("County", pinned=True),
                "region_name": "Region",
                "class_name": "Class",
                "trend": st.column_config.TextColumn(
                    "Trend (z, p)", help="Mann-Kendall trend of the weekly Gi* z-scores: above "
                    "0 clustering growing hotter, below 0 colder; p under 0.05 is significant."),
                "weeks_significant_pct": st.column_config.NumberColumn(
                    "Weeks hot %", format="%.0f%%", help="Share of the weeks the county was a "
                    "significant hot spot (a cold spot, for a cold class)."),
                "last_z": st.column_config.NumberColumn(
                    "Last week z", format="%+.2f",
                    help="Gi* z-score of the county in the last week."),
                "why": st.column_config.TextColumn("Why", width="large"),
            },
        )

st.subheader("Counties under the current filter")
# What a reader compares first, left to right; the county stays in view when a narrow window
# scrolls the rest (issue 14: the hot-spot class was cut off at 1440 px).
TABLE_COLUMNS = ("county_name", "region_name", "incidents", "per_100k", "previous", "change",
                 "change_pct", "hotspot_class", "z_score", "withheld_cells", "per_1000_km2",
                 "county_fips")
st.dataframe(
    page.table, hide_index=True, width="stretch", key="county_table",
    column_order=[name for name in TABLE_COLUMNS if name in page.table.columns],
    column_config={
        "county_fips": "FIPS",
        "county_name": st.column_config.TextColumn("County", pinned=True),
        "region_name": "Region",
        "incidents": st.column_config.NumberColumn("Incidents", format="localized"),
        "per_100k": st.column_config.NumberColumn(
            "Per 100k", format="%.1f",
            help=f"Incidents per 100,000 residents (Census Vintage {POPULATION_VINTAGE})."),
        "per_1000_km2": st.column_config.NumberColumn("Per 1,000 km²", format="%.1f"),
        "previous": st.column_config.NumberColumn(
            "Before", format="localized",
            help=f"Incidents in the {page.period.days} days before the period."),
        "change": st.column_config.NumberColumn("Change", format="%+d"),
        "change_pct": st.column_config.NumberColumn("Change %", format="%+.1f%%"),
        "withheld_cells": st.column_config.NumberColumn(
            "Withheld", format="%d", help="Week x category cells of 1 to "
            f"{config.settings.security.partner_min_count - 1} incidents: counted nowhere."),
        "z_score": st.column_config.NumberColumn(
            "Gi* z", format="%+.2f", help="Getis-Ord Gi* z-score of the county and its "
            "neighbours: above +1.65 a hot spot at 90 % confidence, below -1.65 a cold spot."),
        "hotspot_class": "Hot spot",
    },
)
audited_download(context, "Download counties (CSV)", page.csv, page.csv_name,
                 rows=page.table.height, key="county_csv")
