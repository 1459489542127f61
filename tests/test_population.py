"""The shipped county populations: complete for the shipped boundaries, and the real figures."""

from __future__ import annotations

import polars as pl
import pytest

from dashboard.geo import COUNTIES_PATH
from dashboard.geo.population import (
    POPULATION_PATH,
    POPULATION_VINTAGE,
    county_population,
    population_year,
    state_county_population,
)


def population_of(county_fips: str) -> int:
    row = county_population().filter(pl.col("county_fips") == county_fips)
    assert row.height == 1, county_fips
    return int(row["population"].item())


def test_every_shipped_county_has_a_population() -> None:
    boundaries = pl.read_parquet(COUNTIES_PATH, columns=["county_fips"])["county_fips"]
    population = county_population()
    assert population.schema == pl.Schema({"county_fips": pl.String, "population": pl.Int64})
    assert population["county_fips"].is_unique().all()
    assert population["county_fips"].str.contains(r"^\d{5}$").all()
    island_areas = boundaries.str.slice(0, 2).is_in(["60", "66", "69", "78"])
    assert set(population["county_fips"]) == set(boundaries.filter(~island_areas))
    assert state_county_population("GU").is_empty()  # no figure without its source
    assert (population["population"] > 0).all()
    assert POPULATION_PATH.stat().st_size < 100_000


def test_known_counties_carry_their_vintage_2025_estimates() -> None:
    assert POPULATION_VINTAGE == 2025
    # Census Vintage 2025, July 1 2025: Los Angeles 9,694,934; Loving TX 52; Alpine CA 1,043.
    assert 9_600_000 < population_of("06037") < 10_100_000
    assert population_of("48301") < 200
    assert 950 < population_of("06003") < 1_300
    assert 2_500_000 < population_of("17031") < 5_500_000  # Cook, IL
    assert 650_000 < population_of("11001") < 720_000  # District of Columbia


def test_states_and_dc_add_up_to_the_nation() -> None:
    # Vintage 2025 puts the 50 states and DC at 341.8 million on July 1 2025.
    states = county_population().filter(
        pl.col("county_fips").str.slice(0, 2).is_in(["60", "66", "69", "72", "78"]).not_()
    )
    assert 330_000_000 < states["population"].sum() < 345_000_000
    assert states.height == 3142


def test_boundary_vintage_fips_are_reconciled() -> None:
    # Valdez-Cordova (02261), split in 2019, is the sum of Chugach and Copper River.
    assert 8_000 < population_of("02261") < 10_500
    # Oglala Lakota, drawn under its 2015 code 46102.
    assert 12_000 < population_of("46102") < 15_000
    # Connecticut's eight old counties share the nine planning regions' 3.69 million.
    connecticut = state_county_population("CT")
    assert sorted(connecticut["county_fips"]) == [f"09{n:03d}" for n in range(1, 16, 2)]
    assert 3_600_000 < connecticut["population"].sum() < 3_800_000
    assert 900_000 < population_of("09001") < 1_050_000  # Fairfield, the largest


def test_territories_and_their_years() -> None:
    assert len(state_county_population("pr")) == 78
    assert 3_100_000 < state_county_population("PR")["population"].sum() < 3_300_000
    assert population_year("06037") == 2025
    assert population_year("72127") == 2024


def test_state_filter_refuses_an_unknown_state() -> None:
    assert len(state_county_population("TX")) == 254
    with pytest.raises(ValueError, match="unknown state postal code 'ZZ'"):
        state_county_population("ZZ")
