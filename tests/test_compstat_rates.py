"""CompStat's rates per 100,000 residents: a region's are per resident of its counties (those the
place filter selects), a category's per resident of the place (the state without a filter);
residents unknown give no rate (shown "—", never 0); partners' rates are of released counts;
the page shows them on request and the CSV carries them rounded as shown."""

from __future__ import annotations

import io
import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from streamlit.proto.Dataframe_pb2 import Dataframe
from streamlit.testing.v1 import AppTest

from dashboard.analytics.filters import Filters
from dashboard.analytics.trends import (
    area_residents,
    compstat_rates,
    compstat_table,
    compstat_total_rates,
    region_residents,
)
from dashboard.frames import PictureFrames, load_picture_frames
from dashboard.geo.population import state_county_population
from dashboard.ingest.pipeline import run_ingest
from dashboard.pagemodels.trends import trends_page
from dashboard.security.accounts import ensure_demo_users
from dashboard.security.audience import view_data
from dashboard.security.policy import VisibilityClass
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store
from dashboard.views.trends import compstat_columns
from tests.app_support import open_app, table_with
from tests.conftest import RI_FIXTURE

AS_OF = date(2025, 2, 28)
TODAY = date(2025, 3, 1)
WINTER = Filters(period="custom", start=date(2025, 1, 1), end=date(2025, 2, 28))
WINTER_2025 = {"period": "custom", "start": "2025-01-01", "end": "2025-02-28"}
LEADERSHIP = VisibilityClass("leadership", "rifc", "TLP:AMBER+STRICT", need_to_know=True)
PARTNER = VisibilityClass("partner", "rifc", "TLP:GREEN")
PAGE = "pages/trends.py"

# A made-up state of three counties in two regions.
COUNTY_TO_REGION = {"01001": "east", "01003": "east", "01005": "west"}
POPULATION = pl.DataFrame({"county_fips": ["01001", "01003", "01005"],
                           "population": [20_000, 60_000, 50_000]})


def incidents(rows: list[tuple[str, str | None, str, date]]) -> pl.DataFrame:
    """Incident rows (county, region, category, day) with what the filters read."""
    return pl.DataFrame(
        [{"county_fips": county, "region_id": region, "category": category,
          "occurred_date": day, "is_duplicate": False} for county, region, category, day in rows],
        schema={"county_fips": pl.String, "region_id": pl.String, "category": pl.String,
                "occurred_date": pl.Date, "is_duplicate": pl.Boolean})


FEBRUARY = [
    ("01001", "east", "gangs", date(2025, 2, 25)),   # this week, east
    ("01003", "east", "gangs", date(2025, 2, 26)),
    ("01003", "east", "narcotics", date(2025, 2, 27)),
    ("01005", "west", "gangs", date(2025, 2, 24)),   # this week, west
    ("01005", "west", "gangs", date(2025, 2, 18)),   # the week before, west
    (None, None, "narcotics", date(2025, 2, 26)),    # no county: the "unknown" region
]


def rated(by: str, filters: Filters | None = None, population: pl.DataFrame = POPULATION
          ) -> pl.DataFrame:
    filters = filters or Filters()
    table = compstat_table(incidents(FEBRUARY), filters, COUNTY_TO_REGION, AS_OF, by)
    return compstat_rates(table, by, population, COUNTY_TO_REGION, filters)


def test_a_regions_rate_is_per_resident_of_its_counties() -> None:
    table = rated("region_id").sort("region_id")
    east = table.row(by_predicate=pl.col("region_id") == "east", named=True)
    # East: 3 incidents this week among 20,000 + 60,000 residents; none the week before.
    assert east["population"] == 80_000
    assert east["7d"] == 3 and east["7d_per_100k"] == pytest.approx(3 * 100_000 / 80_000)
    assert east["7d_prior_per_100k"] == 0.0
    west = table.row(by_predicate=pl.col("region_id") == "west", named=True)
    assert (west["7d_per_100k"], west["7d_prior_per_100k"]) == (
        pytest.approx(1 * 100_000 / 50_000), pytest.approx(1 * 100_000 / 50_000))
    assert west["28d_per_100k"] == pytest.approx(2 * 100_000 / 50_000)
    # Rates sit beside their counts; the residents come last.
    assert table.columns[:7] == ["region_id", "7d", "7d_per_100k", "7d_prior",
                                 "7d_prior_per_100k", "7d_change", "7d_change_pct"]
    assert table.columns[-1] == "population"


