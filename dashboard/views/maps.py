"""Folium maps of the state: county choropleth, hot spots, regions, AORs, points, heat.

Every map is drawn from the shipped county boundaries (no tiles unless configured), with every
asset served locally (``offline_map``). Feed text only reaches a map escaped, and the number of
markers is capped: above the cap the map shows a random sample and says so.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import polars as pl
from branca.element import MacroElement, Template
from folium.plugins import Draw, FastMarkerCluster, HeatMap

from dashboard.geo import state_counties
from dashboard.geo.places import PLACES_ATTRIBUTION
from dashboard.views.offline_map import CIRCLE_MARKER_CALLBACK, base_map, localize_assets

MAX_POINT_MARKERS = 5_000
MAX_HEAT_POINTS = 20_000
# Sequential purples for counts and rates (ColorBrewer Purples, 6 classes); grey for zero. Not
# reds: hot and cold spots are drawn in ArcGIS's red and blue, as symbols over the fill, and a
# reader must never take a hot spot for a high count or the reverse.
CHOROPLETH_COLOURS = ("#f2f0f7", "#dadaeb", "#bcbddc", "#9e9ac8", "#756bb1", "#54278f")
ZERO_COLOUR = "#fbfbfb"
# ArcGIS Hot Spot Analysis colours by confidence bin, and a symbol size growing with confidence.
HOTSPOT_COLOURS = {99: "#b2182b", 95: "#ef8a62", 90: "#fddbc7",
                   -90: "#d1e5f0", -95: "#67a9cf", -99: "#2166ac"}
HOTSPOT_RADIUS = {99: 11, 95: 9, 90: 7}
HOTSPOT_LABELS = {99: "Hot spot, 99 %", 95: "Hot spot, 95 %", 90: "Hot spot, 90 %",
                  -90: "Cold spot, 90 %", -95: "Cold spot, 95 %", -99: "Cold spot, 99 %"}
# Emerging hot spots (issue 17): a lettered square beside the Gi* circle, so the two read apart;
# red hot and blue cold like the circles, and the letter says the pattern (legend: the class).
EMERGING_COLOURS = {"hot": "#b2182b", "cold": "#2166ac"}
EMERGING_LETTERS = {"new": "N", "consecutive": "C", "intensifying": "I", "persistent": "P",
                    "diminishing": "D", "sporadic": "S", "oscillating": "O", "historical": "H"}
EMERGING_SIZE_PX = 18
AOR_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")
# Marker clusters (size class, halo, disc): navy like the points they stand for.
CLUSTER_COLOURS = (("small", "rgba(31,78,121,.25)", "rgba(31,78,121,.75)"),
                   ("medium", "rgba(31,78,121,.35)", "rgba(31,78,121,.85)"),
                   ("large", "rgba(31,78,121,.45)", "rgba(31,78,121,.95)"))
# The in-map layer switcher stays open up to this many layers; beyond (every center's AOR) it
# folds into Leaflet's layers button instead of covering a corner of the state.
MAX_OPEN_LAYER_CONTROL = 4
POINT_CALLBACK = CIRCLE_MARKER_CALLBACK.replace(
    "return L.circleMarker(",
    "var marker = L.circleMarker(",
).replace(
    "fillOpacity: 0.7});",
    "fillOpacity: 0.7});\n    if (row[2]) { marker.bindPopup(row[2]); }\n    return marker;",
)


@cache
def simplified_counties(state_postal: str) -> gpd.GeoDataFrame:
    """County shapes light enough for the browser (about 100 m tolerance, topology kept)."""
    counties = state_counties(state_postal)[["county_fips", "county_name", "geometry"]].copy()
    counties["geometry"] = counties.geometry.simplify(0.001, preserve_topology=True)
    return counties


def zoom_for_bounds(bounds: tuple[tuple[float, float], tuple[float, float]],
                    width_px: int = 700, height_px: int = 560) -> int:
    """The largest web-map zoom at which the bounds fit a map of about that size."""
    (south, west), (north, east) = bounds

    def mercator_y(latitude: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(latitude) / 2))

    lon_zoom = math.log2(width_px * 360 / (256 * max(east - west, 1e-6)))
    lat_span = max(mercator_y(north) - mercator_y(south), 1e-6)
    lat_zoom = math.log2(height_px * 2 * math.pi / (256 * lat_span))
    return max(1, min(18, math.floor(min(lon_zoom, lat_zoom))))


def class_breaks(values: np.ndarray, classes: int = len(CHOROPLETH_COLOURS)) -> list[float]:
    """Upper bounds of quantile classes over the non-zero values (at least one class)."""
    positive = np.sort(values[values > 0])
    if positive.size == 0:
        return [0.0]
    quantiles = np.quantile(positive, np.linspace(0, 1, classes + 1)[1:])
    return sorted(set(float(q) for q in quantiles))


def class_colour(index: int, breaks: list[float]) -> str:
    """The fill of class ``index`` of ``breaks``: the top of the ramp when there are fewer
    classes than colours, so the highest class is always the darkest (one county shaded alone
    was drawn in the palest purple, as if it had the fewest incidents)."""
    offset = max(len(CHOROPLETH_COLOURS) - len(breaks), 0)
    return CHOROPLETH_COLOURS[min(index + offset, len(CHOROPLETH_COLOURS) - 1)]


def colour_for(value: float, breaks: list[float]) -> str:
    if value <= 0:
        return ZERO_COLOUR
    for index, upper in enumerate(breaks):
        if value <= upper:
            return class_colour(index, breaks)
    return CHOROPLETH_COLOURS[-1]


@dataclass
class MapLayers:
    """What an analyst switched on, and the data for it."""

    regions: gpd.GeoDataFrame | None = None  # region_id, region_name, geometry
    aors: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)  # center name -> outline
    hotspots: pl.DataFrame | None = None  # county_fips, gi_bin, hotspot_class, z_score
    points: pl.DataFrame | None = None  # latitude, longitude, popup (plain text)
    points_total: int = 0
    heat: pl.DataFrame | None = None  # latitude, longitude
    heat_total: int = 0
    places: pl.DataFrame | None = None  # name, latitude, longitude, min_zoom (labels)
    # county_fips, county_name, class_name, pattern, kind, why (EmergingView.in_view)
    emerging: pl.DataFrame | None = None


class _Legend(MacroElement):
    """A Leaflet control with our own (trusted) legend HTML; no branca colormap (see
    offline_map: a colormap makes streamlit-folium fetch d3 from a CDN). Compact, so that on
    the Overview's small map it sits beside the state instead of over it (issue 14)."""

    _template = Template("""{% macro script(this, kwargs) %}
        var legend = L.control({position: "bottomright"});
        legend.onAdd = function () {
            var div = L.DomUtil.create("div", "tp-legend");
            div.style.cssText = "background:rgba(255,255,255,.92);padding:4px 6px;" +
                "font:11px sans-serif;border-radius:4px;box-shadow:0 0 4px rgba(0,0,0,.3);" +
                "line-height:15px";
            div.innerHTML = {{ this.legend_html|tojson }};
            return div;
        };
        legend.addTo({{ this._parent.get_name() }});
    {% endmacro %}""")

    def __init__(self, legend_html: str) -> None:
        super().__init__()
        self._name = "Legend"
        self.legend_html = legend_html


