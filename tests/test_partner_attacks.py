"""Privacy proven by attack: a partner collects everything the audience policy lets them
receive (every partner page model: figures' data, tables, tooltips' values, CSV downloads,
charts, the marking banner) for many views, and tries to recover a withheld small count.

The core proof is indistinguishability: two stores that differ only in the counts of withheld
cells (each kept between 1 and k-1) give the partner byte-for-byte the same everything. No
attack on what the partner receives can then tell the two apart, so no withheld count is
determined by it. The classic attacks are also played explicitly (Gi* linear system, baseline
differencing, total minus rows, two overlapping views), each shown to recover only the
released cells.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields, is_dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.analytics.filters import Filters
from dashboard.analytics.hotspots import getis_ord_hotspots
from dashboard.frames import PictureFrames, load_picture_frames
from dashboard.pagemodels.common import marking_in_view
from dashboard.pagemodels.emerging import emerging_view
from dashboard.pagemodels.map import map_page
from dashboard.pagemodels.overview import overview_page
from dashboard.pagemodels.trends import trends_page
from dashboard.security.audience import (
    RELEASE_KEYS,
    ViewData,
    last_released_day,
    view_data,
    week_ending,
)
from dashboard.security.policy import VisibilityClass
from dashboard.settings import ProjectConfig, load_config

TODAY = date(2026, 6, 10)  # a Wednesday
PARTNER = VisibilityClass("partner", "cac", "TLP:GREEN")
K = 5


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectConfig, PictureFrames]:
    from dashboard.demo import generate
    from dashboard.ingest.pipeline import run_ingest
    from dashboard.store import open_store

    folder: Path = tmp_path_factory.mktemp("attack_demo")
    generate(folder, state="CA", incidents=12_000, seed=3, today=TODAY)
    config = load_config(folder / "config")
    engine = open_store(f"sqlite:///{folder / 'store.sqlite'}")
    run_ingest(config, engine)
    return config, load_picture_frames(engine, config.settings.timezone)


def released_cells(frames: PictureFrames) -> pl.DataFrame:
    """The partition the release counts in, with each cell's true count (what a partner must
    not learn for the small ones)."""
    visible = frames.incidents.filter(
        pl.col("tlp").is_in(["TLP:CLEAR", "TLP:GREEN"]) & ~pl.col("is_duplicate")
        & (pl.col("occurred_date") <= last_released_day(TODAY)))
    return visible.group_by(*RELEASE_KEYS, week_ending(pl.col("occurred_date")).alias("week")
                            ).agg(pl.len().alias("count"))


def with_small_cells_changed(frames: PictureFrames, cells: pl.DataFrame) -> PictureFrames:
    """The same store with one more incident in each of ``cells`` (withheld cells of 1 to k-2
    incidents, so they stay withheld): a copy of one of the cell's own incidents."""
    visible = frames.incidents.filter(
        pl.col("tlp").is_in(["TLP:CLEAR", "TLP:GREEN"]) & ~pl.col("is_duplicate"))
    copies = visible.with_columns(week_ending(pl.col("occurred_date")).alias("week")).join(
        cells.select(*RELEASE_KEYS, "week"), on=[*RELEASE_KEYS, "week"], nulls_equal=True
    ).unique([*RELEASE_KEYS, "week"], keep="first").drop("week").with_columns(
        (pl.col("incident_id") + "-extra").alias("incident_id"))
    assert copies.height == cells.height
    return replace(frames, incidents=pl.concat([frames.incidents, copies]))


def partner_data(frames: PictureFrames, config: ProjectConfig) -> ViewData:
    return view_data(frames, PARTNER, K, TODAY, config.settings.timezone)


