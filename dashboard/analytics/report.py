"""Hot spots with their county names, as `analyze` and the recall tests read them."""

from __future__ import annotations

from datetime import date

import polars as pl

from dashboard.analytics.filters import Filters, period_of
from dashboard.analytics.hotspots import hotspots_for_filters
from dashboard.frames import PictureFrames
from dashboard.settings import ProjectConfig


def hotspot_records(frames: PictureFrames, config: ProjectConfig, filters: Filters,
                    today: date, measure: str = "incidents") -> pl.DataFrame:
    period = period_of(filters, today)
    hotspots = hotspots_for_filters(frames.incidents, frames.regions, filters, period,
                                    config.county_to_region, config.settings.state, measure)
    return hotspots.join(frames.regions.select("county_fips", "county_name", "region_id"),
                         on="county_fips")
