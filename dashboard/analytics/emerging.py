"""Emerging hot spots: how each county's hot or cold spot has been changing, week by week.

ArcGIS's Emerging Hot Spot Analysis ("How Emerging Hot Spot Analysis works", ArcGIS Pro) over a
county x week cube of incident counts (issue 17):

1. **Bins**: incidents per county per complete week, Monday to Sunday in the state's time zone.
   These are the weeks partners are released in, so over a partner's rows (the released cells,
   each dated its week's Sunday) the analysis reads released counts only.
2. **Gi\\* per bin** over its space-time neighbourhood: the county and its queen-contiguous
   neighbours (the weights of :mod:`dashboard.analytics.hotspots`), in the same week and the
   ``neighbourhood_weeks`` weeks before it (ArcGIS's *neighbourhood time step*, default 1),
   compared with the mean and variance of the whole cube (ArcGIS's default global window, the
   entire cube), with PySAL's esda. A bin is a significant hot (cold) spot when z > 0 (< 0) at
   90 % confidence after the False Discovery Rate correction over every bin, as ArcGIS does.
3. **Trend**: the Mann-Kendall test (``pymannkendall``) of each county's series of Gi\\* z-scores,
   significant at 90 % confidence: is its clustering growing stronger or weaker?
4. **Class**: one of :data:`CLASSES`, by ArcGIS's rules (README, "Emerging hot spots").

Where ArcGIS's definitions overlap, the last week decides first: a county that is a hot spot in
the last week gets a hot class (new before consecutive before oscillating or sporadic), one that
is not but was a hot spot in 90 % of the weeks is historical; then the same for cold spots.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from itertools import pairwise

import numpy as np
import polars as pl
import pymannkendall
from esda.getisord import G_Local
from libpysal.weights import W
from scipy import sparse
from scipy.stats import false_discovery_control, norm

from dashboard.analytics.filters import (
    Filters,
    Period,
    incident_filter,
    last_complete_week_end,
    week_ending,
)
from dashboard.analytics.hotspots import queen_weights

# The weeks analysed: the complete weeks of the period, and at least this many ending with its
# last complete week (a quarter: the 28-day default period holds only four).
DEFAULT_WEEKS = 12
# A Mann-Kendall trend of fewer than ten values says little.
MIN_WEEKS = 10
NEIGHBOURHOOD_WEEKS = 1  # ArcGIS's default neighbourhood time step
ALPHA = 0.10  # 90 % confidence, for the bins (after FDR) and for the trend
MOSTLY = 0.9  # ArcGIS's "90 percent of the time-step intervals"


@dataclass(frozen=True)
class EmergingClass:
    """One of ArcGIS's 17 emerging hot spot categories."""

    key: str  # e.g. "intensifying_hot_spot"
    name: str  # as ArcGIS names it, e.g. "Intensifying Hot Spot"
    pattern: str  # new, consecutive, intensifying, ..., or "none"
    kind: str  # "hot", "cold", or "" for no pattern
    rule: str  # the rule, in words (README table)


# Each pattern's rule for hot spots; cold spots swap hot and cold and the trend's direction.
_RULES = {
    "new": "a significant {spot} in the last week, and in no week before",
    "consecutive": "a significant {spot} in each of the last two or more weeks and in no week "
                   "before them; under 90 % of all weeks",
    "intensifying": "a significant {spot} in at least 90 % of the weeks, the last included, "
                    "its clustering significantly intensifying (Gi\\* z-scores trending {away})",
    "persistent": "a significant {spot} in at least 90 % of the weeks, the last included, with "
                  "no significant trend",
    "diminishing": "a significant {spot} in at least 90 % of the weeks, the last included, its "
                   "clustering significantly weakening (Gi\\* z-scores trending {back})",
    "sporadic": "a significant {spot} in the last week and on and off before; under 90 % of the "
                "weeks, and never a significant {other}",
    "oscillating": "a significant {spot} in the last week, and a significant {other} in an "
                   "earlier week; under 90 % of the weeks a {spot}",
    "historical": "not a significant {spot} in the last week, but in at least 90 % of the weeks",
}


def _classes() -> tuple[EmergingClass, ...]:
    found = []
    for kind, other, away, back in (("hot", "cold", "up", "down"), ("cold", "hot", "down", "up")):
        for pattern, rule in _RULES.items():
            spot = f"{kind} spot"
            found.append(EmergingClass(
                f"{pattern}_{kind}_spot", f"{pattern.capitalize()} {spot.title()}", pattern, kind,
                rule.format(spot=spot, other=f"{other} spot", away=away, back=back)))
    found.append(EmergingClass("no_pattern", "No Pattern Detected", "none", "",
                               "none of the above"))
    return tuple(found)


CLASSES = _classes()
CLASSES_BY_KEY = {c.key: c for c in CLASSES}


