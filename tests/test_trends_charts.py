"""The Trends page's figures and downloads as a reader meets them: the category x region small
multiples share a y scale along each row (one category compared across regions) and a time
axis, label each once, and title rows and columns with full names; an anomaly's name is shown
whole; the CompStat CSV says what the table says and is named after its view."""

from __future__ import annotations

import io
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from dashboard.analytics.filters import Filters
from dashboard.frames import load_picture_frames
from dashboard.ingest.pipeline import run_ingest
from dashboard.pagemodels.trends import trends_page
from dashboard.security.accounts import ensure_demo_users
from dashboard.security.audience import view_data
from dashboard.security.policy import VisibilityClass
from dashboard.settings import load_config
from dashboard.store import open_store
from dashboard.views.formatting import plotly_text
from dashboard.views.trends import small_multiples_figure
from tests.app_support import open_app
from tests.conftest import RI_FIXTURE

CATEGORIES = {"violent_crime": "Violent crime", "hve": "Homegrown violent extremism",
              "cyber": "Cybercrime & <b>fraud</b>"}
REGIONS = {"north": "North State", "valley": "Central Valley and Eastern Sierra",
           "south": "Los Angeles and Inland Empire"}
WEEKS = [date(2026, 11, 2) + timedelta(weeks=n) for n in range(6)]
TODAY = date(2025, 3, 1)
WINTER = Filters(period="custom", start=date(2025, 1, 1), end=date(2025, 2, 28))
LEADERSHIP = VisibilityClass("leadership", "rifc", "TLP:AMBER+STRICT", need_to_know=True)


def cells() -> pl.DataFrame:
    """Weekly cells: violent crime in the hundreds, extremism in ones (none in the south),
    cybercrime in tens; one anomaly."""
    scale = {"violent_crime": 100, "hve": 1, "cyber": 10}
    rows = []
    for category in CATEGORIES:
        for number, region in enumerate(REGIONS):
            if (category, region) == ("hve", "south"):
                continue
            for week, start in enumerate(WEEKS):
                incidents = scale[category] * (1 + (week + number) % 3)
                rows.append({"series": f"{category}|{region}", "bucket_start": start,
                             "start": start, "end": start + timedelta(days=6), "days": 7,
                             "incidents": incidents, "expected": scale[category] * 1.5,
                             "anomaly": (category, region, week) == ("cyber", "north", 5),
                             "p_value": 0.001})
    return pl.DataFrame(rows)


@pytest.fixture(scope="module")
def layout() -> dict[str, object]:
    figure = small_multiples_figure(cells(), CATEGORIES, REGIONS, "week", "Each category")
    return json.loads(figure.to_json())["layout"]  # type: ignore[no-any-return]


def axis_id(key: str) -> str:
    """'yaxis7' -> 'y7' (how 'matches' names an axis)."""
    return key.replace("axis", "")


def grid(layout: dict[str, object], letter: str) -> list[list[str]]:
    """The grid's axis keys ('yaxis', 'yaxis2', ...) row by row, top row first."""
    keys = sorted((key for key in layout if key.startswith(f"{letter}axis")),
                  key=lambda key: int(key[5:] or 1))
    return [keys[row:row + len(REGIONS)] for row in range(0, len(keys), len(REGIONS))]


def test_each_row_shares_one_y_scale_labelled_once(layout: dict[str, object]) -> None:
    rows = grid(layout, "y")
    assert len(rows) == len(CATEGORIES)
    for first, *others in rows:
        first_axis = layout[first]
        assert isinstance(first_axis, dict)
        assert "matches" not in first_axis  # each row has its own scale ...
        assert first_axis.get("showticklabels", True)  # ... labelled on the left
        for key in others:
            axis = layout[key]
            assert isinstance(axis, dict)
            assert axis["matches"] == axis_id(first), key  # the same scale along the row
            assert axis["showticklabels"] is False, key  # no repeated tick labels
    for key in (key for row in rows for key in row):
        axis = layout[key]
        assert isinstance(axis, dict)
        # Said outright: with a set x range, plotly would give every row the first row's y.
        assert axis["autorange"] is True and axis["rangemode"] == "tozero"
        assert axis["nticks"] <= 3


