"""The dashboard's core figures the way an analyst would write them with pandas: read the
incidents and products with ``pd.read_sql`` on every rerun, then filter and ``groupby``.

This is the yardstick for ``threat-picture bench`` (issue 7): the same figures as the Overview
and the Trends series (KPIs against the previous period, change tables by category, county and
region, every county's count, a weekly series per category), written plainly and idiomatically
(vectorized pandas, no Python loops over rows, nothing slowed on purpose). The bench checks
that both give the same numbers before it compares their times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import polars as pl
import sqlalchemy as sa

from dashboard.analytics.filters import Filters, Period, period_of

SAR_CATEGORY = "sar_analysis"
INCIDENTS_SQL = """
SELECT i.center_id, i.incident_id, i.occurred_at, i.category, i.county_fips, i.sar_behavior,
       i.target_sector, i.severity, l.duplicate_of_incident_id
FROM incidents AS i
LEFT JOIN incident_links AS l ON l.center_id = i.center_id AND l.incident_id = i.incident_id
"""
PRODUCTS_SQL = "SELECT center_id, product_id, published_at, topics FROM products"
COVERAGE_SQL = "SELECT center_id, product_id, scope, area_id FROM product_coverage"
REGIONS_SQL = "SELECT county_fips, county_name, region_id, region_name, area_km2 FROM regions"


@dataclass(frozen=True)
class PandasFigures:
    kpis: dict[str, tuple[int, int]]  # label -> (current, previous)
    by_category: pd.DataFrame
    by_county: pd.DataFrame
    by_region: pd.DataFrame
    county_counts: pd.DataFrame
    latest: pd.DataFrame
    weekly: pd.DataFrame  # category, week_end, incidents


def local_day(timestamps: pd.Series, timezone: str) -> pd.Series:
    """UTC timestamps (text or datetimes) -> midnight of their local date (naive)."""
    moments = pd.to_datetime(timestamps, utc=True, format="ISO8601")
    return moments.dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()


def change_table(window: pd.DataFrame, start: pd.Timestamp, by: str) -> pd.DataFrame:
    counted = window.assign(current=window["occurred_date"] >= start)
    table = counted.groupby(by, dropna=False).agg(current=("current", "sum"),
                                                 total=("current", "size"))
    table["previous"] = table["total"] - table["current"]
    table["change"] = table["current"] - table["previous"]
    table["change_pct"] = (100.0 * table["change"] / table["previous"]).where(
        table["previous"] > 0)
    table = table.drop(columns="total").reset_index()
    return table.sort_values(["change", by], ascending=[False, True], ignore_index=True)


def pandas_figures(engine: sa.Engine, filters: Filters, today: date, timezone: str,
                   county_to_region: dict[str, str]) -> PandasFigures:
    """One rerun: read, filter, aggregate."""
    incidents = pd.read_sql(INCIDENTS_SQL, engine)
    products = pd.read_sql(PRODUCTS_SQL, engine)
    coverage = pd.read_sql(COVERAGE_SQL, engine)
    regions = pd.read_sql(REGIONS_SQL, engine)

    incidents["occurred_date"] = local_day(incidents["occurred_at"], timezone)
    incidents = incidents.merge(regions[["county_fips", "region_id"]], on="county_fips",
                                how="left")
    period = period_of(filters, today)
    previous = period.previous()
    start, end = pd.Timestamp(period.start), pd.Timestamp(period.end)
    before_start, before_end = pd.Timestamp(previous.start), pd.Timestamp(previous.end)

    counties = _selected_counties(filters, county_to_region)
    mask = pd.Series(True, index=incidents.index)
    if counties is not None:
        mask &= incidents["county_fips"].isin(counties)
    for column, values in (("category", filters.categories),
                           ("sar_behavior", filters.sar_behaviors),
                           ("target_sector", filters.target_sectors),
                           ("center_id", filters.centers), ("severity", filters.severities)):
        if values:
            mask &= incidents[column].isin(list(values))
    if filters.duplicates_once:
        mask &= incidents["duplicate_of_incident_id"].isna()
    chosen = incidents[mask]
    day = chosen["occurred_date"]
    now = chosen[(day >= start) & (day <= end)]
    then = chosen[(day >= before_start) & (day <= before_end)]
    window = chosen[(day >= before_start) & (day <= end)]

    products["published_date"] = local_day(products["published_at"], timezone)
    products["topics"] = products["topics"].map(_as_list)
    products = _filter_products(products, coverage, regions, filters, counties)
    published = products["published_date"]
    products_now = products[(published >= start) & (published <= end)]
    products_then = products[(published >= before_start) & (published <= before_end)]

    def sars(frame: pd.DataFrame) -> int:
        return int(((frame["category"] == SAR_CATEGORY) | frame["sar_behavior"].notna()).sum())

    kpis = {
        "Incidents": (len(now), len(then)),
        "SARs": (sars(now), sars(then)),
        "Products": (len(products_now), len(products_then)),
        "Centers reporting": (now["center_id"].nunique(), then["center_id"].nunique()),
    }
    by_county = change_table(window, start, "county_fips")
    county_counts = regions.merge(by_county, on="county_fips", how="left")
    county_counts[["current", "previous", "change"]] = county_counts[
        ["current", "previous", "change"]].fillna(0).astype("int64")
    county_counts = county_counts.rename(columns={"current": "incidents"})
    county_counts["per_1000_km2"] = (1000 * county_counts["incidents"]
                                     / county_counts["area_km2"]).where(
        county_counts["area_km2"] > 0, 0.0)
    county_counts = county_counts.sort_values(["incidents", "county_fips"],
                                              ascending=[False, True], ignore_index=True)

    # Weeks end on the period's last day, as the Trends page draws them.
    week_end = end - pd.to_timedelta(((end - now["occurred_date"]).dt.days // 7) * 7, unit="D")
    weekly = now.assign(week_end=week_end).groupby(["category", "week_end"]).size() \
        .rename("incidents").reset_index()
    return PandasFigures(
        kpis=kpis,
        by_category=change_table(window, start, "category"),
        by_county=by_county,
        by_region=change_table(window, start, "region_id"),
        county_counts=county_counts,
        latest=products_now.sort_values("published_date", ascending=False).head(10),
        weekly=weekly,
    )


def _as_list(value: Any) -> list[str]:
    # SQLite hands JSON columns back as text, PostgreSQL as lists.
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str) else list(value)


def _selected_counties(filters: Filters, county_to_region: dict[str, str]) -> list[str] | None:
    if not filters.regions and not filters.counties:
        return None
    chosen = set(filters.counties) | {county for county, region in county_to_region.items()
                                      if region in filters.regions}
    return sorted(chosen)


def _filter_products(products: pd.DataFrame, coverage: pd.DataFrame, regions: pd.DataFrame,
                     filters: Filters, counties: list[str] | None) -> pd.DataFrame:
    if filters.categories:
        wanted = set(filters.categories)
        products = products[products["topics"].map(lambda topics: bool(wanted & set(topics)))]
    if filters.centers:
        products = products[products["center_id"].isin(list(filters.centers))]
    if counties is not None:
        by_county = coverage[coverage["scope"] == "county"].rename(
            columns={"area_id": "county_fips"})
        by_region = coverage[coverage["scope"] == "region"].merge(
            regions[["county_fips", "region_id"]], left_on="area_id", right_on="region_id")
        statewide = coverage[coverage["scope"] == "statewide"]
        covering = pd.concat([
            by_county[by_county["county_fips"].isin(counties)][["center_id", "product_id"]],
            by_region[by_region["county_fips"].isin(counties)][["center_id", "product_id"]],
            statewide[["center_id", "product_id"]],
        ]).drop_duplicates()
        products = products.merge(covering, on=["center_id", "product_id"])
    return products


def agreement(ours: Any, series: Any, theirs: PandasFigures, period: Period) -> list[str]:
    """Where our figures and the pandas figures differ (empty: they agree). ``ours`` is an
    OverviewFigures, ``series`` the Trends SeriesView by category per week."""
    differences: list[str] = []
    for kpi in ours.kpis:
        if kpi.label in theirs.kpis and (kpi.current, kpi.previous) != theirs.kpis[kpi.label]:
            differences.append(f"KPI {kpi.label}: {kpi.current, kpi.previous} vs "
                               f"{theirs.kpis[kpi.label]}")
    for name, key in (("by_category", "category"), ("by_county", "county_fips"),
                      ("by_region", "region_id")):
        mine = {row[key]: (row["current"], row["previous"])
                for row in getattr(ours, name).iter_rows(named=True)}
        other = {row[key]: (int(row["current"]), int(row["previous"]))
                 for row in getattr(theirs, name).to_dict("records")}
        if mine != other:
            differences.append(f"{name}: {len(set(mine.items()) ^ set(other.items()))} rows "
                               "differ")
    mine_counts = dict(ours.county_counts.select("county_fips", "incidents").iter_rows())
    other_counts = dict(zip(theirs.county_counts["county_fips"],
                            theirs.county_counts["incidents"].astype(int), strict=True))
    if mine_counts != other_counts:
        differences.append("county counts differ")
    series_totals = {split: int(total) for split, total in series.series.group_by("series").agg(
        pl.col("incidents").sum()).iter_rows()}
    weekly_totals = theirs.weekly.groupby("category")["incidents"].sum().astype(int).to_dict()
    if {k: v for k, v in series_totals.items() if v} != weekly_totals:
        differences.append(f"weekly series totals differ ({period.label()})")
    return differences
