"""Untrusted text is shown as text everywhere: display names, config labels and titles, and
every string a feed sent carry a Markdown image, a link and raw HTML here, and no page,
sidebar, chart, map, HTML briefing or PDF interprets them."""

from __future__ import annotations

import ast
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import pytest
import sqlalchemy as sa
from plotly.offline import get_plotlyjs
from pypdf import PdfReader
from streamlit.testing.v1 import AppTest

from dashboard.analytics.coverage import CoverageScope
from dashboard.analytics.filters import Filters
from dashboard.briefing.compose import compose_from_store
from dashboard.briefing.render_html import render_html
from dashboard.briefing.render_pdf import render_pdf
from dashboard.frames import load_health_frames, load_picture_frames
from dashboard.ingest.pipeline import run_ingest
from dashboard.pagemodels.centers import centers_page
from dashboard.pagemodels.coverage import coverage_page
from dashboard.pagemodels.data_health import data_health_page
from dashboard.pagemodels.map import map_page, map_points
from dashboard.pagemodels.overview import overview_page
from dashboard.pagemodels.trends import trends_page
from dashboard.security.accounts import add_user, ensure_demo_users, viewer_for
from dashboard.security.audience import ViewData, view_data
from dashboard.security.policy import PAGES_BY_ROLE, visibility_class
from dashboard.settings import ProjectConfig, load_config
from dashboard.store import open_store, operations_engine
from dashboard.views.centers import (
    aor_category_figure,
    lag_figure,
    overlap_figure,
    products_by_month_figure,
    weekly_activity_figure,
)
from dashboard.views.coverage import center_topic_figure, gap_heatmap
from dashboard.views.formatting import markdown_text, plotly_text
from dashboard.views.health import rows_per_center_figure
from dashboard.views.maps import MapLayers, aor_outline, county_map, region_outlines
from dashboard.views.overview import change_bars_figure
from page_glue import sign_in
from tests.conftest import RI_FIXTURE

ROOT = Path(__file__).resolve().parent.parent
HOST = "203.0.113.9"  # TEST-NET-3: never a real host
PAYLOAD = (f"Evil ![x](http://{HOST}/x.png) [click](http://{HOST}/) "
           f"<img src=http://{HOST}/y.png>")
# What must never reach a renderer that interprets Markdown or HTML.
MARKDOWN_MARKERS = ("![", "](http", "<img")
RAW_HTML = f"<img src=http://{HOST}"
JSON_ESCAPE = re.compile(r"\\+u([0-9a-fA-F]{4})|\\+(/)")
ESCAPED_WORDS = markdown_text(f"Evil ![x](http://{HOST}/x.png)")  # as Markdown source
WINTER_2025 = {"period": "custom", "start": "2025-01-01", "end": "2025-02-28"}
WINTER = Filters(period="custom", start=date(2025, 1, 1), end=date(2025, 2, 28))
TODAY = date(2025, 2, 28)
EVIL_USER, EVIL_PASSWORD = "evil_admin", "a long enough password 1"


# --- the deployment -------------------------------------------------------------------------


