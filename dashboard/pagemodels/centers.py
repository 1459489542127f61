"""The Centers page's model: who contributes what, how fast, where, and how AORs overlap; every
table with a reader's headers and every center by its configured name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import plotly.graph_objects as go
import polars as pl

from dashboard.analytics.centers import NOT_CONFIGURED, CenterFigures, center_figures
from dashboard.analytics.filters import Filters, Period, period_of
from dashboard.analytics.picture import filtered_products
from dashboard.pagemodels.common import download_file_name, records_page
from dashboard.pagemodels.overview import (
    ProductCard,
    ViewScope,
    product_cards,
    products_table,
    view_scope,
)
from dashboard.security.audience import ViewData
from dashboard.settings import ProjectConfig
from dashboard.views.centers import (
    aor_category_figure,
    lag_figure,
    overlap_figure,
    products_by_month_figure,
    weekly_activity_figure,
)
from dashboard.views.export import to_safe_csv

KIND_LABELS = {"state": "State", "regional": "Regional", "urban_area": "Urban area",
               NOT_CONFIGURED: "Not in config"}
NONE = "—"  # a figure that does not exist (no report time, no located report)
OVERLAP_MEASURES = {"shared_counties": "Shared counties",
                    "both_reported": "Incidents reported by both"}
# The summary's CSV: every column of the summary, with a reader's header (units in it).
CSV_HEADERS = {
    "center_id": "Center ID", "name": "Center", "kind": "Kind", "incidents": "Incidents",
    "share_pct": "Share of statewide reports (%)",
    "also_reported_by_other": "Also reported by another center", "products": "Products",
    "median_lag_h": "Median lag (hours)", "p90_lag_h": "90 % within (hours)",
    "lag_unknown": "Reports without a report time",
    "lag_negative": "Reports dated before they occurred", "outside_aor": "Outside AOR",
    "outside_aor_pct": "Outside AOR (%)", "last_report_at": "Last report",
}
# Decimals as the page shows them.
ONE_DECIMAL = ("share_pct", "median_lag_h", "p90_lag_h", "outside_aor_pct")
COUNTY_HEADERS = {"county_name": "County", "region_name": "Region", "incidents": "Incidents"}


@dataclass(frozen=True)
class CenterDetail:
    """One center against its AOR."""

    name: str
    reports: int
    outside_aor: int
    outside_aor_pct: str  # "3.1 %", or NONE without a located report
    without_county: int
    categories: go.Figure
    regions: pl.DataFrame  # Region, Reports, Outside AOR, AOR counties
    outside_counties: pl.DataFrame  # County, Region, Reports


@dataclass(frozen=True)
class CentersPage:
    period: Period
    scope: ViewScope
    figures: CenterFigures
    names: dict[str, str]  # center id -> configured name (its id for a center not in config)
    order: list[str]  # the centers shown, in the charts' fixed order
    active_centers: int  # centers with at least one report under the filters
    summary: pl.DataFrame  # one row per center, a reader's headers, "—" for no figure
    lag_note: str  # what the lag leaves out
    csv: bytes
    csv_name: str
    weekly_chart: go.Figure
    lag_chart: go.Figure
    products_chart: go.Figure
    overlap_charts: dict[str, go.Figure]  # by OVERLAP_MEASURES key
    uncovered: pl.DataFrame  # County, Region, Incidents: counties in no center's AOR
    only_statewide: pl.DataFrame  # the same: counties only a statewide center covers
    depth: str  # "48 counties in 2 AORs · 10 counties in 3 AORs"
    products: pl.DataFrame  # the period's products, newest first, a reader's headers
    product_cards: list[ProductCard]  # the same rows, as a reader opens them
    details: dict[str, CenterDetail]  # by center id, for each center in ``order``


def percent_text(column: str) -> pl.Expr:
    return pl.when(pl.col(column).is_null()).then(pl.lit(NONE)).otherwise(
        pl.format("{} %", pl.col(column).round(1)))


def hours_text(column: str) -> pl.Expr:
    """Hours as '2.1 h'; 'unknown' when no report had a report time; NONE without a report."""
    return pl.when(pl.col("incidents") == 0).then(pl.lit(NONE)).when(
        pl.col(column).is_null() | pl.col(column).is_nan()).then(pl.lit("unknown")).otherwise(
        pl.format("{} h", pl.col(column).round(1)))


def summary_table(summary: pl.DataFrame) -> pl.DataFrame:
    """The summary as the page shows it: names, kinds in words, figures as text where one may
    be missing (NONE, never "None")."""
    return summary.select(
        pl.col("name").alias("Center"),
        pl.col("kind").replace(KIND_LABELS).alias("Kind"),
        pl.col("incidents").alias("Incidents"),
        percent_text("share_pct").alias("Share"),
        pl.col("products").alias("Products"),
        hours_text("median_lag_h").alias("Median lag"),
        hours_text("p90_lag_h").alias("90 % within"),
        percent_text("outside_aor_pct").alias("Outside AOR"),
        pl.when(pl.col("last_report_at").is_null()).then(pl.lit(NONE)).otherwise(
            pl.col("last_report_at").dt.strftime("%d %b %Y, %H:%M")).alias("Last report"),
    )


def summary_csv(summary: pl.DataFrame) -> bytes:
    """Every summary column, rounded as shown, times in the deployment's zone, a reader's
    headers."""
    return to_safe_csv(summary.with_columns(
        pl.col(*ONE_DECIMAL).fill_nan(None).round(1),
        pl.col("kind").replace(KIND_LABELS),
        pl.col("last_report_at").dt.strftime("%Y-%m-%d %H:%M"),
    ).rename(CSV_HEADERS))


def lag_note(summary: pl.DataFrame) -> str:
    rows = list(summary.iter_rows(named=True))
    notes = [f"{row['name']}: {row['lag_unknown']:,} of {row['incidents']:,} without a report "
             "time" for row in rows if row["lag_unknown"]]
    notes += [f"{row['name']}: {row['lag_negative']:,} reported before they occurred (a feed "
              "error)" for row in rows if row["lag_negative"]]
    return ("Left out of the lag: " + " · ".join(notes) + ". " if notes else "") + (
        "The CSV adds each center's reports another center also filed, outside-AOR counts and "
        "lag data-quality counts.")


def center_detail(figures: CenterFigures, center_id: str, name: str,
                  category_labels: dict[str, str]) -> CenterDetail:
    row = figures.summary.filter(pl.col("center_id") == center_id).row(0, named=True)
    unknown = int(figures.by_category.filter(pl.col("center_id") == center_id)
                  ["unknown_county"].sum())
    regions = figures.by_region.filter(pl.col("center_id") == center_id).select(
        pl.col("region_name").alias("Region"), pl.col("incidents").alias("Reports"),
        pl.col("outside_aor").alias("Outside AOR"),
        pl.format("{} of {}", "aor_counties", "region_counties").alias("AOR counties"))
    outside = figures.outside_counties.filter(pl.col("center_id") == center_id).select(
        pl.col("county_name").alias("County"), pl.col("region_name").alias("Region"),
        pl.col("incidents").alias("Reports"))
    pct = row["outside_aor_pct"]
    return CenterDetail(name, row["incidents"], row["outside_aor"],
                        NONE if pct is None else f"{pct:.1f} %", unknown,
                        aor_category_figure(figures.by_category, center_id, category_labels),
                        regions, outside)


def aor_depth(county_coverage: pl.DataFrame) -> str:
    depth = county_coverage.group_by("center_count").agg(pl.len().alias("counties")).sort(
        "center_count")
    return " · ".join(f"{row['counties']} counties in {row['center_count']} AOR"
                      f"{'' if row['center_count'] == 1 else 's'}"
                      for row in depth.iter_rows(named=True)) or "No county."


def centers_page(config: ProjectConfig, data: ViewData, filters: Filters,
                 today: date) -> CentersPage:
    records_page(data, "Centers")
    period = period_of(filters, today)
    frames = data.frames()
    figures = center_figures(frames.incidents, frames.products, frames.regions, frames.centers,
                             frames.center_aor, filters, period, config.county_to_region,
                             config.settings.timezone)
    summary = figures.summary
    names = dict(config.labels["center"])
    names.update({row["center_id"]: row["name"] for row in summary.iter_rows(named=True)
                  if row["center_id"] not in names})
    # One fixed order in every chart (state center first, then regional, then urban-area
    # ones), so a center keeps its place when the filters change; the table sorts by volume.
    every_center = list(dict.fromkeys(figures.overlap["center_a"].to_list()))
    shown = set(summary["center_id"].to_list())
    order = [c for c in every_center if c in shown] + [
        c for c in summary["center_id"].to_list() if c not in every_center]
    county_table = figures.county_coverage
    category_labels = config.labels["category"]
    published = filtered_products(frames.products, filters, config.county_to_region,
                                  period).sort("published_at", "center_id", "product_id",
                                               descending=[True, False, False])
    cards = product_cards(config, published, names, with_summaries=True)
    return CentersPage(
        period=period,
        scope=view_scope(config, filters, period, statewide="Statewide"),
        figures=figures, names=names, order=order,
        active_centers=int((summary["incidents"] > 0).sum()),
        summary=summary_table(summary), lag_note=lag_note(summary),
        csv=summary_csv(summary), csv_name=download_file_name("centers", period, filters),
        weekly_chart=weekly_activity_figure(figures.weekly, names, order),
        lag_chart=lag_figure(figures.lag_bands, names, order),
        products_chart=products_by_month_figure(figures.products_by_month, names, order,
                                                dict(config.taxonomy.product_types), period),
        overlap_charts={measure: overlap_figure(figures.overlap, names, every_center, measure)
                        for measure in OVERLAP_MEASURES},
        uncovered=county_table.filter(pl.col("center_count") == 0).select(
            *COUNTY_HEADERS).rename(COUNTY_HEADERS),
        only_statewide=county_table.filter(pl.col("only_statewide")).sort(
            "incidents", "county_name", descending=[True, False]).select(
            *COUNTY_HEADERS).rename(COUNTY_HEADERS),
        depth=aor_depth(county_table),
        products=products_table(cards), product_cards=cards,
        details={center_id: center_detail(figures, center_id, names[center_id],
                                          category_labels) for center_id in order},
    )
