"""Issue 14: hot spots over rates per 100,000 residents, smoothed by empirical Bayes so that a
county of few residents cannot stand out from a handful of incidents."""

from __future__ import annotations

import polars as pl
import pytest

from dashboard.analytics.hotspots import smoothed_rates


def counties(incidents: list[int], population: list[int | None]) -> pl.DataFrame:
    return pl.DataFrame({"county_fips": [f"06{n:03d}" for n in range(1, len(incidents) + 1)],
                         "incidents": incidents, "population": population},
                        schema_overrides={"population": pl.Int64})


def test_a_tiny_county_is_pulled_towards_the_state_rate() -> None:
    table = counties([2, 100, 95, 105, 98], [1_000, 100_000, 100_000, 100_000, 100_000])
    rates = dict(smoothed_rates(table).rows())
    raw_tiny = 2 * 100_000 / 1_000  # 200 per 100k, ten times the others
    state = 400 * 100_000 / 401_000
    assert rates["06001"] == pytest.approx(state, rel=0.05)  # not 200: nearly the state's
    assert rates["06001"] < raw_tiny / 2
    # A populous county keeps (nearly) its own rate.
    assert rates["06002"] == pytest.approx(100.0, rel=0.02)


def test_a_real_excess_in_a_populous_county_stays() -> None:
    table = counties([400, 100, 95, 105, 98], [100_000] * 5)
    rates = dict(smoothed_rates(table).rows())
    assert rates["06001"] > 3 * rates["06002"]


def test_counties_without_residents_or_incidents() -> None:
    assert smoothed_rates(counties([3, 4], [None, 0])).is_empty()
    quiet = smoothed_rates(counties([0, 0], [10, 20]))
    assert quiet["rate"].to_list() == [0.0, 0.0]
