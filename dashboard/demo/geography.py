"""The demo's geography: counties, regions, center footprints and random points in counties.

California's regions come from ``regions_CA.toml`` beside this file; any other state gets
4-6 regions by k-means over its county centroids. Center areas of responsibility (AORs) are
laid out so that they partly overlap, as real fusion-center footprints do.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from dashboard.geo import state_counties

DEMO_DIR = Path(__file__).parent
POINTS_PER_COUNTY = 4096
# Pool points sit at least this far (degrees) inside their county when the county is big enough,
# so jitter and planted duplicates never cross a boundary and the spatial join agrees.
INSIDE_MARGINS_DEG = (0.03, 0.015, 0.005)
JITTER_SHARE_OF_MARGIN = 0.35
MIN_COUNTIES = 4

STATE_TIMEZONES = {
    "CA": "America/Los_Angeles", "WA": "America/Los_Angeles", "OR": "America/Los_Angeles",
    "NV": "America/Los_Angeles", "AZ": "America/Phoenix", "UT": "America/Denver",
    "CO": "America/Denver", "NM": "America/Denver", "MT": "America/Denver",
    "WY": "America/Denver", "ID": "America/Boise", "TX": "America/Chicago",
    "OK": "America/Chicago", "KS": "America/Chicago", "NE": "America/Chicago",
    "SD": "America/Chicago", "ND": "America/Chicago", "MN": "America/Chicago",
    "IA": "America/Chicago", "MO": "America/Chicago", "AR": "America/Chicago",
    "LA": "America/Chicago", "MS": "America/Chicago", "AL": "America/Chicago",
    "TN": "America/Chicago", "WI": "America/Chicago", "IL": "America/Chicago",
    "IN": "America/Indiana/Indianapolis", "KY": "America/New_York", "AK": "America/Anchorage",
    "HI": "Pacific/Honolulu", "PR": "America/Puerto_Rico",
}
DEFAULT_TIMEZONE = "America/New_York"


@dataclass(frozen=True)
class RegionPlan:
    id: str
    name: str
    counties: tuple[str, ...]


@dataclass(frozen=True)
class CenterPlan:
    id: str
    name: str
    kind: str  # state, urban_area or regional
    short_name: str  # how its own products refer to it ("STAC analysts reviewed ...")
    aor_regions: tuple[str, ...] = ()
    aor_counties: tuple[str, ...] = ()
    statewide: bool = False
    # Relative share of the incidents in its AOR it reports (a state center sees fewer).
    reporting_intensity: float = 1.0

    @property
    def code(self) -> str:
        """Letters and digits of the short name: the stem of the center's record ids."""
        return re.sub(r"[^A-Z0-9]", "", self.short_name.upper())


@dataclass(frozen=True)
class StateGeography:
    state: str
    state_name: str
    state_fips: str
    timezone: str
    fips: np.ndarray  # county FIPS, index = county number used everywhere in the demo
    county_names: np.ndarray
    area_km2: np.ndarray
    geometries: np.ndarray  # shapely geometries, EPSG:4326
    neighbours: tuple[np.ndarray, ...]  # county numbers whose shapes touch each county
    bounds: tuple[float, float, float, float]  # lon/lat bounds of the whole state
    regions: tuple[RegionPlan, ...]
    region_of_county: np.ndarray  # region number per county

    @property
    def county_count(self) -> int:
        return len(self.fips)

    def county_numbers(self, fips: list[str] | tuple[str, ...]) -> np.ndarray:
        lookup = {code: number for number, code in enumerate(self.fips)}
        return np.array([lookup[code] for code in fips], dtype=np.int64)

    def county_label(self, number: int) -> str:
        """How text names a county ("Kern County"; Louisiana parishes and the like as named)."""
        name = str(self.county_names[number])
        return name if re.search(r"(County|Parish|Borough|city|Municipio)$", name) else (
            f"{name} County")


