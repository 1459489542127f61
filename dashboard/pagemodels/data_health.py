"""The Data health page's model: rows per center, feed freshness, quarantine, flagged
locations and duplicate links, as the viewer's class may see them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from dashboard.analytics.health import (
    failed_sources,
    filter_quarantine,
    quarantine_by_field,
    rows_per_center,
    source_freshness,
)
from dashboard.frames import HealthFrames
from dashboard.security.policy import VisibilityClass, health_view


@dataclass(frozen=True)
class DataHealthPage:
    per_center: pl.DataFrame
    totals: dict[str, int]  # incidents, products, quarantined, flagged_locations, duplicates
    freshness: pl.DataFrame
    quarantine: pl.DataFrame
    quarantine_summary: pl.DataFrame | None  # None: nothing quarantined
    flagged: pl.DataFrame
    links: pl.DataFrame
    failed: pl.DataFrame  # sources whose latest run failed, with the error

    def quarantine_rows(self, centers: Sequence[str], fields: Sequence[str],
                        search: str) -> pl.DataFrame:
        """The quarantined rows the page's own filters leave."""
        return filter_quarantine(self.quarantine, list(centers), list(fields), search)


def data_health_page(visibility: VisibilityClass, health: HealthFrames,
                     now: datetime) -> DataHealthPage:
    frames = health_view(visibility, health)
    per_center = rows_per_center(frames)
    totals = per_center.select("incidents", "products", "quarantined", "flagged_locations",
                               "duplicate_reports").sum().row(0, named=True)
    return DataHealthPage(
        per_center=per_center, totals={name: int(value or 0) for name, value in totals.items()},
        freshness=source_freshness(frames, now), quarantine=frames.quarantine,
        quarantine_summary=None if frames.quarantine.is_empty()
        else quarantine_by_field(frames.quarantine),
        flagged=frames.flagged.sort("occurred_at", descending=True),
        links=frames.links.sort("occurred_at", descending=True),
        failed=failed_sources(frames))
