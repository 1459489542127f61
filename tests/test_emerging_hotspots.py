"""Emerging hot spots (issue 17): each class from a hand-built series, the space-time Gi* against
the textbook formula, whole cubes of counts, bad input, and the patterns the demo plants found
as planted, in the analysis and in `analyze --json`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from dashboard.analytics.emerging import (
    CLASSES,
    MIN_WEEKS,
    classify,
    emerging_for_filters,
    emerging_hotspots,
    space_time_gi_star,
    week_ends,
)
from dashboard.analytics.filters import Filters, Period, period_of
from dashboard.analytics.hotspots import queen_weights
from dashboard.cli import app
from dashboard.demo import generate
from dashboard.frames import PictureFrames, load_picture_frames
from dashboard.ingest.pipeline import run_ingest
from dashboard.pagemodels.report import analysis_report
from dashboard.security.accounts import ensure_demo_users
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store

WEEKS = [date(2026, 3, 8) - timedelta(weeks=11 - number) for number in range(12)]  # Sundays
T, F = True, False

# --- each class from a hand-built series of Gi* z-scores (oldest week first) -----------------

# Hot patterns; each cold one is its mirror (every z-score negated).
HOT_SERIES: dict[str, tuple[list[float], list[bool]]] = {
    "new": ([0.2, -0.3, 0.5, 0.1, -0.2, 0.4, 0.3, 0.0, -0.1, 0.6, 0.8, 3.1], [F] * 11 + [T]),
    "consecutive": ([0.3, 0.1, -0.2, 0.4, 0.2, 0.0, 0.5, 0.1, 0.6, 2.2, 2.8, 3.4],
                    [F] * 9 + [T] * 3),
    "intensifying": (list(np.linspace(2.0, 6.0, 12)), [T] * 12),
    "persistent": ([3.0, 4.0] * 6, [T] * 12),
    "diminishing": (list(np.linspace(6.0, 2.0, 12)), [T] * 12),
    "sporadic": ([0.5, 2.5, 0.4, 0.1, 2.9, 0.3, 0.2, 0.6, 0.1, 0.4, 0.3, 2.7],
                 [F, T, F, F, T, F, F, F, F, F, F, T]),
    "oscillating": ([0.1, -2.4, -2.6, 0.3, 0.2, 0.4, 2.2, 0.5, 0.1, 0.3, 0.2, 2.5],
                    [F, T, T, F, F, F, T, F, F, F, F, T]),
    "historical": ([3.0, 4.0] * 5 + [3.5, 0.9], [T] * 11 + [F]),
}


@pytest.mark.parametrize("pattern", HOT_SERIES)
@pytest.mark.parametrize("kind", ["hot", "cold"])
def test_each_class_from_a_hand_built_series(pattern: str, kind: str) -> None:
    z_scores, significant = HOT_SERIES[pattern]
    sign = 1 if kind == "hot" else -1
    found = classify([sign * z for z in z_scores], significant)
    assert found.category.key == f"{pattern}_{kind}_spot"
    assert found.category.kind == kind and found.category.pattern == pattern
    assert found.last_z == sign * z_scores[-1]
    share = sum(significant) / 12 if pattern != "oscillating" else 2 / 12
    assert (found.hot_share if kind == "hot" else found.cold_share) == share
    assert found.why.startswith(f"A significant {kind} spot")


def test_the_trend_decides_intensifying_persistent_and_diminishing() -> None:
    rising, steady, falling = (classify(HOT_SERIES[name][0], [T] * 12)
                               for name in ("intensifying", "persistent", "diminishing"))
    # Twelve rising values: every pair in order, Mann-Kendall S = 66.
    assert rising.trend_z == pytest.approx(65 / np.sqrt(12 * 11 * 29 / 18))
    assert rising.trend_p < 1e-4 and falling.trend_z == -rising.trend_z
    assert steady.trend_p > 0.10
    assert "growing stronger" in rising.why and "growing weaker" in falling.why
    # A cold spot intensifies as its z-scores fall further below zero.
    assert classify([-z for z in HOT_SERIES["intensifying"][0]], [T] * 12).category.key == (
        "intensifying_cold_spot")


def test_no_pattern() -> None:
    quiet = classify([0.3, -0.2, 0.1, 0.4, -0.5, 0.2, 0.0, 0.1, -0.3, 0.2, 0.1, -0.1], [F] * 12)
    assert quiet.category.key == "no_pattern" and quiet.category.name == "No Pattern Detected"
    # Significant in the past only, and under 90 % of the weeks: no pattern either.
    faded = classify([3.0] * 6 + [0.1] * 6, [T] * 6 + [F] * 6)
    assert faded.category.key == "no_pattern"
    assert faded.why == ("No pattern: a significant hot spot in 6 and a cold spot in 0 of 12 "
                         "weeks (z = 0.10 in the last week).")


def test_the_ninety_percent_rule_and_the_tie_breaks() -> None:
    steady = [3.0, 4.0] * 6
    # 11 of 12 weeks (92 %) with the last: persistent; 10 of 12 (83 %): on and off, sporadic.
    assert classify(steady, [F] + [T] * 11).category.key == "persistent_hot_spot"
    assert classify(steady, [F, T, F] + [T] * 9).category.key == "sporadic_hot_spot"
    # Ten weeks, nine hot with the last: exactly 90 %.
    assert classify(steady[:10], [F] + [T] * 9).category.key == "persistent_hot_spot"
    # A first hot week after cold ones is new (before oscillating), and a run of hot weeks
    # after cold ones is consecutive: the last week decides first (README).
    cold_then_hot = [-2.5, -2.6] + [0.1] * 9 + [2.4]
    assert classify(cold_then_hot, [T, T] + [F] * 9 + [T]).category.key == "new_hot_spot"
    cold_then_run = [-2.5, -2.6] + [0.1] * 7 + [2.4, 2.5, 2.6]
    assert classify(cold_then_run, [T, T] + [F] * 7 + [T] * 3).category.key == (
        "consecutive_hot_spot")
    # A gap in the final run: not consecutive.
    gap = [0.1] * 8 + [2.4, 0.2, 2.5, 2.6]
    assert classify(gap, [F] * 8 + [T, F, T, T]).category.key == "sporadic_hot_spot"


def test_seventeen_classes_with_their_rules_in_the_readme() -> None:
    assert len(CLASSES) == 17 and len({c.key for c in CLASSES}) == 17
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert all(f"| {c.name} |" in readme for c in CLASSES)


# --- the space-time Gi* and whole cubes of counts ----------------------------------------------


def textbook_gi_star(cube: np.ndarray, neighbours: dict[int, list[int]]) -> np.ndarray:
    """Getis-Ord Gi* with binary weights, written out: a bin's neighbourhood is its county and
    the county's neighbours, this week and the week before."""
    weeks, counties = cube.shape
    values = cube.ravel()
    mean, sd = values.mean(), values.std()
    n = values.size
    z = np.zeros(cube.shape)
    for week in range(weeks):
        for county in range(counties):
            places = [county, *neighbours[county]]
            sums = [cube[w, places].sum() for w in (week - 1, week) if w >= 0]
            k = len(places) * len(sums)
            z[week, county] = (sum(sums) - mean * k) / (sd * np.sqrt((n * k - k * k) / (n - 1)))
    return z