def load_geography(state: str) -> StateGeography:
    counties = state_counties(state)
    if len(counties) < MIN_COUNTIES:
        raise ValueError(f"{state}: the demo needs a state with at least {MIN_COUNTIES} counties")
    geometries = counties.geometry.to_numpy()
    left, right = counties.sindex.query(counties.geometry, predicate="intersects")
    touching = left != right
    neighbours = tuple(
        np.unique(right[touching & (left == number)]) for number in range(len(counties))
    )
    fips = counties["county_fips"].to_numpy().astype(str)
    state = state.upper()
    regions = _california_regions(fips) if state == "CA" else _clustered_regions(counties)
    region_of_county = np.empty(len(fips), dtype=np.int64)
    number_of = {code: number for number, code in enumerate(fips)}
    for region_number, region in enumerate(regions):
        region_of_county[[number_of[code] for code in region.counties]] = region_number
    minx, miny, maxx, maxy = counties.total_bounds
    return StateGeography(
        state=state,
        state_name=str(counties["state_name"].iloc[0]),
        state_fips=str(counties["state_fips"].iloc[0]),
        timezone=STATE_TIMEZONES.get(state, DEFAULT_TIMEZONE),
        fips=fips,
        county_names=counties["county_name"].to_numpy().astype(str),
        area_km2=counties["area_km2"].to_numpy().astype(float),
        geometries=geometries,
        neighbours=neighbours,
        bounds=(float(minx), float(miny), float(maxx), float(maxy)),
        regions=tuple(regions),
        region_of_county=region_of_county,
    )


def _california_regions(fips: np.ndarray) -> list[RegionPlan]:
    with (DEMO_DIR / "regions_CA.toml").open("rb") as handle:
        document = tomllib.load(handle)
    regions = [RegionPlan(r["id"], r["name"], tuple(r["counties"])) for r in document["regions"]]
    listed = [code for region in regions for code in region.counties]
    if sorted(listed) != sorted(fips.tolist()):
        raise ValueError("regions_CA.toml must list every California county exactly once")
    return regions


def _clustered_regions(counties: gpd.GeoDataFrame) -> list[RegionPlan]:
    """4-6 compact regions: k-means over county centroids, numbered north to south."""
    projected = counties.geometry.to_crs("EPSG:9311").centroid
    points = np.column_stack([projected.x.to_numpy(), projected.y.to_numpy()])
    region_count = min(6, max(MIN_COUNTIES, round(len(points) / 15)), len(points))
    labels = _kmeans(points, region_count)
    order = sorted(range(region_count),
                   key=lambda label: (-points[labels == label, 1].mean(),
                                      points[labels == label, 0].mean()))
    fips = counties["county_fips"].to_numpy().astype(str)
    return [
        RegionPlan(f"region_{rank + 1}", f"Region {rank + 1}",
                   tuple(sorted(fips[labels == label].tolist())))
        for rank, label in enumerate(order)
    ]


def _kmeans(points: np.ndarray, cluster_count: int, iterations: int = 30) -> np.ndarray:
    # Farthest-point seeding from the northernmost county makes the result seed-independent.
    seeds = [int(np.argmax(points[:, 1]))]
    for _ in range(cluster_count - 1):
        distance = np.min(np.linalg.norm(points[:, None, :] - points[seeds][None], axis=2), axis=1)
        seeds.append(int(np.argmax(distance)))
    centres = points[seeds].copy()
    labels = np.zeros(len(points), dtype=np.int64)
    for _ in range(iterations):
        distance = np.linalg.norm(points[:, None, :] - centres[None], axis=2)
        labels = np.argmin(distance, axis=1)
        for label in range(cluster_count):
            members = points[labels == label]
            if len(members):
                centres[label] = members.mean(axis=0)
            else:
                # An emptied cluster restarts at the point worst served by the others.
                farthest = int(np.argmax(np.min(distance, axis=1)))
                centres[label] = points[farthest]
                labels[farthest] = label
    return labels