def test_a_county_filter_counts_only_its_residents_in_the_region() -> None:
    only = Filters(counties=("01003",))
    table = rated("region_id", only)
    east = table.row(by_predicate=pl.col("region_id") == "east", named=True)
    # Two incidents of 01003 this week, over 01003's 60,000 residents, not the region's 80,000.
    assert (east["7d"], east["population"]) == (2, 60_000)
    assert east["7d_per_100k"] == pytest.approx(2 * 100_000 / 60_000)
    assert region_residents(POPULATION, COUNTY_TO_REGION, only) == {"east": 60_000}


def test_a_categorys_rate_is_per_resident_of_the_whole_state() -> None:
    table = rated("category")
    gangs = table.row(by_predicate=pl.col("category") == "gangs", named=True)
    assert gangs["population"] == 130_000
    assert gangs["7d"] == 3 and gangs["7d_per_100k"] == pytest.approx(3 * 100_000 / 130_000)
    narcotics = table.row(by_predicate=pl.col("category") == "narcotics", named=True)
    # The incident with no county is in the state: counted, and per resident of the state.
    assert narcotics["7d_per_100k"] == pytest.approx(2 * 100_000 / 130_000)
    totals = compstat_total_rates(table, area_residents(POPULATION, COUNTY_TO_REGION,
                                                        Filters()))
    assert totals["7d"] == (pytest.approx(5 * 100_000 / 130_000),
                            pytest.approx(1 * 100_000 / 130_000))
    # With a region chosen, a category's rate is per resident of that region.
    east = rated("category", Filters(regions=("east",)))
    assert east["population"].unique().to_list() == [80_000]


def test_residents_unknown_give_no_rate_not_zero() -> None:
    # 01005 has no estimate: the west and the state have no rate; the east keeps its own.
    partial = POPULATION.filter(pl.col("county_fips") != "01005")
    by_region = rated("region_id", population=partial)
    rates = dict(zip(by_region["region_id"], by_region["7d_per_100k"], strict=True))
    assert rates["west"] is None
    assert rates["unknown"] is None  # incidents with no county belong to no region's residents
    assert rates["east"] == pytest.approx(3 * 100_000 / 80_000)
    by_category = rated("category", population=partial)
    assert by_category["population"].null_count() == by_category.height
    assert by_category["7d_per_100k"].null_count() == by_category.height
    assert area_residents(partial, COUNTY_TO_REGION, Filters()) is None
    assert compstat_total_rates(by_category, None)["ytd"] == (None, None)


@pytest.fixture(scope="module")
def ri(ingested_ri: tuple[Path, str]) -> tuple[ProjectConfig, PictureFrames]:
    config = load_config(ingested_ri[0])
    return config, load_picture_frames(open_store(ingested_ri[1]), config.settings.timezone)


def compstat_widget(at: AppTest) -> Dataframe:
    """The CompStat table's widget as sent to the browser (columns shown, placeholder)."""
    return next(frame.proto for frame in at.dataframe if "ytd" in frame.value.columns)


