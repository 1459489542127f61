"""Overview (leadership): the period's headline figures, what rose, where, and latest products."""

from __future__ import annotations

import streamlit as st

from dashboard.pagemodels.overview import overview_page
from dashboard.views.formatting import markdown_text
from dashboard.views.picture import kpi_delta
from page_glue import current_filters, load_context, page_model, render_overview_map

context = load_context()
page = page_model(context, overview_page, current_filters())

# The heading says what is shown (place · categories · period); every other filter under it.
st.title(markdown_text(page.scope.heading))
if page.scope.filters_line:
    st.markdown(markdown_text(page.scope.filters_line))
st.caption(page.caption)
if page.note:
    st.info(page.note, icon=":material/shield:")

# Rises in threat counts are bad news (red); more products and reporting centers are good.
DELTA_COLOURS = {"Incidents": "inverse", "SARs": "inverse", "Products": "normal",
                 "Centers reporting": "normal", "Open quarantine": "off"}
CHART_CONFIG = {"displaylogo": False}
cards = st.columns(len(page.kpis))
for card, kpi in zip(cards, page.kpis, strict=True):
    flat = kpi.change == 0
    card.metric(kpi.label, f"{kpi.current:,}", kpi_delta(kpi), help=kpi.help,
                delta_color="off" if flat else DELTA_COLOURS[kpi.label],
                delta_arrow="off" if flat else "auto", border=True)

# Full width: the names, the bars and the columns of figures beside them all need the room.
st.plotly_chart(page.category_changes, width="stretch", key="rising_categories",
                config=CHART_CONFIG)
level = st.segmented_control("Biggest changes by", list(page.place_changes), default="County",
                             key="overview_increase_level") or "County"
st.plotly_chart(page.place_changes[level], width="stretch", key="place_changes",
                config=CHART_CONFIG)
st.caption(f"Bars: change in incidents, this period against the {page.period.days} days "
           "before; beside each, the same change with its percentage of the period before, "
           "then the counts before → now. The largest changes, rises and falls.")

map_column, products_column = st.columns([1, 1])
with map_column:
    st.subheader("Incidents by county")
    render_overview_map(context, page.county_counts)
with products_column:
    st.subheader("Latest products")
    if not page.latest_products:
        st.info("No analytic product on these topics and places was published in the period.")
    else:
        st.caption("The newest products on these topics and places in the period; open one "
                   "to read it.")
        for index, product in enumerate(page.latest_products):
            with st.expander(markdown_text(f"{product.published:%d %b} · {product.title}")):
                st.markdown(product.details_markdown())
                if product.link:
                    st.link_button("Open the source", product.link, key=f"product_link_{index}")
                    st.text(product.link)