def edit_file(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur exactly once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The RI fixture with the payload in a center name, a region name, two category labels
    (one with the First Amendment caution), an audience label, the deployment title, an
    incident narrative, a product title and summary, a quarantined value, and an admin's
    display name; ingested. (config folder, store URL)."""
    folder = tmp_path_factory.mktemp("hostile") / "ri"
    shutil.copytree(RI_FIXTURE, folder)
    config_dir, feeds = folder / "config", folder / "feeds"
    edit_file(config_dir / "centers.toml", 'name = "Rhode Island Fusion Center"',
              f'name = "{PAYLOAD} center"')
    edit_file(config_dir / "regions.toml", 'name = "North"', f'name = "{PAYLOAD} region"')
    edit_file(config_dir / "taxonomy.toml", 'label = "Gangs"', f'label = "{PAYLOAD} category"')
    edit_file(config_dir / "taxonomy.toml", 'label = "Suspicious activity"',
              f'label = "{PAYLOAD} SAR"')
    edit_file(config_dir / "taxonomy.toml", 'law_enforcement = "Law enforcement"',
              f'law_enforcement = "{PAYLOAD} audience"')
    edit_file(config_dir / "settings.toml", 'title = "Rhode Island test picture"',
              f'title = "{PAYLOAD} title"')
    with (feeds / "rifc_incidents.csv").open("a", encoding="utf-8") as feed:
        feed.write(f"R-90,02/20/2025 10:00,Gang Activity,44007,41.82,-71.41,,,3,GREEN,"
                   f"{PAYLOAD} narrative\n")
        # An unknown category: quarantined with the payload as its value and in its reason.
        feed.write(f"R-91,02/21/2025 10:00,{PAYLOAD},44007,41.82,-71.41,,,3,GREEN,x\n")
    with (feeds / "rifc_products.ndjson").open("a", encoding="utf-8") as feed:
        feed.write('{"product_id": "RP-90", "title": "' + PAYLOAD + ' product", '
                   '"product_type": "bulletin", "published_at": "2025-02-20T15:00:00Z", '
                   '"topics": ["gangs"], "county_fips": ["44007"], '
                   '"audience": "law_enforcement", "tlp": "TLP:GREEN", '
                   '"summary": "' + PAYLOAD + ' summary"}\n')
    store_url = f"sqlite:///{folder / 'store.sqlite'}"
    config = load_config(config_dir)
    store = open_store(store_url)
    run_ingest(config, store)
    ensure_demo_users(store, config)
    # Need-to-know: the admin reads narratives too (map popups).
    add_user(store, config, EVIL_USER, f"{PAYLOAD} user", "admin", "rifc", "TLP:RED",
             EVIL_PASSWORD, need_to_know=True)
    store.dispose()
    return config_dir, store_url


@pytest.fixture(scope="module")
def config(hostile: tuple[Path, str]) -> ProjectConfig:
    return load_config(hostile[0])


@pytest.fixture(scope="module")
def store(hostile: tuple[Path, str]) -> Iterator[Any]:
    engine = open_store(hostile[1])
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def data(config: ProjectConfig, store: Any) -> ViewData:
    """What the payload admin's class receives."""
    viewer = viewer_for(store, EVIL_USER, config.settings.security)
    assert viewer is not None
    frames = load_picture_frames(store, config.settings.timezone)
    return view_data(frames, visibility_class(viewer, frames.red_recipients),
                     config.settings.security.partner_min_count, TODAY,
                     config.settings.timezone)


def test_the_payload_is_stored(store: Any) -> None:
    """The deployment really carries the payload (else every check here would be vacuous)."""
    with store.connect() as connection:
        narratives = connection.execute(sa.text("SELECT narrative FROM incidents")).scalars()
        titles = connection.execute(sa.text("SELECT title FROM products")).scalars().all()
        quarantined = connection.execute(sa.text("SELECT * FROM quarantine")).all()
    with operations_engine(store).connect() as connection:
        names = connection.execute(sa.text("SELECT display_name FROM users")).scalars().all()
    assert f"{PAYLOAD} narrative" in list(narratives)
    assert f"{PAYLOAD} product" in titles
    assert any(PAYLOAD in str(row) for row in quarantined)
    assert f"{PAYLOAD} user" in names


# --- what an AppTest page shows -------------------------------------------------------------


def unescaped(text: str) -> str:
    """``text`` with every layer of JSON string escaping undone (plotly specs, and folium
    maps inside a component's JSON arguments, write "<" as \\u003c and "/" as \\u002f or
    \\/): what a browser's HTML renderer finally gets. HTML entities are left alone."""
    while True:
        decoded = JSON_ESCAPE.sub(lambda m: m.group(2) or chr(int(m.group(1), 16)), text)
        if decoded == text:
            return text
        text = decoded


def _walk(at: AppTest) -> Iterator[Any]:
    yield from at._tree  # every block and element of the last run, main and sidebar


def markdown_texts(at: AppTest) -> list[tuple[str, str]]:
    """(where, text) of everything on the page that Streamlit renders as Markdown: markdown,
    captions, alerts, toasts, headings, metric labels and help, expander and tab labels,
    widget labels and help, dataframe column headers and help."""
    found: list[tuple[str, str]] = []
    for node in _walk(at):
        kind = getattr(node, "type", "")
        proto = getattr(node, "proto", None)
        if kind in {"markdown", "caption", "latex", "divider", "title", "header", "subheader",
                    "error", "warning", "info", "success", "toast"}:
            found.append((kind, str(node.value)))
        if kind in {"expander", "status", "tab"}:
            found.append((f"{kind} label", node.label))
        if proto is None:
            continue
        for field in ("label", "help", "placeholder"):
            value = getattr(proto, field, None)
            if isinstance(value, str) and value:
                found.append((f"{kind} {field}", value))
        if kind == "dataframe":
            found.append(("dataframe column config", proto.columns))
    return found


def html_bodies(at: AppTest) -> list[tuple[str, str]]:
    """(where, content) of what the browser renders as HTML: st.html bodies, plotly specs
    (plotly.js renders a subset of HTML in labels and hover text) and components (the folium
    maps, whose tooltips and popups are HTML)."""
    found: list[tuple[str, str]] = []
    for node in _walk(at):
        kind = getattr(node, "type", "")
        if kind == "html":
            found.append((kind, node.value))
        elif kind == "plotly_chart":
            found.append((kind, node.proto.spec))
        elif kind in {"component_instance", "iframe"}:
            found.append((kind, str(node.proto)))
    return found


def sign_in_as(at: AppTest, username: str, password: str) -> AppTest:
    sign_in(at, username, password)
    assert not at.exception, at.exception
    assert "signed_in" in at.session_state, [error.value for error in at.error]
    return at


def open_as_evil_admin(deployment: tuple[Path, str], monkeypatch: pytest.MonkeyPatch,
                       params: dict[str, str | list[str]] | None = None) -> AppTest:
    config_dir, store_url = deployment
    monkeypatch.setenv("THREAT_PICTURE_CONFIG", str(config_dir))
    monkeypatch.setenv("THREAT_PICTURE_STORE", store_url)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for key, value in (params or WINTER_2025).items():
        at.query_params[key] = value
    return sign_in_as(at.run(), EVIL_USER, EVIL_PASSWORD)


def assert_shown_as_text(at: AppTest, page: str) -> None:
    texts = markdown_texts(at)
    leaks = [(where, marker, text[:300]) for where, text in texts for marker in MARKDOWN_MARKERS
             if marker in text]
    assert not leaks, f"{page}: Markdown/HTML syntax reaches a Markdown renderer: {leaks}"
    raw = [where for where, body in html_bodies(at) if RAW_HTML in unescaped(body)]
    assert not raw, f"{page}: raw HTML from untrusted text reaches an HTML renderer: {raw}"


def _app_pages() -> dict[str, list[tuple[str, str, str, str]]]:
    """app.py's PAGES table, read without running app.py (a Streamlit script)."""
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    table = next(node.value for node in ast.walk(tree) if isinstance(node, ast.AnnAssign)
                 and isinstance(node.target, ast.Name) and node.target.id == "PAGES")
    assert table is not None
    return ast.literal_eval(table)  # type: ignore[no-any-return]


PAGES = _app_pages()
ADMIN_PAGES = [path for pages in PAGES.values() for path, _title, _icon, url_path in pages
               if url_path in PAGES_BY_ROLE["admin"]]


def test_admin_may_open_every_page() -> None:
    assert ADMIN_PAGES and len(ADMIN_PAGES) == sum(len(pages) for pages in PAGES.values())


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_every_page_shows_untrusted_text_as_text(hostile: tuple[Path, str], page: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_as_evil_admin(hostile, monkeypatch)
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert_shown_as_text(at, page)
    # Not vacuous: the payload's words are on the page, escaped (the deployment title in
    # the sidebar's banner on every page) ...
    sidebar = [text for kind, text in markdown_texts(at) if kind == "markdown"]
    assert any(ESCAPED_WORDS in text for text in sidebar), page
    # ... and the signed-in line shows the display name as plain text.
    assert any(f"Signed in as {PAYLOAD} user" in text.value for text in at.sidebar.text)


def test_pages_show_payload_labels_escaped(hostile: tuple[Path, str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the pages put config and feed text into Markdown, it arrives escaped; charts
    and maps carry it HTML-escaped."""
    at = open_as_evil_admin(hostile, monkeypatch)
    charts = [unescaped(body) for kind, body in html_bodies(at) if kind == "plotly_chart"]
    assert any(plotly_text(PAYLOAD) in chart for chart in charts)  # category bars
    maps = [unescaped(body) for kind, body in html_bodies(at) if kind == "component_instance"]
    assert any(f"{plotly_text(PAYLOAD)} region" in body for body in maps)  # region tooltip
    at.switch_page("pages/briefing.py").run()
    assert_shown_as_text(at, "briefing")
    audience = markdown_text(f"{PAYLOAD} audience")
    assert any(audience in text for _kind, text in markdown_texts(at))
    assert any(markdown_text(f"{PAYLOAD} title") in text for _kind, text in markdown_texts(at))
    at.switch_page("pages/coverage.py").run()
    assert_shown_as_text(at, "coverage")
    cards = [body for kind, body in html_bodies(at) if kind == "html"]
    assert any(f"{plotly_text(PAYLOAD)} product" in body for body in cards)
    at.switch_page("pages/map.py").run()
    at.pills(key="map_layers").set_value(["Regions", "Center AORs", "Points"]).run()
    assert not at.exception, at.exception
    assert_shown_as_text(at, "map with every layer")
    maps = [unescaped(body) for kind, body in html_bodies(at) if kind == "component_instance"]
    assert any(f"{plotly_text(PAYLOAD)} narrative" in body for body in maps)  # point popups


def test_first_amendment_warning_shows_the_label_escaped(
        hostile: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_as_evil_admin(hostile, monkeypatch, {**WINTER_2025,
                                                   "categories": ["sar_analysis", "gangs"]})
    assert_shown_as_text(at, "overview, cautioned category")
    warning = next(w.value for w in at.warning if "First Amendment" in w.value)
    assert markdown_text(f"{PAYLOAD} SAR") in warning


def test_sign_in_screen_shows_the_title_as_text(hostile: tuple[Path, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir, store_url = hostile
    monkeypatch.setenv("THREAT_PICTURE_CONFIG", str(config_dir))
    monkeypatch.setenv("THREAT_PICTURE_STORE", store_url)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert_shown_as_text(at, "sign-in")


# --- figures, maps, briefings built directly -------------------------------------------------


def _figure_json(figures: list[go.Figure]) -> str:
    return " ".join(figure.to_json() for figure in figures)


def assert_no_raw_html(text: str, where: str) -> None:
    assert RAW_HTML not in unescaped(text), where


def test_page_figures_escape_labels(config: ProjectConfig, data: ViewData) -> None:
    labels = config.labels
    overview = overview_page(config, data, WINTER, TODAY)
    trends = trends_page(config, data, WINTER, TODAY)
    by_center = trends_page(config, data, WINTER, TODAY, split="center")
    by_region = trends_page(config, data, WINTER, TODAY, split="region", compstat_by="region_id")
    figures = [
        change_bars_figure(overview.by_category, "category", labels["category"], "Categories"),
        change_bars_figure(overview.by_region, "region_id", labels["region"], "Regions"),
        trends.series_chart, trends.cells_chart, by_center.series_chart,
        by_region.series_chart,
    ]
    centers = centers_page(config, data, WINTER, TODAY).figures
    names = labels["center"]
    order = list(names)
    figures += [
        weekly_activity_figure(centers.weekly, names, order),
        lag_figure(centers.lag_bands, names, order),
        overlap_figure(centers.overlap, names, order, "shared_counties"),
        products_by_month_figure(centers.products_by_month, names, order,
                                 dict(config.taxonomy.product_types)),
        aor_category_figure(centers.by_category, "rifc", labels["category"]),
    ]
    scope = CoverageScope.from_config(config)
    for level in ("region", "county"):
        coverage = coverage_page(config, data, WINTER, TODAY, level=level).figures
        figures += [gap_heatmap(coverage.cells, scope, level),
                    center_topic_figure(coverage.center_topics, scope)]
    text = _figure_json(figures)
    assert_no_raw_html(text, "page figures")
    # Not vacuous: the labels are there, HTML-escaped.
    assert f"{plotly_text(PAYLOAD)} category" in unescaped(text)
    assert f"{plotly_text(PAYLOAD)} region" in unescaped(text)
    assert f"{plotly_text(PAYLOAD)} center" in unescaped(text)


def test_data_health_figure_holds_no_raw_html(config: ProjectConfig, data: ViewData,
                                              store: Any) -> None:
    page = data_health_page(data.visibility, load_health_frames(store), datetime.now(UTC))
    assert_no_raw_html(rows_per_center_figure(page.per_center).to_json(), "data health")


def test_maps_escape_labels_and_feed_text(config: ProjectConfig, data: ViewData,
                                          store: Any) -> None:
    state = config.settings.state
    page = map_page(config, data, WINTER, TODAY)
    points, total = map_points(config, data, store, WINTER, TODAY, 1000, True)
    assert points["popup"].str.contains("Evil", literal=True).any()
    layers = MapLayers(
        regions=region_outlines(state, config.county_to_region, config.labels["region"]),
        aors={center.name: aor_outline(state, config.aor_counties(center))
              for center in config.centers},
        hotspots=page.hotspots, points=points, points_total=total)
    html = county_map(state, page.county_counts, layers=layers).get_root().render()
    assert_no_raw_html(html, "map")
    # Not vacuous: the region, center and narrative are there, escaped.
    for what in ("region", "center", "narrative"):
        assert f"{plotly_text(PAYLOAD)} {what}" in unescaped(html), what


@pytest.fixture(scope="module")
def briefing(config: ProjectConfig, store: Any) -> Any:
    viewer = viewer_for(store, EVIL_USER, config.settings.security)
    assert viewer is not None
    return compose_from_store(store, config, viewer, WINTER, TODAY,
                              audience="law_enforcement").stamped(
        datetime(2025, 3, 1, 6, 0, tzinfo=UTC))


def test_html_briefing_holds_no_raw_payload(briefing: Any) -> None:
    html = render_html(briefing).replace(get_plotlyjs(), "")  # the inlined library
    assert PAYLOAD not in html
    assert_no_raw_html(html, "HTML briefing")
    # The payload is there as text: the title, audience, author, and (in the charts' plotly
    # JSON) the category labels.
    escaped = plotly_text(PAYLOAD)
    for what in ("title", "audience", "user"):
        assert f"{escaped} {what}" in html, what
    charts = unescaped("".join(html.split("<script")[1:]))
    assert f"{escaped} category" in charts


def test_pdf_briefing_prints_the_payload_as_text(briefing: Any) -> None:
    import io

    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(
        render_pdf(briefing))).pages)
    flat = " ".join(text.split())
    assert f"{PAYLOAD} audience" in flat
