"""The Coverage page's model: gaps, overlapping effort, near-duplicate products, duplicates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from dashboard.analytics.coverage import (
    CoverageFigures,
    CoverageScope,
    Level,
    cell_products,
    coverage_figures,
)
from dashboard.analytics.filters import Filters, Period, period_of
from dashboard.pagemodels.common import records_page
from dashboard.security.audience import ViewData
from dashboard.settings import ProjectConfig


@dataclass(frozen=True)
class CoveragePage:
    period: Period
    scope: CoverageScope
    figures: CoverageFigures
    products: pl.DataFrame  # every product the class may see (for the cells' product cards)

    def cell_products(self, topic: str, area_id: str) -> pl.DataFrame:
        """The current products covering one cell, by center, newest first."""
        return cell_products(self.products, self.figures.current_products, topic, area_id)


def coverage_page(config: ProjectConfig, data: ViewData, filters: Filters, today: date,
                  level: Level = "region") -> CoveragePage:
    records_page(data, "Coverage")
    period = period_of(filters, today)
    frames = data.frames()
    scope = CoverageScope.from_config(config)
    return CoveragePage(period, scope, coverage_figures(frames.incidents, frames.products,
                                                        filters, period, scope, level),
                        frames.products)
