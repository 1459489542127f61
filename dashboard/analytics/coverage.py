"""Coverage: where the state's analytic products are missing, and where centers double up.

The model (README, "Coverage model"), for the shared filters and one period:

- a **cell** is (topic, area): a taxonomy category and a region or county (``level``);
- its **activity** is the incidents of that category in that area in the period (filters
  applied, cross-center duplicates once when the filter says so), counted and severity-weighted
  (``CoverageSettings.severity_weights``), against the equal period before;
- its **coverage** is the products whose topics include the category and whose area includes
  the area (a region cell is covered by any product touching one of its counties, so a
  county-level product covers its region; a county cell only by a product covering that
  county; a statewide product covers every cell), counted while *current*: published in the
  ``current_window_days`` ending on the last day of the period;
- a cell **needs** one current product per ``incidents_per_product`` incidents at its pace over
  one current window (``incidents x current_window_days / period days``), at least one;
  its **gap score** is ``deficit x weighted activity / mean weighted activity of the active
  cells in view``, with ``deficit = 1 - min(1, current / needed)``: 1.0 is an average cell's
  activity with nothing written on it. A cell is a **gap** when it has at least
  ``min_incidents`` incidents and scores at least ``gap_min_score``. The trend is reported,
  not scored, so a steady blind spot ranks as high as a rising one.

Redundancy: cells covered by two or more centers at once (overlapping effort), near-duplicate
products across centers (overlapping topic and area, published within
``near_duplicate_max_days``, TF-IDF cosine of title and summary at least
``near_duplicate_min_similarity``; clusters are the connected components of such cross-center
pairs, so one center's own series never forms one), and duplicate incidents per center pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import TfidfVectorizer

from dashboard.analytics.filters import (
    PRESET_DAYS,
    Filters,
    Period,
    incident_filter,
    selected_counties,
)
from dashboard.analytics.picture import filtered_products
from dashboard.settings import CoverageSettings, ProjectConfig

Level = Literal["region", "county"]
LEVELS: dict[str, str] = {"region": "Region", "county": "County"}


@dataclass(frozen=True)
class CoverageScope:
    """What the coverage model needs from the deployment: geography, labels, thresholds."""

    county_to_region: Mapping[str, str]
    topics: Mapping[str, str]  # category key -> label, in taxonomy order
    regions: Mapping[str, str]  # region id -> name, in config order
    counties: Mapping[str, str]  # county FIPS -> name
    centers: Mapping[str, str]  # center id -> name
    settings: CoverageSettings
    product_types: Mapping[str, str] = field(default_factory=dict)  # key -> label

    @classmethod
    def from_config(cls, config: ProjectConfig) -> CoverageScope:
        return cls(
            county_to_region=config.county_to_region,
            topics={key: value.label for key, value in config.taxonomy.categories.items()},
            regions={region.id: region.name for region in config.regions},
            counties=config.county_names,
            centers={center.id: center.name for center in config.centers},
            settings=config.settings.coverage,
            product_types=dict(config.taxonomy.product_types),
        )

    def area_label(self, level: Level, area_id: str) -> str:
        if level == "region":
            return self.regions.get(area_id, area_id)
        return f"{self.counties.get(area_id, area_id)} County"

    def center_label(self, center_id: str | None) -> str:
        return "" if center_id is None else self.centers.get(center_id, center_id)


@dataclass(frozen=True)
class CoverageFigures:
    """Everything the Coverage page shows, computed in one pass for one filter and level."""

    level: Level
    product_window: Period  # products looked at for redundancy and the center x topic matrix
    cells: pl.DataFrame  # every (topic, area) in view, ranked by gap score
    gaps: pl.DataFrame  # the cells that are gaps, ranked
    overlaps: pl.DataFrame  # cells covered by two or more centers at once
    current_products: pl.DataFrame  # (topic, area_id) -> each current product covering it
    clusters: pl.DataFrame  # near-duplicate clusters, most recent first
    cluster_members: pl.DataFrame  # their products
    duplicate_pairs: pl.DataFrame  # duplicate incident reports per center pair
    center_topics: pl.DataFrame  # products per center and topic


def period_phrase(filters: Filters, period: Period) -> str:
    """'in the last 90 days', 'this year to date', or 'from 2025-01-01 to 2025-03-31'."""
    if filters.period in PRESET_DAYS:
        return f"in the last {period.days} days"
    if filters.period == "ytd":
        return "this year to date"
    return f"from {period.start.isoformat()} to {period.end.isoformat()}"


def product_window(period: Period, settings: CoverageSettings) -> Period:
    """The period, reaching back to the current-coverage window when that is longer."""
    window_start = period.end - timedelta(days=settings.current_window_days - 1)
    return Period(min(period.start, window_start), period.end)


def _area_map(filters: Filters, county_to_region: Mapping[str, str], level: Level
              ) -> pl.DataFrame:
    """county_fips -> area_id for every county the place filters allow."""
    counties = selected_counties(filters, county_to_region) or sorted(county_to_region)
    areas = [county_to_region[fips] if level == "region" else fips for fips in counties]
    return pl.DataFrame({"county_fips": counties, "area_id": areas},
                        schema={"county_fips": pl.String, "area_id": pl.String})


def _topics_in_view(filters: Filters, scope: CoverageScope) -> list[str]:
    return [topic for topic in scope.topics if not filters.categories
            or topic in filters.categories]


def severity_weight(settings: CoverageSettings) -> pl.Expr:
    """Each incident's weight in a cell's activity, from its severity."""
    weights = {severity: weight for severity, weight in
               enumerate(settings.severity_weights, start=1)}
    return pl.col("severity").replace_strict(
        weights, default=settings.unknown_severity_weight, return_dtype=pl.Float64
    ).fill_null(settings.unknown_severity_weight)


def cell_activity(incidents: pl.DataFrame, filters: Filters, period: Period, scope: CoverageScope,
                  level: Level = "region") -> pl.DataFrame:
    """Per (topic, area_id): incidents and weighted activity in the period and the one before."""
    previous = period.previous()
    in_view = incidents.filter(
        incident_filter(filters, scope.county_to_region)
        & pl.col("occurred_date").is_between(previous.start, period.end)
        & pl.col("category").is_in(_topics_in_view(filters, scope))
    ).join(_area_map(filters, scope.county_to_region, level), on="county_fips")
    now = pl.col("occurred_date") >= period.start
    weight = severity_weight(scope.settings)
    return in_view.group_by(pl.col("category").alias("topic"), "area_id").agg(
        now.sum().cast(pl.Int64).alias("incidents"),
        weight.filter(now).sum().cast(pl.Float64).alias("weighted_activity"),
        (~now).sum().cast(pl.Int64).alias("previous_incidents"),
    )


def product_cells(products: pl.DataFrame, filters: Filters, period: Period,
                  scope: CoverageScope, level: Level = "region") -> pl.DataFrame:
    """One row per product published by the period's end and each cell in view it covers,
    with ``current`` when it counts as coverage at the period's end."""
    window_start = period.end - timedelta(days=scope.settings.current_window_days - 1)
    chosen = products.filter(pl.col("published_date") <= period.end)
    if filters.centers:
        chosen = chosen.filter(pl.col("center_id").is_in(list(filters.centers)))
    return chosen.select(
        "center_id", "product_id", "published_date",
        pl.col("topics").alias("topic"), pl.col("covered_counties").alias("county_fips"),
    ).explode("topic").filter(pl.col("topic").is_in(_topics_in_view(filters, scope))).explode(
        "county_fips"
    ).join(_area_map(filters, scope.county_to_region, level), on="county_fips").drop(
        "county_fips"
    ).unique().with_columns((pl.col("published_date") >= window_start).alias("current"))


