"""Map (analysts): county choropleth with hot spots, regions, AORs, points and heat; a click on
a county filters every page; the counties under the filter as a table and CSV."""

from __future__ import annotations

import streamlit as st

from dashboard.geo.population import POPULATION_VINTAGE
from dashboard.pagemodels.map import map_page
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
page = page_model(context, map_page, filters)

st.title("Map")
st.caption(f"{page.period.label()} · click a county to filter every page by it · hot and cold "
           "spots are Getis-Ord Gi* over county counts (queen contiguity) at 90/95/99 % "
           "confidence, computed statewide")
if page.note:
    st.info(page.note, icon=":material/shield:")

MEASURES = {"incidents": "Incidents", "per_100k": "Per 100,000 residents",
            "per_1000_km2": "Per 1,000 km²"}
LAYERS = ["Places", "Regions", "Hot spots", "Center AORs"]
if page.points_allowed:
    LAYERS += ["Points", "Heat map"]
controls = st.columns([4, 5])
measure = controls[0].segmented_control(
    "Shade counties by", list(MEASURES), format_func=MEASURES.__getitem__, default="incidents",
    key="map_measure", help=f"Per 100,000 residents (Census Vintage {POPULATION_VINTAGE} "
    "estimates) is what crime analysts compare across places: a county of few residents can "
    "show a high rate from a handful of incidents. Per 1,000 km² normalises for county size.") \
    or "incidents"
shown = controls[1].pills("Layers", LAYERS, selection_mode="multi",
                          default=["Places", "Regions", "Hot spots"], key="map_layers")

render_analyst_map(context, filters, page.county_counts, measure, MEASURES[measure],
                   list(shown), page.hotspots_in_view)

st.subheader("Counties under the current filter")
st.dataframe(
    page.table, hide_index=True, width="stretch", key="county_table",
    column_config={
        "county_fips": "FIPS", "county_name": "County", "region_name": "Region",
        "incidents": st.column_config.NumberColumn("Incidents", format="localized"),
        "per_100k": st.column_config.NumberColumn(
            "Per 100k residents", format="%.1f",
            help=f"Incidents per 100,000 residents (Census Vintage {POPULATION_VINTAGE})."),
        "per_1000_km2": st.column_config.NumberColumn("Per 1,000 km²", format="%.1f"),
        "previous": st.column_config.NumberColumn("Previous period", format="localized"),
        "change": st.column_config.NumberColumn("Change", format="%+d"),
        "change_pct": st.column_config.NumberColumn("Change %", format="%+.1f%%"),
        "withheld_cells": st.column_config.NumberColumn(
            "Withheld cells", format="%d", help="Week x category cells of 1 to "
            f"{config.settings.security.partner_min_count - 1} incidents: counted nowhere."),
        "z_score": st.column_config.NumberColumn("Gi* z", format="%+.2f"),
        "hotspot_class": "Hot spot",
    },
)
audited_download(context, "Download counties (CSV)", page.csv, page.csv_name,
                 rows=page.table.height, key="county_csv")
