"""Shipped county populations (Census Bureau estimates), the denominators of per-capita rates.

Keyed by the same 5-digit FIPS as ``counties.parquet``; built by ``build_population.py`` and
never downloaded at run time. Provenance and the FIPS reconciliation: ``README.md`` beside this.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import polars as pl

from dashboard.geo import NETWORK_SEPARATOR
from dashboard.geo.build_counties import STATE_POSTAL_BY_FIPS

POPULATION_PATH = Path(__file__).with_name("county_population.parquet")
# July 1 estimates of the Census Bureau's Vintage 2025 for the states and DC ...
POPULATION_VINTAGE = 2025
# ... except where the Bureau publishes no 2025 county figure: Puerto Rico's newest municipio
# table to hand is Vintage 2024. The four island areas (no estimates; no file of their 2020
# Census counts to hand) have no population: no rate is offered there.
PUERTO_RICO_VINTAGE = 2024

_FIPS_BY_POSTAL = {postal: fips for fips, postal in STATE_POSTAL_BY_FIPS.items()}


@cache
def county_population() -> pl.DataFrame:
    """Every county of ``counties.parquet`` but the island areas': ``county_fips`` (str) and
    ``population`` (Int64)."""
    return pl.read_parquet(POPULATION_PATH)


def state_county_population(state_postal: str) -> pl.DataFrame:
    """The counties of one state (postal code, e.g. ``CA``), or of a network's states
    (``ID+OR+WA``), with their population."""
    prefixes = []
    for postal in state_postal.upper().split(NETWORK_SEPARATOR):
        state_fips = _FIPS_BY_POSTAL.get(postal.strip())
        if state_fips is None:
            raise ValueError(f"unknown state postal code {postal.strip()!r}")
        prefixes.append(state_fips)
    return county_population().filter(pl.col("county_fips").str.slice(0, 2).is_in(prefixes))


def population_year(county_fips: str) -> int:
    """The year a county's population describes, for a caption beside a per-capita rate."""
    state_fips = county_fips[:2]
    if state_fips == "72":
        return PUERTO_RICO_VINTAGE
    return POPULATION_VINTAGE
