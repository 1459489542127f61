"""Data health: what each center sent, how fresh it is, and what the ingest could not take."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboard.pagemodels.data_health import data_health_page
from page_glue import current_health_frames, load_context

context = load_context()
page = data_health_page(context.visibility, current_health_frames(context),
                        datetime.now(UTC), context.config)
COUNT = st.column_config.NumberColumn(format="localized")
# Wide tables scroll sideways at 1440 px; the center (and the record) stay in view (issue 14).
PINNED = st.column_config.Column(pinned=True)

st.title("Data health")
st.caption("Rows per center, the freshness of every feed, and every row the ingest rejected or "
           "flagged. Nothing a feed sends is dropped silently: it is stored, flagged or "
           "quarantined here.")

totals = page.totals
metrics = st.columns(5)
metrics[0].metric("Incidents stored", f"{totals['incidents']:,}")
metrics[1].metric("Products stored", f"{totals['products']:,}")
metrics[2].metric("Rows quarantined", f"{totals['quarantined']:,}")
metrics[3].metric("Locations flagged", f"{totals['flagged_locations']:,}")
metrics[4].metric("Cross-center duplicates", f"{totals['duplicate_reports']:,}",
                  help="Reports linked to an earlier report of the same event by another center. "
                  "They are kept; pages can count them once or twice.")

st.subheader("Rows per center")
st.caption("Each measure on its own scale: incidents run to thousands, products and rejected "
           "rows to tens or hundreds.")
st.plotly_chart(page.per_center_chart, width="stretch", key="per_center_chart",
                config={"displaylogo": False})
st.dataframe(page.per_center_table, hide_index=True, width="stretch", key="per_center",
             column_config={"Center": PINNED} | {
                 header: COUNT for header in page.per_center_table.columns[2:]})

if not page.failed.is_empty():
    st.subheader("Failed feeds")
    st.error(f"{page.failed.height} feed(s) could not be loaded at their latest ingest; their "
             "data is as it was before. Every other feed loaded.")
    st.dataframe(page.failed, hide_index=True, width="stretch", key="failed_feeds",
                 column_config={"Center": PINNED,
                                "Error": st.column_config.TextColumn(width="large")})

st.subheader("Feeds")
st.dataframe(page.freshness, hide_index=True, width="stretch", key="freshness",
             column_config={"Center": PINNED,
                            "Age (h)": st.column_config.NumberColumn(format="%.1f"),
                            "Rows read": COUNT, "Rejected": COUNT})

if not page.bundles.is_empty():
    st.subheader("Network bundles received")
    st.caption("Each state's signed bundle of released aggregates, as imported: accepted ones "
               "are that state's figures for their weeks; a rejected one stored nothing and "
               "says why. Every attempt is also in the audit trail.")
    st.dataframe(page.bundles, hide_index=True, width="stretch", key="network_bundles",
                 column_config={"Cells": COUNT, "Incidents": COUNT,
                                "Why rejected": st.column_config.TextColumn(width="large")})

if not page.conformance.is_empty():
    st.subheader("Exchange standards")
    st.caption("Feeds that speak a published standard: how many of their records conformed to "
               "it (the rest are in the quarantine below, each with the path of the failing "
               "element), and the failures seen most.")
    st.dataframe(page.conformance, hide_index=True, width="stretch", key="conformance",
                 column_config={"Center": PINNED, "Records": COUNT, "Conformant": COUNT,
                                "Share conformant": st.column_config.NumberColumn(
                                    format="percent"),
                                "Most common failures": st.column_config.TextColumn(
                                    width="large")})

st.subheader("Quarantine")
if page.quarantine_summary is None:
    st.success("No rejected rows: every row of every feed was stored.")
else:
    st.dataframe(page.quarantine_summary, hide_index=True, width="stretch",
                 key="quarantine_summary",
                 column_config={"Center": PINNED, "Rows": COUNT,
                                "First row/line": st.column_config.NumberColumn(
                     format="%d"), "Example reason": st.column_config.TextColumn(width="large")})
    controls = st.columns([2, 2, 3])
    centers = controls[0].multiselect("Center", list(page.quarantine_centers),
                                      format_func=page.quarantine_centers.__getitem__,
                                      key="quarantine_centers")
    fields = controls[1].multiselect("Failing field", page.quarantine_fields,
                                     key="quarantine_fields")
    search = controls[2].text_input("Search reason or value", key="quarantine_search")
    rows = page.quarantine_rows(centers, fields, search)
    st.caption(f"{rows.height:,} of {page.quarantine.height:,} quarantined rows. Values are "
               "shown as text exactly as the feed sent them (— : the field was empty).")
    st.dataframe(rows, hide_index=True, width="stretch", key="quarantine_rows",
                 column_config={"Center": PINNED,
                                "Row/line": st.column_config.NumberColumn(format="%d",
                                                                          pinned=True),
                                "Reason": st.column_config.TextColumn(width="large")})

st.subheader("Flagged locations")
st.caption("Kept as reported, never silently fixed: *Outside the state* (coordinates outside the "
           "state, county given) and *County mismatch* (coordinates far from the county given).")
if page.flagged.is_empty():
    st.success("No incident you may see has a flagged location.")
else:
    st.dataframe(page.flagged, hide_index=True, width="stretch", key="flagged",
                 column_config={"Center": PINNED, "Incident": PINNED,
                                "Latitude": st.column_config.NumberColumn(format="%.5f"),
                                "Longitude": st.column_config.NumberColumn(format="%.5f")})

st.subheader("Cross-center duplicate links")
st.caption("The same event reported by two centers, linked to the first report.")
st.dataframe(page.links, hide_index=True, width="stretch", key="links",
             column_config={"Center": PINNED, "Incident": PINNED,
                            "Apart (km)": st.column_config.NumberColumn(format="%.2f"),
                            "Apart (minutes)": st.column_config.NumberColumn(format="%.0f")})