class _Attribution(MacroElement):
    """Credit lines in Leaflet's attribution control (bottom right, small print), where a map
    reader expects them, rather than in the legend. Trusted text only."""

    _template = Template("""{% macro script(this, kwargs) %}
        (function (control) {
            {% for line in this.lines %}
            control.addAttribution({{ line|tojson }});
            {% endfor %}
            // Small print: on the Overview's small map a full-size line ran over the scale.
            control.getContainer().style.fontSize = "10px";
        })({{ this._parent.get_name() }}.attributionControl);
    {% endmacro %}""")

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self._name = "Attribution"
        self.lines = [html.escape(line) for line in lines]


class _NeutralClusters(MacroElement):
    """Point clusters in the points' own navy, not markercluster's green, yellow and orange:
    an orange cluster of 1,427 points beside an orange 95 % hot-spot symbol reads as one."""

    _template = Template("""{% macro script(this, kwargs) %}
        (function () {
            var style = document.createElement("style");
            style.textContent = {{ this.css|tojson }};
            document.head.appendChild(style);
        })();
    {% endmacro %}""")

    def __init__(self) -> None:
        super().__init__()
        self._name = "NeutralClusters"
        self.css = "".join(
            f".marker-cluster-{size} {{background-color:{outer}}}"
            f".marker-cluster-{size} div {{background-color:{inner};color:#fff}}"
            for size, outer, inner in CLUSTER_COLOURS)


