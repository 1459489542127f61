"""Gi* finds the hot spots the demo planted: each planted county is a 95 %+ hot spot for the
planted category and window, and anything else it flags borders the planted cluster (Gi* sums
a county's neighbourhood, so the rim of a strong cluster lights up too).

The demo's activity follows population, so the planted clusters (each county several times its
usual rate) are looked for over smoothed rates per 100,000 residents: over counts, Gi* mostly
finds where people live."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from dashboard.analytics.filters import Filters
from dashboard.analytics.hotspots import queen_weights
from dashboard.analytics.report import hotspot_records
from dashboard.demo import generate
from dashboard.frames import PictureFrames, load_picture_frames
from dashboard.ingest.pipeline import run_ingest
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectConfig, PictureFrames, dict]:
    folder = tmp_path_factory.mktemp("recall")
    truth = generate(folder, state="CA", incidents=30_000, seed=7)
    config = load_config(folder / "config")
    engine = open_store(f"sqlite:///{folder / 'store.sqlite'}")
    run_ingest(config, engine)
    return config, load_picture_frames(engine, config.settings.timezone), truth


def test_every_planted_hot_spot_is_found(demo: tuple[ProjectConfig, PictureFrames, dict]) -> None:
    config, frames, truth = demo
    weights, order = queen_weights("CA")
    assert len(truth["hot_spots"]) >= 3
    for spot in truth["hot_spots"]:
        filters = Filters(period="custom", start=date.fromisoformat(spot["start"]),
                          end=date.fromisoformat(spot["end"]), categories=(spot["category"],))
        found = hotspot_records(frames, config, filters, date.fromisoformat(spot["end"]),
                                measure="rate")
        hot = set(found.filter(pl.col("gi_bin") >= 95)["county_fips"])
        planted = set(spot["counties"])
        assert planted <= hot, spot
        rim = {order[j] for county in planted for j in weights.neighbors[order.index(county)]}
        strays = hot - planted - rim
        assert len(strays) <= 1, (spot["category"], sorted(strays))


def test_ongoing_hot_spot_shows_in_the_default_period(
        demo: tuple[ProjectConfig, PictureFrames, dict]) -> None:
    config, frames, truth = demo
    today = date.fromisoformat(truth["parameters"]["today"])
    ongoing = [s for s in truth["hot_spots"] if date.fromisoformat(s["end"]) >= today]
    assert ongoing, "the demo plants one hot spot that runs up to today"
    spot = ongoing[0]
    found = hotspot_records(frames, config, Filters(categories=(spot["category"],)), today,
                            measure="rate")
    assert set(spot["counties"]) <= set(found.filter(pl.col("gi_bin") >= 90)["county_fips"])