def _cell_coverage(links: pl.DataFrame) -> pl.DataFrame:
    current = pl.col("current")
    return links.sort("published_date", "center_id", "product_id").group_by(
        "topic", "area_id").agg(
        current.sum().cast(pl.Int64).alias("current_products"),
        pl.col("center_id").filter(current).unique().sort().alias("centers"),
        pl.col("published_date").last().alias("last_published"),
        pl.col("center_id").last().alias("last_center_id"),
    )


def coverage_cells(incidents: pl.DataFrame, products: pl.DataFrame, filters: Filters,
                   period: Period, scope: CoverageScope, level: Level = "region"
                   ) -> pl.DataFrame:
    """Every (topic, area) cell in view with activity, coverage, gap score and reason, ranked
    by score (then incidents)."""
    settings = scope.settings
    topics = _topics_in_view(filters, scope)
    areas = _area_map(filters, scope.county_to_region, level)["area_id"].unique(
        maintain_order=True)
    grid = pl.DataFrame({"topic": topics}, schema={"topic": pl.String}).join(
        areas.to_frame(), how="cross")
    cells = grid.join(cell_activity(incidents, filters, period, scope, level),
                      on=["topic", "area_id"], how="left").join(
        _cell_coverage(product_cells(products, filters, period, scope, level)),
        on=["topic", "area_id"], how="left",
    ).with_columns(
        pl.col("incidents", "previous_incidents", "current_products").fill_null(0),
        pl.col("weighted_activity").fill_null(0.0),
        pl.col("centers").fill_null(pl.lit([], dtype=pl.List(pl.String))),
    )
    active = cells.filter(pl.col("incidents") > 0)["weighted_activity"]
    mean_activity = float(active.mean()) if active.len() else 0.0  # type: ignore[arg-type]
    # The need follows the cell's pace over one coverage window, whatever the period's length.
    pace = pl.col("incidents") * settings.current_window_days / period.days
    needed = pl.max_horizontal(
        pl.lit(1, dtype=pl.Int64),
        (pace / settings.incidents_per_product).ceil().cast(pl.Int64))
    cells = cells.with_columns(
        pl.col("centers").list.len().cast(pl.Int64).alias("center_count"),
        needed.alias("needed_products"),
        pl.when(pl.col("previous_incidents") > 0).then(
            100.0 * (pl.col("incidents") - pl.col("previous_incidents"))
            / pl.col("previous_incidents")).alias("change_pct"),
    ).with_columns(
        (1.0 - pl.min_horizontal(pl.lit(1.0), pl.col("current_products")
                                 / pl.col("needed_products"))).alias("deficit"),
        (pl.col("current_products") - pl.col("needed_products")).clip(lower_bound=0)
        .alias("surplus_products"),
    ).with_columns(
        (pl.col("deficit") * pl.col("weighted_activity") / mean_activity
         if mean_activity > 0 else pl.lit(0.0)).alias("score"),
    ).with_columns(
        ((pl.col("incidents") >= settings.min_incidents)
         & (pl.col("score") >= settings.gap_min_score) & (pl.col("score") > 0)).alias("is_gap"),
        pl.col("topic").replace_strict(dict(scope.topics), default=pl.col("topic"))
        .alias("topic_label"),
        pl.col("area_id").replace_strict(
            {area: scope.area_label(level, area) for area in areas.to_list()},
            return_dtype=pl.String).alias("area_label"),
    ).sort(["score", "incidents", "topic", "area_id"], descending=[True, True, False, False])
    phrase = period_phrase(filters, period)
    reasons = [gap_reason(row, phrase, scope) for row in cells.iter_rows(named=True)]
    return cells.with_columns(pl.Series("reason", reasons, dtype=pl.String)).select(
        "topic", "area_id", "topic_label", "area_label", "incidents", "weighted_activity",
        "previous_incidents", "change_pct", "current_products", "needed_products",
        "surplus_products", "centers", "center_count", "last_published", "last_center_id",
        "deficit", "score", "is_gap", "reason")


