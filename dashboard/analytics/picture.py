"""The statewide picture: KPIs against the previous period, what rose, where, latest products.

Pure functions of the cached frames and the shared filters; the Overview and Map pages, the
`analyze` command and (later) briefings all call these, so a number is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from dashboard.analytics.filters import Filters, Period, incident_filter, selected_counties
from dashboard.geo.population import county_population


@dataclass(frozen=True)
class Kpi:
    label: str
    current: int
    previous: int | None  # None: no comparison makes sense (e.g. open quarantine)
    help: str

    @property
    def change(self) -> int | None:
        if self.previous is None:
            return None
        return self.current - self.previous

    @property
    def change_pct(self) -> float | None:
        if self.previous is None or self.previous == 0:
            return None
        return 100.0 * (self.current - self.previous) / self.previous


def filtered_incidents(incidents: pl.DataFrame, filters: Filters,
                       county_to_region: Mapping[str, str],
                       period: Period | None = None) -> pl.DataFrame:
    return incidents.filter(incident_filter(filters, county_to_region, period))


def filtered_products(products: pl.DataFrame, filters: Filters,
                      county_to_region: Mapping[str, str],
                      period: Period | None = None) -> pl.DataFrame:
    """Products whose topics meet the category filter and whose area meets the place filter."""
    conditions: list[pl.Expr] = []
    if period is not None:
        conditions.append(pl.col("published_date").is_between(period.start, period.end))
    if filters.categories:
        conditions.append(pl.col("topics").list.set_intersection(
            list(filters.categories)).list.len() > 0)
    counties = selected_counties(filters, county_to_region)
    if counties is not None:
        conditions.append(pl.col("covered_counties").list.set_intersection(counties)
                          .list.len() > 0)
    if filters.centers:
        conditions.append(pl.col("center_id").is_in(list(filters.centers)))
    return products.filter(pl.all_horizontal(conditions)) if conditions else products


def markings_in_view(incidents: pl.DataFrame, products: pl.DataFrame, filters: Filters,
                     county_to_region: Mapping[str, str], period: Period) -> list[str]:
    """Every TLP marking among the incidents and products under the filters (for the banner
    that shows the most restrictive one); reads only the columns the filter needs."""
    marked = incidents.lazy().filter(incident_filter(filters, county_to_region, period)) \
        .select(pl.col("tlp").unique()).collect()
    products_marked = filtered_products(products, filters, county_to_region, period)
    return [*marked["tlp"].to_list(), *products_marked["tlp"].unique().to_list()]


def kpis(incidents: pl.DataFrame, products: pl.DataFrame, quarantine_rows: int,
         filters: Filters, period: Period, county_to_region: Mapping[str, str]) -> list[Kpi]:
    """Headline figures for the period and the equal period before it."""
    previous = period.previous()
    now_count, now_sars, now_centers = _incident_kpis(incidents, filters, county_to_region,
                                                      period)
    then_count, then_sars, then_centers = _incident_kpis(incidents, filters, county_to_region,
                                                         previous)
    now_products = filtered_products(products, filters, county_to_region, period)
    then_products = filtered_products(products, filters, county_to_region, previous)
    days = f"{period.days} days"
    return [
        Kpi("Incidents", now_count, then_count,
            f"Incidents that occurred in the {days}, against the {days} before."),
        Kpi("SARs", now_sars, then_sars,
            "Suspicious activity reports (SAR category or an ISE-SAR behaviour code)."),
        Kpi("Products", now_products.height, then_products.height,
            "Analytic products published on the selected topics and area."),
        Kpi("Centers reporting", now_centers, then_centers,
            "Centers with at least one incident in the period."),
        Kpi("Open quarantine", quarantine_rows, None,
            "Feed rows rejected by validation and waiting for their source to fix them."),
    ]


def _incident_kpis(incidents: pl.DataFrame, filters: Filters,
                   county_to_region: Mapping[str, str], period: Period) -> tuple[int, int, int]:
    """Incidents, SARs and reporting centers in the period. Lazy, so only the columns the
    filter and the counts need are read, not every column of a million rows."""
    row = incidents.lazy().filter(incident_filter(filters, county_to_region, period)).select(
        pl.len(), pl.col("is_sar").sum(), pl.col("center_id").n_unique(),
    ).collect().row(0)
    return int(row[0]), int(row[1] or 0), int(row[2] or 0)


def change_table(incidents: pl.DataFrame, filters: Filters, period: Period,
                 county_to_region: Mapping[str, str], by: str) -> pl.DataFrame:
    """Counts by ``by`` in the period and the previous one, with change and % change."""
    window = Period(period.previous().start, period.end)
    in_period = pl.col("occurred_date") >= period.start
    # Lazy: one pass over the few columns the filter and the count need.
    table = incidents.lazy().filter(incident_filter(filters, county_to_region, window)) \
        .group_by(by).agg(
            in_period.sum().cast(pl.Int64).alias("current"),
            (~in_period).sum().cast(pl.Int64).alias("previous"),
        ).collect()
    return table.with_columns(
        (pl.col("current") - pl.col("previous")).alias("change"),
        pl.when(pl.col("previous") > 0)
        .then(100.0 * (pl.col("current") - pl.col("previous")) / pl.col("previous"))
        .alias("change_pct"),
    ).sort(["change", by], descending=[True, False])


def counts_by_county(incidents: pl.DataFrame, regions: pl.DataFrame, filters: Filters,
                     period: Period, county_to_region: Mapping[str, str]) -> pl.DataFrame:
    """Every county of the state (zeros included) with its count, rate per 1,000 km² and change
    against the previous period."""
    return county_counts(regions, change_table(incidents, filters, period, county_to_region,
                                               "county_fips"))


def county_counts(regions: pl.DataFrame, changes: pl.DataFrame) -> pl.DataFrame:
    """:func:`counts_by_county` from the county change table already computed; the rate per
    100,000 residents uses the shipped Census estimates (null where a county has none)."""
    table = regions.select("county_fips", "county_name", "region_id", "region_name", "area_km2")
    table = table.join(changes, on="county_fips", how="left").join(
        county_population(), on="county_fips", how="left").with_columns(
        pl.col("current").fill_null(0).alias("incidents"),
        pl.col("previous").fill_null(0),
        pl.col("change").fill_null(0),
    )
    return table.with_columns(
        pl.when(pl.col("area_km2") > 0)
        .then(1000 * pl.col("incidents") / pl.col("area_km2"))
        .otherwise(0.0).alias("per_1000_km2"),
        pl.when(pl.col("population") > 0)
        .then(100_000 * pl.col("incidents") / pl.col("population"))
        .alias("per_100k"),
    ).select("county_fips", "county_name", "region_id", "region_name", "incidents",
             "per_100k", "per_1000_km2", "previous", "change", "change_pct", "population",
             "area_km2").sort("incidents", "county_fips", descending=[True, False])


def latest_products(products: pl.DataFrame, filters: Filters, period: Period,
                    county_to_region: Mapping[str, str], limit: int = 10) -> pl.DataFrame:
    return filtered_products(products, filters, county_to_region, period).sort(
        "published_at", descending=True).head(limit).select(
        "published_date", "center_id", "title", "product_type", "topics", "tlp")


@dataclass(frozen=True)
class OverviewFigures:
    """Everything the Overview shows, computed in one pass for one filter."""

    kpis: list[Kpi]
    by_category: pl.DataFrame
    by_county: pl.DataFrame
    by_region: pl.DataFrame
    county_counts: pl.DataFrame
    latest: pl.DataFrame


def overview_figures(incidents: pl.DataFrame, products: pl.DataFrame, regions: pl.DataFrame,
                     quarantine_rows: int, filters: Filters, period: Period,
                     county_to_region: Mapping[str, str]) -> OverviewFigures:
    by_county = change_table(incidents, filters, period, county_to_region, "county_fips")
    return OverviewFigures(
        kpis=kpis(incidents, products, quarantine_rows, filters, period, county_to_region),
        by_category=change_table(incidents, filters, period, county_to_region, "category"),
        by_county=by_county,
        by_region=change_table(incidents, filters, period, county_to_region, "region_id"),
        county_counts=county_counts(regions, by_county),
        latest=latest_products(products, filters, period, county_to_region),
    )
