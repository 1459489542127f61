"""The analysis the pages show, as one JSON-ready dict (`threat-picture analyze --json`)."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from dashboard.analytics.coverage import (
    CoverageScope,
    cluster_records,
    coverage_cells,
    gap_list,
    gap_records,
    near_duplicate_clusters,
    product_window,
)
from dashboard.analytics.filters import Filters, period_of, to_query_params
from dashboard.analytics.hotspots import hotspots_for_filters
from dashboard.analytics.picture import kpis
from dashboard.analytics.trends import anomaly_records
from dashboard.frames import PictureFrames
from dashboard.settings import ProjectConfig


def hotspot_records(frames: PictureFrames, config: ProjectConfig, filters: Filters,
                    today: date) -> pl.DataFrame:
    period = period_of(filters, today)
    hotspots = hotspots_for_filters(frames.incidents, frames.regions, filters, period,
                                    config.county_to_region, config.settings.state)
    return hotspots.join(frames.regions.select("county_fips", "county_name", "region_id"),
                         on="county_fips")


def analysis_report(frames: PictureFrames, config: ProjectConfig, filters: Filters,
                    today: date) -> dict[str, Any]:
    period = period_of(filters, today)
    hotspots = hotspot_records(frames, config, filters, today).filter(
        pl.col("confidence") > 0)
    figures = kpis(frames.incidents, frames.products, frames.quarantine_rows, filters, period,
                   config.county_to_region)
    scope = CoverageScope.from_config(config)
    gaps = gap_list(coverage_cells(frames.incidents, frames.products, filters, period, scope))
    clusters, members = near_duplicate_clusters(
        frames.products, filters, product_window(period, scope.settings), scope)
    return {
        # Per week, each category within each region; score = -log10(p) (README: Trends).
        "anomalies": anomaly_records(frames.incidents, filters, config.county_to_region, period,
                                     config.settings.anomalies),
        "hotspots": [
            {"county_fips": row["county_fips"], "county_name": row["county_name"],
             "incidents": int(row["incidents"]), "z_score": round(row["z_score"], 4),
             "p_value": round(row["p_value"], 6), "class": row["hotspot_class"]}
            for row in hotspots.iter_rows(named=True)
        ],
        "kpis": [{"label": k.label, "current": k.current, "previous": k.previous}
                 for k in figures],
        "gaps": gap_records(gaps, period),
        "redundant_clusters": cluster_records(clusters, members),
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "filters": to_query_params(filters),
        "data_version": frames.data_version,
    }