def gap_reason(cell: Mapping[str, Any], phrase: str, scope: CoverageScope) -> str:
    """One sentence saying why a cell is (or is not) a gap, e.g. "41 Cybercrime incidents in
    Bay Area in the last 90 days, up 35 %; no current product; last product 2025-06-02 by
    Northern California Regional Intelligence Center"."""
    incidents, previous = int(cell["incidents"]), int(cell["previous_incidents"])
    noun = "incident" if incidents == 1 else "incidents"
    activity = f"{incidents:,} {cell['topic_label']} {noun} in {cell['area_label']} {phrase}"
    if previous == 0:
        trend = "none in the prior period" if incidents else "none in the prior period either"
    else:
        change = round(100 * (incidents - previous) / previous)
        trend = ("unchanged" if change == 0 else
                 f"{'up' if change > 0 else 'down'} {abs(change)} %")
    current, needed = int(cell["current_products"]), int(cell["needed_products"])
    last = cell["last_published"]
    by = scope.center_label(cell["last_center_id"])
    if current == 0:
        coverage = "no current product"
        latest = (f"last product {last.isoformat()} by {by}" if last is not None
                  else "no product on record")
        return f"{activity}, {trend}; {coverage}; {latest}"
    products = "product" if current == 1 else "products"
    coverage = (f"{current} current {products}" if current >= needed
                else f"only {current} current {products} for {needed} needed")
    return f"{activity}, {trend}; {coverage}; latest {last.isoformat()} by {by}"