@dataclass(frozen=True)
class Classification:
    """One county's class and the numbers behind it."""

    category: EmergingClass
    trend_z: float  # Mann-Kendall z of the Gi* z-scores
    trend_p: float
    hot_share: float  # share of the weeks that are significant hot spots
    cold_share: float
    last_z: float  # Gi* z-score of the last week
    why: str


def classify(z_scores: Sequence[float] | np.ndarray,
             significant: Sequence[bool] | np.ndarray) -> Classification:
    """The class of one place from its Gi* z-scores (oldest week first) and which of them are
    significant (after the FDR correction)."""
    z = np.asarray(z_scores, dtype=float)
    weeks = len(z)
    if weeks < MIN_WEEKS:
        raise ValueError(f"emerging hot spots need at least {MIN_WEEKS} weeks, got {weeks}")
    flagged = np.asarray(significant, dtype=bool)
    trend = pymannkendall.original_test(z, alpha=ALPHA)
    trend_z, trend_p = float(trend.z), float(trend.p)
    hot, cold = flagged & (z > 0), flagged & (z < 0)

    def result(key: str, why: str) -> Classification:
        return Classification(CLASSES_BY_KEY[key], trend_z, trend_p, float(hot.mean()),
                              float(cold.mean()), float(z[-1]), why)

    trend_words = f"Mann-Kendall trend z = {trend_z:.2f}, p = {trend_p:.3f}"
    last = f"z = {z[-1]:.2f} in the last week"
    for kind, same, opposite, sign in (("hot", hot, cold, 1), ("cold", cold, hot, -1)):
        spot, other = f"{kind} spot", "cold spot" if kind == "hot" else "hot spot"
        in_weeks = f"{int(same.sum())} of {weeks} weeks"
        if same[-1]:
            if same.mean() >= MOSTLY:
                if trend_p > ALPHA:
                    return result(f"persistent_{kind}_spot",
                                  f"A significant {spot} in {in_weeks} ({last}), with no "
                                  f"significant trend ({trend_words}).")
                stronger = sign * trend_z > 0
                return result(f"{'intensifying' if stronger else 'diminishing'}_{kind}_spot",
                              f"A significant {spot} in {in_weeks} ({last}), growing "
                              f"{'stronger' if stronger else 'weaker'} ({trend_words}).")
            if same.sum() == 1:
                return result(f"new_{kind}_spot",
                              f"A significant {spot} for the first time in {weeks} weeks "
                              f"({last}).")
            run = weeks - 1 - int(np.flatnonzero(~same)[-1])
            if run == same.sum():
                return result(f"consecutive_{kind}_spot",
                              f"A significant {spot} in each of the last {run} weeks "
                              f"({last}) and never before them in {weeks} weeks.")
            if opposite.any():
                return result(f"oscillating_{kind}_spot",
                              f"A significant {spot} in {in_weeks} ({last}), and a significant "
                              f"{other} in {int(opposite.sum())} earlier week(s).")
            return result(f"sporadic_{kind}_spot",
                          f"A significant {spot} on and off: {in_weeks} ({last}), never a "
                          f"significant {other}.")
        if same.mean() >= MOSTLY:
            return result(f"historical_{kind}_spot",
                          f"A significant {spot} in {in_weeks}, but not in the last week "
                          f"({last}).")
    return result("no_pattern",
                  f"No pattern: a significant hot spot in {int(hot.sum())} and a cold spot in "
                  f"{int(cold.sum())} of {weeks} weeks ({last}).")


def week_ends(period: Period, today: date, weeks: int = DEFAULT_WEEKS) -> list[date]:
    """The Sundays ending the weekly bins, oldest first: the complete weeks of ``period`` (none
    reaching ``today``), and at least ``weeks`` of them ending with its last complete week."""
    last = last_complete_week_end(min(period.end + timedelta(days=1), today))
    in_period = ((last - period.start).days + 1) // 7
    count = max(weeks, in_period)
    return [last - timedelta(weeks=count - 1 - number) for number in range(count)]


@cache
def space_time_weights(state_postal: str, weeks: int,
                       neighbourhood_weeks: int = NEIGHBOURHOOD_WEEKS) -> W:
    """Binary weights over the county x week bins (bin ``week * counties + county``): the
    county and its queen neighbours, in the same week and ``neighbourhood_weeks`` before
    (itself included, as Gi* wants)."""
    spatial, _ = queen_weights(state_postal)
    around = (spatial.sparse + sparse.identity(spatial.n)).astype(bool).astype(float)
    lags = sparse.diags([np.ones(weeks - lag) for lag in range(neighbourhood_weeks + 1)],
                        [-lag for lag in range(neighbourhood_weeks + 1)],
                        shape=(weeks, weeks))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self-loops are the point (Gi* "star")
        return W.from_sparse(sparse.kron(lags, around, format="csr"))


