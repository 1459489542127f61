"""The statewide picture on small hand-made frames: KPIs, changes, county counts, products."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.analytics.filters import (
    LIST_FIELDS,
    Filters,
    Period,
    period_of,
)
from dashboard.analytics.picture import (
    Kpi,
    change_table,
    counts_by_county,
    filtered_incidents,
    filtered_products,
    kpis,
    latest_products,
)
from dashboard.frames import SAR_CATEGORY, load_picture_frames
from dashboard.settings import load_config

# The read-only RI fixture config: north = 44001 44003 44007, south = 44005 44009.
RI = load_config(Path(__file__).parent / "fixtures" / "ri" / "config")
COUNTY_TO_REGION = RI.county_to_region
VOCABULARIES = RI.vocabularies()
TODAY = date(2025, 6, 14)
WEEK = period_of(Filters(period="7d"), TODAY)  # 8-14 June; the previous week is 1-7 June

INCIDENT_SCHEMA = {
    "center_id": pl.String, "incident_id": pl.String,
    "occurred_at": pl.Datetime("us", "UTC"), "occurred_date": pl.Date,
    "category": pl.String, "county_fips": pl.String, "region_id": pl.String,
    "sar_behavior": pl.String, "target_sector": pl.String, "severity": pl.Int64,
    "tlp": pl.String, "is_duplicate": pl.Boolean, "is_sar": pl.Boolean,
}
PRODUCT_SCHEMA = {
    "center_id": pl.String, "product_id": pl.String, "title": pl.String,
    "product_type": pl.String, "published_at": pl.Datetime("us", "UTC"),
    "published_date": pl.Date, "topics": pl.List(pl.String), "audience": pl.String,
    "tlp": pl.String, "recipients": pl.List(pl.String), "summary": pl.String,
    "source_url": pl.String,
    "covered_counties": pl.List(pl.String), "statewide": pl.Boolean,
}


def incident(incident_id: str, day: date, category: str = "gangs", county: str = "44007",
             center: str = "rifc", behavior: str | None = None, sector: str | None = None,
             severity: int = 3, duplicate: bool = False) -> dict[str, Any]:
    """One row as PictureFrames.incidents has it (the dashboards count days in UTC here)."""
    return {
        "center_id": center, "incident_id": incident_id,
        "occurred_at": datetime.combine(day, time(12), tzinfo=UTC), "occurred_date": day,
        "category": category, "county_fips": county, "region_id": COUNTY_TO_REGION[county],
        "sar_behavior": behavior, "target_sector": sector, "severity": severity,
        "tlp": "TLP:GREEN", "is_duplicate": duplicate,
        "is_sar": category == SAR_CATEGORY or behavior is not None,
    }


def incident_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=INCIDENT_SCHEMA)


def product(product_id: str, published_at: datetime, topics: list[str],
            counties: list[str] | None = None, center: str = "rifc",
            product_type: str = "bulletin") -> dict[str, Any]:
    """One row as PictureFrames.products has it; no counties means statewide."""
    return {
        "center_id": center, "product_id": product_id, "title": f"Product {product_id}",
        "product_type": product_type, "published_at": published_at,
        "published_date": published_at.date(), "topics": topics,
        "audience": "law_enforcement", "tlp": "TLP:GREEN",
        "covered_counties": sorted(COUNTY_TO_REGION) if counties is None else counties,
        "statewide": counties is None,
    }


def product_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=PRODUCT_SCHEMA)


# This week (8-14 June): 5 incidents counted once (i3 is a linked duplicate of i1), 2 of them
# SARs (i2 by category, i4 by behaviour code), from both centers. The week before: 3, 1 SAR,
# one center. o1 and o2 fall outside both weeks.
INCIDENTS = incident_frame([
    incident("i1", date(2025, 6, 8)),
    incident("i2", date(2025, 6, 10), "sar_analysis", "44005", behavior="PHOTO", sector="EDU",
             severity=2),
    incident("i3", date(2025, 6, 10), center="prov", duplicate=True),
    incident("i4", date(2025, 6, 14), "narcotics", "44001", "prov", behavior="SURVL",
             severity=4),
    incident("i5", date(2025, 6, 14), "cybercrime", "44009", sector="ENRG", severity=5),
    incident("i6", date(2025, 6, 12), severity=1),
    incident("p1", date(2025, 6, 1), county="44003"),
    incident("p2", date(2025, 6, 7)),
    incident("p3", date(2025, 6, 5), "sar_analysis", "44009"),
    incident("o1", date(2025, 5, 31)),
    incident("o2", date(2025, 6, 15)),
])

PRODUCTS = product_frame([
    product("A", datetime(2025, 6, 9, 10, tzinfo=UTC), ["gangs"], ["44007"]),
    product("B", datetime(2025, 6, 13, 9, tzinfo=UTC), ["narcotics", "gangs"],
            ["44001", "44003", "44007"], center="prov", product_type="assessment"),
    product("C", datetime(2025, 6, 11, 15, tzinfo=UTC), ["cybercrime"]),  # statewide
    product("D", datetime(2025, 6, 14, 23, tzinfo=UTC), ["sar_analysis"], ["44005"],
            center="prov"),
    product("E", datetime(2025, 5, 20, 8, tzinfo=UTC), ["gangs"], ["44007"]),
])

AREA_KM2 = {"44001": 100.0, "44003": 400.0, "44005": 250.0, "44007": 1000.0, "44009": 800.0}
REGIONS = pl.DataFrame({
    "county_fips": list(AREA_KM2),
    "county_name": ["Bristol", "Kent", "Newport", "Providence", "Washington"],
    "region_id": [COUNTY_TO_REGION[fips] for fips in AREA_KM2],
    "region_name": [COUNTY_TO_REGION[fips].title() for fips in AREA_KM2],
    "area_km2": list(AREA_KM2.values()),
})


def test_hand_made_frames_have_the_loaders_columns(sqlite_store: sa.Engine) -> None:
    loaded = load_picture_frames(sqlite_store, "UTC")
    assert dict(INCIDENT_SCHEMA).items() <= dict(loaded.incidents.schema).items()
    assert dict(PRODUCT_SCHEMA) == dict(loaded.products.schema)
    assert REGIONS.schema == loaded.regions.schema
    assert sorted(COUNTY_TO_REGION) == sorted(AREA_KM2)
    assert INCIDENTS.filter(pl.col("is_sar"))["incident_id"].to_list() == ["i2", "i4", "p3"]


# --- kpis ----------------------------------------------------------------------------------

def kpi_values(figures: list[Kpi]) -> dict[str, tuple[Any, ...]]:
    return {k.label: (k.current, k.previous, k.change, k.change_pct) for k in figures}


def test_kpis_against_the_previous_period() -> None:
    figures = kpis(INCIDENTS, PRODUCTS, 7, Filters(), WEEK, COUNTY_TO_REGION)
    assert [k.label for k in figures] == ["Incidents", "SARs", "Products", "Centers reporting",
                                          "Open quarantine"]
    values = kpi_values(figures)
    assert values["Incidents"] == (5, 3, 2, pytest.approx(200 / 3))
    assert values["SARs"] == (2, 1, 1, 100.0)
    assert values["Products"] == (4, 0, 4, None)  # nothing published the week before
    assert values["Centers reporting"] == (2, 1, 1, 100.0)
    assert values["Open quarantine"] == (7, None, None, None)
    assert "7 days" in figures[0].help


def test_kpis_count_linked_duplicates_when_asked() -> None:
    values = kpi_values(kpis(INCIDENTS, PRODUCTS, 0, Filters(duplicates_once=False), WEEK,
                             COUNTY_TO_REGION))
    assert values["Incidents"][:2] == (6, 3)
    assert values["Centers reporting"][:2] == (2, 1)


def test_kpis_follow_the_filters() -> None:
    values = kpi_values(kpis(INCIDENTS, PRODUCTS, 0, Filters(regions=("south",)), WEEK,
                             COUNTY_TO_REGION))
    # South: i2 (44005), i5 (44009) this week, p3 (44009) before; products C (statewide), D.
    assert values["Incidents"] == (2, 1, 1, 100.0)
    assert values["SARs"] == (1, 1, 0, 0.0)
    assert values["Products"] == (2, 0, 2, None)
    assert values["Centers reporting"] == (1, 1, 0, 0.0)


def test_kpis_on_empty_frames_are_zero() -> None:
    values = kpi_values(kpis(incident_frame([]), product_frame([]), 0, Filters(), WEEK,
                             COUNTY_TO_REGION))
    assert values["Incidents"] == (0, 0, 0, None)
    assert values["SARs"] == (0, 0, 0, None)
    assert values["Products"] == (0, 0, 0, None)
    assert values["Centers reporting"] == (0, 0, 0, None)


def test_kpi_change_from_zero_has_no_percentage() -> None:
    assert Kpi("x", 3, 0, "").change == 3
    assert Kpi("x", 3, 0, "").change_pct is None
    assert Kpi("x", 0, 4, "").change_pct == -100.0
    assert Kpi("x", 3, None, "").change is None


# --- change_table --------------------------------------------------------------------------

def test_change_table_by_category_sorted_by_change() -> None:
    table = change_table(INCIDENTS, Filters(), WEEK, COUNTY_TO_REGION, "category")
    assert table.columns == ["category", "current", "previous", "change", "change_pct"]
    assert table.rows() == [
        ("cybercrime", 1, 0, 1, None),
        ("narcotics", 1, 0, 1, None),
        ("gangs", 2, 2, 0, 0.0),
        ("sar_analysis", 1, 1, 0, 0.0),
    ]


def test_change_table_falls_first_by_change_then_name() -> None:
    rows = incident_frame([
        incident("a", date(2025, 6, 2)), incident("b", date(2025, 6, 3)),
        incident("c", date(2025, 6, 4)), incident("d", date(2025, 6, 9)),
        incident("e", date(2025, 6, 2), "narcotics"),
        incident("f", date(2025, 6, 9), "cybercrime"), incident("g", date(2025, 6, 10),
                                                                "cybercrime"),
    ])
    table = change_table(rows, Filters(), WEEK, COUNTY_TO_REGION, "category")
    assert table.rows() == [
        ("cybercrime", 2, 0, 2, None),
        ("narcotics", 0, 1, -1, -100.0),
        ("gangs", 1, 3, -2, pytest.approx(-200 / 3)),
    ]


# --- counts_by_county ----------------------------------------------------------------------

POPULATION_RI = {"44001": 50_001, "44003": 173_495, "44005": 83_051, "44007": 678_179,
                 "44009": 129_795}


def test_counts_by_county_lists_every_county_with_rate_and_region() -> None:
    table = counts_by_county(INCIDENTS, REGIONS, Filters(), WEEK, COUNTY_TO_REGION)
    assert table.columns == ["county_fips", "county_name", "region_id", "region_name",
                             "incidents", "per_100k", "per_1000_km2", "previous", "change",
                             "change_pct", "population", "area_km2"]
    # Residents from the shipped Census Vintage 2025 estimates.
    population = dict(table.select("county_fips", "population").rows())
    assert population == POPULATION_RI
    assert dict(table.select("county_fips", "per_100k").rows()) == pytest.approx({
        "44007": 2e5 / POPULATION_RI["44007"], "44001": 1e5 / POPULATION_RI["44001"],
        "44005": 1e5 / POPULATION_RI["44005"], "44009": 1e5 / POPULATION_RI["44009"],
        "44003": 0.0})
    assert table.select("county_fips", "region_id", "incidents", "per_1000_km2", "previous",
                        "change", "change_pct").rows() == [
        ("44007", "north", 2, 2.0, 1, 1, 100.0),
        ("44001", "north", 1, 10.0, 0, 1, None),
        ("44005", "south", 1, 4.0, 0, 1, None),
        ("44009", "south", 1, 1.25, 1, 0, 0.0),
        ("44003", "north", 0, 0.0, 1, -1, -100.0),
    ]


def test_counts_by_county_keeps_filtered_out_counties_at_zero() -> None:
    table = counts_by_county(INCIDENTS, REGIONS, Filters(regions=("south",)), WEEK,
                             COUNTY_TO_REGION)
    assert dict(table.select("county_fips", "incidents").rows()) == {
        "44005": 1, "44009": 1, "44001": 0, "44003": 0, "44007": 0}


def test_counts_by_county_without_incidents_or_area() -> None:
    regions = REGIONS.with_columns(
        pl.when(pl.col("county_fips") == "44001").then(0.0).otherwise("area_km2")
        .alias("area_km2"))
    table = counts_by_county(incident_frame([incident("x", TODAY, county="44001")]), regions,
                             Filters(), WEEK, COUNTY_TO_REGION)
    assert table.row(0, named=True) == {
        "county_fips": "44001", "county_name": "Bristol", "region_id": "north",
        "region_name": "North", "incidents": 1, "per_1000_km2": 0.0, "previous": 0,
        "change": 1, "change_pct": None, "area_km2": 0.0,
        "population": POPULATION_RI["44001"], "per_100k": 1e5 / POPULATION_RI["44001"]}
    empty = counts_by_county(incident_frame([]), REGIONS, Filters(), WEEK, COUNTY_TO_REGION)
    assert empty.height == 5
    assert empty["incidents"].to_list() == [0] * 5
    assert empty["per_1000_km2"].to_list() == [0.0] * 5


# --- filtered_products and latest_products -------------------------------------------------

def product_ids(filters: Filters, period: Period | None = None) -> list[str]:
    return filtered_products(PRODUCTS, filters, COUNTY_TO_REGION, period)[
        "product_id"].to_list()


@pytest.mark.parametrize(("filters", "expected"), [
    (Filters(), ["A", "B", "C", "D", "E"]),
    (Filters(categories=("gangs",)), ["A", "B", "E"]),
    (Filters(categories=("cybercrime", "sar_analysis")), ["C", "D"]),
    (Filters(categories=("narcotics",)), ["B"]),
    (Filters(counties=("44009",)), ["C"]),  # only the statewide product covers Washington
    (Filters(counties=("44003",)), ["B", "C"]),
    (Filters(regions=("south",)), ["C", "D"]),
    (Filters(regions=("north",)), ["A", "B", "C", "E"]),
    (Filters(centers=("prov",)), ["B", "D"]),
    (Filters(counties=("44001",), categories=("gangs",)), ["B"]),
    (Filters(regions=("south",), categories=("narcotics",)), []),
    # Incident-only dimensions do not narrow products.
    (Filters(sar_behaviors=("PHOTO",), target_sectors=("EDU",), severities=(5,)),
     ["A", "B", "C", "D", "E"]),
])
def test_filtered_products(filters: Filters, expected: list[str]) -> None:
    assert product_ids(filters) == expected


def test_filtered_products_in_a_period() -> None:
    assert product_ids(Filters(), WEEK) == ["A", "B", "C", "D"]
    assert product_ids(Filters(), WEEK.previous()) == []
    assert product_ids(Filters(), Period(date(2025, 5, 20), date(2025, 5, 20))) == ["E"]


def test_latest_products_newest_first_and_limited() -> None:
    latest = latest_products(PRODUCTS, Filters(), WEEK, COUNTY_TO_REGION)
    assert latest.columns == ["published_date", "center_id", "title", "product_type", "topics",
                              "tlp"]
    assert latest["title"].to_list() == ["Product D", "Product B", "Product C", "Product A"]
    two = latest_products(PRODUCTS, Filters(), WEEK, COUNTY_TO_REGION, limit=2)
    assert two.rows() == [
        (date(2025, 6, 14), "prov", "Product D", "bulletin", ["sar_analysis"], "TLP:GREEN"),
        (date(2025, 6, 13), "prov", "Product B", "assessment", ["narcotics", "gangs"],
         "TLP:GREEN"),
    ]
    gangs = latest_products(PRODUCTS, Filters(categories=("gangs",)), WEEK, COUNTY_TO_REGION)
    assert gangs["title"].to_list() == ["Product B", "Product A"]


# --- properties over random frames and filters ---------------------------------------------

DAY_ZERO = date(2025, 3, 1)  # random incidents fall on DAY_ZERO .. TODAY + 2 days
random_incidents = st.lists(
    st.builds(
        dict,
        day=st.dates(min_value=DAY_ZERO, max_value=TODAY + timedelta(days=2)),
        category=st.sampled_from(sorted(VOCABULARIES["categories"])),
        county=st.sampled_from(sorted(COUNTY_TO_REGION)),
        center=st.sampled_from(sorted(VOCABULARIES["centers"])),
        behavior=st.none() | st.sampled_from(sorted(VOCABULARIES["sar_behaviors"])),
        sector=st.none() | st.sampled_from(sorted(VOCABULARIES["target_sectors"])),
        severity=st.integers(min_value=1, max_value=5),
        duplicate=st.booleans(),
    ),
    max_size=40,
).map(lambda rows: incident_frame(
    [incident(f"r{index}", **row) for index, row in enumerate(rows)]))


def chosen(values: list[Any]) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(st.sampled_from(values), unique=True, max_size=3).map(
        lambda picked: tuple(sorted(picked)))


DIMENSIONS = {name: chosen(sorted(VOCABULARIES[name])) for name in LIST_FIELDS} | {
    "severities": chosen([1, 2, 3, 4, 5])}
random_filters = st.builds(
    Filters,
    period=st.sampled_from(["7d", "28d", "90d", "ytd", "custom"]),
    start=st.none() | st.dates(min_value=DAY_ZERO, max_value=TODAY),
    end=st.none() | st.dates(min_value=DAY_ZERO, max_value=TODAY),
    **DIMENSIONS,
    duplicates_once=st.booleans(),
)
PLACE_FIELDS = ("regions", "counties")


def count(incidents: pl.DataFrame, filters: Filters) -> int:
    return filtered_incidents(incidents, filters, COUNTY_TO_REGION,
                              period_of(filters, TODAY)).height


def unfiltered(filters: Filters) -> Filters:
    """The same period, every dimension open, duplicates included."""
    return Filters(period=filters.period, start=filters.start, end=filters.end,
                   duplicates_once=False)


@settings(max_examples=50, deadline=None)
@given(random_incidents, random_filters, st.sampled_from(sorted(DIMENSIONS)), st.data())
def test_adding_a_filter_never_adds_incidents(incidents: pl.DataFrame, filters: Filters,
                                              dimension: str, data: st.DataObject) -> None:
    assert count(incidents, filters) <= count(incidents, unfiltered(filters))
    opened = filters.with_changes(**{dimension: ()})
    if dimension in PLACE_FIELDS:
        # Regions and counties add up (a union): the place filter narrows when it is added
        # to a view with neither, not when a county is added to a chosen region.
        opened = opened.with_changes(**dict.fromkeys(PLACE_FIELDS, ()))
    values = data.draw(DIMENSIONS[dimension].filter(bool), label=dimension)
    assert count(incidents, opened.with_changes(**{dimension: values})) <= count(incidents,
                                                                                 opened)


@settings(max_examples=50, deadline=None)
@given(random_incidents, random_filters)
def test_county_counts_add_up_to_the_statewide_total(incidents: pl.DataFrame,
                                                     filters: Filters) -> None:
    period = period_of(filters, TODAY)
    table = counts_by_county(incidents, REGIONS, filters, period, COUNTY_TO_REGION)
    assert table.height == len(COUNTY_TO_REGION)
    assert table["county_fips"].n_unique() == len(COUNTY_TO_REGION)
    now = filtered_incidents(incidents, filters, COUNTY_TO_REGION, period).height
    before = filtered_incidents(incidents, filters, COUNTY_TO_REGION, period.previous()).height
    assert table["incidents"].sum() == now
    assert table["previous"].sum() == before
    by_region = table.group_by("region_id").agg(pl.col("incidents").sum())
    assert by_region["incidents"].sum() == now
    assert kpis(incidents, product_frame([]), 0, filters, period,
                COUNTY_TO_REGION)[0].current == now


@settings(max_examples=50, deadline=None)
@given(random_incidents, random_filters)
def test_duplicates_once_never_counts_more(incidents: pl.DataFrame, filters: Filters) -> None:
    once = count(incidents, filters.with_changes(duplicates_once=True))
    every = count(incidents, filters.with_changes(duplicates_once=False))
    duplicates = incidents.filter(pl.col("is_duplicate")).height
    assert every - duplicates <= once <= every


@settings(max_examples=50, deadline=None)
@given(random_incidents, random_filters, st.sampled_from(["category", "county_fips",
                                                            "center_id", "region_id"]))
def test_change_table_sums_to_the_period_totals(incidents: pl.DataFrame, filters: Filters,
                                                by: str) -> None:
    period = period_of(filters, TODAY)
    table = change_table(incidents, filters, period, COUNTY_TO_REGION, by)
    assert table[by].n_unique() == table.height
    assert table["current"].sum() == filtered_incidents(
        incidents, filters, COUNTY_TO_REGION, period).height
    assert table["previous"].sum() == filtered_incidents(
        incidents, filters, COUNTY_TO_REGION, period.previous()).height
    changes = table["change"].to_list()
    assert changes == sorted(changes, reverse=True)


def test_kpi_delta_reads_for_people() -> None:
    from dashboard.analytics.picture import Kpi
    from dashboard.views.picture import kpi_delta

    assert kpi_delta(Kpi("Incidents", 1_250, 1_000, "")) == "+250 (+25.0 %)"
    assert kpi_delta(Kpi("Incidents", 900, 1_000, "")) == "-100 (-10.0 %)"
    assert kpi_delta(Kpi("Incidents", 5, 0, "")) == "+5 (new)"
    assert kpi_delta(Kpi("Centers reporting", 5, 5, "")) == "no change"
    assert kpi_delta(Kpi("Open quarantine", 53, None, "")) is None
