"""The Map's model: county counts and rates, statewide Gi* hot spots, the county table and its
CSV, and (for viewers who may see records) a sample of incident points."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl
import sqlalchemy as sa

from dashboard.analytics.filters import Filters, Period, period_of, selected_counties
from dashboard.analytics.hotspots import HOTSPOT_MEASURES as HOTSPOT_MEASURES  # for the page
from dashboard.analytics.hotspots import hotspots_for_filters
from dashboard.analytics.picture import counts_by_county, filtered_incidents
from dashboard.frames import load_narratives
from dashboard.pagemodels.common import download_file_name, release_note, with_withheld
from dashboard.pagemodels.emerging import EmergingView, emerging_table, emerging_view
from dashboard.pagemodels.overview import ViewScope, counted_days, view_scope
from dashboard.security.audience import ViewData
from dashboard.security.policy import may_see_points, redact_narratives
from dashboard.settings import ProjectConfig
from dashboard.views.export import to_safe_csv


@dataclass(frozen=True)
class MapPage:
    period: Period
    county_counts: pl.DataFrame  # every county; partners: incidents null where only withheld
    hotspots: pl.DataFrame  # statewide Gi* for the period and topics
    hotspots_in_view: pl.DataFrame  # those of the counties the place filters select
    table: pl.DataFrame  # the counties under the filter, with their Gi* z and class
    csv: bytes  # the table, formula-safe
    csv_name: str
    points_allowed: bool
    note: str | None
    scope: ViewScope  # what the view covers, in words (the heading and every filter)
    counted: str  # the days its figures count, in words (partners: complete weeks)
    emerging: EmergingView | None = None  # emerging hot spots, when the layer is on (issue 17)
    emerging_table: pl.DataFrame | None = None  # those in view with a pattern, for reading


def map_page(config: ProjectConfig, data: ViewData, filters: Filters, today: date,
             hotspot_measure: str = "incidents", with_emerging: bool = False) -> MapPage:
    """The Map page; hot spots over counts or smoothed rates (``HOTSPOT_MEASURES``), and
    emerging hot spots ``with_emerging`` (a space-time cube: computed only when shown)."""
    selection = data.selection(filters)
    period = period_of(filters, today)
    frames = data.frames()
    c2r = config.county_to_region
    counts = counts_by_county(frames.incidents, frames.regions, selection, period, c2r)
    hotspots = hotspots_for_filters(frames.incidents, frames.regions, selection, period, c2r,
                                    config.settings.state, hotspot_measure)
    if data.aggregates_only:
        counts = with_withheld(config, data, selection, period, counts, "county_fips")
        # Drawn as withheld, not as zero: released nothing, withheld something.
        counts = counts.with_columns(
            pl.when((pl.col("incidents") == 0) & (pl.col("withheld_cells") > 0))
            .then(None).otherwise(pl.col(name)).alias(name)
            for name in ("incidents", "per_100k", "per_1000_km2", "previous", "change",
                         "change_pct"))
    # Counties with incidents (or withheld ones), and every county asked for by name.
    shown = counts.filter((pl.col("incidents").fill_null(1) > 0)
                          | pl.col("county_fips").is_in(list(selection.counties)))
    table = shown.join(hotspots.select("county_fips", "z_score", "hotspot_class"),
                       on="county_fips", how="left").drop("area_km2", "region_id")
    # Gi* needs every county's neighbours, so it is computed statewide; a place filter shows
    # the symbols of its own counties only (a Los Angeles view is not about North State).
    place = selected_counties(selection, c2r)
    in_view = hotspots if place is None else hotspots.filter(pl.col("county_fips").is_in(place))
    table = table.drop("population")
    emerging = emerging_view(config, data, filters, today) if with_emerging else None
    return MapPage(period, counts, hotspots, in_view, table, to_safe_csv(table),
                   download_file_name("counties", period, selection),
                   may_see_points(data.visibility),
                   release_note(config, data, selection, period),
                   view_scope(config, selection, period, statewide="Statewide"),
                   counted_days(period, data),
                   emerging, None if emerging is None else emerging_table(config, emerging))


def map_points(config: ProjectConfig, data: ViewData, engine: sa.Engine, filters: Filters,
               today: date, limit: int, with_narratives: bool) -> tuple[pl.DataFrame, int]:
    """A reproducible random sample (at most ``limit``) of the filtered located incidents, with
    a plain-text popup (narratives only where the viewer may read them), and how many there
    were. None for a class that may not see exact locations."""
    empty = pl.DataFrame(schema={"latitude": pl.Float64, "longitude": pl.Float64,
                                 "popup": pl.String})
    if not may_see_points(data.visibility):
        return empty, 0
    frames = data.frames()
    located = filtered_incidents(frames.incidents, filters, config.county_to_region,
                                 period_of(filters, today)).filter(
        pl.col("latitude").is_not_null())
    sample = located.sample(limit, seed=frames.data_version) if located.height > limit \
        else located
    labels = config.labels
    # What a reader reads on a point: the category, the day and the center in words, then the
    # record's id (the center's code once told a reader nothing).
    sample = sample.with_columns(
        pl.format("{} · {} · {} · {}",
                  pl.col("category").replace_strict(labels["category"], default=""),
                  pl.col("occurred_date").dt.strftime("%d %b %Y"),
                  pl.col("center_id").replace_strict(labels["center"],
                                                     default=pl.col("center_id")),
                  pl.col("incident_id"))
        .alias("popup"))
    if with_narratives:
        keys = sample.select("center_id", "incident_id")
        narratives = redact_narratives(data.visibility, load_narratives(engine, keys))
        sample = sample.join(narratives, on=["center_id", "incident_id"], how="left")
        sample = sample.with_columns(pl.concat_str(
            [pl.col("popup"), pl.col("narrative").str.slice(0, 280)], separator=" — ",
            ignore_nulls=True).alias("popup"))
    return sample.select("latitude", "longitude", "popup"), located.height