def test_every_cell_shares_the_time_axis_over_every_week(layout: dict[str, object]) -> None:
    rows = grid(layout, "x")
    keys = [key for row in rows for key in row]
    matched = {layout[key].get("matches") for key in keys}  # type: ignore[union-attr]
    assert len(matched - {None}) == 1  # one time axis ...
    labelled = [key for key in keys if layout[key].get("showticklabels", True)]  # type: ignore[union-attr]
    assert labelled == rows[-1]  # ... labelled under the bottom row only
    # It spans every week (a week's point on its last day), even with a cell that has no data
    # (plotly's default would not).
    first, last = layout[rows[0][0]]["range"]  # type: ignore[index]
    assert first < str(WEEKS[0] + timedelta(days=6)) and last > str(WEEKS[-1] + timedelta(days=6))


def test_rows_and_columns_are_titled_with_full_names(layout: dict[str, object]) -> None:
    annotations = layout["annotations"]
    assert isinstance(annotations, list)
    texts = [str(a["text"]).replace("<br>", " ") for a in annotations]
    columns = [str(a["text"]) for a in annotations if a.get("yanchor") == "bottom"]
    assert [title.replace("<br>", " ") for title in columns] == [
        plotly_text(name) for name in REGIONS.values()]
    # Broken into lines that fit a column: no line runs into the next column's title.
    assert all(len(line) <= 150 // len(REGIONS) for title in columns
               for line in title.split("<br>"))
    for name in CATEGORIES.values():  # full (escaped: labels are config text)
        assert plotly_text(name) in texts
    assert "no incidents" in texts  # the empty cell says so


def test_a_grid_from_the_page_model_shares_its_rows(ingested_ri: tuple[Path, str]) -> None:
    config = load_config(ingested_ri[0])
    frames = load_picture_frames(open_store(ingested_ri[1]), config.settings.timezone)
    data = view_data(frames, LEADERSHIP, config.settings.security.partner_min_count, TODAY,
                     config.settings.timezone)
    layout = json.loads(trends_page(config, data, WINTER, TODAY).cells_chart.to_json())[
        "layout"]
    y_axes = [key for key in layout if key.startswith("yaxis")]
    shared = [layout[key] for key in y_axes if "matches" in layout[key]]
    assert shared and all(axis["showticklabels"] is False for axis in shared)
    regions = [a["text"] for a in layout["annotations"] if a.get("yanchor") == "bottom"]
    assert regions == [region.name for region in config.regions]


def test_compstat_csv_is_rounded_as_shown_and_named_after_its_view(
        ingested_ri: tuple[Path, str]) -> None:
    config = load_config(ingested_ri[0])
    frames = load_picture_frames(open_store(ingested_ri[1]), config.settings.timezone)
    data = view_data(frames, LEADERSHIP, config.settings.security.partner_min_count, TODAY,
                     config.settings.timezone)
    page = trends_page(config, data, WINTER.with_changes(categories=("gangs", "narcotics")),
                       TODAY)
    assert page.compstat_csv_name == (
        "compstat-by-category_2025-01-01-to-2025-02-28_gangs_narcotics.csv")
    shown = pl.read_csv(io.BytesIO(page.compstat_csv))
    assert shown.columns[:3] == ["Category", "Category id", "Last 7 days"]
    assert "Last 28 days: change %" in shown.columns
    # One decimal, as the table shows it (-100.0 %, not -100.0000001).
    changes = [value for value in shown["Last 28 days: change %"].to_list() if value is not None]
    assert changes and all(round(value, 1) == value for value in changes)
    by_region = trends_page(config, data, WINTER, TODAY, compstat_by="region_id")
    assert by_region.compstat_csv_name == "compstat-by-region_2025-01-01-to-2025-02-28.csv"


LONG_REGION = "North of the state, the Blackstone Valley and the whole East Bay shore"


