"""Emerging hot spots as a viewer may receive them (issue 17): what the Map's emerging layer and
table, `analyze --json` and alerts show, computed once here under the audience policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from dashboard.analytics.emerging import DEFAULT_WEEKS, emerging_for_filters, week_ends
from dashboard.analytics.filters import Filters, Period, period_of, selected_counties
from dashboard.pagemodels.common import release_note
from dashboard.security.audience import ViewData
from dashboard.settings import ProjectConfig


@dataclass(frozen=True)
class EmergingView:
    weeks: tuple[date, ...]  # the Sundays ending the weekly bins, oldest first
    # Every county of the state, strongest patterns first: emerging_hotspots()'s columns with
    # county_name and region_id.
    counties: pl.DataFrame
    in_view: pl.DataFrame  # those of the counties the place filters select
    note: str | None  # partners: what the released cells leave out


def emerging_view(config: ProjectConfig, data: ViewData, filters: Filters, today: date,
                  weeks: int = DEFAULT_WEEKS) -> EmergingView:
    """Emerging hot spots over the filters' topics in the complete weeks of their period (at
    least ``weeks``, ending with its last complete week). Partners' rows are released week
    cells, so their analysis reads released counts only."""
    selection = data.selection(filters)
    frames = data.frames()
    c2r = config.county_to_region
    bins = tuple(week_ends(period_of(filters, today), today, weeks))
    found = emerging_for_filters(frames.incidents, selection, bins, c2r, config.settings.state)
    counties = found.join(frames.regions.select("county_fips", "county_name", "region_id"),
                          on="county_fips", how="left", maintain_order="left")
    # Computed statewide (Gi* needs every county's neighbours); a place filter shows its own.
    place = selected_counties(selection, c2r)
    in_view = counties if place is None else counties.filter(pl.col("county_fips").is_in(place))
    covered = Period(bins[0] - timedelta(days=6), bins[-1])
    return EmergingView(bins, counties, in_view, release_note(config, data, selection, covered))


def emerging_table(config: ProjectConfig, view: EmergingView) -> pl.DataFrame:
    """The Map's table: the counties in view with a pattern, strongest first, in words and
    figures a reader compares (the share of weeks is of the class's own kind: hot or cold)."""
    shown = view.in_view.filter(pl.col("pattern") != "none")
    trend = [f"{z:+.2f} (p {p:.3f})" for z, p in shown.select("trend_z", "trend_p").iter_rows()]
    return shown.select(
        "county_name",
        pl.col("region_id").replace_strict(config.labels["region"], default=pl.col("region_id"))
        .alias("region_name"),
        "class_name",
        pl.Series("trend", trend, dtype=pl.String),
        (100 * pl.when(pl.col("kind") == "cold").then(pl.col("cold_share"))
         .otherwise(pl.col("hot_share"))).alias("weeks_significant_pct"),
        "last_z", "why", "county_fips")
