"""Issue 14: a download says what the page said (numbers rounded as shown) and its name says
what it holds (period and filters)."""

from __future__ import annotations

from datetime import date

import polars as pl

from dashboard.analytics.filters import Filters, Period
from dashboard.pagemodels.common import download_file_name
from dashboard.views.export import download_name, to_safe_csv

PERIOD = Period(date(2026, 11, 4), date(2026, 12, 1))


def csv_lines(frame: pl.DataFrame) -> list[str]:
    return to_safe_csv(frame).decode("utf-8-sig").splitlines()


def test_floats_are_rounded_as_the_pages_show_them() -> None:
    frame = pl.DataFrame({"county": ["Alpine"], "incidents": [3],
                          "per_1000_km2": [1.234567890123456], "z_score": [2.0049999999],
                          "change_pct": [46.66666666666667], "other": [0.123456789]})
    assert csv_lines(frame) == ["county,incidents,per_1000_km2,z_score,change_pct,other",
                                "Alpine,3,1.2,2.0,47.0,0.12"]


def test_a_column_can_ask_for_its_own_decimals_and_nulls_stay_empty() -> None:
    frame = pl.DataFrame({"rate": [12.3456, None]})
    assert csv_lines(frame) == ["rate", "12.35", ""]
    assert to_safe_csv(frame, decimals={"rate": 0}).decode("utf-8-sig").splitlines() == [
        "rate", "12.0", ""]


def test_the_name_carries_the_period_and_every_filter_that_differs() -> None:
    assert download_file_name("counties", PERIOD, Filters()) == \
        "counties_2026-11-04-to-2026-12-01.csv"
    chosen = Filters(period="28d", categories=("narcotics",), counties=("06037",),
                     duplicates_once=False)
    assert download_file_name("counties", PERIOD, chosen) == (
        "counties_2026-11-04-to-2026-12-01_06037_narcotics_duplicates-once-off.csv")


def test_names_are_plain_words_and_a_long_filter_list_is_cut_saying_so() -> None:
    assert download_name("CompStat by Region", "a/b", ["Café <x>", "../../etc"]) == \
        "compstat-by-region_a-b_caf-x_etc.csv"
    many = [f"0600{number}" for number in range(1, 10)] + [f"060{n}" for n in range(10, 40)]
    name = download_name("counties", "2026", many)
    assert name.endswith(f"-and-more-{len(many)}-filters.csv") and len(name) < 120
    assert "/" not in name and " " not in name
