"""Folium maps that make no request off the machine.

folium elements declare their JavaScript and CSS as CDN URLs (``default_js`` / ``default_css``);
streamlit-folium collects them and the browser fetches them, so on a closed network a map renders
blank. ``localize_assets`` swaps every declared URL for the copy vendored under ``static/vendor/``
(served by Streamlit at ``/app/static/vendor`` when ``server.enableStaticServing = true``) and
refuses anything without a local copy, so a new plugin cannot quietly add a CDN request.
``base_map`` requests no tiles unless a tile server is configured.

Never add a ``branca.colormap.ColorMap`` to a map: streamlit-folium then loads d3 from a CDN.
Draw legends as plain HTML in a ``folium.Element`` / ``MacroElement`` instead.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import branca.colormap
import folium
from branca.element import CssLink, Figure, JavascriptLink, MacroElement
from folium.plugins import DualMap, FastMarkerCluster
from folium.template import Template

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
# Streamlit serves <folder of app.py>/static/ at /app/static/.
LOCAL_ASSET_ROOT = "/app/static/vendor"

# CDN URL declared by folium 0.20 -> vendored copy under static/vendor/ (see its README.md).
# Keyed by the full URL so that a folium upgrade to other asset versions fails here, loudly,
# instead of pairing new folium templates with old JavaScript.
VENDORED_ASSETS: dict[str, str] = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet@1.9.3/leaflet.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "leaflet@1.9.3/leaflet.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery@3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js":
        "leaflet.markercluster@1.1.0/leaflet.markercluster.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css":
        "leaflet.markercluster@1.1.0/MarkerCluster.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.Default.css":
        "leaflet.markercluster@1.1.0/MarkerCluster.Default.css",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium@main/folium/templates/leaflet_heat.min.js":
        "leaflet.heat@0.2.0/leaflet-heat.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.draw/1.0.2/leaflet.draw.js":
        "leaflet.draw@1.0.2/leaflet.draw.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.draw/1.0.2/leaflet.draw.css":
        "leaflet.draw@1.0.2/leaflet.draw.css",
}
JQUERY_URL = "https://code.jquery.com/jquery-3.7.1.min.js"
# Every folium.Map declares these for awesome-markers icons (folium.Icon); our maps draw
# CircleMarkers and Leaflet's own default marker, so they are dropped, not vendored.
UNUSED_MAP_ASSETS: frozenset[str] = frozenset({
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css",
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css",
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css",
})

# FastMarkerCluster callbacks that need only Leaflet: folium's default callback draws
# awesome-markers icons, which are not vendored.
CIRCLE_MARKER_CALLBACK = """function (row) {
    return L.circleMarker(new L.LatLng(row[0], row[1]),
        {radius: 6, weight: 1, color: "#1f4e79", fillColor: "#1f4e79", fillOpacity: 0.7});
}"""
DEFAULT_MARKER_CALLBACK = "function (row) { return L.marker(new L.LatLng(row[0], row[1])); }"

Bounds = Sequence[Sequence[float]]  # ((south_lat, west_lon), (north_lat, east_lon)) in degrees


class UnvendoredAssetError(ValueError):
    """A map element needs a file (or a feature) that is not vendored under static/vendor/."""


def local_asset_url(relative_path: str) -> str:
    """URL at which Streamlit serves a file under static/vendor/."""
    return f"{LOCAL_ASSET_ROOT}/{relative_path}"


_LEAFLET_IMAGES = "leaflet@1.9.3/images"
_LOCAL_URLS = frozenset(local_asset_url(path) for path in VENDORED_ASSETS.values())


def iter_elements(element: Any) -> Iterator[Any]:
    """Every element of a map tree, the way streamlit-folium walks it to collect assets."""
    yield element
    if isinstance(element, DualMap):
        yield from iter_elements(element.m1)
        yield from iter_elements(element.m2)
    for child in getattr(element, "_children", {}).values():
        yield from iter_elements(child)


def _needs_jquery(element: Any) -> bool:
    # folium templates that call `$`: Popup parses its HTML with it, keep_in_front waits for
    # document ready, a non-embedded GeoJson loads its data with $.ajax.
    return (
        isinstance(element, folium.Popup)
        or (isinstance(element, folium.Map) and bool(element.objects_to_stay_in_front))
        or (isinstance(element, folium.GeoJson) and not element.embed)
    )


def _refuse_unvendored_features(element: Any) -> None:
    if isinstance(element, branca.colormap.ColorMap):
        raise UnvendoredAssetError(
            f"{type(element).__name__}: streamlit-folium loads d3 from a CDN for any branca "
            "colormap on a map; draw the legend as HTML in a folium.Element or MacroElement"
        )
    if isinstance(element, folium.Icon):
        raise UnvendoredAssetError(
            "folium.Icon needs Leaflet.awesome-markers, bootstrap and font-awesome, which are "
            "not vendored; use a CircleMarker or folium.Marker without an icon"
        )
    if isinstance(element, FastMarkerCluster) and "L.AwesomeMarkers" in element.callback:
        raise UnvendoredAssetError(
            "FastMarkerCluster's default callback draws awesome-markers icons, which are not "
            "vendored; pass callback=CIRCLE_MARKER_CALLBACK or DEFAULT_MARKER_CALLBACK"
        )
    if isinstance(element, folium.GeoJson) and re.match(r"https?://", element.embed_link or ""):
        raise UnvendoredAssetError(
            f"GeoJson loads its data from {element.embed_link}; embed the data instead"
        )


def _localize_url(element: Any, name: str, url: str, needs_jquery: bool) -> str | None:
    """The local URL for one declared asset, or None to drop it."""
    if url in _LOCAL_URLS:
        return url  # already localized
    if isinstance(element, folium.Map) and (
        url in UNUSED_MAP_ASSETS or (url == JQUERY_URL and not needs_jquery)
    ):
        return None
    if url in VENDORED_ASSETS:
        return local_asset_url(VENDORED_ASSETS[url])
    raise UnvendoredAssetError(
        f"{type(element).__name__} needs asset {name!r} from {url}, which is not vendored; "
        f"copy it under {VENDOR_DIR}, list it in static/vendor/README.md and add it to "
        "VENDORED_ASSETS in dashboard/views/offline_map.py"
    )


class _LeafletImagePath(MacroElement):
    """Tells Leaflet where its default marker images are.

    Leaflet 1.9.3 looks for them through leaflet.css, but streamlit-folium runs the map script
    before that stylesheet has loaded, and Leaflet's fallback then drops the "/images/" part
    (404 on ".../leaflet@1.9.3marker-icon.png"). Setting the path before any layer is drawn
    avoids both the race and the bug.
    """

    _template = Template(
        """{% macro script(this, kwargs) %}
            L.Icon.Default.imagePath = {{ this.image_path|tojson }};
        {% endmacro %}"""
    )

    def __init__(self, image_path: str) -> None:
        super().__init__()
        self._name = "LeafletImagePath"
        self.image_path = image_path


_IMAGE_PATH_CHILD = "leaflet_image_path"


def localize_assets(folium_map: folium.Map) -> folium.Map:
    """Point every JS/CSS asset of the map tree at the vendored copies; return the same map.

    Call it after the last layer is added and before ``st_folium`` or rendering; calling it
    again is harmless. It also tells Leaflet where its default marker images are. Raises
    UnvendoredAssetError, naming the element and URL, for anything that would fetch an asset
    from off the machine. Tile layers are not checked: ``base_map`` adds none unless asked.
    """
    return _localize(folium_map, leaflet_image_path=local_asset_url(f"{_LEAFLET_IMAGES}/"))


def _localize(folium_map: folium.Map, leaflet_image_path: str) -> folium.Map:
    elements = list(iter_elements(folium_map))
    needs_jquery = any(_needs_jquery(element) for element in elements)
    for element in elements:
        _refuse_unvendored_features(element)
        for attribute in ("default_js", "default_css"):
            # Work from what the element declared before any earlier call, so that calling
            # again after adding a Popup brings back the jQuery an earlier call dropped.
            declared = vars(element).setdefault(
                f"_declared_{attribute}", list(getattr(element, attribute, None) or [])
            )
            if not declared:
                continue
            localized = [
                (name, local)
                for name, url in declared
                if (local := _localize_url(element, name, url, needs_jquery)) is not None
            ]
            # An instance attribute: the class-level lists are shared by every map.
            setattr(element, attribute, localized)
    _drop_cdn_links_from_header(folium_map)
    # First child, so that it runs before any layer creates a marker.
    folium_map.add_child(
        _LeafletImagePath(leaflet_image_path), name=_IMAGE_PATH_CHILD, index=0
    )
    return folium_map


def _drop_cdn_links_from_header(folium_map: folium.Map) -> None:
    # A map rendered before localizing already holds CDN <script>/<link> tags in its figure
    # header; rendering again re-adds the localized ones, but a dropped asset would linger.
    root = folium_map.get_root()
    assert isinstance(root, Figure), "a folium.Map always sits in a Figure"
    header = root.header
    for name, child in list(header._children.items()):
        if not isinstance(child, JavascriptLink | CssLink):
            continue
        if not re.match(r"https?://", child.url):
            continue
        if child.url not in VENDORED_ASSETS and child.url not in UNUSED_MAP_ASSETS:
            raise UnvendoredAssetError(f"the map's page header links {child.url}")
        del header._children[name]


def base_map(
    bounds: Bounds,
    tiles_url: str | None = None,
    tiles_attribution: str | None = None,
    max_zoom: int = 18,
) -> folium.Map:
    """An empty map fitted to ``bounds``; no tile layer (so no tile requests) unless
    ``tiles_url`` (an XYZ template on a tile server inside the network) is given."""
    (south, west), (north, east) = bounds
    if tiles_url is not None and not tiles_attribution:
        raise ValueError("a tile layer needs tiles_attribution (the tile source's credit line)")
    folium_map = folium.Map(
        location=((south + north) / 2, (west + east) / 2),
        tiles=tiles_url,
        attr=tiles_attribution,
        max_zoom=max_zoom,
        control_scale=True,
    )
    # Leaflet takes maxZoom from the tile layers; with none, MarkerCluster throws "Map has no
    # maxZoom specified", the map script stops and streamlit-folium shows a 0-pixel frame.
    folium_map.options["max_zoom"] = max_zoom
    folium_map.fit_bounds([[south, west], [north, east]])
    return folium_map


_SCRIPT_TAG = re.compile(rf'<script src="{re.escape(LOCAL_ASSET_ROOT)}/([^"]+)"></script>')
_CSS_TAG = re.compile(rf'<link rel="stylesheet" href="{re.escape(LOCAL_ASSET_ROOT)}/([^"]+)"/>')
# Images a vendored stylesheet refers to, quoted (leaflet.draw) or not (leaflet).
_CSS_URL = re.compile(r"""url\((['"]?)(images/[^)'"]+\.(png|svg))\1\)""")
_IMAGE_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
_LEAFLET_JS = "leaflet@1.9.3/leaflet.js"


def _png_data_uri(path: Path) -> str:
    return _data_uri(path, "image/png")


def _data_uri(path: Path, media_type: str) -> str:
    return f"data:{media_type};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _inline_script(relative_path: str) -> str:
    script = (VENDOR_DIR / relative_path).read_text(encoding="utf-8")
    if relative_path == _LEAFLET_JS:
        # Inlined, the default marker images have no URL: give Leaflet data URIs (and an
        # empty image path to prefix them with, see standalone_html).
        images = VENDOR_DIR / _LEAFLET_IMAGES
        icon_options = {
            "iconUrl": _png_data_uri(images / "marker-icon.png"),
            "iconRetinaUrl": _png_data_uri(images / "marker-icon-2x.png"),
            "shadowUrl": _png_data_uri(images / "marker-shadow.png"),
        }
        script += f"\nL.Icon.Default.mergeOptions({json.dumps(icon_options)});"
    return f"<script>{script}</script>"


def _inline_stylesheet(relative_path: str) -> str:
    path = VENDOR_DIR / relative_path
    css = _CSS_URL.sub(
        lambda match: f"url({_data_uri(path.parent / match[2], _IMAGE_TYPES[match[3]])})",
        path.read_text(encoding="utf-8"),
    )
    return f"<style>{css}</style>"


def standalone_html(folium_map: folium.Map) -> str:
    """The map as one self-contained HTML document (vendored assets inlined), for snapshots
    opened from a file or an e-mail with no server and no network. Localizes the map in place;
    call ``localize_assets`` again before showing the same map with ``st_folium``."""
    # No image path: the inlined Leaflet gets its default icons as data URIs instead.
    html = _localize(folium_map, leaflet_image_path="").get_root().render()
    html = _SCRIPT_TAG.sub(lambda match: _inline_script(match[1]), html)
    html = _CSS_TAG.sub(lambda match: _inline_stylesheet(match[1]), html)
    if LOCAL_ASSET_ROOT in html:
        raise UnvendoredAssetError("a reference to a local asset could not be inlined")
    return html

