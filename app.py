"""Statewide Threat Picture: Streamlit entry point (page config, shared sidebar, navigation)."""

from __future__ import annotations

import streamlit as st

from pages.common import load_context, render_data_banner, today_in
from pages.sidebar import render_filter_sidebar

st.set_page_config(page_title="Statewide Threat Picture", page_icon=":shield:", layout="wide")

context = load_context()
# Each url_path equals its file's name: Streamlit still resolves deep links against the legacy
# pages/ folder first, and a different name there shows a "Page not found" dialog.
navigation = st.navigation(
    {
        "Picture": [
            st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:",
                    url_path="overview", default=True),
            st.Page("pages/map.py", title="Map", icon=":material/map:", url_path="map"),
        ],
        "Data": [
            st.Page("pages/data_health.py", title="Data health", icon=":material/monitor_heart:",
                    url_path="data_health"),
        ],
    }
)
render_data_banner(context)
render_filter_sidebar(context.config, today_in(context))
navigation.run()
