"""What each page recomputes when a filter changes: the same functions, with the same
arguments, as the page's cached helpers (pages/*.py), without Streamlit.

Each page is a list of named steps, so a slow page says which step is slow. Keep these in step
with the pages: a page that gains a cached helper gains a step here.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dashboard.analytics.centers import center_figures
from dashboard.analytics.coverage import CoverageScope, cell_products, coverage_figures
from dashboard.analytics.filters import Filters, period_of
from dashboard.analytics.health import (
    filter_quarantine,
    last_load_per_center,
    quarantine_by_field,
    rows_per_center,
    source_freshness,
)
from dashboard.analytics.hotspots import hotspots_for_filters
from dashboard.analytics.picture import counts_by_county, markings_in_view, overview_figures
from dashboard.analytics.trends import (
    compstat_table,
    compstat_totals,
    hour_weekday_counts,
    series_view,
)
from dashboard.frames import HealthFrames, PictureFrames
from dashboard.security import accounts, audit
from dashboard.security.policy import Viewer, health_view, most_restrictive
from dashboard.security.retention import due_for_review
from dashboard.settings import ProjectConfig

PAGES_DIR = Path(__file__).resolve().parent.parent.parent / "pages"


@dataclass(frozen=True)
class PageInputs:
    """What a page run has at hand: config, the viewer's frames, the store, the filters."""

    config: ProjectConfig
    frames: PictureFrames  # already cut by the marking policy for ``viewer``
    health: HealthFrames
    engine: sa.Engine
    viewer: Viewer
    filters: Filters
    today: date


Step = Callable[[PageInputs], Any]


def _marking(inputs: PageInputs) -> str:
    """app.py's banner on every page (marking_on_screen)."""
    return most_restrictive(markings_in_view(
        inputs.frames.incidents, inputs.frames.products, inputs.filters,
        inputs.config.county_to_region, period_of(inputs.filters, inputs.today)))


def _overview(inputs: PageInputs) -> Any:
    """pages/common.py::overview."""
    frames, config = inputs.frames, inputs.config
    return overview_figures(frames.incidents, frames.products, frames.regions,
                            frames.quarantine_rows, inputs.filters,
                            period_of(inputs.filters, inputs.today), config.county_to_region)


def _county_figures(inputs: PageInputs) -> Any:
    """pages/maps.py::county_figures."""
    frames, config = inputs.frames, inputs.config
    period = period_of(inputs.filters, inputs.today)
    counts = counts_by_county(frames.incidents, frames.regions, inputs.filters, period,
                              config.county_to_region)
    hotspots = hotspots_for_filters(frames.incidents, frames.regions, inputs.filters, period,
                                    config.county_to_region, config.settings.state)
    return counts, hotspots


def _series(inputs: PageInputs, split: str, traces_per_series: int = 2) -> Any:
    """pages/trends.py::_series and ::_cells (the series and its figure)."""
    from dashboard.views.trends import series_figure, small_multiples_figure

    config = inputs.config
    view = series_view(inputs.frames.incidents, inputs.filters, config.county_to_region,
                       period_of(inputs.filters, inputs.today), split, "week",
                       config.settings.anomalies, traces_per_series=traces_per_series)
    categories = {key: value.label for key, value in config.taxonomy.categories.items()}
    regions = {region.id: region.name for region in config.regions}
    if split == "category_region":
        return small_multiples_figure(view.series, categories, regions, view.granularity,
                                      "Each category in each region")
    return series_figure(view.series, categories, view.granularity, view.rule,
                         "Incidents by category")


def _rhythm(inputs: PageInputs) -> Any:
    """pages/trends.py::_rhythm."""
    from dashboard.views.trends import hour_weekday_figure

    config = inputs.config
    counts = hour_weekday_counts(inputs.frames.incidents, inputs.frames.centers, inputs.filters,
                                 config.county_to_region, period_of(inputs.filters, inputs.today),
                                 config.settings.timezone)
    return hour_weekday_figure(counts, "When incidents occur")


def _compstat(inputs: PageInputs) -> Any:
    """pages/trends.py::_compstat (by category, the page's default)."""
    config, filters = inputs.config, inputs.filters
    keys = list(filters.categories or config.taxonomy.categories)
    table = compstat_table(inputs.frames.incidents, filters, config.county_to_region,
                           period_of(filters, inputs.today).end, "category", keys)
    return table, compstat_totals(table)


def _centers(inputs: PageInputs) -> Any:
    """pages/centers.py::centers_figures."""
    frames, config = inputs.frames, inputs.config
    return center_figures(frames.incidents, frames.products, frames.regions, frames.centers,
                          frames.center_aor, inputs.filters,
                          period_of(inputs.filters, inputs.today), config.county_to_region,
                          config.settings.timezone)


