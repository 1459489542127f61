"""Offline folium maps: every asset comes from static/vendor/, nothing leaves the machine.

Unit tests check the map tree and its rendered HTML; browser tests serve a map through
streamlit-folium (and as a standalone HTML file) to Debian's Chromium and record every request.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlparse

import branca.colormap
import folium
import pytest
from folium.elements import JSCSSMixin
from folium.plugins import Draw, FastMarkerCluster, Fullscreen, HeatMap

from dashboard.geo import state_counties
from dashboard.views.offline_map import (
    CIRCLE_MARKER_CALLBACK,
    DEFAULT_MARKER_CALLBACK,
    LOCAL_ASSET_ROOT,
    STATIC_DIR,
    VENDOR_DIR,
    VENDORED_ASSETS,
    UnvendoredAssetError,
    base_map,
    iter_elements,
    localize_assets,
    standalone_html,
)
from tests.browser_support import needs_chromium

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium")


class _LinkCollector(HTMLParser):
    """src/href of the document's tags (not text inside inline scripts)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value or "" for name, value in attrs if name in {"src", "href"}]


def _links(html: str) -> list[str]:
    collector = _LinkCollector()
    collector.feed(html)
    return collector.links


def _ri_map() -> folium.Map:
    counties = state_counties("RI")
    west, south, east, north = counties.total_bounds
    return base_map(((south, west), (north, east)))


def _county_geojson(index: int) -> dict:
    counties = state_counties("RI")
    return counties.iloc[[index]][["county_fips", "county_name", "geometry"]].__geo_interface__


def _with_geojson(m: folium.Map) -> None:
    folium.GeoJson(
        _county_geojson(0), name="Bristol", tooltip=folium.GeoJsonTooltip(["county_name"])
    ).add_to(m)


def _with_cluster(m: folium.Map) -> None:
    FastMarkerCluster([[41.82, -71.41], [41.83, -71.40]], callback=CIRCLE_MARKER_CALLBACK).add_to(m)


def _with_heat(m: folium.Map) -> None:
    HeatMap([[41.82, -71.41, 3.0], [41.5, -71.3, 1.0]]).add_to(m)


def _with_layer_control(m: folium.Map) -> None:
    folium.GeoJson(_county_geojson(1), name="Kent").add_to(m)
    folium.LayerControl().add_to(m)


def _with_popup(m: folium.Map) -> None:
    folium.CircleMarker([41.7, -71.5], tooltip="tip", popup="<b>popup</b>").add_to(m)


def _with_draw(m: folium.Map) -> None:
    Draw(export=False, draw_options={"polyline": False, "marker": False}).add_to(m)


def _with_everything(m: folium.Map) -> None:
    for add in (_with_geojson, _with_cluster, _with_heat, _with_popup, _with_layer_control,
                _with_draw):
        add(m)


MAP_BUILDERS: dict[str, Callable[[folium.Map], None]] = {
    "geojson_tooltip": _with_geojson,
    "fast_marker_cluster": _with_cluster,
    "heat_map": _with_heat,
    "layer_control": _with_layer_control,
    "circle_marker_popup": _with_popup,
    "draw_toolbar": _with_draw,
    "everything": _with_everything,
}


def _localized(builder: Callable[[folium.Map], None]) -> folium.Map:
    m = _ri_map()
    builder(m)
    return localize_assets(m)


def _declared_urls(m: folium.Map) -> list[str]:
    return [
        url
        for element in iter_elements(m)
        for attribute in ("default_js", "default_css")
        for _, url in getattr(element, attribute, [])
    ]


def _static_file(url: str) -> Path:
    assert url.startswith(f"{LOCAL_ASSET_ROOT}/"), url
    return STATIC_DIR / url.removeprefix("/app/static/")


@pytest.mark.parametrize("builder", MAP_BUILDERS.values(), ids=MAP_BUILDERS.keys())
def test_localized_tree_declares_only_vendored_files(builder: Callable[[folium.Map], None]) -> None:
    urls = _declared_urls(_localized(builder))
    assert urls, "a map declares at least Leaflet"
    for url in urls:
        assert not re.match(r"https?://", url), url
        assert _static_file(url).is_file(), f"{url} has no file under {STATIC_DIR}"


