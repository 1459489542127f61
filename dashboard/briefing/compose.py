"""Compose a briefing: the figures the pages show, for one filter, period and viewer, frozen
with their marking, key judgments and display tables.

Every figure comes from the page models the pages call (``overview_page``, ``map_page``,
``trends_page`` as Trends opens, ``coverage_page``, ``centers_page``), on the frames the marking
policy lets the requesting user see; so a number (and an anomaly) in a briefing is the one on
screen for the same filters and data version. Nothing here renders or writes files.

The handling marking is the most restrictive TLP among every record a figure draws on: the
incidents under the topic filters (statewide, because hot spots and the centers' comparison
are statewide) from the earliest day any figure reads (the CompStat year to date of last year)
to the period's end, and the products under the topic filter published by the period's end
(a gap's reason cites the latest product on record), raised to the configured minimum and to
the marking the author chose.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import sqlalchemy as sa

from dashboard.analytics.centers import CenterFigures
from dashboard.analytics.coverage import CoverageFigures, period_phrase
from dashboard.analytics.filters import (
    PERIOD_PRESETS,
    Filters,
    Period,
    incident_filter,
    period_of,
    to_query_params,
)
from dashboard.analytics.health import last_load_per_center
from dashboard.analytics.picture import Kpi, filtered_products
from dashboard.analytics.trends import (
    COMPSTAT_LABELS,
    COMPSTAT_WINDOWS,
    SeriesView,
    compstat_periods,
    compstat_totals,
    per_100k,
    region_residents,
    split_key,
)
from dashboard.frames import PictureFrames, load_health_frames, load_picture_frames
from dashboard.geo.population import state_county_population
from dashboard.pagemodels.centers import centers_page
from dashboard.pagemodels.coverage import coverage_page
from dashboard.pagemodels.map import map_page
from dashboard.pagemodels.overview import OverviewPage, overview_page
from dashboard.pagemodels.trends import trends_page
from dashboard.security.audience import ViewData
from dashboard.security.policy import (
    TLP_RANK,
    TLP_WORDING,
    Viewer,
    may_produce_briefing,
    most_restrictive,
    visibility_class,
    visible_frames,
)
from dashboard.settings import ProjectConfig
from dashboard.views.trends import rate_text, total_rates_text

BRIEFING_PERIODS = ("7d", "28d", "90d", "ytd")
FORMATS = ("pdf", "html")
SERIES_SPLIT = "category"
# Who produced a briefing and when: on its cover, but not part of what it says.
STAMP_FIELDS = ("generated_at", "generated_by", "generated_by_name", "generated_by_center")
NO_VALUE = "—"
ProgressCallback = Callable[[str, float], None]


class BriefingError(ValueError):
    """A briefing that cannot be made as asked (one line, for the CLI and the page)."""


@dataclass(frozen=True)
class BriefingTable:
    """One table as both formats show it: every cell already a display string (feed text
    unescaped: each renderer escapes for its own format)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...]  # relative column widths
    numeric: tuple[bool, ...]  # right-aligned columns
    note: str = ""
    empty: str = "None."
    total: bool = False  # the last row sums the others

    def __post_init__(self) -> None:
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"table {self.title!r}: two columns share a header")
        if not len(self.columns) == len(self.widths) == len(self.numeric):
            raise ValueError(f"table {self.title!r}: columns, widths and numeric differ in length")
        for row in self.rows:
            if not all(isinstance(cell, str) for cell in row):
                raise TypeError(f"table {self.title!r}: every cell must be text: {row!r}")
            if len(row) != len(self.columns):
                raise ValueError(f"table {self.title!r}: a row has {len(row)} cells, not "
                                 f"{len(self.columns)}")


