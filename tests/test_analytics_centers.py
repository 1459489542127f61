"""The Centers analytics on small hand-made frames: shares, lag, AOR reach, overlap, coverage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.analytics.centers import (
    NOT_CONFIGURED,
    SUMMARY_COLUMNS,
    UNKNOWN_BAND,
    CenterFigures,
    center_figures,
    county_coverage,
    lag_statistics,
    overlap_matrix,
    products_by_month,
    statewide_center_ids,
    week_bins,
)
from dashboard.analytics.filters import Filters, Period
from dashboard.analytics.picture import filtered_incidents
from dashboard.frames import load_picture_frames
from dashboard.settings import load_config
from dashboard.store import open_store
from dashboard.views.centers import (
    lag_figure,
    overlap_figure,
    products_by_month_figure,
    weekly_activity_figure,
)
from dashboard.views.formatting import markdown_text

# RI geography: north = Bristol 44001, Kent 44003, Providence 44007; south = Newport 44005,
# Washington 44009.
COUNTY_TO_REGION = {"44001": "north", "44003": "north", "44007": "north", "44005": "south",
                    "44009": "south"}
NAMES = {"44001": "Bristol", "44003": "Kent", "44005": "Newport", "44007": "Providence",
         "44009": "Washington"}
REGIONS = pl.DataFrame({
    "county_fips": list(NAMES), "county_name": list(NAMES.values()),
    "region_id": [COUNTY_TO_REGION[f] for f in NAMES],
    "region_name": [COUNTY_TO_REGION[f].title() for f in NAMES],
    "area_km2": [100.0] * 5,
})
CENTERS = pl.DataFrame({
    "center_id": ["state", "prov", "south"],
    "name": ["State Fusion Center", "Providence RIC", "South Coast Center"],
    "kind": ["state", "urban_area", "regional"],
    "timezone": ["UTC"] * 3, "default_tlp": ["TLP:AMBER"] * 3,
})
AOR = {"state": list(NAMES), "prov": ["44001", "44003", "44005", "44007"],
       "south": ["44005", "44009"]}
CENTER_AOR = pl.DataFrame([{"center_id": c, "county_fips": f} for c, fs in AOR.items()
                           for f in fs])
PERIOD = Period(date(2025, 3, 1), date(2025, 3, 14))
NOON = datetime(2025, 3, 1, 12, tzinfo=UTC)

INCIDENT_SCHEMA = {
    "center_id": pl.String, "incident_id": pl.String, "occurred_at": pl.Datetime("us", "UTC"),
    "reported_at": pl.Datetime("us", "UTC"), "occurred_date": pl.Date, "category": pl.String,
    "county_fips": pl.String, "region_id": pl.String, "sar_behavior": pl.String,
    "target_sector": pl.String, "severity": pl.Int64, "tlp": pl.String,
    "duplicate_of_center_id": pl.String, "duplicate_of_incident_id": pl.String,
    "is_duplicate": pl.Boolean, "is_sar": pl.Boolean,
}
PRODUCT_SCHEMA = {
    "center_id": pl.String, "product_id": pl.String, "title": pl.String,
    "product_type": pl.String, "published_at": pl.Datetime("us", "UTC"),
    "published_date": pl.Date, "topics": pl.List(pl.String), "audience": pl.String,
    "tlp": pl.String, "covered_counties": pl.List(pl.String), "statewide": pl.Boolean,
}


def report(center: str, incident_id: str, day: int = 1, county: str | None = "44007",
           lag_h: float | None = 1.0, category: str = "gangs",
           duplicate_of: tuple[str, str] | None = None) -> dict[str, Any]:
    """One row as PictureFrames.incidents has it, occurring at noon UTC on March ``day``."""
    occurred = NOON + timedelta(days=day - 1)
    return {
        "center_id": center, "incident_id": incident_id, "occurred_at": occurred,
        "reported_at": None if lag_h is None else occurred + timedelta(hours=lag_h),
        "occurred_date": occurred.date(), "category": category, "county_fips": county,
        "region_id": COUNTY_TO_REGION.get(county or ""), "sar_behavior": None,
        "target_sector": None, "severity": 3, "tlp": "TLP:GREEN",
        "duplicate_of_center_id": duplicate_of[0] if duplicate_of else None,
        "duplicate_of_incident_id": duplicate_of[1] if duplicate_of else None,
        "is_duplicate": duplicate_of is not None, "is_sar": False,
    }


def incidents(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=INCIDENT_SCHEMA)


def product(center: str, product_id: str, day: date, product_type: str = "bulletin",
            topics: tuple[str, ...] = ("gangs",),
            counties: tuple[str, ...] = ("44007",)) -> dict[str, Any]:
    return {
        "center_id": center, "product_id": product_id, "title": f"<b>{product_id}</b>",
        "product_type": product_type,
        "published_at": datetime(day.year, day.month, day.day, 15, tzinfo=UTC),
        "published_date": day, "topics": list(topics), "audience": None, "tlp": "TLP:GREEN",
        "covered_counties": list(counties), "statewide": False,
    }


def products(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=PRODUCT_SCHEMA)


NO_PRODUCTS = products()
# state files S1, S2; prov files P1 (a duplicate of S1), P2, P3; south files Q1.
SIX_REPORTS = incidents(
    report("state", "S1", day=2, county="44007", lag_h=0.5),
    report("state", "S2", day=3, county="44009", lag_h=30),
    report("prov", "P1", day=2, county="44007", lag_h=1, duplicate_of=("state", "S1")),
    report("prov", "P2", day=9, county="44001", lag_h=2, category="narcotics"),
    report("prov", "P3", day=10, county="44003", lag_h=10),
    report("south", "Q1", day=12, county="44005", lag_h=None),
)


def figures_of(frame: pl.DataFrame, filters: Filters | None = None,
               product_frame: pl.DataFrame = NO_PRODUCTS,
               center_aor: pl.DataFrame = CENTER_AOR,
               period: Period = PERIOD) -> CenterFigures:
    return center_figures(frame, product_frame, REGIONS, CENTERS, center_aor,
                          filters or Filters(period="custom"), period, COUNTY_TO_REGION)


def summary_of(figures: CenterFigures) -> dict[str, dict[str, Any]]:
    return {row["center_id"]: row for row in figures.summary.iter_rows(named=True)}


def test_each_center_is_credited_with_its_reports_and_shares_sum_to_100() -> None:
    figures = figures_of(SIX_REPORTS)
    rows = summary_of(figures)
    assert figures.statewide_reports == 6
    assert figures.statewide_events == 5  # P1 repeats S1: one event statewide
    assert {c: r["incidents"] for c, r in rows.items()} == {"state": 2, "prov": 3, "south": 1}
    assert rows["prov"]["share_pct"] == pytest.approx(50.0)
    assert rows["state"]["share_pct"] == pytest.approx(100 / 3)
    assert rows["south"]["share_pct"] == pytest.approx(100 / 6)
    assert sum(r["share_pct"] for r in rows.values()) == pytest.approx(100.0)
    # S1 and P1 are the same event: each center has one report another center also filed.
    assert {c: r["also_reported_by_other"] for c, r in rows.items()} == {
        "state": 1, "prov": 1, "south": 0}
    assert figures.summary["center_id"].to_list() == ["prov", "state", "south"]
    assert figures.summary.columns == list(SUMMARY_COLUMNS)


def test_duplicates_switch_does_not_change_what_a_center_filed() -> None:
    once = summary_of(figures_of(SIX_REPORTS, Filters(period="custom", duplicates_once=True)))
    every = summary_of(figures_of(SIX_REPORTS, Filters(period="custom",
                                                       duplicates_once=False)))
    assert once["prov"]["incidents"] == every["prov"]["incidents"] == 3


def test_center_filter_keeps_shares_of_the_statewide_total() -> None:
    figures = figures_of(SIX_REPORTS, Filters(period="custom", centers=("prov",)))
    assert figures.summary["center_id"].to_list() == ["prov"]
    assert figures.summary["share_pct"].to_list() == [pytest.approx(50.0)]
    assert figures.statewide_reports == 6
    assert set(figures.weekly["center_id"]) == {"prov"}
    # The overlap matrix describes the state: every center, whatever the center filter.
    assert set(figures.overlap["center_a"]) == {"state", "prov", "south"}


def test_place_and_category_filters_narrow_every_figure() -> None:
    north = figures_of(SIX_REPORTS, Filters(period="custom", regions=("north",)))
    assert {c: r["incidents"] for c, r in summary_of(north).items()} == {
        "state": 1, "prov": 3, "south": 0}
    assert north.statewide_reports == 4
    assert set(north.county_coverage["county_fips"]) == {"44001", "44003", "44007"}
    narcotics = figures_of(SIX_REPORTS, Filters(period="custom", categories=("narcotics",)))
    assert summary_of(narcotics)["prov"]["share_pct"] == pytest.approx(100.0)


def test_lag_median_and_p90_on_known_values() -> None:
    # prov: 1 h, 2 h, 10 h; linear p90 = 2 + 0.8 * (10 - 2) = 8.4.
    rows = summary_of(figures_of(SIX_REPORTS))
    assert rows["prov"]["median_lag_h"] == pytest.approx(2.0)
    assert rows["prov"]["p90_lag_h"] == pytest.approx(8.4)
    assert rows["state"]["median_lag_h"] == pytest.approx(15.25)  # (0.5 + 30) / 2
    # south's only report has no report time: unknown, not zero.
    assert rows["south"]["median_lag_h"] is None
    assert rows["south"]["lag_unknown"] == 1


def test_negative_lag_is_counted_apart_and_left_out_of_the_median() -> None:
    frame = incidents(report("prov", "A", lag_h=-3), report("prov", "B", lag_h=4),
                      report("prov", "C", lag_h=6), report("prov", "D", lag_h=None))
    stats = lag_statistics(frame).row(0, named=True)
    assert stats == {"center_id": "prov", "reports": 4, "lag_unknown": 1, "lag_negative": 1,
                     "median_lag_h": pytest.approx(5.0), "p90_lag_h": pytest.approx(5.8)}


def test_lag_bands_are_a_histogram_with_unknown_as_a_band() -> None:
    bands = figures_of(SIX_REPORTS).lag_bands
    prov = dict(bands.filter(pl.col("center_id") == "prov").select("band", "reports")
                .iter_rows())
    assert prov["1–6 h"] == 2 and prov["6–24 h"] == 1 and prov[UNKNOWN_BAND] == 0
    south = bands.filter(pl.col("center_id") == "south", pl.col("reports") > 0)
    assert south.select("band", "share_pct").rows() == [(UNKNOWN_BAND, 100.0)]
    shares = bands.group_by("center_id").agg(pl.col("share_pct").sum())
    assert shares["share_pct"].to_list() == pytest.approx([100.0] * 3)


def test_outside_aor_share_is_of_reports_with_a_known_county() -> None:
    frame = incidents(
        report("south", "Q1", county="44005"),  # inside
        report("south", "Q2", county="44007", category="narcotics"),  # outside
        report("south", "Q3", county="44001"),  # outside
        report("south", "Q4", county=None),  # unknown county: neither
    )
    figures = figures_of(frame)
    row = summary_of(figures)["south"]
    assert (row["outside_aor"], row["outside_aor_pct"]) == (2, pytest.approx(200 / 3))
    by_category = {r["category"]: r for r in figures.by_category.iter_rows(named=True)}
    assert (by_category["gangs"]["incidents"], by_category["gangs"]["outside_aor"],
            by_category["gangs"]["unknown_county"]) == (3, 1, 1)
    assert by_category["narcotics"]["outside_aor"] == 1
    by_region = {r["region_name"]: r for r in figures.by_region.filter(
        pl.col("center_id") == "south").iter_rows(named=True)}
    assert (by_region["North"]["incidents"], by_region["North"]["outside_aor"],
            by_region["North"]["aor_counties"], by_region["North"]["region_counties"]) == (
        2, 2, 0, 3)
    assert (by_region["South"]["aor_counties"], by_region["South"]["region_counties"]) == (2, 2)
    assert by_region["Unknown county"]["incidents"] == 1
    # prov filed nothing: its AOR's regions are listed with zeros, not left out.
    silent = figures.by_region.filter(pl.col("center_id") == "prov")
    assert silent.select("region_name", "incidents", "aor_counties").sort("region_name").rows(
    ) == [("North", 0, 3), ("South", 0, 1)]
    north_only = figures_of(frame, Filters(period="custom", regions=("north",))).by_region
    assert north_only.filter(pl.col("center_id") == "prov")["region_name"].to_list() == [
        "North"]
    assert figures.outside_counties.select("county_name", "incidents").sort(
        "county_name").rows() == [("Bristol", 1), ("Providence", 1)]
    # A statewide center is never outside its AOR.
    state = summary_of(figures_of(incidents(report("state", "S", county="44009"))))["state"]
    assert (state["outside_aor"], state["outside_aor_pct"]) == (0, 0.0)


def test_overlap_matrix_is_symmetric_with_the_shared_counties() -> None:
    matrix = figures_of(SIX_REPORTS).overlap
    cells = {(r["center_a"], r["center_b"]): r for r in matrix.iter_rows(named=True)}
    assert len(cells) == 9
    for (a, b), cell in cells.items():
        mirror = cells[(b, a)]
        assert (cell["shared_counties"], cell["shared_county_names"], cell["both_reported"]) == (
            mirror["shared_counties"], mirror["shared_county_names"], mirror["both_reported"])
    assert cells[("state", "prov")]["shared_county_names"] == [
        "Bristol", "Kent", "Newport", "Providence"]
    assert cells[("prov", "south")]["shared_county_names"] == ["Newport"]
    assert cells[("state", "south")]["shared_counties"] == 2
    # The diagonal is the AOR's size; "reported by both" means nothing there.
    assert cells[("state", "state")]["shared_counties"] == 5
    assert cells[("south", "south")]["both_reported"] is None
    assert cells[("state", "prov")]["both_reported"] == 1  # S1 / P1 in Providence
    assert cells[("prov", "south")]["both_reported"] == 0


def test_both_reported_counts_every_pair_of_a_group_in_the_shared_counties() -> None:
    frame = incidents(
        # One event in Newport reported by all three: state first.
        report("state", "S1", county="44005"),
        report("prov", "P1", county="44005", duplicate_of=("state", "S1")),
        report("south", "Q1", county="44005", duplicate_of=("state", "S1")),
        # prov and south both report an event in Washington, which prov's AOR lacks.
        report("prov", "P2", day=5, county="44009"),
        report("south", "Q2", day=5, county="44009", duplicate_of=("prov", "P2")),
    )
    matrix = overlap_matrix(["state", "prov", "south"], CENTER_AOR, REGIONS, frame)
    both = {(r["center_a"], r["center_b"]): r["both_reported"]
            for r in matrix.iter_rows(named=True)}
    assert both[("state", "prov")] == both[("state", "south")] == 1
    assert both[("prov", "south")] == both[("south", "prov")] == 1  # not 2: Washington is
    # outside prov's AOR, so it is not in their overlap


def test_a_statewide_center_covers_every_county() -> None:
    assert statewide_center_ids(CENTER_AOR, REGIONS) == ["state"]
    coverage = county_coverage(REGIONS, CENTER_AOR, incidents())
    assert coverage["center_count"].min() >= 1
    assert coverage.filter(pl.col("county_fips") == "44005")["centers"].to_list() == [
        ["prov", "south", "state"]]
    assert not coverage["only_statewide"].any()
    without_south = CENTER_AOR.filter(pl.col("center_id") != "south")
    only_state = county_coverage(REGIONS, without_south, incidents()).filter(
        pl.col("only_statewide"))
    assert only_state["county_name"].to_list() == ["Washington"]


def test_counties_no_center_covers() -> None:
    regional_only = CENTER_AOR.filter(pl.col("center_id") != "state")
    frame = incidents(report("prov", "P1", county="44007"), report("prov", "P2", county="44007"))
    figures = figures_of(frame, center_aor=regional_only)
    uncovered = figures.county_coverage.filter(pl.col("center_count") == 0)
    assert uncovered.select("county_name", "incidents").rows() == []  # every county held
    gaps = CENTER_AOR.filter(pl.col("center_id") == "south")
    uncovered = figures_of(frame, center_aor=gaps).county_coverage.filter(
        pl.col("center_count") == 0)
    assert sorted(uncovered.select("county_name", "incidents").rows()) == [
        ("Bristol", 0), ("Kent", 0), ("Providence", 2)]
    assert statewide_center_ids(gaps, REGIONS) == []


def test_weekly_bins_end_on_the_period_end() -> None:
    bins = week_bins(Period(date(2025, 3, 1), date(2025, 3, 10)))
    assert bins.select("week_start", "week_end", "days").rows() == [
        (date(2025, 3, 4), date(2025, 3, 10), 7), (date(2025, 3, 1), date(2025, 3, 3), 3)]
    weekly = figures_of(SIX_REPORTS, product_frame=products(
        product("prov", "PP1", date(2025, 3, 9)), product("prov", "PP2", date(2025, 3, 2)),
    )).weekly
    prov = weekly.filter(pl.col("center_id") == "prov").select(
        "week_end", "incidents", "products").rows()
    # 14 days: 1-7 March (P1) and 8-14 March (P2, P3).
    assert prov == [(date(2025, 3, 7), 1, 1), (date(2025, 3, 14), 2, 1)]
    assert weekly.height == 6  # every center x week, zeros included


def test_products_by_month_and_type_follow_the_filters() -> None:
    frame = products(
        product("prov", "A", date(2025, 1, 30)),
        product("prov", "B", date(2025, 2, 2), "assessment"),
        product("prov", "C", date(2025, 2, 20), "assessment"),
        product("state", "D", date(2025, 2, 3), topics=("cybercrime",)),
    )
    figures = figures_of(incidents(), Filters(period="custom", categories=("gangs",)),
                         product_frame=frame, period=Period(date(2025, 1, 1), date(2025, 2, 28)))
    assert figures.products_by_month.rows() == [
        ("prov", date(2025, 1, 1), "bulletin", 1), ("prov", date(2025, 2, 1), "assessment", 2)]
    assert summary_of(figures)["prov"]["products"] == 3
    assert summary_of(figures)["state"]["products"] == 0


def test_last_report_looks_back_before_the_period() -> None:
    frame = incidents(report("south", "Old", day=1, lag_h=5),
                      report("south", "Later", day=20, lag_h=1))
    figures = figures_of(frame, period=Period(date(2025, 3, 10), date(2025, 3, 14)))
    row = summary_of(figures)["south"]
    assert row["incidents"] == 0  # nothing in the period...
    assert row["last_report_at"] == NOON + timedelta(hours=5)  # ...but it last reported then


def test_empty_frames_give_zeros_not_errors() -> None:
    figures = figures_of(incidents())
    rows = summary_of(figures)
    assert set(rows) == {"state", "prov", "south"}
    assert all(r["incidents"] == 0 and r["share_pct"] is None and r["median_lag_h"] is None
               for r in rows.values())
    assert figures.statewide_events == figures.statewide_reports == 0
    assert figures.overlap.height == 9
    nothing = center_figures(incidents(), NO_PRODUCTS, REGIONS.clear(), CENTERS.clear(),
                             CENTER_AOR.clear(), Filters(), PERIOD, {})
    assert nothing.summary.is_empty() and nothing.overlap.is_empty()
    assert nothing.county_coverage.is_empty()


def test_a_center_only_in_the_data_is_listed_not_dropped() -> None:
    frame = incidents(report("retired", "X1", county="44007"), report("prov", "P1"))
    row = summary_of(figures_of(frame))["retired"]
    assert (row["name"], row["kind"], row["incidents"]) == ("retired", NOT_CONFIGURED, 1)
    assert row["outside_aor_pct"] == 100.0  # it has no AOR


def test_no_report_times_at_all() -> None:
    frame = incidents(*(report("prov", f"P{n}", lag_h=None) for n in range(4)))
    row = summary_of(figures_of(frame))["prov"]
    assert (row["lag_unknown"], row["median_lag_h"], row["p90_lag_h"]) == (4, None, None)


CENTER_IDS = ["state", "prov", "south"]
report_rows = st.lists(
    st.tuples(st.sampled_from(CENTER_IDS), st.integers(1, 20),
              st.sampled_from([*NAMES, None]), st.sampled_from(["gangs", "narcotics"]),
              st.booleans()),
    max_size=40)


@settings(max_examples=60, deadline=None)
@given(rows=report_rows, regions=st.sampled_from([(), ("north",), ("south",)]),
       categories=st.sampled_from([(), ("gangs",)]))
def test_center_counts_add_up_to_the_filtered_reports(
        rows: list[tuple[str, int, str | None, str, bool]], regions: tuple[str, ...],
        categories: tuple[str, ...]) -> None:
    built = []
    for number, (center, day, county, category, repeats) in enumerate(rows):
        # A report may repeat the first report of another center (a cross-center duplicate).
        original = next((r for r in built if r["center_id"] != center
                         and not r["is_duplicate"]), None) if repeats else None
        built.append(report(center, f"I{number}", day=day, county=county, category=category,
                            duplicate_of=(original["center_id"], original["incident_id"])
                            if original else None))
    frame = incidents(*built)
    filters = Filters(period="custom", regions=regions, categories=categories)
    figures = figures_of(frame, filters)
    per_report = filtered_incidents(frame, filters.with_changes(duplicates_once=False),
                                    COUNTY_TO_REGION, PERIOD)
    assert figures.summary["incidents"].sum() == per_report.height == figures.statewide_reports
    assert figures.statewide_events == filtered_incidents(frame, filters, COUNTY_TO_REGION,
                                                          PERIOD).height
    if per_report.height:
        assert figures.summary["share_pct"].sum() == pytest.approx(100.0)
    assert figures.weekly["incidents"].sum() == per_report.height
    matrix = figures.overlap
    assert matrix.sort("center_a", "center_b")["both_reported"].to_list() == matrix.sort(
        "center_b", "center_a")["both_reported"].to_list()


def test_ingested_store_pairs_duplicates_across_centers(ingested_ri: tuple[Path, str]) -> None:
    config_dir, store_url = ingested_ri
    config = load_config(config_dir)
    frames = load_picture_frames(open_store(store_url), config.settings.timezone)
    p100 = frames.incidents.filter(pl.col("incident_id") == "P-100").row(0, named=True)
    assert (p100["is_duplicate"], p100["duplicate_of_center_id"],
            p100["duplicate_of_incident_id"]) == (True, "rifc", "R-1")
    figures = center_figures(frames.incidents, frames.products, frames.regions, frames.centers,
                             frames.center_aor, Filters(period="custom"),
                             Period(date(2025, 1, 1), date(2025, 2, 28)),
                             config.county_to_region)
    both = {(r["center_a"], r["center_b"]): r for r in figures.overlap.iter_rows(named=True)}
    # prov's AOR: north (Bristol, Kent, Providence) + Newport; rifc is statewide.
    assert both[("rifc", "prov")]["shared_counties"] == 4
    assert both[("rifc", "prov")]["both_reported"] == 1  # R-1 / P-100 in Providence
    assert figures.county_coverage.filter(pl.col("only_statewide"))["county_name"].to_list() == [
        "Washington"]


def test_figures_escape_every_label() -> None:
    hostile = {"state": "<img src=x onerror=alert(1)>", "prov": "P", "south": "S"}
    figures = figures_of(SIX_REPORTS)
    order = ["state", "prov", "south"]
    built = [
        weekly_activity_figure(figures.weekly, hostile, order),
        lag_figure(figures.lag_bands, hostile, order),
        overlap_figure(figures.overlap, hostile, order, "both_reported"),
        products_by_month_figure(products_by_month(products(product("state", "A", date(
            2025, 3, 2)))), hostile, order, {"bulletin": "<b>Bulletin</b>"}, PERIOD),
    ]
    text = " ".join(figure.to_json() for figure in built)
    assert "<img" not in text and "<b>Bulletin" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert markdown_text("*x* <b>[y](z)</b>") == r"\*x\* &lt;b&gt;\[y\]\(z\)&lt;/b&gt;"
    # The overlap heat map's cells carry the shared county names and both figures.
    heatmap = built[2].data[0]
    assert heatmap.text[0][0] == "AOR 5" and heatmap.text[0][1] == "1"
    assert "Bristol, Kent, Newport, Providence" in heatmap.hovertext[0][1]
