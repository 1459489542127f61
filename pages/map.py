"""Map (analysts): county choropleth with hot spots, regions, AORs, points and heat; a click on
a county filters every page; the counties under the filter as a table and CSV."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.analytics.filters import period_of
from dashboard.security.policy import may_see_points
from dashboard.views.export import to_safe_csv
from pages.common import audited_download, load_context, today_in
from pages.maps import county_figures, render_analyst_map
from pages.sidebar import current_filters

context = load_context()
config = context.config
filters = current_filters()
today = today_in(context)
period = period_of(filters, today)

st.title("Map")
st.caption(f"{period.label()} · click a county to filter every page by it · hot and cold "
           "spots are Getis-Ord Gi* over county counts (queen contiguity) at 90/95/99 % "
           "confidence, computed statewide")

MEASURES = {"incidents": "Incidents", "per_1000_km2": "Incidents per 1,000 km²"}
LAYERS = ["Regions", "Hot spots", "Center AORs"]
if may_see_points(context.viewer):
    LAYERS += ["Points", "Heat map"]
else:
    st.caption("Partner view: counts by county only; counties with fewer than "
               f"{config.settings.security.partner_min_count} incidents are not shown.")
controls = st.columns([2, 5])
measure = controls[0].segmented_control(
    "Shade counties by", list(MEASURES), format_func=MEASURES.__getitem__, default="incidents",
    key="map_measure", help="Per 1,000 km² normalises for county size: a large rural county "
    "with the same count as a small urban one is shaded lighter.") or "incidents"
shown = controls[1].pills("Layers", LAYERS, selection_mode="multi",
                          default=["Regions", "Hot spots"], key="map_layers")

county_table, hotspots = county_figures(context, context.cache_key, filters, today)
render_analyst_map(context, filters, county_table, measure, MEASURES[measure], list(shown),
                   hotspots)

st.subheader("Counties under the current filter")
table = county_table.join(hotspots.select("county_fips", "z_score", "hotspot_class"),
                          on="county_fips", how="left").filter(
    pl.col("incidents") > 0 if not (filters.counties or filters.regions)
    else pl.col("county_fips").is_in(
        county_table.filter(pl.col("incidents") > 0)["county_fips"].to_list()
        + list(filters.counties)))
st.dataframe(
    table.drop("area_km2", "region_id"), hide_index=True, width="stretch", key="county_table",
    column_config={
        "county_fips": "FIPS", "county_name": "County", "region_name": "Region",
        "incidents": st.column_config.NumberColumn("Incidents", format="localized"),
        "per_1000_km2": st.column_config.NumberColumn("Per 1,000 km²", format="%.1f"),
        "previous": st.column_config.NumberColumn("Previous period", format="localized"),
        "change": st.column_config.NumberColumn("Change", format="%+d"),
        "change_pct": st.column_config.NumberColumn("Change %", format="%+.1f%%"),
        "z_score": st.column_config.NumberColumn("Gi* z", format="%+.2f"),
        "hotspot_class": "Hot spot",
    },
)
audited_download(context, "Download counties (CSV)", to_safe_csv(table),
                 f"counties_{period.start}_{period.end}.csv", rows=table.height,
                 key="county_csv")