CALIFORNIA_CENTERS = (
    CenterPlan("stac", "State Threat Assessment Center", "state", "STAC", statewide=True,
               reporting_intensity=0.35),
    CenterPlan("nric", "Northern California Regional Intelligence Center", "regional", "NRIC",
               aor_regions=("bay_area", "north_state")),
    # Butte and Tehama are also in the northern center's AOR.
    CenterPlan("ccic", "Central California Intelligence Center", "regional", "CCIC",
               aor_regions=("sacramento_valley", "central_valley"),
               aor_counties=("06007", "06103")),
    # Kern is also in the central center's AOR.
    CenterPlan("scric", "Southern California Regional Intelligence Center", "regional", "SCRIC",
               aor_regions=("los_angeles", "san_diego_imperial"), aor_counties=("06029",)),
    # The Bay Area urban core (inside the northern center's AOR) plus neighbouring Solano.
    CenterPlan("bauaic", "Bay Area Urban Area Intelligence Center", "urban_area", "BAUAIC",
               aor_counties=("06001", "06013", "06041", "06075", "06081", "06085", "06095"),
               reporting_intensity=0.9),
)


def plan_centers(geography: StateGeography, county_weight: np.ndarray) -> tuple[CenterPlan, ...]:
    """One statewide center plus two regional and two urban-area centers with overlapping AORs."""
    if geography.state == "CA":
        return CALIFORNIA_CENTERS
    regions = geography.regions
    half = (len(regions) + 1) // 2
    first_half, second_half = regions[:half], regions[half:]
    west, south, east, north = geography.bounds
    # Regions are numbered north to south; a wide state is better described west and east.
    wide = (east - west) * np.cos(np.radians((north + south) / 2)) > (north - south)
    if wide:
        centroid_x = [np.mean([shapely.centroid(geography.geometries[n]).x
                               for n in geography.county_numbers(r.counties)]) for r in regions]
        by_x = [regions[i] for i in np.argsort(centroid_x, kind="stable")]
        first_half, second_half = tuple(by_x[:half]), tuple(by_x[half:])
    names = ("Western", "Eastern", "west", "east") if wide else (
        "Northern", "Southern", "north", "south")

    first_counties = _region_counties(geography, first_half)
    second_counties = _region_counties(geography, second_half)
    first_extra = _border_county(geography, county_weight, first_counties, second_counties)
    second_extra = _border_county(geography, county_weight, second_counties, first_counties)
    urban_first = _urban_area(geography, county_weight, first_counties, exclude=second_extra)
    urban_second = _urban_area(geography, county_weight, second_counties, exclude=first_extra)
    state_name = geography.state_name
    plans = [
        CenterPlan("stac", "State Threat Assessment Center", "state", "STAC", statewide=True,
                   reporting_intensity=0.35),
        CenterPlan(f"{names[2]}_ric", f"{names[0]} {state_name} Regional Intelligence Center",
                   "regional", f"{names[0][0]}RIC",
                   aor_regions=tuple(sorted(r.id for r in first_half)), aor_counties=first_extra),
        CenterPlan(f"{names[3]}_ric", f"{names[1]} {state_name} Regional Intelligence Center",
                   "regional", f"{names[1][0]}RIC",
                   aor_regions=tuple(sorted(r.id for r in second_half)),
                   aor_counties=second_extra),
    ]
    for urban in (urban_first, urban_second):
        core = geography.county_numbers(urban[:1])[0]
        name = str(geography.county_names[core])
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        plans.append(CenterPlan(f"{slug}_uaic", f"{name} Urban Area Intelligence Center",
                                "urban_area", f"{name} UAIC", aor_counties=urban,
                                reporting_intensity=0.9))
    return tuple(plans)


def _region_counties(geography: StateGeography, regions: list[RegionPlan] | tuple[RegionPlan, ...]
                     ) -> set[int]:
    return {int(n) for region in regions for n in geography.county_numbers(region.counties)}


