"""How the picture changes over time: series with a trailing baseline, anomalies, CompStat,
hour-of-day x weekday rhythm and category x region counts.

Series
    Incidents under the shared filters, per series (a category, region, center, or a category
    within a region) and per bucket: a day; a week of seven days ending on the last day shown
    (so the latest week is always whole, and "this week" means the last seven days); a calendar
    month. The view ends on the period's last day or the data's last day, whichever is earlier.
    A bucket cut by the period or by the data's first day counts only its days inside, and
    says how many (``days``).

Baseline and anomalies (the rule the Trends page explains)
    A bucket's baseline is the mean daily rate of the same series over the N whole buckets just
    before it (the bucket itself excluded; N per granularity in ``[anomalies]``), times the
    bucket's days. A window with no incident counts as half an incident, so a first appearance
    is judged against a small, not a zero, expectation. Only buckets whose whole window lies in
    the data are tested. The one-sided p-value is P(X >= observed) for X ~ Poisson(expected)
    or, with ``method = "negative_binomial"``, for a negative binomial with the same mean and
    the variance of the window's own counts (Poisson when the window is not overdispersed).
    p-values of every bucket of every series in one view form one family, corrected by
    Benjamini-Hochberg (default) or Bonferroni. An anomaly is a bucket with adjusted p < alpha,
    at least ``min_count`` incidents and at least ``min_ratio`` times its expected count.

CompStat
    Counts for the last 7 and 28 days and the year to date, ending on the period's last day,
    against the equal period before: the 7 (28) days before, and for the year to date the same
    span of the previous year. A year to date ending on 29 February is compared with 1 January
    to 28 February of the previous year (the prior span is one day shorter, as CompStat reports
    do: the alternative, 1 March, would count a day the current year has not reached).

Rates per 100,000 residents (CompStat and briefings)
    A count divided by the residents it is a count of (the shipped Census estimates, passed in
    as ``county_fips``, ``population``): a region's row by those of its counties the place
    filters select (the region counts only their incidents), a category's row, and a total, by
    those of the whole place selected (the state without a place filter). Residents are unknown
    when any of their counties has no estimate, and the rate is then null, never 0 or the rate
    of part of the place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np
import polars as pl
from scipy.stats import nbinom, poisson

from dashboard.analytics.filters import Filters, Period, incident_filter, selected_counties
from dashboard.analytics.picture import Kpi

Granularity = Literal["day", "week", "month"]
GRANULARITIES: tuple[Granularity, ...] = ("day", "week", "month")
# Series key columns per split; a category within a region is keyed "category|region_id".
SPLITS: dict[str, tuple[str, ...]] = {
    "category": ("category",),
    "region": ("region_id",),
    "center": ("center_id",),
    "category_region": ("category", "region_id"),
}
SERIES_SEPARATOR = "|"
UNKNOWN = "unknown"
# No chart ships more points than this (the page coarsens the granularity to stay below).
MAX_CHART_POINTS = 100_000
EMPTY_WINDOW_COUNT = 0.5  # a trailing window without incidents counts as half an incident
LN10 = math.log(10)

SERIES_SCHEMA: dict[str, pl.DataType] = {
    "series": pl.String(), "bucket_start": pl.Date(), "start": pl.Date(), "end": pl.Date(),
    "days": pl.Int64(), "incidents": pl.Int64(), "expected": pl.Float64(),
    "ratio": pl.Float64(), "p_value": pl.Float64(), "adjusted_p": pl.Float64(),
    "score": pl.Float64(), "anomaly": pl.Boolean(),
}


@dataclass(frozen=True)
class AnomalyRule:
    """The rule's parameters (from ``settings.anomalies``; see the module docstring)."""

    method: Literal["poisson", "negative_binomial"] = "poisson"
    baseline_buckets: int = 8
    alpha: float = 0.01
    correction: Literal["benjamini_hochberg", "bonferroni", "none"] = "benjamini_hochberg"
    min_count: int = 5
    min_ratio: float = 1.5


