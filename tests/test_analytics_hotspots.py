"""Getis-Ord Gi* hot spots on planted clusters, by hand, and in the `analyze` report."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa

from dashboard.analytics.filters import Filters
from dashboard.analytics.hotspots import getis_ord_hotspots, hotspot_class, queen_weights
from dashboard.analytics.report import hotspot_records
from dashboard.frames import load_picture_frames
from dashboard.geo import state_counties
from dashboard.ingest.pipeline import run_ingest
from dashboard.pagemodels.report import analysis_report
from dashboard.settings import ProjectConfig

LOS_ANGELES, ORANGE, RIVERSIDE, SAN_BERNARDINO = "06037", "06059", "06065", "06071"
FRESNO, KINGS, TULARE, KERN = "06019", "06031", "06107", "06029"
DEL_NORTE = "06015"  # the far north-west corner, ~1,000 km from either cluster


def ca_counts(planted: dict[str, int], seed: int = 20250614) -> pl.DataFrame:
    """~Poisson(50) incidents in every California county, with ``planted`` counts on top."""
    fips = sorted(state_counties("CA")["county_fips"])
    counts = np.random.default_rng(seed).poisson(50, len(fips))
    by_county = dict(zip(fips, counts.tolist(), strict=True)) | planted
    return pl.DataFrame({"county_fips": list(by_county), "incidents": list(by_county.values())})


def classes(hotspots: pl.DataFrame) -> dict[str, str]:
    return dict(hotspots.select("county_fips", "hotspot_class").rows())


def normal_two_sided_p(z: float) -> float:
    """2 * (1 - Phi(|z|)), from the error function rather than scipy."""
    return 2 * (1 - 0.5 * (1 + math.erf(abs(z) / math.sqrt(2))))


def test_planted_high_cluster_is_a_99_percent_hot_spot() -> None:
    cluster = [LOS_ANGELES, ORANGE, RIVERSIDE, SAN_BERNARDINO]
    hotspots = getis_ord_hotspots(ca_counts(dict.fromkeys(cluster, 400)), "CA")
    by_county = classes(hotspots)
    assert all(by_county[fips] == "Hot spot (99%)" for fips in cluster)
    assert by_county[DEL_NORTE] == "Not significant"
    assert not any(c.startswith("Cold") for c in by_county.values())
    # The four strongest z-scores are the cluster itself.
    assert set(hotspots["county_fips"].head(4)) == set(cluster)


def test_planted_low_cluster_is_a_99_percent_cold_spot() -> None:
    cluster = [FRESNO, KINGS, TULARE, KERN]
    by_county = classes(getis_ord_hotspots(ca_counts(dict.fromkeys(cluster, 0)), "CA"))
    assert all(by_county[fips] == "Cold spot (99%)" for fips in cluster)
    assert by_county[DEL_NORTE] == "Not significant"
    assert not any(c.startswith("Hot") for c in by_county.values())


@pytest.mark.parametrize("count", [0, 50])
def test_equal_counts_stand_out_nowhere(count: int) -> None:
    fips = state_counties("CA")["county_fips"].tolist()
    hotspots = getis_ord_hotspots(
        pl.DataFrame({"county_fips": fips, "incidents": [count] * len(fips)}), "CA")
    assert hotspots.height == 58
    assert hotspots["z_score"].to_list() == [0.0] * 58
    assert hotspots["p_value"].to_list() == [1.0] * 58
    assert set(hotspots["hotspot_class"]) == {"Not significant"}
    assert set(hotspots["confidence"]) == set(hotspots["gi_bin"]) == {0}


def test_output_has_every_county_once_with_consistent_columns() -> None:
    hotspots = getis_ord_hotspots(ca_counts({ORANGE: 300, KINGS: 0}), "CA")
    assert hotspots.columns == ["county_fips", "incidents", "z_score", "p_value", "confidence",
                                "hotspot_class", "gi_bin"]
    assert sorted(hotspots["county_fips"]) == sorted(state_counties("CA")["county_fips"])
    assert hotspots["county_fips"].n_unique() == 58
    z_scores = hotspots["z_score"].to_list()
    assert z_scores == sorted(z_scores, reverse=True)
    for row in hotspots.iter_rows(named=True):
        assert row["p_value"] == pytest.approx(normal_two_sided_p(row["z_score"]), abs=1e-12)
        assert row["hotspot_class"] == hotspot_class(row["z_score"])
        expected_confidence = next(
            (c for t, c in ((2.576, 99), (1.960, 95), (1.645, 90)) if abs(row["z_score"]) >= t),
            0)
        assert row["confidence"] == expected_confidence
        assert row["gi_bin"] == expected_confidence * int(np.sign(row["z_score"]))


@pytest.mark.parametrize(("z", "expected"), [
    (0.0, "Not significant"),
    (1.644, "Not significant"),
    (-1.644, "Not significant"),
    (1.645, "Hot spot (90%)"),
    (-1.645, "Cold spot (90%)"),
    (1.959, "Hot spot (90%)"),
    (1.960, "Hot spot (95%)"),
    (-1.960, "Cold spot (95%)"),
    (2.575, "Hot spot (95%)"),
    (2.576, "Hot spot (99%)"),
    (-2.576, "Cold spot (99%)"),
    (8.0, "Hot spot (99%)"),
    (-8.0, "Cold spot (99%)"),
])
def test_hotspot_class_thresholds(z: float, expected: str) -> None:
    assert hotspot_class(z) == expected


@pytest.mark.parametrize(("threshold", "p_value"), [(1.645, 0.10), (1.960, 0.05),
                                                    (2.576, 0.01)])
def test_thresholds_are_the_two_sided_p_cut_offs(threshold: float, p_value: float) -> None:
    assert normal_two_sided_p(threshold) == pytest.approx(p_value, abs=1e-3)
    assert normal_two_sided_p(threshold) < p_value


def test_rhode_island_z_scores_by_hand() -> None:
    weights, order = queen_weights("RI")
    neighbours = {order[i]: sorted(order[j] for j in weights.neighbors[i])
                  for i in range(len(order))}
    # Queen contiguity of the shipped 1:10M boundaries; Newport is an island (itself only).
    assert neighbours == {"44001": ["44007"], "44003": ["44007", "44009"], "44005": [],
                          "44007": ["44001", "44003"], "44009": ["44003"]}
    counts = {"44001": 10, "44003": 20, "44005": 5, "44007": 40, "44009": 0}
    hotspots = getis_ord_hotspots(
        pl.DataFrame({"county_fips": list(counts), "incidents": list(counts.values())}), "RI")
    # n = 5, mean 15, population variance 425 - 225 = 200. A county with W neighbours
    # (itself included) has z = (sum - 15 W) / (sqrt(200) * sqrt((5 W - W^2) / 4)):
    # W = 3 -> denominator sqrt(300); W = 2 -> sqrt(300); W = 1 -> sqrt(200).
    expected = {
        "44007": (70 - 45) / math.sqrt(300),  # Providence + Bristol + Kent
        "44001": (50 - 30) / math.sqrt(300),  # Bristol + Providence
        "44003": (60 - 45) / math.sqrt(300),  # Kent + Providence + Washington
        "44009": (20 - 30) / math.sqrt(300),  # Washington + Kent
        "44005": (5 - 15) / math.sqrt(200),  # Newport alone
    }
    assert dict(hotspots.select("county_fips", "z_score").rows()) == pytest.approx(expected)
    assert hotspots["county_fips"].to_list() == ["44007", "44001", "44003", "44009", "44005"]


def test_one_california_z_score_against_the_textbook_formula() -> None:
    counts = ca_counts({LOS_ANGELES: 400, ORANGE: 400, RIVERSIDE: 400, SAN_BERNARDINO: 400})
    weights, order = queen_weights("CA")
    x = np.array([dict(counts.rows())[fips] for fips in order], dtype=float)
    i = order.index(ORANGE)
    window = [i, *weights.neighbors[i]]  # binary weights, the county itself included
    assert sorted(order[j] for j in window) == sorted(
        [ORANGE, LOS_ANGELES, RIVERSIDE, SAN_BERNARDINO, "06073"])  # + San Diego
    n, w_sum, s1 = len(x), len(window), len(window)  # binary: S1 = sum of w^2 = W
    s = x.std()  # population standard deviation
    textbook = (x[window].sum() - x.mean() * w_sum) / (
        s * math.sqrt((n * s1 - w_sum**2) / (n - 1)))
    hotspots = getis_ord_hotspots(counts, "CA")
    z = hotspots.filter(pl.col("county_fips") == ORANGE)["z_score"].item()
    assert z == pytest.approx(textbook, rel=1e-9)
    assert z > 2.576


def test_missing_counties_count_zero_and_other_value_columns() -> None:
    rates = pl.DataFrame({"county_fips": ["44005"], "per_1000_km2": [3.5]})
    hotspots = getis_ord_hotspots(rates, "RI", value="per_1000_km2")
    assert hotspots.columns[:2] == ["county_fips", "per_1000_km2"]
    assert dict(hotspots.select("county_fips", "per_1000_km2").rows()) == {
        "44001": 0.0, "44003": 0.0, "44005": 3.5, "44007": 0.0, "44009": 0.0}
    # One non-zero island among five: z = (x - x/5) / (0.4 x) = 2 exactly.
    newport = hotspots.row(0, named=True)
    assert newport["county_fips"] == "44005"
    assert newport["z_score"] == pytest.approx(2.0)
    assert newport["p_value"] == pytest.approx(normal_two_sided_p(2.0))
    assert newport["hotspot_class"] == "Hot spot (95%)"
    assert newport["gi_bin"] == 95


# --- the analyze report on the ingested Rhode Island fixture --------------------------------

JANUARY_FEBRUARY = Filters(period="custom", start=date(2025, 1, 1), end=date(2025, 2, 28))


def test_analysis_report_of_the_fixture(ri_config: ProjectConfig,
                                        sqlite_store: sa.Engine) -> None:
    run_ingest(ri_config, sqlite_store, now=datetime(2025, 12, 1, tzinfo=UTC))
    frames = load_picture_frames(sqlite_store, ri_config.settings.timezone)
    today = date(2025, 12, 1)

    records = hotspot_records(frames, ri_config, JANUARY_FEBRUARY, today)
    assert sorted(records["county_fips"]) == ["44001", "44003", "44005", "44007", "44009"]
    assert dict(records.select("county_fips", "incidents").rows()) == {
        "44001": 1, "44003": 1, "44005": 1, "44007": 2, "44009": 0}
    assert dict(records.select("county_fips", "county_name").rows())["44005"] == "Newport"

    report = analysis_report(frames, ri_config, JANUARY_FEBRUARY, today)
    assert list(report) == ["anomalies", "hotspots", "emerging_hotspots", "kpis", "gaps",
                            "redundant_clusters", "period", "filters", "data_version"]
    assert report["anomalies"] == []  # too few weeks of data for any baseline
    assert report["hotspots"] == []  # five counties, counts 1 1 1 2 0: nothing stands out
    assert report["emerging_hotspots"] == []  # five incidents in twelve weeks: no pattern
    assert report["kpis"] == [
        # P-100 is a linked duplicate of R-1; SARs: R-2 (CYBER code) and R-7 (SAR category).
        {"label": "Incidents", "current": 5, "previous": 0},
        {"label": "SARs", "current": 2, "previous": 0},
        {"label": "Products", "current": 4, "previous": 0},
        {"label": "Centers reporting", "current": 2, "previous": 0},
        {"label": "Open quarantine", "current": 11, "previous": None},
    ]
    assert report["period"] == {"start": "2025-01-01", "end": "2025-02-28"}
    assert report["filters"] == {"period": "custom", "start": "2025-01-01", "end": "2025-02-28"}
    assert report["data_version"] == frames.data_version

    newport_only = analysis_report(frames, ri_config,
                                   JANUARY_FEBRUARY.with_changes(counties=("44005",)), today)
    assert list(newport_only) == list(report)
    # Gi* always runs statewide (a neighbourhood needs its neighbours): a county filter
    # narrows the KPIs, not the hot-spot analysis the map and `analyze` show.
    assert newport_only["hotspots"] == report["hotspots"] == []
    assert [k["current"] for k in newport_only["kpis"]] == [1, 1, 1, 1, 11]