def test_the_page_model_uses_the_shipped_estimates(
        ri: tuple[ProjectConfig, PictureFrames]) -> None:
    config, frames = ri
    data = view_data(frames, LEADERSHIP, 5, TODAY, "UTC")
    page = trends_page(config, data, WINTER, TODAY, compstat_by="region_id")
    residents = dict(state_county_population("RI").iter_rows())
    north = residents["44001"] + residents["44003"] + residents["44007"]
    row = page.compstat_table.row(by_predicate=pl.col("region_id") == "north", named=True)
    assert row["population"] == north
    assert row["ytd_per_100k"] == pytest.approx(row["ytd"] * 100_000 / north)
    assert page.compstat_residents == sum(residents.values())
    assert page.rate_basis == "per 100,000 residents, Census 2025 estimates"
    assert "per 100,000 residents, Census 2025 estimates" in page.compstat_rates_note
    # The CSV carries counts and rates under the page's headers, rates to one decimal.
    shown = pl.read_csv(io.BytesIO(page.compstat_csv))
    assert {"Year to date", "Year to date: per 100k",
            "Year to date: same span last year per 100k", "Residents"} <= set(shown.columns)
    north_csv = shown.row(by_predicate=pl.col("Region id") == "north", named=True)
    assert north_csv["Year to date: per 100k"] == round(row["ytd_per_100k"], 1)
    rates = [value for column in shown.columns if column.endswith("per 100k")
             for value in shown[column].to_list() if value is not None]
    assert rates and all(round(value, 1) == value for value in rates)


def test_partner_rates_are_of_released_counts(ri: tuple[ProjectConfig, PictureFrames]) -> None:
    config, frames = ri
    # k = 1: every cell is released, so a partner's CompStat has counts (of whole weeks).
    data = view_data(frames, PARTNER, 1, TODAY, "UTC")
    page = trends_page(config, data, WINTER, TODAY, compstat_by="region_id")
    table = page.compstat_table
    assert table["ytd"].sum() > 0
    expected = table.select(
        (pl.col("ytd") * 100_000 / pl.col("population")).alias("ytd_rate"))["ytd_rate"]
    assert table["ytd_per_100k"].to_list() == pytest.approx(expected.to_list())
    released = data.frames().incidents  # the release's rows, nothing withheld here
    assert table["ytd"].sum() == released.filter(
        pl.col("occurred_date").is_between(date(2025, 1, 1), AS_OF)).height


def test_the_page_shows_rates_on_request_with_a_dash_for_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A deployment of its own (its store keys its cached page models), where Bristol County
    # (44001, North) has no estimate.
    shutil.copytree(RI_FIXTURE, tmp_path, dirs_exist_ok=True)
    config = load_config(tmp_path / "config")
    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = open_store(store_url)
    run_ingest(config, store)
    ensure_demo_users(store, config)
    partial = state_county_population("RI").filter(pl.col("county_fips") != "44001")
    monkeypatch.setattr("dashboard.pagemodels.trends.state_county_population",
                        lambda _state: partial)
    at = open_app((tmp_path / "config", store_url), monkeypatch, WINTER_2025, page=PAGE)
    table = compstat_widget(at)
    assert list(table.column_order) == compstat_columns("category", rates=False)
    at.toggle(key="compstat_by_region").set_value(True).run()
    at.toggle(key="compstat_rates").set_value(True).run()
    assert not at.exception
    table = compstat_widget(at)
    assert list(table.column_order) == compstat_columns("region_id", rates=True)
    assert table.placeholder == "—"  # what a missing rate shows
    shown = json.loads(table.columns)
    assert shown["ytd_per_100k"]["type_config"]["format"] == "%.1f"  # one decimal on screen
    assert shown["name"]["pinned"] is True  # the region stays in view as the windows scroll
    by_region = table_with(at, "ytd_per_100k").set_index("region_id")
    assert by_region.loc["north", "ytd"] == 4  # counted, but no rate
    assert by_region["ytd_per_100k"].isna()["north"]  # no rate, not 0
    south = partial.filter(pl.col("county_fips").is_in(["44005", "44009"]))["population"].sum()
    assert by_region.loc["south", "population"] == south
    assert by_region.loc["south", "ytd_per_100k"] == pytest.approx(
        by_region.loc["south", "ytd"] * 100_000 / south)
    assert any("per 100,000 residents, Census 2025 estimates" in caption.value
               for caption in at.caption)
