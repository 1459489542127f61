"""Rebuild ``county_population.parquet`` from Census Bureau population estimates.

Run once by a maintainer, never at run time:

    git -C <clone of github.com/monash-emu/covid_wbe> show \\
        ad9c325555dd5d62ee474d28bce4ec97f4508844:data/co-est2025-alldata.csv > co-est2025.csv
    python -m dashboard.geo.build_population co-est2025.csv

The county estimates file (2 MB, Census Vintage 2025, July 1 2025) is read from the path given;
the small inputs besides it are shipped in ``sources/`` (provenance: ``README.md``). The output
is keyed by the county FIPS of ``counties.parquet`` (Census 2017 boundaries), so the places where
the 2025 county list differs are reconciled here:

- Alaska: Valdez-Cordova (02261) split in 2019 into Chugach (02063) and Copper River (02066);
  the two add up exactly to the old census area.
- Connecticut: the 2025 file has the nine planning regions (09110..09190), the boundaries the
  eight old counties (09001..09015). Towns nest in both, so each region's 2025 estimate is shared
  among the old counties by its towns' Census Vintage 2019 estimates (``sub-est2019_9.csv``);
  the town-to-region crosswalk is CTData Collaborative's.
- Puerto Rico: the county file leaves it out; its municipios come from Vintage 2024
  (``prm-est2024-pop.xlsx``, July 1 2024), the newest municipio table to hand.
- American Samoa, Guam, the Northern Mariana Islands and the U.S. Virgin Islands: the Census
  Bureau makes no estimates for them and no file of their 2020 Census counts was to hand, so
  they have no population here (no figure without its source): rates are not offered there.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

HERE = Path(__file__).parent
SOURCES = HERE / "sources"
OUTPUT = HERE / "county_population.parquet"
COUNTIES = HERE / "counties.parquet"

ESTIMATE_COLUMN = "POPESTIMATE2025"
CT_TOWN_WEIGHTS = SOURCES / "sub-est2019_9.csv"
CT_TOWN_CROSSWALK = SOURCES / "ct-town-to-planning-region.csv"
PUERTO_RICO = SOURCES / "prm-est2024-pop.xlsx"
ISLAND_AREA_STATE_FIPS = ("60", "66", "69", "78")

ALASKA_SPLIT = {"02261": ("02063", "02066")}


def read_county_estimates(path: Path) -> pl.DataFrame:
    """County rows (summary level 050) of a co-est20XX-alldata.csv: FIPS and the estimate."""
    # The file is Latin-1 (Doña Ana); only the code and number columns are read, so lossy is safe.
    raw = pl.read_csv(
        path,
        columns=["SUMLEV", "STATE", "COUNTY", ESTIMATE_COLUMN],
        schema_overrides={"SUMLEV": pl.String, "STATE": pl.String, "COUNTY": pl.String},
        encoding="utf8-lossy",
    )
    return raw.filter(pl.col("SUMLEV") == "050").select(
        county_fips=pl.col("STATE") + pl.col("COUNTY"),
        population=pl.col(ESTIMATE_COLUMN).cast(pl.Int64),
    )


def merge_alaska_split(estimates: pl.DataFrame) -> pl.DataFrame:
    """Add the post-2019 Alaska census areas back into the one the boundaries still draw."""
    for old_fips, parts in ALASKA_SPLIT.items():
        pieces = estimates.filter(pl.col("county_fips").is_in(parts))
        assert pieces.height == len(parts), f"missing Alaska parts {parts}"
        merged = pl.DataFrame(
            {"county_fips": [old_fips], "population": [int(pieces["population"].sum())]},
            schema=estimates.schema,
        )
        estimates = pl.concat([estimates.filter(~pl.col("county_fips").is_in(parts)), merged])
    return estimates


def connecticut_region_shares() -> pl.DataFrame:
    """Share of each planning region's people living in each old county, by town population."""
    towns = pl.read_csv(CT_TOWN_WEIGHTS, infer_schema=False).filter(pl.col("SUMLEV") == "061")
    towns = towns.select(
        cousub=pl.col("COUSUB"),
        old_county=pl.col("STATE") + pl.col("COUNTY"),
        weight=pl.col("POPESTIMATE2019").cast(pl.Int64),
    ).filter(pl.col("cousub") != "00000")
    crosswalk = pl.read_csv(CT_TOWN_CROSSWALK, infer_schema=False).select(
        cousub=pl.col("town_fips_2020").str.zfill(10).str.slice(5, 5),
        crosswalk_county=pl.col("town_fips_2020").str.zfill(10).str.slice(0, 5),
        region=pl.col("ce_fips_2022").str.zfill(5),
    )
    joined = towns.join(crosswalk, on="cousub", how="full", coalesce=True)
    assert joined.height == 169 and joined.null_count().sum_horizontal().item() == 0, joined
    assert (joined["old_county"] == joined["crosswalk_county"]).all()
    by_pair = joined.group_by("region", "old_county").agg(pl.col("weight").sum())
    return by_pair.with_columns(share=pl.col("weight") / pl.col("weight").sum().over("region"))