@pytest.mark.parametrize("builder", MAP_BUILDERS.values(), ids=MAP_BUILDERS.keys())
def test_rendered_html_links_no_remote_url(builder: Callable[[folium.Map], None]) -> None:
    html = _localized(builder).get_root().render()
    assert not re.search(r"https?://", html), "no remote URL at all, not even in attribution"
    links = _links(html)
    assert f"{LOCAL_ASSET_ROOT}/leaflet@1.9.3/leaflet.js" in links
    assert all(_static_file(url).is_file() for url in links)


def test_plugins_get_their_own_vendored_files() -> None:
    html = _localized(_with_everything).get_root().render()
    for expected in (
        "leaflet@1.9.3/leaflet.css",
        "leaflet.markercluster@1.1.0/leaflet.markercluster.js",
        "leaflet.markercluster@1.1.0/MarkerCluster.Default.css",
        "leaflet.heat@0.2.0/leaflet-heat.js",
        "leaflet.draw@1.0.2/leaflet.draw.js",
        "leaflet.draw@1.0.2/leaflet.draw.css",
    ):
        assert f"{LOCAL_ASSET_ROOT}/{expected}" in html
    # Leaflet is told where its marker images are before the cluster draws any marker.
    image_path = f'L.Icon.Default.imagePath = "{LOCAL_ASSET_ROOT}/leaflet@1.9.3/images/"'
    assert -1 < html.find(image_path) < html.find("L.markerClusterGroup")


def test_jquery_only_when_a_popup_needs_it() -> None:
    jquery = f"{LOCAL_ASSET_ROOT}/jquery@3.7.1/jquery.min.js"
    without_popup = _localized(_with_geojson)
    assert jquery not in without_popup.get_root().render()
    # Adding a Popup after a first localize_assets call brings jQuery back.
    _with_popup(without_popup)
    assert jquery in localize_assets(without_popup).get_root().render()


def test_class_level_asset_lists_are_left_alone() -> None:
    before = (list(folium.Map.default_js), list(FastMarkerCluster.default_css))
    _localized(_with_everything)
    assert (folium.Map.default_js, FastMarkerCluster.default_css) == before
    assert re.search(r"https://", folium.Map().get_root().render()), "other maps are untouched"


def test_a_map_rendered_before_localizing_loses_its_cdn_links() -> None:
    m = _ri_map()
    _with_everything(m)
    assert "https://" in m.get_root().render()
    html = localize_assets(m).get_root().render()
    assert not re.search(r"https?://", html)


def test_st_folium_collects_only_local_links() -> None:
    # streamlit-folium gathers default_js/default_css from JSCSSMixin elements of the tree.
    m = _localized(_with_everything)
    m.get_root().render()
    for element in iter_elements(m):
        if isinstance(element, JSCSSMixin):
            for _, url in [*element.default_js, *element.default_css]:
                assert url.startswith(f"{LOCAL_ASSET_ROOT}/"), url


def test_vendored_files_exist_with_licences_and_readme() -> None:
    for relative in VENDORED_ASSETS.values():
        assert (VENDOR_DIR / relative).is_file(), relative
    readme = (VENDOR_DIR / "README.md").read_text(encoding="utf-8")
    for folder in sorted({relative.split("/")[0] for relative in VENDORED_ASSETS.values()}):
        assert any((VENDOR_DIR / folder).glob("*LICEN[CS]E*")), f"{folder} has no licence file"
        assert f"`{folder}/`" in readme, f"{folder} is not described in static/vendor/README.md"
    css = (VENDOR_DIR / "leaflet@1.9.3" / "leaflet.css").read_text(encoding="utf-8")
    for image in re.findall(r"url\((images/[^)]+)\)", css):
        assert (VENDOR_DIR / "leaflet@1.9.3" / image).is_file(), image
    assert (VENDOR_DIR / "leaflet@1.9.3" / "images" / "marker-icon.png").is_file()
    # The drawing toolbar's icons: its stylesheet's sprite sheets, next to it.
    draw_css = (VENDOR_DIR / "leaflet.draw@1.0.2" / "leaflet.draw.css").read_text(
        encoding="utf-8")
    sprites = re.findall(r"url\('(images/[^']+)'\)", draw_css)
    assert sorted(set(sprites)) == ["images/spritesheet-2x.png", "images/spritesheet.png",
                                    "images/spritesheet.svg"]
    assert all((VENDOR_DIR / "leaflet.draw@1.0.2" / sprite).is_file() for sprite in sprites)


class _CdnPlugin(JSCSSMixin):
    default_js: ClassVar[list[tuple[str, str]]] = [("thing", "https://cdn.example.org/thing@1.0/thing.js")]