class _FocusWithoutScrolling(MacroElement):
    """Leaflet focuses the map on the first mousedown (for its arrow keys) with a plain
    ``focus()``, which also scrolls the page around the map's iframe until all of the map
    shows: the map moves under the pointer between mousedown and mouseup, and the click lands
    on nothing (issue 14). Focus it without scrolling instead. The handler's listeners are
    bound to the method, so it is swapped while the handler is off."""

    _template = Template("""{% macro script(this, kwargs) %}
        (function (keyboard) {
            if (!keyboard || !keyboard.enabled()) { return; }
            keyboard.disable();
            keyboard._onMouseDown = function () {
                if (!this._focused) { this._map.getContainer().focus({preventScroll: true}); }
            };
            keyboard.enable();
        })({{ this._parent.get_name() }}.keyboard);
    {% endmacro %}""")

    def __init__(self) -> None:
        super().__init__()
        self._name = "FocusWithoutScrolling"


class _FitWhenShown(MacroElement):
    """Fits the map to ``bounds`` once its frame has a size. A map in a tab not yet shown (the
    Alerts page's Rules) is laid out at zero size, and Leaflet then fits the state at the
    lowest zoom: the whole world, with the state a dot in it."""

    _template = Template("""{% macro script(this, kwargs) %}
        (function (map, bounds) {
            var fitted = map.getSize().x > 0;
            new ResizeObserver(function () {
                map.invalidateSize();
                if (!fitted && map.getSize().x > 0) { map.fitBounds(bounds); fitted = true; }
            }).observe(map.getContainer());
        })({{ this._parent.get_name() }}, {{ this.bounds|tojson }});
    {% endmacro %}""")

    def __init__(self, bounds: list[list[float]]) -> None:
        super().__init__()
        self._name = "FitWhenShown"
        self.bounds = bounds


def _symbol(colour: str, radius: int, label: str) -> str:
    size = 2 * radius
    return (f'<div><span style="display:inline-block;width:{size}px;height:{size}px;'
            f'border-radius:50%;background:{colour};border:2px solid #222;'
            f'margin:1px {24 - size}px 1px {max(0, 12 - radius)}px;vertical-align:middle">'
            f"</span>{html.escape(label)}</div>")


def _emerging_square(kind: str, pattern: str) -> str:
    """The emerging symbol's HTML (trusted: a colour and a letter of our own)."""
    return (f'<span style="display:inline-block;box-sizing:border-box;width:{EMERGING_SIZE_PX}px;'
            f'height:{EMERGING_SIZE_PX}px;background:{EMERGING_COLOURS[kind]};'
            'border:2px solid #222;color:#fff;font:bold 11px/14px sans-serif;text-align:center;'
            f'vertical-align:middle">{EMERGING_LETTERS[pattern]}</span>')


def emerging_legend_rows(emerging: pl.DataFrame) -> list[str]:
    """One row per class present (no pattern excluded), in the frame's order (strongest
    first)."""
    present = emerging.filter(pl.col("pattern").is_in(list(EMERGING_LETTERS))) \
        .select("kind", "pattern", "class_name").unique(maintain_order=True)
    return [f'<div><span style="margin:1px 6px 1px 3px">{_emerging_square(kind, pattern)}'
            f"</span>{html.escape(name)}</div>" for kind, pattern, name in present.iter_rows()]


def hotspot_legend_rows(bins: list[int]) -> list[str]:
    """One symbol per confidence bin present, hot first."""
    return ["<b>Getis-Ord Gi* (symbols)</b>"] + [
        _symbol(HOTSPOT_COLOURS[gi_bin], HOTSPOT_RADIUS[abs(gi_bin)] // 2 + 2,
                HOTSPOT_LABELS[gi_bin])
        for gi_bin in sorted(set(bins), reverse=True) if gi_bin]


def _swatch(colour: str, label: str) -> str:
    return (f'<div><span style="display:inline-block;width:12px;height:10px;'
            f'background:{colour};border:1px solid #999;margin-right:5px"></span>'
            f"{html.escape(label)}</div>")


def _line_swatch(colour: str, label: str) -> str:
    """A dashed outline's key (a center's AOR)."""
    return (f'<div style="max-width:200px;padding-left:19px;text-indent:-19px">'
            f'<span style="display:inline-block;width:14px;height:0;border-top:3px dashed '
            f'{colour};margin-right:5px;vertical-align:middle"></span>{html.escape(label)}'
            f"</div>")


