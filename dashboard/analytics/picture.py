"""The statewide picture: KPIs against the previous period, what rose, where, latest products.

Pure functions of the cached frames and the shared filters; the Overview and Map pages, the
`analyze` command and (later) briefings all call these, so a number is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from dashboard.analytics.filters import Filters, Period, incident_filter, selected_counties


@dataclass(frozen=True)
class Kpi:
    label: str
    current: int
    previous: int | None  # None: no comparison makes sense (e.g. open quarantine)
    help: str
    # Withheld from this viewer (small-cell rule): neither figure nor change may be shown.
    suppressed: bool = False

    @property
    def change(self) -> int | None:
        if self.previous is None or self.suppressed:
            return None
        return self.current - self.previous

    @property
    def change_pct(self) -> float | None:
        if self.previous is None or self.previous == 0 or self.suppressed:
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


def kpis(incidents: pl.DataFrame, products: pl.DataFrame, quarantine_rows: int,
         filters: Filters, period: Period, county_to_region: Mapping[str, str]) -> list[Kpi]:
    """Headline figures for the period and the equal period before it."""
    previous = period.previous()
    now_incidents = filtered_incidents(incidents, filters, county_to_region, period)
    then_incidents = filtered_incidents(incidents, filters, county_to_region, previous)
    now_products = filtered_products(products, filters, county_to_region, period)
    then_products = filtered_products(products, filters, county_to_region, previous)
    days = f"{period.days} days"
    return [
        Kpi("Incidents", now_incidents.height, then_incidents.height,
            f"Incidents that occurred in the {days}, against the {days} before."),
        Kpi("SARs", int(now_incidents["is_sar"].sum()), int(then_incidents["is_sar"].sum()),
            "Suspicious activity reports (SAR category or an ISE-SAR behaviour code)."),
        Kpi("Products", now_products.height, then_products.height,
            "Analytic products published on the selected topics and area."),
        Kpi("Centers reporting", now_incidents["center_id"].n_unique(),
            then_incidents["center_id"].n_unique(),
            "Centers with at least one incident in the period."),
        Kpi("Open quarantine", quarantine_rows, None,
            "Feed rows rejected by validation and waiting for their source to fix them."),
    ]


def change_table(incidents: pl.DataFrame, filters: Filters, period: Period,
                 county_to_region: Mapping[str, str], by: str) -> pl.DataFrame:
    """Counts by ``by`` in the period and the previous one, with change and % change."""
    previous = period.previous()
    scope = incidents.filter(incident_filter(filters, county_to_region)).filter(
        pl.col("occurred_date").is_between(previous.start, period.end))
    in_period = pl.col("occurred_date") >= period.start
    table = scope.group_by(by).agg(
        in_period.sum().cast(pl.Int64).alias("current"),
        (~in_period).sum().cast(pl.Int64).alias("previous"),
    )
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
    changes = change_table(incidents, filters, period, county_to_region, "county_fips")
    table = regions.select("county_fips", "county_name", "region_id", "region_name", "area_km2")
    table = table.join(changes, on="county_fips", how="left").with_columns(
        pl.col("current").fill_null(0).alias("incidents"),
        pl.col("previous").fill_null(0),
        pl.col("change").fill_null(0),
    )
    return table.with_columns(
        pl.when(pl.col("area_km2") > 0)
        .then(1000 * pl.col("incidents") / pl.col("area_km2"))
        .otherwise(0.0).alias("per_1000_km2"),
    ).select("county_fips", "county_name", "region_id", "region_name", "incidents",
             "per_1000_km2", "previous", "change", "change_pct", "area_km2"
             ).sort("incidents", "county_fips", descending=[True, False])


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
    return OverviewFigures(
        kpis=kpis(incidents, products, quarantine_rows, filters, period, county_to_region),
        by_category=change_table(incidents, filters, period, county_to_region, "category"),
        by_county=change_table(incidents, filters, period, county_to_region, "county_fips"),
        by_region=change_table(incidents, filters, period, county_to_region, "region_id"),
        county_counts=counts_by_county(incidents, regions, filters, period, county_to_region),
        latest=latest_products(products, filters, period, county_to_region),
    )