@pytest.mark.parametrize(
    ("add", "message"),
    [
        (lambda m: _CdnPlugin().add_to(m), r"_CdnPlugin needs asset 'thing' from https://cdn"),
        (lambda m: Fullscreen().add_to(m), r"Fullscreen needs asset .* not vendored"),
        (lambda m: folium.Marker([41.7, -71.5], icon=folium.Icon()).add_to(m), r"awesome-markers"),
        (lambda m: FastMarkerCluster([[41.7, -71.5]]).add_to(m), r"CIRCLE_MARKER_CALLBACK"),
        (lambda m: branca.colormap.LinearColormap(["white", "red"]).add_to(m), r"d3"),
        (
            lambda m: m.get_root().header.add_child(
                folium.JavascriptLink("https://cdn.example.org/x.js")
            ),
            r"header links https://cdn.example.org/x.js",
        ),
    ],
    ids=["unknown_plugin", "fullscreen", "awesome_icon", "default_cluster_callback", "colormap",
         "header_link"],
)
def test_unvendored_assets_raise_a_clear_error(
    add: Callable[[folium.Map], object], message: str
) -> None:
    m = _ri_map()
    add(m)
    with pytest.raises(UnvendoredAssetError, match=message):
        localize_assets(m)


def test_base_map_requests_no_tiles_unless_configured() -> None:
    m = _ri_map()
    assert not [e for e in iter_elements(m) if isinstance(e, folium.TileLayer)]
    html = m.get_root().render()
    assert "fitBounds" in html
    assert '"maxZoom": 18' in html, "MarkerCluster needs a maxZoom, which no tile layer gives"
    tiles = "http://tiles.internal/{z}/{x}/{y}.png"
    with_tiles = base_map(((41.1, -71.9), (42.0, -71.1)), tiles, "State GIS office")
    layers = [e for e in iter_elements(with_tiles) if isinstance(e, folium.TileLayer)]
    assert [layer.tiles for layer in layers] == [tiles]
    with pytest.raises(ValueError, match="tiles_attribution"):
        base_map(((41.1, -71.9), (42.0, -71.1)), tiles)


def test_standalone_html_inlines_every_asset() -> None:
    m = _ri_map()
    _with_everything(m)
    html = standalone_html(m)
    assert LOCAL_ASSET_ROOT not in html
    assert _links(html) == [], "every script and stylesheet is inline"
    css_urls = re.findall(r"url\(([^)]*)\)", html)
    assert css_urls and all(url.startswith(("data:", "#default#VML")) for url in css_urls)
    assert "L.Icon.Default.mergeOptions" in html
    assert "url(data:image/png;base64," in html


# Browser tests (needs_chromium: skipped without Debian's Chromium, failed so under CI=true) ----

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]

