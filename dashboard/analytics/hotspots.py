"""Statistically significant hot and cold spots: Getis-Ord Gi* over county counts.

As ArcGIS's Hot Spot Analysis does: each county's Gi* z-score compares the sum over the county
and its queen-contiguous neighbours (itself included, "star") with what the statewide mean would
give; |z| above 1.645, 1.960 and 2.576 (two-sided p < 0.10, 0.05, 0.01) classes a county as a
90, 95 or 99 % confidence hot (z > 0) or cold (z < 0) spot. The z-scores are the analytic ones
from PySAL's esda (no permutations), so nothing is compiled or simulated on a user's click.

Over counts, Gi* finds where incidents are many, which in a state is mostly where people are.
Over rates per 100,000 residents it finds where they are many *for the population*; a county of
a thousand residents with two incidents would then shout, so rates are first smoothed by
empirical Bayes (PySAL's ``esda.smoothing.Empirical_Bayes``: each county's rate is pulled
towards the statewide rate in proportion to how few residents it has).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import cache

import geopandas as gpd
import numpy as np
import polars as pl
from esda.getisord import G_Local
from esda.smoothing import Empirical_Bayes
from libpysal.weights import Queen, W
from scipy.stats import norm

from dashboard.analytics.filters import Filters, Period
from dashboard.analytics.picture import counts_by_county
from dashboard.geo import state_counties

CONFIDENCE_BINS = ((2.576, 99), (1.960, 95), (1.645, 90))
# What Gi* sums: incident counts, or empirical-Bayes smoothed rates per 100,000 residents.
HOTSPOT_MEASURES = {"incidents": "counts", "rate": "rates per 100,000 residents (smoothed)"}


@cache
def queen_weights(state_postal: str) -> tuple[W, tuple[str, ...]]:
    """Queen contiguity between the state's counties, and the FIPS order of its rows."""
    counties: gpd.GeoDataFrame = state_counties(state_postal)
    with warnings.catch_warnings():
        # Island counties (no neighbour) are expected: Gi* includes the county itself.
        warnings.simplefilter("ignore")
        weights = Queen.from_dataframe(counties, use_index=False)
    return weights, tuple(counties["county_fips"])


def hotspot_class(z: float) -> str:
    for threshold, confidence in CONFIDENCE_BINS:
        if abs(z) >= threshold:
            return f"{'Hot' if z > 0 else 'Cold'} spot ({confidence}%)"
    return "Not significant"


def getis_ord_hotspots(county_counts: pl.DataFrame, state_postal: str,
                       value: str = "incidents") -> pl.DataFrame:
    """Gi* z-score, two-sided p-value, confidence and class for every county of the state.

    ``county_counts`` needs ``county_fips`` and the ``value`` column; missing counties count 0.
    """
    weights, order = queen_weights(state_postal)
    values = pl.DataFrame({"county_fips": list(order)}).join(
        county_counts.select("county_fips", value), on="county_fips", how="left"
    )[value].fill_null(0).cast(pl.Float64).to_numpy()
    if np.ptp(values) == 0:
        z_scores = np.zeros(len(order))  # no variation: nothing can stand out
    else:
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore")
            statistic = G_Local(values, weights, transform="B", permutations=0, star=True)
        z_scores = np.nan_to_num(np.asarray(statistic.Zs, dtype=float))
    p_values = 2 * norm.sf(np.abs(z_scores))
    classes = [hotspot_class(z) for z in z_scores]
    confidence = [next((c for t, c in CONFIDENCE_BINS if abs(z) >= t), 0) for z in z_scores]
    return pl.DataFrame({
        "county_fips": list(order),
        value: values,
        "z_score": z_scores,
        "p_value": p_values,
        "confidence": confidence,
        "hotspot_class": classes,
    }).with_columns(
        pl.when(pl.col("confidence") == 0).then(0)
        .otherwise(pl.col("confidence") * pl.col("z_score").sign()).cast(pl.Int64)
        .alias("gi_bin")
    ).sort("z_score", descending=True)


def smoothed_rates(county_counts: pl.DataFrame) -> pl.DataFrame:
    """``county_fips`` and ``rate``: incidents per 100,000 residents, empirical-Bayes smoothed
    (counties without a population estimate are left out: they count 0 in Gi*)."""
    known = county_counts.filter(pl.col("population").fill_null(0) > 0)
    if known.is_empty() or known["incidents"].sum() == 0:
        return known.select("county_fips", pl.lit(0.0).alias("rate"))
    smoothed = Empirical_Bayes(known["incidents"].cast(pl.Float64).to_numpy().reshape(-1, 1),
                               known["population"].cast(pl.Float64).to_numpy().reshape(-1, 1))
    return known.select("county_fips").with_columns(
        pl.Series("rate", 100_000 * np.asarray(smoothed.r, dtype=float).ravel()))


def hotspots_for_filters(incidents: pl.DataFrame, regions: pl.DataFrame, filters: Filters,
                         period: Period, county_to_region: Mapping[str, str],
                         state_postal: str, measure: str = "incidents") -> pl.DataFrame:
    """Gi* for the period and topics of the filters over ``measure`` (HOTSPOT_MEASURES), always
    over the whole state: a county's neighbourhood needs its neighbours, so region and county
    filters do not apply."""
    if measure not in HOTSPOT_MEASURES:
        raise ValueError(f"hot spots over {measure!r}: one of {', '.join(HOTSPOT_MEASURES)}")
    statewide = filters.with_changes(regions=(), counties=())
    counts = counts_by_county(incidents, regions, statewide, period, county_to_region)
    if measure == "rate":
        return getis_ord_hotspots(smoothed_rates(counts), state_postal, "rate")
    return getis_ord_hotspots(counts, state_postal)
