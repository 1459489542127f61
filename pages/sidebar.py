"""The one shared filter sidebar: widgets <-> st.session_state <-> st.query_params.

On a session's first run the filters come from the URL (so a copied link reopens the same view);
afterwards the widgets own them and every run writes them back to the URL. A page that changes a
filter (a click on the map) calls :func:`request_filter_change`, applied before the widgets
exist on the next run.
"""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from dashboard.analytics.filters import PERIOD_PRESETS, Filters, from_query_params, to_query_params
from dashboard.settings import ProjectConfig

PENDING_KEY = "pending_filter_changes"
LOADED_KEY = "filters_loaded_from_url"
FILTERS_KEY = "filters"
WIDGET_KEYS = {
    "period": "filter_period", "custom_range": "filter_custom_range",
    "regions": "filter_regions", "counties": "filter_counties",
    "categories": "filter_categories", "sar_behaviors": "filter_sar_behaviors",
    "target_sectors": "filter_target_sectors", "centers": "filter_centers",
    "severities": "filter_severities", "duplicates_once": "filter_duplicates_once",
}


def _filters_to_widgets(filters: Filters, today: date) -> None:
    state = st.session_state
    state[WIDGET_KEYS["period"]] = filters.period
    end = filters.end or today
    state[WIDGET_KEYS["custom_range"]] = (filters.start or end - timedelta(days=27), end)
    for name in ("regions", "counties", "categories", "sar_behaviors", "target_sectors",
                 "centers"):
        state[WIDGET_KEYS[name]] = list(getattr(filters, name))
    state[WIDGET_KEYS["severities"]] = list(filters.severities)
    state[WIDGET_KEYS["duplicates_once"]] = filters.duplicates_once


def _filters_from_widgets() -> Filters:
    state = st.session_state
    period = state[WIDGET_KEYS["period"]]
    custom = state.get(WIDGET_KEYS["custom_range"]) or ()
    start, end = (custom[0], custom[-1]) if period == "custom" and custom else (None, None)
    return Filters(
        period=period, start=start, end=end,
        **{name: tuple(state[WIDGET_KEYS[name]]) for name in (
            "regions", "counties", "categories", "sar_behaviors", "target_sectors", "centers")},
        severities=tuple(sorted(state[WIDGET_KEYS["severities"]])),
        duplicates_once=bool(state[WIDGET_KEYS["duplicates_once"]]),
    )


def request_filter_change(**changes: object) -> None:
    """Ask for filter changes from a page (applied at the top of the next run)."""
    pending = dict(st.session_state.get(PENDING_KEY, {}))
    pending.update(changes)
    st.session_state[PENDING_KEY] = pending
    st.rerun()


def current_filters() -> Filters:
    return st.session_state.get(FILTERS_KEY, Filters())


def render_filter_sidebar(config: ProjectConfig, today: date) -> Filters:
    """Draw the shared filters in the sidebar and return what they say."""
    state = st.session_state
    if not state.get(LOADED_KEY):
        from_url = {key: st.query_params.get_all(key) for key in st.query_params}
        _filters_to_widgets(from_query_params(from_url, config.vocabularies()), today)
        state[LOADED_KEY] = True
    if PENDING_KEY in state:
        _filters_to_widgets(_filters_from_widgets().with_changes(**state.pop(PENDING_KEY)),
                            today)

    taxonomy = config.taxonomy
    regions = {region.id: region.name for region in config.regions}
    county_names = config.county_names
    # Counties listed region by region, so a long list reads grouped.
    county_options = sorted(config.county_to_region,
                            key=lambda f: (regions[config.county_to_region[f]], county_names[f]))
    with st.sidebar:
        st.header("Filters")
        st.selectbox("Period", list(PERIOD_PRESETS), format_func=PERIOD_PRESETS.__getitem__,
                     key=WIDGET_KEYS["period"])
        if state[WIDGET_KEYS["period"]] == "custom":
            st.date_input("Date range", key=WIDGET_KEYS["custom_range"], max_value=today)
        st.multiselect("Region", list(regions), format_func=regions.__getitem__,
                       key=WIDGET_KEYS["regions"], placeholder="All regions")
        st.multiselect(
            "County", county_options, key=WIDGET_KEYS["counties"], placeholder="All counties",
            format_func=lambda f: f"{regions[config.county_to_region[f]]} › {county_names[f]}",
        )
        st.multiselect("Threat category", list(taxonomy.categories),
                       format_func=lambda key: taxonomy.categories[key].label
                       + (" ⚠" if taxonomy.categories[key].first_amendment_caution else ""),
                       key=WIDGET_KEYS["categories"], placeholder="All categories")
        st.multiselect("SAR behaviour", list(taxonomy.sar_behaviors),
                       format_func=lambda key: f"{key} · {taxonomy.sar_behaviors[key]}",
                       key=WIDGET_KEYS["sar_behaviors"], placeholder="Any behaviour")
        st.multiselect("Target sector", list(taxonomy.target_sectors),
                       format_func=lambda key: f"{key} · {taxonomy.target_sectors[key]}",
                       key=WIDGET_KEYS["target_sectors"], placeholder="Any sector")
        centers = {center.id: center.name for center in config.centers}
        st.multiselect("Reporting center", list(centers), format_func=centers.__getitem__,
                       key=WIDGET_KEYS["centers"], placeholder="All centers")
        st.pills("Severity", [1, 2, 3, 4, 5], selection_mode="multi",
                 key=WIDGET_KEYS["severities"], help="None selected: every severity.")
        st.toggle("Count cross-center duplicates once", key=WIDGET_KEYS["duplicates_once"],
                  help="The same event reported by two centers is linked at ingest; on, it "
                  "counts once (the first report).")
        if st.button("Reset filters", key="filter_reset", width="stretch"):
            _filters_to_widgets(Filters(), today)
            st.rerun()

    filters = _filters_from_widgets()
    state[FILTERS_KEY] = filters
    st.query_params.from_dict(to_query_params(filters))
    return filters