MAP_SCRIPT = """
import folium
import streamlit as st
from folium.plugins import FastMarkerCluster, HeatMap
from streamlit_folium import st_folium

from dashboard.geo import state_counties
from dashboard.views.offline_map import DEFAULT_MARKER_CALLBACK, base_map, localize_assets

counties = state_counties("RI")
west, south, east, north = counties.total_bounds
m = base_map(((south, west), (north, east)))
for index in (0, 3):
    county = counties.iloc[[index]][["county_fips", "county_name", "geometry"]]
    folium.GeoJson(
        county.__geo_interface__,
        name=county["county_name"].iloc[0],
        tooltip=folium.GeoJsonTooltip(["county_name"]),
    ).add_to(m)
points = [[41.82 + i * 0.001, -71.41 + i * 0.001] for i in range(30)] + [[41.45, -71.75]]
FastMarkerCluster(points, callback=DEFAULT_MARKER_CALLBACK, name="incidents").add_to(m)
HeatMap([[lat, lon, 2.0] for lat, lon in points], name="heat").add_to(m)
folium.CircleMarker([41.6, -71.55], radius=8, popup="<b>popup</b>").add_to(m)
folium.LayerControl().add_to(m)
st.title("offline map")
st_folium(localize_assets(m), height=500, returned_objects=[])
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(port: int, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not listen on 127.0.0.1:{port} within {seconds} s")


@pytest.fixture
def served_map(tmp_path: Path) -> Iterator[str]:
    script = tmp_path / "offline_map_app.py"
    script.write_text(textwrap.dedent(MAP_SCRIPT), encoding="utf-8")
    # Streamlit serves static/ from the folder of the main script.
    (tmp_path / "static").symlink_to(STATIC_DIR, target_is_directory=True)
    port = _free_port()
    log = (tmp_path / "streamlit.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script),
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--server.enableStaticServing", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_serving(port, process, seconds=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _leaves_machine(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in {"data", "blob", "about", "file"}:
        return False
    return parsed.hostname != "127.0.0.1"


@pytest.mark.browser
@needs_chromium
def test_map_in_streamlit_draws_counties_without_leaving_the_machine(
    served_map: str, tmp_path: Path
) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    requests: list[tuple[str, str]] = []  # (url, url of the frame that asked)
    sockets: list[str] = []
    failures: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append((r.url, r.frame.url)))
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.on("requestfailed", lambda r: failures.append(f"{r.url} {r.failure}"))
            page.on("response", lambda r: r.ok or failures.append(f"{r.url} {r.status}"))
            # A script error in any frame (the map's included) stops streamlit-folium before
            # it sizes its frame, leaving a blank 0-pixel map.
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(served_map, wait_until="domcontentloaded")
            frame = page.locator("iframe[title*='streamlit_folium']")
            component = page.frame_locator("iframe[title*='streamlit_folium']")
            try:
                component.locator(".leaflet-container").wait_for(state="attached", timeout=60_000)
            except PlaywrightTimeout:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=ARTIFACTS / "offline_map.png", full_page=True)
                log = (tmp_path / "streamlit.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"no Leaflet map in 60 s; page errors {errors}; streamlit log:\n{log}")
            polygons = component.locator("path.leaflet-interactive")
            deadline = time.monotonic() + 30
            while not errors and time.monotonic() < deadline and (
                polygons.count() < 2 or (frame.bounding_box() or {"height": 0})["height"] < 500
            ):
                page.wait_for_timeout(250)
            if not errors:
                component.locator("canvas.leaflet-heatmap-layer").wait_for(state="attached")
                component.locator("img.leaflet-marker-icon").first.wait_for()
                component.locator(".marker-cluster").first.wait_for()
                page.wait_for_timeout(1_000)  # let late requests (icons, css images) arrive
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / "offline_map.png", full_page=True)
            polygon_count = polygons.count()
            frame_height = (frame.bounding_box() or {"height": 0})["height"]
        finally:
            chromium.close()

    assert not errors, errors
    assert frame_height >= 500, "streamlit-folium sized its frame, so the map is visible"
    assert polygon_count >= 2, "the two county polygons (and the circle marker) are drawn"
    remote = [url for url, _ in requests if _leaves_machine(url)] + [
        url for url in sockets if _leaves_machine(url)
    ]
    assert not remote, f"requests left 127.0.0.1: {remote}"
    assert not failures, f"failed requests: {failures}"
    # page.on("request") sees the component iframe's requests too: the vendored files are
    # requested by the streamlit_folium frame, not the top page.
    from_component = {url for url, frame in requests if "streamlit_folium" in frame}
    for relative in (
        "leaflet@1.9.3/leaflet.js",
        "leaflet.markercluster@1.1.0/leaflet.markercluster.js",
        "leaflet.heat@0.2.0/leaflet-heat.js",
        "jquery@3.7.1/jquery.min.js",
        "leaflet@1.9.3/images/marker-icon.png",
    ):
        assert f"{served_map}{LOCAL_ASSET_ROOT}/{relative}" in from_component, relative


@pytest.mark.browser
@needs_chromium
def test_standalone_html_renders_from_a_file_with_no_request(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    m = _ri_map()
    FastMarkerCluster([[41.45, -71.75]], callback=DEFAULT_MARKER_CALLBACK).add_to(m)
    _with_everything(m)  # LayerControl last: it refers to the layers added before it
    page_file = tmp_path / "snapshot.html"
    page_file.write_text(standalone_html(m), encoding="utf-8")
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            ARTIFACTS.mkdir(exist_ok=True)
            page = chromium.new_page(viewport={"width": 900, "height": 700})
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(page_file.as_uri())
            page.locator(".leaflet-container").wait_for()
            if not errors:
                page.locator("img.leaflet-marker-icon").first.wait_for()
            page.screenshot(path=ARTIFACTS / "offline_map_standalone.png")
            polygon_count = page.locator("path.leaflet-interactive").count()
            icon_src = page.locator("img.leaflet-marker-icon").first.get_attribute("src") or ""
        finally:
            chromium.close()

    assert not errors, errors
    assert polygon_count >= 2
    assert icon_src.startswith("data:image/png;base64,"), icon_src[:80]
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
