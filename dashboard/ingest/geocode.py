"""Geocode: fill a missing county from coordinates; flag, never fix, coordinates that disagree.

- coordinates, no county: county from a spatial join with the shipped boundaries;
- coordinates outside the state and no county: the row cannot be placed and is rejected;
- coordinates outside the state, county given: kept with ``geo_flag = 'outside_state'``;
- coordinates farther than the tolerance from the given county: ``'county_mismatch'``.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import polars as pl

from dashboard.geo import county_of_points, distance_to_county_km
from dashboard.ingest.normalize import RAW_RECORD_COLUMN
from dashboard.ingest.validate import FIELD_COLUMN, REASON_COLUMN, VALUE_COLUMN
from data_sources import ROW_COLUMN


@dataclass(frozen=True)
class Geocoded:
    placed: pl.DataFrame
    rejected: pl.DataFrame


def geocode(incidents: pl.DataFrame, counties: gpd.GeoDataFrame, state: str,
            mismatch_tolerance_km: float) -> Geocoded:
    has_point = incidents["latitude"].is_not_null() & incidents["longitude"].is_not_null()
    joined = np.full(incidents.height, None, dtype=object)
    points = incidents.filter(has_point)
    if points.height:
        joined[has_point.to_numpy()] = county_of_points(
            counties, points["longitude"].to_numpy(), points["latitude"].to_numpy()
        )
    frame = incidents.with_columns(
        pl.Series("_joined_fips", joined.tolist(), dtype=pl.String), has_point.alias("_has_point")
    )
    given = pl.col("county_fips").is_not_null()
    joined_county = pl.col("_joined_fips")
    outside = pl.col("_has_point") & joined_county.is_null()

    # Distance to the given county only where the join disagrees (few rows).
    disagree = frame.filter(given & pl.col("_has_point") & joined_county.is_not_null()
                            & (joined_county != pl.col("county_fips")))
    far_rows: set[int] = set()
    if disagree.height:
        distance = distance_to_county_km(
            counties, disagree["longitude"].to_numpy(), disagree["latitude"].to_numpy(),
            disagree["county_fips"].to_numpy(),
        )
        far_rows = set(disagree.filter(pl.Series(distance > mismatch_tolerance_km))[ROW_COLUMN])

    frame = frame.with_columns(
        pl.when(given).then(pl.lit("feed")).otherwise(pl.lit("coordinates"))
        .alias("county_source"),
        pl.when(given & outside).then(pl.lit("outside_state"))
        .when(pl.col(ROW_COLUMN).is_in(sorted(far_rows))).then(pl.lit("county_mismatch"))
        .alias("geo_flag"),
        pl.coalesce("county_fips", "_joined_fips").alias("county_fips"),
    )
    unplaceable = pl.col("county_fips").is_null()
    rejected = frame.filter(unplaceable).select(
        ROW_COLUMN,
        pl.lit("latitude, longitude").alias(FIELD_COLUMN),
        pl.format("latitude, longitude: ({}, {}) is outside {} and no county is given",
                  pl.col("latitude"), pl.col("longitude"), pl.lit(state)).alias(REASON_COLUMN),
        pl.format("{}, {}", pl.col("latitude"), pl.col("longitude")).alias(VALUE_COLUMN),
        RAW_RECORD_COLUMN,
    )
    placed = frame.filter(~unplaceable).drop("_joined_fips", "_has_point")
    return Geocoded(placed=placed, rejected=rejected)
