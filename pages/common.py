"""What every page shares: the deployment's config and store, caches, and the data banner."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import sqlalchemy as sa
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from dashboard.analytics.filters import Filters, period_of, to_query_params
from dashboard.analytics.health import last_load_per_center
from dashboard.analytics.picture import OverviewFigures, markings_in_view, overview_figures
from dashboard.frames import HealthFrames, PictureFrames, load_health_frames, load_picture_frames
from dashboard.security import audit
from dashboard.security.policy import (
    TLP_WORDING,
    Viewer,
    most_restrictive,
    suppress_small_counts,
    visible_frames,
)
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import data_version, open_store
from dashboard.views.formatting import format_age
from pages.signin import signed_in_viewer

CONFIG_ENV = "THREAT_PICTURE_CONFIG"
VERSION_CHECK_SECONDS = 15


@dataclass(frozen=True)
class PageContext:
    config: ProjectConfig
    store_url: str
    data_version: int
    viewer: Viewer

    @property
    def cache_key(self) -> tuple[object, ...]:
        """What a cached page figure depends on besides its filters: the store, its data
        version and who is looking (what they may see). Pass it to every st.cache_data function
        that reads the frames."""
        return (self.store_url, self.data_version, self.viewer)


@st.cache_resource(show_spinner=False)
def _config(config_dir: str) -> ProjectConfig:
    return load_config(config_dir)


@st.cache_resource(show_spinner=False)
def engine(store_url: str) -> sa.Engine:
    return open_store(store_url)


@st.cache_data(ttl=VERSION_CHECK_SECONDS, show_spinner=False)
def _data_version(store_url: str) -> int:
    # A tiny query, re-asked at most every few seconds, so new ingests show up on their own.
    return data_version(engine(store_url))


@st.cache_data(show_spinner="Loading data health...", max_entries=4)
def health_frames(store_url: str, version: int) -> HealthFrames:
    return load_health_frames(engine(store_url))


def load_deployment() -> tuple[ProjectConfig, str]:
    """The deployment's config and store URL (stops the run with a message when unset)."""
    config_dir = os.environ.get(CONFIG_ENV, "config")
    if not (Path(config_dir) / "settings.toml").is_file():
        st.error(f"No configuration found in {config_dir!r}. Start the app with "
                 "`threat-picture serve --demo`, or set THREAT_PICTURE_CONFIG.")
        st.stop()
    config = _config(config_dir)
    return config, config.store_url()


def load_context() -> PageContext:
    """What a page needs: config, store, data version and the signed-in viewer. A run without
    a signed-in viewer stops here (app.py shows the sign-in first; this is the backstop)."""
    config, store_url = load_deployment()
    viewer = signed_in_viewer()
    if viewer is None:
        if PagesManager.uses_pages_directory:
            # The first run of a fresh server on a deep link: Streamlit's legacy pages/ mode
            # ran this page without app.py. Leave that mode; the rerun goes through app.py
            # (sign-in, navigation) on the same URL.
            PagesManager.uses_pages_directory = False
            st.rerun()
        st.stop()
    assert viewer is not None
    return PageContext(config=config, store_url=store_url, data_version=_data_version(store_url),
                       viewer=viewer)


def render_data_banner(context: PageContext) -> None:
    """SYNTHETIC marking for demo data, and how fresh each center's data is."""
    if context.config.settings.synthetic:
        st.warning("**SYNTHETIC DATA** — demo feeds generated for testing; no real incidents.",
                   icon=":material/science:")
    frames = health_frames(context.store_url, context.data_version)
    now = datetime.now(UTC)
    with st.sidebar:
        st.markdown(f"**{context.config.settings.title}** · {context.config.settings.state}")
        latest = last_load_per_center(frames)
        if latest.is_empty():
            st.caption("No data ingested yet: run `threat-picture ingest`.")
            return
        lines = [f"- {row['center_id']}: {format_age(row['last_loaded_at'], now)}"
                 for row in latest.iter_rows(named=True)]
        st.caption("Data as of (last load per center):\n" + "\n".join(lines))


@st.cache_resource(show_spinner="Loading the statewide picture...", max_entries=2)
def picture_frames(store_url: str, version: int, timezone: str) -> PictureFrames:
    # cache_resource, not cache_data: the frames are shared read-only by every session and
    # rerun without being copied (a million rows would otherwise be unpickled per rerun).
    return load_picture_frames(engine(store_url), timezone)


