"""The Overview's page model: the change bars (a bar's length is the number its label says, with
the counts beside it and the names in full) and the heading (what the view shows: place,
categories, period) with every active filter written out under it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import plotly.graph_objects as go
import polars as pl
import pytest

from dashboard.analytics.filters import Filters, period_of
from dashboard.frames import load_picture_frames
from dashboard.pagemodels.map import map_page
from dashboard.pagemodels.overview import overview_page, safe_link, view_scope
from dashboard.security.audience import ViewData, view_data
from dashboard.security.policy import VisibilityClass
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store
from dashboard.views.overview import change_bars_figure

TODAY = date(2025, 3, 1)
WINTER = Filters(period="custom", start=date(2025, 1, 1), end=date(2025, 2, 28))
LEADERSHIP = VisibilityClass("leadership", "rifc", "TLP:AMBER+STRICT", need_to_know=True)
PARTNER = VisibilityClass("partner", "rifc", "TLP:GREEN")


def changes(counts: dict[str, tuple[int, int]], column: str = "county_fips") -> pl.DataFrame:
    """A change table as the analytics give it: key -> (previous, current)."""
    return pl.DataFrame(
        [{column: key, "current": now, "previous": before, "change": now - before,
          "change_pct": 100.0 * (now - before) / before if before else None}
         for key, (before, now) in counts.items()],
        schema={column: pl.String, "current": pl.Int64, "previous": pl.Int64,
                "change": pl.Int64, "change_pct": pl.Float64})


def row_labels(figure: go.Figure) -> dict[str, list[str]]:
    """The texts written on each bar's row (right of the bars), by the bar's name."""
    labels: dict[str, list[str]] = {}
    for annotation in figure.layout.annotations:
        if annotation.yref == "y":
            labels.setdefault(annotation.y, []).append(annotation.text)
    return labels


def test_a_bar_is_as_long_as_the_change_its_label_says() -> None:
    # The director's case: San Benito +16 % drawn longer than Mariposa +47 %, no counts.
    names = {"06069": "San Benito", "06043": "Mariposa", "06075": "San Francisco"}
    figure = change_bars_figure(changes({"06069": (87, 101), "06043": (15, 22),
                                         "06075": (60, 40)}), "county_fips", names, "Counties")
    bars = figure.data[0]
    labels = row_labels(figure)
    for name, length in zip(bars.y, bars.x, strict=True):
        change_text, counts_text = labels[name]
        assert int(change_text.split(" ")[0]) == length, name
        before, now = (int(n) for n in counts_text.split(" → "))
        assert now - before == length, name
    assert labels["San Benito"] == ["+14 (+16 %)", "87 → 101"]
    assert labels["Mariposa"] == ["+7 (+47 %)", "15 → 22"]
    assert labels["San Francisco"] == ["-20 (-33 %)", "60 → 40"]
    # Largest rise on top (plotly draws the first category at the bottom).
    assert list(bars.y) == ["San Francisco", "Mariposa", "San Benito"]
    assert bars.text is None  # no second, different label on the bars themselves


def test_a_place_new_this_period_says_so() -> None:
    figure = change_bars_figure(changes({"a": (0, 3)}, "region_id"), "region_id", {"a": "A"},
                                "Regions")
    assert row_labels(figure)["A"] == ["+3 (new)", "0 → 3"]


def test_the_largest_changes_are_shown_falls_included() -> None:
    rises = {f"c{i}": (10, 11 + i) for i in range(9)}  # nine small rises
    table = changes({**rises, "big_fall": (100, 40)}, "category")
    figure = change_bars_figure(table, "category", {}, "Categories", top=8)
    assert "big_fall" in figure.data[0].y
    assert len(figure.data[0].y) == 8


def test_tick_labels_are_the_full_names_escaped() -> None:
    names = {"central_valley": "Central Valley and Eastern Sierra",
             "los_angeles": "Los Angeles and Inland Empire", "evil": "<b>Evil</b> & co"}
    table = changes({"central_valley": (10, 30), "los_angeles": (50, 45), "evil": (1, 2)},
                    "region_id")
    figure = change_bars_figure(table, "region_id", names, "Regions")
    assert sorted(figure.data[0].y) == sorted(
        ["Central Valley and Eastern Sierra", "Los Angeles and Inland Empire",
         "&lt;b&gt;Evil&lt;/b&gt; &amp; co"])
    assert figure.layout.yaxis.ticktext is None  # the names themselves, not shortened copies
    assert figure.layout.yaxis.automargin is True


def test_no_change_says_so() -> None:
    figure = change_bars_figure(changes({"a": (4, 4)}, "category"), "category", {}, "C")
    assert not figure.data
    assert figure.layout.annotations[0].text == "No change against the period before."


# --- on the page model, on the ingested Rhode Island fixture -----------------------------------


@pytest.fixture(scope="module")
def ri(ingested_ri: tuple[Path, str]) -> tuple[ProjectConfig, ViewData, ViewData]:
    config = load_config(ingested_ri[0])
    frames = load_picture_frames(open_store(ingested_ri[1]), config.settings.timezone)
    return config, *(view_data(frames, visibility, config.settings.security.partner_min_count,
                               TODAY, config.settings.timezone)
                     for visibility in (LEADERSHIP, PARTNER))  # type: ignore[return-value]


def test_overview_change_charts_match_their_tables(
        ri: tuple[ProjectConfig, ViewData, ViewData]) -> None:
    config, data, _ = ri
    page = overview_page(config, data, WINTER, TODAY)
    county_names = config.labels["county"]
    for figure, table, column, names in (
            (page.category_changes, page.by_category, "category", config.labels["category"]),
            (page.place_changes["County"], page.by_county, "county_fips", county_names),
            (page.place_changes["Region"], page.by_region, "region_id", config.labels["region"])):
        expected = {names.get(row[column], row[column]): row["change"]
                    for row in table.iter_rows(named=True) if row["change"]}
        bars = figure.data[0]
        assert dict(zip(bars.y, bars.x, strict=True)) == expected
        labels = row_labels(figure)
        for name, length in expected.items():
            assert labels[name][0].startswith(f"{length:+,} ("), name
    # Providence: R-1 and P-101 in the period (P-100 repeats R-1), none before.
    assert row_labels(page.place_changes["County"])["Providence"] == ["+2 (new)", "0 → 2"]


def test_the_caption_names_the_days_the_figures_count(
        ri: tuple[ProjectConfig, ViewData, ViewData]) -> None:
    config, data, partner = ri
    assert overview_page(config, data, WINTER, TODAY).caption == (
        "01 Jan 2025 – 28 Feb 2025 (59 days) against the 59 days before · duplicates counted "
        "once")
    # A partner's release counts the complete weeks whose Sunday is in the period, up to the
    # last Sunday before today (23 Feb): not "01 Jan – 28 Feb (59 days)", which it never
    # counted (issue 14).
    assert overview_page(config, partner, WINTER, TODAY).caption == (
        "Incidents 30 Dec 2024 – 23 Feb 2025 (8 complete weeks, Monday to Sunday), products "
        "01 Jan 2025 – 28 Feb 2025, each against the same span before · duplicates counted "
        "once")
    assert map_page(config, partner, WINTER, TODAY).counted.startswith(
        "30 Dec 2024 – 23 Feb 2025 (8 complete weeks")
    before_any_sunday = Filters(period="custom", start=date(2025, 2, 24),
                                end=date(2025, 2, 28))
    assert overview_page(config, partner, before_any_sunday, TODAY).caption.startswith(
        "Incidents 24 Feb 2025 – 28 Feb 2025: no complete week (Monday to Sunday) released "
        "yet")


def test_latest_products_open_in_full(ri: tuple[ProjectConfig, ViewData, ViewData]) -> None:
    config, data, partner = ri
    latest = overview_page(config, data, WINTER, TODAY).latest_products
    first = latest[0]
    assert (first.title, first.center, first.product_type, first.marking) == (
        "North region narcotics picture", "Providence Regional Intelligence Center",
        "Threat assessment", "TLP:GREEN")  # no marking in the feed: the center's default
    assert first.summary == "Pill seizures in Bristol and Providence."
    assert first.topics == "Narcotics, Gangs"
    assert first.link is None  # its feed gives no link
    by_title = {card.title: card for card in overview_page(
        config, data, Filters(period="custom", start=date(2025, 1, 1), end=date(2025, 3, 1)),
        TODAY).latest_products}
    # The feed's source_url is the card's link; a javascript: address is not a link.
    assert by_title["Gang graffiti trend in Providence"].link == (
        "https://fusion.example.gov/products/RP-1")
    assert by_title["Statewide cyber threat assessment"].link is None
    # Feed text stays text in the card's Markdown.
    hostile = replace(first, title="<img src=x onerror=alert(1)>", summary="[x](javascript:y)")
    assert "<img" not in hostile.details_markdown()
    assert "](" not in hostile.details_markdown()
    # A partner receives no summary and no link (what they receive is unchanged by the cards).
    assert all(card.summary is None and card.link is None for card in overview_page(
        config, partner, WINTER, TODAY).latest_products)


@pytest.mark.parametrize(("address", "kept"), [
    ("https://fusion.example.gov/products/42", True), ("http://10.0.0.5/p?id=1", True),
    ("javascript:alert(1)", False), ("data:text/html,<script>", False),
    ("/relative/path", False), ("https://", False), ("https://a.gov/x y", False),
    ("ftp://files.example.gov/p.pdf", False), (None, False)])
def test_only_absolute_http_links_are_clickable(address: str | None, kept: bool) -> None:
    assert safe_link(address) == (address if kept else None)


# --- the heading and the filters line ----------------------------------------------------------


def _scope(config: ProjectConfig, filters: Filters) -> tuple[str, str | None]:
    scope = view_scope(config, filters, period_of(filters, TODAY))
    return scope.heading, scope.filters_line


def test_heading_without_a_filter_is_statewide(ri_config: ProjectConfig) -> None:
    assert _scope(ri_config, Filters()) == ("Statewide picture · last 28 days", None)
    assert _scope(ri_config, WINTER) == (
        "Statewide picture · 01 Jan 2025 – 28 Feb 2025", None)


def test_heading_names_a_county_and_a_category(ri_config: ProjectConfig) -> None:
    heading, line = _scope(ri_config, Filters(counties=("44007",), categories=("narcotics",)))
    assert heading == "Providence County · Narcotics · last 28 days"
    assert line == "Filters: County: Providence · Threat category: Narcotics"


def test_heading_names_a_region(ri_config: ProjectConfig) -> None:
    heading, line = _scope(ri_config, Filters(period="90d", regions=("north",)))
    assert heading == "North region · last 90 days"
    assert line == "Filters: Region: North"


def test_several_categories_are_counted_in_the_heading_listed_in_full(
        ri_config: ProjectConfig) -> None:
    filters = Filters(period="ytd", categories=("narcotics", "gangs", "cybercrime"),
                      centers=("prov",), severities=(4, 5), duplicates_once=False)
    heading, line = _scope(ri_config, filters)
    assert heading == "Statewide picture · 3 threat categories · year to date"
    assert line == ("Filters: Threat category: Narcotics, Gangs, Cybercrime · Reporting "
                    "center: Providence Regional Intelligence Center · Severity: 4, 5 · "
                    "Count cross-center duplicates once: off")


def test_long_region_names_are_never_cut(tmp_path: Path, ri_dir: Path) -> None:
    regions = ri_dir / "config" / "regions.toml"
    regions.write_text(regions.read_text().replace('name = "North"',
                                                   'name = "Central Valley and Eastern Sierra"'))
    config = load_config(ri_dir / "config")
    heading, line = _scope(config, Filters(regions=("north", "south")))
    assert heading == "Central Valley and Eastern Sierra region + South region · last 28 days"
    assert line == "Filters: Region: Central Valley and Eastern Sierra, South"
    heading, _ = _scope(config, Filters(regions=("north", "south"), counties=("44009",)))
    assert heading == "2 regions + 1 county · last 28 days"


def test_overview_heading_uses_what_the_viewer_may_filter(
        ri: tuple[ProjectConfig, ViewData, ViewData]) -> None:
    config, data, partner = ri
    filters = WINTER.with_changes(regions=("south",), centers=("prov",))
    assert overview_page(config, data, filters, TODAY).scope.filters_line == (
        "Filters: Region: South · Reporting center: Providence Regional Intelligence Center")
    # A partner's release cannot be filtered by center: the page does not claim it is.
    assert overview_page(config, partner, filters, TODAY).scope.filters_line == (
        "Filters: Region: South")