def anomaly_rule(settings: object, granularity: Granularity) -> AnomalyRule:
    """The rule for ``granularity`` from an ``AnomalySettings`` config model."""
    window = {"day": "baseline_days", "week": "baseline_weeks", "month": "baseline_months"}
    return AnomalyRule(
        method=settings.method,  # type: ignore[attr-defined]
        baseline_buckets=getattr(settings, window[_checked_granularity(granularity)]),
        alpha=settings.alpha,  # type: ignore[attr-defined]
        correction=settings.correction,  # type: ignore[attr-defined]
        min_count=settings.min_count,  # type: ignore[attr-defined]
        min_ratio=settings.min_ratio,  # type: ignore[attr-defined]
    )


def _checked_granularity(granularity: str) -> Granularity:
    if granularity not in GRANULARITIES:
        raise ValueError(f"unknown granularity {granularity!r}; expected one of "
                         f"{', '.join(GRANULARITIES)}")
    return granularity  # type: ignore[return-value]


def _checked_split(split: str) -> tuple[str, ...]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return SPLITS[split]


# --- calendar buckets -------------------------------------------------------------------


def bucket_floor(day: date, granularity: Granularity, week_ending: date) -> date:
    """First day of the bucket holding ``day`` (weeks end on ``week_ending``'s weekday)."""
    if granularity == "week":
        return week_ending - timedelta(days=6 + 7 * ((week_ending - day).days // 7))
    if granularity == "month":
        return day.replace(day=1)
    return day


def buckets_before(start: date, granularity: Granularity, count: int) -> date:
    """The first day of the bucket ``count`` buckets before the one starting on ``start``."""
    if granularity == "week":
        return start - timedelta(weeks=count)
    if granularity == "month":
        months = start.year * 12 + start.month - 1 - count
        return date(months // 12, months % 12 + 1, 1)
    return start - timedelta(days=count)


def _bucket_start_expr(column: pl.Expr, granularity: Granularity, week_ending: date) -> pl.Expr:
    if granularity == "week":
        weeks_back = (pl.lit(week_ending) - column).dt.total_days() // 7
        return pl.lit(week_ending - timedelta(days=6)) - pl.duration(days=7 * weeks_back)
    if granularity == "month":
        return column.dt.month_start()
    return column


def _bucket_length_expr(start: pl.Expr, granularity: Granularity) -> pl.Expr:
    if granularity == "week":
        return pl.lit(7, pl.Int64)
    if granularity == "month":
        return start.dt.month_end().dt.day().cast(pl.Int64)
    return pl.lit(1, pl.Int64)


def _series_key(split: str) -> pl.Expr:
    parts = [pl.col(column).fill_null(UNKNOWN) for column in _checked_split(split)]
    return pl.concat_str(parts, separator=SERIES_SEPARATOR) if len(parts) > 1 else parts[0]


def split_key(key: str) -> tuple[str, ...]:
    """A series key back into its parts (category, region_id for a category within a region)."""
    return tuple(key.split(SERIES_SEPARATOR))


def data_range(incidents: pl.DataFrame) -> Period | None:
    """First and last day with any incident in the store (None when empty): outside it a
    count is unknown, not zero."""
    if incidents.is_empty():
        return None
    dates = incidents["occurred_date"]
    return Period(dates.min(), dates.max())  # type: ignore[arg-type]


# --- series, baseline, anomalies --------------------------------------------------------


def incident_series(incidents: pl.DataFrame, filters: Filters,
                    county_to_region: Mapping[str, str], period: Period, split: str,
                    granularity: Granularity, rule: AnomalyRule | None = None,
                    weeks_end_on_sunday: bool = False) -> pl.DataFrame:
    """Counts per series and bucket in the period, with baseline and anomaly test.

    Weeks end on the view's last day, or (``weeks_end_on_sunday``: a partner's release, counted
    per Monday-to-Sunday week) run Monday to Sunday, the view ending on its last Sunday.

    Columns: ``series``, ``bucket_start`` (calendar start), ``start``/``end`` (the bucket's
    days inside the period and the data), ``days``, ``incidents``, ``expected`` (null where the
    trailing window is not all in the data), ``ratio``, ``p_value``, ``adjusted_p``, ``score``
    (-log10 p) and ``anomaly``. Every series with an incident in the period or its baseline
    window gets a row per bucket (zeros included).
    """
    _checked_split(split)
    granularity = _checked_granularity(granularity)
    rule = rule or AnomalyRule()
    known = data_range(incidents)
    if known is None:
        return pl.DataFrame(schema=SERIES_SCHEMA)
    view = Period(max(period.start, known.start), min(period.end, known.end))
    if granularity == "week" and weeks_end_on_sunday:
        # Whole Monday-to-Sunday weeks only: the data is dated on each week's Sunday, so a
        # week cut by the period's start would carry all its days' count against a baseline
        # for the few days inside, and read as a surge.
        view = Period(view.start + timedelta(days=(8 - view.start.isoweekday()) % 7),
                      view.end - timedelta(days=view.end.isoweekday() % 7))
    if view.start > view.end:
        return pl.DataFrame(schema=SERIES_SCHEMA)
    history_start = max(known.start, buckets_before(
        bucket_floor(view.start, granularity, view.end), granularity, rule.baseline_buckets))
    scope = Period(history_start, view.end)
    daily = (incidents.filter(incident_filter(filters, county_to_region, scope))
             .group_by(_series_key(split).alias("series"), "occurred_date")
             .agg(pl.len().cast(pl.Int64).alias("count")))
    if daily.is_empty():
        return pl.DataFrame(schema=SERIES_SCHEMA)

    calendar = pl.DataFrame({"occurred_date": pl.date_range(scope.start, scope.end, "1d",
                                                            eager=True)})
    calendar = calendar.with_columns(
        _bucket_start_expr(pl.col("occurred_date"), granularity, view.end).alias("bucket_start"),
        (pl.col("occurred_date") >= view.start).alias("in_view"),
    )
    grid = daily.select("series").unique().join(calendar, how="cross").join(
        daily, on=["series", "occurred_date"], how="left").with_columns(
        pl.col("count").fill_null(0))
    buckets = grid.group_by("series", "bucket_start").agg(
        pl.col("count").sum().alias("full_count"),
        pl.len().cast(pl.Int64).alias("full_days"),
        pl.col("count").filter(pl.col("in_view")).sum().alias("incidents"),
        pl.col("in_view").sum().cast(pl.Int64).alias("days"),
        pl.col("occurred_date").filter(pl.col("in_view")).min().alias("start"),
        pl.col("occurred_date").filter(pl.col("in_view")).max().alias("end"),
    ).sort("series", "bucket_start")

    window = rule.baseline_buckets
    complete = (pl.col("full_days") == _bucket_length_expr(pl.col("bucket_start"), granularity))
    day_rate = pl.col("full_count") / pl.col("full_days")

    def trailing(expr: pl.Expr) -> pl.Expr:
        return expr.shift(1).rolling_sum(window).over("series")

    buckets = buckets.with_columns(
        trailing(pl.col("full_count").cast(pl.Float64)).alias("window_count"),
        trailing(pl.col("full_days").cast(pl.Float64)).alias("window_days"),
        trailing(complete.cast(pl.Int64)).alias("window_complete"),
        day_rate.shift(1).rolling_var(window).over("series").alias("window_rate_var"),
    ).filter(pl.col("days") > 0)
    tested = pl.col("window_complete") == window
    rate = pl.max_horizontal(pl.col("window_count"), pl.lit(EMPTY_WINDOW_COUNT)) / pl.col(
        "window_days")
    buckets = buckets.with_columns(
        pl.when(tested).then(rate * pl.col("days")).alias("expected"),
        pl.when(tested).then(pl.col("window_rate_var") * pl.col("days") ** 2)
        .alias("expected_variance"),
    )
    return _tested(buckets, rule).select(list(SERIES_SCHEMA))


def _tested(buckets: pl.DataFrame, rule: AnomalyRule) -> pl.DataFrame:
    """p-values, their correction across the family, and the anomaly flag."""
    observed = buckets["incidents"].to_numpy().astype(float)
    expected = buckets["expected"].to_numpy(allow_copy=True).astype(float)
    variance = buckets["expected_variance"].to_numpy(allow_copy=True).astype(float)
    tested = ~np.isnan(expected)
    log_p = np.full(len(observed), np.nan)
    log_p[tested] = tail_log_p(observed[tested], expected[tested],
                               variance[tested] if rule.method == "negative_binomial" else None)
    p_value = np.exp(log_p)
    adjusted = np.full(len(observed), np.nan)
    adjusted[tested] = adjust_p_values(p_value[tested], rule.correction)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(tested, observed / expected, np.nan)
    anomaly = (tested & (observed >= rule.min_count) & (ratio >= rule.min_ratio)
               & (np.nan_to_num(adjusted, nan=1.0) < rule.alpha))
    return buckets.with_columns(
        pl.Series("ratio", ratio).fill_nan(None),
        pl.Series("p_value", p_value).fill_nan(None),
        pl.Series("adjusted_p", adjusted).fill_nan(None),
        pl.Series("score", -log_p / LN10).fill_nan(None),
        pl.Series("anomaly", anomaly),
    )


def tail_log_p(observed: np.ndarray, expected: np.ndarray,
               variance: np.ndarray | None = None) -> np.ndarray:
    """log P(X >= observed): Poisson(expected), or negative binomial with that mean and
    ``variance`` where the variance exceeds the mean (method of moments)."""
    observed = np.asarray(observed, dtype=float)
    expected = np.asarray(expected, dtype=float)
    log_p = poisson.logsf(observed - 1, expected)
    if variance is not None:
        variance = np.nan_to_num(np.asarray(variance, dtype=float), nan=0.0)
        over = variance > expected
        if over.any():
            mu, var = expected[over], variance[over]
            size = mu * mu / (var - mu)
            log_p[over] = nbinom.logsf(observed[over] - 1, size, mu / var)
    return np.minimum(log_p, 0.0)


def adjust_p_values(p_values: np.ndarray, correction: str) -> np.ndarray:
    """Multiple-comparison adjusted p-values (Benjamini-Hochberg step-up, Bonferroni, none)."""
    p_values = np.asarray(p_values, dtype=float)
    count = len(p_values)
    if count == 0 or correction == "none":
        return p_values.copy()
    if correction == "bonferroni":
        return np.minimum(p_values * count, 1.0)
    if correction != "benjamini_hochberg":
        raise ValueError(f"unknown correction {correction!r}")
    order = np.argsort(p_values, kind="stable")
    ranked = p_values[order] * count / np.arange(1, count + 1)
    # Step-up: each adjusted value is the smallest of its own and every larger p's.
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty(count)
    adjusted[order] = np.minimum(ranked, 1.0)
    return adjusted


def anomalies(series: pl.DataFrame) -> pl.DataFrame:
    """The anomalous buckets, most significant first."""
    return series.filter(pl.col("anomaly")).sort(
        "p_value", "ratio", "series", descending=[False, True, False]).select(
        "series", "start", "end", "incidents", "expected", "ratio", "p_value", "adjusted_p",
        "score")


def chart_granularity(period: Period, wanted: Granularity, series_count: int,
                      traces_per_series: int = 2, max_points: int = MAX_CHART_POINTS
                      ) -> Granularity:
    """``wanted``, or the finest coarser one that keeps a chart under ``max_points``."""
    wanted = _checked_granularity(wanted)
    days_per_bucket = {"day": 1, "week": 7, "month": 28}
    for granularity in GRANULARITIES[GRANULARITIES.index(wanted):]:
        buckets = period.days // days_per_bucket[granularity] + 2
        if buckets * max(series_count, 1) * traces_per_series <= max_points:
            return granularity
    return "month"


def series_count(incidents: pl.DataFrame, filters: Filters,
                 county_to_region: Mapping[str, str], period: Period, split: str) -> int:
    return incidents.filter(incident_filter(filters, county_to_region, period)).select(
        _series_key(split).n_unique()).item()


# --- CompStat ---------------------------------------------------------------------------

COMPSTAT_WINDOWS = ("7d", "28d", "ytd")
COMPSTAT_LABELS = {"7d": "Last 7 days", "28d": "Last 28 days", "ytd": "Year to date"}


def same_day_last_year(day: date) -> date:
    """The same month and day a year earlier; 29 February maps to 28 February."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return date(day.year - 1, 2, 28)


def compstat_periods(as_of: date) -> dict[str, tuple[Period, Period]]:
    """Each CompStat window ending on ``as_of`` and the period it is compared with."""
    seven = Period(as_of - timedelta(days=6), as_of)
    twenty_eight = Period(as_of - timedelta(days=27), as_of)
    year_to_date = Period(date(as_of.year, 1, 1), as_of)
    prior_year = Period(date(as_of.year - 1, 1, 1), same_day_last_year(as_of))
    return {"7d": (seven, seven.previous()), "28d": (twenty_eight, twenty_eight.previous()),
            "ytd": (year_to_date, prior_year)}


def compstat_table(incidents: pl.DataFrame, filters: Filters,
                   county_to_region: Mapping[str, str], as_of: date, by: str = "category",
                   keys: Sequence[str] = ()) -> pl.DataFrame:
    """For each value of ``by`` (``category`` or ``region_id``): ``<w>``, ``<w>_prior``,
    ``<w>_change`` and ``<w>_change_pct`` (null when the prior count is 0) for w in 7d, 28d,
    ytd. Every key in ``keys`` gets a row, zeros included; the filters' period is ignored
    (CompStat windows end on ``as_of``)."""
    if by not in ("category", "region_id"):
        raise ValueError(f"CompStat is by category or region_id, not {by!r}")
    windows = compstat_periods(as_of)
    earliest = min(period.start for pair in windows.values() for period in pair)
    scope = incidents.filter(incident_filter(filters, county_to_region, Period(earliest, as_of)))
    day = pl.col("occurred_date")
    aggregations = []
    for name, (current, prior) in windows.items():
        aggregations += [
            day.is_between(current.start, current.end).sum().cast(pl.Int64).alias(name),
            day.is_between(prior.start, prior.end).sum().cast(pl.Int64).alias(f"{name}_prior"),
        ]
    counts = scope.group_by(pl.col(by).fill_null(UNKNOWN)).agg(aggregations)
    everything = pl.DataFrame({by: list(dict.fromkeys(
        [*keys, *counts[by].to_list()]))}, schema={by: pl.String})
    table = everything.join(counts, on=by, how="left").fill_null(0)
    changes = []
    for name in COMPSTAT_WINDOWS:
        now, before = pl.col(name), pl.col(f"{name}_prior")
        changes += [(now - before).alias(f"{name}_change"),
                    pl.when(before > 0).then(100.0 * (now - before) / before)
                    .alias(f"{name}_change_pct")]
    columns = [by] + [f"{name}{suffix}" for name in COMPSTAT_WINDOWS
                      for suffix in ("", "_prior", "_change", "_change_pct")]
    return table.with_columns(changes).select(columns).sort(
        ["28d", by], descending=[True, False])


def compstat_totals(table: pl.DataFrame) -> list[Kpi]:
    """The table's totals per window, as KPIs against the prior period."""
    return [Kpi(COMPSTAT_LABELS[name], int(table[name].sum()), int(table[f"{name}_prior"].sum()),
                f"{COMPSTAT_LABELS[name]} against the equal period before"
                + (" (same span of last year)." if name == "ytd" else "."))
            for name in COMPSTAT_WINDOWS]


# --- rates per 100,000 residents --------------------------------------------------------

PER_RESIDENTS = 100_000


def per_100k(incidents: pl.Expr, residents: pl.Expr) -> pl.Expr:
    """Incidents per 100,000 residents; null where the residents are unknown (or none)."""
    return pl.when(residents > 0).then(PER_RESIDENTS * incidents / residents)


def _residents_of(population: Mapping[str, int | None], counties: Iterable[str]) -> int | None:
    """Residents of ``counties``; None when one of them (or all, when there are none) has no
    estimate: a rate over part of the residents would overstate it."""
    values = [population.get(fips) for fips in counties]
    if not values or any(value is None for value in values):
        return None
    return sum(value for value in values if value is not None)


def _population_by_county(population: pl.DataFrame) -> dict[str, int | None]:
    return dict(population.select("county_fips", "population").iter_rows())


def area_residents(population: pl.DataFrame, county_to_region: Mapping[str, str],
                   filters: Filters) -> int | None:
    """Residents of the place the filters select: the whole state (its counties in
    ``population`` and in the regions) without a place filter."""
    by_county = _population_by_county(population)
    chosen = selected_counties(filters, county_to_region)
    return _residents_of(by_county, set(by_county) | set(county_to_region)
                         if chosen is None else chosen)


def region_residents(population: pl.DataFrame, county_to_region: Mapping[str, str],
                     filters: Filters) -> dict[str, int | None]:
    """Residents of each region's counties that the place filters select (a region's counts
    are of those counties only)."""
    by_county = _population_by_county(population)
    chosen = selected_counties(filters, county_to_region)
    counties: dict[str, list[str]] = {}
    for fips, region in county_to_region.items():
        if chosen is None or fips in chosen:
            counties.setdefault(region, []).append(fips)
    return {region: _residents_of(by_county, fips) for region, fips in counties.items()}


def _residents_column(by: str, population: pl.DataFrame, county_to_region: Mapping[str, str],
                     filters: Filters) -> pl.Expr:
    """``population``: the residents a row keyed by ``by`` (``category`` or ``region_id``)
    counts incidents of."""
    if by == "category":
        return pl.lit(area_residents(population, county_to_region, filters),
                      pl.Int64).alias("population")
    if by != "region_id":
        raise ValueError(f"rates are by category or region_id, not {by!r}")
    return pl.col(by).replace_strict(region_residents(population, county_to_region, filters),
                                     default=None, return_dtype=pl.Int64).alias("population")


# The columns of each window in a rated CompStat table, in order.
COMPSTAT_RATED_SUFFIXES = ("", "_per_100k", "_prior", "_prior_per_100k", "_change",
                           "_change_pct")


def compstat_rates(table: pl.DataFrame, by: str, population: pl.DataFrame,
                   county_to_region: Mapping[str, str], filters: Filters) -> pl.DataFrame:
    """:func:`compstat_table` with each count's rate beside it, ``<w>_per_100k`` and
    ``<w>_prior_per_100k``, and the residents of each row (``population``, last); rates are
    computed from the table's counts alone (a partner's: released cells only)."""
    rated = table.with_columns(_residents_column(by, population, county_to_region, filters))
    rated = rated.with_columns(
        per_100k(pl.col(name), pl.col("population")).alias(f"{name}_per_100k")
        for window in COMPSTAT_WINDOWS for name in (window, f"{window}_prior"))
    return rated.select(by, *[f"{window}{suffix}" for window in COMPSTAT_WINDOWS
                              for suffix in COMPSTAT_RATED_SUFFIXES], "population")


def compstat_total_rates(table: pl.DataFrame, residents: int | None
                         ) -> dict[str, tuple[float | None, float | None]]:
    """Per window, the rates of the table's total and of its prior total (the residents of
    the place selected: :func:`area_residents`)."""
    totals = table.select(
        per_100k(pl.col(name).sum(), pl.lit(residents, pl.Int64)).alias(name)
        for window in COMPSTAT_WINDOWS for name in (window, f"{window}_prior")).row(0, named=True)
    return {window: (totals[window], totals[f"{window}_prior"]) for window in COMPSTAT_WINDOWS}


# --- rhythm and small multiples ---------------------------------------------------------

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def hour_weekday_counts(incidents: pl.DataFrame, centers: pl.DataFrame, filters: Filters,
                        county_to_region: Mapping[str, str], period: Period,
                        default_timezone: str = "UTC") -> pl.DataFrame:
    """Incidents per local weekday (0 = Monday) and hour (0-23), each incident in its reporting
    center's time zone (DST-correct, from the UTC time); all 168 cells, zeros included."""
    chosen = incidents.filter(incident_filter(filters, county_to_region, period)).select(
        "center_id", "occurred_at").join(
        centers.select("center_id", "timezone"), on="center_id", how="left").with_columns(
        pl.col("timezone").fill_null(default_timezone))
    parts = [pl.DataFrame(schema={"weekday": pl.Int8, "hour": pl.Int8})]
    for (timezone,), group in chosen.partition_by("timezone", as_dict=True).items():
        local = pl.col("occurred_at").dt.convert_time_zone(str(timezone))
        parts.append(group.select((local.dt.weekday() - 1).cast(pl.Int8).alias("weekday"),
                                  local.dt.hour().cast(pl.Int8).alias("hour")))
    counts = pl.concat(parts).group_by("weekday", "hour").agg(
        pl.len().cast(pl.Int64).alias("incidents"))
    cells = pl.DataFrame({"weekday": np.repeat(np.arange(7), 24).astype(np.int8),
                          "hour": np.tile(np.arange(24), 7).astype(np.int8)})
    return cells.join(counts, on=["weekday", "hour"], how="left").with_columns(
        pl.col("incidents").fill_null(0))


def category_region_counts(incidents: pl.DataFrame, filters: Filters,
                           county_to_region: Mapping[str, str], period: Period) -> pl.DataFrame:
    """Incidents per (category, region_id) in the period, busiest first."""
    return incidents.filter(incident_filter(filters, county_to_region, period)).group_by(
        "category", pl.col("region_id").fill_null(UNKNOWN)).agg(
        pl.len().cast(pl.Int64).alias("incidents")).sort(
        ["incidents", "category", "region_id"], descending=[True, False, False])


# --- what the Trends page and `analyze` show --------------------------------------------


@dataclass(frozen=True)
class SeriesView:
    """Series of one split at the granularity a chart can show, tested by ``rule``."""

    split: str
    granularity: Granularity  # the one asked for, or coarser when the chart would be too big
    rule: AnomalyRule
    series: pl.DataFrame

    @property
    def anomalies(self) -> pl.DataFrame:
        return anomalies(self.series)


def series_view(incidents: pl.DataFrame, filters: Filters, county_to_region: Mapping[str, str],
                period: Period, split: str, granularity: Granularity, settings: object,
                traces_per_series: int = 2, max_buckets: int | None = None,
                weeks_end_on_sunday: bool = False) -> SeriesView:
    """:func:`incident_series` at ``granularity``, coarsened to keep the chart under
    MAX_CHART_POINTS (and each series under ``max_buckets`` points, for small charts), with
    the configured rule (``settings``: an ``AnomalySettings``)."""
    count = series_count(incidents, filters, county_to_region, period, split)
    budget = MAX_CHART_POINTS if max_buckets is None else min(
        MAX_CHART_POINTS, max_buckets * max(count, 1) * traces_per_series)
    fitted = chart_granularity(period, granularity, count, traces_per_series, budget)
    rule = anomaly_rule(settings, fitted)
    return SeriesView(split, fitted, rule, incident_series(
        incidents, filters, county_to_region, period, split, fitted, rule, weeks_end_on_sunday))