def gap_list(cells: pl.DataFrame) -> pl.DataFrame:
    """The gaps, highest score first."""
    return cells.filter(pl.col("is_gap"))


def overlapping_effort(cells: pl.DataFrame, scope: CoverageScope) -> pl.DataFrame:
    """Cells two or more centers cover at once: the most centers first, then the most
    products beyond what the cell's activity needs."""
    names = dict(scope.centers)
    return cells.filter(pl.col("center_count") >= 2).with_columns(
        pl.col("centers").list.eval(pl.element().replace_strict(names, default=pl.element()))
        .list.join(", ").alias("center_names"),
    ).sort(["center_count", "surplus_products", "incidents", "topic", "area_id"],
           descending=[True, True, True, False, False]).select(
        "topic", "area_id", "topic_label", "area_label", "center_count", "center_names",
        "current_products", "needed_products", "surplus_products", "incidents", "centers")


def cell_products(products: pl.DataFrame, current_products: pl.DataFrame, topic: str,
                  area_id: str) -> pl.DataFrame:
    """The current products covering one cell, by center, newest first."""
    keys = current_products.filter((pl.col("topic") == topic) & (pl.col("area_id") == area_id)
                                   ).select("center_id", "product_id")
    columns = [c for c in PRODUCT_DETAIL_COLUMNS if c in products.columns]
    return products.join(keys, on=["center_id", "product_id"]).select(columns).sort(
        ["center_id", "published_date", "product_id"], descending=[False, True, False])


# --- near-duplicate products -------------------------------------------------------------

PRODUCT_DETAIL_COLUMNS = ("center_id", "product_id", "title", "summary", "published_date",
                          "product_type", "topics", "tlp")
CLUSTER_SCHEMA: dict[str, pl.DataType] = {
    "cluster": pl.Int64(), "size": pl.Int64(), "centers": pl.List(pl.String),
    "topics": pl.List(pl.String), "first_published": pl.Date(), "last_published": pl.Date(),
    "similarity": pl.Float64(), "min_similarity": pl.Float64()}


def _product_texts(products: pl.DataFrame) -> list[str]:
    summary = (pl.col("summary") if "summary" in products.columns
               else pl.lit(None, dtype=pl.String))
    return products.select(pl.concat_str([pl.col("title"), summary], separator=". ",
                                          ignore_nulls=True))[:, 0].to_list()


@lru_cache(maxsize=4)
def _tfidf(texts: tuple[str, ...]) -> csr_matrix:
    """L2-normalised TF-IDF rows of ``texts`` (word unigrams and bigrams). Cached: every filter
    change on the same products reuses it."""
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True,
                           strip_accents="unicode").fit_transform(texts).tocsr()


