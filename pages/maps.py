"""Streamlit side of the maps: caching the map data, drawing it, and turning clicks into
filters. Imported by the Overview and Map pages."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import polars as pl
import streamlit as st
from streamlit_folium import st_folium

from dashboard.analytics.filters import Filters, period_of
from dashboard.analytics.hotspots import hotspots_for_filters
from dashboard.analytics.picture import counts_by_county, filtered_incidents
from dashboard.frames import load_narratives
from dashboard.security.policy import may_see_points, redact_narratives, suppress_small_counts
from dashboard.views.maps import (
    MAX_HEAT_POINTS,
    MAX_POINT_MARKERS,
    MapLayers,
    aor_outline,
    county_map,
    region_outlines,
)
from pages.common import PageContext, context_frames, engine, suppress_counties, today_in
from pages.sidebar import request_filter_change

CLICK_KEY = "map_last_click"


def render_overview_map(context: PageContext, county_counts: pl.DataFrame) -> None:
    """The small statewide choropleth on the Overview (view only)."""
    folium_map = county_map(context.config.settings.state, county_counts,
                            layers=MapLayers(regions=_regions(context)))
    st_folium(folium_map, height=380, use_container_width=True, returned_objects=[],
              key="overview_map")


def _regions(context: PageContext) -> gpd.GeoDataFrame:
    config = context.config
    return region_outlines(config.settings.state, config.county_to_region,
                           {region.id: region.name for region in config.regions})


@st.cache_data(show_spinner=False, max_entries=16)
def _point_sample(_context: PageContext, cache_key: tuple[object, ...], filters: Filters,
                  today: date, limit: int, with_narratives: bool) -> tuple[pl.DataFrame, int]:
    """A reproducible random sample (at most ``limit``) of the filtered located incidents
    (none for a viewer who may not see exact locations), narratives only where the viewer may
    read them."""
    config = _context.config
    if not may_see_points(_context.viewer):
        return pl.DataFrame(schema={"latitude": pl.Float64, "longitude": pl.Float64,
                                    "popup": pl.String}), 0
    frames = context_frames(_context)
    located = filtered_incidents(frames.incidents, filters, config.county_to_region,
                                 period_of(filters, today)).filter(
        pl.col("latitude").is_not_null())
    seed = _context.data_version
    sample = located.sample(limit, seed=seed) if located.height > limit else located
    labels = {key: value.label for key, value in config.taxonomy.categories.items()}
    sample = sample.with_columns(
        pl.format("{} · {} · {} {}", pl.col("category").replace_strict(labels, default=""),
                  pl.col("occurred_date"), pl.col("center_id"), pl.col("incident_id"))
        .alias("popup"))
    if with_narratives:
        keys = sample.select("center_id", "incident_id")
        narratives = redact_narratives(_context.viewer,
                                       load_narratives(engine(_context.store_url), keys))
        sample = sample.join(narratives, on=["center_id", "incident_id"], how="left")
        sample = sample.with_columns(pl.concat_str(
            [pl.col("popup"), pl.col("narrative").str.slice(0, 280)], separator=" — ",
            ignore_nulls=True).alias("popup"))
    return sample.select("latitude", "longitude", "popup"), located.height


def render_analyst_map(context: PageContext, filters: Filters, county_table: pl.DataFrame,
                       measure: str, measure_label: str, shown: list[str],
                       hotspots: pl.DataFrame | None) -> None:
    """The Map page's map: layers as chosen; a click on a county filters every page by it."""
    config = context.config
    today = today_in(context)
    layers = MapLayers(hotspots=hotspots if "Hot spots" in shown else None)
    if "Regions" in shown:
        layers.regions = _regions(context)
    if "Center AORs" in shown:
        chosen = filters.centers or tuple(center.id for center in config.centers)
        layers.aors = {center.name: aor_outline(config.settings.state, config.aor_counties(center))
                       for center in config.centers if center.id in chosen}
    if "Points" in shown:
        layers.points, layers.points_total = _point_sample(
            context, context.cache_key, filters, today, MAX_POINT_MARKERS, True)
    if "Heat map" in shown:
        heat, layers.heat_total = _point_sample(
            context, context.cache_key, filters, today, MAX_HEAT_POINTS, False)
        layers.heat = heat.select("latitude", "longitude")
    folium_map = county_map(config.settings.state, county_table, measure, measure_label,
                            layers=layers, selected=filters.counties)
    # Only a click on a county comes back: pan and zoom cause no rerun.
    clicked = st_folium(folium_map, height=620, use_container_width=True,
                        returned_objects=["last_active_drawing"], key="analyst_map")
    feature = (clicked or {}).get("last_active_drawing") or {}
    fips = (feature.get("properties") or {}).get("county_fips")
    if fips and fips in config.county_to_region and st.session_state.get(CLICK_KEY) != feature:
        st.session_state[CLICK_KEY] = feature
        request_filter_change(counties=(fips,), regions=())


@st.cache_data(max_entries=64, show_spinner=False)
def county_figures(_context: PageContext, cache_key: tuple[object, ...], filters: Filters,
                   today: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """County counts under the filters, and the statewide Gi* result for the same period and
    topics; cached per data version and filter."""
    frames = context_frames(_context)
    period = period_of(filters, today)
    county_to_region = _context.config.county_to_region
    counts = counts_by_county(frames.incidents, frames.regions, filters, period,
                              county_to_region)
    hotspots = hotspots_for_filters(frames.incidents, frames.regions, filters, period,
                                    county_to_region, _context.config.settings.state)
    min_count = _context.config.settings.security.partner_min_count
    return (suppress_counties(_context.viewer, counts, min_count),
            suppress_small_counts(_context.viewer, hotspots, ["incidents"], min_count))
