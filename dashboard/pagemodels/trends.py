"""The Trends page's model: the series against their baselines with anomalies, the category x
region small multiples, the anomaly list, CompStat with its totals and CSV, and the weekly
rhythm."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import plotly.graph_objects as go
import polars as pl

from dashboard.analytics.filters import Filters, Period, period_of
from dashboard.analytics.picture import Kpi
from dashboard.analytics.trends import (
    Granularity,
    SeriesView,
    compstat_table,
    compstat_totals,
    hour_weekday_counts,
    series_view,
)
from dashboard.pagemodels.common import download_file_name, release_note
from dashboard.security.audience import ViewData
from dashboard.settings import ProjectConfig
from dashboard.views.export import to_safe_csv
from dashboard.views.trends import (
    anomaly_table,
    compstat_column_names,
    compstat_display,
    hour_weekday_figure,
    series_figure,
    small_multiples_figure,
)

SPLITS = {"category": "Category", "region": "Region", "center": "Center"}
GRANULARITIES: dict[str, str] = {"day": "Day", "week": "Week", "month": "Month"}
# What a partner's release (counts per county, category and week) can be split and bucketed by.
PARTNER_SPLITS = ("category", "region")
PARTNER_GRANULARITIES = ("week", "month")
CELL_MAX_BUCKETS = 120  # a small multiple is ~150 px wide: more points are a smear
COMPSTAT_BY = {"category": "Category", "region_id": "Region"}


@dataclass(frozen=True)
class TrendsPage:
    period: Period
    series: SeriesView
    series_chart: go.Figure
    cells: SeriesView
    cells_chart: go.Figure
    anomalies: pl.DataFrame  # level, series, start, end, incidents, expected, ratio, p...
    compstat_table: pl.DataFrame  # per key: each window, its prior, change and % change
    compstat: pl.DataFrame  # the same for display (names, in order)
    compstat_totals: list[Kpi]
    compstat_csv: bytes
    compstat_csv_name: str
    rhythm: go.Figure | None  # None: the release has no time of day (partners)
    note: str | None


def compstat_download(shown: pl.DataFrame, by: str) -> bytes:
    """The CompStat table as the page shows it: its headers, changes in % to one decimal."""
    headers = {"name": COMPSTAT_BY[by], by: f"{COMPSTAT_BY[by]} id"} | compstat_column_names()
    return to_safe_csv(shown.rename(headers), decimals={
        header: 1 for column, header in headers.items() if column.endswith("_pct")})


def splits_for(data: ViewData) -> list[str]:
    return list(PARTNER_SPLITS if data.aggregates_only else SPLITS)


def granularities_for(data: ViewData) -> list[str]:
    return list(PARTNER_GRANULARITIES if data.aggregates_only else GRANULARITIES)


def trends_page(config: ProjectConfig, data: ViewData, filters: Filters, today: date,
                split: str = "category", granularity: Granularity = "week",
                compstat_by: str = "category") -> TrendsPage:
    """Everything the Trends page shows for a selection and its controls (a split or
    granularity a class cannot receive falls back to its first one)."""
    split = split if split in splits_for(data) else splits_for(data)[0]
    if granularity not in granularities_for(data):
        granularity = "week"
    selection = data.selection(filters)
    period = period_of(filters, today)
    frames = data.frames()
    c2r = config.county_to_region
    settings = config.settings.anomalies
    labels = config.labels
    view = series_view(frames.incidents, selection, c2r, period, split, granularity, settings)
    series_chart = series_figure(
        view.series, labels[split], view.granularity, view.rule,
        f"Incidents by {SPLITS[split].lower()} per {view.granularity}, with each series' "
        "baseline (dashed)")
    cells = series_view(frames.incidents, selection, c2r, period, "category_region",
                        view.granularity, settings, traces_per_series=3,
                        max_buckets=CELL_MAX_BUCKETS)
    cells_chart = small_multiples_figure(cells.series, labels["category"], labels["region"],
                                         cells.granularity,
                                         f"Each category in each region, per {cells.granularity}")
    found = pl.concat([
        anomaly_table(view.anomalies, labels[split]).with_columns(
            pl.lit(SPLITS[split]).alias("level")),
        anomaly_table(cells.anomalies, labels["category_region"]).with_columns(
            pl.lit("Category in region").alias("level")),
    ]).sort("p_value")
    by = compstat_by if compstat_by in COMPSTAT_BY else "category"
    # A row for every category (region) the filters allow, zeros included.
    if by == "category":
        keys = list(selection.categories or config.taxonomy.categories)
    else:
        keys = list(selection.regions) if selection.regions or selection.counties else [
            region.id for region in config.regions]
    table = compstat_table(frames.incidents, selection, c2r, period.end, by, keys)
    shown = compstat_display(table, by, labels["category" if by == "category" else "region"])
    rhythm = None if data.aggregates_only else hour_weekday_figure(
        hour_weekday_counts(frames.incidents, frames.centers, selection, c2r, period,
                            config.settings.timezone),
        "When incidents occur (each center's local time)")
    return TrendsPage(
        period=period, series=view, series_chart=series_chart, cells=cells,
        cells_chart=cells_chart, anomalies=found, compstat_table=table, compstat=shown,
        compstat_totals=compstat_totals(table),
        compstat_csv=compstat_download(shown, by),
        compstat_csv_name=download_file_name(
            f"compstat_by_{'region' if by == 'region_id' else 'category'}", period, selection),
        rhythm=rhythm, note=release_note(config, data, selection, period))