def _border_county(geography: StateGeography, weight: np.ndarray, inside: set[int],
                   outside: set[int]) -> tuple[str, ...]:
    """The most active county of ``outside`` that touches ``inside`` (the AOR overlap)."""
    border = sorted({int(n) for c in inside for n in geography.neighbours[c]} & outside)
    if not border:
        return ()
    best = max(border, key=lambda n: (weight[n], -n))
    return (str(geography.fips[best]),)


def _urban_area(geography: StateGeography, weight: np.ndarray, regional: set[int],
                exclude: tuple[str, ...]) -> tuple[str, ...]:
    """The most active county of a regional AOR, one active neighbour inside the AOR and one
    neighbour outside it: an urban area inside a regional footprint plus a neighbouring county."""
    excluded = set(geography.county_numbers(exclude).tolist())
    candidates = sorted(regional - excluded) or sorted(regional)
    core = max(candidates, key=lambda n: (weight[n], -n))
    chosen = [core]
    inside = [int(n) for n in geography.neighbours[core] if int(n) in regional]
    outside = [int(n) for n in geography.neighbours[core] if int(n) not in regional]
    if inside:
        chosen.append(max(inside, key=lambda n: (weight[n], -n)))
    if outside:
        chosen.append(max(outside, key=lambda n: (weight[n], -n)))
    return tuple(str(geography.fips[n]) for n in chosen)


@dataclass(frozen=True)
class PointPool:
    """Random points inside each county, to draw incident locations from.

    A drawn point is a pool point plus a small uniform jitter, so two incidents practically
    never share coordinates, and both stay inside the county.
    """

    longitude: np.ndarray  # (counties, POINTS_PER_COUNTY)
    latitude: np.ndarray
    margin_deg: np.ndarray  # every pool point is at least this far inside its county
    jitter_deg: np.ndarray  # half-width of the jitter per axis

    def draw(self, county: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        pick = rng.integers(self.longitude.shape[1], size=len(county))
        jitter = self.jitter_deg[county]
        longitude = self.longitude[county, pick] + rng.uniform(-1, 1, len(county)) * jitter
        latitude = self.latitude[county, pick] + rng.uniform(-1, 1, len(county)) * jitter
        return longitude, latitude


def build_point_pool(geography: StateGeography, rng: np.random.Generator) -> PointPool:
    count = geography.county_count
    longitude = np.empty((count, POINTS_PER_COUNTY))
    latitude = np.empty((count, POINTS_PER_COUNTY))
    margins = np.zeros(count)
    for number, shape in enumerate(geography.geometries):
        inner, margin = shape, 0.0
        for candidate in INSIDE_MARGINS_DEG:
            shrunk = shape.buffer(-candidate)
            # Keep a shrunk shape only if enough of the county is left to spread points over.
            if not shrunk.is_empty and shrunk.area > 0.15 * shape.area:
                inner, margin = shrunk, candidate
                break
        longitude[number], latitude[number] = _points_inside(inner, POINTS_PER_COUNTY, rng)
        margins[number] = margin
    return PointPool(longitude, latitude, margins, margins * JITTER_SHARE_OF_MARGIN)


def _points_inside(shape: shapely.Geometry, count: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points inside a shape by rejection sampling in vectorized batches."""
    minx, miny, maxx, maxy = shape.bounds
    shapely.prepare(shape)
    acceptance = max(shape.area / max((maxx - minx) * (maxy - miny), 1e-12), 0.02)
    found_x: list[np.ndarray] = []
    found_y: list[np.ndarray] = []
    found = 0
    while found < count:
        batch = int((count - found) / acceptance * 1.3) + 64
        x = rng.uniform(minx, maxx, batch)
        y = rng.uniform(miny, maxy, batch)
        inside = shapely.contains_xy(shape, x, y)
        found_x.append(x[inside])
        found_y.append(y[inside])
        found += int(inside.sum())
    return np.concatenate(found_x)[:count], np.concatenate(found_y)[:count]
