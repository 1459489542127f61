"""Overview (leadership): the period's headline figures, what rose, where, and latest products."""

from __future__ import annotations

import streamlit as st

from dashboard.analytics.filters import period_of
from dashboard.views.picture import change_bar_figure, kpi_delta
from pages.common import load_context, overview, today_in
from pages.maps import render_overview_map
from pages.sidebar import current_filters

context = load_context()
config = context.config
filters = current_filters()
today = today_in(context)
period = period_of(filters, today)
figures = overview(context, context.cache_key, filters, today)

st.title("Statewide picture")
st.caption(f"{period.label()} ({period.days} days) against the {period.days} days before · "
           f"{'duplicates counted once' if filters.duplicates_once else 'every report counted'}")

# Rises in threat counts are bad news (red); more products and reporting centers are good.
DELTA_COLOURS = {"Incidents": "inverse", "SARs": "inverse", "Products": "normal",
                 "Centers reporting": "normal", "Open quarantine": "off"}
cards = st.columns(5)
min_count = config.settings.security.partner_min_count
for card, kpi in zip(cards, figures.kpis, strict=True):
    flat = kpi.change == 0
    # A withheld figure shows as "< k"; a large one beside a withheld previous shows alone.
    value = (f"< {min_count}" if kpi.suppressed and 0 < kpi.current < min_count
             else f"{kpi.current:,}")
    card.metric(kpi.label, value, kpi_delta(kpi), help=kpi.help,
                delta_color="off" if flat else DELTA_COLOURS[kpi.label],
                delta_arrow="off" if flat else "auto", border=True)

category_labels = {key: value.label for key, value in config.taxonomy.categories.items()}
rising, places = st.columns(2)
with rising:
    st.plotly_chart(change_bar_figure(figures.by_category, "category", category_labels,
                                      "Categories changing most"),
                    width="stretch", key="rising_categories", config={"displaylogo": False})
with places:
    level = st.segmented_control("Largest increases by", ["County", "Region"], default="County",
                                 key="overview_increase_level")
    if level == "Region":
        by_place = figures.by_region
        labels = {region.id: region.name for region in config.regions}
        column = "region_id"
    else:
        by_place = figures.by_county
        labels, column = config.county_names, "county_fips"
    st.plotly_chart(change_bar_figure(by_place, column, labels, f"{level or 'County'} changes"),
                    width="stretch", key="place_changes", config={"displaylogo": False})

map_column, products_column = st.columns([1, 1])
with map_column:
    st.subheader("Incidents by county")
    render_overview_map(context, figures.county_counts)
with products_column:
    st.subheader("Latest products")
    latest = figures.latest
    if latest.is_empty():
        st.info("No analytic product on these topics and places was published in the period.")
    else:
        st.dataframe(latest, hide_index=True, width="stretch", key="latest_products",
                     column_config={"published_date": st.column_config.DateColumn("Published"),
                                    "center_id": "Center",
                                    "title": st.column_config.TextColumn("Title", width="large"),
                                    "product_type": "Type", "topics": "Topics",
                                    "tlp": "Marking"})