def class_labels(breaks: list[float], lowest: float, integers: bool) -> list[tuple[str, str]]:
    """(colour, label) of each non-empty class of the fill above zero. The first class starts
    at ``lowest`` (the smallest non-zero value), not at 0, which has its own swatch; counts
    (``integers``) read '1 – 17', '18 – 39': a class holds the values above the last upper
    bound up to its own, so no count is in two classes."""
    labels: list[tuple[str, str]] = []
    lower = lowest
    for index, upper in enumerate(breaks):
        if upper <= 0:
            continue
        colour = class_colour(index, breaks)
        if integers:
            first, last = math.ceil(lower), math.floor(upper)
            if first <= last:
                labels.append((colour, f"{first:,}" if first == last else f"{first:,} – {last:,}"))
            lower = math.floor(upper) + 1
        else:
            labels.append((colour, f"{lower:,.1f} – {upper:,.1f}"))
            lower = upper
    return labels


def legend_html(title: str, breaks: list[float], number_format: str, notes: list[str],
                extra_rows: list[str] | None = None, lowest: float | None = None) -> str:
    """The legend: the fill's classes, then trusted extra rows (symbols, outlines, withheld
    counties), then notes. ``number_format`` '{:,.0f}' marks counts (whole numbers)."""
    integers = number_format == "{:,.0f}"
    start = lowest if lowest is not None else (1.0 if integers else 0.0)
    rows = [f"<b>{html.escape(title)}</b>", _swatch(ZERO_COLOUR, "0")]
    rows += [_swatch(colour, label) for colour, label in class_labels(breaks, start, integers)]
    rows += extra_rows or []
    rows += [f'<div style="max-width:190px;color:#444">{html.escape(note)}</div>'
             for note in notes]
    return "".join(rows)


SUPPRESSED_FILL = "#d9d9d9"
WITHHELD_LABEL = "Withheld (small counts)"


def _suppressed_county(row: Any, info: Any, selected: bool) -> dict[str, Any]:
    hidden = "withheld (small counts)"
    return {"type": "Feature", "geometry": row.geometry.__geo_interface__, "properties": {
        "county_fips": row.county_fips, "county": html.escape(row.county_name),
        "region": html.escape(str(info["region_name"])), "incidents": hidden,
        "per_100k": hidden, "per_1000_km2": hidden, "change": hidden, "fill": SUPPRESSED_FILL,
        "selected": selected}}


def _rate_text(info: Any, column: str) -> str:
    """A county's rate as its tooltip shows it: '12.3'; '0' for a county with no row; '—'
    where there is no rate (no population estimate, or no column)."""
    if info is None:
        return "0"
    value = info.get(column)
    return "—" if value is None or pd.isna(value) else f"{value:,.1f}"


