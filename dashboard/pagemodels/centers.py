"""The Centers page's model: who contributes what, how fast, where, and how AORs overlap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dashboard.analytics.centers import CenterFigures, center_figures
from dashboard.analytics.filters import Filters, Period, period_of
from dashboard.pagemodels.common import records_page
from dashboard.security.audience import ViewData
from dashboard.settings import ProjectConfig
from dashboard.views.export import to_safe_csv


@dataclass(frozen=True)
class CentersPage:
    period: Period
    figures: CenterFigures
    csv: bytes
    csv_name: str


def centers_page(config: ProjectConfig, data: ViewData, filters: Filters,
                 today: date) -> CentersPage:
    records_page(data, "Centers")
    period = period_of(filters, today)
    frames = data.frames()
    figures = center_figures(frames.incidents, frames.products, frames.regions, frames.centers,
                             frames.center_aor, filters, period, config.county_to_region,
                             config.settings.timezone)
    return CentersPage(period, figures, to_safe_csv(figures.summary),
                       f"centers_{period.start}_{period.end}.csv")
