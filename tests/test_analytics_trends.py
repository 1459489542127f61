"""Trends analytics: CompStat by hand (year boundary, leap day), the local-time rhythm across DST
changes, the anomaly rule on constructed series, and series totals as a property."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import nbinom, poisson

from dashboard.analytics.filters import Filters, Period, incident_filter
from dashboard.analytics.trends import (
    MAX_CHART_POINTS,
    AnomalyRule,
    adjust_p_values,
    anomalies,
    bucket_floor,
    buckets_before,
    category_region_counts,
    chart_granularity,
    compstat_periods,
    compstat_table,
    compstat_totals,
    hour_weekday_counts,
    incident_series,
    same_day_last_year,
    series_view,
    tail_log_p,
)
from dashboard.pagemodels.report import anomaly_records
from dashboard.settings import AnomalySettings

COUNTY_TO_REGION = {"06001": "bay", "06075": "bay", "06037": "south"}
REGION_OF = COUNTY_TO_REGION


def incidents(rows: list[dict[str, object]]) -> pl.DataFrame:
    """A PictureFrames-shaped incident frame from a few hand-written rows (defaults filled)."""
    filled = []
    for number, row in enumerate(rows):
        day = row.get("day")
        at = row.get("at") or datetime.combine(day, datetime.min.time(), UTC)  # type: ignore[arg-type]
        county = row.get("county", "06001")
        filled.append({
            "center_id": row.get("center", "state"), "incident_id": f"I-{number}",
            "occurred_at": at, "occurred_date": day or at.date(),  # type: ignore[union-attr]
            "category": row.get("category", "narcotics"), "county_fips": county,
            "region_id": REGION_OF[county], "sar_behavior": None, "target_sector": None,
            "severity": 3, "is_duplicate": row.get("duplicate", False),
        })
    schema = {"center_id": pl.String, "incident_id": pl.String,
              "occurred_at": pl.Datetime("us", "UTC"), "occurred_date": pl.Date,
              "category": pl.String, "county_fips": pl.String, "region_id": pl.String,
              "sar_behavior": pl.String, "target_sector": pl.String, "severity": pl.Int64,
              "is_duplicate": pl.Boolean}
    return pl.DataFrame(filled, schema=schema)


def daily(counts: dict[date, int], category: str = "narcotics",
          county: str = "06001") -> list[dict[str, object]]:
    return [{"day": day, "category": category, "county": county}
            for day, count in counts.items() for _ in range(count)]


def constant(start: date, days: int, per_day: int) -> dict[date, int]:
    return {start + timedelta(days=n): per_day for n in range(days)}


# --- CompStat ---------------------------------------------------------------------------


def test_compstat_across_the_new_year() -> None:
    rows = daily({date(2024, 12, 29): 1, date(2025, 1, 4): 1, date(2024, 12, 28): 1,
                  date(2024, 12, 22): 1, date(2024, 12, 21): 1, date(2024, 12, 7): 1,
                  date(2024, 1, 3): 1, date(2024, 1, 5): 1})
    rows += daily({date(2025, 1, 1): 1, date(2024, 1, 1): 1}, category="gangs")
    rows.append({"day": date(2025, 1, 4), "category": "narcotics", "duplicate": True})
    frame = incidents(rows)
    as_of = date(2025, 1, 4)  # the 7 days run from 29 December
    windows = compstat_periods(as_of)
    assert windows["7d"] == (Period(date(2024, 12, 29), as_of),
                             Period(date(2024, 12, 22), date(2024, 12, 28)))
    assert windows["28d"] == (Period(date(2024, 12, 8), as_of),
                              Period(date(2024, 11, 10), date(2024, 12, 7)))
    assert windows["ytd"] == (Period(date(2025, 1, 1), as_of),
                              Period(date(2024, 1, 1), date(2024, 1, 4)))

    table = compstat_table(frame, Filters(), COUNTY_TO_REGION, as_of, "category",
                           keys=("narcotics", "gangs", "cybercrime"))
    rows_by_key = {row["category"]: row for row in table.iter_rows(named=True)}
    assert rows_by_key["narcotics"] == {
        "category": "narcotics",
        "7d": 2, "7d_prior": 2, "7d_change": 0, "7d_change_pct": 0.0,
        "28d": 5, "28d_prior": 1, "28d_change": 4, "28d_change_pct": 400.0,
        "ytd": 1, "ytd_prior": 1, "ytd_change": 0, "ytd_change_pct": 0.0,
    }
    assert rows_by_key["gangs"] == {
        "category": "gangs",
        "7d": 1, "7d_prior": 0, "7d_change": 1, "7d_change_pct": None,
        "28d": 1, "28d_prior": 0, "28d_change": 1, "28d_change_pct": None,
        "ytd": 1, "ytd_prior": 1, "ytd_change": 0, "ytd_change_pct": 0.0,
    }
    assert rows_by_key["cybercrime"]["28d"] == rows_by_key["cybercrime"]["ytd_prior"] == 0
    assert table["category"].to_list() == ["narcotics", "gangs", "cybercrime"]  # by 28 days

    totals = {kpi.label: (kpi.current, kpi.previous) for kpi in compstat_totals(table)}
    assert totals == {"Last 7 days": (3, 2), "Last 28 days": (6, 1), "Year to date": (2, 2)}
    # The duplicate report counts when duplicates are not counted once.
    everything = compstat_table(frame, Filters(duplicates_once=False), COUNTY_TO_REGION, as_of)
    assert everything.filter(pl.col("category") == "narcotics")["7d"].item() == 3


def test_compstat_year_to_date_on_a_leap_day() -> None:
    assert same_day_last_year(date(2024, 2, 29)) == date(2023, 2, 28)
    assert same_day_last_year(date(2025, 2, 28)) == date(2024, 2, 28)
    frame = incidents(daily({date(2024, 1, 1): 1, date(2024, 2, 29): 2, date(2023, 2, 28): 1,
                             date(2023, 3, 1): 1, date(2023, 1, 1): 1}))
    leap = compstat_table(frame, Filters(), COUNTY_TO_REGION, date(2024, 2, 29))
    assert compstat_periods(date(2024, 2, 29))["ytd"][1] == Period(date(2023, 1, 1),
                                                                   date(2023, 2, 28))
    assert leap.select("ytd", "ytd_prior", "ytd_change", "ytd_change_pct").row(0) == (
        3, 2, 1, 50.0)
    # A year later the prior span (1 Jan - 28 Feb 2024) leaves the leap day out.
    after = compstat_table(frame, Filters(), COUNTY_TO_REGION, date(2025, 2, 28))
    assert after.select("ytd", "ytd_prior").row(0) == (0, 1)


def test_compstat_by_region_follows_the_filters() -> None:
    frame = incidents(daily({date(2025, 3, 10): 2}, county="06001")
                      + daily({date(2025, 3, 10): 1}, county="06037")
                      + daily({date(2025, 3, 9): 4}, category="gangs", county="06075"))
    table = compstat_table(frame, Filters(categories=("narcotics",)), COUNTY_TO_REGION,
                           date(2025, 3, 10), "region_id", keys=("bay", "south"))
    assert dict(table.select("region_id", "7d").rows()) == {"bay": 2, "south": 1}
    with pytest.raises(ValueError, match="category or region_id"):
        compstat_table(frame, Filters(), COUNTY_TO_REGION, date(2025, 3, 10), "county_fips")


# --- rhythm in local time ---------------------------------------------------------------

CENTERS = pl.DataFrame({"center_id": ["lac", "nyc"],
                        "timezone": ["America/Los_Angeles", "America/New_York"]})


def at_utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def rhythm(rows: list[dict[str, object]]) -> dict[tuple[int, int], int]:
    counts = hour_weekday_counts(incidents(rows), CENTERS, Filters(), COUNTY_TO_REGION,
                                 Period(date(2024, 1, 1), date(2024, 12, 31)))
    assert counts.height == 168
    return {(w, h): n for w, h, n in counts.select("weekday", "hour", "incidents").iter_rows()
            if n}


def test_rhythm_counts_both_1_30s_of_the_fall_back_night() -> None:
    # 3 November 2024, Los Angeles: 01:30 PDT (08:30 UTC), then 01:30 PST (09:30 UTC).
    found = rhythm([{"at": at_utc(2024, 11, 3, 8, 30), "center": "lac"},
                    {"at": at_utc(2024, 11, 3, 9, 30), "center": "lac"}])
    assert found == {(6, 1): 2}  # Sunday, 01:00-01:59, twice


def test_rhythm_skips_the_missing_hour_of_spring_forward() -> None:
    # 10 March 2024, Los Angeles: 01:30 PST (09:30 UTC); an hour later it is 03:30 PDT.
    found = rhythm([{"at": at_utc(2024, 3, 10, 9, 30), "center": "lac"},
                    {"at": at_utc(2024, 3, 10, 10, 30), "center": "lac"}])
    assert found == {(6, 1): 1, (6, 3): 1}


def test_rhythm_uses_each_centers_own_time_zone() -> None:
    same_instant = at_utc(2024, 11, 3, 5, 30)  # 01:30 EDT Sunday; 22:30 PDT Saturday
    found = rhythm([{"at": same_instant, "center": "nyc"}, {"at": same_instant,
                                                            "center": "lac"}])
    assert found == {(6, 1): 1, (5, 22): 1}


# --- anomaly rule -----------------------------------------------------------------------

MONDAY = date(2024, 1, 1)


def weekly(frame: pl.DataFrame, period: Period, rule: AnomalyRule | None = None,
           split: str = "category") -> pl.DataFrame:
    return incident_series(frame, Filters(), COUNTY_TO_REGION, period, split, "week", rule)


def test_flat_poisson_series_has_no_anomaly() -> None:
    rng = np.random.default_rng(3)
    counts = {MONDAY + timedelta(days=n): int(rng.poisson(6)) for n in range(364)}
    series = weekly(incidents(daily(counts)), Period(MONDAY, MONDAY + timedelta(days=363)))
    assert series["expected"].drop_nulls().len() == 52 - 8  # a whole 8-week window first
    assert anomalies(series).is_empty()


def test_planted_4x_spike_is_found_with_its_expected_count() -> None:
    counts = constant(MONDAY, 12 * 7, 3)  # 21 a week for 12 weeks
    spike_week = MONDAY + timedelta(weeks=10)
    counts |= constant(spike_week, 7, 12)  # 84 in week 11
    series = weekly(incidents(daily(counts)), Period(MONDAY, MONDAY + timedelta(weeks=12, days=-1)))
    found = anomalies(series)
    assert found.height == 1
    spike = found.row(0, named=True)
    assert (spike["start"], spike["end"]) == (spike_week, spike_week + timedelta(days=6))
    assert spike["incidents"] == 84
    assert spike["expected"] == pytest.approx(21.0)
    assert spike["ratio"] == pytest.approx(4.0)
    assert spike["p_value"] == pytest.approx(poisson.sf(83, 21.0), rel=1e-6)
    assert spike["score"] == pytest.approx(-np.log10(poisson.sf(83, 21.0)), rel=1e-6)
    # The week after: its window now holds the spike (21 * 7 + 84) / 56 days * 7.
    after = series.filter(pl.col("bucket_start") == spike_week + timedelta(weeks=1))
    assert after["expected"].item() == pytest.approx((21 * 7 + 84) / 8)
    assert not after["anomaly"].item()


def test_fewer_weeks_than_the_window_give_no_anomaly() -> None:
    counts = constant(MONDAY, 7 * 7, 3) | constant(MONDAY + timedelta(weeks=7), 7, 15)
    short = weekly(incidents(daily(counts)), Period(MONDAY, MONDAY + timedelta(weeks=8, days=-1)))
    assert short.height == 8
    assert short["expected"].null_count() == 8
    assert anomalies(short).is_empty()
    # With eight whole weeks before it, the same spike is found.
    longer = constant(MONDAY, 8 * 7, 3) | constant(MONDAY + timedelta(weeks=8), 7, 15)
    found = anomalies(weekly(incidents(daily(longer)),
                             Period(MONDAY, MONDAY + timedelta(weeks=9, days=-1))))
    assert found["start"].to_list() == [MONDAY + timedelta(weeks=8)]


def test_weeks_end_on_the_last_day_and_a_cut_week_counts_its_own_days() -> None:
    counts = constant(MONDAY - timedelta(weeks=1), 11 * 7, 3)
    # The period runs Monday of week 9 to Wednesday of week 10: weeks end on Wednesdays, so
    # the latest week is whole and the first one holds three days (Monday to Wednesday).
    start, end = MONDAY + timedelta(weeks=8), MONDAY + timedelta(weeks=9, days=2)
    series = weekly(incidents(daily(counts)), Period(start, end)).sort("bucket_start")
    assert series.select("bucket_start", "start", "end", "days", "incidents").rows() == [
        (start - timedelta(days=4), start, start + timedelta(days=2), 3, 9),
        (start + timedelta(days=3), start + timedelta(days=3), end, 7, 21),
    ]
    assert series["expected"].to_list() == [pytest.approx(9.0), pytest.approx(21.0)]


def test_weekly_dated_counts_are_shown_in_whole_weeks_only() -> None:
    """A partner's release and a network's bundles date each week's count on its Sunday: a
    week cut by the period's start would carry all seven days against a baseline for the few
    days inside and read as a surge, so the view starts on the first Monday in it."""
    sundays = {MONDAY + timedelta(weeks=week, days=6): 21 for week in range(12)}
    start = MONDAY + timedelta(weeks=9, days=2)  # a Wednesday
    end = MONDAY + timedelta(weeks=11, days=6)  # a Sunday
    series = incident_series(incidents(daily(sundays)), Filters(), COUNTY_TO_REGION,
                             Period(start, end), "category", "week",
                             weeks_end_on_sunday=True).sort("bucket_start")
    assert series.select("start", "end", "days", "incidents").rows() == [
        (MONDAY + timedelta(weeks=10), MONDAY + timedelta(weeks=10, days=6), 7, 21),
        (MONDAY + timedelta(weeks=11), end, 7, 21),
    ]
    assert not series["anomaly"].any()


def test_a_first_appearance_needs_min_count() -> None:
    quiet = constant(MONDAY, 10 * 7, 1)  # other category keeps the data range open
    rows = daily(quiet, category="gangs")
    first = MONDAY + timedelta(weeks=9)
    five = incidents(rows + daily({first: 5}))
    four = incidents(rows + daily({first: 4}))
    period = Period(MONDAY, MONDAY + timedelta(weeks=10, days=-1))
    found = anomalies(weekly(five, period)).filter(pl.col("series") == "narcotics")
    # An empty window counts as half an incident: 0.5 / 56 days * 7 days.
    assert found["expected"].to_list() == [pytest.approx(0.0625)]
    assert anomalies(weekly(four, period)).filter(pl.col("series") == "narcotics").is_empty()


def test_min_ratio_and_alpha_come_from_the_rule() -> None:
    counts = constant(MONDAY, 12 * 7, 3) | constant(MONDAY + timedelta(weeks=10), 7, 12)
    frame = incidents(daily(counts))
    period = Period(MONDAY, MONDAY + timedelta(weeks=12, days=-1))
    assert anomalies(weekly(frame, period, AnomalyRule(min_ratio=4.5))).is_empty()
    assert anomalies(weekly(frame, period, AnomalyRule(alpha=1e-30))).is_empty()
    assert anomalies(weekly(frame, period, AnomalyRule(min_count=85))).is_empty()
    assert anomalies(weekly(frame, period, AnomalyRule(baseline_buckets=4))).height == 1


def test_multiple_comparison_adjustments_by_hand() -> None:
    p_values = np.array([0.01, 0.04, 0.03, 0.005])
    assert adjust_p_values(p_values, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    assert adjust_p_values(p_values, "benjamini_hochberg") == pytest.approx(
        [0.02, 0.04, 0.04, 0.02])
    assert adjust_p_values(p_values, "none") == pytest.approx(p_values)
    assert adjust_p_values(np.array([0.9, 0.8]), "bonferroni") == pytest.approx([1.0, 1.0])
    with pytest.raises(ValueError, match="unknown correction"):
        adjust_p_values(p_values, "holm")


def test_negative_binomial_tail_only_where_overdispersed() -> None:
    observed, expected = np.array([30.0, 30.0]), np.array([20.0, 20.0])
    log_p = tail_log_p(observed, expected, np.array([60.0, 15.0]))
    size = 20.0 ** 2 / (60.0 - 20.0)
    assert np.exp(log_p[0]) == pytest.approx(nbinom.sf(29, size, 20.0 / 60.0))
    assert np.exp(log_p[1]) == pytest.approx(poisson.sf(29, 20.0))  # not overdispersed
    assert np.exp(log_p[0]) > np.exp(log_p[1])


def test_negative_binomial_method_is_more_cautious_on_a_noisy_window() -> None:
    rng = np.random.default_rng(5)
    # Weekly counts swing between quiet and busy weeks (variance far above the mean).
    counts: dict[date, int] = {}
    for week in range(12):
        level = 1 if week % 2 else 6
        counts |= {MONDAY + timedelta(weeks=week, days=d): int(rng.poisson(level))
                   for d in range(7)}
    counts |= constant(MONDAY + timedelta(weeks=12), 7, 9)
    frame = incidents(daily(counts))
    period = Period(MONDAY, MONDAY + timedelta(weeks=13, days=-1))
    poisson_p = weekly(frame, period)["p_value"].to_list()[-1]
    nb_p = weekly(frame, period, AnomalyRule(method="negative_binomial"))["p_value"].to_list()[-1]
    assert nb_p > poisson_p


def test_month_buckets_and_calendar_helpers() -> None:
    assert bucket_floor(date(2024, 2, 29), "month", date(2024, 3, 31)) == date(2024, 2, 1)
    # Weeks ending on Saturday 4 January 2025 start on Sundays, across the new year.
    assert bucket_floor(date(2024, 12, 31), "week", date(2025, 1, 4)) == date(2024, 12, 29)
    assert bucket_floor(date(2024, 12, 28), "week", date(2025, 1, 4)) == date(2024, 12, 22)
    assert buckets_before(date(2024, 2, 1), "month", 6) == date(2023, 8, 1)
    assert buckets_before(date(2024, 1, 1), "week", 8) == date(2023, 11, 6)
    frame = incidents(daily(constant(date(2023, 1, 1), 425, 1)))  # to 29 Feb 2024
    series = incident_series(frame, Filters(), COUNTY_TO_REGION,
                             Period(date(2024, 1, 15), date(2024, 2, 29)), "category", "month")
    assert series.select("bucket_start", "start", "end", "days", "incidents").rows() == [
        (date(2024, 1, 1), date(2024, 1, 15), date(2024, 1, 31), 17, 17),
        (date(2024, 2, 1), date(2024, 2, 1), date(2024, 2, 29), 29, 29),
    ]
    assert series["expected"].to_list() == [pytest.approx(17.0), pytest.approx(29.0)]


def test_category_within_region_series_and_counts() -> None:
    frame = incidents(daily({date(2025, 3, 3): 2}, county="06001")
                      + daily({date(2025, 3, 4): 1}, county="06037")
                      + daily({date(2025, 3, 4): 3}, category="gangs", county="06075"))
    period = Period(date(2025, 3, 3), date(2025, 3, 9))
    series = weekly(frame, period, split="category_region")
    assert dict(series.select("series", "incidents").rows()) == {
        "narcotics|bay": 2, "narcotics|south": 1, "gangs|bay": 3}
    counts = category_region_counts(frame, Filters(), COUNTY_TO_REGION, period)
    assert counts.rows() == [("gangs", "bay", 3), ("narcotics", "bay", 2),
                             ("narcotics", "south", 1)]


def test_charts_stay_under_the_point_budget() -> None:
    decade = Period(date(2015, 1, 1), date(2024, 12, 31))
    assert chart_granularity(decade, "day", 10) == "day"  # 3,655 days x 10 series x 2 lines
    assert chart_granularity(decade, "day", 20) == "week"  # 146,200 points by day
    assert chart_granularity(decade, "day", 100, traces_per_series=3) == "month"
    assert chart_granularity(decade, "month", 20) == "month"
    assert (decade.days + 2) * 20 * 2 > MAX_CHART_POINTS >= (decade.days // 7 + 2) * 20 * 2


def test_series_view_and_report_use_the_configured_rule() -> None:
    counts = constant(MONDAY, 12 * 7, 3) | constant(MONDAY + timedelta(weeks=10), 7, 12)
    frame = incidents(daily(counts))
    period = Period(MONDAY, MONDAY + timedelta(weeks=12, days=-1))
    view = series_view(frame, Filters(), COUNTY_TO_REGION, period, "region", "week",
                       AnomalySettings(baseline_weeks=6))
    assert view.rule.baseline_buckets == 6 and view.granularity == "week"
    # Small charts cap the points per series: 84 days by day would be 84 > 60.
    small = series_view(frame, Filters(), COUNTY_TO_REGION, period, "region", "day",
                        AnomalySettings(), traces_per_series=3, max_buckets=60)
    assert small.granularity == "week" and small.rule.baseline_buckets == 8
    assert view.anomalies["series"].to_list() == ["bay"]
    records = anomaly_records(series_view(frame, Filters(), COUNTY_TO_REGION, period,
                                          "category_region", "week", AnomalySettings()))
    assert records == [{
        "series": "narcotics|bay", "split": "category_region", "category": "narcotics",
        "region_id": "bay", "granularity": "week",
        "period": {"start": "2024-03-11", "end": "2024-03-17"}, "observed": 84,
        "expected": 21.0, "ratio": 4.0, "p_value": records[0]["p_value"],
        "adjusted_p": records[0]["adjusted_p"], "score": records[0]["score"],
    }]
    assert records[0]["p_value"] == pytest.approx(poisson.sf(83, 21.0), rel=1e-5)
    assert records[0]["score"] == pytest.approx(-np.log10(poisson.sf(83, 21.0)), abs=1e-3)


# --- bad input --------------------------------------------------------------------------


def test_empty_frames_and_unknown_choices() -> None:
    empty = incidents([])
    period = Period(date(2025, 1, 1), date(2025, 1, 31))
    assert weekly(empty, period).is_empty()
    assert compstat_table(empty, Filters(), COUNTY_TO_REGION, date(2025, 1, 31),
                          keys=("gangs",)).select("category", "28d", "28d_change_pct"
                                                  ).rows() == [("gangs", 0, None)]
    assert sum(n for n in hour_weekday_counts(empty, CENTERS, Filters(), COUNTY_TO_REGION,
                                              period)["incidents"]) == 0
    assert category_region_counts(empty, Filters(), COUNTY_TO_REGION, period).is_empty()
    frame = incidents(daily({date(2025, 1, 5): 1}))
    with pytest.raises(ValueError, match="unknown split 'county'"):
        incident_series(frame, Filters(), COUNTY_TO_REGION, period, "county", "week")
    with pytest.raises(ValueError, match="unknown granularity 'hour'"):
        incident_series(frame, Filters(), COUNTY_TO_REGION, period, "category", "hour")  # type: ignore[arg-type]
    # A period wholly outside the data, or filters that match nothing: no series.
    assert weekly(frame, Period(date(2030, 1, 1), date(2030, 2, 1))).is_empty()
    assert incident_series(frame, Filters(categories=("gangs",)), COUNTY_TO_REGION, period,
                           "category", "day").is_empty()


# --- properties -------------------------------------------------------------------------

DAY0 = date(2024, 1, 1)
incident_rows = st.lists(st.fixed_dictionaries({
    "day": st.integers(0, 120).map(lambda n: DAY0 + timedelta(days=n)),
    "category": st.sampled_from(["narcotics", "gangs", "cybercrime"]),
    "county": st.sampled_from(sorted(COUNTY_TO_REGION)),
    "center": st.sampled_from(["lac", "nyc"]),
    "duplicate": st.booleans(),
}), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(rows=incident_rows, split=st.sampled_from(["category", "region", "center",
                                                   "category_region"]),
       granularity=st.sampled_from(["day", "week", "month"]),
       start=st.integers(0, 120), length=st.integers(0, 150),
       categories=st.sets(st.sampled_from(["narcotics", "gangs", "cybercrime"])),
       once=st.booleans())
def test_series_sum_to_the_filtered_total(rows: list[dict[str, object]], split: str,
                                          granularity: str, start: int, length: int,
                                          categories: set[str], once: bool) -> None:
    frame = incidents(rows)
    filters = Filters(categories=tuple(sorted(categories)), duplicates_once=once)
    period = Period(DAY0 + timedelta(days=start), DAY0 + timedelta(days=start + length))
    series = incident_series(frame, filters, COUNTY_TO_REGION, period, split,
                             granularity)  # type: ignore[arg-type]
    total = frame.filter(incident_filter(filters, COUNTY_TO_REGION, period)).height
    assert int(series["incidents"].sum()) == total
    # Buckets tile the period's days with data, once per series.
    per_series = series.group_by("series").agg(pl.col("days").sum())
    assert per_series["days"].n_unique() <= 1
    assert (series["start"] <= series["end"]).all()
    assert set(series["series"]) >= set(
        frame.filter(incident_filter(filters, COUNTY_TO_REGION, period))
        .select(pl.concat_str(*(["category", "region_id"] if split == "category_region" else
                                [{"category": "category", "region": "region_id",
                                  "center": "center_id"}[split]]), separator="|"))
        .to_series())