def county_map(
    state_postal: str,
    county_table: pl.DataFrame,
    measure: str = "incidents",
    measure_label: str = "Incidents",
    layers: MapLayers | None = None,
    selected: tuple[str, ...] = (),
    tiles_url: str | None = None,
    tiles_attribution: str | None = None,
) -> folium.Map:
    """A county choropleth of ``measure`` with optional layers, ready for ``st_folium``.

    ``county_table`` needs county_fips, county_name, region_name, incidents, per_1000_km2 and
    change (per_100k, when present, is the tooltip's rate per residents). Clicking a county
    returns its feature (``county_fips`` in its properties).
    """
    layers = layers or MapLayers()
    shapes = simplified_counties(state_postal)
    # Opened on the selected counties when there are some (a Los Angeles view opens on Los
    # Angeles, with its towns labelled), else on the whole state.
    focus = shapes[shapes["county_fips"].isin(list(selected))] if selected else shapes
    if focus.empty:
        focus = shapes
    south_west_north_east = focus.total_bounds  # minx, miny, maxx, maxy
    bounds = ((south_west_north_east[1], south_west_north_east[0]),
              (south_west_north_east[3], south_west_north_east[2]))
    folium_map = base_map(bounds, tiles_url=tiles_url, tiles_attribution=tiles_attribution)
    # streamlit-folium opens the map at its center and zoom, not at fit_bounds: pick the zoom
    # that shows the whole focus.
    folium_map.options["zoom"] = zoom_for_bounds(bounds)

    values = county_table.select("county_fips", measure).to_dict(as_series=False)
    by_county = dict(zip(values["county_fips"], values[measure], strict=True))
    shaded = np.array([v or 0 for v in by_county.values()], dtype=float)
    breaks = class_breaks(shaded)
    lowest = float(shaded[shaded > 0].min()) if (shaded > 0).any() else None
    table = county_table.to_pandas().set_index("county_fips")
    features = []
    for row in shapes.itertuples():
        fips = row.county_fips
        info = table.loc[fips] if fips in table.index else None
        if info is not None and pd.isna(info["incidents"]):
            # Suppressed for this viewer (small-cell rule): no figure, a neutral fill.
            features.append(_suppressed_county(row, info, fips in selected))
            continue
        value = float(by_county.get(fips) or 0)
        features.append({
            "type": "Feature",
            "geometry": row.geometry.__geo_interface__,
            "properties": {
                "county_fips": fips,
                # Names come from the shipped boundaries and config; escaped all the same,
                # since Leaflet tooltips render HTML.
                "county": html.escape(row.county_name),
                "region": html.escape(str(info["region_name"])) if info is not None else "",
                "incidents": f"{int(info['incidents']):,}" if info is not None else "0",
                "per_100k": _rate_text(info, "per_100k"),
                "per_1000_km2": _rate_text(info, "per_1000_km2"),
                "change": f"{int(info['change']):+,}" if info is not None else "0",
                "fill": colour_for(value, breaks),
                "selected": fips in selected,
            },
        })
    choropleth = folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=f"{html.escape(measure_label)} by county",
        style_function=lambda feature: {
            "fillColor": feature["properties"]["fill"],
            "color": "#111" if feature["properties"]["selected"] else "#777",
            "weight": 3 if feature["properties"]["selected"] else 0.6,
            "fillOpacity": 0.8,
        },
        highlight_function=lambda _feature: {"weight": 2.5, "color": "#1f4e79"},
        tooltip=folium.GeoJsonTooltip(
            fields=["county", "region", "incidents", "per_100k", "per_1000_km2", "change"],
            aliases=["County", "Region", "Incidents", "Per 100,000 residents",
                     "Per 1,000 km²", "Change vs before"],
        ),
        zoom_on_click=False,
    )
    choropleth.add_to(folium_map)

    if layers.regions is not None:
        # Region names come from config: escaped, since Leaflet tooltips render HTML.
        regions = layers.regions.copy()
        regions["region_name"] = [html.escape(str(name)) for name in regions["region_name"]]
        folium.GeoJson(
            json.loads(regions.to_json()), name="Region boundaries",
            style_function=lambda _f: {"color": "#1f2d3d", "weight": 2.5, "fillOpacity": 0},
            tooltip=folium.GeoJsonTooltip(fields=["region_name"], aliases=["Region"]),
            interactive=False,
        ).add_to(folium_map)
    outline_rows: list[str] = []
    for index, (center_name, outline) in enumerate(layers.aors.items()):
        colour = AOR_COLOURS[index % len(AOR_COLOURS)]
        outline_rows.append(_line_swatch(colour, f"AOR: {center_name}"))
        folium.GeoJson(
            json.loads(outline.to_json()), name=f"AOR: {html.escape(center_name)}",
            style_function=lambda _f, colour=colour: {"color": colour, "weight": 3,
                                                      "dashArray": "6 4", "fillOpacity": 0.05},
            interactive=False,
        ).add_to(folium_map)
    notes: list[str] = []
    symbol_rows: list[str] = []
    if any(feature["properties"]["fill"] == SUPPRESSED_FILL for feature in features):
        symbol_rows.append(_swatch(SUPPRESSED_FILL, WITHHELD_LABEL))
    if layers.hotspots is not None:
        _add_hotspots(folium_map, shapes, layers.hotspots)
        significant = int((layers.hotspots["gi_bin"] != 0).sum())
        symbol_rows += hotspot_legend_rows(layers.hotspots["gi_bin"].to_list())
        notes.append(f"{significant} significant {'county' if significant == 1 else 'counties'}"
                     " shown." if significant else "No county shown is significant.")
    if layers.emerging is not None:
        shown = _add_emerging(folium_map, shapes, layers.emerging)
        symbol_rows += emerging_legend_rows(layers.emerging)
        notes.append(f"Emerging: {shown} {'county' if shown == 1 else 'counties'} with a "
                     "pattern." if shown else "Emerging: no county shows a pattern.")
    symbol_rows += outline_rows
    if layers.points is not None and layers.points.height:
        rows = [[lat, lon, html.escape(text or "")] for lat, lon, text in
                layers.points.select("latitude", "longitude", "popup").iter_rows()]
        FastMarkerCluster(rows, callback=POINT_CALLBACK, name="Incident points").add_to(
            folium_map)
        folium_map.add_child(_NeutralClusters())
        if layers.points_total > layers.points.height:
            notes.append(f"Points: a random sample of {layers.points.height:,} of "
                         f"{layers.points_total:,} incidents.")
    if layers.heat is not None and layers.heat.height:
        HeatMap(layers.heat.select("latitude", "longitude").rows(), name="Heat map",
                radius=12, blur=15, min_opacity=0.3).add_to(folium_map)
        if layers.heat_total > layers.heat.height:
            notes.append(f"Heat: a random sample of {layers.heat.height:,} of "
                         f"{layers.heat_total:,} incidents.")
    if layers.places is not None and layers.places.height:
        folium_map.add_child(_PlaceLabels(layers.places))
        folium_map.add_child(_Attribution([PLACES_ATTRIBUTION]))
    number_format = "{:,.0f}" if measure == "incidents" else "{:,.1f}"
    folium_map.add_child(_Legend(legend_html(measure_label, breaks, number_format, notes,
                                             symbol_rows, lowest)))
    overlays = 1 + (layers.regions is not None) + len(layers.aors) + (
        layers.hotspots is not None) + (layers.points is not None) + (
        layers.heat is not None) + (layers.emerging is not None)
    folium.LayerControl(collapsed=overlays > MAX_OPEN_LAYER_CONTROL).add_to(folium_map)
    folium_map.add_child(_FocusWithoutScrolling())
    return localize_assets(folium_map)