def test_space_time_gi_star_is_the_textbook_formula() -> None:
    weights, _ = queen_weights("CA")
    cube = np.random.default_rng(17).poisson(3, (12, weights.n)).astype(float)
    neighbours = {i: list(weights.neighbors[i]) for i in range(weights.n)}
    assert np.allclose(space_time_gi_star(cube, "CA"), textbook_gi_star(cube, neighbours))


def ring(centre: str) -> list[str]:
    """A county and every county touching it."""
    weights, order = queen_weights("CA")
    return [centre, *(order[j] for j in weights.neighbors[order.index(centre)])]


MODOC, SANTA_CLARA, INYO, SAN_DIEGO = "06049", "06085", "06027", "06073"


def weekly_counts(planted: dict[str, list[float]], zero: tuple[str, ...] = (),
                  seed: int = 2026) -> pl.DataFrame:
    """~Poisson(4) incidents a week in every California county, ``planted`` extras per week on
    top of each county of the named ring, and none at all in ``zero``'s counties."""
    _, order = queen_weights("CA")
    rng = np.random.default_rng(seed)
    extras = {county: np.array(by_week) for centre, by_week in planted.items()
              for county in ring(centre)}
    rows = []
    for county in order:
        counts = np.round(rng.poisson(4, len(WEEKS)) + extras.get(county, 0)).astype(int)
        if county in zero:
            counts[:] = 0
        rows += [(county, week, int(count)) for week, count in zip(WEEKS, counts, strict=True)]
    return pl.DataFrame(rows, schema=["county_fips", "week_end", "incidents"], orient="row")


