"""Who contributes: each center's volume, timeliness, reach beyond its AOR, and AOR overlaps.

Pure functions of the cached frames and the shared filters, behind the Centers page.

Counting rules (the page says them too):

- A center is credited with every report it filed: its count ignores the "duplicates once"
  switch, because the report a duplicate repeats may belong to another center.
- The statewide total counts events (a cross-center duplicate once); the share of each center is
  of all reports filed statewide under the same filters, so the shares of all centers add up to
  100 % and a duplicated event adds to both centers' shares.
- The statewide totals, the AOR overlap matrix and the county coverage ignore the reporting-
  center filter: they describe the state, against which the chosen centers are read.
- Reporting lag is ``reported_at - occurred_at`` in hours (UTC, so DST-safe); reports without
  ``reported_at`` are counted as unknown, reports dated before they occurred as negative; the
  median and 90th percentile (linear interpolation) use the known, non-negative lags.
- Outside-AOR share is of the reports with a known county; reports without one are unknown.
- Weekly bins are 7-day windows ending on the period's last day, so only the first bin can be
  short (its ``days`` says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from dashboard.analytics.filters import Filters, Period, incident_filter, selected_counties
from dashboard.analytics.picture import filtered_products

MS_PER_HOUR = 3_600_000
# Reporting-lag bands, in hours: [lower, upper), labelled for a reader, in display order.
LAG_BANDS: tuple[tuple[str, float, float], ...] = (
    ("under 1 h", 0, 1),
    ("1–6 h", 1, 6),
    ("6–24 h", 6, 24),
    ("1–3 days", 24, 72),
    ("3–7 days", 72, 168),
    ("7–30 days", 168, 720),
    ("over 30 days", 720, float("inf")),
)
NEGATIVE_BAND = "reported before it occurred"
UNKNOWN_BAND = "no report time"
LAG_BAND_ORDER = (NEGATIVE_BAND, *(band[0] for band in LAG_BANDS), UNKNOWN_BAND)
NOT_CONFIGURED = "not in config"
SUMMARY_COLUMNS = ("center_id", "name", "kind", "incidents", "share_pct",
                   "also_reported_by_other", "products", "median_lag_h", "p90_lag_h",
                   "lag_unknown", "lag_negative", "outside_aor", "outside_aor_pct",
                   "last_report_at")
UNKNOWN_PLACE = "Unknown county"


@dataclass(frozen=True)
class CenterFigures:
    """Everything the Centers page shows, computed in one pass for one filter."""

    summary: pl.DataFrame  # one row per center: SUMMARY_COLUMNS
    weekly: pl.DataFrame  # center_id, week_start, week_end, days, incidents, products
    lag_bands: pl.DataFrame  # center_id, band, band_order, reports, share_pct
    products_by_month: pl.DataFrame  # center_id, month, product_type, products
    by_category: pl.DataFrame  # center_id, category, incidents, outside_aor, unknown_county
    by_region: pl.DataFrame  # center_id, region_id, region_name, incidents, outside_aor,
    #                          aor_counties, region_counties
    outside_counties: pl.DataFrame  # center_id, county_fips, county_name, region_name, incidents
    overlap: pl.DataFrame  # center_a, center_b, shared_counties, shared_county_names,
    #                        both_reported
    county_coverage: pl.DataFrame  # county_fips, county_name, region_name, centers,
    #                                center_count, only_statewide, incidents
    statewide_events: int  # duplicates counted once, every center
    statewide_reports: int  # every report, every center: the denominator of the shares


def center_reports(incidents: pl.DataFrame, filters: Filters,
                   county_to_region: Mapping[str, str], period: Period | None) -> pl.DataFrame:
    """The reports the filters select, each credited to the center that filed it (duplicates
    included: the switch decides how the state counts an event, not what a center filed)."""
    return incidents.filter(incident_filter(filters.with_changes(duplicates_once=False),
                                            county_to_region, period))


def center_table(centers: pl.DataFrame, *others: pl.DataFrame) -> pl.DataFrame:
    """center_id, name, kind for the configured centers plus any center found only in data
    (a center dropped from config whose records remain), state centers first."""
    configured = centers.select("center_id", "name", "kind")
    seen = pl.concat([frame.select("center_id") for frame in others]).unique() if others else (
        pl.DataFrame(schema={"center_id": pl.String}))
    extra = seen.join(configured, on="center_id", how="anti").with_columns(
        pl.col("center_id").alias("name"), pl.lit(NOT_CONFIGURED).alias("kind"))
    kind_order = {"state": 0, "regional": 1, "urban_area": 2}
    return pl.concat([configured, extra.select("center_id", "name", "kind")]).with_columns(
        pl.col("kind").replace_strict(kind_order, default=3, return_dtype=pl.Int8)
        .alias("_order")
    ).sort("_order", "name").drop("_order")


def with_lag_hours(reports: pl.DataFrame) -> pl.DataFrame:
    return reports.with_columns(
        # Rounded: Polars divides by multiplying by the reciprocal, so 1 h came out 0.99999...
        ((pl.col("reported_at") - pl.col("occurred_at")).dt.total_milliseconds()
         / MS_PER_HOUR).round(6).alias("lag_h"))


def lag_statistics(reports: pl.DataFrame) -> pl.DataFrame:
    """Per center: reports, lag_unknown, lag_negative, median_lag_h, p90_lag_h."""
    lagged = with_lag_hours(reports)
    valid = pl.col("lag_h").filter(pl.col("lag_h") >= 0)
    return lagged.group_by("center_id").agg(
        pl.len().alias("reports"),
        pl.col("lag_h").is_null().sum().cast(pl.Int64).alias("lag_unknown"),
        (pl.col("lag_h") < 0).sum().cast(pl.Int64).alias("lag_negative"),
        valid.quantile(0.5, "linear").alias("median_lag_h"),
        valid.quantile(0.9, "linear").alias("p90_lag_h"),
    )


def lag_bands(reports: pl.DataFrame, center_ids: list[str]) -> pl.DataFrame:
    """Histogram-ready lag distribution: every center x band (zeros included), with the
    band's share of the center's reports (unknown and negative lags are bands too)."""
    band = pl.when(pl.col("lag_h").is_null()).then(pl.lit(UNKNOWN_BAND)).when(
        pl.col("lag_h") < 0).then(pl.lit(NEGATIVE_BAND))
    for label, lower, upper in LAG_BANDS:
        band = band.when((pl.col("lag_h") >= lower) & (pl.col("lag_h") < upper)).then(
            pl.lit(label))
    counts = with_lag_hours(reports).with_columns(band.alias("band")).group_by(
        "center_id", "band").agg(pl.len().cast(pl.Int64).alias("reports"))
    grid = pl.DataFrame({"center_id": center_ids}, schema={"center_id": pl.String}).join(
        pl.DataFrame({"band": list(LAG_BAND_ORDER),
                      "band_order": list(range(len(LAG_BAND_ORDER)))},
                     schema={"band": pl.String, "band_order": pl.Int64}), how="cross")
    table = grid.join(counts, on=["center_id", "band"], how="left").with_columns(
        pl.col("reports").fill_null(0))
    total = pl.col("reports").sum().over("center_id")
    return table.with_columns(
        pl.when(total > 0).then(100.0 * pl.col("reports") / total).alias("share_pct")
    ).sort("center_id", "band_order")


def week_bins(period: Period) -> pl.DataFrame:
    """7-day windows ending on the period's last day: bin, week_start, week_end, days."""
    count = -(-period.days // 7)
    ends = [period.end - timedelta(days=7 * k) for k in range(count)]
    starts = [max(period.start, end - timedelta(days=6)) for end in ends]
    return pl.DataFrame({
        "bin": list(range(count)), "week_start": starts, "week_end": ends,
        "days": [(end - start).days + 1 for start, end in zip(starts, ends, strict=True)],
    }, schema={"bin": pl.Int64, "week_start": pl.Date, "week_end": pl.Date, "days": pl.Int64})


def _bin_of(column: str, period: Period) -> pl.Expr:
    return ((pl.lit(period.end) - pl.col(column)).dt.total_days() // 7).cast(pl.Int64)


def weekly_counts(reports: pl.DataFrame, products: pl.DataFrame, center_ids: list[str],
                  period: Period) -> pl.DataFrame:
    """Incidents and products per center per weekly bin, zeros included."""
    incidents = reports.group_by("center_id", _bin_of("occurred_date", period).alias("bin")).agg(
        pl.len().cast(pl.Int64).alias("incidents"))
    published = products.group_by(
        "center_id", _bin_of("published_date", period).alias("bin")).agg(
        pl.len().cast(pl.Int64).alias("products"))
    grid = pl.DataFrame({"center_id": center_ids}, schema={"center_id": pl.String}).join(
        week_bins(period), how="cross")
    return grid.join(incidents, on=["center_id", "bin"], how="left").join(
        published, on=["center_id", "bin"], how="left").with_columns(
        pl.col("incidents").fill_null(0), pl.col("products").fill_null(0)
    ).sort("center_id", "week_start").drop("bin")


def products_by_month(products: pl.DataFrame) -> pl.DataFrame:
    """Products per center, calendar month (first day) and product type."""
    return products.group_by(
        "center_id", pl.col("published_date").dt.month_start().alias("month"), "product_type"
    ).agg(pl.len().cast(pl.Int64).alias("products")).sort("center_id", "month", "product_type")


def with_aor_flags(reports: pl.DataFrame, center_aor: pl.DataFrame) -> pl.DataFrame:
    """Adds outside_aor (known county not in the filing center's AOR; null: unknown county)."""
    inside = center_aor.select("center_id", "county_fips").unique().with_columns(
        pl.lit(True).alias("_inside"))
    return reports.join(inside, on=["center_id", "county_fips"], how="left").with_columns(
        pl.when(pl.col("county_fips").is_null()).then(None)
        .otherwise(pl.col("_inside").is_null()).alias("outside_aor")
    ).drop("_inside")


def aor_breakdown(flagged: pl.DataFrame, regions: pl.DataFrame, center_aor: pl.DataFrame,
                  center_ids: list[str], counties: list[str] | None = None
                  ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Each center's reports by category and by region against its AOR (with the AOR's
    regions under the place filter ``counties`` where it filed nothing), and the counties
    outside its AOR it reports on."""
    outside = pl.col("outside_aor").fill_null(False)
    counts = [pl.len().cast(pl.Int64).alias("incidents"),
              outside.sum().cast(pl.Int64).alias("outside_aor"),
              pl.col("outside_aor").is_null().sum().cast(pl.Int64).alias("unknown_county")]
    by_category = flagged.group_by("center_id", "category").agg(counts).sort(
        ["center_id", "incidents", "category"], descending=[False, True, False])
    region_names = regions.select("region_id", "region_name").unique()
    aor_in_region = center_aor.join(regions.select("county_fips", "region_id"),
                                    on="county_fips").group_by("center_id", "region_id").agg(
        pl.len().cast(pl.Int64).alias("aor_counties"))
    region_size = regions.group_by("region_id").agg(
        pl.len().cast(pl.Int64).alias("region_counties"))
    # Regions of its AOR where it filed nothing are listed too: silence is part of the answer.
    reporting = flagged.group_by("center_id", "region_id").agg(counts[:2])
    in_view = center_aor.filter(pl.col("center_id").is_in(center_ids))
    if counties is not None:
        in_view = in_view.filter(pl.col("county_fips").is_in(counties))
    silent = in_view.join(regions.select("county_fips", "region_id"), on="county_fips").select(
        "center_id", "region_id").unique().join(reporting, on=["center_id", "region_id"],
                                                 how="anti")
    by_region = pl.concat([reporting, silent], how="diagonal").join(
        region_names, on="region_id", how="left").join(
        aor_in_region, on=["center_id", "region_id"], how="left").join(
        region_size, on="region_id", how="left").with_columns(
        pl.col("region_name").fill_null(UNKNOWN_PLACE), pl.col("aor_counties").fill_null(0),
        pl.col("region_counties").fill_null(0), pl.col("incidents", "outside_aor").fill_null(0),
    ).select("center_id", "region_id", "region_name", "incidents", "outside_aor",
             "aor_counties", "region_counties").sort(
        ["center_id", "incidents", "region_name"], descending=[False, True, False])
    outside_counties = flagged.filter(outside).group_by("center_id", "county_fips").agg(
        pl.len().cast(pl.Int64).alias("incidents")).join(
        regions.select("county_fips", "county_name", "region_name"), on="county_fips",
        how="left").select("center_id", "county_fips", "county_name", "region_name",
                           "incidents").sort(["center_id", "incidents", "county_fips"],
                                             descending=[False, True, False])
    return by_category, by_region, outside_counties


def statewide_center_ids(center_aor: pl.DataFrame, regions: pl.DataFrame) -> list[str]:
    """Centers whose AOR holds every county of the state."""
    state = regions["county_fips"].n_unique()
    if state == 0:
        return []
    return sorted(center_aor.filter(pl.col("county_fips").is_in(regions["county_fips"].to_list()))
                  .group_by("center_id").agg(pl.col("county_fips").n_unique().alias("n"))
                  .filter(pl.col("n") == state)["center_id"].to_list())


def county_coverage(regions: pl.DataFrame, center_aor: pl.DataFrame,
                    events: pl.DataFrame, counties: list[str] | None = None) -> pl.DataFrame:
    """Every county (or those listed) with the centers whose AOR holds it, whether only a
    statewide center does, and its events under the filters. center_count 0: no one covers it."""
    statewide = statewide_center_ids(center_aor, regions)
    holders = center_aor.group_by("county_fips").agg(pl.col("center_id").unique().sort()
                                                      .alias("centers"))
    per_county = events.group_by("county_fips").agg(pl.len().cast(pl.Int64).alias("incidents"))
    table = regions.select("county_fips", "county_name", "region_name")
    if counties is not None:
        table = table.filter(pl.col("county_fips").is_in(counties))
    table = table.join(holders, on="county_fips", how="left").join(
        per_county, on="county_fips", how="left").with_columns(
        pl.col("centers").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        pl.col("incidents").fill_null(0),
    ).with_columns(pl.col("centers").list.len().cast(pl.Int64).alias("center_count"))
    only_statewide = (pl.col("center_count") > 0) & pl.col("centers").list.eval(
        pl.element().is_in(statewide)).list.all()
    return table.with_columns(only_statewide.alias("only_statewide")).select(
        "county_fips", "county_name", "region_name", "centers", "center_count",
        "only_statewide", "incidents").sort("center_count", "region_name", "county_name")


def dual_reported_events(reports: pl.DataFrame) -> pl.DataFrame:
    """Cross-center duplicate events among ``reports``: event key, the event's county (the
    first report's, else any report's) and one row per center that reported it."""
    event = [
        pl.coalesce("duplicate_of_center_id", "center_id").alias("event_center_id"),
        pl.coalesce("duplicate_of_incident_id", "incident_id").alias("event_incident_id"),
    ]
    linked_originals = reports.filter(pl.col("is_duplicate")).select(
        pl.col("duplicate_of_center_id").alias("center_id"),
        pl.col("duplicate_of_incident_id").alias("incident_id")).unique()
    involved = pl.concat([
        reports.filter(pl.col("is_duplicate")),
        reports.join(linked_originals, on=["center_id", "incident_id"], how="semi"),
    ]).with_columns(event)
    keys = ["event_center_id", "event_incident_id"]
    county = involved.sort("is_duplicate").group_by(keys).agg(
        pl.col("county_fips").drop_nulls().first().alias("event_county"))
    return involved.select(*keys, "center_id").unique().join(county, on=keys)


def overlap_matrix(center_ids: list[str], center_aor: pl.DataFrame, regions: pl.DataFrame,
                   reports: pl.DataFrame) -> pl.DataFrame:
    """Every ordered pair of centers (diagonal included): counties both AORs hold (count and
    names), and events in those counties that both centers reported (duplicate links). The
    diagonal holds the center's AOR size and no both_reported; the matrix is symmetric."""
    names = dict(zip(regions["county_fips"].to_list(), regions["county_name"].to_list(),
                     strict=True))
    aor = center_aor.filter(pl.col("center_id").is_in(center_ids)).select(
        "center_id", "county_fips").unique()
    shared = aor.join(aor, on="county_fips", suffix="_b").rename(
        {"center_id": "center_a", "center_id_b": "center_b"})
    counties = shared.group_by("center_a", "center_b").agg(
        pl.col("county_fips").sort().alias("shared_fips"))
    events = dual_reported_events(reports)
    pairs = events.join(events.select("event_center_id", "event_incident_id",
                                      pl.col("center_id").alias("center_b")),
                        on=["event_center_id", "event_incident_id"]).filter(
        pl.col("center_id") != pl.col("center_b")).rename({"center_id": "center_a"})
    both = pairs.join(shared, left_on=["center_a", "center_b", "event_county"],
                      right_on=["center_a", "center_b", "county_fips"], how="semi").group_by(
        "center_a", "center_b").agg(pl.len().cast(pl.Int64).alias("both_reported"))
    grid = pl.DataFrame({"center_a": center_ids}, schema={"center_a": pl.String}).join(
        pl.DataFrame({"center_b": center_ids}, schema={"center_b": pl.String}), how="cross")
    table = grid.join(counties, on=["center_a", "center_b"], how="left").join(
        both, on=["center_a", "center_b"], how="left").with_columns(
        pl.col("shared_fips").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        pl.when(pl.col("center_a") == pl.col("center_b")).then(None)
        .otherwise(pl.col("both_reported").fill_null(0)).alias("both_reported"),
    )
    return table.with_columns(
        pl.col("shared_fips").list.len().cast(pl.Int64).alias("shared_counties"),
        pl.col("shared_fips").list.eval(pl.element().replace_strict(
            names, default=pl.element())).list.sort().alias("shared_county_names"),
    ).select("center_a", "center_b", "shared_counties", "shared_county_names",
             "both_reported")


def _linked_keys(incidents: pl.DataFrame) -> pl.DataFrame:
    """(center_id, incident_id) of every report in a cross-center duplicate pair."""
    duplicates = incidents.filter(pl.col("is_duplicate"))
    return pl.concat([
        duplicates.select("center_id", "incident_id"),
        duplicates.select(pl.col("duplicate_of_center_id").alias("center_id"),
                          pl.col("duplicate_of_incident_id").alias("incident_id")),
    ]).unique()


def last_reports(incidents: pl.DataFrame, filters: Filters, county_to_region: Mapping[str, str],
                 period_end: date, timezone: str) -> pl.DataFrame:
    """Per center, its latest report (reported_at, else occurred_at) on or before the period's
    end under the other filters: a center gone quiet shows how long ago it last reported."""
    scope = center_reports(incidents, filters, county_to_region, None).filter(
        pl.col("occurred_date") <= period_end)
    return scope.group_by("center_id").agg(
        pl.coalesce("reported_at", "occurred_at").max().dt.convert_time_zone(timezone)
        .alias("last_report_at"))


def center_figures(incidents: pl.DataFrame, products: pl.DataFrame, regions: pl.DataFrame,
                   centers: pl.DataFrame, center_aor: pl.DataFrame, filters: Filters,
                   period: Period, county_to_region: Mapping[str, str],
                   timezone: str = "UTC") -> CenterFigures:
    """The Centers page's figures for one filter (see the module's counting rules)."""
    statewide_filters = filters.with_changes(centers=())
    state_reports = center_reports(incidents, statewide_filters, county_to_region, period)
    events = state_reports.filter(~pl.col("is_duplicate"))
    reports = (state_reports.filter(pl.col("center_id").is_in(list(filters.centers)))
               if filters.centers else state_reports)
    published = filtered_products(products, filters, county_to_region, period)

    table = center_table(centers, reports, published)
    if filters.centers:
        table = table.filter(pl.col("center_id").is_in(list(filters.centers)))
    center_ids = table["center_id"].to_list()
    flagged = with_aor_flags(reports, center_aor)
    linked = _linked_keys(incidents).with_columns(pl.lit(True).alias("_linked"))
    volume = flagged.join(linked, on=["center_id", "incident_id"], how="left").group_by(
        "center_id").agg(
        pl.len().cast(pl.Int64).alias("incidents"),
        pl.col("_linked").fill_null(False).sum().cast(pl.Int64).alias("also_reported_by_other"),
        pl.col("outside_aor").fill_null(False).sum().cast(pl.Int64).alias("outside_aor"),
        pl.col("outside_aor").is_not_null().sum().cast(pl.Int64).alias("located"),
    )
    product_counts = published.group_by("center_id").agg(
        pl.len().cast(pl.Int64).alias("products"))
    denominator = state_reports.height
    summary = table.join(volume, on="center_id", how="left").join(
        product_counts, on="center_id", how="left").join(
        lag_statistics(reports).drop("reports"), on="center_id", how="left").join(
        last_reports(incidents, statewide_filters, county_to_region, period.end, timezone),
        on="center_id", how="left",
    ).with_columns(
        pl.col("incidents", "also_reported_by_other", "outside_aor", "located", "products",
               "lag_unknown", "lag_negative").fill_null(0),
    ).with_columns(
        (100.0 * pl.col("incidents") / denominator if denominator else pl.lit(None,
                                                                              pl.Float64))
        .alias("share_pct"),
        pl.when(pl.col("located") > 0).then(100.0 * pl.col("outside_aor") / pl.col("located"))
        .alias("outside_aor_pct"),
    ).select(SUMMARY_COLUMNS).sort(["incidents", "name"], descending=[True, False])

    by_category, by_region, outside_counties = aor_breakdown(
        flagged, regions, center_aor, center_ids, selected_counties(filters, county_to_region))
    all_ids = center_table(centers, state_reports)["center_id"].to_list()
    return CenterFigures(
        summary=summary,
        weekly=weekly_counts(reports, published, center_ids, period),
        lag_bands=lag_bands(reports, center_ids),
        products_by_month=products_by_month(published),
        by_category=by_category,
        by_region=by_region,
        outside_counties=outside_counties,
        overlap=overlap_matrix(all_ids, center_aor, regions, state_reports),
        county_coverage=county_coverage(regions, center_aor, events,
                                        selected_counties(filters, county_to_region)),
        statewide_events=events.height,
        statewide_reports=denominator,
    )

