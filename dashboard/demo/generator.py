"""Synthetic demo: several fusion centers of a real state, their feeds, config and ground truth.

:func:`generate` writes into ``out_dir``::

    config/settings.toml, taxonomy.toml, regions.toml, centers.toml   (load_config-ready)
    feeds/<center>_incidents.csv | .ndjson | .parquet | .xlsx, <center>.sqlite,
    feeds/<center>_products.json | .csv | .parquet | .ndjson
    ground_truth.json

Each center's feed has its own format, column names, category words and timestamp style (see
``feeds.py``); ``centers.toml`` maps them back to the canonical schema. The same seed, state,
size and ``today`` give byte-identical files.

``ground_truth.json`` says what was planted, so tests and benchmarks can check the ingest and
the analytics against it:

``parameters``
    ``state``, ``seed``, ``incidents`` (requested valid incidents), ``today``, and the span
    ``start`` .. ``end`` (UTC dates; incidents occur at or after ``start`` and before ``end``,
    which is ``today`` at 00:00 UTC).
``counts``
    ``incidents`` and ``products``: valid rows written per center id; ``incidents_total``,
    ``products_total``; ``bad_rows_total``. A feed holds its center's valid rows plus the bad
    rows listed for it.
``hot_spots``
    List of ``{category, counties, start, end, extra_incidents}``: 2-4 touching counties (FIPS)
    where ``extra_incidents`` more incidents of ``category`` than usual (about four times the
    usual count) occur from ``start`` (inclusive) to ``end`` (exclusive), UTC dates. The count
    is of planted incidents inside the window; at millions of incidents a few planted ones
    move a day or more (see duplicate_incidents) and are then not counted.
``surges``
    List of ``{category, region, start, end, factor, extra_incidents}``: a category whose
    daily rate in a whole region (a region id) is ``factor`` times its usual rate from ``start``
    (inclusive) to ``end`` (exclusive), UTC dates, four to six weeks; ``extra_incidents`` more
    incidents than usual occur there in the window. No hot spot touches a surge's category
    and region; the last surge runs up to today, the others lie apart in the past.
``emerging_hotspots``
    List of ``{county_fips, category, pattern, counties, start, end, weekly_extras}``, one per
    ``pattern`` ``new``, ``intensifying`` and ``diminishing``: over the 12 complete weeks
    (Monday to Sunday) up to the last one before today, ``start`` (a Monday, inclusive) to
    ``end`` (exclusive), ``weekly_extras`` more incidents of ``category`` than usual occur each
    week in ``counties`` (``county_fips``, a quiet county, and every county touching it): only
    in the last week (new), growing (intensifying) or shrinking but still many (diminishing).
    Emerging hot spot analysis of ``category`` classes ``county_fips`` as the pattern's hot
    spot (e.g. ``new_hot_spot``). No hot spot uses the category or a county of ``counties``,
    no surge the category in their regions, and each pattern has a category of its own.
``coverage_gaps``
    List of ``{topic, region, incidents}``: a category and a region id with ``incidents``
    valid incidents of that category in the region over the whole span, and no product whose
    topics include the category and whose area (counties, regions or statewide) touches the
    region. No statewide product carries a gap topic at all. Every other category x region
    with incidents gets a product at least every 60 days, so these are the only cells with
    activity and no product in the last 90 days, whatever the date.
``near_duplicate_products``
    List of ``{products, topic, area}``: ``products`` is ``[[center_id, product_id], ...]``,
    2-3 products from different centers with the single topic ``topic``, whose areas all
    include county ``area`` (FIPS), published within five days of each other, with lightly
    reworded titles and summaries. The last cluster is published in the span's last 40 days.
``duplicate_incidents``
    List of ``[[center_a, incident_id_a], [center_b, incident_id_b]]``: the same event
    reported by two centers, same category, 20-220 m and 2-25 minutes apart, both with
    coordinates. About 0.5 % of incidents are such second reports. Any other two incidents of
    one category from different centers are more than 1.5 km or 150 minutes apart, and a
    report without coordinates has no such neighbour in its county within 150 minutes, so the
    ingest's defaults (1 km, 120 minutes) link exactly these pairs.
``bad_rows``
    List of ``{center_id, source, row, field, kind}``: rows the ingest must quarantine.
    ``source`` is the config source name (``incidents`` or ``products``); ``row`` is the row
    number as the connector reports it (CSV and sheets: the header is row 1, so data starts
    at 2; NDJSON, JSON, Parquet and SQL: the first record is 1). ``kind`` is one of
    ``impossible_date`` (unparseable, before 1990 or far in the future), ``unknown_county``
    (a FIPS code that is not a county of the state; no coordinates), ``unknown_category``
    (a word outside the center's value map), ``outside_state`` (coordinates outside the
    state and no county) and ``missing_required`` (an empty id, category or title).
``markup_narratives``
    List of ``[center_id, incident_id]``: valid incidents whose narrative carries HTML,
    script or markdown-link markup; they must be stored as sent and escaped when shown.
``markup_products``
    List of ``[center_id, product_id]``: valid products whose title carries HTML markup (a
    member of the last near-duplicate cluster).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import tomli_w

from dashboard.demo import feeds
from dashboard.demo.feeds import (
    BLANK_TLP,
    DEFECT,
    FIRST_ROW_NUMBER,
    HIDE_COUNTY,
    MISSING_FIELD,
    SEQUENCE,
    IncidentStyle,
    ProductStyle,
)
from dashboard.demo.geography import (
    DEMO_DIR,
    CenterPlan,
    PointPool,
    StateGeography,
    build_point_pool,
    load_geography,
    plan_centers,
)
from dashboard.demo.incidents import (
    CATEGORIES,
    DAY_S,
    SAR_BEHAVIORS,
    SECTORS,
    ActivityModel,
    EmergingHotSpot,
    Events,
    HotSpot,
    Surge,
    TimeSpan,
    activity_model,
    ambiguous_local,
    assign_centers,
    base_events,
    choose_emerging_hot_spots,
    choose_hot_spots,
    choose_surges,
    emerging_hot_spot_events,
    hot_spot_events,
    out_of_repeated_hour,
    plant_duplicates,
    planted_in_window,
    separate_chance_duplicates,
    surge_events,
    surges_in_window,
    tlp_marking,
)
from dashboard.demo.products import (
    AUDIENCES,
    PRODUCT_TYPES,
    CenterIncidents,
    CoverageGap,
    ProductDraft,
    ProductPlanner,
    product_counts,
)
from dashboard.demo.text import (
    DAYPARTS,
    MARKUP_NARRATIVES,
    NARRATIVES,
    NARRATIVES_PER_CATEGORY,
    PLACES_BY_SECTOR,
    template_expr,
)
from dashboard.settings import load_config

ProgressCallback = Callable[[str, float], None]

SPAN_DAYS = 730
MIN_INCIDENTS = 1000
HOT_SPOT_COUNT = 3
SURGE_COUNT = 3
COVERAGE_GAP_COUNT = 3
DUPLICATE_SHARE = 0.005
BAD_ROWS_PER_KIND = 2
MARKUP_ROWS_PER_CENTER = 3
EXCEL_MAX_DATA_ROWS = 1_048_575  # a sheet's rows, less the header
DEFAULT_TLP = "TLP:AMBER"
BAD_ROW_FIELDS = {"impossible_date": "occurred_at", "unknown_county": "county_fips",
                  "unknown_category": "category", "outside_state": "latitude, longitude"}


@dataclass(frozen=True)
class World:
    """The state, its centers and the activity the incidents are drawn from."""

    geography: StateGeography
    span: TimeSpan
    model: ActivityModel
    centers: tuple[CenterPlan, ...]
    aor: list[np.ndarray]  # county numbers per center
    coverage: np.ndarray  # (counties, centers): reporting intensity where a center covers
    pool: PointPool


@dataclass(frozen=True)
class IncidentPlan:
    events: Events  # in time order
    pairs: np.ndarray  # (first, second) event numbers of planted duplicate reports
    spots: list[HotSpot]
    surges: list[Surge]
    emerging: list[EmergingHotSpot]
    styles: list[tuple[IncidentStyle, ProductStyle]]  # per center
    sequence: np.ndarray  # per event: its number in its center's feed (1..)
    markup: np.ndarray  # event numbers whose narrative carries markup


def generate(out_dir: Path, state: str = "CA", incidents: int = 200_000, seed: int = 7,
             progress: ProgressCallback | None = None, today: date | None = None
             ) -> dict[str, Any]:
    """Write a synthetic demo (config, feeds, ground truth) and return the ground truth."""
    if incidents < MIN_INCIDENTS:
        raise ValueError(f"incidents must be at least {MIN_INCIDENTS}, got {incidents}")
    report = progress or (lambda _step, _fraction: None)
    today = today or datetime.now(UTC).date()
    out_dir = Path(out_dir)
    config_dir, feeds_dir = out_dir / "config", out_dir / "feeds"
    config_dir.mkdir(parents=True, exist_ok=True)
    feeds_dir.mkdir(parents=True, exist_ok=True)
    _check_taxonomy()
    rng = np.random.default_rng(seed)

    report("geography", 0.0)
    world = _plan_world(state, today, rng)
    report("incidents", 0.1)
    plan = _plan_incidents(world, incidents, rng, report)
    report("products", 0.4)
    gaps = _choose_gaps(plan.events, world.geography, {s.category for s in plan.spots}, rng)
    products = _draft_products(world, plan, gaps, incidents, rng)

    bad_rows: list[dict[str, Any]] = []
    for number, center in enumerate(world.centers):
        report(f"writing feeds of {center.id}", 0.5 + 0.45 * number / len(world.centers))
        incident_style, product_style = plan.styles[number]
        bad_rows += _write_incident_feed(world, plan, number, feeds_dir, today, rng)
        bad_rows += _write_product_feed(
            [draft for draft in products if draft.center == number], center, product_style,
            incident_style, feeds_dir, world, today, rng)

    report("config", 0.96)
    _write_config(config_dir, world.geography, world.centers, plan.styles)
    truth = _ground_truth(world, plan, gaps, products, bad_rows, seed, incidents, today)
    (out_dir / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n",
                                               encoding="utf-8")
    # The config must load exactly as a deployment's would; fail here rather than at ingest.
    load_config(config_dir)
    report("done", 1.0)
    return truth


def _plan_world(state: str, today: date, rng: np.random.Generator) -> World:
    geography = load_geography(state)
    model = activity_model(geography, rng)
    centers = plan_centers(geography, model.county_weight)
    aor = [_aor_numbers(geography, center) for center in centers]
    coverage = np.zeros((geography.county_count, len(centers)))
    for number, (center, counties) in enumerate(zip(centers, aor, strict=True)):
        coverage[counties, number] = center.reporting_intensity
    return World(geography, _time_span(today, geography.timezone), model, centers, aor,
                 coverage, build_point_pool(geography, rng))


def _plan_incidents(world: World, incidents: int, rng: np.random.Generator,
                    report: ProgressCallback) -> IncidentPlan:
    """Every incident report: background, hot spots, planted duplicates; kept apart from
    chance look-alikes; in time order and numbered per center."""
    span = world.span
    spots = choose_hot_spots(world.geography, world.model, span, incidents, HOT_SPOT_COUNT, rng)
    surges = choose_surges(world.geography, world.model, span, incidents, SURGE_COUNT, spots,
                           rng)
    emerging = choose_emerging_hot_spots(world.geography, world.model, span, incidents, spots,
                                         surges, rng)
    pair_count = round(DUPLICATE_SHARE * incidents)
    base_count = (incidents - pair_count - sum(spot.extra_incidents for spot in spots)
                  - sum(surge.extra_incidents for surge in surges)
                  - sum(pattern.extra_incidents for pattern in emerging))
    if base_count < incidents // 2:
        raise ValueError(f"incidents={incidents} is too few for the planted patterns")
    events = base_events(base_count, world.model, span, rng).append(
        hot_spot_events(spots, world.model, span, rng)).append(
        surge_events(surges, world.geography, world.model, span, rng)).append(
        emerging_hot_spot_events(emerging, span, rng))
    events.occurred_s = out_of_repeated_hour(events.occurred_s, span)
    assign_centers(events, world.coverage, rng)
    events.longitude, events.latitude = world.pool.draw(events.county.astype(np.int64), rng)
    center_count = len(world.centers)
    styles = _assign_styles(np.bincount(events.center, minlength=center_count))
    county_only_share = np.array([style.county_only_share for style, _ in styles])
    events.has_coordinates = rng.random(len(events)) >= county_only_share[events.center]
    events.group = np.arange(len(events), dtype=np.int64)

    report("duplicates", 0.25)
    events, pairs = plant_duplicates(events, pair_count, world.coverage, world.pool, span, rng)
    separate_chance_duplicates(events, pairs, world.pool, span, rng)
    spots = planted_in_window(events, spots, span)
    surges = surges_in_window(events, surges, span)
    events.delay_s = _report_delays_in_span(events, span)
    order = np.lexsort((np.arange(len(events)), events.occurred_s))
    events = events.take(order)
    new_index = np.empty_like(order)
    new_index[order] = np.arange(len(order))
    _check_excel_size(styles, np.bincount(events.center, minlength=center_count))
    return IncidentPlan(events, new_index[pairs], spots, surges, emerging, styles,
                        _sequences(events.center, center_count),
                        _markup_rows(events, center_count, rng))


def _draft_products(world: World, plan: IncidentPlan, gaps: list[CoverageGap], incidents: int,
                    rng: np.random.Generator) -> list[ProductDraft]:
    center_count = len(world.centers)
    planner = ProductPlanner(
        world.geography, world.centers, world.aor, world.model.county_weight,
        _topic_counts(plan.events, center_count),
        _citable(plan.events, plan.sequence, center_count), gaps, world.span, rng)
    counts = product_counts(incidents, np.bincount(plan.events.center, minlength=center_count),
                            [center.statewide for center in world.centers])
    ordinary = planner.draft_ordinary(counts)
    clusters = planner.draft_near_duplicates(max(3, sum(counts) // 500))
    ordinary += planner.draft_coverage_floor([*ordinary, *clusters],
                                             _region_topic_counts(plan.events, world.geography))
    return planner.finish(ordinary, clusters, [center.short_name for center in world.centers])


def _ground_truth(world: World, plan: IncidentPlan, gaps: list[CoverageGap],
                  products: list[ProductDraft], bad_rows: list[dict[str, Any]], seed: int,
                  incidents: int, today: date) -> dict[str, Any]:
    geography, span, centers = world.geography, world.span, world.centers
    incident_counts = np.bincount(plan.events.center, minlength=len(centers))
    product_counts_by_center = np.bincount([d.center for d in products], minlength=len(centers))

    def incident_key(row: int) -> list[str]:
        return _incident_key(plan.events, plan.sequence, centers, plan.styles, row)

    return {
        "parameters": {
            "state": geography.state, "seed": seed, "incidents": incidents,
            "today": today.isoformat(), "start": _iso_day(span.start_s),
            "end": _iso_day(span.end_s),
        },
        "counts": {
            "incidents": {c.id: int(n) for c, n in zip(centers, incident_counts, strict=True)},
            "products": {c.id: int(n) for c, n in zip(centers, product_counts_by_center,
                                                      strict=True)},
            "incidents_total": int(incident_counts.sum()),
            "products_total": int(product_counts_by_center.sum()),
            "bad_rows_total": len(bad_rows),
        },
        "hot_spots": [
            {"category": CATEGORIES[spot.category],
             "counties": [str(geography.fips[n]) for n in spot.counties],
             "start": _iso_day(span.start_s + spot.first_day * DAY_S),
             "end": _iso_day(span.start_s + spot.last_day * DAY_S),
             "extra_incidents": spot.extra_incidents}
            for spot in plan.spots
        ],
        "surges": [
            {"category": CATEGORIES[surge.category],
             "region": geography.regions[surge.region].id,
             "start": _iso_day(span.start_s + surge.first_day * DAY_S),
             "end": _iso_day(span.start_s + surge.last_day * DAY_S),
             "factor": surge.factor, "extra_incidents": surge.extra_incidents}
            for surge in plan.surges
        ],
        "emerging_hotspots": [
            {"county_fips": str(geography.fips[pattern.county]),
             "category": CATEGORIES[pattern.category], "pattern": pattern.pattern,
             "counties": [str(geography.fips[n]) for n in pattern.counties],
             "start": _iso_day(span.start_s + pattern.first_day * DAY_S),
             "end": _iso_day(span.start_s + pattern.last_day * DAY_S),
             "weekly_extras": list(pattern.weekly_extras)}
            for pattern in plan.emerging
        ],
        "coverage_gaps": [
            {"topic": gap.topic, "region": geography.regions[gap.region].id,
             "incidents": gap.incidents}
            for gap in gaps
        ],
        "near_duplicate_products": _near_duplicate_truth(products, centers, plan.styles),
        "duplicate_incidents": [[incident_key(int(first)), incident_key(int(second))]
                                for first, second in plan.pairs],
        "bad_rows": bad_rows,
        "markup_narratives": [incident_key(int(row)) for row in plan.markup],
        "markup_products": [_product_key(draft, centers, plan.styles) for draft in products
                            if draft.markup],
    }


def _check_taxonomy() -> None:
    """The generator's tables must name exactly the demo taxonomy's keys."""
    with (DEMO_DIR / "taxonomy.toml").open("rb") as handle:
        taxonomy = tomllib.load(handle)
    expected = {
        "categories": set(CATEGORIES), "product_types": set(PRODUCT_TYPES),
        "audiences": set(AUDIENCES),
    }
    for section, keys in expected.items():
        if set(taxonomy[section]) != keys:
            raise ValueError(f"taxonomy.toml [{section}] does not match the demo generator")
    if not set(SAR_BEHAVIORS) <= set(taxonomy["sar_behaviors"]) or not (
            set(SECTORS) <= set(taxonomy["target_sectors"])):
        raise ValueError("taxonomy.toml lacks SAR behaviours or sectors the demo generator uses")


def _time_span(today: date, timezone: str) -> TimeSpan:
    end = datetime.combine(today, time(), UTC)
    start = end - timedelta(days=SPAN_DAYS)
    standard = ZoneInfo(timezone).utcoffset(datetime(today.year, 1, 15))
    assert standard is not None
    return TimeSpan(int(start.timestamp()), int(end.timestamp()), timezone,
                    int(standard.total_seconds()))


def _iso_day(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).date().isoformat()


def _aor_numbers(geography: StateGeography, plan: CenterPlan) -> np.ndarray:
    if plan.statewide:
        return np.arange(geography.county_count)
    counties = {code for region in geography.regions if region.id in plan.aor_regions
                for code in region.counties} | set(plan.aor_counties)
    return np.sort(geography.county_numbers(sorted(counties)))


def _assign_styles(volumes: np.ndarray) -> list[tuple[IncidentStyle, ProductStyle]]:
    """The spreadsheet style goes to the smallest center; the others in center order."""
    excel_pair = next(pair for pair in feeds.STYLE_PAIRS if pair[0].kind == "excel")
    others = [pair for pair in feeds.STYLE_PAIRS if pair is not excel_pair]
    smallest = int(np.argmin(volumes))
    assigned: list[tuple[IncidentStyle, ProductStyle]] = []
    for number in range(len(volumes)):
        assigned.append(excel_pair if number == smallest else others.pop(0))
    return assigned


def _check_excel_size(styles: list[tuple[IncidentStyle, ProductStyle]],
                      volumes: np.ndarray) -> None:
    for number, (style, _) in enumerate(styles):
        if style.kind == "excel" and volumes[number] + 10 > EXCEL_MAX_DATA_ROWS:
            raise ValueError("too many incidents for the spreadsheet feed of the smallest "
                             f"center ({volumes[number]}); lower the incident count")


def _report_delays_in_span(events: Events, span: TimeSpan) -> np.ndarray:
    """Report delays kept inside the span and out of the repeated local hour."""
    reported = np.minimum(events.occurred_s + events.delay_s, span.end_s - 1)
    repeated = ambiguous_local(reported, span.timezone)
    later = reported + 3600
    reported = np.where(repeated, np.where(later < span.end_s, later, events.occurred_s),
                        reported)
    return reported - events.occurred_s


def _sequences(center: np.ndarray, center_count: int) -> np.ndarray:
    """1.. per center, in the (time) order of the events."""
    sequence = np.zeros(len(center), dtype=np.int64)
    for number in range(center_count):
        rows = np.flatnonzero(center == number)
        sequence[rows] = np.arange(1, len(rows) + 1)
    return sequence


def _markup_rows(events: Events, center_count: int, rng: np.random.Generator) -> np.ndarray:
    chosen = [rng.choice(np.flatnonzero(events.center == number), MARKUP_ROWS_PER_CENTER,
                         replace=False) for number in range(center_count)]
    return np.sort(np.concatenate(chosen))


def _choose_gaps(events: Events, geography: StateGeography, hot_categories: set[int],
                 rng: np.random.Generator) -> list[CoverageGap]:
    """Topic x region cells with real activity that no product will cover: for each of a few
    topics, its busiest region not yet taken."""
    counts = _region_topic_counts(events, geography)
    topics = [int(t) for t in rng.permutation(len(CATEGORIES)) if int(t) not in hot_categories]
    gaps: list[CoverageGap] = []
    used: set[int] = set()
    for topic in topics[:COVERAGE_GAP_COUNT]:
        ranked = [int(r) for r in np.argsort(-counts[topic], kind="stable") if int(r) not in used]
        chosen = ranked[0] if ranked else int(np.argmax(counts[topic]))
        used.add(chosen)
        gaps.append(CoverageGap(CATEGORIES[topic], chosen, int(counts[topic, chosen])))
    return gaps


def _region_topic_counts(events: Events, geography: StateGeography) -> np.ndarray:
    """Incidents per (category, region number)."""
    region_count = len(geography.regions)
    region = geography.region_of_county[events.county]
    return np.bincount(events.category.astype(np.int64) * region_count + region,
                       minlength=len(CATEGORIES) * region_count).reshape(-1, region_count)


def _topic_counts(events: Events, center_count: int) -> np.ndarray:
    flat = events.center.astype(np.int64) * len(CATEGORIES) + events.category
    return np.bincount(flat, minlength=center_count * len(CATEGORIES)).reshape(
        center_count, len(CATEGORIES)).astype(float)


def _citable(events: Events, sequence: np.ndarray, center_count: int
             ) -> dict[tuple[int, int], CenterIncidents]:
    citable: dict[tuple[int, int], CenterIncidents] = {}
    for center in range(center_count):
        for category in range(len(CATEGORIES)):
            rows = np.flatnonzero((events.center == center) & (events.category == category))
            if len(rows):
                citable[(center, category)] = CenterIncidents(events.occurred_s[rows],
                                                              sequence[rows])
    return citable


def _incident_key(events: Events, sequence: np.ndarray, centers: tuple[CenterPlan, ...],
                  styles: list[tuple[IncidentStyle, ProductStyle]], row: int) -> list[str]:
    center, style = centers[int(events.center[row])], styles[int(events.center[row])][0]
    return [center.id, feeds.feed_id(style.id_format, center.code, style.id_digits,
                                     int(sequence[row]))]


def _product_key(draft: ProductDraft, centers: tuple[CenterPlan, ...],
                 styles: list[tuple[IncidentStyle, ProductStyle]]) -> list[str]:
    center = centers[draft.center]
    return [center.id, feeds.feed_id(styles[draft.center][1].id_format, center.code,
                                     feeds.PRODUCT_ID_DIGITS, draft.sequence)]


def _near_duplicate_truth(products: list[ProductDraft], centers: tuple[CenterPlan, ...],
                          styles: list[tuple[IncidentStyle, ProductStyle]]
                          ) -> list[dict[str, Any]]:
    clusters: dict[int, list[ProductDraft]] = {}
    for draft in products:
        if draft.cluster is not None:
            clusters.setdefault(draft.cluster, []).append(draft)
    return [
        {
            "products": [_product_key(d, centers, styles)
                         for d in sorted(members, key=lambda d: d.center)],
            "topic": members[0].topics[0],
            "area": members[0].cluster_county,
        }
        for _, members in sorted(clusters.items())
    ]


# --- feeds ------------------------------------------------------------------------------


def _incident_canonical(events: Events, rows: np.ndarray, sequence: np.ndarray,
                        markup: np.ndarray, geography: StateGeography, span: TimeSpan,
                        style: IncidentStyle, rng: np.random.Generator) -> pl.DataFrame:
    """One center's incidents in canonical form (taxonomy keys, UTC), in time order."""
    count = len(rows)
    occurred = events.occurred_s[rows]
    located = events.has_coordinates[rows]
    sector = events.sector[rows].astype(np.int64)
    sar = events.sar_behavior[rows].astype(np.int64)
    places = [(code, place) for code in ("", *SECTORS) for place in PLACES_BY_SECTOR[code]]
    place_offsets = np.cumsum([0, *[len(PLACES_BY_SECTOR[c]) for c in ("", *SECTORS)]])
    place_counts = np.diff(place_offsets)
    place = place_offsets[sector + 1] + (rng.random(count) * place_counts[sector + 1]).astype(
        np.int64)
    local_hour = ((occurred + span.utc_offset_s) // 3600) % 24
    frame = pl.DataFrame({
        SEQUENCE: sequence[rows],
        "occurred_at": _utc(occurred),
        "reported_at": _utc(occurred + events.delay_s[rows]),
        "category_number": events.category[rows].astype(np.int64),
        "county_number": events.county[rows].astype(np.int64),
        "latitude": np.where(located, events.latitude[rows], np.nan),
        "longitude": np.where(located, events.longitude[rows], np.nan),
        "sector_number": sector,
        "sar_number": sar,
        "severity": events.severity[rows].astype(np.int64),
        "tlp": tlp_marking(events.tlp[rows]),
        "template": (events.category[rows].astype(np.int64) * NARRATIVES_PER_CATEGORY
                     + events.template[rows]),
        "place_number": place,
        "daypart_number": local_hour // 6,
        "markup_number": np.where(np.isin(rows, markup), rng.integers(
            len(MARKUP_NARRATIVES), size=count), -1),
        BLANK_TLP: rng.random(count) < style.blank_tlp_share,
        HIDE_COUNTY: located & (rng.random(count) < style.coordinates_only_share),
    }).with_columns(pl.col("latitude", "longitude").fill_nan(None))
    county_labels = {n: geography.county_label(n) for n in range(geography.county_count)}
    frame = frame.with_columns(
        pl.col("category_number").replace_strict(dict(enumerate(CATEGORIES)),
                                                 return_dtype=pl.String).alias("category"),
        pl.col("county_number").replace_strict(dict(enumerate(geography.fips.tolist())),
                                               return_dtype=pl.String).alias("county_fips"),
        pl.col("county_number").replace_strict(county_labels, return_dtype=pl.String)
        .alias("county"),
        pl.col("sector_number").replace_strict(dict(enumerate(SECTORS)), default=None,
                                               return_dtype=pl.String).alias("target_sector"),
        pl.col("sar_number").replace_strict(dict(enumerate(SAR_BEHAVIORS)), default=None,
                                            return_dtype=pl.String).alias("sar_behavior"),
        pl.col("place_number").replace_strict(dict(enumerate(p for _, p in places)),
                                              return_dtype=pl.String).alias("place"),
        pl.col("daypart_number").replace_strict(dict(enumerate(DAYPARTS)),
                                                return_dtype=pl.String).alias("daypart"),
    )
    return _with_narratives(frame).with_columns(
        pl.lit(None, pl.String).alias(DEFECT), pl.lit(None, pl.String).alias(MISSING_FIELD))


def _with_narratives(frame: pl.DataFrame) -> pl.DataFrame:
    """Fill each row's template, one template at a time (each row is formatted once)."""
    templates = [text for key in CATEGORIES for text in NARRATIVES[key]]
    indexed = frame.with_row_index("_position")
    parts = []
    for number, part in indexed.partition_by("template", as_dict=True).items():
        parts.append(part.select("_position", template_expr(templates[number[0]])
                                 .alias("narrative")))
    narratives = pl.concat(parts).sort("_position")["narrative"]
    markup = pl.col("markup_number").replace_strict(
        dict(enumerate(MARKUP_NARRATIVES)), default=None, return_dtype=pl.String)
    return frame.with_columns(narratives.alias("narrative")).with_columns(
        pl.coalesce(markup, pl.col("narrative")).alias("narrative"))


def _utc(epoch_s: np.ndarray) -> pl.Series:
    return pl.Series(epoch_s * 1_000_000, dtype=pl.Int64).cast(pl.Datetime("us")).dt.\
        replace_time_zone("UTC")


def _bad_copies(valid: pl.DataFrame, kinds: tuple[str, ...], per_kind: int,
                missing_fields: tuple[str, ...], rng: np.random.Generator) -> pl.DataFrame:
    """Copies of random valid rows with fresh sequence numbers, each given one defect."""
    total = len(kinds) * per_kind
    sources = rng.choice(valid.height, size=total, replace=False)
    defects = [kind for kind in kinds for _ in range(per_kind)]
    missing = [missing_fields[i % len(missing_fields)] if kind == "missing_required" else None
               for i, kind in enumerate(defects)]
    copies = valid[sources].with_columns(
        pl.Series(SEQUENCE, valid.height + 1 + np.arange(total), dtype=pl.Int64),
        pl.Series(DEFECT, defects, dtype=pl.String),
        pl.Series(MISSING_FIELD, missing, dtype=pl.String),
    )
    if BLANK_TLP in copies.columns:
        copies = copies.with_columns(pl.lit(False).alias(BLANK_TLP), pl.lit(False).alias(
            HIDE_COUNTY))
    return copies


def _interleave(valid: pl.DataFrame, bad: pl.DataFrame, rng: np.random.Generator
                ) -> tuple[pl.DataFrame, np.ndarray]:
    """Valid rows in order with the bad rows scattered among them; returns the bad rows'
    0-based positions in the result, in the order of ``bad``."""
    total = valid.height + bad.height
    bad_positions = np.sort(rng.choice(total, size=bad.height, replace=False))
    is_bad = np.zeros(total, dtype=bool)
    is_bad[bad_positions] = True
    combined = pl.concat([
        valid.with_columns(pl.Series("_position", np.flatnonzero(~is_bad))),
        bad.with_columns(pl.Series("_position", bad_positions)),
    ]).sort("_position").drop("_position")
    return combined, bad_positions


def _write_incident_feed(world: World, plan: IncidentPlan, center_number: int,
                         feeds_dir: Path, today: date, rng: np.random.Generator
                         ) -> list[dict[str, Any]]:
    center = world.centers[center_number]
    style = plan.styles[center_number][0]
    geography = world.geography
    rows = np.flatnonzero(plan.events.center == center_number)
    canonical = _incident_canonical(plan.events, rows, plan.sequence, plan.markup, geography,
                                    world.span, style, rng)
    bad = _bad_copies(canonical, style.defects(), BAD_ROWS_PER_KIND,
                      ("incident_id", "category"), rng)
    combined, positions = _interleave(canonical, bad, rng)
    west, _, east, north = geography.bounds
    frame = feeds.incident_feed_frame(
        combined, style, code=center.code, timezone=world.span.timezone,
        state_fips=geography.state_fips, outside_point=((west + east) / 2, north + 0.75),
        today=today)
    path = feeds_dir / feeds.feed_file_name(center.id, style.suffix)
    path.unlink(missing_ok=True)
    feeds.write_incident_feed(frame, style, path, datetime.combine(today, time()))
    first_row = FIRST_ROW_NUMBER[style.kind]
    return [
        {"center_id": center.id, "source": "incidents", "row": int(position) + first_row,
         "field": missing if kind == "missing_required" else BAD_ROW_FIELDS[kind],
         "kind": kind}
        for position, kind, missing in zip(positions, bad[DEFECT], bad[MISSING_FIELD],
                                           strict=True)
    ]


def _write_product_feed(drafts: list[ProductDraft], center: CenterPlan, style: ProductStyle,
                        incident_style: IncidentStyle, feeds_dir: Path, world: World,
                        today: date, rng: np.random.Generator) -> list[dict[str, Any]]:
    list_type = pl.List(pl.String)
    canonical = pl.DataFrame({
        SEQUENCE: [d.sequence for d in drafts],
        "title": [d.title for d in drafts],
        "product_type": [d.product_type for d in drafts],
        "published_at": _utc(np.array([d.published_s for d in drafts], dtype=np.int64)),
        "topics": [d.topics for d in drafts],
        "county_fips": [d.counties for d in drafts],
        "region": [d.regions for d in drafts],
        "statewide": [d.statewide for d in drafts],
        "audience": [d.audience for d in drafts],
        "tlp": [d.tlp for d in drafts],
        "summary": [d.summary for d in drafts],
        "incident_ids": [[feeds.feed_id(incident_style.id_format, center.code,
                                        incident_style.id_digits, number)
                          for number in d.incident_sequences] for d in drafts],
    }, schema_overrides={"topics": list_type, "county_fips": list_type, "region": list_type,
                         "incident_ids": list_type, SEQUENCE: pl.Int64}).with_columns(
        pl.lit(None, pl.String).alias(DEFECT), pl.lit(None, pl.String).alias(MISSING_FIELD))
    bad = _bad_copies(canonical, style.defects, 1, (style.missing_field,), rng)
    combined, positions = _interleave(canonical, bad, rng)
    frame = feeds.product_feed_frame(combined, style, code=center.code,
                                     timezone=world.span.timezone,
                                     state_fips=world.geography.state_fips, today=today)
    path = feeds_dir / feeds.feed_file_name(center.id, style.suffix)
    if style.kind != "sql":  # the sql style shares the incident database file
        path.unlink(missing_ok=True)
    feeds.write_product_feed(frame, style, path, center_id=center.id, as_of=today)
    first_row = FIRST_ROW_NUMBER[style.kind]
    return [
        {"center_id": center.id, "source": "products", "row": int(position) + first_row,
         "field": missing if kind == "missing_required" else (
             "published_at" if kind == "impossible_date" else BAD_ROW_FIELDS[kind]),
         "kind": kind}
        for position, kind, missing in zip(positions, bad[DEFECT], bad[MISSING_FIELD],
                                           strict=True)
    ]


# --- config -----------------------------------------------------------------------------


def _write_config(config_dir: Path, geography: StateGeography, centers: tuple[CenterPlan, ...],
                  styles: list[tuple[IncidentStyle, ProductStyle]]) -> None:
    header = "# Synthetic demo written by `threat-picture demo`: invented data, real geography.\n"
    settings = {"state": geography.state, "title": f"{geography.state_name} Threat Picture",
                "timezone": geography.timezone, "synthetic": True}
    (config_dir / "settings.toml").write_text(header + tomli_w.dumps(settings),
                                              encoding="utf-8")
    (config_dir / "taxonomy.toml").write_bytes((DEMO_DIR / "taxonomy.toml").read_bytes())
    regions = {"regions": [{"id": r.id, "name": r.name, "counties": list(r.counties)}
                           for r in geography.regions]}
    (config_dir / "regions.toml").write_text(header + tomli_w.dumps(regions), encoding="utf-8")
    entries = []
    for plan, (incident_style, product_style) in zip(centers, styles, strict=True):
        entry: dict[str, Any] = {"id": plan.id, "name": plan.name, "kind": plan.kind,
                                 "timezone": geography.timezone, "default_tlp": DEFAULT_TLP}
        if plan.statewide:
            entry["statewide"] = True
        if plan.aor_regions:
            entry["aor_regions"] = list(plan.aor_regions)
        if plan.aor_counties:
            entry["aor_counties"] = list(plan.aor_counties)
        entry["sources"] = [
            feeds.incident_source_config(
                incident_style, file_name=feeds.feed_file_name(plan.id, incident_style.suffix),
                timezone=geography.timezone),
            feeds.product_source_config(
                product_style, file_name=feeds.feed_file_name(plan.id, product_style.suffix),
                timezone=geography.timezone),
        ]
        entries.append(entry)
    (config_dir / "centers.toml").write_text(header + tomli_w.dumps({"centers": entries}),
                                             encoding="utf-8")