@st.cache_resource(show_spinner=False, max_entries=8)
def _visible_frames(store_url: str, version: int, timezone: str, viewer: Viewer) -> PictureFrames:
    return visible_frames(viewer, picture_frames(store_url, version, timezone))


def context_frames(context: PageContext) -> PictureFrames:
    """The analytic frames, cut down by the marking policy to what the viewer may see: the only
    way a page reads incidents and products."""
    return _visible_frames(context.store_url, context.data_version,
                           context.config.settings.timezone, context.viewer)


def today_in(context: PageContext) -> date:
    return datetime.now(ZoneInfo(context.config.settings.timezone)).date()


@st.cache_data(max_entries=64, show_spinner=False)
def overview(_context: PageContext, cache_key: tuple[object, ...], filters: Filters,
             today: date) -> OverviewFigures:
    """The Overview's figures, cached per data version and filter."""
    frames = context_frames(_context)
    figures = overview_figures(frames.incidents, frames.products, frames.regions,
                               frames.quarantine_rows, filters, period_of(filters, today),
                               _context.config.county_to_region)
    viewer, min_count = _context.viewer, _context.config.settings.security.partner_min_count
    if not viewer.aggregates_only:
        return figures

    def changes(table: pl.DataFrame) -> pl.DataFrame:
        return suppress_small_counts(viewer, table, ["current", "previous"], min_count,
                                     ["change", "change_pct"]).drop_nulls("change")

    def small(count: int | None) -> bool:
        return count is not None and 0 < count < min_count

    kpis = [replace(kpi, suppressed=True) if kpi.label in INCIDENT_KPIS
            and (small(kpi.current) or small(kpi.previous)) else kpi for kpi in figures.kpis]
    return replace(
        figures, kpis=kpis, by_category=changes(figures.by_category),
        by_county=changes(figures.by_county),
        by_region=changes(figures.by_region),
        county_counts=suppress_counties(viewer, figures.county_counts, min_count))


# Overview figures that count incidents (the others count products, centers, feed rows).
INCIDENT_KPIS = ("Incidents", "SARs")


def suppress_counties(viewer: Viewer, county_counts: pl.DataFrame,
                      min_count: int) -> pl.DataFrame:
    """A county table as a partner may see it (small counts and what derives from them null)."""
    return suppress_small_counts(viewer, county_counts, ["incidents", "previous"], min_count,
                                 ["per_1000_km2", "change", "change_pct"])


@st.cache_data(max_entries=64, show_spinner=False)
def marking_on_screen(_context: PageContext, cache_key: tuple[object, ...], filters: Filters,
                      today: date) -> str:
    """The most restrictive marking among the incidents and products the view includes."""
    frames = context_frames(_context)
    return most_restrictive(markings_in_view(frames.incidents, frames.products, filters,
                                             _context.config.county_to_region,
                                             period_of(filters, today)))


TLP_COLOURS = {"TLP:CLEAR": "#ffffff", "TLP:GREEN": "#33ff00", "TLP:AMBER": "#ffc000",
               "TLP:AMBER+STRICT": "#ffc000", "TLP:RED": "#ff2b2b"}


def render_marking_banner(slot: Any, marking: str) -> None:
    """The TLP 2.0 label (colours of the standard: on black) with its wording."""
    slot.markdown(
        f'<div role="note" aria-label="Handling marking" style="background:#000;'
        f'padding:4px 12px;border-radius:4px;font-size:0.9rem"><strong style="color:'
        f'{TLP_COLOURS[marking]}">{marking}</strong> <span style="color:#ddd">'
        f'{TLP_WORDING[marking]}</span></div>', unsafe_allow_html=True)


def record_page_view(context: PageContext, page: str, filters: Filters) -> None:
    """One audit row per page and filter the viewer looks at (not per rerun)."""
    view = (page, tuple(sorted(to_query_params(filters).items())))
    if st.session_state.get("_audited_view") == view:
        return
    st.session_state["_audited_view"] = view
    audit.record(engine(context.store_url), context.viewer.username, "page_view", page=page,
                 detail=to_query_params(filters))


def audited_download(context: PageContext, label: str, data: bytes | str, file_name: str,
                     rows: int, key: str, mime: str = "text/csv") -> None:
    """A download button whose every use is written to the audit trail with its row count."""
    st.download_button(
        label, data, file_name=file_name, mime=mime, key=key, icon=":material/download:",
        on_click=audit.record, args=(engine(context.store_url), context.viewer.username,
                                     "download"),
        kwargs={"page": key, "rows": rows, "detail": {"file": file_name}})
