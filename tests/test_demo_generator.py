"""The synthetic demo: its config loads, its feeds read, and what it says it planted is there.

One small demo is generated per module; feeds are read back through the real connectors and
mapped with the written config, independently of the generator's internals.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from dashboard.demo import generate
from dashboard.geo import county_of_points, state_counties
from dashboard.ingest.dedup import candidate_pairs
from dashboard.settings import Center, ProjectConfig, Source, load_config
from data_sources import ROW_COLUMN, connector_for

TODAY = date(2026, 3, 10)  # spans both 2024/2025 daylight-saving changes
SEED = 11
INCIDENTS = 5000


@dataclass(frozen=True)
class Demo:
    root: Path
    truth: dict[str, Any]
    config: ProjectConfig
    steps: list[tuple[str, float]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("demo")
    steps: list[tuple[str, float]] = []
    truth = generate(root, incidents=INCIDENTS, seed=SEED, today=TODAY,
                     progress=lambda step, fraction: steps.append((step, fraction)))
    return Demo(root, truth, load_config(root / "config"), steps)


# --- reading feeds back -----------------------------------------------------------------


def read_raw(config: ProjectConfig, source: Source) -> pl.DataFrame:
    connector = connector_for(source.kind)
    options = connector.Options.model_validate(source.options)
    return connector.read(config.resolve_location(source), options).collect()


def bad_rows_of(demo: Demo, center: Center, source: Source) -> list[dict[str, Any]]:
    return [row for row in demo.truth["bad_rows"]
            if row["center_id"] == center.id and row["source"] == source.name]


def renamed(raw: pl.DataFrame, source: Source) -> pl.DataFrame:
    """Source columns under their canonical names, value maps applied to text fields."""
    frame = raw.rename({c: f for c, f in source.columns.items() if c in raw.columns})
    for field_name, mapping in source.values.items():
        if field_name in frame.columns and frame.schema[field_name] == pl.String:
            frame = frame.with_columns(pl.col(field_name).replace(mapping))
    return frame


def to_utc(frame: pl.DataFrame, field_name: str, source: Source, center: Center) -> pl.Expr:
    column = pl.col(field_name)
    if isinstance(frame.schema[field_name], pl.Datetime):
        return column.dt.convert_time_zone("UTC")
    text_format = source.datetime_formats.get(field_name)
    if text_format is None:
        return column.str.to_datetime("%Y-%m-%dT%H:%M:%S%#z", strict=False, time_unit="us")
    local = column.str.to_datetime(text_format, strict=False, time_unit="us")
    return local.dt.replace_time_zone(source.naive_timezone or center.timezone,
                                      ambiguous="earliest").dt.convert_time_zone("UTC")


def as_list(frame: pl.DataFrame, field_name: str, source: Source) -> pl.Expr:
    if field_name not in frame.columns:
        return pl.lit([], pl.List(pl.String))
    if isinstance(frame.schema[field_name], pl.List):
        return pl.col(field_name).cast(pl.List(pl.String))
    return pl.col(field_name).fill_null("").str.split(source.list_delimiter).list.eval(
        pl.element().filter(pl.element().str.len_chars() > 0))


def sources(config: ProjectConfig, table: str) -> list[tuple[Center, Source]]:
    return [(c, s) for c in config.centers for s in c.sources if s.table == table]


def valid_incidents(demo: Demo) -> pl.DataFrame:
    """Every valid incident of every feed, in canonical form (county from coordinates when
    the feed gives none)."""
    counties = state_counties("CA")
    frames = []
    for center, source in sources(demo.config, "incidents"):
        bad = {row["row"] for row in bad_rows_of(demo, center, source)}
        raw = renamed(read_raw(demo.config, source), source).filter(
            ~pl.col(ROW_COLUMN).is_in(sorted(bad)))
        county = pl.col("county_fips") if "county_fips" in raw.columns else pl.lit(None)
        frame = raw.select(
            pl.lit(center.id).alias("center_id"),
            pl.col("incident_id").cast(pl.String),
            to_utc(raw, "occurred_at", source, center).alias("occurred_at"),
            pl.col("category").cast(pl.String),
            county.cast(pl.String).alias("county_fips"),
            pl.col("latitude").cast(pl.Float64, strict=False),
            pl.col("longitude").cast(pl.Float64, strict=False),
            pl.col("narrative").cast(pl.String),
        )
        missing = frame["county_fips"].is_null() & frame["latitude"].is_not_null()
        if missing.any():
            located = frame.filter(missing)
            joined = county_of_points(counties, located["longitude"].to_numpy(),
                                      located["latitude"].to_numpy())
            filled = np.asarray(frame["county_fips"].to_list(), dtype=object)
            filled[missing.to_numpy()] = joined
            frame = frame.with_columns(pl.Series("county_fips", filled.tolist(), pl.String))
        frames.append(frame)
    return pl.concat(frames)


def valid_products(demo: Demo) -> pl.DataFrame:
    frames = []
    for center, source in sources(demo.config, "products"):
        bad = {row["row"] for row in bad_rows_of(demo, center, source)}
        raw = renamed(read_raw(demo.config, source), source).filter(
            ~pl.col(ROW_COLUMN).is_in(sorted(bad)))
        frames.append(raw.select(
            pl.lit(center.id).alias("center_id"),
            pl.col("product_id").cast(pl.String),
            pl.col("title").cast(pl.String),
            pl.col("summary").cast(pl.String),
            to_utc(raw, "published_at", source, center).alias("published_at"),
            as_list(raw, "topics", source).alias("topics"),
            as_list(raw, "county_fips", source).alias("county_fips"),
            as_list(raw, "region", source).alias("region"),
            pl.col("statewide").cast(pl.String).str.to_lowercase()
            .is_in(["true", "y", "1"]).alias("statewide"),
            as_list(raw, "incident_ids", source).alias("incident_ids"),
        ))
    return pl.concat(frames)


def covered_counties(product: dict[str, Any], config: ProjectConfig) -> set[str]:
    if product["statewide"]:
        return set(config.county_to_region)
    region_counties = {f for r in config.regions if r.id in product["region"] for f in r.counties}
    return set(product["county_fips"]) | region_counties


# --- config -----------------------------------------------------------------------------


def test_config_loads_and_describes_a_synthetic_california(demo: Demo) -> None:
    config = demo.config
    assert config.settings.state == "CA"
    assert config.settings.synthetic is True
    assert 5 <= len(config.regions) <= 6
    assert len(config.county_to_region) == 58
    assert (demo.root / "config" / "taxonomy.toml").read_bytes() == (
        Path(__file__).parents[1] / "dashboard" / "demo" / "taxonomy.toml").read_bytes()


def test_centers_have_one_statewide_center_and_overlapping_aors(demo: Demo) -> None:
    centers = demo.config.centers
    assert len(centers) >= 4
    statewide = [c for c in centers if c.statewide]
    assert [c.kind for c in statewide] == ["state"]
    others = [c for c in centers if not c.statewide]
    assert {c.kind for c in others} <= {"regional", "urban_area"}
    assert "urban_area" in {c.kind for c in others}
    aors = [set(demo.config.aor_counties(c)) for c in others]
    overlaps = [a & b for i, a in enumerate(aors) for b in aors[i + 1:]]
    assert any(overlaps)
    assert all(c.timezone == "America/Los_Angeles" for c in centers)
    assert not any("synthetic" in c.name.lower() for c in centers)


def test_five_incident_formats_and_mixed_product_formats(demo: Demo) -> None:
    incident_kinds = [s.kind for _, s in sources(demo.config, "incidents")]
    assert sorted(incident_kinds) == ["csv", "excel", "ndjson", "parquet", "sql"]
    assert len({s.kind for _, s in sources(demo.config, "products")}) >= 4
    column_sets = [frozenset(s.columns) for _, s in sources(demo.config, "incidents")]
    assert len(set(column_sets)) == len(column_sets)  # every center names columns its own way


def test_spreadsheet_goes_to_the_smallest_center(demo: Demo) -> None:
    counts = demo.truth["counts"]["incidents"]
    excel_center = next(c.id for c, s in sources(demo.config, "incidents") if s.kind == "excel")
    assert counts[excel_center] == min(counts.values())


# --- feeds ------------------------------------------------------------------------------


def test_every_feed_reads_and_holds_its_valid_and_bad_rows(demo: Demo) -> None:
    counts = demo.truth["counts"]
    for table in ("incidents", "products"):
        for center, source in sources(demo.config, table):
            raw = read_raw(demo.config, source)
            bad = bad_rows_of(demo, center, source)
            assert raw.height == counts[table][center.id] + len(bad), (center.id, table)
            assert raw[ROW_COLUMN].min() == (2 if source.kind in ("csv", "excel") else 1)
    assert counts["incidents_total"] == INCIDENTS
    assert counts["incidents_total"] == sum(counts["incidents"].values())
    assert 200 <= counts["products_total"] <= 1000
    assert counts["bad_rows_total"] == len(demo.truth["bad_rows"])
    assert 40 <= len(demo.truth["bad_rows"]) <= 60
    assert {"products"} <= {row["source"] for row in demo.truth["bad_rows"]}


def test_valid_rows_use_only_mapped_values_and_taxonomy_keys(demo: Demo) -> None:
    incidents = valid_incidents(demo)
    categories = set(demo.config.taxonomy.categories)
    assert set(incidents["category"].unique()) == categories
    assert incidents["incident_id"].null_count() == 0
    assert incidents.select("center_id", "incident_id").n_unique() == incidents.height
    assert set(incidents["county_fips"].drop_nulls()) <= set(demo.config.county_to_region)
    assert incidents["county_fips"].null_count() == 0
    share_sar = (incidents["category"] == "sar_analysis").mean()
    assert 0.05 < share_sar < 0.25  # type: ignore[operator]
    products = valid_products(demo)
    assert set(products["topics"].explode().unique()) <= categories


def test_products_cite_earlier_incidents_of_their_own_center(demo: Demo) -> None:
    incidents = valid_incidents(demo).select("center_id", "incident_id", "occurred_at")
    cited = valid_products(demo).select(
        "center_id", "product_id", "published_at", pl.col("incident_ids").alias("incident_id")
    ).explode("incident_id").drop_nulls("incident_id")
    assert cited.height > 50
    joined = cited.join(incidents, on=["center_id", "incident_id"], how="left")
    assert joined["occurred_at"].null_count() == 0
    assert (joined["occurred_at"] <= joined["published_at"]).all()


def test_coordinates_lie_in_the_county_the_feed_gives(demo: Demo) -> None:
    incidents = valid_incidents(demo).filter(pl.col("latitude").is_not_null())
    joined = county_of_points(state_counties("CA"), incidents["longitude"].to_numpy(),
                              incidents["latitude"].to_numpy())
    assert joined.tolist() == incidents["county_fips"].to_list()


def test_some_rows_give_a_county_without_coordinates(demo: Demo) -> None:
    incidents = valid_incidents(demo)
    county_only = incidents.filter(pl.col("latitude").is_null())
    assert county_only.height > 0
    assert county_only["county_fips"].null_count() == 0


def test_bad_rows_are_bad_at_their_row_numbers(demo: Demo) -> None:
    state_fips = set(demo.config.county_to_region)
    counties = state_counties("CA")
    kinds_seen = set()
    for center, source in sources(demo.config, "incidents") + sources(demo.config, "products"):
        raw = renamed(read_raw(demo.config, source), source)
        for bad in bad_rows_of(demo, center, source):
            row = raw.filter(pl.col(ROW_COLUMN) == bad["row"])
            assert row.height == 1, bad
            record = row.row(0, named=True)
            kinds_seen.add(bad["kind"])
            match bad["kind"]:
                case "impossible_date":
                    parsed = row.select(to_utc(row, bad["field"], source, center)).item()
                    earliest = datetime(1990, 1, 1, tzinfo=UTC)
                    latest = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(2)
                    assert parsed is None or not earliest <= parsed <= latest, bad
                case "unknown_county":
                    given = record["county_fips"]
                    listed = given if isinstance(given, list) else str(given).split(
                        source.list_delimiter)
                    assert set(listed) - state_fips, bad
                    assert record.get("latitude") is None, bad
                case "unknown_category":
                    assert record["category"] not in set(demo.config.taxonomy.categories), bad
                case "outside_state":
                    assert record.get("county_fips") is None, bad
                    point = county_of_points(counties, np.array([float(record["longitude"])]),
                                             np.array([float(record["latitude"])]))
                    assert point[0] is None, bad
                case "missing_required":
                    assert record[bad["field"]] in (None, ""), bad
                case other:
                    pytest.fail(f"unknown bad-row kind {other}")
    assert kinds_seen == {"impossible_date", "unknown_county", "unknown_category",
                          "outside_state", "missing_required"}


def test_markup_narratives_are_valid_rows_carrying_markup(demo: Demo) -> None:
    incidents = valid_incidents(demo)
    keys = demo.truth["markup_narratives"]
    assert len(keys) >= 5
    marked = incidents.join(pl.DataFrame(keys, schema=["center_id", "incident_id"],
                                         orient="row"), on=["center_id", "incident_id"])
    assert marked.height == len(keys)
    assert all("<" in text and ">" in text for text in marked["narrative"])
    plain = incidents.join(marked, on=["center_id", "incident_id"], how="anti")
    assert not plain["narrative"].str.contains("<").any()


# --- planted patterns -------------------------------------------------------------------


def test_hot_spots_are_strongly_elevated(demo: Demo) -> None:
    incidents = valid_incidents(demo)
    spots = demo.truth["hot_spots"]
    assert len(spots) >= 3
    counties = state_counties("CA").set_index("county_fips")
    for spot in spots:
        assert 2 <= len(spot["counties"]) <= 4
        assert _connected(counties.loc[spot["counties"]].geometry.tolist()), spot
        start = datetime.fromisoformat(spot["start"]).replace(tzinfo=UTC)
        end = datetime.fromisoformat(spot["end"]).replace(tzinfo=UTC)
        assert timedelta(days=60) <= end - start <= timedelta(days=180)
        in_window = pl.col("occurred_at").is_between(start, end, closed="left")
        inside = pl.col("county_fips").is_in(spot["counties"])
        is_category = pl.col("category") == spot["category"]
        # In time: the cluster's daily count in the window against the rest of the span.
        cluster_category = incidents.filter(inside & is_category)
        during = cluster_category.filter(in_window).height
        before_after = cluster_category.height - during
        window_days = (end - start).days
        assert during >= spot["extra_incidents"]
        assert during / window_days > 3 * before_after / (730 - window_days), spot
        # In space: the category's share in the cluster against the rest of the state.
        window = incidents.filter(in_window)
        share_in = window.filter(inside).select(is_category.mean()).item()
        share_out = window.filter(~inside).select(is_category.mean()).item()
        assert share_in > 1.5 * share_out, spot


def _connected(shapes: list[Any]) -> bool:
    """Every shape reachable from the first through shapes that touch."""
    reached, frontier = {0}, [0]
    while frontier:
        current = frontier.pop()
        for other, shape in enumerate(shapes):
            if other not in reached and shape.intersects(shapes[current]):
                reached.add(other)
                frontier.append(other)
    return len(reached) == len(shapes)


def test_coverage_gaps_have_activity_and_no_covering_product(demo: Demo) -> None:
    incidents = valid_incidents(demo)
    products = valid_products(demo).to_dicts()
    gaps = demo.truth["coverage_gaps"]
    assert len(gaps) >= 3
    for gap in gaps:
        region = next(r for r in demo.config.regions if r.id == gap["region"])
        count = incidents.filter(pl.col("category") == gap["topic"],
                                 pl.col("county_fips").is_in(region.counties)).height
        assert count == gap["incidents"] > 0
        covering = [p["product_id"] for p in products if gap["topic"] in p["topics"]
                    and covered_counties(p, demo.config) & set(region.counties)]
        assert covering == [], gap
        # The topic is still written about elsewhere: the gap is about the region.
        assert any(gap["topic"] in p["topics"] for p in products)


def test_near_duplicate_products_exist_across_centers(demo: Demo) -> None:
    products = valid_products(demo)
    clusters = demo.truth["near_duplicate_products"]
    assert len(clusters) >= 3
    for cluster in clusters:
        keys = pl.DataFrame(cluster["products"], schema=["center_id", "product_id"],
                            orient="row")
        members = products.join(keys, on=["center_id", "product_id"]).to_dicts()
        assert len(members) == len(cluster["products"]) >= 2
        assert len({m["center_id"] for m in members}) == len(members)
        for member in members:
            assert cluster["topic"] in member["topics"]
            assert cluster["area"] in covered_counties(member, demo.config)
        published = [m["published_at"] for m in members]
        assert max(published) - min(published) <= timedelta(days=7)
        words = [set(m["title"].lower().split()) | set(m["summary"].lower().split())
                 for m in members]
        for other in words[1:]:
            assert len(words[0] & other) / len(words[0] | other) > 0.8


def test_duplicate_incidents_are_exactly_the_planted_pairs(demo: Demo) -> None:
    incidents = valid_incidents(demo)
    planted = demo.truth["duplicate_incidents"]
    assert len(planted) == round(0.005 * INCIDENTS)
    keyed = {(r["center_id"], r["incident_id"]): r for r in incidents.to_dicts()}
    for (center_a, id_a), (center_b, id_b) in planted:
        first, second = keyed[(center_a, id_a)], keyed[(center_b, id_b)]
        assert center_a != center_b
        assert first["category"] == second["category"]
        assert abs(first["occurred_at"] - second["occurred_at"]) <= timedelta(minutes=30)
        assert first["latitude"] is not None and second["latitude"] is not None
        assert abs(first["latitude"] - second["latitude"]) < 0.003
    # The ingest's own matcher at its default settings finds these pairs and nothing else.
    found = candidate_pairs(incidents, max_km=1.0, max_minutes=120)
    found_pairs = {frozenset([(a, b), (c, d)]) for a, b, c, d in found.select(
        "center_id", "incident_id", "center_id_b", "incident_id_b").iter_rows()}
    assert found_pairs == {frozenset(map(tuple, pair)) for pair in planted}


# --- determinism and other states -------------------------------------------------------


def _digests(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def test_same_seed_gives_identical_files_and_ground_truth(demo: Demo, tmp_path: Path) -> None:
    again = generate(tmp_path, incidents=INCIDENTS, seed=SEED, today=TODAY)
    assert again == demo.truth
    assert json.loads((tmp_path / "ground_truth.json").read_text()) == demo.truth
    assert _digests(tmp_path) == _digests(demo.root)


def test_another_seed_gives_another_demo(demo: Demo, tmp_path: Path) -> None:
    other = generate(tmp_path, incidents=INCIDENTS, seed=SEED + 1, today=TODAY)
    assert other["hot_spots"] != demo.truth["hot_spots"]


def test_progress_runs_from_zero_to_one(demo: Demo) -> None:
    fractions = [fraction for _, fraction in demo.steps]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert len(demo.steps) >= 5


def test_other_states_get_clustered_regions(tmp_path: Path) -> None:
    truth = generate(tmp_path, state="TX", incidents=2000, seed=3)
    config = load_config(tmp_path / "config")
    assert 4 <= len(config.regions) <= 6
    assert [r.id for r in config.regions] == [f"region_{n}" for n in
                                              range(1, len(config.regions) + 1)]
    assert len(config.county_to_region) == 254
    assert len(config.centers) >= 4
    assert all(c.timezone == "America/Chicago" for c in config.centers)
    assert truth["parameters"]["today"] == datetime.now(UTC).date().isoformat()


def test_too_small_requests_fail_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least"):
        generate(tmp_path, incidents=10)
    with pytest.raises(ValueError, match="counties"):
        generate(tmp_path, state="DC", incidents=2000)