@dataclass(frozen=True)
class Section:
    """A heading of the briefing with its text, tables and charts (by name), in order."""

    key: str
    heading: str
    intro: str = ""
    tables: tuple[str, ...] = ()
    charts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Briefing:
    """Everything one briefing says. ``generated_at`` is None until it is produced (a preview);
    the content hash covers every field but the generation stamp."""

    title: str
    state: str
    timezone: str
    period: Period
    period_name: str  # "Last 7 days"
    filters: Filters
    filter_lines: tuple[tuple[str, str], ...]
    audience: str | None
    audience_label: str
    data_version: int
    data_as_of: tuple[tuple[str, str], ...]  # (center name, last load in words)
    marking: str
    caveat: str
    synthetic: bool
    kpis: tuple[Kpi, ...]
    key_judgments: tuple[str, ...]
    sections: tuple[Section, ...]
    tables: Mapping[str, BriefingTable]
    # Chart data (the renderers draw them; the HTML with the pages' plotly builders).
    county_counts: pl.DataFrame  # counts_by_county under the filters
    hotspots: pl.DataFrame  # Gi* per county: county_fips, gi_bin, hotspot_class, ...
    county_to_region: Mapping[str, str]
    region_names: Mapping[str, str]
    category_labels: Mapping[str, str]
    series: SeriesView
    by_category: pl.DataFrame  # change_table by category
    rate_basis: str  # "per 100,000 residents, Census 2025 estimates"
    incidents_drawn_on: int
    products_drawn_on: int
    counts: Mapping[str, int]  # incidents, products, hot spots, gaps... (the manifest's)
    generated_by: str
    generated_by_name: str
    generated_by_center: str
    generated_at: datetime | None = None

    @property
    def marking_wording(self) -> str:
        return TLP_WORDING[self.marking]

    @property
    def records_drawn_on(self) -> int:
        return self.incidents_drawn_on + self.products_drawn_on

    def stamped(self, at: datetime) -> Briefing:
        """The briefing as produced at ``at`` (UTC)."""
        return replace(self, generated_at=at)

    def local_time(self, moment: datetime) -> str:
        return f"{moment.astimezone(ZoneInfo(self.timezone)):%Y-%m-%d %H:%M %Z}"

    @property
    def generated_text(self) -> str:
        when = ("not yet produced (preview)" if self.generated_at is None
                else self.local_time(self.generated_at))
        return f"{when} by {self.generated_by_name} ({self.generated_by})"

    @property
    def period_text(self) -> str:
        return f"{self.period_name}: {self.period.label()} ({self.period.days} days)"

    def content(self) -> dict[str, Any]:
        """What the briefing says, JSON-ready: every field but who produced it and when."""
        return {item.name: _plain(getattr(self, item.name)) for item in fields(self)
                if item.name not in STAMP_FIELDS}

    @property
    def content_hash(self) -> str:
        """SHA-256 of :meth:`content`: two briefings with the same hash say the same thing."""
        text = json.dumps(self.content(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    """A JSON-ready, deterministic form of a briefing field."""
    if isinstance(value, pl.DataFrame):
        return {"columns": value.columns,
                "rows": [[_plain(cell) for cell in row] for row in value.iter_rows()]}
    if isinstance(value, SeriesView):
        return {"split": value.split, "granularity": value.granularity,
                "rule": asdict(value.rule), "series": _plain(value.series)}
    if isinstance(value, Filters):
        return to_query_params(value)
    if isinstance(value, Period):
        return [value.start.isoformat(), value.end.isoformat()]
    if isinstance(value, Kpi | BriefingTable | Section):
        return {key: _plain(item) for key, item in asdict(value).items()}
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 9)
    return value


# --- formatting ------------------------------------------------------------------------------


def count_text(value: int | None) -> str:
    return NO_VALUE if value is None else f"{value:,}"


def change_text(value: int | None) -> str:
    return NO_VALUE if value is None else ("0" if value == 0 else f"{value:+,}")


def percent_text(value: float | None, current: int | None = None) -> str:
    """'+12.5 %'; 'new' when the previous count was 0 and there is a count now."""
    if value is None:
        return "new" if current else NO_VALUE
    return f"{value:+.1f} %"


def versus_before(current: int, previous: int | None) -> str:
    """'up 56 (+4.8 %) from 1,178 the period before', 'unchanged from ...', 'none ...'."""
    if previous is None:
        return ""
    if previous == 0:
        return "none the period before" if current else "none the period before either"
    change = current - previous
    if change == 0:
        return f"unchanged from {previous:,} the period before"
    return (f"{'up' if change > 0 else 'down'} {abs(change):,} "
            f"({100.0 * change / previous:+.1f} %) from {previous:,} the period before")


# --- what the briefing draws on ------------------------------------------------------------------


def earliest_day_read(period: Period, config: ProjectConfig) -> date:
    """The first day any figure of a briefing for ``period`` reads."""
    settings = config.settings.anomalies
    # The trend baseline's reach, rounded up to whole buckets (a series may be coarsened).
    baseline_days = max(settings.baseline_days, 7 * (settings.baseline_weeks + 1),
                        31 * (settings.baseline_months + 1))
    starts = [period.previous().start, period.start - timedelta(days=baseline_days),
              period.end - timedelta(days=config.settings.coverage.current_window_days - 1)]
    starts += [part.start for pair in compstat_periods(period.end).values() for part in pair]
    return min(starts)


def records_drawn_on(frames: PictureFrames, filters: Filters, period: Period,
                     config: ProjectConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The incidents and products a briefing's figures read (see the module docstring)."""
    topics_only = Filters(categories=filters.categories, sar_behaviors=filters.sar_behaviors,
                          target_sectors=filters.target_sectors, severities=filters.severities,
                          duplicates_once=False)
    window = Period(earliest_day_read(period, config), period.end)
    incidents = frames.incidents.filter(
        incident_filter(topics_only, config.county_to_region, window))
    products = filtered_products(frames.products, Filters(categories=filters.categories),
                                 config.county_to_region).filter(
        pl.col("published_date") <= period.end)
    return incidents, products


def briefing_marking(incidents: pl.DataFrame, products: pl.DataFrame,
                     floors: Sequence[str | None]) -> str:
    return most_restrictive([*incidents["tlp"].unique().to_list(),
                             *products["tlp"].unique().to_list(), *floors])


# --- composition -------------------------------------------------------------------------------


def compose_briefing(config: ProjectConfig, frames: PictureFrames, viewer: Viewer,
                     filters: Filters, today: date, *, audience: str | None = None,
                     marking_floor: str | None = None, last_loads: pl.DataFrame | None = None,
                     generated_at: datetime | None = None,
                     progress: ProgressCallback | None = None) -> Briefing:
    """The briefing ``viewer`` asked for. ``frames`` must already be cut by the marking policy
    to what the viewer may see (``visible_frames``); partners may not produce briefings."""
    report = progress or (lambda _step, _fraction: None)
    if not may_produce_briefing(viewer):
        raise BriefingError(f"user {viewer.username!r} is a partner: partners receive "
                            "briefings, they do not produce them")
    if audience is not None and audience not in config.taxonomy.audiences:
        raise BriefingError(f"unknown audience {audience!r} (known: "
                            f"{', '.join(config.taxonomy.audiences)})")
    if marking_floor is not None and marking_floor not in TLP_RANK:
        raise BriefingError(f"unknown marking {marking_floor!r}")
    if marking_floor is not None and TLP_RANK[marking_floor] > TLP_RANK[viewer.max_tlp]:
        raise BriefingError(f"{viewer.username!r} may not mark a briefing above {viewer.max_tlp}")
    period = period_of(filters, today)
    c2r = config.county_to_region
    settings = config.settings
    top = settings.briefing.top_rows
    labels = _labels(config)

    data = ViewData(visibility_class(viewer, frames.red_recipients), frames)
    report("headline figures", 0.05)
    overview = overview_page(config, data, filters, today)
    report("hot spots", 0.15)
    hotspots = map_page(config, data, filters, today).hotspots
    previous = period.previous()
    before_filters = filters.with_changes(period="custom", start=previous.start,
                                          end=previous.end)
    before = map_page(config, data, before_filters, today).hotspots
    report("trends", 0.3)
    # The Trends page as it opens (by category, per week): the same anomaly findings.
    trends = trends_page(config, data, filters, today, SERIES_SPLIT, "week")
    series, cells = trends.series, trends.cells
    compstat = trends.compstat_table
    report("coverage", 0.45)
    coverage = coverage_page(config, data, filters, today, "region").figures
    gaps_before = coverage_page(config, data, before_filters, today, "region").figures.gaps
    report("centers", 0.65)
    centers = centers_page(config, data, filters, today).figures
    report("marking", 0.8)
    incidents, products = records_drawn_on(frames, filters, period, config)
    marking = briefing_marking(incidents, products,
                               [settings.briefing.minimum_marking, marking_floor])
    in_period = next(kpi for kpi in overview.kpis if kpi.label == "Incidents").current
    products_in_period = next(kpi for kpi in overview.kpis if kpi.label == "Products").current

    population = state_county_population(settings.state)
    hot = hot_spots(hotspots, before, frames.regions, population)
    anomalies = _anomalies(series, cells, labels)
    new_gaps = coverage.gaps.join(gaps_before.select("topic", "area_id"),
                                  on=["topic", "area_id"], how="anti")
    phrase = period_phrase(filters, period)
    judgments = key_judgments(overview, hot, anomalies, coverage, new_gaps, labels, phrase,
                              settings.coverage.min_incidents)
    tables = {
        "kpis": kpi_table(overview.kpis, period),
        "hotspots": hotspot_table(hot.head(top), trends.rate_basis),
        "regions": change_rows("Incidents by region", overview.by_region, "region_id",
                               labels["region"], "Region",
                               region_residents(population, c2r, filters), trends.rate_basis),
        "categories": change_rows("Incidents by threat category", overview.by_category,
                                  "category", labels["category"], "Category"),
        "anomalies": anomaly_table(anomalies.head(top)),
        "compstat": compstat_rows(compstat, labels["category"], period.end,
                                  trends.compstat_residents, trends.compstat_total_rates,
                                  trends.rate_basis),
        "gaps": gap_table(coverage.gaps.head(top), new_gaps),
        "clusters": cluster_table(coverage, labels, top),
        "duplicates": duplicate_table(coverage.duplicate_pairs, labels["center"]),
        "centers": centers_table(centers, settings.timezone),
        "products": products_table(overview.latest.head(top), labels),
        "data_as_of": data_as_of_table(data_as_of(config, last_loads)),
    }
    report("done", 1.0)
    return Briefing(
        title=f"{settings.briefing.title}: {config.settings.title}",
        state=settings.state,
        timezone=settings.timezone,
        period=period,
        period_name=PERIOD_PRESETS[filters.period],
        filters=filters,
        filter_lines=filter_lines(filters, config),
        audience=audience,
        audience_label=config.taxonomy.audiences.get(audience, "not stated")
        if audience else "not stated",
        data_version=frames.data_version,
        data_as_of=data_as_of(config, last_loads),
        marking=marking,
        caveat=settings.briefing.caveat,
        synthetic=settings.synthetic,
        kpis=tuple(overview.kpis),
        key_judgments=tuple(judgments),
        sections=_sections(period, settings.coverage.current_window_days,
                           series.granularity),
        tables=tables,
        county_counts=overview.county_counts.select(
            "county_fips", "county_name", "region_id", "incidents", "per_1000_km2"),
        hotspots=hotspots.select("county_fips", "incidents", "z_score", "confidence",
                                 "gi_bin", "hotspot_class"),
        county_to_region=dict(c2r),
        region_names=labels["region"],
        category_labels=labels["category"],
        series=series,
        by_category=overview.by_category,
        rate_basis=trends.rate_basis,
        incidents_drawn_on=incidents.height,
        products_drawn_on=products.height,
        counts={"incidents": in_period, "products": products_in_period,
                "incidents_drawn_on": incidents.height, "products_drawn_on": products.height,
                "hot_spots": hot.height, "new_hot_spots": int(hot["new"].sum()),
                "anomalies": anomalies.height, "gaps": coverage.gaps.height,
                "new_gaps": new_gaps.height, "near_duplicate_clusters": coverage.clusters.height,
                "cells_covered_twice": coverage.overlaps.height},
        generated_by=viewer.username,
        generated_by_name=viewer.display_name,
        generated_by_center=viewer.center_id,
        generated_at=generated_at,
    )


def compose_from_store(engine: sa.Engine, config: ProjectConfig, viewer: Viewer,
                       filters: Filters, today: date, **options: Any) -> Briefing:
    """:func:`compose_briefing` on the store's frames as the marking policy cuts them for
    ``viewer``, with each center's last load (the command line's and the tests' way in)."""
    if not may_produce_briefing(viewer):
        raise BriefingError(f"user {viewer.username!r} is a partner: partners receive "
                            "briefings, they do not produce them")
    frames = visible_frames(viewer, load_picture_frames(engine, config.settings.timezone,
                                                         config.settings.network))
    last_loads = last_load_per_center(load_health_frames(engine))
    return compose_briefing(config, frames, viewer, filters, today, last_loads=last_loads,
                            **options)


def _labels(config: ProjectConfig) -> dict[str, dict[str, str]]:
    categories = {key: value.label for key, value in config.taxonomy.categories.items()}
    regions = {region.id: region.name for region in config.regions}
    centers = {center.id: center.name for center in config.centers}
    return {"category": categories, "region": regions, "center": centers,
            "product_type": dict(config.taxonomy.product_types),
            "county": dict(config.county_names), "category_region": categories | regions}


def filter_lines(filters: Filters, config: ProjectConfig) -> tuple[tuple[str, str], ...]:
    """The filters in words: place, categories and duplicates always, the others when chosen,
    then the ones not used."""
    labels = _labels(config)
    taxonomy = config.taxonomy

    def named(values: Sequence[Any], names: Mapping[str, str]) -> str:
        return ", ".join(names.get(str(value), str(value)) for value in values)

    place = []
    if filters.regions:
        place.append(f"regions {named(filters.regions, labels['region'])}")
    if filters.counties:
        counties = {fips: f"{name} County" for fips, name in labels["county"].items()}
        place.append(f"counties {named(filters.counties, counties)}")
    whole = "Network-wide" if config.settings.network else "Statewide"
    lines = [("Place", "; ".join(place) if place else f"{whole} ({config.settings.state})"),
             ("Threat categories", named(filters.categories, labels["category"]) or "All")]
    optional = (("SAR behaviours", named(filters.sar_behaviors, taxonomy.sar_behaviors)),
                ("Target sectors", named(filters.target_sectors, taxonomy.target_sectors)),
                ("Reporting centers", named(filters.centers, labels["center"])),
                ("Severities", ", ".join(str(s) for s in filters.severities)))
    lines += [(name, value) for name, value in optional if value]
    lines.append(("Duplicates", "an event two centers reported counts once"
                  if filters.duplicates_once else "every report counts"))
    unused = [name for name, value in optional if not value]
    if unused:
        lines.append(("Not filtered by", ", ".join(unused)))
    return tuple(lines)


def data_as_of(config: ProjectConfig, last_loads: pl.DataFrame | None
               ) -> tuple[tuple[str, str], ...]:
    """Each configured center's last load, in the deployment's time zone ('never' without)."""
    loaded: dict[str, datetime] = {}
    if last_loads is not None:
        loaded = {row["center_id"]: row["last_loaded_at"]
                  for row in last_loads.iter_rows(named=True)}
    zone = ZoneInfo(config.settings.timezone)
    return tuple(
        (center.name, f"{loaded[center.id].astimezone(zone):%Y-%m-%d %H:%M %Z}"
         if loaded.get(center.id) is not None else "never")
        for center in config.centers)


def hot_spots(now: pl.DataFrame, before: pl.DataFrame, regions: pl.DataFrame,
              population: pl.DataFrame) -> pl.DataFrame:
    """Hot spots (Gi*, 90 % or more) hottest first, with their incidents per 100,000 residents
    (``per_100k``) and ``new`` when the county was not one the period before."""
    hot_before = before.filter(pl.col("gi_bin") > 0).select("county_fips").with_columns(
        pl.lit(False).alias("new"))
    return now.filter(pl.col("gi_bin") > 0).join(
        regions.select("county_fips", "county_name", "region_name"), on="county_fips",
        how="left").join(hot_before, on="county_fips", how="left").join(
        population.select("county_fips", "population"), on="county_fips", how="left"
    ).with_columns(
        pl.col("new").fill_null(True),
        per_100k(pl.col("incidents"), pl.col("population")).alias("per_100k"),
    ).sort(["z_score", "county_fips"], descending=[True, False])


def _anomalies(series: SeriesView, cells: SeriesView,
               labels: Mapping[str, Mapping[str, str]]) -> pl.DataFrame:
    """The anomalies of the category series and of each category within each region, as the
    Trends page lists them, most significant first."""
    def named(found: pl.DataFrame, names: Mapping[str, str], level: str) -> pl.DataFrame:
        return found.with_columns(
            pl.col("series").map_elements(
                lambda key: " in ".join(names.get(part, part) for part in split_key(key)),
                return_dtype=pl.String).alias("name"),
            pl.lit(level).alias("level"))

    return pl.concat([named(series.anomalies, labels["category"], "Category"),
                      named(cells.anomalies, labels["category_region"], "Category in region")]
                     ).sort(["p_value", "name"])


# --- key judgments -------------------------------------------------------------------------------


def _rises(table: pl.DataFrame, column: str, names: Mapping[str, str], count: int = 2
           ) -> list[str]:
    rising = table.filter((pl.col("change") > 0) & pl.col(column).is_not_null()).head(count)
    return [f"{names.get(row[column], row[column])} ({row['current']:,}, up {row['change']:,}"
            + (f", {row['change_pct']:+.0f} %" if row["change_pct"] is not None else ", new")
            + ")" for row in rising.iter_rows(named=True)]


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _listed(items: Sequence[str]) -> str:
    # Semicolons: region and center names often hold an "and" themselves.
    return "; ".join(items)


def key_judgments(overview: OverviewPage, hot: pl.DataFrame, anomalies: pl.DataFrame,
                  coverage: CoverageFigures, new_gaps: pl.DataFrame,
                  labels: Mapping[str, Mapping[str, str]], phrase: str,
                  min_incidents: int) -> list[str]:
    """Short sentences with the headline figures, each generated from them."""
    kpi = {item.label: item for item in overview.kpis}
    incidents, sars = kpi["Incidents"], kpi["SARs"]
    sentences = [
        f"{incidents.current:,} incidents {phrase}, "
        f"{versus_before(incidents.current, incidents.previous)}.",
        f"{sars.current:,} suspicious activity reports (SARs), "
        f"{versus_before(sars.current, sars.previous)}.",
    ]
    categories = _rises(overview.by_category, "category", labels["category"])
    sentences.append(f"Largest increases by category: {_listed(categories)}." if categories
                     else "No threat category rose against the period before.")
    regions = _rises(overview.by_region, "region_id", labels["region"])
    sentences.append(f"Largest increases by region: {_listed(regions)}." if regions
                     else "No region rose against the period before.")
    if hot.is_empty():
        sentences.append("No county is a statistically significant hot spot (Getis-Ord Gi*) "
                         "for these categories.")
    else:
        named = [f"{row['county_name']} ({row['confidence']} %"
                 + (", new" if row["new"] else "") + ")" for row in hot.head(5).iter_rows(
                     named=True)]
        more = f" and {hot.height - 5} more" if hot.height > 5 else ""
        new = int(hot["new"].sum())
        noun = "county is a hot spot" if hot.height == 1 else "counties are hot spots"
        sentences.append(f"{hot.height} {noun} (Getis-Ord Gi*, 90 % confidence or more): "
                         f"{', '.join(named)}{more}"
                         + (f"; {new} new since the period before." if new else "."))
    if not anomalies.is_empty():
        first = anomalies.row(0, named=True)
        their = "its baseline" if anomalies.height == 1 else "their baselines"
        sentences.append(
            f"{anomalies.height} series rose significantly above {their}; the strongest: "
            f"{first['name']}, "
            f"{first['start']:%d %b} – {first['end']:%d %b}, {first['incidents']:,} incidents "
            f"against {first['expected']:,.1f} expected.")
    gaps = coverage.gaps
    if gaps.is_empty():
        sentences.append(f"No coverage gap: every topic and region with {min_incidents} or "
                         "more incidents has current analytic coverage.")
    else:
        worst = gaps.row(0, named=True)
        fresh = ("" if not new_gaps.height else " It is new since the period before."
                 if gaps.height == 1 else f" {new_gaps.height} of them are new since the "
                 "period before.")
        sentences.append(f"{gaps.height} coverage {'gap' if gaps.height == 1 else 'gaps'}; "
                         f"the worst: {worst['reason']}.{fresh}")
    clusters = coverage.clusters
    if clusters.is_empty():
        sentences.append("No near-duplicate products from different centers.")
    else:
        biggest = clusters.sort(["size", "cluster"], descending=[True, False]).row(0, named=True)
        centers = _and([labels["center"].get(c, c) for c in biggest["centers"]])
        topics = _and([labels["category"].get(t, t) for t in biggest["topics"]])
        sentences.append(
            f"{clusters.height} {'cluster' if clusters.height == 1 else 'clusters'} of "
            f"near-duplicate products from different centers; the largest: "
            f"{biggest['size']} products by {centers} on {topics}.")
    if not coverage.overlaps.is_empty():
        sentences.append(f"{coverage.overlaps.height} topic and region "
                         f"{'cell is' if coverage.overlaps.height == 1 else 'cells are'} "
                         "covered by two or more centers at once.")
    return sentences


# --- tables --------------------------------------------------------------------------------------


def kpi_table(kpis: Sequence[Kpi], period: Period) -> BriefingTable:
    rows = tuple((kpi.label, count_text(kpi.current), count_text(kpi.previous),
                  change_text(kpi.change), percent_text(kpi.change_pct, kpi.current)
                  if kpi.previous is not None else NO_VALUE) for kpi in kpis)
    return BriefingTable(
        "Headline figures", ("Measure", "This period", "Period before", "Change", "Change %"),
        rows, (3, 1.3, 1.3, 1.1, 1.1), (False, True, True, True, True),
        note=f"This period: {period.label()}; the period before: {period.previous().label()}.")


def change_rows(title: str, table: pl.DataFrame, column: str, names: Mapping[str, str],
                header: str, residents: Mapping[str, int | None] | None = None,
                rate_basis: str = "") -> BriefingTable:
    """Counts by ``column`` against the period before; with ``residents`` (by key), each
    count's rate per 100,000 of them beside it ('—' where they are unknown)."""
    rows: tuple[tuple[str, ...], ...]
    if residents is None:
        rows = tuple((names.get(row[column], row[column] or "Unknown"),
                      count_text(row["current"]), count_text(row["previous"]),
                      change_text(row["change"]), percent_text(row["change_pct"], row["current"]))
                     for row in table.iter_rows(named=True))
        return BriefingTable(
            title, (header, "This period", "Period before", "Change", "Change %"), rows,
            (3, 1.3, 1.3, 1.1, 1.1), (False, True, True, True, True),
            empty="No incident under these filters.")
    rated = table.with_columns(
        pl.col(column).replace_strict(dict(residents), default=None, return_dtype=pl.Int64)
        .alias("population")).with_columns(
        per_100k(pl.col("current"), pl.col("population")).alias("per_100k"),
        per_100k(pl.col("previous"), pl.col("population")).alias("previous_per_100k"))
    rows = tuple((names.get(row[column], row[column] or "Unknown"), count_text(row["current"]),
                  rate_text(row["per_100k"]), count_text(row["previous"]),
                  rate_text(row["previous_per_100k"]), change_text(row["change"]),
                  percent_text(row["change_pct"], row["current"]))
                 for row in rated.iter_rows(named=True))
    return BriefingTable(
        title, (header, "This period", "Per 100k", "Period before", "Per 100k before", "Change",
                "Change %"), rows, (3, 1.2, 1.1, 1.2, 1.1, 1.1, 1.1),
        (False, True, True, True, True, True, True),
        note=f"Per 100k: incidents {rate_basis}; a region's residents are those of its "
        "counties under the place filter."
        + (f" {NO_VALUE}: a county without an estimate." if rated["population"].has_nulls()
           else ""),
        empty="No incident under these filters.")


def hotspot_table(hot: pl.DataFrame, rate_basis: str) -> BriefingTable:
    rows = tuple((row["county_name"] or row["county_fips"], row["region_name"] or "",
                  count_text(int(row["incidents"])), rate_text(row["per_100k"]),
                  f"{row['z_score']:.2f}", f"{row['confidence']} %",
                  "yes" if row["new"] else "") for row in hot.iter_rows(named=True))
    return BriefingTable(
        "Hot spots", ("County", "Region", "Incidents", "Per 100k", "z-score", "Confidence",
                      "New"),
        rows, (2.2, 2.2, 1.1, 1.1, 1, 1.1, 1.1), (False, False, True, True, True, True, False),
        note="Getis-Ord Gi* over the whole state for the period and categories (a county and "
        "its neighbours against the statewide mean); new: not a hot spot the period before. "
        f"Per 100k: incidents {rate_basis}.",
        empty="No statistically significant hot spot.")


def anomaly_table(anomalies: pl.DataFrame) -> BriefingTable:
    rows = tuple((row["name"], row["level"], f"{row['start']:%d %b %Y}",
                  f"{row['end']:%d %b %Y}", count_text(row["incidents"]),
                  f"{row['expected']:,.1f}", f"{row['ratio']:.1f}", f"{row['adjusted_p']:.1e}")
                 for row in anomalies.iter_rows(named=True))
    return BriefingTable(
        "Anomalies", ("Series", "Series of", "From", "To", "Observed", "Expected",
                      "× baseline", "Adjusted p"),
        rows, (2.6, 1.5, 1.1, 1.1, 1, 1, 0.9, 1), (False, False, False, False, True, True,
                                                    True, True),
        note="Buckets whose count is significantly above the series' trailing baseline "
        "(the Trends page's rule, settings.toml [anomalies]).",
        empty="No series rose significantly above its baseline.")


def compstat_rows(table: pl.DataFrame, names: Mapping[str, str], as_of: date,
                  residents: int | None,
                  total_rates: Mapping[str, tuple[float | None, float | None]],
                  rate_basis: str) -> BriefingTable:
    columns = ["Category"]
    for window in COMPSTAT_WINDOWS:
        span = "Year" if window == "ytd" else COMPSTAT_LABELS[window].removeprefix("Last ")
        prior = "Same span last year" if window == "ytd" else f"{span} before"
        columns += [COMPSTAT_LABELS[window], prior, f"{span} %"]
    rows = [tuple([names.get(row["category"], row["category"])]
                  + [text for window in COMPSTAT_WINDOWS for text in (
                      count_text(row[window]), count_text(row[f"{window}_prior"]),
                      percent_text(row[f"{window}_change_pct"], row[window]))])
            for row in table.iter_rows(named=True)]
    total = ["Total"]
    for kpi in compstat_totals(table):
        total += [count_text(kpi.current), count_text(kpi.previous),
                  percent_text(kpi.change_pct, kpi.current)]
    rows.append(tuple(total))
    return BriefingTable(
        "CompStat", tuple(columns), tuple(rows), (2.4,) + (1.0, 1.0, 0.95) * 3,
        (False,) + (True,) * 9, total=True,
        note=f"As of {as_of:%d %b %Y}, under every filter but the period; the year to date is "
        "compared with the same span of last year. " + _total_rates_text(residents, total_rates,
                                                                         rate_basis))


def _total_rates_text(residents: int | None,
                      total_rates: Mapping[str, tuple[float | None, float | None]],
                      rate_basis: str) -> str:
    """The CompStat total's rates in words."""
    if residents is None:
        return f"No rate {rate_basis}: a county of the place shown has no estimate."
    return (f"Total {rate_basis} ({residents:,} residents of the place shown): "
            f"{total_rates_text(total_rates)}.")


def gap_table(gaps: pl.DataFrame, new_gaps: pl.DataFrame) -> BriefingTable:
    new = {(row["topic"], row["area_id"]) for row in new_gaps.iter_rows(named=True)}
    rows = tuple((str(rank), row["topic_label"], row["area_label"], f"{row['score']:.2f}",
                  count_text(row["incidents"]),
                  f"{row['current_products']} of {row['needed_products']}",
                  row["reason"] + (" (new)" if (row["topic"], row["area_id"]) in new else ""))
                 for rank, row in enumerate(gaps.iter_rows(named=True), start=1))
    return BriefingTable(
        "Top coverage gaps", ("#", "Topic", "Region", "Score", "Incidents", "Products",
                              "Why"), rows, (0.4, 1.4, 1.4, 0.8, 1, 1, 5),
        (True, False, False, True, True, True, False),
        note="Products: current products covering the cell of those its activity needs; "
        "'(new)': not a gap the period before.",
        empty="No coverage gap under these filters.")


def cluster_table(coverage: CoverageFigures, labels: Mapping[str, Mapping[str, str]],
                  top: int) -> BriefingTable:
    members = coverage.cluster_members
    rows = []
    for row in coverage.clusters.head(top).iter_rows(named=True):
        products = members.filter(pl.col("cluster") == row["cluster"])
        titles = "; ".join(f"{m['center_id'].upper()}: {m['title']}"
                           for m in products.iter_rows(named=True))
        rows.append((str(row["cluster"]),
                     ", ".join(labels["center"].get(c, c) for c in row["centers"]),
                     ", ".join(labels["category"].get(t, t) for t in row["topics"]),
                     f"{row['first_published']:%d %b} – {row['last_published']:%d %b %Y}",
                     f"{row['similarity']:.2f}", titles))
    return BriefingTable(
        "Near-duplicate products", ("#", "Centers", "Topics", "Published", "Similarity",
                                    "Products"), tuple(rows), (0.4, 1.8, 1.3, 1.3, 0.9, 4),
        (True, False, False, False, True, False),
        note=f"Products of different centers on a shared topic and area, published "
        f"{coverage.product_window.label()}, with similar titles and summaries.",
        empty="No near-duplicate products from different centers.")


def duplicate_table(pairs: pl.DataFrame, names: Mapping[str, str]) -> BriefingTable:
    rows = tuple((names.get(row["center_a"], row["center_a"]),
                  names.get(row["center_b"], row["center_b"]), count_text(row["duplicates"]))
                 for row in pairs.iter_rows(named=True))
    return BriefingTable("Incidents reported by two centers",
                         ("Center A", "Center B", "Duplicate reports"), rows, (3, 3, 1.4),
                         (False, False, True), empty="No duplicate reports in the period.")


def _hours(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f} h"


def centers_table(figures: CenterFigures, timezone: str) -> BriefingTable:
    zone = ZoneInfo(timezone)
    rows = tuple((row["name"] or row["center_id"] or "unknown",
                  (row["kind"] or "").replace("_", " "), count_text(row["incidents"]),
                  NO_VALUE if row["share_pct"] is None else f"{row['share_pct']:.1f} %",
                  count_text(row["products"]), _hours(row["median_lag_h"]),
                  _hours(row["p90_lag_h"]),
                  NO_VALUE if row["outside_aor_pct"] is None
                  else f"{row['outside_aor_pct']:.1f} %",
                  NO_VALUE if row["last_report_at"] is None
                  else f"{row['last_report_at'].astimezone(zone):%d %b %Y}")
                 for row in figures.summary.iter_rows(named=True))
    return BriefingTable(
        "Centers", ("Center", "Kind", "Incidents", "Share", "Products", "Median lag",
                    "90 % within", "Outside AOR", "Last report"), rows,
        (2.6, 1.1, 1, 0.9, 0.9, 1, 1, 1, 1.2), (False, False, True, True, True, True, True,
                                                 True, False),
        note="Each center is credited with every report it filed (an event two centers "
        "reported counts for both); lag from occurrence to report.")


def products_table(latest: pl.DataFrame, labels: Mapping[str, Mapping[str, str]]
                   ) -> BriefingTable:
    rows = tuple((f"{row['published_date']:%d %b %Y}",
                  labels["center"].get(row["center_id"], row["center_id"]), row["title"],
                  labels["product_type"].get(row["product_type"], row["product_type"]),
                  row["tlp"]) for row in latest.iter_rows(named=True))
    return BriefingTable("Latest products", ("Published", "Center", "Title", "Type", "Marking"),
                         rows, (1.2, 2, 4, 1.1, 1.5), (False,) * 5,
                         empty="No product on these topics and places in the period.")


def data_as_of_table(loads: Sequence[tuple[str, str]]) -> BriefingTable:
    return BriefingTable("Data as of", ("Center", "Last load"), tuple(loads), (3, 2),
                         (False, False))


def _sections(period: Period, window_days: int, granularity: str) -> tuple[Section, ...]:
    return (
        Section("judgments", "Key judgments"),
        Section("headline", "Headline figures", tables=("kpis",)),
        Section("trends", "Trends", intro=f"Incidents per {granularity} by threat category in "
                f"the period, with each series' trailing baseline.",
                tables=("categories", "anomalies"), charts=("series", "categories")),
        Section("where", "Where", intro="Incidents per county under the filters, and the "
                "statistically significant hot spots over the whole state, with the regions "
                "outlined.", tables=("hotspots", "regions"), charts=("map",)),
        Section("compstat", "CompStat", tables=("compstat",)),
        Section("coverage", "Coverage gaps and redundancy",
                intro=f"A gap is a topic and region with real activity in the period and no, "
                f"or too little, current analytic product (published in the {window_days} "
                f"days to {period.end:%d %b %Y}).",
                tables=("gaps", "clusters", "duplicates")),
        Section("centers", "Centers", tables=("centers",)),
        Section("products", "Latest products", tables=("products",)),
        Section("about", "About this briefing", tables=("data_as_of",)),
    )
