"""Overview (leadership): the period's headline figures, what rose, where, and latest products."""

from __future__ import annotations

import streamlit as st

from dashboard.pagemodels.overview import overview_page
from dashboard.views.picture import change_bar_figure, kpi_delta
from page_glue import current_filters, load_context, page_model, render_overview_map

context = load_context()
config = context.config
page = page_model(context, overview_page, current_filters())

st.title("Statewide picture")
st.caption(page.caption)
if page.note:
    st.info(page.note, icon=":material/shield:")

# Rises in threat counts are bad news (red); more products and reporting centers are good.
DELTA_COLOURS = {"Incidents": "inverse", "SARs": "inverse", "Products": "normal",
                 "Centers reporting": "normal", "Open quarantine": "off"}
cards = st.columns(len(page.kpis))
for card, kpi in zip(cards, page.kpis, strict=True):
    flat = kpi.change == 0
    card.metric(kpi.label, f"{kpi.current:,}", kpi_delta(kpi), help=kpi.help,
                delta_color="off" if flat else DELTA_COLOURS[kpi.label],
                delta_arrow="off" if flat else "auto", border=True)

labels = config.labels
rising, places = st.columns(2)
with rising:
    st.plotly_chart(change_bar_figure(page.by_category, "category", labels["category"],
                                      "Categories changing most"),
                    width="stretch", key="rising_categories", config={"displaylogo": False})
with places:
    level = st.segmented_control("Largest increases by", ["County", "Region"], default="County",
                                 key="overview_increase_level")
    if level == "Region":
        by_place, place_labels, column = page.by_region, labels["region"], "region_id"
    else:
        by_place, place_labels, column = page.by_county, labels["county"], "county_fips"
    st.plotly_chart(change_bar_figure(by_place, column, place_labels,
                                      f"{level or 'County'} changes"),
                    width="stretch", key="place_changes", config={"displaylogo": False})

map_column, products_column = st.columns([1, 1])
with map_column:
    st.subheader("Incidents by county")
    render_overview_map(context, page.county_counts)
with products_column:
    st.subheader("Latest products")
    if page.latest.is_empty():
        st.info("No analytic product on these topics and places was published in the period.")
    else:
        st.dataframe(page.latest, hide_index=True, width="stretch", key="latest_products",
                     column_config={"published_date": st.column_config.DateColumn("Published"),
                                    "center_id": "Center",
                                    "title": st.column_config.TextColumn("Title", width="large"),
                                    "product_type": "Type", "topics": "Topics",
                                    "tlp": "Marking"})