def test_a_cube_of_counts_with_planted_patterns() -> None:
    planted = {MODOC: [0] * 11 + [30],  # new: a burst in the last week only
               SANTA_CLARA: list(np.linspace(12, 28, 12)),  # intensifying
               INYO: list(np.linspace(28, 12, 12))}  # diminishing, still a hot spot at the end
    found = emerging_hotspots(weekly_counts(planted, zero=tuple(ring(SAN_DIEGO))), "CA", WEEKS)
    classes = dict(found.select("county_fips", "category").rows())
    assert classes[MODOC] == "new_hot_spot"
    assert classes[SANTA_CLARA] == "intensifying_hot_spot"
    assert classes[INYO] == "diminishing_hot_spot"
    assert classes[SAN_DIEGO] == "persistent_cold_spot"  # a quiet cluster, every week
    # Away from the planted places (no neighbour in a planted ring) no county is a hot spot of
    # any kind. (A cold one may be: the planted incidents raise the cube's mean, which every
    # neighbourhood is measured against, ArcGIS's "entire cube" window.)
    _, order = queen_weights("CA")
    touched = {county for centre in [*planted, SAN_DIEGO] for county in ring(centre)}
    away = [county for county in order if not touched & set(ring(county))]
    assert len(away) > 10
    assert not [county for county in away if classes[county].endswith("_hot_spot")]
    # The table: one row per county, strongest patterns first, with its numbers.
    assert found.height == len(order) and found["category"][0] == "new_hot_spot"
    modoc = found.row(by_predicate=pl.col("county_fips") == MODOC, named=True)
    assert modoc["hot_share"] == 1 / 12 and modoc["cold_share"] == 0
    assert modoc["last_z"] == modoc["z_scores"][-1] > 2.5 and len(modoc["z_scores"]) == 12
    assert modoc["why"] == (f"A significant hot spot for the first time in 12 weeks "
                            f"(z = {modoc['last_z']:.2f} in the last week).")


# --- bad input -------------------------------------------------------------------------------

EMPTY = pl.DataFrame(schema={"county_fips": pl.String, "week_end": pl.Date,
                             "incidents": pl.UInt32})


def test_no_incidents_at_all_is_no_pattern_anywhere() -> None:
    found = emerging_hotspots(EMPTY, "CA", WEEKS)
    assert found.height == 58
    assert set(found["category"]) == {"no_pattern"} and found["incidents"].sum() == 0
    assert set(found["why"]) == {"No incidents in the 12 weeks."}


def test_a_county_without_incidents_is_still_classed() -> None:
    alpine = "06003"
    found = emerging_hotspots(weekly_counts({}, zero=(alpine,)), "CA", WEEKS)
    row = found.row(by_predicate=pl.col("county_fips") == alpine, named=True)
    assert row["incidents"] == 0 and row["category"] == "no_pattern"
    assert row["why"].startswith("No pattern: a significant hot spot in 0")


def test_too_few_or_broken_weeks_are_refused() -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_WEEKS} weeks"):
        emerging_hotspots(EMPTY, "CA", WEEKS[-(MIN_WEEKS - 1):])
    with pytest.raises(ValueError, match=f"at least {MIN_WEEKS} weeks, got 9"):
        classify([1.0] * 9, [F] * 9)
    with pytest.raises(ValueError, match="consecutive weeks"):
        emerging_hotspots(EMPTY, "CA", [*WEEKS[:5], *WEEKS[6:], WEEKS[-1] + timedelta(weeks=1)])
    # Other weeks' and other places' rows are left out, not counted; a county-week's rows add.
    stray = pl.DataFrame({"county_fips": ["06037", "99999", "06001", "06001"],
                          "week_end": [WEEKS[0] - timedelta(weeks=1), WEEKS[0], WEEKS[3],
                                       WEEKS[3]],
                          "incidents": [500, 500, 3, 4]})
    counted = emerging_hotspots(stray, "CA", WEEKS).filter(pl.col("incidents") > 0)
    assert counted.select("county_fips", "incidents").rows() == [("06001", 7)]


def test_the_weeks_are_complete_weeks_of_the_period_at_least_twelve() -> None:
    tuesday = date(2026, 3, 10)
    for preset in ("7d", "28d", "90d"):
        bins = week_ends(period_of(Filters(period=preset), tuesday), tuesday)
        assert bins == WEEKS, preset
    assert all(day.isoweekday() == 7 for day in WEEKS)
    # Half a year of complete weeks: 26 of them.
    half_year = week_ends(Period(date(2025, 9, 1), date(2026, 3, 1)), tuesday)
    assert (len(half_year), half_year[0], half_year[-1]) == (26, date(2025, 9, 7),
                                                            date(2026, 3, 1))
    # On a Sunday, that day's week is not complete yet.
    sunday = date(2026, 3, 8)
    assert week_ends(period_of(Filters(), sunday), sunday)[-1] == date(2026, 3, 1)


