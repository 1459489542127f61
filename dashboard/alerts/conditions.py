"""What each alert condition finds, computed by the page models on the data the rule's owner
receives (their visibility class's view, partners their release), so an alert's numbers are
the numbers of the view it links to.

Each condition returns :class:`Candidate` firings of what holds now. A candidate's ``keys``
say what holds (a hot spot's county and pattern, an anomaly's series and bucket, a gap's cell,
a cluster's products); the evaluation fires those with a key that did not hold at the rule's
previous evaluation (``new_incident``: every incident not alerted yet), once per
``event_key``. What each condition means precisely is in the README ("Alerts").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from math import ceil
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import shapely

from dashboard.alerts.rules import AlertRule
from dashboard.analytics.coverage import Level
from dashboard.analytics.filters import Filters, Period, incident_filter, selected_counties
from dashboard.analytics.picture import filtered_products
from dashboard.pagemodels.coverage import coverage_page
from dashboard.pagemodels.emerging import emerging_view
from dashboard.pagemodels.trends import trends_page
from dashboard.security.audience import ViewData
from dashboard.settings import ProjectConfig

# Emerging hot spot patterns that alert (of hot spots; cold spots never do).
ALERTING_PATTERNS = ("new", "intensifying")
GRANULARITY_WORDS = {"day": "day", "week": "week", "month": "month"}

DrawnOn = Callable[[], tuple[list[str], int]]  # the markings and the count of the records


@dataclass(frozen=True)
class Candidate:
    """One firing, if what it reports is new."""

    keys: frozenset[str]  # what holds (kept as the rule's state)
    event_key: str  # the event: at most one alert per rule and event key
    sentence: str  # why, in one sentence with the numbers
    page: str  # url path of the view that shows it
    view: Filters  # that view's filters
    drawn_on: DrawnOn  # computed only for the candidates that fire


@dataclass(frozen=True)
class Scope:
    """One rule's evaluation: the owner's data and the rule."""

    config: ProjectConfig
    data: ViewData
    today: date
    rule: AlertRule
    touched: tuple[str, ...]  # counties the rule's geofence touches
    # new_incident: the incidents (center_id, incident_id) written since the rule's watermark;
    # None: every incident in the window (`alerts test`).
    changed: pl.DataFrame | None = None

    @property
    def window(self) -> Period:
        return Period(self.today - timedelta(days=self.rule.window - 1), self.today)

    def county_filters(self) -> Filters:
        """The rule's filters with the geofence as the counties it touches."""
        return self.rule.filters(self.touched)

    def windowed(self, filters: Filters, period: Period) -> Filters:
        return filters.with_changes(period="custom", start=period.start, end=period.end)

    def label(self, vocabulary: str, key: str | None) -> str:
        if key is None:
            return "unknown"
        return self.config.labels[vocabulary].get(key, key)

    def topics(self, categories: Iterable[str] = ()) -> str:
        """'Gangs + Narcotics', or 'all' for every category."""
        chosen = list(categories) or list(self.rule.categories)
        return " + ".join(self.label("category", key) for key in chosen) if chosen else "all"

    def incidents_of(self, count: int) -> str:
        """'12 Gangs incidents', '1 incident' (no topic: every category)."""
        noun = "incident" if count == 1 else "incidents"
        topics = f"{self.topics()} " if self.rule.categories else ""
        return f"{count:,} {topics}{noun}"

    def place(self, filters: Filters) -> str:
        """The place of ``filters`` in words."""
        parts = [f"{self.label('region', key)} region" for key in filters.regions]
        parts += [f"{self.label('county', key)} County" for key in filters.counties]
        return ", ".join(parts) if parts else self.config.settings.state