def apportion_connecticut(estimates: pl.DataFrame) -> pl.DataFrame:
    """Replace the nine planning regions by the eight old counties, keeping the state's total."""
    regions = estimates.filter(pl.col("county_fips").str.starts_with("091"))
    assert regions.height == 9, regions
    shares = connecticut_region_shares().join(
        regions.rename({"county_fips": "region", "population": "region_population"}), on="region"
    )
    exact = (
        shares.group_by("old_county")
        .agg((pl.col("share") * pl.col("region_population")).sum().alias("exact"))
        .sort("old_county")
    )
    counties = largest_remainder(exact["exact"].to_list(), int(regions["population"].sum()))
    old = pl.DataFrame(
        {"county_fips": exact["old_county"], "population": counties}, schema=estimates.schema
    )
    return pl.concat([estimates.filter(~pl.col("county_fips").str.starts_with("091")), old])


def largest_remainder(exact: list[float], total: int) -> list[int]:
    """Round shares to whole people so they still add up to ``total``."""
    floors = [int(value) for value in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - floors[i], reverse=True)
    for i in by_remainder[: total - sum(floors)]:
        floors[i] += 1
    return floors


def puerto_rico_municipios(counties: pl.DataFrame) -> pl.DataFrame:
    """PRM-EST2024-POP: a row per municipio, by name, the July 1 2024 estimate last."""
    sheet = pl.read_excel(PUERTO_RICO, has_header=False)
    name_column, last_column = sheet.columns[0], sheet.columns[-1]
    rows = sheet.filter(pl.col(name_column).str.ends_with(" Municipio, Puerto Rico"))
    header = sheet.filter(pl.col(last_column).cast(pl.String) == "2024")
    assert header.height == 1, "the last column of the Puerto Rico table is not July 1 2024"
    municipios = rows.select(
        county_name=pl.col(name_column)
        .str.strip_prefix(".")
        .str.strip_suffix(" Municipio, Puerto Rico"),
        population=pl.col(last_column).cast(pl.Int64),
    )
    puerto_rico = counties.filter(pl.col("state_postal") == "PR")
    puerto_rico = puerto_rico.select("county_fips", "county_name")
    joined = municipios.join(puerto_rico, on="county_name", how="full", coalesce=True)
    assert joined.height == 78 and joined.null_count().sum_horizontal().item() == 0, joined
    return joined.select("county_fips", "population")


def build(county_estimates_path: Path, output: Path = OUTPUT) -> pl.DataFrame:
    counties = pl.read_parquet(COUNTIES, columns=["county_fips", "county_name", "state_postal"])
    estimates = apportion_connecticut(
        merge_alaska_split(read_county_estimates(county_estimates_path))
    )
    population = pl.concat([estimates, puerto_rico_municipios(counties)])
    population = population.sort("county_fips")
    # Every boundary gets a population and every population a boundary, or the build fails.
    assert population["county_fips"].is_unique().all()
    expected = counties.filter(
        ~pl.col("county_fips").str.slice(0, 2).is_in(ISLAND_AREA_STATE_FIPS)
    )["county_fips"]
    assert set(population["county_fips"]) == set(expected), set(
        population["county_fips"]
    ) ^ set(expected)
    assert (population["population"] > 0).all()
    population.write_parquet(output, compression="zstd", compression_level=22, statistics=False)
    return population


if __name__ == "__main__":
    built = build(Path(sys.argv[1]))
    print(f"{built.height} counties, {built['population'].sum():,} people written to {OUTPUT}")