def _add_hotspots(folium_map: folium.Map, shapes: gpd.GeoDataFrame,
                  hotspots: pl.DataFrame) -> None:
    """Significant counties as circles inside them (red hot, blue cold, bigger with more
    confidence) over the fill; a click on one selects its county like a click on the fill."""
    significant = hotspots.filter(pl.col("gi_bin") != 0)
    bins = dict(zip(significant["county_fips"], significant["gi_bin"], strict=True))
    classes = dict(zip(significant["county_fips"], significant["hotspot_class"], strict=True))
    z_scores = dict(zip(significant["county_fips"], significant["z_score"], strict=True))
    chosen = shapes[shapes["county_fips"].isin(list(bins))]
    if chosen.empty:
        return  # nothing significant: no layer (a tooltip over no features is refused)
    features = []
    for row in chosen.itertuples():
        point = row.geometry.representative_point()  # inside the county, even a concave one
        gi_bin = bins[row.county_fips]
        features.append({
            "type": "Feature", "geometry": point.__geo_interface__,
            "properties": {"county_fips": row.county_fips,
                           "county": html.escape(row.county_name),
                           "class": classes[row.county_fips],
                           "z": f"{z_scores[row.county_fips]:+.2f}",
                           "fill": HOTSPOT_COLOURS[gi_bin],
                           "radius": HOTSPOT_RADIUS[abs(gi_bin)]}})
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features}, name="Hot and cold spots (Gi*)",
        marker=folium.CircleMarker(radius=8, weight=2, color="#222", fill=True,
                                   fill_opacity=0.95),
        style_function=lambda feature: {"fillColor": feature["properties"]["fill"],
                                        "color": "#222", "weight": 2, "fillOpacity": 0.95,
                                        "radius": feature["properties"]["radius"]},
        tooltip=folium.GeoJsonTooltip(fields=["county", "class", "z"],
                                      aliases=["County", "Gi*", "z-score"]),
        zoom_on_click=False,
    ).add_to(folium_map)


