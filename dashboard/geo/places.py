"""Shipped gazetteer of populated places (cities and towns) for labelling the state map offline.

``places.parquet`` holds the GeoNames populated places of every state and territory in the
county boundaries (see README.md, "Shipped populated places"; rebuilt by ``build_places.py``).
Nothing is downloaded at run time.

Zoom rule (``min_zoom``): a state's places are ranked by population (``state_rank``, 1 = largest).
The ``LABELS_AT_STATE_VIEW`` largest show from the zoom at which the map shows the whole state
(``state_view_zoom``), and every zoom level in after that shows ``LABEL_GROWTH_PER_ZOOM`` times as
many: ranks 1-10 from the state view, 11-40 one level in, 41-160 two levels in, 161-640 three,
and so on. A zoom level in shows a quarter of the area, so four times as many labels in all keeps
about the same number per screen. ``min_zoom`` never decreases as the rank grows.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import polars as pl

from dashboard.geo import state_counties, state_postals

PLACES_PATH = Path(__file__).with_name("places.parquet")

# GeoNames data is CC BY 4.0: any map that draws these labels must show this credit.
PLACES_ATTRIBUTION = "Place names: GeoNames (geonames.org), CC BY 4.0"
PLACES_ATTRIBUTION_HTML = (
    'Place names: <a href="https://www.geonames.org/">GeoNames</a>, '
    '<a href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>'
)

LABELS_AT_STATE_VIEW = 10
LABEL_GROWTH_PER_ZOOM = 4
MAX_ZOOM = 18
# The map size the state view is fitted to (as dashboard.views.maps.zoom_for_bounds).
VIEW_WIDTH_PX = 700
VIEW_HEIGHT_PX = 560


@cache
def _all_places() -> pl.DataFrame:
    return pl.read_parquet(PLACES_PATH)


def state_view_zoom(state_postal: str, width_px: int = VIEW_WIDTH_PX,
                    height_px: int = VIEW_HEIGHT_PX) -> int:
    """The largest web-map zoom at which the state's counties fit a map of about that size."""
    west, south, east, north = state_counties(state_postal).total_bounds

    def mercator_y(latitude: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(latitude) / 2))

    lon_zoom = math.log2(width_px * 360 / (256 * max(east - west, 1e-6)))
    lat_span = max(mercator_y(north) - mercator_y(south), 1e-6)
    lat_zoom = math.log2(height_px * 2 * math.pi / (256 * lat_span))
    return max(1, min(MAX_ZOOM, math.floor(min(lon_zoom, lat_zoom))))


def zoom_tier(state_rank: pl.Expr) -> pl.Expr:
    """Zoom levels past the state view from which a place of this rank is labelled."""
    tier = pl.lit(0, dtype=pl.Int64)
    for level in range(MAX_ZOOM):
        # Ranks past LABELS_AT_STATE_VIEW * GROWTH**level wait one more level.
        threshold = LABELS_AT_STATE_VIEW * LABEL_GROWTH_PER_ZOOM**level
        tier = tier + (state_rank > threshold).cast(pl.Int64)
    return tier


def places_for_state(state_postal: str, view_zoom: int | None = None) -> pl.DataFrame:
    """The populated places of one state (postal code, e.g. ``CA``), largest first.

    Columns: ``name``, ``latitude``, ``longitude`` (WGS84), ``population`` (Int64, null where
    GeoNames has none), ``state_rank`` (1 = largest), ``min_zoom`` (the Leaflet zoom from which
    to show the label), ``geonameid``. ``view_zoom`` is the zoom the map opens the state at;
    by default ``state_view_zoom(state_postal)``.
    """
    postals = state_postals(state_postal)  # a network's states too (``ID+OR+WA``)
    base = state_view_zoom(state_postal) if view_zoom is None else view_zoom
    return (
        _all_places()
        .filter(pl.col("state_postal").is_in(postals))
        .sort("state_rank")
        .select(
            "name",
            "latitude",
            "longitude",
            "population",
            pl.col("state_rank").cast(pl.Int64),
            (base + zoom_tier(pl.col("state_rank"))).clip(upper_bound=MAX_ZOOM)
            .cast(pl.Int64).alias("min_zoom"),
            "geonameid",
        )
    )
