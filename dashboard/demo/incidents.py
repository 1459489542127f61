"""Synthetic incidents as column arrays: where, when, what, who reported them.

Everything is vectorized over incidents (NumPy and Polars); loops run over counties,
categories, centers or a handful of planted patterns, never over incidents. Times are UTC epoch
seconds; places are county numbers (see ``geography.StateGeography``) and WGS84 coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime

import numpy as np
import polars as pl

from dashboard.demo.geography import PointPool, StateGeography
from dashboard.geo.population import state_county_population
from dashboard.ingest.dedup import haversine_km
from dashboard.schema import TLP_MARKINGS

DAY_S = 86_400
# Within these of each other, two reports of one category by two centers could be linked as one
# event; kept wider than the ingest defaults (1 km, 120 min) so chance links stay impossible.
SEPARATION_KM = 1.5
SEPARATION_S = 150 * 60
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_EQUATOR = 111.320

# Per category: share of incidents, mean severity, sectors it targets and how often a sector is
# known. Keys must match the demo taxonomy (checked by the generator).
CATEGORY_SHARES = {
    "violent_crime": 0.19, "narcotics": 0.16, "gangs": 0.13, "sar_analysis": 0.12,
    "cybercrime": 0.09, "critical_infrastructure": 0.08, "officer_safety": 0.07,
    "human_trafficking": 0.06, "homegrown_violent_extremism": 0.05, "counterterrorism": 0.05,
}
SEVERITY_MEANS = {
    "violent_crime": 3.1, "narcotics": 2.5, "gangs": 2.9, "sar_analysis": 2.0,
    "cybercrime": 2.4, "critical_infrastructure": 2.6, "officer_safety": 3.4,
    "human_trafficking": 3.0, "homegrown_violent_extremism": 3.3, "counterterrorism": 3.5,
}
CATEGORY_SECTORS: dict[str, tuple[float, tuple[str, ...]]] = {
    "violent_crime": (0.35, ("COMM", "FIN", "TRANS", "EDU", "HLTH")),
    "narcotics": (0.25, ("TRANS", "COMM", "AGRI")),
    "gangs": (0.3, ("COMM", "EDU", "TRANS")),
    "sar_analysis": (0.95, ("GVTBLDG", "TRANS", "ENRG", "COMM", "CULTR", "CHEM", "WATR", "EDU")),
    "cybercrime": (1.0, ("IT", "FIN", "HLTH", "GVTBLDG", "EDU", "TELCM", "WATR")),
    "critical_infrastructure": (1.0, ("ENRG", "WATR", "TELCM", "TRANS", "DAMS", "CHEM")),
    "officer_safety": (0.3, ("EMRG", "CORR", "GVTBLDG")),
    "human_trafficking": (0.4, ("AGRI", "COMM")),
    "homegrown_violent_extremism": (0.8, ("GVTBLDG", "CULTR", "EDU", "COMM", "ENRG")),
    "counterterrorism": (0.9, ("TRANS", "GVTBLDG", "COMM", "CULTR", "EDU")),
}
SAR_BEHAVIOR_WEIGHTS = {
    "SURVL": 20, "PHOTO": 18, "ELICIT": 10, "TESTSEC": 10, "INTRSN": 8, "THREAT": 7,
    "AVIATION": 6, "MATRLS": 5, "SABOT": 4, "MISREP": 4, "THEFT": 3, "WPNS": 2, "CYBER": 1,
    "EXPERT": 1, "RECRUT": 0.5, "SECTOR": 0.5,
}
# TLP 2.0 shares in TLP_MARKINGS order; threat-actor categories are marked more tightly.
TLP_SHARES = (0.07, 0.43, 0.42, 0.05, 0.03)
TLP_SHARES_SENSITIVE = (0.02, 0.25, 0.55, 0.12, 0.06)
SENSITIVE_CATEGORIES = ("counterterrorism", "homegrown_violent_extremism", "sar_analysis")

# Local hour of day and weekday (Monday first) profiles of reporting.
HOUR_WEIGHTS = np.array([0.6, 0.45, 0.35, 0.3, 0.3, 0.35, 0.5, 0.7, 0.85, 0.95, 1.0, 1.05,
                         1.1, 1.1, 1.1, 1.15, 1.2, 1.25, 1.3, 1.35, 1.35, 1.25, 1.05, 0.8])
WEEKDAY_WEIGHTS = np.array([0.95, 0.94, 0.96, 1.0, 1.1, 1.16, 0.99])


@dataclass
class Events:
    """One entry per incident report, as parallel arrays (index = event number)."""

    county: np.ndarray  # county number
    category: np.ndarray  # category number (order of CATEGORY_SHARES)
    center: np.ndarray  # reporting center number
    occurred_s: np.ndarray  # UTC epoch seconds
    delay_s: np.ndarray  # reported_at - occurred_at
    longitude: np.ndarray
    latitude: np.ndarray
    has_coordinates: np.ndarray  # False: the feed gives the county only
    severity: np.ndarray  # 1-5
    tlp: np.ndarray  # index into TLP_MARKINGS
    sector: np.ndarray  # index into SECTORS, -1 none
    sar_behavior: np.ndarray  # index into SAR_BEHAVIORS, -1 none
    template: np.ndarray  # narrative template number within the category
    group: np.ndarray  # event number of the first report of the same real-world event
    hot_spot: np.ndarray  # number of the hot spot that planted the event, -1 for none
    surge: np.ndarray  # number of the temporal surge that planted the event, -1 for none

    def __len__(self) -> int:
        return len(self.county)

    def take(self, order: np.ndarray) -> Events:
        return Events(**{f.name: getattr(self, f.name)[order] for f in fields(self)})

    def append(self, other: Events) -> Events:
        return Events(**{f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)])
                         for f in fields(self)})


CATEGORIES = tuple(CATEGORY_SHARES)
SECTORS = tuple(sorted({code for _, codes in CATEGORY_SECTORS.values() for code in codes}))
SAR_BEHAVIORS = tuple(SAR_BEHAVIOR_WEIGHTS)


@dataclass(frozen=True)
class TimeSpan:
    start_s: int  # first second covered (UTC midnight two years before today)
    end_s: int  # today, UTC midnight: nothing happens at or after it
    timezone: str
    utc_offset_s: int  # the state's standard-time offset, for local hour-of-day profiles

    @property
    def days(self) -> int:
        return (self.end_s - self.start_s) // DAY_S

    def day_weights(self) -> np.ndarray:
        """Weekly rhythm, a summer peak and a slow upward trend over the two years."""
        day = np.arange(self.days)
        start = datetime.fromtimestamp(self.start_s, UTC)
        weekday = (day + start.weekday()) % 7
        day_of_year = (day + start.timetuple().tm_yday) % 365
        season = 1 + 0.15 * np.sin(2 * np.pi * (day_of_year - 100) / 365)
        trend = 1 + 0.1 * day / self.days
        weights = WEEKDAY_WEIGHTS[weekday] * season * trend
        return weights / weights.sum()


def draw_by_group(group: np.ndarray, probabilities: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """One draw per row from its group's row of ``probabilities`` (column-wise: O(rows) memory)."""
    cumulative = np.cumsum(probabilities / probabilities.sum(axis=1, keepdims=True), axis=1)
    uniform = rng.random(len(group))
    drawn = np.zeros(len(group), dtype=np.int64)
    for column in range(probabilities.shape[1] - 1):
        drawn += uniform >= cumulative[group, column]
    return drawn


