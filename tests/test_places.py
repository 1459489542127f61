"""The shipped gazetteer of populated places (GeoNames cities500) and its label zoom rule."""

from __future__ import annotations

import socket
from typing import Any, NoReturn

import polars as pl
import pyarrow.parquet as pq
import pytest

from dashboard.geo import known_state_postals, state_counties
from dashboard.geo.places import (
    PLACES_ATTRIBUTION,
    PLACES_ATTRIBUTION_HTML,
    PLACES_PATH,
    _all_places,
    places_for_state,
    state_view_zoom,
)
from dashboard.views.maps import zoom_for_bounds

FIFTY_STATES_AND_DC = set(known_state_postals()) - {"PR", "GU", "VI", "AS", "MP"}


def place(state_postal: str, name: str) -> dict[str, Any]:
    rows = places_for_state(state_postal).filter(pl.col("name") == name).to_dicts()
    assert len(rows) == 1, (state_postal, name, rows)
    return rows[0]


def test_shipped_file_is_small_zstd_and_carries_only_the_needed_columns() -> None:
    assert PLACES_PATH.stat().st_size < 3_000_000
    metadata = pq.ParquetFile(PLACES_PATH).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert _all_places().columns == ["state_postal", "geonameid", "name", "latitude",
                                     "longitude", "population", "state_rank"]
    assert _all_places().height > 20_000
    assert _all_places()["geonameid"].is_unique().all()


def test_california_has_its_cities_and_the_largest_show_from_the_state_view() -> None:
    california = places_for_state("CA")
    assert california.schema == pl.Schema({
        "name": pl.String, "latitude": pl.Float64, "longitude": pl.Float64,
        "population": pl.Int64, "state_rank": pl.Int64, "min_zoom": pl.Int64,
        "geonameid": pl.Int64,
    })
    assert california.height > 1_000
    los_angeles = place("CA", "Los Angeles")
    assert los_angeles["population"] > 3_500_000
    assert los_angeles["latitude"] == pytest.approx(34.05, abs=0.02)
    assert los_angeles["longitude"] == pytest.approx(-118.24, abs=0.02)
    assert los_angeles["state_rank"] == 1
    lowest = california["min_zoom"].min()
    assert lowest == state_view_zoom("CA") == 6
    for name in ("Los Angeles", "San Francisco", "Sacramento", "San Diego", "San Jose"):
        assert place("CA", name)["min_zoom"] == lowest, name
    san_francisco = place("CA", "San Francisco")
    assert 700_000 < san_francisco["population"] < 1_000_000
    assert san_francisco["latitude"] == pytest.approx(37.77, abs=0.02)
    assert place("CA", "Sacramento")["latitude"] == pytest.approx(38.58, abs=0.02)
    # Small towns are there too, from later zooms.
    assert 1_000 < place("CA", "Weed")["population"] < 5_000
    assert place("CA", "Weed")["min_zoom"] > lowest


def test_rhode_island_has_providence_first() -> None:
    providence = place("RI", "Providence")
    assert providence["state_rank"] == 1
    assert providence["population"] > 150_000
    assert providence["latitude"] == pytest.approx(41.82, abs=0.02)
    assert providence["longitude"] == pytest.approx(-71.41, abs=0.02)
    assert providence["min_zoom"] == state_view_zoom("RI")
    # Lower case is accepted, as by state_counties.
    assert places_for_state("ri").height == places_for_state("RI").height


def test_neighbourhoods_and_wrong_admin_codes_stay_out() -> None:
    california = set(places_for_state("CA")["name"])
    assert not {"Koreatown", "Hollywood", "Boyle Heights"} & california  # GeoNames PPLX
    assert "Hollywood" in set(places_for_state("FL")["name"])
    assert "Providence" not in set(places_for_state("CA")["name"])
    # A population GeoNames copied from a larger area is dropped, the place kept.
    assert place("KY", "Ironville")["population"] is None


def test_every_state_and_territory_has_places() -> None:
    for postal in known_state_postals():
        places = places_for_state(postal)
        assert places.height > 0, postal
        if postal in FIFTY_STATES_AND_DC:
            assert places.height >= 5, postal
            assert places["population"].max() > 5_000, postal  # type: ignore[operator]
    assert places_for_state("TX").height > 1_000


def test_every_place_lies_within_its_state_bounding_box() -> None:
    for postal in known_state_postals():
        west, south, east, north = state_counties(postal).total_bounds
        places = places_for_state(postal)
        margin = 0.1  # degrees: the build keeps places up to 10 km off the 1:10M outline
        outside = places.filter(
            (pl.col("longitude") < west - margin) | (pl.col("longitude") > east + margin)
            | (pl.col("latitude") < south - margin) | (pl.col("latitude") > north + margin)
        )
        assert outside.is_empty(), (postal, outside.rows())


def test_min_zoom_follows_the_population_rank() -> None:
    for postal in known_state_postals():
        places = places_for_state(postal)
        assert places["state_rank"].to_list() == list(range(1, places.height + 1)), postal
        assert places["min_zoom"].is_sorted(), postal
        populations = places["population"].drop_nulls()
        assert populations.is_sorted(descending=True), postal
        assert places["population"].tail(places["population"].null_count()).null_count() == \
            places["population"].null_count(), postal  # unknown populations rank last
        base = state_view_zoom(postal)
        # 10 labels at the state view, then 4x as many in all per zoom level in.
        counts = places.group_by("min_zoom").len().sort("min_zoom")
        cumulative = 0
        for zoom, count in counts.iter_rows():
            cumulative += count
            assert zoom >= base
            assert cumulative <= 10 * 4 ** (zoom - base) or zoom == 18, (postal, zoom)


def test_the_state_view_zoom_is_the_maps_zoom() -> None:
    for postal in known_state_postals():
        west, south, east, north = state_counties(postal).total_bounds
        assert state_view_zoom(postal) == zoom_for_bounds(((south, west), (north, east)))


def test_the_map_may_open_at_another_zoom() -> None:
    shifted = places_for_state("CA", view_zoom=8)
    assert shifted["min_zoom"].min() == 8
    assert (shifted["min_zoom"] - places_for_state("CA")["min_zoom"]).unique().to_list() == [2]


def test_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown state postal code 'ZZ'"):
        places_for_state("ZZ")


def test_attribution_credits_geonames_under_cc_by() -> None:
    for text in (PLACES_ATTRIBUTION, PLACES_ATTRIBUTION_HTML):
        assert "GeoNames" in text and "CC BY 4.0" in text


def test_loading_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise AssertionError("the gazetteer must not use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    _all_places.cache_clear()
    try:
        assert places_for_state("RI").height > 40
    finally:
        _all_places.cache_clear()
