"""The shipped county boundaries and the spatial helpers on them."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.geo import (
    COUNTIES_PATH,
    county_of_points,
    distance_to_county_km,
    known_state_postals,
    state_counties,
)


def test_shipped_boundaries_cover_every_state() -> None:
    assert COUNTIES_PATH.stat().st_size < 2_000_000
    postals = known_state_postals()
    assert len(postals) >= 51 and {"CA", "TX", "RI", "DC", "PR"} <= set(postals)
    assert len(state_counties("CA")) == 58
    assert len(state_counties("ri")) == 5
    assert len(state_counties("TX")) == 254


def test_counties_carry_fips_names_and_area() -> None:
    california = state_counties("CA")
    assert california["county_fips"].str.fullmatch(r"06\d{3}").all()
    assert california.geometry.is_valid.all()
    los_angeles = california.set_index("county_fips").loc["06037"]
    assert los_angeles["county_name"] == "Los Angeles"
    # Census: Los Angeles County is about 12,300 km² of land and water (mainland + islands).
    assert 10_000 < los_angeles["area_km2"] < 13_500


def test_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown state postal code 'ZZ'"):
        state_counties("ZZ")


def test_points_join_to_their_county_and_outside_points_to_none() -> None:
    california = state_counties("CA")
    longitude = np.array([-122.4194, -118.2437, -117.1611, -74.0060])
    latitude = np.array([37.7749, 34.0522, 32.7157, 40.7128])
    fips = county_of_points(california, longitude, latitude)
    assert fips.tolist() == ["06075", "06037", "06073", None]


def test_distance_to_a_county_is_zero_inside_and_plausible_outside() -> None:
    california = state_counties("CA")
    # San Francisco city hall is inside 06075; Los Angeles is ~550 km from it.
    distances = distance_to_county_km(
        california, np.array([-122.4194, -118.2437]), np.array([37.7793, 34.0522]),
        np.array(["06075", "06075"]),
    )
    assert distances[0] == 0
    assert 500 < distances[1] < 600