def test_anomalies_show_their_series_names_whole(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A week of twelve narcotics reports in the north, after months of one a week, is an
    anomaly; its name ('Narcotics · <a long region>') is listed whole, in a column that
    fits it."""
    shutil.copytree(RI_FIXTURE, tmp_path, dirs_exist_ok=True)
    regions = tmp_path / "config" / "regions.toml"
    regions.write_text(regions.read_text().replace('name = "North"', f'name = "{LONG_REGION}"'),
                       encoding="utf-8")
    feed = tmp_path / "feeds" / "rifc_incidents.csv"
    weekly = [date(2024, 11, 4) + timedelta(weeks=n) for n in range(14)]
    burst = [date(2025, 2, 10 + n % 3) for n in range(12)]  # 10-12 February
    rows = [f"A-{n},{day:%m/%d/%Y} 10:00,Narcotics,44007,,,,,2,GREEN,Pill seizure"
            for n, day in enumerate([*weekly, *burst])]
    feed.write_text(feed.read_text() + "\n".join(rows) + "\n", encoding="utf-8")
    config = load_config(tmp_path / "config")
    store_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = open_store(store_url)
    run_ingest(config, store)
    ensure_demo_users(store, config)
    at = open_app((tmp_path / "config", store_url), monkeypatch,
                  {"period": "custom", "start": "2025-01-01", "end": "2025-02-28"},
                  page="pages/trends.py", role="leadership")
    table = next(frame for frame in at.dataframe if "Adjusted p" in frame.value.columns)
    assert f"Narcotics · {LONG_REGION}" in table.value["Series"].tolist()
    series_column = json.loads(table.proto.columns).get("Series", {})
    assert "width" not in series_column  # a set width ("medium") cut the names off


# --- issue 14, item 6: what the Trends page model shows ------------------------------------

FEBRUARY = Filters(period="custom", start=date(2025, 2, 1), end=date(2025, 2, 28))


@pytest.fixture(scope="module")
def burst_page(tmp_path_factory: pytest.TempPathFactory) -> object:
    """The Rhode Island fixture with weekly narcotics reports from November, a burst of twelve
    on 10-12 February and a report on 28 February (the data run to the period's last day); the
    Trends model for February 2025 (28 days ending on a Friday)."""
    folder = tmp_path_factory.mktemp("burst")
    shutil.copytree(RI_FIXTURE, folder, dirs_exist_ok=True)
    feed = folder / "feeds" / "rifc_incidents.csv"
    weekly = [date(2024, 11, 4) + timedelta(weeks=n) for n in range(14)]
    burst = [date(2025, 2, 10 + n % 3) for n in range(12)]
    rows = [f"B-{n},{day:%m/%d/%Y} 10:00,Narcotics,44007,,,,,2,GREEN,Pill seizure"
            for n, day in enumerate([*weekly, *burst, date(2025, 2, 28)])]
    feed.write_text(feed.read_text() + "\n".join(rows) + "\n", encoding="utf-8")
    config = load_config(folder / "config")
    store = open_store(f"sqlite:///{folder / 'store.sqlite'}")
    run_ingest(config, store)
    frames = load_picture_frames(store, config.settings.timezone)
    data = view_data(frames, LEADERSHIP, config.settings.security.partner_min_count, TODAY,
                     config.settings.timezone)
    return trends_page(config, data, FEBRUARY, TODAY)


def test_weeks_are_four_whole_weeks_ending_on_the_last_day_shown(burst_page: object) -> None:
    page = burst_page
    weeks = page.series.series.select("start", "end", "days").unique().sort("start")  # type: ignore[attr-defined]
    ends = [date(2025, 2, 7), date(2025, 2, 14), date(2025, 2, 21), date(2025, 2, 28)]
    assert weeks.rows() == [(end - timedelta(days=6), end, 7) for end in ends]
    # Each point on its week's last day: the latest on 28 February, none hollow.
    spec = json.loads(page.series_chart.to_json())  # type: ignore[attr-defined]
    for trace in spec["data"]:
        assert {x[:10] for x in trace["x"]} <= {str(end) for end in ends}
        if trace["name"] != "Anomaly":
            assert "circle-open" not in (trace.get("marker") or {}).get("symbol", [])
    assert "seven days ending on the last day shown (28 Feb 2025)" in page.buckets_note  # type: ignore[attr-defined]
    assert "hollow" not in page.buckets_note  # type: ignore[attr-defined]


def test_anomalies_read_as_dates_and_plain_p_values(burst_page: object) -> None:
    rows = burst_page.anomaly_rows  # type: ignore[attr-defined]
    assert rows.columns == ["Series", "From", "To", "Observed", "Expected", "× baseline", "p",
                            "Adjusted p"]
    narcotics = rows.filter(pl.col("Series").str.starts_with("Narcotics")).row(0, named=True)
    assert (narcotics["From"], narcotics["To"]) == ("08 Feb 2025", "14 Feb 2025")  # 7 days
    for start, end in rows.select("From", "To").iter_rows():
        span = date.fromisoformat(_iso(end)) - date.fromisoformat(_iso(start))
        assert span == timedelta(days=6)
    for p in [*rows["p"], *rows["Adjusted p"]]:
        assert p == "< 0.001" or (len(p.replace("0.", "").lstrip("0")) <= 3 and "e" not in p)


def _iso(day: str) -> str:
    from datetime import datetime
    return datetime.strptime(day, "%d %b %Y").date().isoformat()


def test_p_values_are_written_for_a_reader() -> None:
    from dashboard.views.trends import p_text
    assert [p_text(p) for p in (5.87e-65, 0.000999, 0.001, 0.0123456, 0.5, None)] == [
        "< 0.001", "< 0.001", "0.001", "0.0123", "0.5", "—"]


def test_compstat_headers_are_short(burst_page: object) -> None:
    page = burst_page
    assert list(page.compstat_headers(rates=False).values()) == [  # type: ignore[attr-defined]
        "7d", "7d prior", "7d Δ", "7d Δ %", "28d", "28d prior", "28d Δ", "28d Δ %",
        "YTD", "YTD last yr", "YTD Δ", "YTD Δ %"]
    assert list(page.compstat_headers(rates=True).values()) == [  # type: ignore[attr-defined]
        "7d /100k", "7d prior /100k", "7d Δ %", "28d /100k", "28d prior /100k", "28d Δ %",
        "YTD /100k", "YTD last yr /100k", "YTD Δ %"]
    assert set(page.compstat_headers(rates=False)) <= set(page.compstat.columns)  # type: ignore[attr-defined]


def test_every_series_has_its_own_colour_and_its_baseline_shares_it(burst_page: object) -> None:
    from dashboard.views.trends import PALETTE, series_figure
    base = burst_page.series  # type: ignore[attr-defined]
    # Ten series (the categories a state tracks): copies of the page's under ten names.
    one = base.series.filter(pl.col("series") == base.series["series"][0])
    ten = pl.concat([one.with_columns(pl.lit(f"s{n}").alias("series"),
                                      pl.col("incidents") + n) for n in range(10)])
    spec = json.loads(series_figure(ten, {}, "week", base.rule, "t").to_json())
    colours = {trace["name"]: trace["line"]["color"] for trace in spec["data"]
               if "line" in trace}
    lines = {name: colour for name, colour in colours.items() if not name.endswith("baseline")}
    assert len(lines) == 10 and len(set(lines.values())) == 10
    assert all(colours[f"{name} baseline"] == colour for name, colour in lines.items())

    def rgb(colour: str) -> tuple[int, ...]:
        return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    # Clearly different, not two pinks: every pair of the first ten far apart in RGB.
    first = [rgb(colour) for colour in PALETTE[:10]]
    assert min(sum((a - b) ** 2 for a, b in zip(x, y, strict=True)) ** 0.5
               for i, x in enumerate(first) for y in first[i + 1:]) > 60
