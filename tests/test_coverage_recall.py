"""The coverage model finds what the demo planted: the gap list is the planted coverage gaps,
the near-duplicate clusters are the planted clusters (precision and recall both >= 0.9), and the
default views show the recent cluster with its markup title."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from dashboard.analytics.coverage import (
    CoverageScope,
    coverage_cells,
    gap_list,
    near_duplicate_clusters,
    product_window,
)
from dashboard.analytics.filters import Filters, period_of
from dashboard.demo import generate
from dashboard.frames import PictureFrames, load_picture_frames
from dashboard.ingest.pipeline import run_ingest
from dashboard.pagemodels.report import analysis_report
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store

Demo = tuple[ProjectConfig, PictureFrames, dict[str, Any]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    folder = tmp_path_factory.mktemp("coverage_recall")
    truth = generate(folder, state="CA", incidents=30_000, seed=7)
    config = load_config(folder / "config")
    engine = open_store(f"sqlite:///{folder / 'store.sqlite'}")
    run_ingest(config, engine)
    return config, load_picture_frames(engine, config.settings.timezone), truth


def precision_recall(found: set[Any], planted: set[Any]) -> tuple[float, float]:
    hits = len(found & planted)
    return (hits / len(found) if found else 0.0), hits / len(planted)


def test_gap_list_is_the_planted_gaps(demo: Demo) -> None:
    config, frames, truth = demo
    today = date.fromisoformat(truth["parameters"]["today"])
    filters = Filters(period="90d")
    cells = coverage_cells(frames.incidents, frames.products, filters, period_of(filters, today),
                           CoverageScope.from_config(config))
    planted = {(gap["topic"], gap["region"]) for gap in truth["coverage_gaps"]}
    found = set(gap_list(cells).select("topic", "area_id").rows())
    precision, recall = precision_recall(found, planted)
    assert precision >= 0.9 and recall >= 0.9, (sorted(found), sorted(planted))
    # They are also the worst cells, and each says there is no product on record.
    top = cells.head(len(planted))
    assert set(top.select("topic", "area_id").rows()) == planted
    assert all(reason.endswith("no current product; no product on record")
               for reason in top["reason"])


def test_clusters_are_the_planted_near_duplicates(demo: Demo) -> None:
    config, frames, truth = demo
    start = date.fromisoformat(truth["parameters"]["start"])
    today = date.fromisoformat(truth["parameters"]["today"])
    whole_span = Filters(period="custom", start=start, end=today)
    _, members = near_duplicate_clusters(frames.products, whole_span,
                                         period_of(whole_span, today),
                                         CoverageScope.from_config(config))
    found = {frozenset(group.select("center_id", "product_id").rows())
             for _, group in members.group_by("cluster")}
    planted = {frozenset(map(tuple, cluster["products"]))
               for cluster in truth["near_duplicate_products"]}
    precision, recall = precision_recall(found, planted)
    assert precision >= 0.9 and recall >= 0.9, (found, planted)


def test_default_view_shows_the_recent_cluster_with_its_markup_title(demo: Demo) -> None:
    config, frames, truth = demo
    today = date.fromisoformat(truth["parameters"]["today"])
    scope = CoverageScope.from_config(config)
    filters = Filters()  # the last 28 days; products over the 90-day current window
    window = product_window(period_of(filters, today), scope.settings)
    _, members = near_duplicate_clusters(frames.products, filters, window, scope)
    marked = {tuple(key) for key in truth["markup_products"]}
    assert marked and marked <= set(members.select("center_id", "product_id").rows())
    titles = members.filter(members["product_id"].is_in([key[1] for key in marked]))["title"]
    assert all("<img src=x onerror=" in title for title in titles)


def test_analyze_report_carries_gaps_and_clusters(demo: Demo) -> None:
    config, frames, truth = demo
    today = date.fromisoformat(truth["parameters"]["today"])
    report = analysis_report(frames, config, Filters(period="90d"), today)
    planted = {(gap["topic"], gap["region"]) for gap in truth["coverage_gaps"]}
    assert {(gap["topic"], gap["region"]) for gap in report["gaps"]} == planted
    first = report["gaps"][0]
    assert set(first) == {"topic", "region", "period", "activity", "coverage", "score",
                          "reason"}
    assert first["period"] == report["period"]
    assert first["coverage"]["current_products"] == 0 and first["score"] > 0
    marked = {tuple(key) for key in truth["markup_products"]}
    clusters = report["redundant_clusters"]
    assert any(marked & {(p["center_id"], p["product_id"]) for p in cluster["products"]}
               for cluster in clusters)
    assert all(len(cluster["centers"]) >= 2 and 0.5 <= cluster["similarity"] <= 1
               for cluster in clusters)
    json.dumps(report)  # JSON-ready as it is
