"""What every page shares: the deployment's config and store, caches, and the data banner."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import streamlit as st

from dashboard.analytics.filters import Filters, period_of
from dashboard.analytics.health import last_load_per_center
from dashboard.analytics.picture import OverviewFigures, overview_figures
from dashboard.frames import HealthFrames, PictureFrames, load_health_frames, load_picture_frames
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import data_version, open_store
from dashboard.views.formatting import format_age

CONFIG_ENV = "THREAT_PICTURE_CONFIG"
VERSION_CHECK_SECONDS = 15


@dataclass(frozen=True)
class PageContext:
    config: ProjectConfig
    store_url: str
    data_version: int

    @property
    def cache_key(self) -> tuple[object, ...]:
        """What a cached page figure depends on besides its filters: the store and its data
        version (and, with sign-in, what the viewer may see). Pass it to every st.cache_data
        function that reads the frames."""
        return (self.store_url, self.data_version)


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


def load_context() -> PageContext:
    config_dir = os.environ.get(CONFIG_ENV, "config")
    if not (Path(config_dir) / "settings.toml").is_file():
        st.error(f"No configuration found in {config_dir!r}. Start the app with "
                 "`threat-picture serve --demo`, or set THREAT_PICTURE_CONFIG.")
        st.stop()
    config = _config(config_dir)
    store_url = config.store_url()
    return PageContext(config=config, store_url=store_url, data_version=_data_version(store_url))


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


def context_frames(context: PageContext) -> PictureFrames:
    return picture_frames(context.store_url, context.data_version,
                          context.config.settings.timezone)


def today_in(context: PageContext) -> date:
    return datetime.now(ZoneInfo(context.config.settings.timezone)).date()


@st.cache_data(max_entries=64, show_spinner=False)
def overview(_context: PageContext, cache_key: tuple[object, ...], filters: Filters,
             today: date) -> OverviewFigures:
    """The Overview's figures, cached per data version and filter."""
    frames = context_frames(_context)
    return overview_figures(frames.incidents, frames.products, frames.regions,
                            frames.quarantine_rows, filters, period_of(filters, today),
                            _context.config.county_to_region)
