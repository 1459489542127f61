"""Data health: what each center sent, how fresh it is, and what the ingest could not take."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboard.pagemodels.data_health import data_health_page
from dashboard.views.health import rows_per_center_figure
from page_glue import health_frames, load_context

context = load_context()
page = data_health_page(context.visibility, health_frames(context.store_url,
                                                          context.data_version),
                        datetime.now(UTC))

st.title("Data health")
st.caption("Rows per center, the freshness of every feed, and every row the ingest rejected or "
           "flagged. Nothing a feed sends is dropped silently: it is stored, flagged or "
           "quarantined here.")

per_center, totals = page.per_center, page.totals
metrics = st.columns(5)
metrics[0].metric("Incidents stored", f"{totals['incidents']:,}")
metrics[1].metric("Products stored", f"{totals['products']:,}")
metrics[2].metric("Rows quarantined", f"{totals['quarantined']:,}")
metrics[3].metric("Locations flagged", f"{totals['flagged_locations']:,}")
metrics[4].metric("Cross-center duplicates", f"{totals['duplicate_reports']:,}",
                  help="Reports linked to an earlier report of the same event by another center. "
                  "They are kept; pages can count them once or twice.")

left, right = st.columns([3, 2])
with left:
    st.subheader("Rows per center")
    st.dataframe(
        per_center, hide_index=True, width="stretch", key="per_center",
        column_config={
            "center_id": "Center", "name": "Name", "kind": "Kind",
            "incidents": st.column_config.NumberColumn("Incidents", format="localized"),
            "products": st.column_config.NumberColumn("Products", format="localized"),
            "quarantined": st.column_config.NumberColumn("Quarantined", format="localized"),
            "flagged_locations": st.column_config.NumberColumn("Flagged", format="localized"),
            "duplicate_reports": st.column_config.NumberColumn("Duplicates", format="localized"),
        },
    )
with right:
    st.plotly_chart(rows_per_center_figure(per_center), width="stretch", key="per_center_chart",
                    config={"displaylogo": False})

if not page.failed.is_empty():
    st.subheader("Failed feeds")
    st.error(f"{page.failed.height} feed(s) could not be loaded at their latest ingest; their "
             "data is as it was before. Every other feed loaded.")
    st.dataframe(
        page.failed, hide_index=True, width="stretch", key="failed_feeds",
        column_config={
            "center_id": "Center", "source_name": "Source", "table_name": "Table",
            "failed_at": st.column_config.DatetimeColumn("Failed (UTC)",
                                                         format="YYYY-MM-DD HH:mm"),
            "error": st.column_config.TextColumn("Error", width="large"),
        },
    )

st.subheader("Feeds")
freshness = page.freshness
st.dataframe(
    freshness, hide_index=True, width="stretch", key="freshness",
    column_config={
        "center_id": "Center", "source_name": "Source", "table_name": "Table",
        "connector_kind": "Format",
        "last_checked_at": st.column_config.DatetimeColumn("Last checked (UTC)",
                                                           format="YYYY-MM-DD HH:mm"),
        "last_loaded_at": st.column_config.DatetimeColumn("Last changed (UTC)",
                                                          format="YYYY-MM-DD HH:mm"),
        "hours_since_load": st.column_config.NumberColumn("Age (h)", format="%.1f"),
        "rows_read": st.column_config.NumberColumn("Rows read", format="localized"),
        "rows_rejected": st.column_config.NumberColumn("Rejected", format="localized"),
        "location": "Location",
    },
)

st.subheader("Quarantine")
if page.quarantine_summary is None:
    st.success("No rejected rows: every row of every feed was stored.")
else:
    st.dataframe(page.quarantine_summary, hide_index=True, width="stretch",
                 key="quarantine_summary",
                 column_config={"example_reason": st.column_config.TextColumn("Example reason",
                                                                              width="large")})
    filters = st.columns([2, 2, 3])
    centers = filters[0].multiselect("Center", sorted(page.quarantine["center_id"].unique()),
                                     key="quarantine_centers")
    fields = filters[1].multiselect("Failing field", sorted(page.quarantine["field"].unique()),
                                    key="quarantine_fields")
    search = filters[2].text_input("Search reason or value", key="quarantine_search")
    rows = page.quarantine_rows(centers, fields, search)
    st.caption(f"{rows.height:,} of {page.quarantine.height:,} quarantined rows. Values are "
               "shown as text exactly as the feed sent them.")
    st.dataframe(
        rows.select("center_id", "source_name", "row_number", "field", "value", "reason",
                    "location", "raw_record"),
        hide_index=True, width="stretch", key="quarantine_rows",
        column_config={"row_number": st.column_config.NumberColumn("Row/line", format="%d"),
                       "reason": st.column_config.TextColumn("Reason", width="large")},
    )

flagged_column, links_column = st.columns(2)
with flagged_column:
    st.subheader("Flagged locations")
    st.caption("Kept as reported, never silently fixed: `outside_state` (coordinates outside the "
               "state, county given) and `county_mismatch` (coordinates far from the county "
               "given).")
    st.dataframe(page.flagged, hide_index=True,
                 width="stretch", key="flagged")
with links_column:
    st.subheader("Cross-center duplicate links")
    st.caption("The same event reported by two centers, linked to the first report.")
    st.dataframe(page.links, hide_index=True,
                 width="stretch", key="links",
                 column_config={"distance_km": st.column_config.NumberColumn("km",
                                                                             format="%.2f"),
                                "minutes_apart": st.column_config.NumberColumn("minutes",
                                                                               format="%.0f")})
