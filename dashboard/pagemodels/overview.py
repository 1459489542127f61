"""The Overview's model: headline figures, what rose, where, and the latest products."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from dashboard.analytics.filters import Filters, Period, period_of
from dashboard.analytics.picture import Kpi, overview_figures
from dashboard.pagemodels.common import release_note, with_withheld
from dashboard.security.audience import ViewData
from dashboard.settings import ProjectConfig

# Headline figures a partner's release cannot answer (they are not counts of released cells).
NOT_RELEASED_KPIS = ("Centers reporting", "Open quarantine")


@dataclass(frozen=True)
class OverviewPage:
    period: Period
    caption: str
    kpis: list[Kpi]
    by_category: pl.DataFrame  # category, current, previous, change, change_pct
    by_county: pl.DataFrame  # county_fips, ...
    by_region: pl.DataFrame  # region_id, ...
    county_counts: pl.DataFrame  # every county: incidents, per_1000_km2, change, ...
    latest: pl.DataFrame  # latest products
    note: str | None  # what a partner's figures leave out


def overview_page(config: ProjectConfig, data: ViewData, filters: Filters,
                  today: date) -> OverviewPage:
    selection = data.selection(filters)
    period = period_of(filters, today)
    frames = data.frames()
    figures = overview_figures(frames.incidents, frames.products, frames.regions,
                               frames.quarantine_rows, selection, period,
                               config.county_to_region)
    kpis = figures.kpis
    county_counts = figures.county_counts
    if data.aggregates_only:
        kpis = [kpi for kpi in kpis if kpi.label not in NOT_RELEASED_KPIS]
        county_counts = with_withheld(config, data, selection, period, county_counts,
                                      "county_fips")
    caption = (f"{period.label()} ({period.days} days) against the {period.days} days before · "
               + ("duplicates counted once" if selection.duplicates_once
                  else "every report counted"))
    return OverviewPage(period, caption, kpis, figures.by_category, figures.by_county,
                        figures.by_region, county_counts, figures.latest,
                        release_note(config, data, selection, period))
