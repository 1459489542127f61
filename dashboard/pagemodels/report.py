"""The analysis the pages show, as one JSON-ready dict (`threat-picture analyze --json`): the
Overview's headline figures, the Map's hot spots and emerging hot spots, the Trends page's
anomalies of each category within each region, and the Coverage page's gaps and near-duplicate
clusters, from the same page models and so under the same audience policy."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from dashboard.analytics.coverage import cluster_records, gap_records
from dashboard.analytics.filters import Filters, to_query_params
from dashboard.analytics.trends import SeriesView, split_key
from dashboard.frames import PictureFrames
from dashboard.pagemodels.coverage import coverage_page
from dashboard.pagemodels.emerging import emerging_view
from dashboard.pagemodels.map import map_page
from dashboard.pagemodels.overview import overview_page
from dashboard.pagemodels.trends import trends_page
from dashboard.security.audience import ViewData
from dashboard.security.policy import VisibilityClass
from dashboard.settings import ProjectConfig

# The class `analyze` reports for when none is given (tests, the bench): ``frames`` are taken
# as given, so this only says "not aggregates-only".
EVERYTHING = VisibilityClass("admin", "", "TLP:RED")


def anomaly_records(view: SeriesView) -> list[dict[str, object]]:
    """The anomalies of each category within each region, JSON-ready, most significant
    first."""
    records: list[dict[str, object]] = []
    for row in view.anomalies.iter_rows(named=True):
        category, region_id = split_key(row["series"])
        records.append({
            "series": row["series"], "split": view.split, "category": category,
            "region_id": region_id, "granularity": view.granularity,
            "period": {"start": row["start"].isoformat(), "end": row["end"].isoformat()},
            "observed": int(row["incidents"]), "expected": round(row["expected"], 3),
            "ratio": round(row["ratio"], 3), "p_value": float(f"{row['p_value']:.6g}"),
            "adjusted_p": float(f"{row['adjusted_p']:.6g}"), "score": round(row["score"], 3),
        })
    return records


def analysis_report(frames: PictureFrames, config: ProjectConfig, filters: Filters,
                    today: date, visibility: VisibilityClass = EVERYTHING) -> dict[str, Any]:
    """``frames`` as the store holds them, reported for ``visibility``."""
    data = ViewData(visibility, frames)
    overview = overview_page(config, data, filters, today)
    hot = map_page(config, data, filters, today).hotspots.filter(pl.col("confidence") > 0).join(
        frames.regions.select("county_fips", "county_name"), on="county_fips")
    emerging = emerging_view(config, data, filters, today).counties.filter(
        pl.col("pattern") != "none")
    trends = trends_page(config, data, filters, today)
    coverage = coverage_page(config, data, filters, today).figures
    period = overview.period
    return {
        # Per week, each category within each region; score = -log10(p) (README: Trends).
        "anomalies": anomaly_records(trends.cells),
        "hotspots": [
            {"county_fips": row["county_fips"], "county_name": row["county_name"],
             "incidents": int(row["incidents"]), "z_score": round(row["z_score"], 4),
             "p_value": round(row["p_value"], 6), "class": row["hotspot_class"]}
            for row in hot.iter_rows(named=True)
        ],
        # Statewide, strongest patterns first; weeks and rules: README, "Emerging hot spots".
        "emerging_hotspots": [
            {"county_fips": row["county_fips"], "county": row["county_name"],
             "category": row["category"], "class": row["class_name"], "why": row["why"]}
            for row in emerging.iter_rows(named=True)
        ],
        "kpis": [{"label": k.label, "current": k.current, "previous": k.previous}
                 for k in overview.kpis],
        "gaps": gap_records(coverage.gaps, period),
        "redundant_clusters": cluster_records(coverage.clusters, coverage.cluster_members),
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "filters": to_query_params(filters),
        "data_version": frames.data_version,
    }
