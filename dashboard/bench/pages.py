"""What each page recomputes when a filter changes: its page model (dashboard.pagemodels), the
very function the page calls, without Streamlit, plus app.py's marking banner.

Each page is a list of named steps, so a slow page says which step is slow.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dashboard.analytics.filters import Filters
from dashboard.analytics.health import last_load_per_center
from dashboard.frames import HealthFrames
from dashboard.pagemodels.admin import accounts_view, audit_view, review_view
from dashboard.pagemodels.centers import centers_page
from dashboard.pagemodels.common import marking_in_view
from dashboard.pagemodels.coverage import coverage_page
from dashboard.pagemodels.data_health import data_health_page
from dashboard.pagemodels.map import map_page
from dashboard.pagemodels.overview import overview_page
from dashboard.pagemodels.trends import trends_page
from dashboard.security.audience import ViewData
from dashboard.security.policy import Viewer
from dashboard.settings import ProjectConfig

PAGES_DIR = Path(__file__).resolve().parent.parent.parent / "pages"


@dataclass(frozen=True)
class PageInputs:
    """What a page run has at hand: config, the viewer's class data, the store, the filters."""

    config: ProjectConfig
    data: ViewData
    health: HealthFrames
    engine: sa.Engine
    viewer: Viewer
    filters: Filters
    today: date


Step = Callable[[PageInputs], Any]


def _model(build: Callable[..., Any], **options: Any) -> Step:
    """A step that runs a page model as the page does."""
    return lambda inputs: build(inputs.config, inputs.data, inputs.filters, inputs.today,
                                **options)


def _coverage(inputs: PageInputs) -> Any:
    """The Coverage page, and the products of its first overlapping cell."""
    page = coverage_page(inputs.config, inputs.data, inputs.filters, inputs.today)
    if not page.figures.overlaps.is_empty():
        cell = page.figures.overlaps.row(0, named=True)
        page.cell_products(cell["topic"], cell["area_id"])
    return page


def _admin(inputs: PageInputs) -> Any:
    """Its three store reads (audit trail of 7 days, review list, accounts)."""
    now = datetime.now(UTC)
    return (audit_view(inputs.engine, now.date() - timedelta(days=7), now.date(), [], ""),
            review_view(inputs.engine, 30, now), accounts_view(inputs.engine))


def _briefing(inputs: PageInputs) -> Any:
    """The briefing preview and its map, as the Briefing page composes them."""
    from dashboard.briefing.charts import map_png
    from dashboard.briefing.compose import compose_briefing

    config = inputs.config
    briefing = compose_briefing(config, inputs.data.frames(), inputs.viewer,
                                inputs.filters.with_changes(period="7d"), inputs.today,
                                audience=next(iter(config.taxonomy.audiences)),
                                last_loads=last_load_per_center(inputs.health))
    return map_png(briefing)


def _marking(inputs: PageInputs) -> str:
    return marking_in_view(inputs.config, inputs.data, inputs.filters, inputs.today)


# Page file stem -> its steps. app.py's marking banner runs on every page.
PAGE_STEPS: dict[str, list[tuple[str, Step]]] = {
    "overview": [("overview_page", _model(overview_page)), ("marking banner", _marking)],
    "map": [("map_page", _model(map_page)), ("marking banner", _marking)],
    "trends": [("trends_page", _model(trends_page)), ("marking banner", _marking)],
    "centers": [("centers_page", _model(centers_page)), ("marking banner", _marking)],
    "coverage": [("coverage_page", _coverage), ("marking banner", _marking)],
    "data_health": [("data_health_page", lambda inputs: data_health_page(
        inputs.data.visibility, inputs.health, datetime.now(UTC))),
        ("marking banner", _marking)],
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