def plain(value: Any) -> Any:
    """What a partner receives, as comparable plain data (figures as their JSON)."""
    if isinstance(value, pl.DataFrame):
        return value.to_dicts()
    if hasattr(value, "to_plotly_json"):
        return json.loads(value.to_json())
    if is_dataclass(value) and not isinstance(value, type):
        return {item.name: plain(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, bytes):
        return value.decode()
    return value


VIEWS = [
    Filters(period="7d"), Filters(period="28d"), Filters(period="90d"), Filters(period="ytd"),
    Filters(period="custom", start=date(2026, 5, 1), end=date(2026, 5, 20)),
    Filters(period="custom", start=date(2026, 5, 4), end=date(2026, 5, 31)),
    Filters(period="28d", counties=("06003",)),  # Alpine, the smallest county
    Filters(period="28d", regions=("north_state",)),
    Filters(period="90d", categories=("counterterrorism",)),
    Filters(period="28d", centers=("ncric",), severities=(5,)),  # not released: ignored
]


def everything(config: ProjectConfig, data: ViewData, views: list[Filters]) -> list[Any]:
    """Every partner page model for every view and control, and the banner."""
    received: list[Any] = []
    for filters in views:
        received.append(plain(overview_page(config, data, filters, TODAY)))
        received.append(plain(map_page(config, data, filters, TODAY)))
        # Hot spots over smoothed rates per 100,000 (and the per_100k column): still released
        # cells only.
        received.append(plain(map_page(config, data, filters, TODAY, hotspot_measure="rate")))
        # Emerging hot spots: Gi* per released week cell, its trend and class.
        received.append(plain(emerging_view(config, data, filters, TODAY)))
        for split in ("category", "region"):
            for granularity in ("week", "month"):
                received.append(plain(trends_page(config, data, filters, TODAY, split,
                                                  granularity, "category")))
        received.append(plain(trends_page(config, data, filters, TODAY, compstat_by="region_id")))
        received.append(marking_in_view(config, data, filters, TODAY))
    return received


def test_withheld_counts_cannot_be_told_apart(demo: tuple[ProjectConfig, PictureFrames]) -> None:
    config, frames = demo
    cells = released_cells(frames)
    small = cells.filter(pl.col("count").is_between(1, K - 2))
    assert small.height > 100, "the demo has many small cells in recent weeks"
    changed = with_small_cells_changed(frames, small)
    assert released_cells(changed).join(small, on=[*RELEASE_KEYS, "week"], nulls_equal=True
                                        )["count_right"].to_list() != small["count"].to_list()
    before = everything(config, partner_data(frames, config), VIEWS)
    after = everything(config, partner_data(changed, config), VIEWS)
    assert before == after


def test_an_analyst_does_see_the_difference(demo: tuple[ProjectConfig, PictureFrames]) -> None:
    # The control: the change is real, and visible to whoever may see records.
    config, frames = demo
    small = released_cells(frames).filter(pl.col("count").is_between(1, K - 2))
    changed = with_small_cells_changed(frames, small)
    analyst = VisibilityClass("analyst", "cac", "TLP:GREEN")
    seen = [overview_page(config, view_data(f, analyst, K, TODAY, "UTC"), Filters(period="90d"),
                          TODAY).kpis[0].current for f in (frames, changed)]
    assert seen[1] > seen[0]


def test_gi_star_solves_back_to_released_counts_only(
        demo: tuple[ProjectConfig, PictureFrames]) -> None:
    """The attack of the issue: Gi* z-scores of all counties are a linear system in the
    counts. Solved, they give the released counts (withheld cells as 0), never the true ones."""
    config, frames = demo
    data = partner_data(frames, config)
    page = map_page(config, data, Filters(period="7d"), TODAY)
    hotspots = page.hotspots
    released = page.county_counts.select(
        "county_fips", pl.col("incidents").fill_null(0).alias("incidents"))
    from_release = getis_ord_hotspots(released, config.settings.state)
    assert np.allclose(hotspots.sort("county_fips")["z_score"].to_numpy(),
                       from_release.sort("county_fips")["z_score"].to_numpy())
    # Where the period holds withheld cells, the true counts give other z-scores.
    truth = frames.incidents.filter(
        pl.col("tlp").is_in(["TLP:CLEAR", "TLP:GREEN"]) & ~pl.col("is_duplicate")
        & pl.col("occurred_date").is_between(date(2026, 6, 1), date(2026, 6, 7))
    ).group_by("county_fips").agg(pl.len().alias("incidents"))
    from_truth = getis_ord_hotspots(truth, config.settings.state)
    assert not np.allclose(hotspots.sort("county_fips")["z_score"].to_numpy(),
                           from_truth.sort("county_fips")["z_score"].to_numpy())
    assert page.county_counts["withheld_cells"].sum() > 0


def test_totals_are_the_sum_of_released_rows(demo: tuple[ProjectConfig, PictureFrames]) -> None:
    """Total minus the shown rows is 0, not a withheld count."""
    config, frames = demo
    data = partner_data(frames, config)
    for filters in VIEWS[:6]:
        overview = overview_page(config, data, filters, TODAY)
        total = overview.kpis[0].current
        assert total == overview.county_counts["incidents"].fill_null(0).sum()
        assert total == overview.by_category["current"].sum()
        trends = trends_page(config, data, filters, TODAY)
        assert trends.compstat_table["ytd"].sum() == trends.compstat_totals[2].current


def test_baselines_and_overlapping_views_difference_to_released_cells(
        demo: tuple[ProjectConfig, PictureFrames]) -> None:
    """Differencing two overlapping views (28 days vs the 21 after the first week; a region vs
    the region without a county) and successive baselines gives whole released cells."""
    config, frames = demo
    data = partner_data(frames, config)
    cells = released_cells(frames)
    released = cells.filter(pl.col("count") >= K)
    four_weeks = overview_page(config, data, Filters(period="28d"), TODAY).kpis[0].current
    three_weeks = overview_page(config, data, Filters(
        period="custom", start=TODAY - timedelta(days=20), end=TODAY), TODAY).kpis[0].current
    first_week_end = last_released_day(TODAY) - timedelta(days=21)
    assert four_weeks - three_weeks == released.filter(
        pl.col("week") == first_week_end)["count"].sum()
    trends = trends_page(config, data, Filters(period="90d"), TODAY, "category", "week")
    for series, rows in trends.series.series.group_by("series"):
        counts = rows.sort("bucket_start")["incidents"].to_list()
        expected = released.filter(pl.col("category") == series[0]).group_by("week").agg(
            pl.col("count").sum())
        assert sum(counts) == expected.filter(
            pl.col("week") >= TODAY - timedelta(days=89))["count"].sum()


def test_release_holds_no_partial_week_and_no_filter_across_it(
        demo: tuple[ProjectConfig, PictureFrames]) -> None:
    config, frames = demo
    data = partner_data(frames, config)
    assert data.release is not None
    assert data.release.through == date(2026, 6, 7)
    assert data.frames().incidents["occurred_date"].max() <= date(2026, 6, 7)
    narrowed = overview_page(config, data, VIEWS[-1], TODAY)
    assert plain(narrowed.kpis) == plain(overview_page(config, data, Filters(period="28d"),
                                                       TODAY).kpis)
    assert data.frames().incidents.filter(
        pl.len().over(*RELEASE_KEYS, "occurred_date") < K).is_empty()


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    share=st.floats(0.05, 1.0),
    period=st.sampled_from(["7d", "28d", "90d", "ytd"]),
    start_offset=st.integers(0, 120), length=st.integers(1, 60),
    county_count=st.integers(0, 3), category_count=st.integers(0, 2),
)
def test_property_random_data_and_views(demo: tuple[ProjectConfig, PictureFrames], seed: int,
                                        share: float, period: str, start_offset: int,
                                        length: int, county_count: int,
                                        category_count: int) -> None:
    """Any subset of the data, any view: raising some withheld cells (staying under k) changes
    nothing a partner receives."""
    config, frames = demo
    rng = np.random.default_rng(seed)
    sampled = replace(frames, incidents=frames.incidents.sample(
        fraction=share, seed=seed))
    small = released_cells(sampled).filter(pl.col("count").is_between(1, K - 2))
    if small.is_empty():
        return
    chosen = small.sample(max(1, small.height // 3), seed=seed)
    changed = with_small_cells_changed(sampled, chosen)
    counties = tuple(rng.choice(sorted(config.county_to_region), county_count, replace=False))
    categories = tuple(rng.choice(sorted(config.taxonomy.categories), category_count,
                                  replace=False))
    start = TODAY - timedelta(days=start_offset + length)
    views = [Filters(period=period, counties=counties, categories=categories),
             Filters(period="custom", start=start, end=start + timedelta(days=length),
                     counties=counties, categories=categories)]
    received = [everything(config, partner_data(version, config), views)
                for version in (sampled, changed)]
    assert received[0] == received[1]


def test_partner_csv_and_tables_carry_no_withheld_value(
        demo: tuple[ProjectConfig, PictureFrames]) -> None:
    """The county table and its CSV: a county with only withheld cells has no number at all,
    and says how many cells were withheld."""
    config, frames = demo
    page = map_page(config, partner_data(frames, config), Filters(period="7d"), TODAY)
    only_withheld = page.table.filter(pl.col("incidents").is_null())
    assert only_withheld.height > 0
    assert only_withheld.select("per_1000_km2", "previous", "change", "change_pct"
                                ).null_count().row(0) == (only_withheld.height,) * 4
    assert (only_withheld["withheld_cells"] > 0).all()
    assert asdict(page)["csv"].decode().count("\n") == page.table.height + 1