def area_mask(rows: pl.DataFrame, rule: AlertRule, county_to_region: Mapping[str, str]
              ) -> np.ndarray:
    """Which incident rows are in the rule's area: their county is one of its regions' or
    counties', or their coordinates fall inside its geofence (no area: all)."""
    named = selected_counties(rule.filters(), county_to_region)
    if named is None and rule.shape is None:
        return np.ones(rows.height, dtype=bool)
    inside = np.zeros(rows.height, dtype=bool)
    if named is not None:
        inside |= rows["county_fips"].is_in(named).fill_null(False).to_numpy()
    if rule.shape is not None:
        longitude = rows["longitude"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        latitude = rows["latitude"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        inside |= shapely.contains_xy(rule.shape, longitude, latitude)
    return inside


def _markings(incidents: pl.DataFrame, products: pl.DataFrame | None = None
              ) -> tuple[list[str], int]:
    products = products if products is not None else pl.DataFrame(schema={"tlp": pl.String})
    return ([*incidents["tlp"].unique().to_list(), *products["tlp"].unique().to_list()],
            incidents.height + products.height)


# --- the conditions ---------------------------------------------------------------------------


def new_incident(scope: Scope) -> list[Candidate]:
    """Each incident of the rule's topics and severity that occurred in the window, entered
    the store since the rule's last evaluation and lies in its area (a cross-center duplicate
    of an earlier report never fires: that event was reported already)."""
    config, rule = scope.config, scope.rule
    incidents = scope.data.frames().incidents
    if scope.changed is not None:
        incidents = incidents.join(scope.changed.select("center_id", "incident_id"),
                                   on=["center_id", "incident_id"], how="semi")
    found = incidents.filter(incident_filter(rule.filters().with_changes(
        regions=(), counties=()), config.county_to_region, scope.window))
    found = found.filter(pl.Series(area_mask(found, rule, config.county_to_region)))
    timezone = ZoneInfo(config.settings.timezone)
    candidates = []
    for row in found.sort("occurred_at", "center_id", "incident_id").iter_rows(named=True):
        event = f"incident:{row['center_id']}/{row['incident_id']}"
        county = row["county_fips"]
        severity = f"severity {row['severity']}" if row["severity"] is not None \
            else "no severity given"
        when = row["occurred_at"].astimezone(timezone)
        sentence = (f"New {scope.label('category', row['category'])} incident "
                    f"{row['incident_id']} ({severity}) reported by "
                    f"{scope.label('center', row['center_id'])}, occurred {when:%d %b %Y %H:%M} "
                    f"in {scope.label('county', county)} County, inside the area of "
                    f"'{rule.name}'.")
        view = Filters(period="custom", start=row["occurred_date"], end=row["occurred_date"],
                       counties=(county,) if county else (), categories=(row["category"],),
                       severities=rule.filters().severities)

        def drawn_on(tlp: str = row["tlp"]) -> tuple[list[str], int]:
            return [tlp], 1

        candidates.append(Candidate(frozenset({event}), event, sentence, "map", view,
                                    drawn_on))
    return candidates


def count_above(scope: Scope) -> list[Candidate]:
    """The incidents of the rule's topics in its area over the window reach the threshold.
    Partners count their release: the complete weeks covering the window, to the last one
    released, in the counties of the area."""
    config, rule, data = scope.config, scope.rule, scope.data
    incidents = data.frames().incidents
    c2r = config.county_to_region
    if data.release is not None:
        weeks = ceil(rule.window / 7)
        end = data.release.through
        period = Period(end - timedelta(days=7 * weeks - 1), end)
        filters = data.selection(scope.county_filters())
        counted = incidents.filter(incident_filter(filters, c2r, period))
        before = incidents.filter(incident_filter(filters, c2r, period.previous())).height
        span = f"the {weeks} released week{'s' if weeks > 1 else ''}"
    else:
        period = scope.window
        filters = rule.filters().with_changes(regions=(), counties=())
        counted = incidents.filter(incident_filter(filters, c2r, period))
        counted = counted.filter(pl.Series(area_mask(counted, rule, c2r)))
        earlier = incidents.filter(incident_filter(filters, c2r, period.previous()))
        before = int(area_mask(earlier, rule, c2r).sum())
        filters = scope.county_filters()
        span = f"the {period.days} days"
    count = counted.height
    assert rule.threshold is not None
    if count < rule.threshold:
        return []
    area = f"'{rule.name}'" if rule.shape is not None else scope.place(filters)
    sentence = (f"{scope.incidents_of(count)} in {area} in {span} from "
                f"{period.start:%d %b %Y} to {period.end:%d %b %Y}, at or above the "
                f"threshold of {rule.threshold:,} ({before:,} in the {period.days} days "
                "before).")
    return [Candidate(frozenset({"count_above"}), f"count_above:{period.end}", sentence,
                      "overview", scope.windowed(scope.county_filters(), period),
                      lambda: _markings(counted))]


def emerging_hotspot(scope: Scope) -> list[Candidate]:
    """A county of the area classed a New or an Intensifying Hot Spot by the emerging hot
    spot analysis of the rule's topics over the complete weeks of the window (at least 12,
    ending with the last complete week; statewide, as Gi* needs every county's neighbours)."""
    config, data = scope.config, scope.data
    filters = scope.windowed(scope.county_filters(), scope.window)
    view = emerging_view(config, data, filters, scope.today)
    first, last = view.weeks[0] - timedelta(days=6), view.weeks[-1]
    weeks = Period(first, last)
    hits = view.in_view.filter((pl.col("kind") == "hot")
                               & pl.col("pattern").is_in(ALERTING_PATTERNS))

    def drawn_on() -> tuple[list[str], int]:
        statewide = data.selection(filters).with_changes(regions=(), counties=())
        return _markings(data.frames().incidents.filter(
            incident_filter(statewide, config.county_to_region, weeks)))

    candidates = []
    for row in hits.iter_rows(named=True):
        key = f"emerging:{row['county_fips']}:{row['pattern']}"
        why = row["why"][:1].lower() + row["why"][1:]
        article = "an" if row["class_name"][:1] in "AEIOU" else "a"
        sentence = (f"{scope.label('county', row['county_fips'])} County is now {article} "
                    f"{row['class_name']} of {scope.topics()} incidents over the "
                    f"{len(view.weeks)} weeks to {last:%d %b %Y}: {why}")
        candidates.append(Candidate(
            frozenset({key}), f"{key}:{last}", sentence, "map",
            scope.windowed(filters.with_changes(regions=(), counties=(row["county_fips"],)),
                           weeks), drawn_on))
    return candidates


def trend_anomaly(scope: Scope) -> list[Candidate]:
    """An anomalous bucket in the window of the Trends page's series for the rule (each
    category, and each category within each region): significantly above its trailing
    baseline, by the configured test and correction."""
    config, data = scope.config, scope.data
    filters = scope.windowed(scope.county_filters(), scope.window)
    page = trends_page(config, data, filters, scope.today)
    settings = config.settings.anomalies
    candidates = []
    for view in (page.series, page.cells):
        reach = {"day": settings.baseline_days, "week": 7 * (settings.baseline_weeks + 1),
                 "month": 31 * (settings.baseline_months + 1)}[view.granularity]
        for row in view.anomalies.iter_rows(named=True):
            parts = row["series"].split("|")
            category, region = parts[0], parts[1] if len(parts) > 1 else None
            name = scope.label("category", category) + (
                f" in {scope.label('region', region)}" if region else "")
            key = f"anomaly:{view.split}:{row['series']}:{row['start']}"
            unit = GRANULARITY_WORDS[view.granularity]
            sentence = (f"{name}: {row['incidents']:,} incidents in the {unit} "
                        f"{row['start']:%d %b} to {row['end']:%d %b %Y}, "
                        f"{row['ratio']:.1f} times the {row['expected']:.1f} expected from "
                        f"its baseline (p = {row['adjusted_p']:.2g} after correction).")
            shown = filters.with_changes(categories=(category,))
            if region is not None:
                shown = shown.with_changes(regions=(region,), counties=())
            basis = Period(row["start"] - timedelta(days=reach), scope.today)

            def drawn_on(shown: Filters = shown, basis: Period = basis
                         ) -> tuple[list[str], int]:
                return _markings(data.frames().incidents.filter(incident_filter(
                    data.selection(shown), config.county_to_region, basis)))

            candidates.append(Candidate(frozenset({key}), key, sentence, "trends", shown,
                                        drawn_on))
    return candidates


def coverage_gap(scope: Scope) -> list[Candidate]:
    """A cell (topic x region, or x county when the rule names counties or a geofence) of the
    rule that is a gap of the Coverage page's model over the window."""
    config, data = scope.config, scope.data
    level: Level = ("county" if scope.rule.counties or scope.rule.shape is not None
                    else "region")
    filters = scope.windowed(scope.county_filters(), scope.window)
    figures = coverage_page(config, data, filters, scope.today, level).figures
    candidates = []
    for row in figures.gaps.iter_rows(named=True):
        key = f"gap:{level}:{row['topic']}:{row['area_id']}"
        place = {"regions": (row["area_id"],), "counties": ()} if level == "region" \
            else {"regions": (), "counties": (row["area_id"],)}
        shown = filters.with_changes(categories=(row["topic"],), **place)
        reach = Period(scope.window.previous().start, scope.today)

        def drawn_on(shown: Filters = shown, reach: Period = reach) -> tuple[list[str], int]:
            frames = data.frames()
            return _markings(
                frames.incidents.filter(incident_filter(shown, config.county_to_region,
                                                        reach)),
                filtered_products(frames.products, shown, config.county_to_region).filter(
                    pl.col("published_date") <= scope.today))

        candidates.append(Candidate(frozenset({key}), f"{key}:{scope.today}",
                                    f"New coverage gap: {row['reason']}.", "coverage", shown,
                                    drawn_on))
    return candidates


def near_duplicate(scope: Scope) -> list[Candidate]:
    """A near-duplicate cluster of the Coverage page's model (products of two or more centers
    on the rule's topics and area, published close together, with similar text) holding a
    product that was in no cluster at the rule's previous evaluation."""
    config, data = scope.config, scope.data
    filters = scope.windowed(scope.county_filters(), scope.window)
    figures = coverage_page(config, data, filters, scope.today).figures
    members = figures.cluster_members.with_columns(
        pl.concat_str(pl.lit("product:"), "center_id", pl.lit("/"), "product_id").alias("key"))
    candidates = []
    for row in figures.clusters.iter_rows(named=True):
        cluster = members.filter(pl.col("cluster") == row["cluster"])
        keys = frozenset(cluster["key"].to_list())
        centers = ", ".join(scope.label("center", center) for center in row["centers"])
        sentence = (f"{row['size']} near-duplicate products of {len(row['centers'])} centers "
                    f"({centers}) on {scope.topics(row['topics'])}, published "
                    f"{row['first_published']:%d %b} to {row['last_published']:%d %b %Y}, "
                    f"mean similarity {row['similarity']:.2f}: "
                    f"{', '.join(sorted(key.removeprefix('product:') for key in keys))}.")
        shown = filters.with_changes(categories=tuple(row["topics"]))
        digest = hashlib.sha256("+".join(sorted(keys)).encode()).hexdigest()[:24]

        def drawn_on(cluster: pl.DataFrame = cluster) -> tuple[list[str], int]:
            return _markings(pl.DataFrame(schema={"tlp": pl.String}), cluster.select("tlp"))

        candidates.append(Candidate(keys, f"cluster:{digest}", sentence, "coverage", shown,
                                    drawn_on))
    return candidates


CONDITIONS: dict[str, Callable[[Scope], list[Candidate]]] = {
    "new_incident": new_incident,
    "count_above": count_above,
    "emerging_hotspot": emerging_hotspot,
    "trend_anomaly": trend_anomaly,
    "coverage_gap": coverage_gap,
    "near_duplicate": near_duplicate,
}