def space_time_gi_star(cube: np.ndarray, state_postal: str,
                       neighbourhood_weeks: int = NEIGHBOURHOOD_WEEKS) -> np.ndarray:
    """Gi* z-scores of a (weeks, counties) cube of counts, counties in ``queen_weights`` order."""
    if np.ptp(cube) == 0:
        return np.zeros(cube.shape)  # no variation: nothing can stand out
    weights = space_time_weights(state_postal, cube.shape[0], neighbourhood_weeks)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        statistic = G_Local(cube.ravel().astype(float), weights, transform="B", permutations=0,
                            star=True)
    return np.nan_to_num(np.asarray(statistic.Zs, dtype=float)).reshape(cube.shape)


def _check_weeks(weeks: Sequence[date]) -> None:
    if len(weeks) < MIN_WEEKS:
        raise ValueError(f"emerging hot spots need at least {MIN_WEEKS} weeks (a trend of "
                         f"fewer says little), got {len(weeks)}")
    if any((later - earlier).days != 7 for earlier, later in pairwise(weeks)):
        raise ValueError("emerging hot spots need consecutive weeks, oldest first")


def emerging_hotspots(weekly_counts: pl.DataFrame, state_postal: str, weeks: Sequence[date],
                      neighbourhood_weeks: int = NEIGHBOURHOOD_WEEKS) -> pl.DataFrame:
    """Each county's emerging hot spot class over the weekly bins ending on ``weeks``
    (consecutive Sundays, oldest first; at least MIN_WEEKS).

    ``weekly_counts`` has ``county_fips``, ``week_end`` (the Sunday ending the week) and
    ``incidents``; rows of one county-week add up, a county-week it lacks counts 0, and rows
    of other weeks or places are ignored. One row per county of the state, the classes in
    CLASSES order, strongest first.
    """
    _check_weeks(weeks)
    _, order = queen_weights(state_postal)
    cells = pl.DataFrame({"week_end": list(weeks)}).join(
        pl.DataFrame({"county_fips": list(order)}), how="cross")
    counts = weekly_counts.group_by("county_fips", "week_end").agg(pl.col("incidents").sum())
    cube = cells.join(counts, on=["week_end", "county_fips"], how="left",
                      maintain_order="left")["incidents"] \
        .fill_null(0).cast(pl.Float64).to_numpy().reshape(len(weeks), len(order))
    z_scores = space_time_gi_star(cube, state_postal, neighbourhood_weeks)
    p_values = 2 * norm.sf(np.abs(z_scores))
    significant = false_discovery_control(p_values.ravel(), method="bh").reshape(
        z_scores.shape) <= ALPHA
    found = [classify(z_scores[:, county], significant[:, county])
             for county in range(len(order))]
    rank = {c.key: number for number, c in enumerate(CLASSES)}
    why = ([f"No incidents in the {len(weeks)} weeks."] * len(order) if cube.sum() == 0
           else [c.why for c in found])
    return pl.DataFrame({
        "county_fips": list(order),
        "category": [c.category.key for c in found],
        "class_name": [c.category.name for c in found],
        "pattern": [c.category.pattern for c in found],
        "kind": [c.category.kind for c in found],
        "trend_z": [c.trend_z for c in found],
        "trend_p": [c.trend_p for c in found],
        "hot_share": [c.hot_share for c in found],
        "cold_share": [c.cold_share for c in found],
        "last_z": [c.last_z for c in found],
        "incidents": cube.sum(axis=0).astype(np.int64),
        "z_scores": [z_scores[:, county].tolist() for county in range(len(order))],
        "why": why,
        "_rank": [rank[c.category.key] for c in found],
    }, schema_overrides={"z_scores": pl.List(pl.Float64)}).sort(
        "_rank", pl.col("last_z").abs(), descending=[False, True]).drop("_rank")


def emerging_for_filters(incidents: pl.DataFrame, filters: Filters, weeks: Sequence[date],
                         county_to_region: Mapping[str, str], state_postal: str) -> pl.DataFrame:
    """Emerging hot spots of the incidents under the filters' topics in the weeks ending on
    ``weeks`` (:func:`week_ends`); always statewide, as Gi* is (a county's neighbourhood needs
    its neighbours), so region and county filters do not apply."""
    _check_weeks(weeks)
    statewide = filters.with_changes(regions=(), counties=())
    window = Period(weeks[0] - timedelta(days=6), weeks[-1])
    counts = incidents.lazy().filter(incident_filter(statewide, county_to_region, window)) \
        .group_by("county_fips", week_ending(pl.col("occurred_date")).alias("week_end")) \
        .agg(pl.len().alias("incidents")).collect()
    return emerging_hotspots(counts, state_postal, weeks)


def emerging_markdown() -> str:
    """The README's table of the classes and their rules (generated: ``dashboard.docs``)."""
    lines = ["| class | rule |", "|---|---|"]
    lines += [f"| {c.name} | {c.rule[0].upper()}{c.rule[1:]} |" for c in CLASSES]
    return "\n".join(lines) + "\n"
