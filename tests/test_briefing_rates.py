"""Briefings give rates per 100,000 residents beside the counts of their county and region
tables, say the estimates' vintage, show "—" where residents are unknown; and their change
chart is the Overview's honest one: a bar as long as the change its label says, in the HTML and
in the PDF alike."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from dashboard.analytics.filters import Filters
from dashboard.briefing.charts import category_change_bars, category_changes_figure
from dashboard.briefing.compose import (
    Briefing,
    change_rows,
    compose_from_store,
    compstat_rows,
    hot_spots,
    hotspot_table,
)
from dashboard.briefing.render_html import render_html
from dashboard.briefing.render_pdf import render_pdf
from dashboard.geo.population import state_county_population
from dashboard.security.accounts import viewer_for
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store
from tests.app_support import open_app, table_with
from tests.briefing_support import AS_OF, briefing_deployment

BASIS = "per 100,000 residents, Census 2025 estimates"
WINTER_2025 = {"period": "custom", "start": "2025-01-01", "end": "2025-02-28"}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return briefing_deployment(tmp_path_factory.mktemp("briefing_rates"))


@pytest.fixture(scope="module")
def project(deployment: tuple[Path, str]) -> ProjectConfig:
    return load_config(deployment[0])


@pytest.fixture(scope="module")
def store(deployment: tuple[Path, str]) -> sa.Engine:
    return open_store(deployment[1])


@pytest.fixture(scope="module")
def briefing(store: sa.Engine, project: ProjectConfig) -> Briefing:
    analyst = viewer_for(store, "analyst", project.settings.security)
    assert analyst is not None
    return compose_from_store(store, project, analyst, Filters(period="90d"), AS_OF,
                              audience="law_enforcement").stamped(
        datetime(2025, 3, 1, 8, 0, tzinfo=UTC))


def residents(*counties: str) -> int:
    population = dict(state_county_population("RI").iter_rows())
    return sum(population[fips] for fips in counties)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_region_table_has_each_counts_rate_beside_it(briefing: Briefing) -> None:
    table = briefing.tables["regions"]
    assert table.columns == ("Region", "This period", "Per 100k", "Period before",
                             "Per 100k before", "Change", "Change %")
    rows = {row[0]: row for row in table.rows}
    # North (Bristol, Kent, Providence): 4 incidents in the 90 days; South (Newport,
    # Washington): 1; none the 90 days before.
    north = 4 * 100_000 / residents("44001", "44003", "44007")
    south = 1 * 100_000 / residents("44005", "44009")
    assert rows["North"][1:5] == ("4", f"{north:.1f}", "0", "0.0")
    assert rows["South"][1:5] == ("1", f"{south:.1f}", "0", "0.0")
    assert BASIS in table.note
    assert "—" not in table.note  # every region has its residents: nothing to explain


def test_compstat_gives_the_states_rates_of_its_totals(briefing: Briefing) -> None:
    state = residents("44001", "44003", "44005", "44007", "44009")
    note = briefing.tables["compstat"].note
    # Year to date: the fixture's 5 incidents of 2025, none the same span of 2024.
    assert (f"Total {BASIS} ({state:,} residents of the place shown): " in note)
    assert f"year to date {5 * 100_000 / state:.1f} (0.0 the same span last year)" in note
    assert f"last 28 days {2 * 100_000 / state:.1f} ({3 * 100_000 / state:.1f} before)" in note


def test_html_and_pdf_carry_the_rates_and_their_vintage(briefing: Briefing) -> None:
    html = render_html(briefing)
    north = f"{4 * 100_000 / residents('44001', '44003', '44007'):.1f}"
    assert BASIS in html
    assert f"<td class=num>4</td><td class=num>{north}</td>" in html
    assert "<th class=num>Per 100k</th>" in html
    pdf = flat(" ".join(page.extract_text() for page in
                        PdfReader(io.BytesIO(render_pdf(briefing))).pages))
    assert f"North 4 {north} 0 0.0 +4 new" in pdf
    assert BASIS in pdf
    assert f"Rates: incidents {BASIS}" in pdf  # the method notes say it too


def test_the_preview_shows_the_region_rates(deployment: tuple[Path, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(deployment, monkeypatch, WINTER_2025, page="pages/briefing.py")
    regions = table_with(at, "Per 100k before").set_index("Region")
    incidents = int(regions.loc["North", "This period"])
    assert incidents > 0
    north = incidents * 100_000 / residents("44001", "44003", "44007")
    assert regions.loc["North", "Per 100k"] == f"{north:.1f}"
    assert any(BASIS in caption.value for caption in at.caption)


def test_a_hot_spots_rate_is_per_resident_of_its_county() -> None:
    now = pl.DataFrame({"county_fips": ["44007", "44005", "44009"], "incidents": [30, 4, 2],
                        "z_score": [3.1, 2.0, 0.3], "confidence": [99, 95, 0],
                        "gi_bin": [3, 2, 0], "hotspot_class": ["hot", "hot", "none"]})
    regions = pl.DataFrame({"county_fips": ["44007", "44005"],
                            "county_name": ["Providence", "Newport"],
                            "region_name": ["North", "South"]})
    # Newport has no estimate here.
    population = state_county_population("RI").filter(pl.col("county_fips") != "44005")
    hot = hot_spots(now, now.clear(), regions, population)
    table = hotspot_table(hot, BASIS)
    assert table.columns[2:4] == ("Incidents", "Per 100k")
    assert table.rows[0][:4] == ("Providence", "North", "30",
                                 f"{30 * 100_000 / residents('44007'):.1f}")
    assert table.rows[1][:4] == ("Newport", "South", "4", "—")  # no rate, not 0
    assert BASIS in table.note


def test_unknown_residents_read_as_a_dash() -> None:
    changes = pl.DataFrame({"region_id": ["east", "west"], "current": [3, 2],
                            "previous": [1, 0], "change": [2, 2], "change_pct": [200.0, None]})
    table = change_rows("Incidents by region", changes, "region_id",
                        {"east": "East", "west": "West"}, "Region",
                        {"east": 60_000, "west": None}, BASIS)
    assert table.rows[0][1:5] == ("3", "5.0", "1", f"{100_000 / 60_000:.1f}")
    assert table.rows[1][1:5] == ("2", "—", "0", "—")
    assert "—: a county without an estimate" in table.note
    compstat = pl.DataFrame({"category": ["gangs"], **{
        name: [1] for window in ("7d", "28d", "ytd") for name in (
            window, f"{window}_prior", f"{window}_change")}, **{
        f"{window}_change_pct": [0.0] for window in ("7d", "28d", "ytd")}})
    note = compstat_rows(compstat, {}, date(2025, 2, 28), None, {}, BASIS).note
    assert f"No rate {BASIS}: a county of the place shown has no estimate." in note


def changes(counts: dict[str, tuple[int, int]]) -> pl.DataFrame:
    """A change table by category as the analytics give it: key -> (previous, current)."""
    return pl.DataFrame(
        [{"category": key, "current": now, "previous": before, "change": now - before,
          "change_pct": 100.0 * (now - before) / before if before else None}
         for key, (before, now) in counts.items()],
        schema={"category": pl.String, "current": pl.Int64, "previous": pl.Int64,
                "change": pl.Int64, "change_pct": pl.Float64}).sort("change", descending=True)


def plotly_data(html: str, div_id: str) -> list[dict[str, object]]:
    """The traces plotly draws in ``div_id`` of a rendered HTML file."""
    call = html.index(f'"{div_id}",')
    start = html.index("[", call)
    traces, _ = json.JSONDecoder().raw_decode(html[start:])
    return traces  # type: ignore[no-any-return]


def test_the_change_bars_are_as_long_as_their_labels(briefing: Briefing) -> None:
    # The Overview's case: a small category's large % drawn shorter than a large one's small %.
    labels = {"gangs": "Gangs", "hve": "Extremism & <b>hate</b>", "cyber": "Cybercrime"}
    shown = replace(briefing, category_labels=labels,
                    by_category=changes({"gangs": (87, 101), "hve": (15, 22),
                                         "cyber": (60, 40)}))
    bars = category_change_bars(shown)  # what the PDF draws
    assert [(bar.name, bar.change, bar.label, bar.counts) for bar in bars] == [
        ("Cybercrime", -20, "-20 (-33 %)", "60 → 40"),
        ("Extremism & <b>hate</b>", 7, "+7 (+47 %)", "15 → 22"),
        ("Gangs", 14, "+14 (+16 %)", "87 → 101"),  # the largest rise on top
    ]
    for bar in bars:
        assert int(bar.label.split(" ")[0]) == bar.change
        before, now = (int(n) for n in bar.counts.split(" → "))
        assert now - before == bar.change
    # The HTML draws the same bars, from the same figure.
    (drawn,) = plotly_data(render_html(shown), "chart-categories")
    assert drawn["x"] == [bar.change for bar in bars]
    assert [row[2] for row in drawn["customdata"]] == [bar.label for bar in bars]  # type: ignore[union-attr]
    assert "text" not in drawn  # no percentage written on a bar sized by count
    figure = category_changes_figure(shown)
    assert figure.layout.xaxis.title.text == "change in incidents"


def test_no_change_draws_no_bar(briefing: Briefing) -> None:
    still = replace(briefing, by_category=changes({"gangs": (5, 5)}))
    assert category_change_bars(still) == []
