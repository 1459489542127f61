"""Statewide Threat Picture: Streamlit entry point (page config, shared sidebar, navigation)."""

from __future__ import annotations

import streamlit as st

from pages.common import load_context, render_data_banner

st.set_page_config(page_title="Statewide Threat Picture", page_icon=":shield:", layout="wide")

context = load_context()
render_data_banner(context)

navigation = st.navigation(
    {
        "Data": [
            st.Page("pages/data_health.py", title="Data health", icon=":material/monitor_heart:",
                    url_path="data-health", default=True),
        ],
    }
)
navigation.run()
