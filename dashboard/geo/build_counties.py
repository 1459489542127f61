"""Rebuild ``counties.parquet`` from the npm package us-atlas@3.0.1.

Run once by a maintainer, never at run time:

    npm pack us-atlas@3.0.1 && tar xzf us-atlas-3.0.1.tgz
    python -m dashboard.geo.build_counties package/counties-10m.json

The TopoJSON carries 5-digit FIPS ids and names only; the state's postal code and each county's
area (km², computed in the US National Atlas equal-area projection) are added here so the app
never needs a projection library to normalise counts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd

# State FIPS -> postal code (Census ANSI codes); us-atlas gives only the FIPS id.
STATE_POSTAL_BY_FIPS = {
    "01": "AL", "02": "AK", "04": "AZ", "05": "AR", "06": "CA", "08": "CO", "09": "CT",
    "10": "DE", "11": "DC", "12": "FL", "13": "GA", "15": "HI", "16": "ID", "17": "IL",
    "18": "IN", "19": "IA", "20": "KS", "21": "KY", "22": "LA", "23": "ME", "24": "MD",
    "25": "MA", "26": "MI", "27": "MN", "28": "MS", "29": "MO", "30": "MT", "31": "NE",
    "32": "NV", "33": "NH", "34": "NJ", "35": "NM", "36": "NY", "37": "NC", "38": "ND",
    "39": "OH", "40": "OK", "41": "OR", "42": "PA", "44": "RI", "45": "SC", "46": "SD",
    "47": "TN", "48": "TX", "49": "UT", "50": "VT", "51": "VA", "53": "WA", "54": "WV",
    "55": "WI", "56": "WY", "60": "AS", "66": "GU", "69": "MP", "72": "PR", "78": "VI",
}  # fmt: skip

OUTPUT = Path(__file__).with_name("counties.parquet")


def build(topojson_path: Path, output: Path = OUTPUT) -> gpd.GeoDataFrame:
    counties = gpd.read_file(topojson_path, layer="counties")
    states = gpd.read_file(topojson_path, layer="states")[["id", "name"]]
    counties = counties.rename(columns={"id": "county_fips", "name": "county_name"})
    counties["state_fips"] = counties["county_fips"].str[:2]
    counties["state_postal"] = counties["state_fips"].map(STATE_POSTAL_BY_FIPS)
    state_names = dict(zip(states.id, states.name, strict=True))
    counties["state_name"] = counties["state_fips"].map(state_names)
    counties = counties.set_crs("EPSG:4326")
    # TopoJSON arcs shared by neighbours can leave slivers that GEOS calls invalid.
    counties["geometry"] = counties.geometry.make_valid(method="structure", keep_collapsed=False)
    counties["area_km2"] = counties.to_crs("EPSG:9311").area / 1e6
    counties = counties.dropna(subset=["state_postal"]).sort_values("county_fips")
    columns = ["county_fips", "county_name", "state_fips", "state_postal", "state_name"]
    counties = counties[[*columns, "area_km2", "geometry"]].reset_index(drop=True)
    counties.to_parquet(output, compression="zstd")
    return counties


if __name__ == "__main__":
    built = build(Path(sys.argv[1]))
    print(f"{len(built)} counties written to {OUTPUT}")
