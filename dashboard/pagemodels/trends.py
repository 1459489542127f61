"""The Trends page's model: the series against their baselines with anomalies, the category x
region small multiples, the anomaly list, CompStat with its totals, rates per 100,000 residents
and CSV, and the weekly rhythm."""

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
    area_residents,
    compstat_rates,
    compstat_table,
    compstat_total_rates,
    compstat_totals,
    hour_weekday_counts,
    series_view,
)
from dashboard.geo.population import POPULATION_VINTAGE, population_year, state_county_population
from dashboard.pagemodels.common import download_file_name, release_note
from dashboard.pagemodels.overview import ViewScope, counted_days, view_scope
from dashboard.security.audience import ViewData
from dashboard.settings import ProjectConfig
from dashboard.views.export import to_safe_csv
from dashboard.views.trends import (
    anomaly_rows,
    anomaly_table,
    compstat_column_names,
    compstat_columns,
    compstat_display,
    compstat_rates_text,
    compstat_short_names,
    hour_weekday_figure,
    partial_buckets,
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
    scope: ViewScope  # the heading ("Trends · <place> · <period>") and the filters line
    counted: str  # the days counted, in words (a partner's: complete weeks)
    buckets_note: str  # how the buckets run (weeks' last day), and what a hollow point is
    series: SeriesView
    series_chart: go.Figure
    cells: SeriesView
    cells_chart: go.Figure
    anomalies: pl.DataFrame  # level, series, start, end, incidents, expected, ratio, p...
    anomaly_rows: pl.DataFrame  # the same as shown: 'From' '24 Nov 2026', 'p' '< 0.001'
    # Per key: each window, its rate per 100,000 residents, its prior and the prior's rate,
    # change and % change; the residents (population) last.
    compstat_table: pl.DataFrame
    compstat: pl.DataFrame  # the same for display (names, in order)
    compstat_totals: list[Kpi]
    compstat_residents: int | None  # of the place selected (None: a county has no estimate)
    compstat_total_rates: dict[str, tuple[float | None, float | None]]  # window: (now, prior)
    compstat_rates_note: str  # the rates' basis and the totals' rates, in words
    rate_basis: str  # "per 100,000 residents, Census 2025 estimates"
    compstat_csv: bytes
    compstat_csv_name: str
    rhythm: go.Figure | None  # None: the release has no time of day (partners)
    note: str | None

    def compstat_headers(self, rates: bool) -> dict[str, str]:
        """The CompStat columns shown after the name (counts, or ``rates`` per 100,000
        residents) and their short headers, in order."""
        short = compstat_short_names()
        return {column: short[column] for column in
                compstat_columns(self.compstat_by, rates) if column != "name"}

    @property
    def compstat_by(self) -> str:
        return "region_id" if "region_id" in self.compstat_table.columns else "category"


def buckets_note(view: SeriesView, period: Period, partner: bool) -> str:
    """How the chart's buckets run, with the day its weeks end on, and (when one is) what a
    hollow point is."""
    series = view.series
    text = ""
    if view.granularity == "week" and not series.is_empty():
        last: date = series["end"].max()  # type: ignore[assignment]
        if partner:
            text = (f"Weeks run Monday to Sunday, as releases are counted (whole weeks only); "
                    f"the latest ends on {last:%d %b %Y}. ")
        elif last == period.end:
            text = (f"Weeks are the seven days ending on the last day shown ({last:%d %b %Y}), "
                    "so the latest week is always whole; each point sits on its week's last "
                    "day. ")
        else:
            text = (f"Weeks are the seven days ending on {last:%d %b %Y}, the last day with "
                    f"data (the period runs to {period.end:%d %b %Y}), so the latest week is "
                    "whole; each point sits on its week's last day. ")
    if any(partial_buckets(series, view.granularity)):
        text += ("A hollow point is a bucket partly outside the period: its count and baseline "
                 "cover only its days inside.")
    return text.strip()


def compstat_download(shown: pl.DataFrame, by: str) -> bytes:
    """The CompStat table under the page's headers, counts and rates per 100,000 residents
    both (the page shows one or the other), changes in % and rates to one decimal as shown."""
    headers = {"name": COMPSTAT_BY[by], by: f"{COMPSTAT_BY[by]} id"} | compstat_column_names()
    return to_safe_csv(shown.rename(headers), decimals={
        header: 1 for column, header in headers.items()
        if column.endswith(("_pct", "_per_100k"))})


def rate_basis(population: pl.DataFrame) -> str:
    """What a rate is per, with the estimates' vintage: 'per 100,000 residents, Census 2025
    estimates' (Puerto Rico's are of 2024)."""
    years = sorted({population_year(fips) for fips in population["county_fips"]}
                   or {POPULATION_VINTAGE})
    return f"per 100,000 residents, Census {' and '.join(map(str, years))} estimates"


def splits_for(data: ViewData) -> list[str]:
    return list(PARTNER_SPLITS if data.aggregates_only else SPLITS)


def weekly_counts(config: ProjectConfig, data: ViewData) -> bool:
    """Whether the view's counts are per Monday-to-Sunday week (each dated on its Sunday): a
    partner's release, and every view of a network deployment (its states' bundles)."""
    return data.aggregates_only or config.settings.network


def granularities_for(data: ViewData, config: ProjectConfig) -> list[str]:
    return list(PARTNER_GRANULARITIES if weekly_counts(config, data) else GRANULARITIES)


def trends_page(config: ProjectConfig, data: ViewData, filters: Filters, today: date,
                split: str = "category", granularity: Granularity = "week",
                compstat_by: str = "category") -> TrendsPage:
    """Everything the Trends page shows for a selection and its controls (a split or
    granularity a class cannot receive falls back to its first one)."""
    split = split if split in splits_for(data) else splits_for(data)[0]
    if granularity not in granularities_for(data, config):
        granularity = "week"
    selection = data.selection(filters)
    period = period_of(filters, today)
    frames = data.frames()
    c2r = config.county_to_region
    settings = config.settings.anomalies
    labels = config.labels
    partner = weekly_counts(config, data)
    view = series_view(frames.incidents, selection, c2r, period, split, granularity, settings,
                       weeks_end_on_sunday=partner)
    series_chart = series_figure(
        view.series, labels[split], view.granularity, view.rule,
        f"Incidents by {SPLITS[split].lower()} per {view.granularity}, with each series' "
        "baseline (dashed)")
    cells = series_view(frames.incidents, selection, c2r, period, "category_region",
                        view.granularity, settings, traces_per_series=3,
                        max_buckets=CELL_MAX_BUCKETS, weeks_end_on_sunday=partner)
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
    # Rates from the table's counts (a partner's: released cells) and the public estimates.
    population = state_county_population(config.settings.state)
    table = compstat_rates(compstat_table(frames.incidents, selection, c2r, period.end, by, keys),
                           by, population, c2r, selection)
    shown = compstat_display(table, by, labels["category" if by == "category" else "region"])
    residents = area_residents(population, c2r, selection)
    total_rates = compstat_total_rates(table, residents)
    basis = rate_basis(population)
    rhythm = None if partner else hour_weekday_figure(
        hour_weekday_counts(frames.incidents, frames.centers, selection, c2r, period,
                            config.settings.timezone),
        "When incidents occur (each center's local time)")
    return TrendsPage(
        period=period, scope=view_scope(config, selection, period, statewide="Statewide"),
        counted=counted_days(period, data), buckets_note=buckets_note(view, period, partner),
        anomaly_rows=anomaly_rows(found), series=view, series_chart=series_chart, cells=cells,
        cells_chart=cells_chart, anomalies=found, compstat_table=table, compstat=shown,
        compstat_totals=compstat_totals(table), compstat_residents=residents,
        compstat_total_rates=total_rates,
        compstat_rates_note=compstat_rates_text(basis, residents, total_rates, by),
        rate_basis=basis,
        compstat_csv=compstat_download(shown, by),
        compstat_csv_name=download_file_name(
            f"compstat_by_{'region' if by == 'region_id' else 'category'}", period, selection),
        rhythm=rhythm, note=release_note(config, data, selection, period))