def _coverage(inputs: PageInputs) -> Any:
    """pages/coverage.py::coverage, and the products of the first overlapping cell."""
    frames = inputs.frames
    figures = coverage_figures(frames.incidents, frames.products, inputs.filters,
                               period_of(inputs.filters, inputs.today),
                               CoverageScope.from_config(inputs.config), "region")
    if not figures.overlaps.is_empty():
        cell = figures.overlaps.row(0, named=True)
        cell_products(frames.products, figures.current_products, cell["topic"],
                      cell["area_id"])
    return figures


def _data_health(inputs: PageInputs) -> Any:
    """pages/data_health.py: everything it computes on a run (its frames are cached per data
    version, not per filter)."""
    frames = health_view(inputs.viewer, inputs.health)
    per_center = rows_per_center(frames)
    freshness = source_freshness(frames, datetime.now(UTC))
    by_field = quarantine_by_field(frames.quarantine) if not frames.quarantine.is_empty() else None
    rows = filter_quarantine(frames.quarantine, [], [], "")
    return per_center, freshness, by_field, rows, frames.flagged.sort("occurred_at"), \
        frames.links.sort("occurred_at")


def _admin(inputs: PageInputs) -> Any:
    """pages/admin.py: its three store reads (audit trail of 7 days, review list, accounts)."""
    today = datetime.now(UTC).date()
    rows = audit.audit_frame(inputs.engine,
                             since=datetime.combine(today - timedelta(days=7), time.min, UTC),
                             until=datetime.combine(today, time.max, UTC))
    return rows, due_for_review(inputs.engine, within_days=30), accounts.list_users(inputs.engine)


def _briefing(inputs: PageInputs) -> Any:
    """pages/briefing.py::preview and ::preview_map (a briefing composed for the preview)."""
    from dashboard.briefing.charts import map_png
    from dashboard.briefing.compose import compose_briefing

    config = inputs.config
    audience = next(iter(config.taxonomy.audiences))
    briefing = compose_briefing(config, inputs.frames, inputs.viewer,
                                inputs.filters.with_changes(period="7d"), inputs.today,
                                audience=audience,
                                last_loads=last_load_per_center(inputs.health))
    return map_png(briefing)


# Page file stem -> its steps. app.py's marking banner runs on every page.
PAGE_STEPS: dict[str, list[tuple[str, Step]]] = {
    "overview": [("overview_figures", _overview), ("marking banner", _marking)],
    "map": [("county counts + Gi*", _county_figures), ("marking banner", _marking)],
    "trends": [
        ("series by category", lambda inputs: _series(inputs, "category")),
        ("category x region cells", lambda inputs: _series(inputs, "category_region", 3)),
        ("hour x weekday rhythm", _rhythm),
        ("CompStat", _compstat),
        ("marking banner", _marking),
    ],
    "centers": [("center_figures", _centers), ("marking banner", _marking)],
    "coverage": [("coverage_figures", _coverage), ("marking banner", _marking)],
    "data_health": [("health tables", _data_health), ("marking banner", _marking)],
    "admin": [("audit, review, accounts", _admin), ("marking banner", _marking)],
    "briefing": [("briefing preview + map", _briefing), ("marking banner", _marking)],
}
# Modules a page's steps need beyond the analytics (pages still being built may lack them).
PAGE_MODULES = {"briefing": "dashboard.briefing.compose"}


def page_built(page: str) -> bool:
    """Whether the page (and what its steps need) exists in this checkout."""
    if not (PAGES_DIR / f"{page}.py").is_file():
        return False
    module = PAGE_MODULES.get(page)
    return module is None or importlib.util.find_spec(module) is not None


def bench_pages() -> list[str]:
    return list(PAGE_STEPS)


def filter_variants(config: ProjectConfig, count: int) -> list[Filters]:
    """``count`` different filter states, as an analyst would click through them: the period
    alone, a region, a category, and the three together, in turn (never the same twice while
    the deployment has enough regions and categories, so no cache can answer)."""
    periods = ["90d", "7d", "ytd", "28d"]
    regions = [region.id for region in config.regions]
    categories = list(config.taxonomy.categories)
    variants: list[Filters] = []
    index = 0
    while len(variants) < count:
        kind, step = index % 4, index // 4
        candidate = Filters(
            period=periods[step % len(periods)],
            regions=(regions[step % len(regions)],) if kind in (1, 3) else (),
            categories=(categories[(step + kind) % len(categories)],) if kind in (2, 3)
            else (),
        )
        index += 1
        if candidate not in variants or index > 20 * count:
            variants.append(candidate)
    return variants


def variants_per_page(config: ProjectConfig, pages: list[str], runs: int
                      ) -> dict[str, list[Filters]]:
    """Each page its own ``runs`` filter states: the sidebar keeps its state from page to page,
    so states shared between pages would reach a page already cached."""
    variants = filter_variants(config, runs * len(pages))
    return {page: variants[index * runs:(index + 1) * runs] for index, page in enumerate(pages)}