def sample_times(count: int, span: TimeSpan, rng: np.random.Generator,
                 first_day: int = 0, last_day: int | None = None) -> np.ndarray:
    """Occurrence times with the daily and weekly rhythm, within [first_day, last_day)."""
    last_day = span.days if last_day is None else last_day
    weights = span.day_weights()[first_day:last_day]
    day = first_day + rng.choice(len(weights), size=count, p=weights / weights.sum())
    hour = rng.choice(24, size=count, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    local_second = hour * 3600 + rng.integers(3600, size=count)
    occurred = span.start_s + day * DAY_S + local_second - span.utc_offset_s
    window_start = span.start_s + first_day * DAY_S
    window = (last_day - first_day) * DAY_S
    return window_start + (occurred - window_start) % window


def ambiguous_local(times_s: np.ndarray, timezone: str) -> np.ndarray:
    """True where the naive local time repeats (the hour clocks fall back) and a feed that
    writes local time without offset would be read an hour early."""
    utc = pl.Series(times_s * 1_000_000, dtype=pl.Datetime("us")).dt.replace_time_zone("UTC")
    naive = utc.dt.convert_time_zone(timezone).dt.replace_time_zone(None)
    read_back = naive.dt.replace_time_zone(timezone, ambiguous="earliest").dt.convert_time_zone(
        "UTC")
    return (read_back != utc).to_numpy()


def out_of_repeated_hour(times_s: np.ndarray, span: TimeSpan) -> np.ndarray:
    """Times moved an hour later (earlier at the very end) out of the repeated local hour."""
    repeated = ambiguous_local(times_s, span.timezone)
    later = times_s + 3600
    shifted = np.where(later < span.end_s, later, times_s - 7200)
    return np.where(repeated, shifted, times_s)


@dataclass(frozen=True)
class ActivityModel:
    county_weight: np.ndarray  # share of all incidents per county
    category_mix: np.ndarray  # (counties, categories): each county's mix of categories


# How much a county's rate per resident varies around the state's (lognormal sigma): real
# county crime rates differ by a factor of two or three, not by orders of magnitude.
RATE_SPREAD = 0.35


def activity_model(geography: StateGeography, rng: np.random.Generator) -> ActivityModel:
    # Activity follows population (the shipped Census estimates), each county at its own rate:
    # Los Angeles has the most incidents, Alpine the fewest, as a director expects.
    population = dict(state_county_population(geography.state).rows())
    residents = np.array([population.get(str(fips), 0) for fips in geography.fips], dtype=float)
    if not (residents > 0).all():  # a place with no estimate (the island areas): by size
        residents = np.where(residents > 0, residents, geography.area_km2 * 10)
    weight = residents * rng.lognormal(0.0, RATE_SPREAD, geography.county_count)
    shares = np.array(list(CATEGORY_SHARES.values()))
    mix = rng.dirichlet(shares * 60, size=geography.county_count)
    return ActivityModel(weight / weight.sum(), mix)


def event_attributes(category: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Severity, marking, sector, SAR behaviour and narrative template for each event."""
    levels = np.arange(1, 6)
    severity_table = np.array([
        np.exp(-0.5 * ((levels - SEVERITY_MEANS[key]) / 0.9) ** 2) for key in CATEGORIES
    ])
    tlp_table = np.array([
        TLP_SHARES_SENSITIVE if key in SENSITIVE_CATEGORIES else TLP_SHARES for key in CATEGORIES
    ])
    sector_table = np.zeros((len(CATEGORIES), len(SECTORS) + 1))
    for number, key in enumerate(CATEGORIES):
        known, codes = CATEGORY_SECTORS[key]
        sector_table[number, 0] = 1 - known
        for code in codes:
            sector_table[number, 1 + SECTORS.index(code)] = known / len(codes)
    sar_weights = np.array(list(SAR_BEHAVIOR_WEIGHTS.values()))
    is_sar = category == CATEGORIES.index("sar_analysis")
    sar_behavior = np.full(len(category), -1, dtype=np.int8)
    sar_behavior[is_sar] = rng.choice(len(sar_weights), size=int(is_sar.sum()),
                                      p=sar_weights / sar_weights.sum())
    return {
        "severity": (1 + draw_by_group(category, severity_table, rng)).astype(np.int8),
        "tlp": draw_by_group(category, tlp_table, rng).astype(np.int8),
        "sector": (draw_by_group(category, sector_table, rng) - 1).astype(np.int8),
        "sar_behavior": sar_behavior,
        "template": rng.integers(3, size=len(category)).astype(np.int8),
    }


def report_delays(count: int, rng: np.random.Generator) -> np.ndarray:
    """Minutes to days between an event and its report (lognormal, median two hours)."""
    delay = rng.lognormal(np.log(7200), 1.2, count)
    return np.clip(delay, 60, 14 * DAY_S).astype(np.int64)


def new_events(county: np.ndarray, category: np.ndarray, occurred_s: np.ndarray,
               rng: np.random.Generator) -> Events:
    """Events with everything but center and coordinates (drawn once all events exist)."""
    count = len(county)
    return Events(
        county=county.astype(np.int16), category=category.astype(np.int8),
        center=np.zeros(count, dtype=np.int8), occurred_s=occurred_s.astype(np.int64),
        delay_s=report_delays(count, rng), longitude=np.zeros(count), latitude=np.zeros(count),
        has_coordinates=np.ones(count, dtype=bool), group=np.zeros(count, dtype=np.int64),
        hot_spot=np.full(count, -1, dtype=np.int8),
        surge=np.full(count, -1, dtype=np.int8),
        **event_attributes(category, rng),
    )


def base_events(count: int, model: ActivityModel, span: TimeSpan,
                rng: np.random.Generator) -> Events:
    per_county = rng.multinomial(count, model.county_weight)
    counties: list[np.ndarray] = []
    categories: list[np.ndarray] = []
    for number, county_count in enumerate(per_county):
        per_category = rng.multinomial(county_count, model.category_mix[number])
        counties.append(np.full(county_count, number))
        categories.append(np.repeat(np.arange(len(CATEGORIES)), per_category))
    return new_events(np.concatenate(counties), np.concatenate(categories),
                      sample_times(count, span, rng), rng)


@dataclass(frozen=True)
class HotSpot:
    category: int
    counties: tuple[int, ...]
    first_day: int  # inclusive, days after span start
    last_day: int  # exclusive
    extra_incidents: int
    county_extras: tuple[int, ...] = ()  # planned extra incidents per county of ``counties``


HOT_SPOT_FACTOR = 8.0  # extra incidents = this many times each county's expected count
HOT_SPOT_MIN_EXTRA = 30
HOT_SPOT_CATEGORIES = ("narcotics", "critical_infrastructure", "gangs", "cybercrime",
                       "human_trafficking", "violent_crime")


def choose_hot_spots(geography: StateGeography, model: ActivityModel, span: TimeSpan,
                     total_incidents: int, count: int, rng: np.random.Generator
                     ) -> list[HotSpot]:
    """Clusters of 3-4 touching counties, apart from each other, each with one category
    strongly elevated for three to five months; the last one runs up to today."""
    weight = model.county_weight
    busy = np.flatnonzero((weight >= np.median(weight))
                          & np.array([len(n) > 0 for n in geography.neighbours]))
    categories = [CATEGORIES.index(key) for key in rng.permutation(HOT_SPOT_CATEGORIES)]
    blocked: set[int] = set()
    spots: list[HotSpot] = []
    for seed in rng.permutation(busy):
        if len(spots) == count:
            break
        if int(seed) in blocked:
            continue
        free = [int(n) for n in geography.neighbours[seed] if int(n) not in blocked]
        if not free:
            continue
        # Three or four counties: Gi* finds clusters, and a pair among quiet neighbours is not one.
        size = min(len(free), int(rng.integers(2, 4)))
        picked = rng.choice(free, size=size, replace=False,
                            p=weight[free] / weight[free].sum())
        cluster = tuple(sorted([int(seed), *map(int, picked)]))
        for county in cluster:
            blocked |= {county, *map(int, geography.neighbours[county])}
        duration = int(rng.integers(90, 151))
        first_day = int(rng.integers(60, span.days - duration - 7))
        if len(spots) == count - 1:
            # The last one is still going on today, so the default views can see it.
            first_day = span.days - duration
        category = categories[len(spots)]
        # Every county of the cluster rises several times its own usual count (a big county
        # among small ones must not carry the whole signal), with a floor for quiet ones.
        floor = -(-HOT_SPOT_MIN_EXTRA // len(cluster))
        extras = tuple(max(round(HOT_SPOT_FACTOR * total_incidents * weight[c]
                                 * model.category_mix[c, category] * duration / span.days), floor)
                       for c in cluster)
        spots.append(HotSpot(category, cluster, first_day, first_day + duration, sum(extras),
                             extras))
    if len(spots) < count:
        raise ValueError(f"{geography.state}: could not place {count} separate hot spots")
    return spots


def hot_spot_events(spots: list[HotSpot], model: ActivityModel, span: TimeSpan,
                    rng: np.random.Generator) -> Events:
    parts: list[Events] = []
    for number, spot in enumerate(spots):
        cluster = np.array(spot.counties)
        county = np.repeat(cluster, spot.county_extras)
        category = np.full(spot.extra_incidents, spot.category)
        occurred = sample_times(spot.extra_incidents, span, rng, spot.first_day, spot.last_day)
        part = new_events(county, category, occurred, rng)
        part.hot_spot[:] = number
        parts.append(part)
    combined = parts[0]
    for part in parts[1:]:
        combined = combined.append(part)
    return combined


def planted_in_window(events: Events, spots: list[HotSpot], span: TimeSpan) -> list[HotSpot]:
    """The hot spots with ``extra_incidents`` counting the planted events still inside their
    window (separating chance duplicates may move a few by a day or two)."""
    day = (events.occurred_s - span.start_s) // DAY_S
    return [
        replace(spot, extra_incidents=int(np.count_nonzero(
            (events.hot_spot == number) & (day >= spot.first_day) & (day < spot.last_day))))
        for number, spot in enumerate(spots)
    ]


@dataclass(frozen=True)
class Surge:
    """One category rising in one whole region for a few weeks (a trend anomaly, not a
    spatial cluster)."""

    category: int
    region: int
    first_day: int  # inclusive, days after span start
    last_day: int  # exclusive
    factor: float  # the category's rate in the region during the surge over its usual rate
    extra_incidents: int


SURGE_FACTOR = 3.0
SURGE_WEEKS = (4, 6)  # shortest and longest surge
SURGE_EARLIEST_DAY = 150  # leaves every surge a full trailing baseline before it


def choose_surges(geography: StateGeography, model: ActivityModel, span: TimeSpan,
                  total_incidents: int, count: int, hot_spots: list[HotSpot],
                  rng: np.random.Generator) -> list[Surge]:
    """``count`` surges in busy (category, region) cells that no hot spot touches, each in its
    own category and region; the last one runs up to today, the others lie apart in the past."""
    regions = geography.region_of_county
    region_count = int(regions.max()) + 1
    share = np.zeros((len(CATEGORIES), region_count))
    for county in range(geography.county_count):
        share[:, regions[county]] += model.county_weight[county] * model.category_mix[county]
    for spot in hot_spots:
        for county in spot.counties:
            share[spot.category, regions[county]] = 0.0
    available = share > 0
    day_weights = span.day_weights()
    past_slots = np.linspace(SURGE_EARLIEST_DAY, span.days - 7 * SURGE_WEEKS[1] - 90, count)
    surges: list[Surge] = []
    for number in range(count):
        cells = np.argwhere(available)
        if len(cells) == 0:
            raise ValueError(f"{geography.state}: no room for {count} separate surges")
        # Among the busiest fifth of the cells left: a surge in a cell of a few incidents a
        # month is noise, not a trend.
        busiest = cells[np.argsort(-share[available], kind="stable")[:max(3, len(cells) // 5)]]
        weights = share[busiest[:, 0], busiest[:, 1]]
        category, region = busiest[rng.choice(len(busiest), p=weights / weights.sum())]
        available[category, :] = False
        available[:, region] = False
        duration = 7 * int(rng.integers(SURGE_WEEKS[0], SURGE_WEEKS[1] + 1))
        if number == count - 1:
            first_day = span.days - duration  # still going on today
        else:
            first_day = int(past_slots[number]) + int(rng.integers(0, 30))
        expected = total_incidents * share[category, region] * day_weights[
            first_day:first_day + duration].sum()
        extra = round((SURGE_FACTOR - 1) * expected)
        surges.append(Surge(int(category), int(region), first_day, first_day + duration,
                            SURGE_FACTOR, extra))
    return surges


def surge_events(surges: list[Surge], geography: StateGeography, model: ActivityModel,
                 span: TimeSpan, rng: np.random.Generator) -> Events:
    parts: list[Events] = []
    for number, surge in enumerate(surges):
        counties = np.flatnonzero(geography.region_of_county == surge.region)
        weights = model.county_weight[counties] * model.category_mix[counties, surge.category]
        county = rng.choice(counties, size=surge.extra_incidents, p=weights / weights.sum())
        category = np.full(surge.extra_incidents, surge.category)
        occurred = sample_times(surge.extra_incidents, span, rng, surge.first_day,
                                surge.last_day)
        part = new_events(county, category, occurred, rng)
        part.surge[:] = number
        parts.append(part)
    combined = parts[0]
    for part in parts[1:]:
        combined = combined.append(part)
    return combined


def surges_in_window(events: Events, surges: list[Surge], span: TimeSpan) -> list[Surge]:
    """The surges with ``extra_incidents`` counting the planted events still in their window."""
    day = (events.occurred_s - span.start_s) // DAY_S
    return [
        replace(surge, extra_incidents=int(np.count_nonzero(
            (events.surge == number) & (day >= surge.first_day) & (day < surge.last_day))))
        for number, surge in enumerate(surges)
    ]


@dataclass(frozen=True)
class EmergingHotSpot:
    """One category's weekly count in a county and its neighbours following a pattern of
    ArcGIS's Emerging Hot Spot Analysis over the weeks up to the last complete one (Monday to
    Sunday) before today: a burst in the last week only (new), or a cluster through every week
    that grows (intensifying) or fades but is still there (diminishing)."""

    pattern: str  # a key of EMERGING_PROFILES
    category: int
    county: int  # the centre: its neighbourhood is the whole cluster
    counties: tuple[int, ...]  # the centre and every county touching it
    first_day: int  # inclusive, days after span start: the Monday of the first week
    weekly_extras: tuple[int, ...]  # extra incidents per week, spread over ``counties``

    @property
    def last_day(self) -> int:  # exclusive
        return self.first_day + 7 * len(self.weekly_extras)

    @property
    def extra_incidents(self) -> int:
        return sum(self.weekly_extras)


EMERGING_WEEKS = 12  # the emerging hot spot analysis's default weeks
# Extra incidents per week in the cluster, in units (below), oldest week first.
EMERGING_PROFILES: dict[str, tuple[float, ...]] = {
    "new": (0,) * (EMERGING_WEEKS - 1) + (8,),
    # A hot spot from the first week (which has no week before it in its neighbourhood)...
    "intensifying": tuple(np.linspace(6, 13, EMERGING_WEEKS).round(2)),
    # ... and still one in the last.
    "diminishing": tuple(np.linspace(13, 5, EMERGING_WEEKS).round(2)),
}
# One unit of extra incidents a week: this many times the standard deviation of the category's
# county-week counts (Gi* measures a neighbourhood against it) times the square root of the
# cluster's counties (the neighbourhood's sum varies with it), and at least EMERGING_MIN_UNIT:
# any size of demo shows the pattern about as clearly.
EMERGING_UNIT = 1.0
EMERGING_MIN_UNIT = 2.0
EMERGING_MAX_SHARE = 0.05  # of all incidents, at most (a demo of a thousand stays sane)


def choose_emerging_hot_spots(geography: StateGeography, model: ActivityModel, span: TimeSpan,
                              total_incidents: int, hot_spots: list[HotSpot],
                              surges: list[Surge], rng: np.random.Generator
                              ) -> list[EmergingHotSpot]:
    """One cluster per pattern of EMERGING_PROFILES: a county of few incidents among
    neighbours of few (over counts a populous neighbourhood is a hot spot every week) and its
    neighbours, sharing no county with a hot spot, its centre in no other cluster, each in a
    category of its own that no hot spot uses and no surge uses in its regions."""
    weight = model.county_weight
    rings = [(c, *map(int, geography.neighbours[c])) for c in range(geography.county_count)]
    ring_weight = np.array([weight[list(ring)].sum() for ring in rings])
    candidates = np.flatnonzero((ring_weight <= np.median(ring_weight))
                                & np.array([len(ring) >= 3 for ring in rings]))
    hot_counties = {int(c) for spot in hot_spots for c in spot.counties}
    surge_cells = {(surge.category, surge.region) for surge in surges}
    categories = [int(c) for c in rng.permutation(len(CATEGORIES))
                  if int(c) not in {spot.category for spot in hot_spots}]
    last_sunday = span.days - datetime.fromtimestamp(span.end_s, UTC).isoweekday()
    first_day = last_sunday + 1 - 7 * EMERGING_WEEKS
    found: list[EmergingHotSpot] = []
    for centre in map(int, rng.permutation(candidates)):
        if len(found) == len(EMERGING_PROFILES):
            break
        ring = tuple(sorted(rings[centre]))
        if hot_counties & set(ring) or any(centre in p.counties or p.county in ring
                                           for p in found):
            continue
        regions = {int(geography.region_of_county[c]) for c in ring}
        category = next((c for c in categories
                         if not any((c, region) in surge_cells for region in regions)), None)
        if category is None:
            continue
        categories.remove(category)
        pattern = list(EMERGING_PROFILES)[len(found)]
        profile = EMERGING_PROFILES[pattern]
        # The expected county-week counts of the category, and their spread with Poisson noise.
        county_week = total_incidents * weight * model.category_mix[:, category] * 7 / span.days
        spread = np.sqrt(county_week.var() + county_week.mean())
        budget = EMERGING_MAX_SHARE * total_incidents / len(EMERGING_PROFILES) / sum(profile)
        unit = min(max(EMERGING_UNIT * spread * np.sqrt(len(ring)), EMERGING_MIN_UNIT), budget)
        extras = tuple(round(unit * step) for step in profile)
        found.append(EmergingHotSpot(pattern, category, centre, ring, first_day, extras))
    if len(found) < len(EMERGING_PROFILES):
        raise ValueError(f"{geography.state}: could not place the emerging hot spots")
    return found


def emerging_hot_spot_events(patterns: list[EmergingHotSpot], span: TimeSpan,
                             rng: np.random.Generator) -> Events:
    """Each week's extra incidents, in a random county of the cluster, that week."""
    parts: list[Events] = []
    for pattern in patterns:
        for week, extra in enumerate(pattern.weekly_extras):
            if extra == 0:
                continue
            start = pattern.first_day + 7 * week
            parts.append(new_events(rng.choice(pattern.counties, size=extra),
                                    np.full(extra, pattern.category),
                                    sample_times(extra, span, rng, start, start + 7), rng))
    combined = parts[0]
    for part in parts[1:]:
        combined = combined.append(part)
    return combined


def assign_centers(events: Events, coverage: np.ndarray, rng: np.random.Generator) -> None:
    """Each event is reported by one of the centers covering its county, by intensity."""
    events.center = draw_by_group(events.county, coverage, rng).astype(np.int8)


def plant_duplicates(events: Events, pair_count: int, coverage: np.ndarray, pool: PointPool,
                     span: TimeSpan, rng: np.random.Generator) -> tuple[Events, np.ndarray]:
    """Second reports of existing events by another covering center: same category, 20-220 m
    and 2-25 minutes away. Returns the grown events and the (first, second) event numbers."""
    covering = (coverage > 0).sum(axis=1)
    # Only counties wide enough that the moved point stays well inside the county.
    eligible = np.flatnonzero((covering[events.county] >= 2) & events.has_coordinates
                              & (pool.margin_deg[events.county] >= 0.015))
    pair_count = min(pair_count, len(eligible))
    first = np.sort(rng.choice(eligible, size=pair_count, replace=False))
    others = coverage[events.county[first]].astype(float)
    others[np.arange(pair_count), events.center[first]] = 0
    second_center = draw_by_group(np.arange(pair_count), others, rng)

    offset_s = rng.integers(120, 25 * 60 + 1, pair_count) * rng.choice([-1, 1], pair_count)
    occurred = events.occurred_s[first] + offset_s
    # Flip the offset where it would leave the span or land in the repeated local hour.
    flip = ((occurred < span.start_s) | (occurred >= span.end_s)
            | ambiguous_local(occurred, span.timezone))
    occurred = np.where(flip, events.occurred_s[first] - offset_s, occurred)

    distance_km = rng.uniform(0.02, 0.22, pair_count)
    bearing = rng.uniform(0, 2 * np.pi, pair_count)
    latitude = events.latitude[first] + distance_km * np.cos(bearing) / KM_PER_DEG_LAT
    longitude = events.longitude[first] + distance_km * np.sin(bearing) / (
        KM_PER_DEG_LON_EQUATOR * np.cos(np.radians(events.latitude[first])))

    copies = new_events(events.county[first], events.category[first], occurred, rng)
    copies.center = second_center.astype(np.int8)
    copies.longitude, copies.latitude = longitude, latitude
    copies.sector = events.sector[first]
    copies.sar_behavior = events.sar_behavior[first]
    copies.severity = np.clip(events.severity[first] + rng.choice([-1, 0, 0, 1], pair_count),
                              1, 5).astype(np.int8)
    second = len(events) + np.arange(pair_count)
    copies.group = first.astype(np.int64)
    return events.append(copies), np.column_stack([first, second])


PLACE_ATTEMPTS = 2  # new places to try before a report also moves by whole days
# Farthest move in days by number of attempts past PLACE_ATTEMPTS: reports stuck in a small,
# busy county during a hot spot eventually leave the crowded weeks.
DAY_MOVES = ((3, 3), (6, 30), (10**6, 180))


def separate_chance_duplicates(events: Events, pairs: np.ndarray, pool: PointPool,
                               span: TimeSpan, rng: np.random.Generator,
                               max_rounds: int = 80) -> int:
    """Move apart reports that would look like one event by chance; returns how many moved.

    Planted pairs share a ``group``; any other two reports of one category by two centers
    closer than SEPARATION_KM and SEPARATION_S (or in one county within SEPARATION_S when
    either has no coordinates) are separated: a county-only report gets its coordinates shown;
    otherwise one report (or a whole planted pair, kept together) gets a new place, and after
    PLACE_ATTEMPTS also moves by whole days (where a small busy county has no room left).
    """
    planted = np.zeros(len(events), dtype=bool)
    planted[pairs.ravel()] = True
    offset_lon = np.zeros(len(events))
    offset_lat = np.zeros(len(events))
    offset_lon[pairs[:, 1]] = events.longitude[pairs[:, 1]] - events.longitude[pairs[:, 0]]
    offset_lat[pairs[:, 1]] = events.latitude[pairs[:, 1]] - events.latitude[pairs[:, 0]]
    attempts = np.zeros(len(events), dtype=np.int16)
    moved_total = 0
    candidates: np.ndarray | None = None  # None: check everything
    retimed: np.ndarray | None = None  # None: check every report against county-only ones
    for _ in range(max_rounds):
        clashing = _county_level_clashes(events, retimed)
        events.has_coordinates[clashing] = True
        moved_total += len(clashing)
        if candidates is not None:
            candidates = np.concatenate([candidates, clashing])
        left, right = _close_pairs(events, candidates)
        if len(left) == 0:
            return moved_total
        # Move the report that is not part of a planted pair; a planted pair moves as a whole.
        mover = np.where(planted[right] & ~planted[left], left, right)
        anchors = np.unique(events.group[mover])
        attempts[anchors] += 1
        events.longitude[anchors], events.latitude[anchors] = pool.draw(
            events.county[anchors], rng)
        moving = _group_members(events, anchors)
        followers = moving[planted[moving] & (events.group[moving] != moving)]
        events.longitude[followers] = events.longitude[events.group[followers]] + offset_lon[
            followers]
        events.latitude[followers] = events.latitude[events.group[followers]] + offset_lat[
            followers]
        stuck = anchors[attempts[anchors] > PLACE_ATTEMPTS]
        retimed = _move_days(events, stuck, attempts[stuck] - PLACE_ATTEMPTS, span, rng)
        candidates = moving
        moved_total += len(anchors)
    raise RuntimeError("could not separate chance duplicates; lower the incident count")


def _group_members(events: Events, anchors: np.ndarray) -> np.ndarray:
    """Every report whose group is one of ``anchors`` (anchors are their own group)."""
    is_anchor = np.zeros(len(events), dtype=bool)
    is_anchor[anchors] = True
    return np.flatnonzero(is_anchor[events.group])


def _move_days(events: Events, anchors: np.ndarray, tries: np.ndarray, span: TimeSpan,
               rng: np.random.Generator) -> np.ndarray:
    """Move groups by whole days (keeping the local time of day), farther the more often they
    were moved; returns the moved rows."""
    if len(anchors) == 0:
        return anchors
    farthest = np.select([tries <= limit for limit, _ in DAY_MOVES],
                         [days for _, days in DAY_MOVES])
    days = 1 + (rng.random(len(anchors)) * farthest).astype(np.int64)
    delta = np.zeros(len(events), dtype=np.int64)
    delta[anchors] = days * DAY_S * rng.choice([-1, 1], len(anchors))
    rows = _group_members(events, anchors)

    def misplaced() -> np.ndarray:
        """Groups a member of which would leave the span or land in the repeated hour."""
        shifted = events.occurred_s[rows] + delta[events.group[rows]]
        bad = ((shifted < span.start_s) | (shifted >= span.end_s)
               | ambiguous_local(shifted, span.timezone))
        return np.unique(events.group[rows[bad]])

    delta[misplaced()] *= -1  # such a group goes the other way instead
    delta[misplaced()] = 0  # or, rarely, stays where it is
    events.occurred_s[rows] += delta[events.group[rows]]
    return rows


def _county_level_clashes(events: Events, others: np.ndarray | None) -> np.ndarray:
    """County-only reports with a report of the same category by another center in the same
    county within SEPARATION_S (the ingest links those when coordinates are missing).
    With ``others``, only clashes with those reports."""
    county_only = ~events.has_coordinates
    if not county_only.any() or (others is not None and len(others) == 0):
        return np.zeros(0, dtype=np.int64)
    bucket = events.occurred_s // SEPARATION_S
    if others is None:
        left_rows, right_rows = np.flatnonzero(county_only), np.arange(len(events))
    else:
        left_rows = np.flatnonzero(county_only & _near_buckets(bucket, bucket[others]))
        right_rows = others

    def reports(rows: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame({"row": rows, "category": events.category[rows],
                             "county": events.county[rows], "center": events.center[rows],
                             "t": events.occurred_s[rows], "bucket": bucket[rows]})

    left, right = reports(left_rows), reports(right_rows)
    found: list[pl.Series] = []
    for shift in (-1, 0, 1):
        joined = left.with_columns(pl.col("bucket") + shift).join(
            right, on=["category", "county", "bucket"], suffix="_b")
        near = joined.filter((pl.col("center") != pl.col("center_b"))
                             & ((pl.col("t") - pl.col("t_b")).abs() <= SEPARATION_S))
        found.append(near["row"])
    return np.unique(pl.concat(found).to_numpy())


def _near_buckets(bucket: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """True where a report's time bucket is one of ``chosen`` or next to one."""
    wanted = np.unique(np.concatenate([chosen - 1, chosen, chosen + 1]))
    return np.isin(bucket, wanted)


# Bit layout of a packed grid-cell key: category | cell x | cell y | time bucket. Each field
# keeps a margin of one so that stepping to a neighbouring cell never borrows from another.
CELL_X_SHIFT, CELL_Y_SHIFT, CATEGORY_SHIFT = 37, 19, 55
NEIGHBOUR_STEPS = [(dx, dy, dt) for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dt in (-1, 0, 1)]


def _close_pairs(events: Events, candidates: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of reports with coordinates, same category, different centers and groups, within
    SEPARATION_KM and SEPARATION_S. With ``candidates``, only pairs involving them."""
    located_rows = np.flatnonzero(events.has_coordinates)
    key = _cell_keys(events, located_rows)

    def reports(rows: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame({
            "row": rows, "key": key[rows], "center": events.center[rows],
            "group": events.group[rows], "latitude": events.latitude[rows],
            "longitude": events.longitude[rows], "t": events.occurred_s[rows],
        })

    if candidates is None:
        left = located = reports(located_rows)
        # Each unordered pair is found once: half of the neighbouring cells, and the own cell
        # with row < row_b.
        steps = [step for step in NEIGHBOUR_STEPS if step >= (0, 0, 0)]
    else:
        is_candidate = np.zeros(len(events), dtype=bool)
        is_candidate[candidates] = True
        left_rows = np.flatnonzero(is_candidate & events.has_coordinates)
        left = reports(left_rows)
        # Only reports in the cells around the candidates can pair with them.
        around = (key[left_rows][:, None] + np.array([_key_step(s) for s in NEIGHBOUR_STEPS])
                  ).ravel()
        near = pl.Series(key[located_rows]).is_in(pl.Series(np.unique(around))).to_numpy()
        located = reports(located_rows[near])
        steps = NEIGHBOUR_STEPS
    found: list[pl.DataFrame] = []
    for step in steps:
        joined = left.with_columns(pl.col("key") + _key_step(step)).join(
            located, on="key", suffix="_b")
        # Checking everything, a same-cell pair is seen from both rows: keep one sighting.
        once = candidates is None and step == (0, 0, 0)
        order = (pl.col("row") < pl.col("row_b")) if once else (pl.col("row") != pl.col("row_b"))
        distance_km = haversine_km(pl.col("latitude"), pl.col("longitude"),
                                   pl.col("latitude_b"), pl.col("longitude_b"))
        near_pairs = joined.filter(
            order & (pl.col("center") != pl.col("center_b"))
            & (pl.col("group") != pl.col("group_b"))
            & ((pl.col("t") - pl.col("t_b")).abs() <= SEPARATION_S)
            & (distance_km <= SEPARATION_KM)
        )
        found.append(near_pairs.select("row", "row_b"))
    pairs = pl.concat(found).unique()
    return pairs["row"].to_numpy(), pairs["row_b"].to_numpy()


def _cell_keys(events: Events, located_rows: np.ndarray) -> np.ndarray:
    """Packed grid-cell key per report (meaningful for reports with coordinates).

    Cells SEPARATION_KM wide at the state's highest latitude are at most that wide anywhere
    else, so reports closer than SEPARATION_KM sit in the same or neighbouring cells.
    """
    widest_cos = np.cos(np.radians(np.abs(events.latitude[located_rows]).max()))
    cell_x = np.floor(events.longitude * (KM_PER_DEG_LON_EQUATOR * widest_cos / SEPARATION_KM))
    cell_y = np.floor(events.latitude * (KM_PER_DEG_LAT / SEPARATION_KM))
    bucket = events.occurred_s // SEPARATION_S
    cell_x = (cell_x - cell_x[located_rows].min() + 1).astype(np.int64)
    cell_y = (cell_y - cell_y[located_rows].min() + 1).astype(np.int64)
    bucket = bucket - bucket.min() + 1
    return ((events.category.astype(np.int64) << CATEGORY_SHIFT) | (cell_x << CELL_X_SHIFT)
            | (cell_y << CELL_Y_SHIFT) | bucket)


def _key_step(step: tuple[int, int, int]) -> int:
    dx, dy, dt = step
    return (dx << CELL_X_SHIFT) + (dy << CELL_Y_SHIFT) + dt


def tlp_marking(index: np.ndarray) -> np.ndarray:
    return np.array(TLP_MARKINGS)[index]