def _add_emerging(folium_map: folium.Map, shapes: gpd.GeoDataFrame,
                  emerging: pl.DataFrame) -> int:
    """Counties with an emerging pattern as lettered squares just above and right of the point
    the Gi* circle sits on (both show); a click on one selects its county. How many shown."""
    patterned = emerging.filter(pl.col("pattern").is_in(list(EMERGING_LETTERS)))
    rows = {row["county_fips"]: row for row in patterned.iter_rows(named=True)}
    chosen = shapes[shapes["county_fips"].isin(list(rows))]
    if chosen.empty:
        return 0  # no pattern anywhere: no layer (a tooltip over no features is refused)
    features = []
    for shape in chosen.itertuples():
        row = rows[shape.county_fips]
        features.append({
            "type": "Feature",
            "geometry": shape.geometry.representative_point().__geo_interface__,
            # Tooltips render HTML: the county name and the sentence are escaped.
            "properties": {"county_fips": shape.county_fips,
                           "county": html.escape(str(row["county_name"] or shape.county_name)),
                           "class": html.escape(row["class_name"]),
                           "why": html.escape(row["why"]),
                           "symbol": _emerging_square(row["kind"], row["pattern"])}})
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features}, name="Emerging hot spots",
        marker=folium.Marker(icon=folium.DivIcon(
            icon_size=(EMERGING_SIZE_PX, EMERGING_SIZE_PX), icon_anchor=(-4, EMERGING_SIZE_PX + 4),
            class_name="tp-emerging")),
        # Per feature, the DivIcon's html (folium merges the style into the icon's options).
        style_function=lambda feature: {"html": feature["properties"]["symbol"]},
        tooltip=folium.GeoJsonTooltip(fields=["county", "class", "why"],
                                      aliases=["County", "Emerging", "Why"],
                                      style="max-width:320px;white-space:normal"),
        zoom_on_click=False,
    ).add_to(folium_map)
    return len(features)


class _PlaceLabels(MacroElement):
    """City and town names as text labels, each from its zoom on (bigger places first), so a
    reader can tell where a cluster is with no tiles. Names are set as text, never HTML."""

    _template = Template("""{% macro script(this, kwargs) %}
        (function (map) {
            // [lat, lon, name, min_zoom], largest place first: at every zoom and pan the
            // labels due at this zoom are placed in that order, skipping any that would
            // overlap one already placed, so a dense area shows its biggest towns legibly.
            var places = {{ this.places|tojson }};
            var layer = L.layerGroup().addTo(map);
            var MAX_LABELS = 120;
            function label(place) {
                var span = document.createElement("span");
                span.className = "tp-place";
                span.textContent = place[2];
                span.style.cssText = "font:12px sans-serif;color:#1a1a1a;white-space:nowrap;" +
                    "text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff;pointer-events:none";
                return L.marker([place[0], place[1]], {interactive: false, keyboard: false,
                    icon: L.divIcon({className: "", html: span, iconSize: null,
                                     iconAnchor: [-3, 8]})});
            }
            function overlaps(box, placed) {
                return placed.some(function (other) {
                    return box[0] < other[2] && other[0] < box[2] &&
                           box[1] < other[3] && other[1] < box[3];
                });
            }
            function update() {
                layer.clearLayers();
                var zoom = map.getZoom(), view = map.getBounds().pad(0.1), placed = [];
                for (var i = 0; i < places.length && placed.length < MAX_LABELS; i++) {
                    var place = places[i];
                    if (zoom < place[3] || !view.contains([place[0], place[1]])) { continue; }
                    var at = map.latLngToContainerPoint([place[0], place[1]]);
                    var box = [at.x - 4, at.y - 9, at.x + 8 + 6.5 * place[2].length, at.y + 9];
                    if (overlaps(box, placed)) { continue; }
                    placed.push(box);
                    layer.addLayer(label(place));
                }
            }
            map.on("zoomend moveend", update);
            map.whenReady(update);
        })({{ this._parent.get_name() }});
    {% endmacro %}""")

    def __init__(self, places: pl.DataFrame) -> None:
        super().__init__()
        self._name = "PlaceLabels"
        ordered = places.sort("min_zoom", pl.col("population").fill_null(0),
                              descending=[False, True])
        self.places = [[round(lat, 4), round(lon, 4), name, int(zoom)] for lat, lon, name, zoom
                       in ordered.select("latitude", "longitude", "name", "min_zoom").iter_rows()]


# Drawn geofences and the rules' saved ones: orange, apart from the purples and the hot/cold
# symbols of the other maps.
GEOFENCE_COLOUR = "#e66101"
# Only areas can be geofences: the toolbar offers polygons and rectangles, nothing else.
GEOFENCE_DRAW_OPTIONS: dict[str, Any] = {
    "polyline": False, "circle": False, "marker": False, "circlemarker": False,
    "polygon": {"allowIntersection": False, "showArea": True,
                "shapeOptions": {"color": GEOFENCE_COLOUR, "weight": 3}},
    "rectangle": {"shapeOptions": {"color": GEOFENCE_COLOUR, "weight": 3}},
}


