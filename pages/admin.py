"""Admin: the audit trail (browse, export), records due for 28 CFR Part 23 review, accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard.pagemodels.admin import (
    ACTION_NAMES,
    AUDIT_ACTIONS,
    accounts_view,
    audit_view,
    review_view,
)
from page_glue import audited_download, engine, load_context

context = load_context()
store = engine(context.store_url)
security = context.config.settings.security
center_names = context.config.labels["center"]

st.title("Administration")
st.caption("The audit trail is append-only: the store refuses to change or delete it. Records "
           "past their review date are purged with `threat-picture purge --apply` unless "
           "revalidated (`threat-picture revalidate`).")
trail, review, users = st.tabs(["Audit trail", "Due for review", "Accounts"])

with trail:
    today = datetime.now(UTC).date()
    controls = st.columns([2, 2, 3])
    days = controls[0].date_input("Between", (today - timedelta(days=7), today),
                                  key="audit_days", max_value=today)
    start, end = (days if isinstance(days, tuple) and len(days) == 2 else (today, today))
    actions = controls[1].multiselect("Action", AUDIT_ACTIONS, format_func=ACTION_NAMES.__getitem__,
                                      key="audit_actions")
    who = controls[2].text_input("User contains", key="audit_user")
    trail_view = audit_view(store, start, end, actions, who, center_names)
    rows = trail_view.rows
    st.caption(f"{rows.height:,} audit rows from {start} to {end} (UTC), newest first.")
    st.dataframe(rows, hide_index=True, width="stretch", key="audit_rows",
                 column_config={"Entry": st.column_config.NumberColumn(format="%d"),
                                "Rows": st.column_config.TextColumn(alignment="right"),
                                "Detail": st.column_config.TextColumn(width="large")})
    audited_download(context, "Export audit rows (CSV)", trail_view.csv, trail_view.csv_name,
                     rows=rows.height, key="audit_csv")

with review:
    within = st.number_input("Falling due within (days)", 0, 3650, 30, step=30,
                             key="review_within", width=240)
    due = review_view(store, int(within), datetime.now(UTC), center_names)
    cards = st.columns(3)
    cards[0].metric("Past review date", f"{due.past_review:,}")
    cards[1].metric(f"Due within {within} days", f"{due.due_soon:,}")
    cards[2].metric("Review period", f"{security.review_period_days:,} days",
                    help=f"About {security.review_period_days / 365.25:.0f} years: a record "
                    "is reviewed (revalidated or purged) this long after it was entered "
                    "(28 CFR 23.20(h)).")
    if due.due.is_empty():
        st.success("No record falls due for review in that window.")
    else:
        st.dataframe(due.due, hide_index=True, width="stretch", key="review_rows")

with users:
    # The account stays in view when the table scrolls sideways (it is wider than 1440 px).
    st.dataframe(accounts_view(store, center_names), hide_index=True, width="stretch",
                 key="user_rows",
                 column_config={"User name": st.column_config.TextColumn(pinned=True),
                                "Failed attempts": st.column_config.NumberColumn(format="%d")})
    st.caption("Manage accounts with `threat-picture users add|list|disable|enable|"
               "reset-password`; single sign-on accounts appear after their first sign-in.")