def _candidate_pairs(in_view: pl.DataFrame, max_days: int) -> pl.DataFrame:
    """Pairs (row_a < row_b) from different centers sharing a topic and a county, published
    at most ``max_days`` apart. Blocked by topic and (max_days + 1)-day bucket, so the join
    stays near-linear however many products there are."""
    width = max_days + 1
    exploded = in_view.select(
        "row", "center_id", pl.col("published_date").cast(pl.Int64).alias("day"),
        pl.col("topics").alias("topic"),
    ).explode("topic").drop_nulls("topic").with_columns((pl.col("day") // width).alias("bucket"))
    right = exploded.rename({"row": "row_r", "center_id": "center_r", "day": "day_r"})
    same = exploded.join(right, on=["topic", "bucket"])
    following = exploded.join(right.with_columns(pl.col("bucket") - 1), on=["topic", "bucket"])
    pairs = pl.concat([same, following]).filter(
        (pl.col("center_id") != pl.col("center_r"))
        & ((pl.col("day") - pl.col("day_r")).abs() <= max_days)
    ).select(pl.min_horizontal("row", "row_r").alias("row_a"),
             pl.max_horizontal("row", "row_r").alias("row_b")).unique()
    areas = in_view.select("row", "covered_counties")
    return pairs.join(areas.rename({"row": "row_a", "covered_counties": "area_a"}), on="row_a"
                      ).join(areas.rename({"row": "row_b", "covered_counties": "area_b"}),
                             on="row_b").filter(
        pl.col("area_a").list.set_intersection(pl.col("area_b")).list.len() > 0
    ).select("row_a", "row_b").sort("row_a", "row_b")


def near_duplicate_pairs(products: pl.DataFrame, in_view: pl.DataFrame,
                         settings: CoverageSettings) -> pl.DataFrame:
    """Cross-center pairs of ``in_view`` products similar enough to be near-duplicates:
    (row_a, row_b, similarity), rows being positions in ``products``. TF-IDF (word unigrams
    and bigrams) is fitted on all of ``products``, so a pair's similarity does not move with
    the filters."""
    empty = pl.DataFrame(schema={"row_a": pl.UInt32, "row_b": pl.UInt32,
                                 "similarity": pl.Float64})
    if in_view.height < 2:
        return empty
    pairs = _candidate_pairs(in_view, settings.near_duplicate_max_days)
    if pairs.is_empty():
        return empty
    try:
        vectors = _tfidf(tuple(_product_texts(products)))
    except ValueError:  # no words at all in any title or summary
        return empty
    first, second = pairs["row_a"].to_numpy(), pairs["row_b"].to_numpy()
    # Rows are L2-normalised, so the dot product is the cosine.
    similarity = np.asarray(vectors[first].multiply(vectors[second]).sum(axis=1)).ravel()
    return pairs.with_columns(pl.Series("similarity", similarity, dtype=pl.Float64)).filter(
        pl.col("similarity") >= settings.near_duplicate_min_similarity)


def near_duplicate_clusters(products: pl.DataFrame, filters: Filters, window: Period,
                            scope: CoverageScope) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Clusters of near-duplicate products published in ``window`` under the filters (most
    recent first) and their members. Every cluster holds at least two centers."""
    indexed = products.with_row_index("row")
    # Every center's products are compared, so a cluster involving a chosen center is shown
    # whole, with the other centers in it.
    in_view = filtered_products(indexed, filters.with_changes(centers=()),
                                scope.county_to_region, window)
    edges = near_duplicate_pairs(products, in_view, scope.settings)
    members_schema: dict[str, pl.DataType] = {
        "cluster": pl.Int64(), **{name: products.schema[name] for name in
                                  PRODUCT_DETAIL_COLUMNS if name in products.columns},
        "similarity": pl.Float64()}
    if edges.is_empty():
        return pl.DataFrame(schema=CLUSTER_SCHEMA), pl.DataFrame(schema=members_schema)
    nodes = pl.concat([edges["row_a"], edges["row_b"]]).unique().sort()
    position = {int(row): number for number, row in enumerate(nodes.to_list())}
    a = np.array([position[int(r)] for r in edges["row_a"]])
    b = np.array([position[int(r)] for r in edges["row_b"]])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(nodes), len(nodes)))
    _, component = connected_components(graph, directed=False)
    labelled = pl.DataFrame({"row": nodes, "component": component.astype(np.int64)})
    best = pl.concat([edges.select(pl.col("row_a").alias("row"), "similarity"),
                      edges.select(pl.col("row_b").alias("row"), "similarity")]).group_by(
        "row").agg(pl.col("similarity").max())
    members = labelled.join(best, on="row").join(
        indexed.select("row", *[c for c in PRODUCT_DETAIL_COLUMNS if c in indexed.columns]),
        on="row")
    edge_stats = edges.join(labelled.rename({"row": "row_a"}), on="row_a").group_by(
        "component").agg(pl.col("similarity").mean().alias("similarity"),
                         pl.col("similarity").min().alias("min_similarity"))
    clusters = members.group_by("component").agg(
        pl.len().cast(pl.Int64).alias("size"),
        pl.col("center_id").unique().sort().alias("centers"),
        pl.col("topics").explode().drop_nulls().unique().sort().alias("topics"),
        pl.col("published_date").min().alias("first_published"),
        pl.col("published_date").max().alias("last_published"),
    ).join(edge_stats, on="component")
    if filters.centers:
        chosen = list(filters.centers)
        clusters = clusters.filter(pl.col("centers").list.set_intersection(chosen).list.len()
                                   > 0)
    clusters = clusters.sort(["last_published", "similarity"], descending=[True, True]
                             ).with_row_index("cluster", offset=1).with_columns(
        pl.col("cluster").cast(pl.Int64))
    members = members.join(clusters.select("component", "cluster"), on="component").sort(
        "cluster", "published_date", "center_id")
    return (clusters.select(list(CLUSTER_SCHEMA)),
            members.select(list(members_schema)))


# --- duplicate incidents and who writes what ----------------------------------------------


def duplicates_by_center_pair(incidents: pl.DataFrame, filters: Filters, period: Period,
                              county_to_region: Mapping[str, str]) -> pl.DataFrame:
    """Incidents two centers both reported (linked at ingest), per pair of centers, with who
    reported first. The duplicates switch does not apply: the duplicates are the subject."""
    wide = filters.with_changes(duplicates_once=False, centers=())
    repeats = incidents.filter(incident_filter(wide, county_to_region, period)
                               & pl.col("is_duplicate"))
    repeats = repeats.with_columns(pl.col("duplicate_of_center_id").cast(pl.String))
    if filters.centers:
        chosen = list(filters.centers)
        repeats = repeats.filter(pl.col("center_id").is_in(chosen)
                                 | pl.col("duplicate_of_center_id").is_in(chosen))
    first = pl.col("duplicate_of_center_id")
    return repeats.with_columns(
        pl.min_horizontal("center_id", first).alias("center_a"),
        pl.max_horizontal("center_id", first).alias("center_b"),
    ).group_by("center_a", "center_b").agg(
        pl.len().cast(pl.Int64).alias("duplicates"),
        (first == pl.col("center_a")).sum().cast(pl.Int64).alias("first_by_a"),
        (first == pl.col("center_b")).sum().cast(pl.Int64).alias("first_by_b"),
        pl.col("category").mode().sort().first().alias("top_category"),
    ).sort(["duplicates", "center_a", "center_b"], descending=[True, False, False])


def center_topic_matrix(products: pl.DataFrame, filters: Filters, window: Period,
                        county_to_region: Mapping[str, str]) -> pl.DataFrame:
    """Products per (center, topic) published in ``window`` under the filters."""
    return filtered_products(products, filters, county_to_region, window).select(
        "center_id", pl.col("topics").alias("topic")).explode("topic").drop_nulls(
        "topic").group_by("center_id", "topic").agg(
        pl.len().cast(pl.Int64).alias("products")).sort("center_id", "topic")


def coverage_figures(incidents: pl.DataFrame, products: pl.DataFrame, filters: Filters,
                     period: Period, scope: CoverageScope, level: Level = "region"
                     ) -> CoverageFigures:
    window = product_window(period, scope.settings)
    cells = coverage_cells(incidents, products, filters, period, scope, level)
    current = product_cells(products, filters, period, scope, level).filter(
        pl.col("current")).select("topic", "area_id", "center_id", "product_id")
    clusters, members = near_duplicate_clusters(products, filters, window, scope)
    return CoverageFigures(
        level=level,
        product_window=window,
        cells=cells,
        gaps=gap_list(cells),
        overlaps=overlapping_effort(cells, scope),
        current_products=current,
        clusters=clusters,
        cluster_members=members,
        duplicate_pairs=duplicates_by_center_pair(incidents, filters, period,
                                                  scope.county_to_region),
        center_topics=center_topic_matrix(products, filters, window, scope.county_to_region),
    )


def gap_records(gaps: pl.DataFrame, period: Period) -> list[dict[str, Any]]:
    """The gap list as JSON-ready records (`analyze --json`)."""
    return [
        {"topic": row["topic"], "region": row["area_id"],
         "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
         "activity": {"incidents": row["incidents"],
                      "weighted": round(row["weighted_activity"], 3),
                      "previous_incidents": row["previous_incidents"],
                      "change_pct": None if row["change_pct"] is None
                      else round(row["change_pct"], 1)},
         "coverage": {"current_products": row["current_products"],
                      "needed_products": row["needed_products"], "centers": row["centers"],
                      "last_published": None if row["last_published"] is None
                      else row["last_published"].isoformat(),
                      "last_center_id": row["last_center_id"]},
         "score": round(row["score"], 4), "reason": row["reason"]}
        for row in gaps.iter_rows(named=True)
    ]


def cluster_records(clusters: pl.DataFrame, members: pl.DataFrame) -> list[dict[str, Any]]:
    """Near-duplicate clusters as JSON-ready records (`analyze --json`)."""
    grouped = {key[0]: frame for key, frame in members.group_by("cluster")}
    return [
        {"cluster": row["cluster"], "similarity": round(row["similarity"], 4),
         "min_similarity": round(row["min_similarity"], 4), "centers": row["centers"],
         "topics": row["topics"],
         "products": [{"center_id": m["center_id"], "product_id": m["product_id"],
                       "published": m["published_date"].isoformat()}
                      for m in grouped[row["cluster"]].iter_rows(named=True)]}
        for row in clusters.iter_rows(named=True)
    ]