def geofence_map(state_postal: str, regions: gpd.GeoDataFrame, places: pl.DataFrame | None,
                 saved: dict[str, dict[str, Any]]) -> folium.Map:
    """The state's counties and regions with a drawing toolbar (polygon, rectangle, edit,
    delete) for an alert rule's geofence; ``saved`` (a rule's name -> its GeoJSON geometry)
    is drawn dashed, for reference. What is drawn comes back through ``st_folium``'s
    ``all_drawings``."""
    shapes = simplified_counties(state_postal)
    minx, miny, maxx, maxy = shapes.total_bounds
    bounds = ((miny, minx), (maxy, maxx))
    folium_map = base_map(bounds)
    # Wider than the Map page's map (the Alerts page has no sidebar column beside it).
    folium_map.options["zoom"] = zoom_for_bounds(bounds, width_px=900, height_px=560)
    folium_map.options["zoom_snap"] = 0.5  # the state fills the map better than whole zooms
    folium_map.add_child(_FitWhenShown([[miny, minx], [maxy, maxx]]))
    counties = shapes.copy()
    counties["county_name"] = [html.escape(str(name)) for name in counties["county_name"]]
    folium.GeoJson(
        json.loads(counties.to_json()), name="Counties",
        style_function=lambda _f: {"color": "#777", "weight": 0.6, "fillColor": "#f4f4f4",
                                   "fillOpacity": 0.6},
        tooltip=folium.GeoJsonTooltip(fields=["county_name"], aliases=["County"]),
    ).add_to(folium_map)
    named = regions.copy()
    named["region_name"] = [html.escape(str(name)) for name in named["region_name"]]
    folium.GeoJson(
        json.loads(named.to_json()), name="Region boundaries",
        style_function=lambda _f: {"color": "#1f2d3d", "weight": 2.5, "fillOpacity": 0},
        interactive=False,
    ).add_to(folium_map)
    for name, geometry in saved.items():
        # Rule names are the user's text: escaped, since Leaflet tooltips render HTML.
        folium.GeoJson(
            {"type": "Feature", "geometry": geometry, "properties": {"rule": html.escape(name)}},
            name=f"Rule: {html.escape(name)}",
            style_function=lambda _f: {"color": GEOFENCE_COLOUR, "weight": 2,
                                       "dashArray": "6 4", "fillOpacity": 0.08},
            tooltip=folium.GeoJsonTooltip(fields=["rule"], aliases=["Your rule"]),
        ).add_to(folium_map)
    if places is not None and places.height:
        folium_map.add_child(_PlaceLabels(places))
        folium_map.add_child(_Attribution([PLACES_ATTRIBUTION]))
    rows = [_swatch("#f4f4f4", "County"), _line_swatch("#1f2d3d", "Region boundary")]
    if saved:
        rows.append(_line_swatch(GEOFENCE_COLOUR, "Geofence of one of your rules"))
    note = "Draw with the polygon or rectangle tool, top left; edit or delete below them."
    folium_map.add_child(_Legend("<b>Geofence</b>" + "".join(rows) + '<div style="max-width:'
                                 f'190px;color:#444">{html.escape(note)}</div>'))
    Draw(export=False, position="topleft", draw_options=GEOFENCE_DRAW_OPTIONS,
         edit_options={"poly": {"allowIntersection": False}}).add_to(folium_map)
    folium_map.add_child(_FocusWithoutScrolling())
    return localize_assets(folium_map)


def region_outlines(state_postal: str, county_to_region: dict[str, str],
                    region_names: dict[str, str]) -> gpd.GeoDataFrame:
    # Dissolved at full resolution, then simplified: counties simplified one by one leave
    # slivers between them, which a dissolve draws as stray lines inside a region.
    shapes = state_counties(state_postal)[["county_fips", "geometry"]].copy()
    shapes["region_id"] = shapes["county_fips"].map(county_to_region)
    dissolved = shapes.dissolve(by="region_id", as_index=False)[["region_id", "geometry"]]
    dissolved["geometry"] = dissolved.geometry.simplify(0.001, preserve_topology=True)
    dissolved["region_name"] = dissolved["region_id"].map(region_names)
    return dissolved


def aor_outline(state_postal: str, counties: list[str]) -> gpd.GeoDataFrame:
    shapes = state_counties(state_postal)
    outline = shapes[shapes["county_fips"].isin(counties)].dissolve()[["geometry"]]
    outline["geometry"] = outline.geometry.simplify(0.001, preserve_topology=True)
    return outline