# --- the demo's planted patterns -------------------------------------------------------------

TODAY = date(2026, 3, 10)  # a Tuesday: the last complete week ends on Sunday 8 March


@dataclass(frozen=True)
class Demo:
    config: ProjectConfig
    frames: PictureFrames
    truth: dict[str, Any]
    config_dir: Path
    store_url: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    folder = tmp_path_factory.mktemp("emerging")
    truth = generate(folder, state="CA", incidents=20_000, seed=7, today=TODAY)
    config = load_config(folder / "config")
    store_url = f"sqlite:///{folder / 'store.sqlite'}"
    engine = open_store(store_url)
    run_ingest(config, engine)
    ensure_demo_users(engine, config)
    return Demo(config, load_picture_frames(engine, config.settings.timezone), truth,
                folder / "config", store_url)


def planted(demo: Demo, pattern: str) -> dict[str, Any]:
    return next(p for p in demo.truth["emerging_hotspots"] if p["pattern"] == pattern)


def test_the_demo_plants_the_patterns_as_documented(demo: Demo) -> None:
    patterns = demo.truth["emerging_hotspots"]
    assert sorted(p["pattern"] for p in patterns) == ["diminishing", "intensifying", "new"]
    hot_spot_categories = {spot["category"] for spot in demo.truth["hot_spots"]}
    assert len({p["category"] for p in patterns}) == 3
    for pattern in patterns:
        assert pattern["category"] not in hot_spot_categories
        assert sorted(pattern["counties"]) == sorted(ring(pattern["county_fips"]))
        assert (pattern["start"], pattern["end"]) == ("2025-12-15", "2026-03-09")
        assert len(pattern["weekly_extras"]) == 12
    new = planted(demo, "new")["weekly_extras"]
    assert new[:-1] == [0] * 11 and new[-1] > 0
    rising = planted(demo, "intensifying")["weekly_extras"]
    assert rising == sorted(rising) and rising[-1] > 2 * rising[0] > 0
    falling = planted(demo, "diminishing")["weekly_extras"]
    assert falling == sorted(falling, reverse=True) and falling[0] > 2 * falling[-1] > 0


@pytest.mark.parametrize("pattern", ["new", "intensifying", "diminishing"])
def test_each_planted_pattern_is_found_as_planted(demo: Demo, pattern: str) -> None:
    spot = planted(demo, pattern)
    filters = Filters(categories=(spot["category"],))
    found = emerging_for_filters(demo.frames.incidents, filters,
                                 week_ends(period_of(filters, TODAY), TODAY),
                                 demo.config.county_to_region, "CA")
    row = found.row(by_predicate=pl.col("county_fips") == spot["county_fips"], named=True)
    assert row["category"] == f"{pattern}_hot_spot", row["why"]
    if pattern == "new":
        # Nowhere near it was that category a hot spot in the eleven weeks before.
        near = found.filter(pl.col("county_fips").is_in(spot["counties"]))
        assert near["pattern"].is_in(["new", "none"]).all()


def test_analyze_reports_the_emerging_hot_spots(demo: Demo) -> None:
    spot = planted(demo, "new")
    report = analysis_report(demo.frames, demo.config, Filters(categories=(spot["category"],)),
                             TODAY)
    listed = report["emerging_hotspots"]
    assert listed and all(list(entry) == ["county_fips", "county", "category", "class", "why"]
                          for entry in listed)
    assert "no_pattern" not in {entry["category"] for entry in listed}
    entry = next(e for e in listed if e["county_fips"] == spot["county_fips"])
    assert (entry["category"], entry["class"]) == ("new_hot_spot", "New Hot Spot")
    assert entry["county"] == demo.frames.regions.row(
        by_predicate=pl.col("county_fips") == spot["county_fips"], named=True)["county_name"]
    assert entry["why"].startswith("A significant hot spot for the first time in 12 weeks")


def test_cli_analyze_json_carries_them(demo: Demo) -> None:
    # A custom period ending on the demo's last complete week: the same weeks on any real day.
    spot = planted(demo, "intensifying")
    result = CliRunner().invoke(app, [
        "analyze", "--config", str(demo.config_dir), "--store", demo.store_url, "--user",
        "analyst", "--period", "custom", "--start", "2025-12-15", "--end", "2026-03-08",
        "--category", spot["category"]])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["emerging_hotspots"]
    entry = next(e for e in listed if e["county_fips"] == spot["county_fips"])
    assert (entry["category"], entry["class"]) == ("intensifying_hot_spot",
                                                   "Intensifying Hot Spot")
