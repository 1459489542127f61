"""Statewide Threat Picture: Streamlit entry point (page config, sign-in, marking banner, shared
sidebar, navigation)."""

from __future__ import annotations

import streamlit as st

from dashboard.pagemodels.alerts import unread_alerts
from dashboard.security.policy import Viewer, may_open_page
from dashboard.views.formatting import markdown_text
from page_glue import (
    PageContext,
    auto_refresh,
    engine,
    load_context,
    load_deployment,
    marking_on_screen,
    record_page_view,
    render_data_banner,
    render_filter_sidebar,
    render_marking_banner,
    require_viewer,
    sign_out,
)

# (file, title, icon, url_path) per navigation section. Each url_path equals its file's name:
# Streamlit still resolves deep links against the legacy pages/ folder first, and a different
# name there shows a "Page not found" dialog. Who may open which page: security.policy.
PAGES: dict[str, list[tuple[str, str, str, str]]] = {
    "Picture": [
        ("pages/overview.py", "Overview", ":material/dashboard:", "overview"),
        ("pages/map.py", "Map", ":material/map:", "map"),
        ("pages/trends.py", "Trends", ":material/trending_up:", "trends"),
        ("pages/centers.py", "Centers", ":material/hub:", "centers"),
    ],
    "Coverage": [
        ("pages/coverage.py", "Coverage gaps & redundancy", ":material/grid_view:", "coverage"),
    ],
    "Briefing": [
        ("pages/briefing.py", "Briefing", ":material/description:", "briefing"),
    ],
    "Alerts": [
        ("pages/alerts.py", "Alerts", ":material/notifications:", "alerts"),
    ],
    "Data": [
        ("pages/data_health.py", "Data health", ":material/monitor_heart:", "data_health"),
        ("pages/admin.py", "Administration", ":material/admin_panel_settings:", "admin"),
    ],
}

# Pages about the feeds, the system and one's alert rules, not the threat picture: the shared
# filters do nothing there, so the sidebar does not offer them.
PAGES_WITHOUT_FILTERS = frozenset({"data_health", "admin", "alerts"})


def navigation_pages(viewer: Viewer | None) -> dict[str, list[st.Page]]:
    """The pages ``viewer`` may open (all of them, hidden, before sign-in: a deep link keeps
    its page and filters through the sign-in)."""
    sections: dict[str, list[st.Page]] = {}
    for section, pages in PAGES.items():
        allowed = [st.Page(path, title=title, icon=icon, url_path=url_path,
                           default=url_path == "overview")
                   for path, title, icon, url_path in pages
                   if viewer is None or may_open_page(viewer, url_path)]
        if allowed:
            sections[section] = allowed
    return sections


st.set_page_config(page_title="Statewide Threat Picture", page_icon=":shield:", layout="wide")
config, store_url = load_deployment()
store = engine(store_url)
if st.session_state.get("signed_in") is None:
    st.navigation(navigation_pages(None), position="hidden")
viewer = require_viewer(config, store)
navigation = st.navigation(navigation_pages(viewer))
marking_slot = st.empty()
context: PageContext = load_context()
render_data_banner(context)
with st.sidebar:
    # Plain text: a display name comes from an account or an identity provider's claims. The
    # role and center in words, as every page names them ("stac" told a director nothing).
    center = config.labels["center"].get(viewer.center_id, viewer.center_id)
    st.text(f"Signed in as {viewer.display_name} · {viewer.role.capitalize()} · {center} · "
            f"up to {viewer.max_tlp}")
    unread = unread_alerts(store, viewer)
    if unread:
        st.page_link("pages/alerts.py", label=f"{unread} unread alert{'s' * (unread > 1)}",
                     icon=":material/notifications_active:")
    st.button("Sign out", key="sign_out", icon=":material/logout:",
              on_click=sign_out, args=(store, config))
filters = render_filter_sidebar(config, context.today, viewer.aggregates_only,
                                shown=navigation.url_path not in PAGES_WITHOUT_FILTERS)
auto_refresh(context)
render_marking_banner(marking_slot, marking_on_screen(context, filters))
cautioned = [config.taxonomy.categories[key].label for key in filters.categories
             if config.taxonomy.categories[key].first_amendment_caution]
if cautioned:
    names = ", ".join(markdown_text(label) for label in cautioned)
    st.warning(f"{names} may touch First Amendment-protected activity: only "
               "criminal conduct or reasonable suspicion of it belongs here (28 CFR 23.20(b)); "
               "speech, assembly and religion alone never do.", icon=":material/gavel:")
record_page_view(context, navigation.url_path or "overview", filters)
navigation.run()
