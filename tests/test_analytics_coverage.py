"""The coverage model on hand-built frames: which products cover which cells, activity and gap
scores worked out by hand, reasons word for word, near-duplicate clusters, duplicate reports per
center pair; properties (a product never raises a gap score, an incident never lowers activity)
and empty input."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.analytics.coverage import (
    CoverageScope,
    cell_activity,
    cell_products,
    cluster_records,
    coverage_cells,
    coverage_figures,
    duplicates_by_center_pair,
    gap_reason,
    near_duplicate_clusters,
    overlapping_effort,
    period_phrase,
    product_window,
)
from dashboard.analytics.filters import Filters, Period, period_of
from dashboard.settings import CoverageSettings
from tests.coverage_support import (
    COUNTY_TO_REGION,
    END,
    LAST_90,
    PERIOD,
    SCOPE,
    incidents,
    products,
)


def cell(cells: pl.DataFrame, topic: str, area: str) -> dict[str, Any]:
    return cells.filter((pl.col("topic") == topic) & (pl.col("area_id") == area)).row(
        0, named=True)


def scope_with(**changes: Any) -> CoverageScope:
    return CoverageScope(**{**SCOPE.__dict__, "settings": CoverageSettings(**changes)})


# --- coverage ------------------------------------------------------------------------------


def test_a_statewide_product_covers_every_region() -> None:
    activity = incidents({"county_fips": "44001"}, {"county_fips": "44009"}, count=20)
    statewide = products({"covered_counties": sorted(COUNTY_TO_REGION), "statewide": True})
    uncovered = coverage_cells(activity, products(), LAST_90, PERIOD, SCOPE)
    assert sorted(zip(*uncovered.filter(pl.col("is_gap")).select("topic", "area_id")
                      .to_dict(as_series=False).values(), strict=True)) == [
        ("cybercrime", "north"), ("cybercrime", "south")]
    covered = coverage_cells(activity, statewide, LAST_90, PERIOD, SCOPE)
    for region in ("north", "south"):
        row = cell(covered, "cybercrime", region)
        assert (row["current_products"], row["centers"], row["score"], row["is_gap"]) == (
            1, ["a"], 0.0, False)
    # A statewide product on another topic covers nothing here.
    assert cell(coverage_cells(activity, statewide.with_columns(
        pl.lit(["gangs"]).alias("topics")), LAST_90, PERIOD, SCOPE), "cybercrime",
        "south")["is_gap"]


def test_an_expired_product_no_longer_covers() -> None:
    activity = incidents({}, count=20)
    # Current for 90 days counting its publication day, back from the period's last day.
    last_current_day = END - timedelta(days=89)
    current = coverage_cells(activity, products({"published_date": last_current_day}),
                             LAST_90, PERIOD, SCOPE)
    assert cell(current, "cybercrime", "north")["current_products"] == 1
    expired = coverage_cells(activity, products({"published_date": last_current_day
                                                 - timedelta(days=1), "center_id": "b"}),
                             LAST_90, PERIOD, SCOPE)
    row = cell(expired, "cybercrime", "north")
    assert (row["current_products"], row["is_gap"]) == (0, True)
    assert row["reason"].endswith("no current product; last product 2025-04-01 by Center B")
    # Counted at the period's end: a product published after it does not count yet.
    future = coverage_cells(activity, products({"published_date": END + timedelta(days=1)}),
                            LAST_90, PERIOD, SCOPE)
    assert cell(future, "cybercrime", "north")["last_published"] is None


def test_a_county_product_covers_its_region_but_not_the_neighbouring_county() -> None:
    # Providence and Bristol are neighbours, both in the north region.
    activity = incidents({"county_fips": "44007"}, {"county_fips": "44001"}, count=15)
    providence = products({"covered_counties": ["44007"]})
    regions = coverage_cells(activity, providence, LAST_90, PERIOD, SCOPE, "region")
    assert cell(regions, "cybercrime", "north")["current_products"] == 1
    assert cell(regions, "cybercrime", "south")["current_products"] == 0
    counties = coverage_cells(activity, providence, LAST_90, PERIOD, SCOPE, "county")
    assert cell(counties, "cybercrime", "44007")["current_products"] == 1
    bristol = cell(counties, "cybercrime", "44001")
    assert (bristol["current_products"], bristol["is_gap"]) == (0, True)
    assert bristol["area_label"] == "Bristol County"
    # A region-level product covers every county of its region at county level.
    north = coverage_cells(activity, products({"covered_counties": ["44001", "44003", "44007"]}),
                           LAST_90, PERIOD, SCOPE, "county")
    assert cell(north, "cybercrime", "44001")["current_products"] == 1
    assert cell(north, "cybercrime", "44005")["current_products"] == 0


def test_reason_sentence_says_why_word_for_word() -> None:
    before = PERIOD.start - timedelta(days=5)
    activity = pl.concat([incidents({"occurred_date": END}, count=27),
                          incidents({"occurred_date": before}, count=20)])
    old = products({"center_id": "b", "published_date": date(2025, 3, 2)})
    row = cell(coverage_cells(activity, old, LAST_90, PERIOD, SCOPE), "cybercrime", "north")
    assert row["reason"] == ("27 cyber incidents in Region 3 in the last 90 days, up 35 %; "
                             "no current product; last product 2025-03-02 by Center B")
    never = cell(coverage_cells(incidents({}, count=12), products(), LAST_90, PERIOD, SCOPE),
                 "cybercrime", "north")
    assert never["reason"] == ("12 cyber incidents in Region 3 in the last 90 days, none in "
                               "the prior period; no current product; no product on record")
    # Too little coverage: one product per 500 incidents in 90 days is needed.
    busy = cell(coverage_cells(incidents({}, count=1100), products({}), LAST_90, PERIOD, SCOPE),
                "cybercrime", "north")
    assert busy["reason"] == ("1,100 cyber incidents in Region 3 in the last 90 days, none in "
                              "the prior period; only 1 current product for 3 needed; latest "
                              "2025-06-20 by Center A")
    assert busy["deficit"] == pytest.approx(2 / 3)
    # The need follows the pace: 300 incidents in 30 days is 900 in 90 days, two products.
    month = Filters(period="custom", start=END - timedelta(days=29), end=END)
    paced = cell(coverage_cells(incidents({}, count=300), products({}), month,
                                period_of(month, END), SCOPE), "cybercrime", "north")
    assert (paced["needed_products"], paced["deficit"]) == (2, 0.5)


def test_reason_for_a_custom_period_and_one_incident() -> None:
    custom = Filters(period="custom", start=date(2025, 1, 1), end=date(2025, 3, 31))
    period = period_of(custom, END)
    assert period_phrase(custom, period) == "from 2025-01-01 to 2025-03-31"
    assert period_phrase(Filters(period="ytd"), period) == "this year to date"
    row = {"incidents": 1, "previous_incidents": 2, "topic_label": "Gangs",
           "area_label": "South Coast", "current_products": 2, "needed_products": 1,
           "last_published": date(2025, 3, 30), "last_center_id": "c"}
    assert gap_reason(row, period_phrase(custom, period), SCOPE) == (
        "1 Gangs incident in South Coast from 2025-01-01 to 2025-03-31, down 50 %; 2 current "
        "products; latest 2025-03-30 by Center C")


def test_activity_is_severity_weighted_and_counts_duplicates_once() -> None:
    activity = incidents({"severity": 1}, {"severity": 5}, {"severity": None},
                         {"severity": 4, "is_duplicate": True, "duplicate_of_center_id": "b"},
                         {"occurred_date": PERIOD.start - timedelta(days=1)})
    once = cell_activity(activity, LAST_90, PERIOD, SCOPE).row(0, named=True)
    # 0.5 + 2.0 + 1.0 (no severity); the duplicate and the earlier incident do not count.
    assert (once["incidents"], once["weighted_activity"], once["previous_incidents"]) == (
        3, 3.5, 1)
    every = cell_activity(activity, LAST_90.with_changes(duplicates_once=False), PERIOD,
                          SCOPE).row(0, named=True)
    assert (every["incidents"], every["weighted_activity"]) == (4, 5.0)
    custom = scope_with(severity_weights=(1, 1, 1, 1, 10), unknown_severity_weight=0)
    assert cell_activity(activity, LAST_90, PERIOD, custom)["weighted_activity"][0] == 11.0


def test_gap_score_is_uncovered_activity_over_the_average_active_cell() -> None:
    # North: 30 incidents of severity 3 (weight 30), uncovered. South: 10 (weight 10), covered.
    activity = pl.concat([incidents({"county_fips": "44001"}, count=30),
                          incidents({"county_fips": "44005"}, count=10)])
    covered_south = products({"covered_counties": ["44005"]})
    cells = coverage_cells(activity, covered_south, LAST_90, PERIOD, SCOPE)
    assert cell(cells, "cybercrime", "north")["score"] == pytest.approx(30 / 20)
    assert cell(cells, "cybercrime", "south")["score"] == 0.0
    assert cells["topic"][0] == "cybercrime" and cells["area_id"][0] == "north"  # ranked first
    # Below min_incidents a cell is never a gap, whatever its score.
    strict = coverage_cells(activity, covered_south, LAST_90, PERIOD, scope_with(min_incidents=31))
    assert not strict["is_gap"].any()
    high_bar = coverage_cells(activity, covered_south, LAST_90, PERIOD,
                              scope_with(gap_min_score=1.6))
    assert not high_bar["is_gap"].any()


def test_filters_narrow_topics_areas_and_centers() -> None:
    activity = pl.concat([incidents({"county_fips": "44001"}, count=12),
                          incidents({"county_fips": "44005", "category": "gangs",
                                     "center_id": "b"}, count=12)])
    cells = coverage_cells(activity, products({"center_id": "b"}),
                           LAST_90.with_changes(categories=("cybercrime",), regions=("north",)),
                           PERIOD, SCOPE)
    assert cells.select("topic", "area_id").rows() == [("cybercrime", "north")]
    # The center filter applies to both: center a's reports, center a's products.
    only_a = coverage_cells(activity, products({"center_id": "b"}),
                            LAST_90.with_changes(centers=("a",)), PERIOD, SCOPE)
    assert cell(only_a, "gangs", "south")["incidents"] == 0
    assert cell(only_a, "cybercrime", "north")["current_products"] == 0
    # A county filter at region level: the region's activity and coverage in that county only.
    kent = coverage_cells(activity, products({"covered_counties": ["44003"]}),
                          LAST_90.with_changes(counties=("44001",)), PERIOD, SCOPE)
    assert cell(kent, "cybercrime", "north")["current_products"] == 0


def test_overlapping_effort_lists_cells_two_centers_cover() -> None:
    activity = incidents({}, count=12)
    both = products({"center_id": "a"}, {"center_id": "b"}, {"center_id": "b"},
                    {"center_id": "c", "topics": ["gangs"]})
    cells = coverage_cells(activity, both, LAST_90, PERIOD, SCOPE)
    overlaps = overlapping_effort(cells, SCOPE)
    assert overlaps.select("topic", "area_id", "center_names", "current_products",
                           "surplus_products").rows() == [
        ("cybercrime", "north", "Center A, Center B", 3, 2)]
    figures = coverage_figures(activity, both, LAST_90, PERIOD, SCOPE)
    shown = cell_products(both, figures.current_products, "cybercrime", "north")
    assert shown.select("center_id", "product_id").rows() == [
        ("a", "p0"), ("b", "p1"), ("b", "p2")]


# --- near-duplicates --------------------------------------------------------------------

WEEKLY_TEXT = ("Weekly cyber update for Bristol. Ransomware and phishing reports reviewed by "
               "analysts this week; partners should report suspicious emails.")


def weekly_series(center: str, weeks: int) -> list[dict[str, Any]]:
    return [{"center_id": center, "product_id": f"{center}-w{week}", "title": WEEKLY_TEXT,
             "published_date": END - timedelta(days=7 * week)} for week in range(weeks)]


def cluster_keys(members: pl.DataFrame) -> list[set[tuple[str, str]]]:
    return [set(frame.select("center_id", "product_id").rows())
            for _, frame in members.group_by("cluster", maintain_order=True)]


def test_one_centers_weekly_series_is_not_a_duplicate_cluster() -> None:
    series = products(*weekly_series("a", 8))
    clusters, members = near_duplicate_clusters(series, LAST_90, PERIOD, SCOPE)
    assert clusters.is_empty() and members.is_empty()
    # Another center's copy two days after one issue joins the two issues around it.
    copy = products(*weekly_series("a", 8), {"center_id": "b", "product_id": "b-copy",
                                              "title": WEEKLY_TEXT,
                                              "published_date": END - timedelta(days=12)})
    clusters, members = near_duplicate_clusters(copy, LAST_90, PERIOD, SCOPE)
    assert cluster_keys(members) == [{("a", "a-w1"), ("a", "a-w2"), ("b", "b-copy")}]
    assert clusters.row(0, named=True)["centers"] == ["a", "b"]
    assert clusters["similarity"][0] == pytest.approx(1.0)


def test_near_duplicates_need_topic_area_time_and_text() -> None:
    title = "Rising ransomware attacks on municipalities in Bristol"
    summary = ("Analysts reviewed 41 reports of ransomware attacks on municipalities in "
               "Bristol between May 1 and May 30. Activity rose 35% over the prior period.")
    reworded = summary.replace("reviewed", "examined")
    first = {"center_id": "a", "product_id": "a1", "title": title, "summary": summary}
    twin = {"center_id": "b", "product_id": "b1", "title": f"{title} county",
            "summary": reworded, "published_date": END - timedelta(days=7)}
    unrelated = {"center_id": "c", "product_id": "c1", "title": "Gang graffiti in Newport",
                 "summary": "Tagging along the waterfront.", "topics": ["cybercrime"],
                 "published_date": END - timedelta(days=9)}
    fillers = [{"center_id": "c", "product_id": f"f{n}", "title": f"Filler bulletin {n}",
                "summary": f"Routine note number {n} on fraud.", "published_date":
                END - timedelta(days=40 + n)} for n in range(6)]
    clusters, members = near_duplicate_clusters(products(first, twin, unrelated, *fillers),
                                                LAST_90, PERIOD, SCOPE)
    assert cluster_keys(members) == [{("a", "a1"), ("b", "b1")}]
    similarity = clusters["similarity"][0]
    assert 0.5 <= similarity < 1
    records = cluster_records(clusters, members)
    assert records[0]["centers"] == ["a", "b"]
    assert [p["product_id"] for p in records[0]["products"]] == ["a1", "b1"]  # by date
    # Each condition alone breaks the pair.
    for change in ({"published_date": END - timedelta(days=18)},  # 8 days apart
                   {"covered_counties": ["44005"]},  # no shared county
                   {"topics": ["gangs"]},  # no shared topic
                   {"center_id": "a", "product_id": "a2"}):  # the same center
        clusters, _ = near_duplicate_clusters(products(first, {**twin, **change}, *fillers),
                                              LAST_90, PERIOD, SCOPE)
        assert clusters.is_empty(), change
    # A filter on one of the centers keeps the whole cluster; on the third one, none.
    _, members = near_duplicate_clusters(products(first, twin, *fillers),
                                         LAST_90.with_changes(centers=("b",)), PERIOD, SCOPE)
    assert cluster_keys(members) == [{("a", "a1"), ("b", "b1")}]
    clusters, _ = near_duplicate_clusters(products(first, twin, *fillers),
                                          LAST_90.with_changes(centers=("c",)), PERIOD, SCOPE)
    assert clusters.is_empty()


def test_product_window_reaches_back_to_the_current_window() -> None:
    short = period_of(Filters(period="7d"), END)
    assert product_window(short, SCOPE.settings) == Period(END - timedelta(days=89), END)
    long = Period(date(2024, 1, 1), END)
    assert product_window(long, SCOPE.settings) == long


# --- duplicate incidents ------------------------------------------------------------------


def test_duplicate_reports_per_center_pair_with_who_was_first() -> None:
    reports = incidents(
        {"center_id": "b", "is_duplicate": True, "duplicate_of_center_id": "a"},
        {"center_id": "b", "is_duplicate": True, "duplicate_of_center_id": "a"},
        {"center_id": "a", "is_duplicate": True, "duplicate_of_center_id": "b",
         "category": "gangs"},
        {"center_id": "c", "is_duplicate": True, "duplicate_of_center_id": "a"},
        {"center_id": "c", "is_duplicate": True, "duplicate_of_center_id": "a",
         "occurred_date": PERIOD.start - timedelta(days=1)},
        {"center_id": "a"},
    )
    pairs = duplicates_by_center_pair(reports, LAST_90, PERIOD, COUNTY_TO_REGION)
    assert pairs.rows() == [("a", "b", 3, 2, 1, "cybercrime"), ("a", "c", 1, 1, 0, "cybercrime")]
    only_c = duplicates_by_center_pair(reports, LAST_90.with_changes(centers=("c",)), PERIOD,
                                       COUNTY_TO_REGION)
    assert only_c.select("center_a", "center_b", "duplicates").rows() == [("a", "c", 1)]


# --- empty and bad input -----------------------------------------------------------------


def test_no_products_makes_every_busy_cell_a_gap_and_nothing_redundant() -> None:
    activity = incidents({"county_fips": "44001"}, {"county_fips": "44005"}, count=11)
    figures = coverage_figures(activity, products(), LAST_90, PERIOD, SCOPE)
    assert figures.gaps.height == 2
    assert figures.overlaps.is_empty() and figures.clusters.is_empty()
    assert figures.center_topics.is_empty()
    assert set(figures.gaps["reason"].str.ends_with("no product on record")) == {True}


def test_no_incidents_gives_zero_activity_and_no_gap() -> None:
    figures = coverage_figures(incidents().clear(), products({}), LAST_90, PERIOD, SCOPE,
                               "county")
    assert figures.cells.height == 2 * 5
    assert figures.cells["incidents"].sum() == 0 and figures.gaps.is_empty()
    assert figures.duplicate_pairs.is_empty()
    assert cell(figures.cells, "cybercrime", "44001")["current_products"] == 1


def test_products_without_text_or_area_do_not_break_the_clusters() -> None:
    blank = products({"title": "", "summary": None}, {"center_id": "b", "title": "",
                                                      "covered_counties": []})
    clusters, members = near_duplicate_clusters(blank, LAST_90, PERIOD, SCOPE)
    assert clusters.is_empty() and members.is_empty()
    one = products({})
    assert near_duplicate_clusters(one, LAST_90, PERIOD, SCOPE)[0].is_empty()


# --- properties ------------------------------------------------------------------------------

COUNTIES = sorted(COUNTY_TO_REGION)
incident_rows = st.fixed_dictionaries({
    "category": st.sampled_from(["cybercrime", "gangs"]),
    "county_fips": st.sampled_from(COUNTIES),
    "occurred_date": st.integers(0, 200).map(lambda days: END - timedelta(days=days)),
    "severity": st.one_of(st.none(), st.integers(1, 5)),
    "is_duplicate": st.booleans(),
})
product_rows = st.fixed_dictionaries({
    "center_id": st.sampled_from(["a", "b"]),
    "topics": st.lists(st.sampled_from(["cybercrime", "gangs"]), min_size=1, max_size=2,
                       unique=True),
    "covered_counties": st.lists(st.sampled_from(COUNTIES), max_size=3, unique=True),
    "published_date": st.integers(-5, 200).map(lambda days: END - timedelta(days=days)),
})
levels = st.sampled_from(["region", "county"])
scores = ["topic", "area_id"]


@settings(max_examples=40, deadline=None)
@given(st.lists(incident_rows, max_size=40), st.lists(product_rows, max_size=6), product_rows,
       levels)
def test_adding_a_product_never_raises_a_gap_score(rows: list[dict[str, Any]],
                                                   shelf: list[dict[str, Any]],
                                                   extra: dict[str, Any], level: Any) -> None:
    activity = incidents(*rows)
    before = coverage_cells(activity, products(*shelf), LAST_90, PERIOD, SCOPE, level)
    after = coverage_cells(activity, products(*shelf, extra), LAST_90, PERIOD, SCOPE, level)
    joined = before.join(after, on=scores, suffix="_after")
    assert joined.height == before.height == after.height
    assert (joined["score_after"] <= joined["score"] + 1e-12).all()
    assert not (joined["is_gap_after"] & ~joined["is_gap"]).any()


@settings(max_examples=40, deadline=None)
@given(st.lists(incident_rows, max_size=40), incident_rows, levels)
def test_adding_an_incident_never_lowers_activity(rows: list[dict[str, Any]],
                                                  extra: dict[str, Any], level: Any) -> None:
    before = coverage_cells(incidents(*rows), products(), LAST_90, PERIOD, SCOPE, level)
    after = coverage_cells(incidents(*rows, extra), products(), LAST_90, PERIOD, SCOPE, level)
    joined = before.join(after, on=scores, suffix="_after")
    for column in ("incidents", "weighted_activity", "previous_incidents"):
        assert (joined[f"{column}_after"] >= joined[column]).all(), column


@settings(max_examples=30, deadline=None)
@given(st.lists(incident_rows, max_size=40))
def test_region_cells_add_up_to_the_statewide_count(rows: list[dict[str, Any]]) -> None:
    activity = incidents(*rows)
    cells = coverage_cells(activity, products(), LAST_90, PERIOD, SCOPE)
    counties = coverage_cells(activity, products(), LAST_90, PERIOD, SCOPE, "county")
    in_period = activity.filter(~pl.col("is_duplicate")
                                & pl.col("occurred_date").is_between(PERIOD.start, PERIOD.end))
    assert cells["incidents"].sum() == counties["incidents"].sum() == in_period.height
