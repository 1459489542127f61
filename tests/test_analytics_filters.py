"""The shared filters: period arithmetic, place selection, the incident predicate, URL form."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.analytics.filters import (
    LIST_FIELDS,
    PERIOD_PRESETS,
    Filters,
    Period,
    from_query_params,
    incident_filter,
    period_of,
    selected_counties,
    to_query_params,
)
from dashboard.settings import load_config

# The read-only RI fixture config: its vocabularies are what a link is checked against.
RI = load_config(Path(__file__).parent / "fixtures" / "ri" / "config")
COUNTY_TO_REGION = RI.county_to_region
VOCABULARIES = RI.vocabularies()
TODAY = date(2025, 6, 14)


def test_fixture_vocabularies_are_the_ones_these_tests_assume() -> None:
    assert COUNTY_TO_REGION == {"44001": "north", "44003": "north", "44007": "north",
                                "44005": "south", "44009": "south"}
    assert VOCABULARIES["centers"] == {"rifc", "prov"}
    assert VOCABULARIES["categories"] == {"gangs", "narcotics", "cybercrime", "sar_analysis"}
    assert VOCABULARIES["sar_behaviors"] == {"PHOTO", "SURVL", "CYBER"}
    assert VOCABULARIES["target_sectors"] == {"ENRG", "EDU"}


# --- period_of and Period.previous ---------------------------------------------------------

@pytest.mark.parametrize(("period", "start", "days"), [
    ("7d", date(2025, 6, 8), 7),
    ("28d", date(2025, 5, 18), 28),
    ("90d", date(2025, 3, 17), 90),
    ("ytd", date(2025, 1, 1), 165),
])
def test_presets_end_today_inclusive(period: str, start: date, days: int) -> None:
    covered = period_of(Filters(period=period), TODAY)
    assert covered == Period(start, TODAY)
    assert covered.days == days


def test_year_to_date_on_new_years_day_is_one_day() -> None:
    assert period_of(Filters(period="ytd"), date(2026, 1, 1)) == Period(date(2026, 1, 1),
                                                                         date(2026, 1, 1))


def test_default_filters_cover_the_last_28_days() -> None:
    assert period_of(Filters(), TODAY) == Period(date(2025, 5, 18), TODAY)


def test_preset_ignores_custom_dates() -> None:
    filters = Filters(period="7d", start=date(2020, 1, 1), end=date(2020, 2, 1))
    assert period_of(filters, TODAY) == Period(date(2025, 6, 8), TODAY)


@pytest.mark.parametrize(("start", "end", "expected"), [
    (date(2025, 2, 1), date(2025, 2, 10), Period(date(2025, 2, 1), date(2025, 2, 10))),
    (date(2025, 2, 10), date(2025, 2, 1), Period(date(2025, 2, 1), date(2025, 2, 10))),
    (date(2025, 2, 1), date(2025, 2, 1), Period(date(2025, 2, 1), date(2025, 2, 1))),
    (None, None, Period(date(2025, 5, 18), TODAY)),
    (date(2025, 2, 1), None, Period(date(2025, 2, 1), TODAY)),
    (None, TODAY, Period(date(2025, 5, 18), TODAY)),
])
def test_custom_range_is_ordered_and_missing_ends_default(
    start: date | None, end: date | None, expected: Period
) -> None:
    assert period_of(Filters(period="custom", start=start, end=end), TODAY) == expected


def test_custom_range_with_only_a_past_end_still_ends_there() -> None:
    # ?period=custom&end=2025-01-31 (start missing): the chosen end must stay the end. Today the
    # default start (today - 27 days) is later than it, so the two are swapped and the period
    # runs from 31 Jan to 17 May instead.
    end = date(2025, 1, 31)
    covered = period_of(Filters(period="custom", end=end), TODAY)
    assert covered.end == end
    assert covered.start <= end


@pytest.mark.parametrize(("current", "previous"), [
    (Period(date(2025, 6, 8), date(2025, 6, 14)), Period(date(2025, 6, 1), date(2025, 6, 7))),
    # Across a year boundary.
    (Period(date(2025, 1, 1), date(2025, 1, 7)), Period(date(2024, 12, 25), date(2024, 12, 31))),
    (Period(date(2025, 1, 1), date(2025, 1, 1)), Period(date(2024, 12, 31), date(2024, 12, 31))),
    # Across 29 February 2024.
    (Period(date(2024, 3, 1), date(2024, 3, 7)), Period(date(2024, 2, 23), date(2024, 2, 29))),
    (Period(date(2024, 2, 29), date(2024, 3, 1)), Period(date(2024, 2, 27), date(2024, 2, 28))),
    # Year to date on 1 March 2024 (61 days) -> November and December 2023.
    (Period(date(2024, 1, 1), date(2024, 3, 1)), Period(date(2023, 11, 1), date(2023, 12, 31))),
])
def test_previous_period_is_adjacent_and_equally_long(current: Period, previous: Period) -> None:
    assert current.previous() == previous
    assert previous.days == current.days


@settings(max_examples=50, deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
       st.integers(min_value=1, max_value=400))
def test_previous_period_property(start: date, days: int) -> None:
    current = Period(start, start + timedelta(days=days - 1))
    previous = current.previous()
    assert previous.days == current.days == days
    assert previous.end + timedelta(days=1) == current.start


# --- selected_counties ---------------------------------------------------------------------

@pytest.mark.parametrize(("regions", "counties", "expected"), [
    ((), (), None),
    (("north",), (), ["44001", "44003", "44007"]),
    (("south",), (), ["44005", "44009"]),
    (("north", "south"), (), ["44001", "44003", "44005", "44007", "44009"]),
    ((), ("44009", "44001"), ["44001", "44009"]),
    (("north",), ("44009",), ["44001", "44003", "44007", "44009"]),
    (("south",), ("44005",), ["44005", "44009"]),  # a county inside a chosen region: once
])
def test_regions_and_counties_add_up(regions: tuple[str, ...], counties: tuple[str, ...],
                                     expected: list[str] | None) -> None:
    filters = Filters(regions=regions, counties=counties)
    assert selected_counties(filters, COUNTY_TO_REGION) == expected


# --- incident_filter -----------------------------------------------------------------------

INCIDENTS = pl.DataFrame(
    [
        ("a", date(2025, 6, 1), "44001", "gangs", None, None, "rifc", 1, False),
        ("b", date(2025, 6, 5), "44003", "narcotics", None, "EDU", "prov", 2, False),
        ("c", date(2025, 6, 5), "44005", "sar_analysis", "PHOTO", "ENRG", "rifc", 3, False),
        ("d", date(2025, 6, 10), "44007", "sar_analysis", "SURVL", "EDU", "prov", 4, True),
        ("e", date(2025, 6, 10), "44009", "cybercrime", "CYBER", "ENRG", "rifc", 5, False),
        ("f", date(2025, 6, 15), "44007", "gangs", None, None, "prov", 3, False),
    ],
    schema={"incident_id": pl.String, "occurred_date": pl.Date, "county_fips": pl.String,
            "category": pl.String, "sar_behavior": pl.String, "target_sector": pl.String,
            "center_id": pl.String, "severity": pl.Int64, "is_duplicate": pl.Boolean},
    orient="row",
)
ALL = Filters(duplicates_once=False)


def matching(filters: Filters, period: Period | None = None) -> list[str]:
    return INCIDENTS.filter(incident_filter(filters, COUNTY_TO_REGION, period))[
        "incident_id"].to_list()


@pytest.mark.parametrize(("filters", "expected"), [
    (ALL, ["a", "b", "c", "d", "e", "f"]),
    (Filters(), ["a", "b", "c", "e", "f"]),  # duplicates counted once: d is a linked copy
    (ALL.with_changes(regions=("north",)), ["a", "b", "d", "f"]),
    (ALL.with_changes(regions=("south",)), ["c", "e"]),
    (ALL.with_changes(counties=("44007",)), ["d", "f"]),
    (ALL.with_changes(regions=("south",), counties=("44001",)), ["a", "c", "e"]),
    (ALL.with_changes(categories=("sar_analysis",)), ["c", "d"]),
    (ALL.with_changes(categories=("gangs", "cybercrime")), ["a", "e", "f"]),
    (ALL.with_changes(sar_behaviors=("PHOTO", "CYBER")), ["c", "e"]),
    (ALL.with_changes(target_sectors=("EDU",)), ["b", "d"]),
    (ALL.with_changes(centers=("prov",)), ["b", "d", "f"]),
    (ALL.with_changes(severities=(3,)), ["c", "f"]),
    (ALL.with_changes(severities=(1, 5)), ["a", "e"]),
    (ALL.with_changes(categories=("narcotics",), centers=("rifc",)), []),
])
def test_each_dimension_alone(filters: Filters, expected: list[str]) -> None:
    assert matching(filters) == expected


def test_period_bounds_are_inclusive() -> None:
    assert matching(ALL, Period(date(2025, 6, 5), date(2025, 6, 10))) == ["b", "c", "d", "e"]
    assert matching(ALL, Period(date(2025, 6, 16), date(2025, 6, 30))) == []


def test_dimensions_combine_with_and() -> None:
    filters = Filters(regions=("north",), categories=("gangs", "narcotics"), centers=("prov",))
    # north: a b d f; gangs/narcotics: a b f; prov: b f; to 14 June: b.
    assert matching(filters, Period(date(2025, 6, 1), date(2025, 6, 14))) == ["b"]
    assert matching(filters.with_changes(duplicates_once=False,
                                         categories=("sar_analysis",))) == ["d"]
    assert matching(filters.with_changes(categories=("sar_analysis",))) == []


# --- URL form ------------------------------------------------------------------------------

def test_default_filters_have_an_empty_url() -> None:
    assert to_query_params(Filters()) == {}
    assert from_query_params({}, VOCABULARIES) == Filters()


def test_url_holds_only_what_differs_lists_as_repeated_keys() -> None:
    filters = Filters(period="custom", start=date(2025, 1, 1), end=date(2025, 1, 31),
                      regions=("north",), counties=("44009", "44005"), severities=(2, 4),
                      duplicates_once=False)
    assert to_query_params(filters) == {
        "period": "custom", "start": "2025-01-01", "end": "2025-01-31",
        "regions": ["north"], "counties": ["44009", "44005"], "severities": ["2", "4"],
        "duplicates_once": "0",
    }


@pytest.mark.parametrize("filters", [
    Filters(),
    Filters(period="7d"),
    Filters(period="ytd", duplicates_once=False),
    Filters(period="custom", start=date(2024, 2, 29), end=date(2024, 3, 31)),
    Filters(period="custom", start=date(2025, 3, 1)),
    Filters(period="custom", end=date(2025, 3, 1)),
    Filters(regions=("south", "north"), counties=("44007",), categories=("gangs", "narcotics"),
            sar_behaviors=("PHOTO",), target_sectors=("EDU", "ENRG"), centers=("prov", "rifc"),
            severities=(1, 3, 5)),
])
def test_url_round_trip(filters: Filters) -> None:
    assert from_query_params(to_query_params(filters), VOCABULARIES) == filters


def subset(vocabulary: str) -> st.SearchStrategy[tuple[str, ...]]:
    """A selection in click order: distinct values, any order."""
    return st.lists(st.sampled_from(sorted(VOCABULARIES[vocabulary])), unique=True).map(tuple)


# The sidebar keeps severities sorted (pills), the other lists in the order they were picked.
canonical_filters = st.builds(
    Filters,
    period=st.sampled_from(list(PERIOD_PRESETS)),
    start=st.none() | st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
    end=st.none() | st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
    **{name: subset(name) for name in LIST_FIELDS},
    severities=st.lists(st.integers(min_value=1, max_value=5), unique=True).map(
        lambda values: tuple(sorted(values))),
    duplicates_once=st.booleans(),
)


@settings(max_examples=50, deadline=None)
@given(canonical_filters)
def test_url_round_trip_is_the_identity(filters: Filters) -> None:
    params = to_query_params(filters)
    assert all(isinstance(value, str | list) for value in params.values())
    assert from_query_params(params, VOCABULARIES) == filters


@pytest.mark.parametrize("params", [
    {"counties": ["99999"]},
    {"counties": "06037"},  # a real county, but not of this state
    {"regions": ["east"]},
    {"categories": ["jaywalking"]},
    {"centers": ["nypd"]},
    {"sar_behaviors": ["photo"]},  # codes are case sensitive
    {"target_sectors": [""]},
    {"start": "2025-13-45"},
    {"end": "2025-02-29"},
    {"start": "yesterday", "end": ""},
    {"start": "2025-01-01T00:00:00"},
    {"severities": ["9"]},
    {"severities": ["x", "0", "-1", "3.0", " 3"]},
    {"period": "forever"},
    {"period": ["", "7d"]},
    {"duplicates_once": "yes"},
    {"duplicates_once": []},
    {"categories": ["<script>alert(1)</script>"]},
    {"period": "<script>alert(1)</script>", "counties": "<script>"},
    {"utm_source": "mail", "filters": ["1"]},
])
def test_unknown_url_values_are_dropped(params: dict[str, str | list[str]]) -> None:
    assert from_query_params(params, VOCABULARIES) == Filters()


def test_known_values_survive_next_to_unknown_ones() -> None:
    params: dict[str, str | list[str]] = {
        "period": "90d",
        "counties": ["44007", "99999", "<script>alert(1)</script>", "44007", "44001"],
        "regions": "south",
        "centers": ["prov", "PROV"],
        "severities": ["5", "9", "3", "x", "3"],
        "start": "2025-13-45",
        "end": "2025-02-28",
        "duplicates_once": "0",
    }
    assert from_query_params(params, VOCABULARIES) == Filters(
        period="90d", counties=("44007", "44001"), regions=("south",), centers=("prov",),
        severities=(3, 5), end=date(2025, 2, 28), duplicates_once=False)


url_text = st.text(max_size=12) | st.sampled_from(
    ["44007", "north", "gangs", "prov", "3", "0", "1", "7d", "custom", "2025-02-01",
     "0001-01-01", "9999-12-31", "<script>"])
hostile_params = st.dictionaries(
    st.sampled_from([item.name for item in fields(Filters)] + ["junk", ""]),
    url_text | st.lists(url_text, max_size=4),
    max_size=8,
)


@settings(max_examples=50, deadline=None)
@given(hostile_params)
def test_any_url_gives_filters_within_the_vocabularies(
    params: dict[str, str | list[str]]
) -> None:
    filters = from_query_params(params, VOCABULARIES)
    assert filters.period in PERIOD_PRESETS
    for name in LIST_FIELDS:
        chosen = getattr(filters, name)
        assert set(chosen) <= VOCABULARIES[name]
        assert len(set(chosen)) == len(chosen)
    assert set(filters.severities) <= {1, 2, 3, 4, 5}
    assert list(filters.severities) == sorted(set(filters.severities))
    assert period_of(filters, TODAY).days >= 1


@pytest.mark.parametrize("params", [
    {"period": "custom", "start": "0001-01-01"},
    {"period": "custom", "end": "9999-12-31"},
])
def test_far_out_url_dates_leave_a_usable_period(params: dict[str, str]) -> None:
    # Every page compares the period with the one before it; a hand-edited link must not be
    # able to push that outside the dates Python can represent (OverflowError).
    period = period_of(from_query_params(params, VOCABULARIES), TODAY)
    assert period.previous().days == period.days
