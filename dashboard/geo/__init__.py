"""Shipped county boundaries and the spatial helpers built on them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np

COUNTIES_PATH = Path(__file__).with_name("counties.parquet")


@cache
def _all_counties() -> gpd.GeoDataFrame:
    return gpd.read_parquet(COUNTIES_PATH)


def all_counties() -> gpd.GeoDataFrame:
    """Every county of the shipped boundaries, all states (read once)."""
    return _all_counties()


def known_state_postals() -> list[str]:
    return sorted(_all_counties()["state_postal"].unique().tolist())


# A network deployment's geography is its member states' postal codes joined by this
# ("ID+OR+WA"): every geographic helper takes one state or such a network.
NETWORK_SEPARATOR = "+"


def state_postals(geography: str) -> list[str]:
    """The states of a deployment's geography: one postal code (``CA``), or a network's
    joined by ``+`` (``ID+OR+WA``); raises ValueError naming an unknown code."""
    postals = [part.strip().upper() for part in geography.split(NETWORK_SEPARATOR)]
    known = set(known_state_postals())
    for postal in postals:
        if postal not in known:
            raise ValueError(f"unknown state postal code {postal!r}")
    return postals


def state_counties(state_postal: str) -> gpd.GeoDataFrame:
    """The counties of one state (postal code, e.g. ``CA``) or of a network's states
    (``ID+OR+WA``), indexed 0..n-1."""
    counties = _all_counties()
    selected = counties[counties["state_postal"].isin(state_postals(state_postal))]
    return selected.reset_index(drop=True)


def county_of_points(
    counties: gpd.GeoDataFrame, longitude: np.ndarray, latitude: np.ndarray
) -> np.ndarray:
    """FIPS of the county containing each point, or None where no county of the state does."""
    points = gpd.GeoSeries(gpd.points_from_xy(longitude, latitude), crs="EPSG:4326")
    point_index, county_index = counties.sindex.query(points, predicate="within")
    fips = np.full(len(points), None, dtype=object)
    # A point on a shared border matches two counties; keep the first for a stable answer.
    first = np.unique(point_index, return_index=True)[1]
    fips[point_index[first]] = counties["county_fips"].to_numpy()[county_index[first]]
    return fips


def distance_to_county_km(
    counties: gpd.GeoDataFrame,
    longitude: np.ndarray,
    latitude: np.ndarray,
    county_fips: np.ndarray,
) -> np.ndarray:
    """Distance in km from each point to the named county's boundary (0 inside it)."""
    projected = counties.set_index("county_fips").geometry.to_crs("EPSG:9311")
    points = gpd.GeoSeries(gpd.points_from_xy(longitude, latitude), crs="EPSG:4326")
    points = points.to_crs("EPSG:9311")
    shapes = projected.reindex(county_fips).to_numpy()
    return np.asarray(points.distance(gpd.GeoSeries(shapes, crs="EPSG:9311"), align=False)) / 1000
